//! Capacity ring maths: SVG geometry and the eased animation, as pure functions.

use keyframe::functions::EaseInOutCubic;

/// How long the ring takes to move from one value to the next.
pub const ANIMATION_MS: f64 = 650.0;

/// Where to draw a ring of a given size showing a given fullness.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RingGeometry {
    /// Centre (x and y), in SVG units.
    pub center: f64,
    /// Radius of the stroke's middle line.
    pub radius: f64,
    /// Length of the whole circle (`stroke-dasharray`).
    pub circumference: f64,
    /// How much of the circle is hidden (`stroke-dashoffset`): the empty part.
    pub dash_offset: f64,
}

/// The geometry of a `size`×`size` ring with a `stroke`-wide line, filled to
/// `fraction` (clamped to 0..=1; NaN counts as empty).
pub fn geometry(size: f64, stroke: f64, fraction: f64) -> RingGeometry {
    let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
    let center = size / 2.0;
    let radius = ((size - stroke) / 2.0).max(0.0);
    let circumference = 2.0 * std::f64::consts::PI * radius;
    RingGeometry { center, radius, circumference, dash_offset: circumference * (1.0 - fraction) }
}

/// The value `elapsed_ms` into an eased move from `from` to `to`. Before the
/// start it is `from`; from `duration_ms` on it is exactly `to`.
pub fn eased(from: f64, to: f64, elapsed_ms: f64, duration_ms: f64) -> f64 {
    if duration_ms <= 0.0 || elapsed_ms >= duration_ms {
        return to;
    }
    if elapsed_ms <= 0.0 {
        return from;
    }
    keyframe::ease(EaseInOutCubic, from, to, elapsed_ms / duration_ms)
}

/// One move of the ring: from a value to a target, starting at an instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tween {
    /// Where it started.
    pub from: f64,
    /// Where it goes.
    pub to: f64,
    /// When it started (ms on any monotonic clock).
    pub started_ms: f64,
    /// How long it takes (0 for no animation).
    pub duration_ms: f64,
}

impl Tween {
    /// A ring at rest at `value`.
    pub fn settled(value: f64) -> Self {
        Self { from: value, to: value, started_ms: 0.0, duration_ms: 0.0 }
    }

    /// The value at `now_ms`.
    pub fn value_at(&self, now_ms: f64) -> f64 {
        eased(self.from, self.to, now_ms - self.started_ms, self.duration_ms)
    }

    /// Whether it is still moving at `now_ms`.
    pub fn is_running(&self, now_ms: f64) -> bool {
        self.duration_ms > 0.0 && now_ms - self.started_ms < self.duration_ms
    }

    /// A new move to `to` from wherever this one is at `now_ms`.
    pub fn retarget(&self, to: f64, now_ms: f64, duration_ms: f64) -> Self {
        Self { from: self.value_at(now_ms), to, started_ms: now_ms, duration_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_ring_hides_the_whole_circle_and_a_full_one_nothing() {
        let empty = geometry(120.0, 12.0, 0.0);
        assert_eq!(empty.center, 60.0);
        assert_eq!(empty.radius, 54.0);
        assert!((empty.dash_offset - empty.circumference).abs() < 1e-9);
        let full = geometry(120.0, 12.0, 1.0);
        assert!(full.dash_offset.abs() < 1e-9);
    }

    #[test]
    fn over_capacity_and_nonsense_input_is_clamped() {
        assert_eq!(geometry(100.0, 10.0, 1.7).dash_offset, 0.0);
        let below = geometry(100.0, 10.0, -0.5);
        assert!((below.dash_offset - below.circumference).abs() < 1e-9);
        let nan = geometry(100.0, 10.0, f64::NAN);
        assert!((nan.dash_offset - nan.circumference).abs() < 1e-9);
        assert_eq!(geometry(4.0, 10.0, 0.5).radius, 0.0);
    }

    #[test]
    fn an_animation_starts_at_from_and_ends_exactly_at_the_target() {
        assert_eq!(eased(0.2, 0.9, 0.0, ANIMATION_MS), 0.2);
        assert_eq!(eased(0.2, 0.9, ANIMATION_MS, ANIMATION_MS), 0.9);
        assert_eq!(eased(0.2, 0.9, ANIMATION_MS * 3.0, ANIMATION_MS), 0.9);
        let middle = eased(0.2, 0.9, ANIMATION_MS / 2.0, ANIMATION_MS);
        assert!(middle > 0.2 && middle < 0.9);
        assert!((middle - 0.55).abs() < 1e-9, "ease-in-out is symmetric: {middle}");
    }

    #[test]
    fn easing_moves_monotonically_towards_the_target() {
        let mut last = 0.0;
        for step in 0..=65 {
            let value = eased(0.0, 1.0, f64::from(step) * 10.0, ANIMATION_MS);
            assert!(value >= last, "step {step}");
            last = value;
        }
        assert_eq!(last, 1.0);
    }

    #[test]
    fn retargeting_mid_move_continues_from_where_the_ring_is() {
        let tween = Tween { from: 0.0, to: 1.0, started_ms: 0.0, duration_ms: 100.0 };
        let halfway = tween.value_at(50.0);
        let next = tween.retarget(0.25, 50.0, 100.0);
        assert_eq!(next.value_at(50.0), halfway);
        assert_eq!(next.value_at(150.0), 0.25);
        assert!(!next.is_running(150.0));
        assert!(!Tween::settled(0.4).is_running(0.0));
        assert_eq!(Tween::settled(0.4).value_at(1e9), 0.4);
    }
}
