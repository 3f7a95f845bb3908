//! Hostile MQTT peers against the real server on 127.0.0.1:0, each limit
//! set small in the test's config instead of waited out:
//!
//! - a remaining length announcing 268 MB is refused on the header alone
//!   (`mqtt_max_packet_size`), before any body byte is sent;
//! - a CONNECT trickled byte by byte is closed by the CONNECT timeout
//!   (`first_frame_timeout`), not kept alive by its bytes;
//! - silent connections from one address are capped
//!   (`max_unauthenticated_per_ip`): the oldest make room, and a real
//!   client from the same address still logs in and publishes;
//! - a malformed packet closes its own connection only, while another
//!   client keeps publishing;
//! - the keep-alive is enforced at 1.5× the client's value.
//!
//! Every closed connection is logged with its peer, the type of the
//! packet read last and the reason (checked in the captured log), and
//! counted by reason in `/metrics`.

mod common;
mod mqtt;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::{GUARD, TestServer};
use mqtt::Raw;
use mqtt_codec::{Connect, Packet, Protocol, Publish, QoS};
use omp_server::mqtt::CloseReason;
use omp_server::{Config, ProvisioningMode};
use test_support::captured_log::CapturedLog;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The log, captured once per process at debug level: lines over the
/// info budget go to debug, and these tests look for every closing.
fn log() -> &'static CapturedLog {
    static LOG: OnceLock<CapturedLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let captured = CapturedLog::default();
        captured.init(tracing::Level::DEBUG);
        captured
    })
}

/// Waits (within the guard) for a log line of a closing of `peer` with
/// this packet type and reason.
async fn closing_logged(peer: SocketAddr, packet: &str, reason: &str) {
    let (peer, packet, reason) = (
        format!("peer={peer}"),
        format!("packet=\"{packet}\""),
        format!("reason=\"{reason}\""),
    );
    let found = tokio::time::timeout(GUARD, async {
        loop {
            let text = log().text();
            if text.lines().any(|l| {
                l.contains(&peer)
                    && l.contains(&packet)
                    && l.contains(&reason)
                    && (l.contains("MQTT connection closed")
                        || l.contains("MQTT client disconnected"))
            }) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "no closing logged with {peer} {packet} {reason}"
    );
}

async fn server(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
    log();
    common::start(dir, |c: &mut Config| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.provisioning = ProvisioningMode::Open;
        tweak(c);
    })
    .await
}

fn encoded(p: &Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    p.encode(&mut b).unwrap();
    b.to_vec()
}

fn connect_packet(client_id: &str, keep_alive: u16) -> Vec<u8> {
    encoded(&Packet::Connect(Connect {
        protocol: Protocol::V311,
        clean_session: true,
        keep_alive,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
    }))
}

fn publish_packet(topic: &str, packet_id: u16, payload: Vec<u8>) -> Vec<u8> {
    encoded(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: topic.to_owned(),
        packet_id,
        payload: Bytes::from(payload),
    }))
}

/// Connects, logs in as `client_id` and reads the CONNACK 0.
async fn logged_in(server: &TestServer, client_id: &str, keep_alive: u16) -> Raw {
    let mut c = Raw::connect(server).await;
    c.send(&connect_packet(client_id, keep_alive)).await;
    assert_eq!(c.read_exact(4).await, [0x20, 0x02, 0x00, 0x00]);
    c
}

/// Publishes at QoS 1 and reads its PUBACK.
async fn publish_acked(c: &mut Raw, topic: &str, packet_id: u16, payload: Vec<u8>) {
    c.send(&publish_packet(topic, packet_id, payload)).await;
    let [hi, lo] = packet_id.to_be_bytes();
    assert_eq!(c.read_exact(4).await, [0x40, 0x02, hi, lo]);
}

