//! `events` against the real omp-server (in this process), small and
//! short: every phase ran, every acknowledged paced delivery reached the
//! stream, the webhooks received rising event ids. Counts only, never
//! time.

mod real_omp;

use std::time::Duration;

use gmmp_bench::http::ApiClient;
use gmmp_bench::scenario::events::{self, EventsOptions};
use serde_json::Value;

/// Generous guard against a hang; never a performance assertion.
const GUARD: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_phase_runs_and_nothing_acknowledged_is_missing_from_the_stream() {
    let real = real_omp::start(|c| {
        c.api_key = Some("bench-key".into());
    })
    .await;
    let omp = &real.server;
    let base = format!("http://{}", omp.http_addr);

    let opts = EventsOptions {
        target: omp.gmmp_addr,
        api: ApiClient::new(&base, "bench-key", 4).unwrap(),
        gateways: 3,
        duration: Duration::from_millis(500),
        payload_size: 100,
        webhooks: 2,
        streams: 2,
        rate: 40.0,
        latency_gateways: 2,
        webhook_events: 200,
        auth_prefix: "t".into(),
        rounds: 2,
    };
    let (report, check) = tokio::time::timeout(GUARD, events::run(&opts))
        .await
        .unwrap()
        .unwrap();
    assert!(check.is_none(), "{check:?}: {report}");
    let n = |k: &str| {
        report
            .get(k)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{k} missing in {report}"))
    };
    for phase in ["plain", "attached", "hanging"] {
        assert!(n(&format!("{phase}_acknowledged")) > 0, "{report}");
        assert_eq!(n(&format!("{phase}_session_errors")), 0, "{report}");
    }
    assert!(n("attached_stream_events") > 0, "{report}");
    assert_eq!(n("rounds"), 2, "{report}");
    assert_eq!(
        report
            .get("attached_round_ratios")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(2),
        "{report}"
    );
    assert!(n("attached_webhook_posts") > 0, "{report}");
    assert!(n("hanging_webhook_posts") > 0, "{report}");
    assert!(n("latency_acknowledged") > 0, "{report}");
    assert_eq!(n("latency_events"), n("latency_acknowledged"), "{report}");
    assert_eq!(
        report.get("webhook_caught_up"),
        Some(&Value::Bool(true)),
        "{report}"
    );
    assert_eq!(n("webhook_events"), 200, "{report}");
    assert_eq!(n("webhook_not_rising"), 0, "{report}");

    real.stop().await;
}
