//! [`Latency`]: a latency histogram in microseconds.
//!
//! Built on `hdrhistogram` rather than a sorted `Vec` of samples: recording
//! is O(1) and allocation-free on the hot path of every simulated gateway,
//! memory is fixed (~100 KiB for 1 µs … 60 s at 3 significant figures)
//! however many million samples a run takes, and per-task histograms add up
//! exactly, so each gateway task keeps its own and they are merged at the
//! end without a shared lock. Percentiles are exact to 0.1 %.

use std::time::Duration;

use hdrhistogram::Histogram;

use test_support::report::Report;

/// Highest latency recorded distinctly; longer ones are clamped to it.
const HIGHEST_US: u64 = 60_000_000;

/// A histogram of latencies, recorded in microseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram covering 1 µs … 60 s at 3 significant figures.
    pub fn new() -> Self {
        // Constant bounds that hdrhistogram accepts (low ≥ 1, high ≥ 2·low,
        // sigfig ≤ 5): creation depends on no input and cannot fail.
        let histogram = Histogram::new_with_bounds(1, HIGHEST_US, 3)
            .expect("constant histogram bounds are valid");
        Latency { histogram }
    }

    /// Records one sample.
    pub fn record(&mut self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(us.clamp(1, HIGHEST_US));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Both histograms have the same bounds, so addition cannot fail;
        // fall back to re-recording if it ever did.
        if self.histogram.add(&other.histogram).is_err() {
            for v in other.histogram.iter_recorded() {
                let _ = self
                    .histogram
                    .record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// The samples as (µs, count) pairs, to send to another process.
    pub fn to_pairs(&self) -> Vec<(u64, u64)> {
        self.histogram
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// A histogram of (µs, count) pairs from [`to_pairs`](Self::to_pairs).
    pub fn from_pairs(pairs: &[(u64, u64)]) -> Self {
        let mut latency = Latency::new();
        for &(us, n) in pairs {
            let _ = latency.histogram.record_n(us.clamp(1, HIGHEST_US), n);
        }
        latency
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at `quantile` (0.0 … 1.0) in milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The largest sample in milliseconds.
    pub fn max_ms(&self) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.max() as f64 / 1000.0
    }

    /// Adds `<prefix>p50_ms`, `p99_ms`, `max_ms` to `report`.
    pub fn add_to(&self, report: &mut Report, prefix: &str) {
        report.set_f64(format!("{prefix}p50_ms"), self.quantile_ms(0.50), 3);
        report.set_f64(format!("{prefix}p99_ms"), self.quantile_ms(0.99), 3);
        report.set_f64(format!("{prefix}max_ms"), self.max_ms(), 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut a = Latency::new();
        for ms in 1..=100u64 {
            a.record(Duration::from_millis(ms));
        }
        assert_eq!(a.count(), 100);
        assert!((a.quantile_ms(0.5) - 50.0).abs() < 0.1);
        assert!((a.quantile_ms(0.99) - 99.0).abs() < 0.1);
        assert!((a.max_ms() - 100.0).abs() < 0.1);
    }

    #[test]
    fn merged_histograms_add_up_and_long_samples_clamp() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_secs(3600));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert!((a.max_ms() - 60_000.0).abs() < 60.0);
        assert_eq!(Latency::new().quantile_ms(0.99), 0.0);
    }

    #[test]
    fn pairs_carry_a_histogram_across_processes() {
        let mut a = Latency::new();
        for us in [5u64, 5, 900, 12_000] {
            a.record(Duration::from_micros(us));
        }
        let b = Latency::from_pairs(&a.to_pairs());
        assert_eq!(b.count(), 4);
        assert_eq!(b.max_ms(), a.max_ms());
        assert_eq!(b.quantile_ms(0.5), a.quantile_ms(0.5));
    }
}
