//! The delivery writer in `/metrics`: its transactions, the rows they
//! committed, what failed or was refused, the queue now, and two
//! histograms — rows per transaction and BEGIN-to-COMMIT seconds.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;

use super::{counters, descriptor, gauge};
use crate::store::writer::WriterMetrics;

/// The writer's counters, gauge and histograms; `queued` is the number of
/// jobs waiting for it now.
pub(super) fn encode_writer(
    m: &WriterMetrics,
    queued: u64,
    encoder: &mut DescriptorEncoder,
) -> fmt::Result {
    counters(
        encoder,
        &[
            (
                "omp_writer_batches_total",
                "Transactions the writer committed.",
                &m.batches,
            ),
            (
                "omp_writer_rows_total",
                "Deliveries the writer committed (split deliveries once, made whole).",
                &m.rows,
            ),
            (
                "omp_writer_failed_rows_total",
                "Rows whose transaction failed (each answered with an error, none acknowledged).",
                &m.failed_rows,
            ),
            (
                "omp_writer_refused_full_total",
                "Submissions refused because the writer's queue was full.",
                &m.refused_full,
            ),
        ],
    )?;
    gauge(
        encoder,
        "omp_writer_queue",
        "Jobs waiting for the writer now.",
        queued,
    )?;
    m.histograms.rows.encode(descriptor(
        encoder,
        "omp_writer_batch_rows",
        "Rows per committed transaction (deliveries, whole split deliveries, MQTT messages).",
        MetricType::Histogram,
    )?)?;
    m.histograms.seconds.encode(descriptor(
        encoder,
        "omp_writer_batch_seconds",
        "BEGIN to COMMIT of each transaction the writer committed, seconds.",
        MetricType::Histogram,
    )?)
}
