//! The app's tests: components and screens rendered without a window, and
//! the real app in a real browser and a real window against a real backend.

mod bundle;
mod desktop;
mod fixtures;
mod screens;
mod ui;
mod views;
mod web;
