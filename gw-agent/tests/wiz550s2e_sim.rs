//! The WIZ550S2E driver against the emulator, through its real pty, with
//! real TCP peers on 127.0.0.1.

use std::net::Ipv4Addr;
use std::time::Duration;

use gw_agent::wiz550s2e::{Driver, Error, ErrorCode, Event, EventReceiver, SocketEvent, Timeouts};
use gw_agent::wizfi310::SerialConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use wiz550s2e_sim::{BootMode, Fault, SimConfig, Simulator};

/// Guard against hanging, not a performance bound.
const GUARD: Duration = Duration::from_secs(30);

fn command_mode() -> SimConfig {
    SimConfig {
        boot_mode: BootMode::Command,
        connect_timeout: Duration::from_millis(500),
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> (Simulator, Driver, EventReceiver) {
    let sim = Simulator::start(config).await.expect("emulator starts");
    let path = sim.tty_path().to_string_lossy().into_owned();
    let (driver, events) =
        Driver::open(&SerialConfig::new(path), Timeouts::default()).expect("pty opens");
    (sim, driver, events)
}

/// Every byte value, and the bytes a line-based reader trips over.
fn nasty_payload(len: usize) -> Vec<u8> {
    let mut pattern: Vec<u8> = b"[R,0,5]\r\n\0[V,0,2]+++[S]\r\n[F,,3]\n\r".to_vec();
    pattern.extend(0..=255u8);
    pattern.into_iter().cycle().take(len).collect()
}

async fn connect(driver: &Driver) -> (TcpListener, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (opened, accepted) = tokio::join!(driver.open_tcp(Ipv4Addr::LOCALHOST, port), async {
        timeout(GUARD, listener.accept()).await.unwrap().unwrap().0
    });
    opened.unwrap();
    (listener, accepted)
}

async fn receive(events: &mut EventReceiver, total: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < total {
        match timeout(GUARD, events.recv()).await.unwrap().unwrap() {
            Event::Data { sock: 0, data } => got.extend_from_slice(&data),
            other => panic!("unexpected {other:?}"),
        }
    }
    got
}

#[tokio::test]
async fn identity_firmware_and_addresses_over_the_pty() {
    let (sim, driver, _events) = start(command_mode()).await;
    driver.init().await.unwrap();
    assert_eq!(driver.mac().await.unwrap().to_hex_lower(), "0008dc1dbb8a");
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    let net = driver.net_status().await.unwrap();
    assert_eq!(net.ip, Ipv4Addr::new(192, 168, 11, 100));
    assert!(driver.sockets().await.unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn all_byte_values_both_ways_whatever_the_chunks() {
    let (sim, driver, mut events) = start(command_mode()).await;
    driver.init().await.unwrap();
    let (_listener, mut peer) = connect(&driver).await;
    let socks = driver.sockets().await.unwrap();
    assert_eq!(socks.len(), 1, "{socks:?}");

    // Host → peer: 3000 bytes, three AT+NSEND records.
    let out = nasty_payload(3000);
    driver.send(0, &out).await.unwrap();
    let mut got = vec![0u8; out.len()];
    timeout(GUARD, peer.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, out);

    // Peer → host, written in odd pieces: every byte comes back in order.
    let back = nasty_payload(5000);
    for piece in back.chunks(777) {
        peer.write_all(piece).await.unwrap();
        peer.flush().await.unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(receive(&mut events, back.len()).await, back);

    // Commands still work between records.
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    driver.close_socket(0).await.unwrap();
    match driver.close_socket(0).await {
        Err(Error::Module { code, .. }) => assert_eq!(code, ErrorCode::SocketClosed),
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn peer_close_a_refused_connect_and_a_busy_buffer() {
    let (sim, driver, mut events) = start(command_mode()).await;
    driver.init().await.unwrap();
    let (_listener, peer) = connect(&driver).await;
    drop(peer);
    assert_eq!(
        timeout(GUARD, events.recv()).await.unwrap().unwrap(),
        Event::Socket {
            sock: 0,
            event: SocketEvent::Closed
        }
    );
    match driver.send(0, b"late").await {
        Err(Error::Module { code, .. }) => assert_eq!(code, ErrorCode::SocketClosed),
        other => panic!("{other:?}"),
    }
    // Nobody listens there: [W,0] then [F,0,8].
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    match driver.open_tcp(Ipv4Addr::LOCALHOST, port).await {
        Err(Error::Module { code, .. }) => assert_eq!(code, ErrorCode::Timeout),
        other => panic!("{other:?}"),
    }
    // A short transmit buffer once: the send is tried again and arrives.
    let (_listener, mut peer) = connect(&driver).await;
    sim.control().inject(Fault::BusyBuffer(10));
    driver.send(0, b"after a busy answer").await.unwrap();
    let mut got = vec![0u8; 19];
    timeout(GUARD, peer.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"after a busy answer");
    sim.shutdown().await;
}

#[tokio::test]
async fn lost_and_late_answers_re_synchronise() {
    let (sim, driver, _events) = start(command_mode()).await;
    driver.init().await.unwrap();
    sim.control().inject(Fault::DropNextResponse);
    assert!(matches!(
        driver.firmware_version().await,
        Err(Error::Timeout { .. })
    ));
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    sim.control().inject(Fault::GarbleNextLine);
    assert!(driver.firmware_version().await.is_err());
    assert_eq!(driver.mac().await.unwrap().to_hex_lower(), "0008dc1dbb8a");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lost_go_ahead_fills_the_record_with_nuls_and_counts_it() {
    let (sim, driver, _events) = start(command_mode()).await;
    driver.init().await.unwrap();
    let (_listener, mut peer) = connect(&driver).await;
    assert_eq!(driver.padded_records(), 0);
    // `[W,0]` lost: the module waits for the record's bytes; the driver
    // cannot tell a lost go-ahead from a refusal, so it writes NULs (a
    // refused line's module drops them) and reports the send failed.
    sim.control().inject(Fault::DropNextResponse);
    assert!(driver.send(0, b"held").await.is_err());
    assert_eq!(driver.padded_records(), 1);
    let mut got = [0xffu8; 4];
    timeout(GUARD, peer.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, [0; 4], "the peer got NULs, never the record's bytes");
    sim.shutdown().await;
}

#[tokio::test]
async fn start_up_escapes_the_factory_data_mode_and_a_reset_starts_again() {
    // The firmware boots into data mode: AT is payload there.
    let (sim, driver, _events) = start(SimConfig::default()).await;
    driver.init().await.unwrap();
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    // AT+MRST reboots into data mode again; reset() gets back to commands.
    driver.reset().await.unwrap();
    assert_eq!(driver.mac().await.unwrap().to_hex_lower(), "0008dc1dbb8a");
    // An unasked reboot: the next command goes unanswered, init recovers.
    sim.control().inject(Fault::Reset);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(driver.firmware_version().await.is_err());
    driver.init().await.unwrap();
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    sim.shutdown().await;
}
