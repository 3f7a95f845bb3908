//! Hostile GMMP input (RELIABILITY.md §2): every attack closes the hostile
//! connection (or refuses its frames), stores nothing, holds a bounded
//! number of connections, and leaves a well-behaved gateway served.
//!
//! Time limits are set short here (hundreds of milliseconds) so the tests
//! are quick; nothing asserts how fast something happens, only what
//! happens: which connection is closed, what is stored, how many
//! connections the server holds. Waits are bounded by `GUARD`.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Client, GUARD, TestServer, fixed, rc, start};
use futures::StreamExt;
use gmmp_codec::{
    AuthKey, DeviceId, Frame, GmmpCodec, GwDeregistrationRequest, GwId, GwRegistrationRequest,
    Message, ResultCode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::codec::Framed;

/// A source address of its own for the well-behaved gateway, so that the
/// per-IP caps filled by an attack from 127.0.0.1 do not apply to it.
const GOOD_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

async fn connect_from(addr: SocketAddr, source: Ipv4Addr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    socket.connect(addr).await
}

/// A registered, well-behaved gateway connected from [`GOOD_SOURCE`].
async fn good_gateway(server: &TestServer, auth_id: &str) -> Client {
    let stream = connect_from(server.addr, GOOD_SOURCE).await.unwrap();
    let mut gw = Client {
        framed: Framed::new(stream, GmmpCodec),
        auth_id: fixed(auth_id),
        key: AuthKey::EMPTY,
        gw_id: GwId::EMPTY,
        domain: fixed("ThingPlug"),
        tid: 0,
    };
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    gw
}

/// The well-behaved gateway is still served: heartbeat and a stored delivery.
async fn still_served(gw: &mut Client, server: &TestServer) {
    assert!(matches!(
        gw.heartbeat().await.message,
        Message::HeartbeatResponse(_)
    ));
    let before = stored(server, &gw.gw_id.to_string()).await;
    assert_eq!(rc(&gw.deliver(b"still served").await), ResultCode::OK);
    assert_eq!(stored(server, &gw.gw_id.to_string()).await, before + 1);
}

/// Deliveries stored for `gw_id`.
async fn stored(server: &TestServer, gw_id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE gw_id = ?")
        .bind(gw_id)
        .fetch_one(server.state.db.as_sqlite().expect("a SQLite store"))
        .await
        .unwrap()
}

async fn count(server: &TestServer, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(server.state.db.as_sqlite().expect("a SQLite store"))
        .await
        .unwrap()
}

/// Reads (and drops) whatever the server sends until it closes the
/// connection; panics if it is still open after `GUARD`.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(GUARD, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a hostile connection open");
}

/// Waits until `cond` holds (bounded by `GUARD`).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn open_connections(server: &TestServer) -> u64 {
    server
        .state
        .metrics
        .connections_open
        .load(Ordering::Relaxed)
}

fn accepted(server: &TestServer) -> u64 {
    server
        .state
        .metrics
        .connections_accepted
        .load(Ordering::Relaxed)
}

/// The soft open-file limit of this process (1024 if unreadable).
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(1024)
}

/// Short limits so attacks end quickly; a GW with heartbeat period 0 is
/// never closed for silence, so only the new limits can close it.
fn hostile_limits(c: &mut omp_server::Config) {
    c.frame_timeout = Duration::from_millis(400);
    c.first_frame_timeout = Duration::from_secs(30);
    c.auth_timeout = Duration::from_secs(30);
    c.profile_defaults.heartbeat_period = 0;
    c.max_connections = 4096;
    c.trace_gmmp = false;
}

#[tokio::test]
async fn random_bytes_close_only_their_connections() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), hostile_limits).await;
    let mut gw = good_gateway(&server, "good-random").await;
    let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
    let mut attackers = Vec::new();
    for i in 0..100 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        // Lengths from 1 byte to beyond the largest frame; every tenth
        // starts like a GMMP 2.1 header so the length checks are reached.
        let len = rng.usize(1..=3000);
        let mut bytes = vec![0u8; len];
        rng.fill(&mut bytes);
        if i % 10 == 0 && len > 1 {
            bytes[0] = 0x21;
        }
        // The server may close before reading it all: a failed write is fine.
        let _ = s.write_all(&bytes).await;
        attackers.push(s);
    }
    for s in &mut attackers {
        closed_by_server(s).await;
    }
    eventually("only the good session is left", || {
        open_connections(&server) == 1
    })
    .await;
    assert_eq!(count(&server, "gateways").await, 1);
    still_served(&mut gw, &server).await;
    server.stop().await;
}

