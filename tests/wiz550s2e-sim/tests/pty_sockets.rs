//! The emulator through its real pty, with real TCP peers on 127.0.0.1.

use std::time::Duration;

use test_support::module_port::Port;
use test_support::wait::GUARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiz550s2e_sim::{BootMode, Fault, SimConfig, Simulator};

fn command_mode() -> SimConfig {
    SimConfig {
        boot_mode: BootMode::Command,
        ..SimConfig::default()
    }
}

/// Every byte value, and the bytes a line-based driver trips over.
fn nasty_payload(len: usize) -> Vec<u8> {
    let mut pattern: Vec<u8> = b"[R,0,5]\r\n\0[V,0,2]+++\r\n".to_vec();
    pattern.extend(0..=255u8);
    pattern.into_iter().cycle().take(len).collect()
}

async fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = tokio::time::timeout(GUARD, listener.accept())
        .await
        .expect("the module connects")
        .unwrap();
    stream
}

/// Opens socket 0 to `listener` and returns the accepted peer.
async fn open(port: &mut Port, listener: &TcpListener) -> TcpStream {
    let peer_port = listener.local_addr().unwrap().port();
    port.write(format!("AT+NOPEN=C,,127.0.0.1,{peer_port}\r\n").as_bytes())
        .await;
    let peer = accept(listener).await;
    assert_eq!(port.read_until_str("[S,0]\r\n").await, "[W,0]\r\n[S,0]\r\n");
    peer
}

/// Sends `data` with AT+NSEND.
async fn nsend(port: &mut Port, data: &[u8]) {
    port.write(format!("AT+NSEND=0,{}\r\n", data.len()).as_bytes())
        .await;
    assert_eq!(port.read_until_str("]\r\n").await, "[W,0]\r\n");
    port.write(data).await;
    assert_eq!(port.read_until_str("]\r\n").await, "[S,0]\r\n");
}

/// Reads `[R,0,<n>]` records until `total` payload bytes came.
async fn receive(port: &mut Port, total: usize) -> (Vec<u8>, usize) {
    let mut data = Vec::new();
    let mut records = 0;
    while data.len() < total {
        let header = port.read_until_str("]\r\n").await;
        let len: usize = header
            .strip_prefix("[R,0,")
            .and_then(|rest| rest.strip_suffix("]\r\n"))
            .unwrap_or_else(|| panic!("not a receive header: {header:?}"))
            .parse()
            .unwrap();
        assert!((1..=1024).contains(&len), "{header}");
        data.extend(port.read_exact(len).await);
        assert_eq!(port.read_exact(2).await, b"\r\n");
        records += 1;
    }
    (data, records)
}

