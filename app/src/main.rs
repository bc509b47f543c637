//! Launches the member app on the platform this build is for.

fn main() {
    #[cfg(feature = "desktop")]
    {
        use dioxus::desktop::{Config, LogicalSize, WindowBuilder};
        let window = WindowBuilder::new()
            .with_title("Pulse — gym capacity & booking")
            .with_inner_size(LogicalSize::new(430.0, 880.0))
            .with_min_inner_size(LogicalSize::new(360.0, 560.0));
        dioxus::LaunchBuilder::new()
            .with_cfg(Config::new().with_window(window).with_menu(None))
            .launch(gym_app::App);
    }
    #[cfg(not(feature = "desktop"))]
    dioxus::launch(gym_app::App);
}
