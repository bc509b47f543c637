//! Pure, reusable widgets: they take data as props and own no fetches.

mod capacity_ring;
mod feedback;
mod slot_card;

pub use capacity_ring::CapacityRing;
pub use feedback::{
    EmptyState, ErrorNotice, Loadable, SkeletonList, Spinner, Toast, ToastKind, ToastMessage,
};
pub use slot_card::SlotCard;