#[tokio::test]
async fn at_commands_over_the_pty() {
    let sim = Simulator::start(command_mode()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    port.write(b"AT\r\n").await;
    assert_eq!(port.read_until_str("\r\n").await, "[S]\r\n");
    port.write(b"AT+NMAC?\r\nAT+BOGUS\r\n").await;
    assert_eq!(
        port.read_until_str("[F,,1]\r\n").await,
        "[S,,00:08:dc:1d:bb:8a]\r\n[F,,1]\r\n"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn binary_payloads_go_out_exactly_and_come_back_across_records() {
    let sim = Simulator::start(command_mode()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = open(&mut port, &listener).await;

    let sent = nasty_payload(1024);
    nsend(&mut port, &sent).await;
    let mut got = vec![0u8; sent.len()];
    tokio::time::timeout(GUARD, peer.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, sent, "the peer got the payload byte for byte");

    // More than one record's worth, in pieces that do not line up with it.
    let back = nasty_payload(3000);
    for piece in back.chunks(700) {
        peer.write_all(piece).await.unwrap();
        peer.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (received, records) = receive(&mut port, back.len()).await;
    assert_eq!(received, back);
    assert!(records >= 3, "3000 bytes need at least 3 records");

    port.write(b"AT\r\n").await;
    assert_eq!(port.read_until_str("\r\n").await, "[S]\r\n");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_line_queued_behind_a_record_is_answered_after_its_s_0() {
    let sim = Simulator::start(command_mode()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = open(&mut port, &listener).await;
    let first = nasty_payload(900);
    port.write(b"AT+NSEND=0,900\r\n").await;
    assert_eq!(port.read_until_str("]\r\n").await, "[W,0]\r\n");
    // The record, the next line and the start of its bytes in one write:
    // they wait in the module's receive ring behind the record.
    let mut ahead = first.clone();
    ahead.extend_from_slice(b"AT+NSEND=0,10\r\n0123");
    port.write(&ahead).await;
    assert_eq!(port.read_until_str("[W,0]\r\n").await, "[S,0]\r\n[W,0]\r\n");
    port.write(b"456789").await;
    assert_eq!(port.read_until_str("]\r\n").await, "[S,0]\r\n");
    let mut got = vec![0u8; 910];
    tokio::time::timeout(GUARD, peer.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got[..900], &first[..]);
    assert_eq!(&got[900..], b"0123456789");
    port.write(b"AT\r\n").await;
    assert_eq!(port.read_until_str("\r\n").await, "[S]\r\n");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_busy_buffer_refuses_the_send_and_nothing_reaches_the_peer() {
    let sim = Simulator::start(command_mode()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = open(&mut port, &listener).await;
    sim.control().inject(Fault::BusyBuffer(16));
    port.write(b"AT+NSEND=0,32\r\n").await;
    assert_eq!(port.read_until_str("\r\n").await, "[F,,7,16]\r\n");
    nsend(&mut port, b"after the busy one").await;
    let mut got = vec![0u8; 18];
    tokio::time::timeout(GUARD, peer.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"after the busy one");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_peer_closing_prints_v_0_2() {
    let sim = Simulator::start(command_mode()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = open(&mut port, &listener).await;
    peer.write_all(b"bye").await.unwrap();
    drop(peer);
    assert_eq!(
        port.read_until_str("[V,0,2]\r\n").await,
        "[R,0,3]\r\nbye\r\n[V,0,2]\r\n"
    );
    port.write(b"AT+NSOCK\r\nAT+NSEND=0,1\r\n").await;
    assert_eq!(
        port.read_until_str("[F,,11]\r\n").await,
        "[D,,0]\r\n[F,,11]\r\n"
    );
    // The socket can be opened again.
    let _peer = open(&mut port, &listener).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn nclose_closes_the_connection_the_peer_sees_eof() {
    let sim = Simulator::start(command_mode()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = open(&mut port, &listener).await;
    port.write(b"AT+NCLOSE=0\r\n").await;
    assert_eq!(port.read_until_str("[S,0]\r\n").await, "[W,0]\r\n[S,0]\r\n");
    let mut rest = Vec::new();
    tokio::time::timeout(GUARD, peer.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn fdns_resolves_localhost() {
    let sim = Simulator::start(command_mode()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    port.write(b"AT+FDNS=localhost\r\nAT\r\n").await;
    assert_eq!(
        port.read_until_str("[S]\r\n").await,
        "[D,,11]\r\n127.0.0.1\r\n\r\n[S]\r\n"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn data_mode_is_a_transparent_client_left_with_plus_plus_plus() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_port = listener.local_addr().unwrap().port();
    let sim = Simulator::start(command_mode()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    port.write(format!("AT+MMODE=C,5000,127.0.0.1,{server_port}\r\nAT+MDATA\r\n").as_bytes())
        .await;
    assert_eq!(
        port.read_until_str("[S]\r\n[S]\r\n").await,
        "[S]\r\n[S]\r\n"
    );
    let mut server = accept(&listener).await;

    // Bytes typed before the module's side is up are flushed, as on the
    // module: probe with one byte at a time until one comes through.
    let mut buf = vec![0u8; 4096];
    loop {
        port.write(b"!").await;
        match tokio::time::timeout(Duration::from_millis(200), server.read(&mut buf)).await {
            Ok(Ok(n)) => {
                assert!(n > 0 && buf[..n].iter().all(|&b| b == b'!'));
                break;
            }
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => {}
        }
    }
    let payload = nasty_payload(600);
    port.write(&payload).await;
    let mut got = Vec::new();
    while got.len() < payload.len() {
        let n = tokio::time::timeout(GUARD, server.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the module closed");
        got.extend_from_slice(&buf[..n]);
        // A late probe byte may still arrive first.
        if got.first() == Some(&b'!') {
            got.remove(0);
        }
    }
    assert_eq!(got, payload);
    server.write_all(&payload).await.unwrap();
    assert_eq!(port.read_exact(payload.len()).await, payload);

    tokio::time::sleep(Duration::from_millis(600)).await;
    port.write(b"+++").await;
    assert_eq!(
        port.read_until_str("[S,0]\r\n").await,
        "\r\n\r\n\r\n[W,0]\r\n[S,0]\r\n"
    );
    let mut rest = Vec::new();
    tokio::time::timeout(GUARD, server.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(
        rest.is_empty(),
        "the escape closed the connection, +++ not sent"
    );
    port.write(b"AT\r\n").await;
    assert_eq!(port.read_until_str("\r\n").await, "[S]\r\n");
    sim.shutdown().await;
}
