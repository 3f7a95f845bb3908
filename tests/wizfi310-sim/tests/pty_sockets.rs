//! The emulator through its real pty, with real loopback sockets.

mod common;

use std::time::Duration;

use common::{GUARD, Port, joined, quick_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wizfi310_sim::{Fault, SimConfig, Simulator};

/// 2048 bytes full of the characters a line-based driver trips over.
fn nasty_payload() -> Vec<u8> {
    let pattern = b"\r\n{0,1.2.3.4,5,6}[OK]\r\n\x00\xff+++";
    pattern.iter().copied().cycle().take(2048).collect()
}

#[tokio::test]
async fn at_over_the_pty_with_echo() {
    let sim = Simulator::start(quick_config()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    port.write(b"AT\r").await;
    assert_eq!(port.read_until_str("[OK]\r\n").await, "AT\r\n[OK]\r\n");
    port.write(b"AT+BOGUS\r").await;
    assert_eq!(
        port.read_until_str("\r\n[ERROR: INVALID INPUT]\r\n").await,
        "AT+BOGUS\r\n[ERROR: INVALID INPUT]\r\n"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_port_can_be_closed_and_reopened() {
    let sim = Simulator::start(quick_config()).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    port.command("AT").await;
    drop(port);
    let mut port = Port::open(sim.tty_path()).await;
    assert_eq!(port.command("AT").await, "AT\r\n[OK]\r\n");
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_passphrase_does_not_join() {
    let sim = Simulator::start(SimConfig {
        passphrase: "correct horse".into(),
        ..quick_config()
    })
    .await
    .unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    port.command("AT+MECHO=0").await;
    port.command("AT+WSET=0,testnet").await;
    port.command("AT+WSEC=0,WPA2,wrong horse").await;
    port.write(b"AT+WJOIN\r").await;
    assert_eq!(
        port.read_until_str("[ERROR]\r\n").await,
        "Joining : testnet\r\n[ERROR]\r\n"
    );
    port.command("AT+WSEC=0,WPA2,correct horse").await;
    let out = port.command("AT+WJOIN").await;
    assert!(
        out.contains("[Link-Up Event]\r\n  IP Addr    : 192.168.1.4\r\n"),
        "{out}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn binary_payload_both_ways_then_peer_close() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sim, mut port) = joined(quick_config()).await;

    port.write(format!("AT+SCON=O,TCN,127.0.0.1,{},,0\r", addr.port()).as_bytes())
        .await;
    let (mut peer, _) = tokio::time::timeout(GUARD, listener.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        port.read_until_str("[CONNECT 0]\r\n").await,
        "[OK]\r\n\r\n[CONNECT 0]\r\n"
    );

    // Host → peer through AT+SSEND.
    let payload = nasty_payload();
    port.write(format!("AT+SSEND=0,,,{}\r", payload.len()).as_bytes())
        .await;
    assert_eq!(port.read_until_str("]\r\n").await, "[0,,,2048]\r\n");
    port.write(&payload).await;
    assert_eq!(port.read_until_str("[OK]\r\n").await, "[OK]\r\n");
    let mut got = vec![0u8; payload.len()];
    tokio::time::timeout(GUARD, peer.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, payload);

    // Peer → host as {sid,ip,port,len} records.
    peer.write_all(&payload).await.unwrap();
    let mut received = Vec::new();
    while received.len() < payload.len() {
        let header = port.read_until(b"}").await;
        let header = String::from_utf8(header).unwrap();
        let fields: Vec<&str> = header
            .trim_start_matches('{')
            .trim_end_matches('}')
            .split(',')
            .collect();
        assert_eq!(&fields[..2], &["0", "127.0.0.1"]);
        assert_eq!(fields[2], addr.port().to_string());
        let len: usize = fields[3].parse().unwrap();
        received.extend(port.read_exact(len).await);
        assert_eq!(port.read_exact(2).await, b"\r\n");
    }
    assert_eq!(received, payload);

    drop(peer);
    assert_eq!(
        port.read_until_str("[DISCONNECT 0]\r\n").await,
        "\r\n[DISCONNECT 0]\r\n"
    );
    port.write(b"AT+SSEND=0,,,1\r").await;
    assert_eq!(
        port.read_until_str("\r\n").await,
        "[ERROR: INVALID SCID]\r\n"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn smgmt_close_reaches_the_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sim, mut port) = joined(quick_config()).await;
    port.write(format!("AT+SCON=O,TCN,127.0.0.1,{},,0\r", addr.port()).as_bytes())
        .await;
    let (mut peer, _) = listener.accept().await.unwrap();
    port.read_until_str("[CONNECT 0]\r\n").await;
    assert_eq!(
        port.command("AT+SMGMT=0").await,
        "\r\n[DISCONNECT 0]\r\n[OK]\r\n"
    );
    let mut rest = Vec::new();
    let n = tokio::time::timeout(GUARD, peer.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn data_mode_and_escape() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sim, mut port) = joined(SimConfig {
        escape_guard: Duration::from_millis(200),
        ..quick_config()
    })
    .await;
    port.write(format!("AT+SCON=O,TCN,127.0.0.1,{},,1\r", addr.port()).as_bytes())
        .await;
    let (mut peer, _) = listener.accept().await.unwrap();
    port.read_until_str("[CONNECT 0]\r\n").await;
    port.write(b"AT\r{raw}").await;
    let mut got = [0u8; 8];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"AT\r{raw}");
    peer.write_all(b"back").await.unwrap();
    assert_eq!(port.read_exact(4).await, b"back");
    // The guard before "+++" is counted from the last byte sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    port.write(b"+++").await;
    assert_eq!(port.read_until_str("[OK]\r\n").await, "[OK]\r\n");
    assert_eq!(port.command("AT").await, "[OK]\r\n");
    sim.shutdown().await;
}

#[tokio::test]
async fn board_values_are_settable() {
    let sim = Simulator::start(quick_config()).await.unwrap();
    let ctl = sim.control();
    let mut port = Port::open(sim.tty_path()).await;
    port.command("AT+MECHO=0").await;
    ctl.set_adc(1234);
    assert_eq!(port.command("AT+FGETADC=?").await, "1234\r\n[OK]\r\n");
    assert!(ctl.set_gpio(3, true));
    assert!(!ctl.set_gpio(9, true));
    assert_eq!(port.command("AT+FGPIO=3,2,0").await, "1\r\n[OK]\r\n");
    port.command("AT+FGPIO=4,1,0").await;
    port.command("AT+FGPIO=4,3,1").await;
    assert_eq!(ctl.gpio(4), Some(true));
    assert_eq!(ctl.gpio_is_output(4), Some(true));
    ctl.set_fw_version("2.0.0.1");
    assert!(port.command("AT+MINFO").await.contains("2.0.0.1 / "));
    ctl.set_mac([0x00, 0x08, 0xDC, 0x01, 0x02, 0x03]);
    assert_eq!(
        port.command("AT+MMAC=?").await,
        "00:08:DC:01:02:03\r\n[OK]\r\n"
    );
    port.command("AT+MMAC=00:08:DC:AA:BB:CC").await;
    assert_eq!(
        port.command("AT+MMAC=?").await,
        "00:08:DC:AA:BB:CC\r\n[OK]\r\n"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_through_the_pty() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sim, mut port) = joined(quick_config()).await;
    let ctl = sim.control();

    ctl.inject(Fault::DropNextResponse);
    port.write(b"AT+MMAC=?\r").await;
    port.write(b"AT+MECHO=?\r").await;
    assert_eq!(port.read_until_str("[OK]\r\n").await, "0\r\n[OK]\r\n");

    ctl.inject(Fault::DelayNextResponse(Duration::from_millis(100)));
    assert_eq!(port.command("AT").await, "[OK]\r\n");

    ctl.inject(Fault::GarbleNextLine);
    port.write(b"AT\r").await;
    assert_eq!(port.read_until(b"\r\n").await, b"\xffKO[\r\n");

    let scon = format!("AT+SCON=O,TCN,127.0.0.1,{},,0\r", addr.port());
    port.write(scon.as_bytes()).await;
    let (mut peer, _) = listener.accept().await.unwrap();
    port.read_until_str("[CONNECT 0]\r\n").await;
    ctl.inject(Fault::CloseSocket(0));
    assert_eq!(
        port.read_until_str("[DISCONNECT 0]\r\n").await,
        "\r\n[DISCONNECT 0]\r\n"
    );
    let mut rest = Vec::new();
    assert_eq!(peer.read_to_end(&mut rest).await.unwrap(), 0);

    port.write(scon.as_bytes()).await;
    let (_peer, _) = listener.accept().await.unwrap();
    port.read_until_str("[CONNECT 0]\r\n").await;
    ctl.inject(Fault::LinkDown);
    assert_eq!(
        port.read_until_str("[DISCONNECT 0]\r\n").await,
        "\r\n[Link-Down Event]\r\n\r\n[DISCONNECT 0]\r\n"
    );

    ctl.inject(Fault::ResetEvent);
    assert_eq!(
        port.read_until_str("[Reset Event]\r\n").await,
        "\r\n[Reset Event]\r\n"
    );
    assert_eq!(port.command("AT").await, "AT\r\n[OK]\r\n");
    sim.shutdown().await;
}

#[tokio::test]
async fn mreset_resets_after_a_delay() {
    let (sim, mut port) = joined(quick_config()).await;
    assert_eq!(port.command("AT+MRESET").await, "[OK]\r\n");
    assert_eq!(
        port.read_until_str("[Reset Event]\r\n").await,
        "\r\n[Reset Event]\r\n"
    );
    port.write(b"AT+SCON=O,TCN,127.0.0.1,1,,0\r").await;
    assert!(
        port.read_until_str("[ERROR: WiFi Status]\r\n")
            .await
            .starts_with("AT+SCON")
    );
    sim.shutdown().await;
}

/// With `pace`, bytes leave the pty no faster than the line: a lower bound
/// only (a loaded machine may be slower, never faster).
#[tokio::test]
async fn paced_output_respects_the_baud_rate() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sim, mut port) = joined(SimConfig {
        baud: 19_200,
        pace: true,
        ..quick_config()
    })
    .await;
    port.write(format!("AT+SCON=O,TCN,127.0.0.1,{},,0\r", addr.port()).as_bytes())
        .await;
    let (mut peer, _) = listener.accept().await.unwrap();
    port.read_until_str("[CONNECT 0]\r\n").await;
    let payload = nasty_payload();
    let started = std::time::Instant::now();
    peer.write_all(&payload).await.unwrap();
    let mut wire = 0;
    let mut received = 0;
    while received < payload.len() {
        let header = port.read_until(b"}").await;
        let text = String::from_utf8_lossy(&header).into_owned();
        let len: usize = text
            .trim_end_matches('}')
            .rsplit(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        port.read_exact(len + 2).await;
        received += len;
        wire += header.len() + len + 2;
    }
    let elapsed = started.elapsed();
    let line_time = Duration::from_secs_f64(wire as f64 * 10.0 / 19_200.0);
    eprintln!(
        "{wire} bytes in {elapsed:?}: {:.0} B/s (line: 1920 B/s)",
        wire as f64 / elapsed.as_secs_f64()
    );
    assert!(
        elapsed >= line_time.mul_f64(0.9),
        "{elapsed:?} < {line_time:?}"
    );
    sim.shutdown().await;
}
