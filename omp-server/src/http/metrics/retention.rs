//! Retention in `/metrics`: rows removed by kind (every kind listed at
//! every scrape, zeros included), batches and passes and the last pass's
//! duration.

use std::fmt;
use std::sync::atomic::Ordering;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use super::{counters, descriptor, family};
use crate::retention::RetentionMetrics;
use crate::store::retention::Kind;

/// The label of `omp_retention_removed_rows_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// The retention task's counters and gauge.
pub(super) fn encode_retention(
    m: &RetentionMetrics,
    encoder: &mut DescriptorEncoder,
) -> fmt::Result {
    family(
        encoder,
        "omp_retention_removed_rows_total",
        "Rows removed by retention, by kind (deliveries counts abandoned split deliveries too).",
        Kind::ALL.map(|kind| (KindLabel { kind: kind.label() }, m.removed(kind))),
    )?;
    counters(
        encoder,
        &[
            (
                "omp_retention_batches_total",
                "Retention batches that removed rows (each one transaction of the writer).",
                &m.batches,
            ),
            (
                "omp_retention_passes_total",
                "Retention passes finished.",
                &m.passes,
            ),
        ],
    )?;
    let seconds = m.last_pass_micros.load(Ordering::Relaxed) as f64 / 1e6;
    ConstGauge::new(seconds).encode(descriptor(
        encoder,
        "omp_retention_last_pass_seconds",
        "Duration of the last finished retention pass (0 before the first).",
        MetricType::Gauge,
    )?)
}