fn closings(server: &TestServer, reason: CloseReason) -> u64 {
    server.state.mqtt.metrics.closings(reason)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(GUARD, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within the guard"));
}

#[tokio::test]
async fn a_remaining_length_of_268_mb_is_refused_on_the_header_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Timeouts longer than the guard: only the size check can close these.
    let server = server(dir.path(), |c| {
        c.mqtt_max_packet_size = 1024;
        c.first_frame_timeout = Duration::from_secs(120);
        c.frame_timeout = Duration::from_secs(120);
    })
    .await;

    // CONNECT announcing 268,435,455 bytes: five header bytes, no body.
    let mut c = Raw::connect(&server).await;
    let peer = c.stream.local_addr().unwrap();
    c.send(&[0x10, 0xff, 0xff, 0xff, 0x7f]).await;
    assert!(c.closed().await);
    closing_logged(peer, "CONNECT", "malformed").await;

    // Logged in: a 1000-byte packet is taken, a header announcing 1025 is not.
    let mut c = logged_in(&server, "big-one", 60).await;
    let peer = c.stream.local_addr().unwrap();
    // Fixed header 1 + 2, topic 2 + 1, packet id 2, payload 992.
    let fits = publish_packet("t", 1, vec![7; 992]);
    assert_eq!(fits.len(), 1000);
    c.send(&fits).await;
    assert_eq!(c.read_exact(4).await, [0x40, 0x02, 0x00, 0x01]);
    // PUBLISH QoS 1, remaining length 1022 (0xfe 0x07): 1025 bytes in all.
    c.send(&[0x32, 0xfe, 0x07]).await;
    assert!(c.closed().await);
    closing_logged(peer, "PUBLISH", "malformed").await;

    assert_eq!(closings(&server, CloseReason::Malformed), 2);
    assert_eq!(
        server.state.mqtt.metrics.malformed.load(Ordering::Relaxed),
        2
    );
    assert_eq!(mqtt::messages(&server, "big-one").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_connect_trickled_byte_by_byte_is_closed_by_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |c| {
        c.first_frame_timeout = Duration::from_millis(500);
        c.frame_timeout = Duration::from_secs(120);
    })
    .await;
    let connect = connect_packet("slow-loris", 60);
    let mut stream = TcpStream::connect(server.mqtt_addr.unwrap()).await.unwrap();
    let peer = stream.local_addr().unwrap();
    // One byte every 100 ms: the whole CONNECT would take seconds; each
    // byte arriving must not extend the half second it has.
    let mut sent = 0;
    for b in &connect {
        if stream.write_all(&[*b]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if closings(&server, CloseReason::ConnectTimeout) > 0 {
            break;
        }
    }
    assert!(
        sent < connect.len(),
        "closed before the CONNECT was whole ({sent} of {} bytes)",
        connect.len()
    );
    let mut raw = Raw::over(stream);
    assert!(raw.closed().await, "no CONNACK, closed");
    assert_eq!(closings(&server, CloseReason::ConnectTimeout), 1);
    closing_logged(peer, "CONNECT", "connect_timeout").await;
    server.stop().await;
}

#[tokio::test]
async fn silent_connections_from_one_address_are_capped_and_a_device_still_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |c| {
        c.max_unauthenticated_per_ip = 50;
        c.max_connections = 200;
        c.first_frame_timeout = Duration::from_secs(120);
    })
    .await;
    let localhost = "127.0.0.1".parse().unwrap();
    let mut silent = Vec::new();
    for _ in 0..60 {
        silent.push(Raw::connect(&server).await);
    }
    // Connections are admitted in the order they were accepted; the ten
    // oldest make room for the ten over the cap.
    wait_until("60 connections admitted", || {
        server
            .state
            .mqtt
            .metrics
            .connections_accepted
            .load(Ordering::Relaxed)
            == 60
    })
    .await;
    assert_eq!(server.state.unauthenticated.from_source(localhost), 50);
    for (i, c) in silent.iter_mut().take(10).enumerate() {
        let peer = c.stream.local_addr().unwrap();
        assert!(c.closed().await, "connection {i} shed");
        closing_logged(peer, "none", "shed").await;
    }
    wait_until("ten closings counted", || {
        closings(&server, CloseReason::Shed) == 10
    })
    .await;

    // A device from the same address: admitted (one more silent one goes),
    // logged in, out of the unauthenticated count, publishing.
    let mut device = logged_in(&server, "real-device", 60).await;
    publish_acked(&mut device, "telemetry", 1, b"21.5".to_vec()).await;
    assert_eq!(server.state.unauthenticated.from_source(localhost), 49);
    assert_eq!(
        server
            .state
            .metrics
            .unauthenticated_shed
            .load(Ordering::Relaxed),
        11
    );
    assert!(silent[10].closed().await, "the next oldest made room");
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_packet_closes_its_connection_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let mut good = logged_in(&server, "steady", 60).await;
    publish_acked(&mut good, "steady/1", 1, b"one".to_vec()).await;

    // Logged in, then a PUBLISH with QoS 3.
    let mut bad = logged_in(&server, "qos-three", 60).await;
    let bad_peer = bad.stream.local_addr().unwrap();
    bad.send(&[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01]).await;
    assert!(bad.closed().await);
    closing_logged(bad_peer, "PUBLISH", "malformed").await;

    // Not logged in: a reserved packet type as the first byte.
    let mut junk = Raw::connect(&server).await;
    let junk_peer = junk.stream.local_addr().unwrap();
    junk.send(&[0xf0, 0x00]).await;
    assert!(junk.closed().await);
    closing_logged(junk_peer, "reserved", "malformed").await;

    // A first packet that is not CONNECT: well-formed, but not allowed.
    let mut early = Raw::connect(&server).await;
    let early_peer = early.stream.local_addr().unwrap();
    early.send(&[0xc0, 0x00]).await;
    assert!(early.closed().await);
    closing_logged(early_peer, "PINGREQ", "protocol_violation").await;

    // The steady client never noticed.
    for id in 2..=5u16 {
        publish_acked(&mut good, "steady/more", id, vec![id as u8; 32]).await;
    }
    let stored = mqtt::messages(&server, "steady").await;
    assert_eq!(stored.len(), 5);
    assert!(mqtt::messages(&server, "qos-three").await.is_empty());
    assert_eq!(closings(&server, CloseReason::Malformed), 2);
    assert_eq!(closings(&server, CloseReason::ProtocolViolation), 1);
    assert_eq!(server.state.mqtt.router.connected(), 1);
    server.stop().await;
}

#[tokio::test]
async fn the_keep_alive_is_enforced_at_one_and_a_half_times() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    // Keep-alive 2 s: silence is allowed up to 3 s.
    let mut c = logged_in(&server, "sleepy", 2).await;
    let peer = c.stream.local_addr().unwrap();
    // Past 1× the keep-alive, within 1.5×: still served.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let pinged = Instant::now();
    c.send(&[0xc0, 0x00]).await;
    assert_eq!(c.read_exact(2).await, [0xd0, 0x00], "PINGRESP");
    // Then silent: closed, and never before 1.5× after the last packet.
    assert!(c.closed().await);
    assert!(
        pinged.elapsed() >= Duration::from_secs(3),
        "closed {:?} after the last packet",
        pinged.elapsed()
    );
    assert_eq!(closings(&server, CloseReason::KeepAlive), 1);
    closing_logged(peer, "PINGREQ", "keep_alive").await;
    server.stop().await;
}