#[tokio::test]
async fn headers_with_absurd_lengths_are_closed_before_any_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), hostile_limits).await;
    let mut gw = good_gateway(&server, "good-lengths").await;
    let mut template = Vec::new();
    {
        let header = gw.header();
        let frame = Frame::new(header, gw.delivery(DeviceId::EMPTY, b"payload"));
        template.extend_from_slice(&frame.to_bytes().unwrap());
    }
    for length in [0u16, 1, 49, 2143, 4096, 0x7fff, 0xffff] {
        for message_type in [0x01u8, 0x0b, 0x0f, 0x7f, 0xff] {
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            let mut bytes = template.clone();
            bytes[1..3].copy_from_slice(&length.to_be_bytes());
            bytes[3] = message_type;
            let _ = s.write_all(&bytes).await;
            closed_by_server(&mut s).await;
        }
    }
    // A legal length whose body does not match its type: closed too.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut bytes = template.clone();
    bytes[3] = 0x01;
    let _ = s.write_all(&bytes).await;
    closed_by_server(&mut s).await;
    // A header that promises more than it sends is closed by the frame deadline.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut bytes = template.clone();
    bytes[1..3].copy_from_slice(&2142u16.to_be_bytes());
    s.write_all(&bytes).await.unwrap();
    closed_by_server(&mut s).await;
    eventually("only the good session is left", || {
        open_connections(&server) == 1
    })
    .await;
    still_served(&mut gw, &server).await;
    server.stop().await;
}

/// Sends `bytes` one at a time, `pause` apart, until the server closes the
/// connection; returns how many were written before it did.
async fn trickle(stream: &mut TcpStream, bytes: &[u8], pause: Duration) -> usize {
    let (mut read, mut write) = stream.split();
    let mut buf = [0u8; 256];
    let mut sent = 0;
    let guard = tokio::time::sleep(GUARD);
    tokio::pin!(guard);
    loop {
        tokio::select! {
            r = read.read(&mut buf) => match r {
                Ok(0) | Err(_) => return sent,
                // A response would mean the frame was taken whole.
                Ok(_) => panic!("the server answered a trickled frame"),
            },
            () = tokio::time::sleep(pause), if sent < bytes.len() => {
                if write.write_all(&bytes[sent..=sent]).await.is_err() {
                    return sent;
                }
                sent += 1;
            }
            () = &mut guard => panic!("a trickling connection was never closed ({sent} bytes sent)"),
        }
    }
}

