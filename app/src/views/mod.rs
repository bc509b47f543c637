//! Screens. Each has a hook-owning screen component and a pure `…View` that
//! takes data as props, so every state can be rendered in a test.

mod my_bookings;
mod schedule;
mod sign_in;
mod slot_detail;

pub use my_bookings::{MyBookingsScreen, MyBookingsView, UpcomingBooking};
pub use schedule::{ScheduleScreen, ScheduleView};
pub use sign_in::{SignInScreen, SignInView};
pub use slot_detail::{ActionState, SlotDetailScreen, SlotDetailView, attempt_key};
