//! Latency statistics.

use serde::Serialize;

/// Percentiles of a set of durations, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// Percentiles of samples given in microseconds (nearest-rank method).
pub fn percentiles(samples_us: &mut [u64]) -> Percentiles {
    if samples_us.is_empty() {
        return Percentiles::default();
    }
    samples_us.sort_unstable();
    let rank = |p: f64| {
        let index = ((p * samples_us.len() as f64).ceil() as usize).clamp(1, samples_us.len()) - 1;
        samples_us[index] as f64 / 1000.0
    };
    Percentiles {
        p50_ms: rank(0.50),
        p99_ms: rank(0.99),
        max_ms: samples_us[samples_us.len() - 1] as f64 / 1000.0,
    }
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[middle - 1] + sorted[middle]) / 2.0 } else { sorted[middle] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        let result = percentiles(&mut samples);
        assert_eq!((result.p50_ms, result.p99_ms, result.max_ms), (50.0, 99.0, 100.0));
        assert_eq!(percentiles(&mut []), Percentiles::default());
        let mut one = [7_000];
        assert_eq!(percentiles(&mut one).p99_ms, 7.0);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