#[tokio::test]
async fn slowloris_frames_are_closed_by_the_frame_deadline_bound_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), hostile_limits).await;
    let mut gw = good_gateway(&server, "good-slow").await;

    // A registered GW whose heartbeat period is 0: no idle limit at all.
    // Only the frame deadline can end its trickled delivery.
    let mut slow = Client::connect(server.addr, "slow-bound").await;
    assert_eq!(
        rc(&slow.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let header = slow.header();
    let delivery = Frame::new(header, slow.delivery(DeviceId::EMPTY, &[0x55; 200]))
        .to_bytes()
        .unwrap();
    let pause = Duration::from_millis(100);
    let sent = trickle(slow.framed.get_mut(), &delivery, pause).await;
    assert!(
        sent < delivery.len(),
        "closed only after the whole frame ({sent} bytes)"
    );
    assert_eq!(stored(&server, &slow.gw_id.to_string()).await, 0);

    // A new connection trickling a registration: the first-frame and auth
    // limits are 30 s, the frame deadline closes it first.
    let mut fresh = TcpStream::connect(server.addr).await.unwrap();
    let registration = Frame::new(
        gmmp_codec::Header::new(fixed("slow-new"), AuthKey::EMPTY, 1),
        GwRegistrationRequest {
            domain_code: fixed("ThingPlug"),
            manufacture_id: fixed("WIZnet"),
        },
    )
    .to_bytes()
    .unwrap();
    let sent = trickle(&mut fresh, &registration, pause).await;
    assert!(sent < registration.len());
    assert_eq!(
        count(&server, "gateways").await,
        2,
        "good + slow-bound only"
    );

    still_served(&mut gw, &server).await;
    server.stop().await;
}

#[tokio::test]
async fn silent_connections_are_capped_per_ip_and_in_total() {
    const PER_IP: usize = 40;
    const TOTAL: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        hostile_limits(c);
        c.max_unauthenticated_per_ip = PER_IP;
        c.max_unauthenticated = TOTAL;
    })
    .await;
    let mut gw = good_gateway(&server, "good-silent").await;
    // Thousands where the open-file limit allows (each costs this process
    // one descriptor, and the server one while it holds it).
    let n = (open_files_limit().saturating_sub(300) / 2).clamp(200, 3000);
    let before = accepted(&server);
    let mut silent = Vec::with_capacity(n);
    for i in 0..n {
        // Half from 127.0.0.1, half spread over 127.0.1.x, so that both
        // caps are reached.
        let source = if i % 2 == 0 {
            Ipv4Addr::LOCALHOST
        } else {
            Ipv4Addr::new(127, 0, 1, (i % 200) as u8 + 1)
        };
        match connect_from(server.addr, source).await {
            Ok(s) => silent.push(s),
            Err(e) => panic!("connect {i} from {source}: {e}"),
        }
    }
    eventually("every silent connection accepted", || {
        accepted(&server) >= before + n as u64
    })
    .await;
    // Memory bound by count: the server holds at most TOTAL of them.
    let held = open_connections(&server) - 1;
    assert!(held <= TOTAL as u64, "{held} unauthenticated held");
    assert!(held > 0);
    // The bound gateway is not affected by either cap.
    still_served(&mut gw, &server).await;
    // The connections over the caps were closed at once (their limits
    // are 30 s, so within a few seconds only those can show the end of
    // the stream); the ones held stay open.
    let reads = silent.iter_mut().map(|s| async move {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await,
            Ok(Ok(0) | Err(_))
        )
    });
    let closed = futures::future::join_all(reads)
        .await
        .into_iter()
        .filter(|c| *c)
        .count();
    assert_eq!(closed as u64, n as u64 - held, "refused = attempted − held");
    // Drop them; their places free up and a new gateway registers.
    drop(silent);
    eventually("the silent connections are gone", || {
        open_connections(&server) == 1
    })
    .await;
    let mut newcomer = Client::connect(server.addr, "newcomer").await;
    assert_eq!(
        rc(&newcomer.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    still_served(&mut gw, &server).await;
    server.stop().await;
}

#[tokio::test]
async fn frames_naming_other_gateways_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), hostile_limits).await;
    let mut victim = good_gateway(&server, "victim").await;
    let mut attacker = Client::connect(server.addr, "attacker").await;
    attacker.register_gw("ThingPlug", "WIZnet").await;
    let victim_id = victim.gw_id.to_string();

    // On its own bound connection: the victim's GW ID in the body, then
    // the victim's full identity except the key, a hundred times each.
    for _ in 0..100 {
        let mut d = attacker.delivery(DeviceId::EMPTY, b"forged");
        d.gw_id = victim.gw_id;
        assert_eq!(
            rc(&attacker.request(d).await),
            ResultCode::PERMISSION_DENIED
        );
    }
    let mut forger = Client::connect(server.addr, "victim").await;
    forger.gw_id = victim.gw_id;
    forger.key = fixed("SP-guessed-key");
    for _ in 0..100 {
        assert_eq!(
            rc(&forger.deliver(b"forged").await),
            ResultCode::PERMISSION_DENIED
        );
    }
    assert_eq!(stored(&server, &victim_id).await, 0);
    // The victim's session was neither replaced nor closed.
    assert!(server.state.registry.get(&victim_id).is_some());
    still_served(&mut victim, &server).await;
    assert_eq!(rc(&attacker.deliver(b"own").await), ResultCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn frames_replayed_with_an_old_auth_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), hostile_limits).await;
    let mut gw = good_gateway(&server, "replayed").await;
    let gw_id = gw.gw_id.to_string();
    // Frames recorded under the first key.
    let header = gw.header();
    let recorded = Frame::new(header, gw.delivery(DeviceId::EMPTY, b"recorded"))
        .to_bytes()
        .unwrap();
    let old_key = gw.key;
    // The GW deregisters and registers again: a new key.
    let dereg = GwDeregistrationRequest {
        domain_code: gw.domain,
        gw_id: gw.gw_id,
    };
    assert_eq!(rc(&gw.request(dereg).await), ResultCode::OK);
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    assert_ne!(gw.key, old_key, "re-registration after deregistration");

    // Replayed on a new connection, and on the GW's own session.
    let mut replay = TcpStream::connect(server.addr).await.unwrap();
    let mut answers = Framed::new(&mut replay, GmmpCodec);
    for _ in 0..10 {
        answers.get_mut().write_all(&recorded).await.unwrap();
        let answer = tokio::time::timeout(GUARD, answers.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(rc(&answer), ResultCode::PERMISSION_DENIED);
    }
    gw.send_raw(&recorded).await;
    assert_eq!(rc(&gw.recv().await), ResultCode::PERMISSION_DENIED);
    assert_eq!(stored(&server, &gw_id).await, 0);
    still_served(&mut gw, &server).await;
    server.stop().await;
}

