//! The one-line summary logged at info every `summary_interval`: what
//! arrived since the last line and what is connected now, so that a log
//! under load shows data arriving without a line per delivery.
//!
//! ```text
//! INFO summary: deliveries=70012 deliveries_per_s=1166.9 mqtt_messages=0 backoffs=0
//!      gmmp_sessions=100 mqtt_clients=0 controls_sent=3 controls_ended=3
//!      controls_in_flight=0 writer_queue=12
//! ```
//!
//! [`Totals`] is a reading of the server's counters; [`Summary`] is the
//! difference of two readings, so the arithmetic is tested without a
//! server or a clock.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mqtt_codec::QoS;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

/// The server's counters and gauges at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// GMMP deliveries committed and acknowledged (keyed resends included).
    pub deliveries: u64,
    /// MQTT messages committed.
    pub mqtt_messages: u64,
    /// Deliveries answered rc 0x0F (back-off).
    pub backoffs: u64,
    /// Controls handed to a gateway or device.
    pub controls_sent: u64,
    /// Controls that reached a final state.
    pub controls_ended: u64,
    /// Gauge: GMMP sessions bound to a gateway.
    pub gmmp_sessions: u64,
    /// Gauge: MQTT clients connected.
    pub mqtt_clients: u64,
    /// Gauge: controls SENT or PROGRESS.
    pub controls_in_flight: u64,
    /// Gauge: jobs waiting for the delivery writer.
    pub writer_queue: u64,
}

impl Totals {
    /// Reads the counters of `state` now.
    pub fn read(state: &Shared) -> Totals {
        let gmmp = &state.metrics;
        let control = state.control.metrics();
        let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        Totals {
            deliveries: load(&gmmp.deliveries_ok) + load(&gmmp.deliveries_already_stored),
            mqtt_messages: [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
                .into_iter()
                .map(|qos| state.mqtt.metrics.messages_stored(qos))
                .sum(),
            backoffs: load(&gmmp.deliveries_backoff),
            controls_sent: load(&control.sent),
            controls_ended: load(&control.succeeded)
                + load(&control.failed)
                + load(&control.timed_out)
                + load(&control.expired)
                + load(&control.cancelled),
            gmmp_sessions: state.registry.len() as u64,
            mqtt_clients: state.mqtt.router.connected() as u64,
            controls_in_flight: load(&control.in_flight),
            writer_queue: state.writer.queued() as u64,
        }
    }
}

/// One summary line: counts since the previous reading, gauges now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Deliveries since the previous line.
    pub deliveries: u64,
    /// Deliveries per second over the interval.
    pub deliveries_per_s: f64,
    /// MQTT messages since the previous line.
    pub mqtt_messages: u64,
    /// Back-off answers since the previous line.
    pub backoffs: u64,
    /// Controls sent since the previous line.
    pub controls_sent: u64,
    /// Controls ended since the previous line.
    pub controls_ended: u64,
    /// The gauges of the newer reading.
    pub now: Totals,
}

impl Summary {
    /// The line for the interval `elapsed` from `before` to `now`.
    /// Counters only grow; a smaller one (never expected) counts as 0.
    pub fn between(before: &Totals, now: &Totals, elapsed: Duration) -> Summary {
        let deliveries = now.deliveries.saturating_sub(before.deliveries);
        let seconds = elapsed.as_secs_f64();
        let deliveries_per_s = if seconds > 0.0 {
            // Rounded to a tenth: the line is read by people.
            (deliveries as f64 / seconds * 10.0).round() / 10.0
        } else {
            0.0
        };
        Summary {
            deliveries,
            deliveries_per_s,
            mqtt_messages: now.mqtt_messages.saturating_sub(before.mqtt_messages),
            backoffs: now.backoffs.saturating_sub(before.backoffs),
            controls_sent: now.controls_sent.saturating_sub(before.controls_sent),
            controls_ended: now.controls_ended.saturating_sub(before.controls_ended),
            now: *now,
        }
    }

    fn log(&self) {
        tracing::info!(
            deliveries = self.deliveries,
            deliveries_per_s = self.deliveries_per_s,
            mqtt_messages = self.mqtt_messages,
            backoffs = self.backoffs,
            gmmp_sessions = self.now.gmmp_sessions,
            mqtt_clients = self.now.mqtt_clients,
            controls_sent = self.controls_sent,
            controls_ended = self.controls_ended,
            controls_in_flight = self.now.controls_in_flight,
            writer_queue = self.now.writer_queue,
            "summary"
        );
    }
}

/// Logs a [`Summary`] every `every` until `shutdown`; `every` zero logs
/// none.
pub async fn run(state: Arc<Shared>, every: Duration, shutdown: CancellationToken) {
    if every.is_zero() {
        return;
    }
    let start = tokio::time::Instant::now() + every;
    let mut ticks = tokio::time::interval_at(start, every);
    // A stalled runtime gets one late line, not a burst of catch-up lines.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut before = Totals::read(&state);
    let mut read_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let now = Totals::read(&state);
        let at = tokio::time::Instant::now();
        Summary::between(&before, &now, at - read_at).log();
        before = now;
        read_at = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_differences_and_gauges_are_the_newer_reading() {
        let before = Totals {
            deliveries: 1_000,
            mqtt_messages: 5,
            backoffs: 2,
            controls_sent: 10,
            controls_ended: 9,
            gmmp_sessions: 7,
            mqtt_clients: 1,
            controls_in_flight: 1,
            writer_queue: 40,
        };
        let now = Totals {
            deliveries: 61_000,
            mqtt_messages: 65,
            backoffs: 2,
            controls_sent: 13,
            controls_ended: 13,
            gmmp_sessions: 100,
            mqtt_clients: 3,
            controls_in_flight: 0,
            writer_queue: 0,
        };
        let s = Summary::between(&before, &now, Duration::from_secs(60));
        assert_eq!(s.deliveries, 60_000);
        assert_eq!(s.deliveries_per_s, 1000.0);
        assert_eq!(s.mqtt_messages, 60);
        assert_eq!(s.backoffs, 0);
        assert_eq!(s.controls_sent, 3);
        assert_eq!(s.controls_ended, 4);
        assert_eq!(s.now, now);
    }

    #[test]
    fn a_rate_over_no_time_is_zero_and_a_counter_going_back_counts_zero() {
        let before = Totals {
            deliveries: 10,
            ..Totals::default()
        };
        let s = Summary::between(&before, &Totals::default(), Duration::ZERO);
        assert_eq!(s.deliveries, 0);
        assert_eq!(s.deliveries_per_s, 0.0);
    }

    #[test]
    fn the_rate_is_rounded_to_a_tenth() {
        let now = Totals {
            deliveries: 1_000,
            ..Totals::default()
        };
        let s = Summary::between(&Totals::default(), &now, Duration::from_secs(3));
        assert_eq!(s.deliveries_per_s, 333.3);
    }
}
