//! Fair admission (RELIABILITY.md §2): idle sockets cannot lock newcomers
//! out (the oldest unauthenticated connection makes room), a source
//! registering in a tight loop is throttled with rc 0x0F while another
//! registers, and the writer's back-off goes to the gateway that fills
//! its queue, not to a quiet one.
//!
//! Nothing asserts how fast something happens; waits are bounded by
//! guards (liveness bounds).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Client, GUARD, TestServer, fixed, rc, start};
use gmmp_codec::{AuthKey, GmmpCodec, GwId, ResultCode};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::codec::Framed;

/// The registration after the silent sockets must not wait for their
/// timeouts (30 s here): a liveness bound, not a timing assertion.
const REGISTRATION_GUARD: Duration = Duration::from_secs(5);

async fn connect_from(addr: SocketAddr, source: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

fn client_from(stream: TcpStream, auth_id: &str) -> Client {
    Client {
        framed: Framed::new(stream, GmmpCodec),
        auth_id: fixed(auth_id),
        key: AuthKey::EMPTY,
        gw_id: GwId::EMPTY,
        domain: fixed("ThingPlug"),
        tid: 0,
    }
}

/// Waits until `cond` holds (bounded by `GUARD`).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn accepted(server: &TestServer) -> u64 {
    server
        .state
        .metrics
        .connections_accepted
        .load(Ordering::Relaxed)
}

/// `name`'s sample in the `/metrics` exposition, read over HTTP.
async fn metric(server: &TestServer, name: &str) -> u64 {
    let mut stream = TcpStream::connect(server.http_addr).await.unwrap();
    let request = format!(
        "GET /metrics HTTP/1.1\r\nhost: omp\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
        server.state.api_key.expose()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    tokio::time::timeout(GUARD, stream.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Reads until the server closes `stream` (bounded by `GUARD`).
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(GUARD, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an old silent connection was kept open");
}

fn silent_limits(c: &mut omp_server::Config) {
    c.first_frame_timeout = Duration::from_secs(30);
    c.auth_timeout = Duration::from_secs(30);
    c.max_connections = 2048;
    c.trace_gmmp = false;
}

#[tokio::test]
async fn silent_sockets_from_one_address_make_room_for_its_next_registration() {
    const PER_IP: usize = 50;
    const SILENT: usize = PER_IP + 100;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        silent_limits(c);
        c.max_unauthenticated_per_ip = PER_IP;
    })
    .await;
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        silent.push(connect_from(server.addr, Ipv4Addr::LOCALHOST).await);
    }
    eventually("every silent connection accepted", || {
        accepted(&server) >= SILENT as u64
    })
    .await;
    // Today's newcomer from the same address: let in, the oldest silent
    // one closed for it.
    let mut gw = client_from(
        connect_from(server.addr, Ipv4Addr::LOCALHOST).await,
        "after-silent",
    );
    let registered =
        tokio::time::timeout(REGISTRATION_GUARD, gw.register_gw("ThingPlug", "WIZnet"))
            .await
            .expect("the registration is answered while the silent sockets stay open");
    assert_eq!(rc(&registered), ResultCode::OK);
    // Shed: 100 for the silent ones over the cap, one for the newcomer;
    // they are the oldest, in accept order.
    let shed = SILENT - PER_IP + 1;
    assert_eq!(
        metric(&server, "omp_unauthenticated_shed_total").await,
        shed as u64
    );
    for stream in &mut silent[..shed] {
        closed_by_server(stream).await;
    }
    // The bound gateway does not count; the youngest silent ones are held.
    assert_eq!(server.state.unauthenticated.total(), PER_IP - 1);
    assert_eq!(rc(&gw.deliver(b"served").await), ResultCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn silent_sockets_from_many_addresses_make_room_for_anyone_new() {
    const TOTAL: usize = 60;
    const SILENT: usize = TOTAL + 100;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        silent_limits(c);
        c.max_unauthenticated = TOTAL;
    })
    .await;
    let mut silent = Vec::with_capacity(SILENT);
    for i in 0..SILENT {
        // A dozen addresses, each under the per-IP cap.
        let source = Ipv4Addr::new(127, 0, 1, (i % 12) as u8 + 1);
        silent.push(connect_from(server.addr, source).await);
    }
    eventually("every silent connection accepted", || {
        accepted(&server) >= SILENT as u64
    })
    .await;
    let mut gw = client_from(
        connect_from(server.addr, Ipv4Addr::new(127, 0, 0, 2)).await,
        "newcomer",
    );
    let registered =
        tokio::time::timeout(REGISTRATION_GUARD, gw.register_gw("ThingPlug", "WIZnet"))
            .await
            .expect("the registration is answered while the silent sockets stay open");
    assert_eq!(rc(&registered), ResultCode::OK);
    let shed = SILENT - TOTAL + 1;
    assert_eq!(
        metric(&server, "omp_unauthenticated_shed_total").await,
        shed as u64
    );
    for stream in &mut silent[..shed] {
        closed_by_server(stream).await;
    }
    assert_eq!(server.state.unauthenticated.total(), TOTAL - 1);
    server.stop().await;
}