#[tokio::test]
async fn refused_frames_do_not_keep_an_unauthenticated_connection_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        hostile_limits(c);
        c.provisioning = omp_server::ProvisioningMode::Approved;
        c.first_frame_timeout = Duration::from_secs(30);
        c.auth_timeout = Duration::from_millis(500);
    })
    .await;
    // Refused registrations, one every 50 ms: each is a valid frame (which
    // would restart the first-frame limit), none binds the connection.
    let mut stranger = Client::connect(server.addr, "not-provisioned").await;
    let mut refusals = 0;
    let closed = tokio::time::timeout(GUARD, async {
        loop {
            let header = stranger.header();
            let request = Frame::new(
                header,
                GwRegistrationRequest {
                    domain_code: fixed("ThingPlug"),
                    manufacture_id: fixed("WIZnet"),
                },
            );
            if futures::SinkExt::send(&mut stranger.framed, request)
                .await
                .is_err()
            {
                return;
            }
            match stranger.framed.next().await {
                Some(Ok(answer)) => {
                    assert_eq!(rc(&answer), ResultCode::PERMISSION_DENIED);
                    refusals += 1;
                }
                None | Some(Err(_)) => return,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "an unauthenticated connection stayed open");
    assert!(refusals > 0);
    assert_eq!(count(&server, "gateways").await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_registration_flood_leaves_deliveries_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        hostile_limits(c);
        // The flood is of real registrations, not throttled here (see
        // fair_admission.rs for the rate limit).
        c.registration_rate_per_ip = 100_000;
        c.registration_burst_per_ip = 100_000;
    })
    .await;
    let mut gw = good_gateway(&server, "good-flood").await;
    let addr = server.addr;
    // 1,000 registrations of new auth_ids (provisioning open), 50 at a time,
    // while the good gateway keeps delivering.
    let flood = tokio::spawn(async move {
        futures::stream::iter(0..1000)
            .map(|i| async move {
                let mut c = Client::connect(addr, &format!("flood{i:06}")).await;
                let rsp = c.register_gw("ThingPlug", "WIZnet").await;
                rc(&rsp)
            })
            .buffer_unordered(50)
            .collect::<Vec<_>>()
            .await
    });
    let mut delivered = 0;
    while !flood.is_finished() {
        assert_eq!(rc(&gw.deliver(b"during the flood").await), ResultCode::OK);
        delivered += 1;
    }
    let codes = flood.await.unwrap();
    assert!(codes.iter().all(|c| *c == ResultCode::OK));
    assert!(delivered > 0);
    assert_eq!(stored(&server, &gw.gw_id.to_string()).await, delivered);
    assert_eq!(count(&server, "gateways").await, 1001);
    // A registration answered for an auth_id already registered changes
    // nothing: same GW ID, no new row.
    let mut again = Client::connect(addr, "flood000000").await;
    again.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!(count(&server, "gateways").await, 1001);
    still_served(&mut gw, &server).await;
    server.stop().await;
}
