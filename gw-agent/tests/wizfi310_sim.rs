//! The driver against the WizFi310 emulator, through its real pty.

use std::net::Ipv4Addr;
use std::time::Duration;

use gw_agent::wizfi310::{
    DataForm, Driver, DriverConfig, Error, Event, EventReceiver, JoinOutcome, Security,
    SerialConfig, SocketClose, SocketOpen, WifiMode, WifiNet, WifiSecurity, WifiSet,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;
use wizfi310_sim::{Fault, SimConfig, Simulator};

/// Guard against hanging, not a performance bound.
const GUARD: Duration = Duration::from_secs(30);

async fn start() -> (Simulator, Driver, EventReceiver) {
    start_paced(false).await
}

/// With `pace`, the pty runs at 115200 bit/s like the real UART.
async fn start_paced(pace: bool) -> (Simulator, Driver, EventReceiver) {
    let sim = Simulator::start(SimConfig {
        join_delay: Duration::from_millis(10),
        pace,
        ..SimConfig::default()
    })
    .await
    .expect("emulator starts");
    let path = sim.tty_path().to_string_lossy().into_owned();
    let (driver, events) =
        Driver::open(&SerialConfig::new(path), DriverConfig::default()).expect("pty opens");
    (sim, driver, events)
}

async fn join(driver: &Driver) {
    driver
        .wifi_set(&WifiSet {
            mode: WifiMode::Station,
            ssid: "testnet".into(),
            bssid: None,
            channel: None,
        })
        .await
        .unwrap();
    driver
        .wifi_security(&WifiSecurity {
            mode: WifiMode::Station,
            security: Security::Auto,
            key: "12345678".into(),
        })
        .await
        .unwrap();
    driver.wifi_net(&WifiNet::Dhcp).await.unwrap();
    match driver.join().await.unwrap() {
        JoinOutcome::Joined { ip, .. } => assert!(ip.is_some()),
        other => panic!("not joined: {other:?}"),
    }
}

/// Next event that is not a trace or link event.
async fn next_event(events: &mut EventReceiver) -> Event {
    loop {
        let event = timeout(GUARD, events.recv())
            .await
            .expect("event in time")
            .expect("channel open");
        if !matches!(event, Event::Trace(_) | Event::LinkUp { .. }) {
            return event;
        }
    }
}

#[tokio::test]
async fn probe_join_and_status_through_the_pty() {
    timeout(GUARD, async {
        let (sim, driver, mut events) = start().await;
        // The emulator starts with echo on, like the module: init turns it off.
        driver.init(&DataForm::default()).await.unwrap();
        assert_eq!(driver.mac().await.unwrap().to_string(), "00:08:DC:1E:32:22");
        let info = driver.info().await.unwrap();
        assert!(!info.firmware.is_empty() && !info.hardware.is_empty());
        join(&driver).await;
        let link = loop {
            if let Some(Event::LinkUp { ip, gateway }) = events.recv().await {
                break (ip, gateway);
            }
        };
        assert!(link.0.is_some() && link.1.is_some());
        sim.control().set_rssi(-55);
        let status = driver.wifi_status().await.unwrap();
        let sta = status.station().expect("joined");
        assert_eq!(sta.ssid, "testnet");
        assert_eq!(sta.rssi_dbm, Some(-55));
        assert_ne!(sta.ip, Some(Ipv4Addr::UNSPECIFIED));
        sim.control().set_adc(1234);
        assert_eq!(driver.adc().await.unwrap(), 1234);
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn a_2048_byte_binary_payload_both_ways_then_peer_close() {
    payload_both_ways_then_peer_close(false).await;
}

#[tokio::test]
async fn the_same_at_115200_baud_pacing() {
    payload_both_ways_then_peer_close(true).await;
}

async fn payload_both_ways_then_peer_close(pace: bool) {
    timeout(GUARD, async {
        let (sim, driver, mut events) = start_paced(pace).await;
        driver.init(&DataForm::default()).await.unwrap();
        join(&driver).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = SocketOpen::tcp_client("127.0.0.1", port);
        let (sid, accepted) = tokio::join!(driver.open_socket(&open), listener.accept());
        let sid = sid.unwrap().expect("[CONNECT x] reported");
        let (mut peer, _) = accepted.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Connect { sid });

        let out: Vec<u8> = b"\r\n{}[]\x00\xff"
            .iter()
            .copied()
            .chain(0..=255u8)
            .cycle()
            .take(2048)
            .collect();
        driver.send(sid, &out).await.unwrap();
        let mut got = vec![0; out.len()];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(got, out);

        let back: Vec<u8> = out.iter().rev().copied().collect();
        peer.write_all(&back).await.unwrap();
        let mut received = Vec::new();
        while received.len() < back.len() {
            match next_event(&mut events).await {
                Event::Data(data) => {
                    assert_eq!(data.sid, sid);
                    received.extend_from_slice(&data.payload);
                }
                other => panic!("expected data, got {other:?}"),
            }
        }
        assert_eq!(received, back);

        drop(peer);
        assert_eq!(next_event(&mut events).await, Event::Disconnect { sid });
        assert!(driver.sockets().await.unwrap().is_empty());
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn module_errors_keep_their_words() {
    timeout(GUARD, async {
        let (sim, driver, _events) = start().await;
        driver.init(&DataForm::default()).await.unwrap();
        let err = driver.send(0, b"x").await.unwrap_err();
        assert!(
            matches!(&err, Error::Module { words, .. } if words == "[ERROR: WiFi Status]"),
            "{err:?}"
        );
        join(&driver).await;
        let err = driver.close_socket(SocketClose::One(5)).await.unwrap_err();
        assert!(
            matches!(&err, Error::Module { words, .. } if words.starts_with("[ERROR")),
            "{err:?}"
        );
        driver.at().await.unwrap();
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn a_dropped_response_is_recovered_and_a_reset_event_delivered() {
    timeout(GUARD, async {
        let (sim, driver, mut events) = start().await;
        driver.init(&DataForm::default()).await.unwrap();
        sim.control().inject(Fault::DropNextResponse);
        match driver.mac().await {
            Err(Error::Timeout { command, .. }) => assert_eq!(command, "AT+MMAC=?"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(driver.mac().await.unwrap().to_string(), "00:08:DC:1E:32:22");

        sim.control().inject(Fault::ResetEvent);
        assert_eq!(next_event(&mut events).await, Event::Reset);
        // A reset module has echo back on; the driver copes and turns it off.
        driver.init(&DataForm::default()).await.unwrap();
        assert_eq!(driver.mac().await.unwrap().to_string(), "00:08:DC:1E:32:22");
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn a_garbled_line_and_a_link_down_are_survived() {
    timeout(GUARD, async {
        let (sim, driver, mut events) = start().await;
        driver.init(&DataForm::default()).await.unwrap();
        sim.control().inject(Fault::GarbleNextLine);
        // Whatever the garbled line was (the value or the [OK]), this call
        // may fail, but the driver stays usable.
        let _ = driver.mac().await;
        assert_eq!(driver.mac().await.unwrap().to_string(), "00:08:DC:1E:32:22");

        join(&driver).await;
        sim.control().inject(Fault::LinkDown);
        assert_eq!(next_event(&mut events).await, Event::LinkDown);
        assert!(driver.wifi_status().await.unwrap().station().is_none());
        sim.shutdown().await;
    })
    .await
    .expect("test finished in time");
}