/// Registers `auth_id` from `source` on a new connection: the answer's
/// result code, and whether the server closed the connection after it.
async fn register_once(addr: SocketAddr, source: Ipv4Addr, auth_id: &str) -> (ResultCode, Client) {
    let mut c = client_from(connect_from(addr, source).await, auth_id);
    let code = rc(&c.register_gw("ThingPlug", "WIZnet").await);
    (code, c)
}

const BURST: u32 = 5;

fn tight_rate(c: &mut omp_server::Config) {
    // One per second: the loop below makes its attempts far faster.
    c.registration_rate_per_ip = 1;
    c.registration_burst_per_ip = BURST;
    c.trace_gmmp = false;
}

#[tokio::test]
async fn a_registration_flood_from_one_address_is_throttled_and_another_registers() {
    const ATTEMPTS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), tight_rate).await;
    let mut codes = Vec::new();
    for i in 0..ATTEMPTS {
        let (code, mut c) =
            register_once(server.addr, Ipv4Addr::LOCALHOST, &format!("flood{i:04}")).await;
        if code == ResultCode::SERVICE_UNAVAILABLE {
            c.expect_closed().await;
        }
        codes.push(code);
    }
    // The burst passes whole; past it, the source is answered 0x0F.
    assert!(
        codes[..BURST as usize].iter().all(|c| *c == ResultCode::OK),
        "{codes:?}"
    );
    let throttled = codes
        .iter()
        .filter(|c| **c == ResultCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(throttled > 0, "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| *c == ResultCode::OK || *c == ResultCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(
        metric(&server, "omp_gmmp_registrations_throttled_total").await,
        throttled as u64
    );
    // Another address has its own bucket.
    let (code, mut other) =
        register_once(server.addr, Ipv4Addr::new(127, 0, 0, 2), "elsewhere").await;
    assert_eq!(code, ResultCode::OK);
    assert_eq!(rc(&other.deliver(b"served").await), ResultCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_refused_auth_id_retried_in_a_loop_is_throttled_but_approved_ones_are_not() {
    const ATTEMPTS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        tight_rate(c);
        c.provisioning = omp_server::ProvisioningMode::Approved;
    })
    .await;
    omp_server::store::provisioning::add(&server.state.db, "approved-gw", None, None)
        .await
        .unwrap();
    let mut codes = Vec::new();
    for _ in 0..ATTEMPTS {
        let (code, mut c) = register_once(server.addr, Ipv4Addr::LOCALHOST, "not-approved").await;
        if code == ResultCode::SERVICE_UNAVAILABLE {
            c.expect_closed().await;
        }
        codes.push(code);
    }
    assert!(
        codes[..BURST as usize]
            .iter()
            .all(|c| *c == ResultCode::PERMISSION_DENIED),
        "{codes:?}"
    );
    assert!(
        codes.contains(&ResultCode::SERVICE_UNAVAILABLE),
        "{codes:?}"
    );
    // The same address, its bucket empty: an approved gateway registers.
    let mut throttled_now = false;
    for _ in 0..ATTEMPTS {
        let (code, _) = register_once(server.addr, Ipv4Addr::LOCALHOST, "not-approved").await;
        if code == ResultCode::SERVICE_UNAVAILABLE {
            throttled_now = true;
            break;
        }
    }
    assert!(throttled_now);
    let (code, _) = register_once(server.addr, Ipv4Addr::LOCALHOST, "approved-gw").await;
    assert_eq!(code, ResultCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_writer_back_off_goes_to_the_flooding_gateway_not_the_quiet_one() {
    const FLOOD_TASKS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        // Tiny: a lone gateway may hold 3, two at once 2 each.
        c.writer_queue_capacity = 6;
        c.trace_gmmp = false;
        c.max_connections = 256;
    })
    .await;
    let mut flooder = Client::connect(server.addr, "flooder").await;
    assert_eq!(
        rc(&flooder.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let mut quiet = client_from(
        connect_from(server.addr, Ipv4Addr::new(127, 0, 0, 2)).await,
        "quiet",
    );
    assert_eq!(
        rc(&quiet.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    // The flooder sends from many connections at once (each new one
    // replaces the last as the GW's session, after its answer).
    let (key, gw_id, addr) = (flooder.key, flooder.gw_id, server.addr);
    let backed_off = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..FLOOD_TASKS)
        .map(|_| {
            let (backed_off, stop) = (backed_off.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let mut c = Client::connect(addr, "flooder").await;
                    c.key = key;
                    c.gw_id = gw_id;
                    let code = rc(&c.deliver(b"flood").await);
                    match code {
                        ResultCode::OK => {}
                        ResultCode::SERVICE_UNAVAILABLE => {
                            backed_off.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("flooder answered {other}"),
                    }
                }
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + GUARD;
    let mut quiet_sent = 0;
    while quiet_sent < 20 || backed_off.load(Ordering::Relaxed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flooder was never backed off ({quiet_sent} quiet deliveries)"
        );
        assert_eq!(rc(&quiet.deliver(b"quiet").await), ResultCode::OK);
        quiet_sent += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(metric(&server, "omp_deliveries_backoff_over_share_total").await > 0);
    server.stop().await;
}
