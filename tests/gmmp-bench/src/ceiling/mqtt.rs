//! `mqtt-ceiling`: QoS 1 publishes against a local Mosquitto, the
//! yardstick for "as fast as a mature broker acknowledges" — and, with
//! the same clients pointed at omp-server's MQTT listener, the OMP's own
//! figure beside it (`--label omp`).
//!
//! N clients each publish a `payload_size`-byte message at QoS 1 and wait
//! for its PUBACK before the next — the same one-in-flight discipline as a
//! GMMP gateway waiting for its 0x0C. Latency is publish → PUBACK. With
//! `--server-pid` the broker's CPU time (utime + stime, `/proc`) over the
//! run is reported, in total and per acknowledged message.
//!
//! rumqttc, with its TLS features off, because it is the maintained tokio
//! MQTT 3.1.1 client (bytebeam's rumqtt, whose habits STYLE.md follows);
//! each client is driven by polling its own `EventLoop` in one task, so no
//! extra task or channel hop sits between the publish and its PUBACK.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use crate::error::BenchError;
use crate::latency::Latency;
use test_support::gmmp_client::payload_of;
use test_support::report::Report;

/// How long a client waits for CONNACK or PUBACK.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What `mqtt-ceiling` needs.
#[derive(Debug, Clone)]
pub struct MqttCeilingOptions {
    /// The broker.
    pub broker: SocketAddr,
    /// Clients.
    pub clients: usize,
    /// Payload bytes.
    pub payload_size: usize,
    /// How long to publish.
    pub duration: Duration,
    /// The broker's PID, for its CPU time.
    pub broker_pid: Option<u32>,
    /// What the broker is (`mosquitto`, `omp`), copied to the report.
    pub label: String,
}

/// Runs the clients; reports acknowledged publishes per second.
pub async fn run(opts: &MqttCeilingOptions) -> Result<Report, BenchError> {
    let cpu = |pid: u32| {
        test_support::process::cpu_seconds(pid)
            .map_err(|e| BenchError::io(format!("reading /proc/{pid}/stat"), e))
    };
    let cpu_before = opts.broker_pid.map(cpu).transpose()?;
    let start = Instant::now();
    let deadline = start + opts.duration;
    let mut tasks = Vec::new();
    for i in 0..opts.clients.max(1) {
        let opts = opts.clone();
        tasks.push(tokio::spawn(
            async move { publish(i, &opts, deadline).await },
        ));
    }
    let mut acked = 0u64;
    let mut latency = Latency::new();
    let mut failed = 0u64;
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok((n, l))) => {
                acked += n;
                latency.merge(&l);
            }
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let elapsed = start.elapsed();
    let mut report = Report::new("mqtt-ceiling");
    report
        .set("broker", opts.label.as_str())
        .set("clients", opts.clients)
        .set("payload_bytes", opts.payload_size)
        .set("acknowledged", acked)
        .set_f64("elapsed_secs", elapsed.as_secs_f64(), 3)
        .set_f64(
            "messages_per_sec",
            acked as f64 / elapsed.as_secs_f64().max(1e-9),
            1,
        );
    latency.add_to(&mut report, "");
    if let (Some(pid), Some(before)) = (opts.broker_pid, cpu_before) {
        let used = cpu(pid)? - before;
        report.set_f64("broker_cpu_secs", used, 3).set_f64(
            "broker_cpu_us_per_message",
            used * 1e6 / acked.max(1) as f64,
            2,
        );
    }
    report.set("client_failures", failed);
    if let Some(e) = first_error {
        report.set("first_error", e);
    }
    Ok(report)
}

async fn publish(
    index: usize,
    opts: &MqttCeilingOptions,
    deadline: Instant,
) -> Result<(u64, Latency), BenchError> {
    let fail = |detail: String| BenchError::Mqtt {
        client: index,
        broker: opts.broker,
        detail,
    };
    let mut options = MqttOptions::new(
        format!("gmmp-bench-{}-{index}", std::process::id()),
        opts.broker.ip().to_string(),
        opts.broker.port(),
    );
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    let (client, mut events) = AsyncClient::new(options, 10);
    wait_for(&mut events, |p| matches!(p, Packet::ConnAck(_)))
        .await
        .map_err(|e| fail(format!("connect: {e}")))?;

    let topic = format!("bench/{index}");
    let payload = payload_of(opts.payload_size).to_vec();
    let mut latency = Latency::new();
    let mut acked = 0u64;
    while Instant::now() < deadline {
        let sent = Instant::now();
        client
            .try_publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
            .map_err(|e| fail(format!("publish: {e}")))?;
        wait_for(&mut events, |p| matches!(p, Packet::PubAck(_)))
            .await
            .map_err(|e| fail(format!("waiting for PUBACK: {e}")))?;
        latency.record(sent.elapsed());
        acked += 1;
    }
    let _ = client.try_disconnect();
    // Let the DISCONNECT go out; the broker closes the socket after it.
    let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
    Ok((acked, latency))
}

/// Polls the event loop until an incoming packet matches.
async fn wait_for(events: &mut EventLoop, wanted: impl Fn(&Packet) -> bool) -> Result<(), String> {
    let until = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        match tokio::time::timeout_at(until, events.poll()).await {
            Ok(Ok(Event::Incoming(p))) if wanted(&p) => return Ok(()),
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("no answer within {} s", ANSWER_TIMEOUT.as_secs())),
        }
    }
}
