//! Driver tests over an in-memory duplex with a scripted module.

use std::net::Ipv4Addr;
use std::time::Duration;

use gw_agent::wizfi310::{
    DataForm, Driver, DriverConfig, Error, Event, GmmpData, GmmpOpt, GmmpSet, GpioConfig,
    GpioLevel, JoinOutcome, MessageLevel, ModuleErrorKind, Security, SocketClose, SocketOpen,
    SocketType, Timeouts, WifiMode, WifiNet, WifiSecurity, WifiSet,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// The scripted module end of the duplex.
struct Peer {
    io: DuplexStream,
    echo: bool,
}

impl Peer {
    /// Reads one CR-terminated command line and checks it.
    async fn expect(&mut self, line: &str) {
        let mut got = Vec::new();
        loop {
            let byte = self.io.read_u8().await.expect("driver closed the port");
            if byte == b'\r' {
                break;
            }
            got.push(byte);
        }
        assert_eq!(String::from_utf8_lossy(&got), line);
        if self.echo {
            self.write(format!("{line}\r\n").as_bytes()).await;
        }
    }

    async fn expect_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.io.read_exact(&mut buf).await.unwrap();
        buf
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
    }

    /// Expects `line` and answers `reply`.
    async fn answer(&mut self, line: &str, reply: &str) {
        self.expect(line).await;
        self.write(reply.as_bytes()).await;
    }
}

fn start_with(timeouts: Timeouts) -> (Driver, gw_agent::wizfi310::EventReceiver, Peer) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let config = DriverConfig {
        timeouts,
        data_form: DataForm::default(),
    };
    let (driver, events) = Driver::new(ours, config);
    (
        driver,
        events,
        Peer {
            io: theirs,
            echo: false,
        },
    )
}

fn start() -> (Driver, gw_agent::wizfi310::EventReceiver, Peer) {
    start_with(Timeouts::default())
}

/// Payloads for a pipelined send to take, in order.
fn payloads(items: &[&'static [u8]]) -> std::collections::VecDeque<bytes::Bytes> {
    items
        .iter()
        .copied()
        .map(bytes::Bytes::from_static)
        .collect()
}

fn data_frame(sid: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{{{sid},127.0.0.1,5000,{}}}", payload.len()).into_bytes();
    bytes.extend_from_slice(payload);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

fn nasty_payload(len: usize) -> Vec<u8> {
    b"\r\n{}[]{0,1.2.3.4,5,6}[OK]\r\n\x00\xff"
        .iter()
        .copied()
        .chain(0..=255u8)
        .cycle()
        .take(len)
        .collect()
}

#[tokio::test]
async fn every_typed_command_reads_its_success_reply() {
    let (driver, _events, mut peer) = start();
    let d = driver.clone();
    let calls = async move {
        d.init(&DataForm::default()).await.unwrap();
        let mac = d.mac().await.unwrap();
        assert_eq!(mac.to_hex_lower(), "0008dc1e3222");
        let info = d.info().await.unwrap();
        assert_eq!(
            (info.firmware.as_str(), info.hardware.as_str()),
            ("1.1.1.0", "WizFi310 Rev 1.0")
        );
        d.set_message_level(MessageLevel::Debug).await.unwrap();
        d.wifi_set(&WifiSet {
            mode: WifiMode::Station,
            ssid: "testnet".into(),
            bssid: None,
            channel: None,
        })
        .await
        .unwrap();
        d.wifi_security(&WifiSecurity {
            mode: WifiMode::Station,
            security: Security::Auto,
            key: "12345678".into(),
        })
        .await
        .unwrap();
        d.wifi_net(&WifiNet::Dhcp).await.unwrap();
        assert_eq!(
            d.join().await.unwrap(),
            JoinOutcome::Joined {
                ip: Some(Ipv4Addr::new(192, 168, 1, 4)),
                gateway: Some(Ipv4Addr::new(192, 168, 1, 1))
            }
        );
        assert_eq!(
            d.join().await.unwrap(),
            JoinOutcome::AlreadyAssociated("STA".into())
        );
        let status = d.wifi_status().await.unwrap();
        assert_eq!(status.station().unwrap().rssi_dbm, Some(-61));
        assert_eq!(
            d.open_socket(&SocketOpen::tcp_client("127.0.0.1", 5000))
                .await
                .unwrap(),
            Some(0)
        );
        d.send(0, b"hello").await.unwrap();
        let sockets = d.sockets().await.unwrap();
        assert_eq!(sockets[0].kind, SocketType::TcpClient);
        d.close_socket(SocketClose::One(0)).await.unwrap();
        d.close_socket(SocketClose::All).await.unwrap();
        assert_eq!(d.adc().await.unwrap(), 1697);
        d.gpio_configure(3, true, GpioConfig::PullNone)
            .await
            .unwrap();
        d.gpio_write(3, GpioLevel::High).await.unwrap();
        assert_eq!(d.gpio_read(3).await.unwrap(), GpioLevel::High);
        d.gmmp_opt(GmmpOpt::Logging {
            events: true,
            debug: true,
        })
        .await
        .unwrap();
        d.gmmp_opt(GmmpOpt::HeartbeatPeriod(1)).await.unwrap();
        d.gmmp_opt(GmmpOpt::ReportPeriod(2)).await.unwrap();
        d.gmmp_set(&GmmpSet::Start {
            ip: "127.0.0.1".into(),
            port: 31002,
            domain: "ThingPlug".into(),
            auth_id: "0008dc1e3222".into(),
            manufacture_id: "WIZnet".into(),
            device_id: "0008dc1e3222".into(),
        })
        .await
        .unwrap();
        d.gmmp_data(&GmmpData {
            send_now: true,
            data: "test data".into(),
        })
        .await
        .unwrap();
        d.gmmp_set(&GmmpSet::Stop).await.unwrap();
        d.leave().await.unwrap();
        d.reset().await.unwrap();
    };
    let script = async move {
        peer.echo = true; // factory default: echo on until AT+MECHO=0
        peer.answer("AT", "[OK]\r\n").await;
        peer.answer("AT+MECHO=0", "[OK]\r\n").await;
        peer.echo = false;
        peer.answer("AT+SFORM=?", "111111111,7B,2C,7D,0D,0A\r\n[OK]\r\n")
            .await;
        peer.answer("AT+MMAC=?", "00:08:DC:1E:32:22\r\n[OK]\r\n")
            .await;
        peer.answer(
            "AT+MINFO",
            "FW version / HW version\r\n1.1.1.0 / WizFi310 Rev 1.0\r\n[OK]\r\n",
        )
        .await;
        peer.answer("AT+MMSG=3", "[OK]\r\n").await;
        peer.answer("AT+WSET=0,testnet", "[OK]\r\n").await;
        peer.answer("AT+WSEC=0,,12345678", "[OK]\r\n").await;
        peer.answer("AT+WNET=1", "[OK]\r\n").await;
        peer.answer(
            "AT+WJOIN",
            "Joining : testnet\r\nSuccessfully joined : testnet\r\n\r\n[Link-Up Event]\r\n\r\n    IP Addr    : 192.168.1.4\r\n    Gateway    : 192.168.1.1\r\n\r\n[OK]\r\n",
        )
        .await;
        peer.answer("AT+WJOIN", "Already Associated : STA\r\n[OK]\r\n")
            .await;
        peer.answer(
            "AT+WSTAT",
            "IF/SSID/IP-Addr/Gateway/MAC/TxPower(dBm)/RSSI(-dBm)\r\nSTA/testnet/192.168.1.4/192.168.1.1/00:08:DC:1E:32:22/15/-61\r\n[OK]\r\n",
        )
        .await;
        peer.answer(
            "AT+SCON=O,TCN,127.0.0.1,5000,0,0",
            "[OK]\r\n\r\n[CONNECT 0]\r\n",
        )
        .await;
        peer.answer("AT+SSEND=0,,,5", "[0,,,5]\r\n").await;
        assert_eq!(peer.expect_bytes(5).await, b"hello");
        peer.write(b"[OK]\r\n").await;
        peer.answer(
            "AT+SMGMT=?",
            "Number of Sockets : 1 (SCID/Socket/Mode/Remote/Local/DataMode)\r\n0,1,TCN,127.0.0.1,5000,40000,0\r\n[OK]\r\n",
        )
        .await;
        peer.answer("AT+SMGMT=0", "\r\n[DISCONNECT 0]\r\n[OK]\r\n")
            .await;
        peer.answer("AT+SMGMT=ALL", "[OK]\r\n").await;
        peer.answer("AT+FGETADC=?", "1697\r\n[OK]\r\n").await;
        peer.answer("AT+FGPIO=3,1,0", "[OK]\r\n").await;
        peer.answer("AT+FGPIO=3,3,1", "[OK]\r\n").await;
        peer.answer("AT+FGPIO=3,2,0", "1\r\n[OK]\r\n").await;
        peer.answer("AT+GMMPOPT=10,1,1,1", "[OK]\r\n").await;
        peer.answer("AT+GMMPOPT=11,1", "[OK]\r\n").await;
        peer.answer("AT+GMMPOPT=12,2", "[OK]\r\n").await;
        peer.answer(
            "AT+GMMPSET=1,127.0.0.1,31002,ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222",
            "GMMPStartService : GMMP Thread is running\r\n[OK]\r\n\r\n[GMMP Connect]\r\n",
        )
        .await;
        peer.answer("AT+GMMPDATA=1,test data", "[OK]\r\n").await;
        peer.answer("AT+GMMPSET=0", "[GMMP DISCONNECT]\r\n[OK]\r\n")
            .await;
        peer.answer("AT+WLEAVE", "[Link-Down Event]\r\n[OK]\r\n")
            .await;
        peer.answer("AT+MRESET", "[OK]\r\n").await;
        peer
    };
    let (_, _peer) = tokio::join!(calls, script);
}

#[tokio::test]
async fn every_typed_command_keeps_the_module_words_on_error() {
    let (driver, _events, mut peer) = start();
    let words = [
        "[ERROR]",
        "[ERROR: INVALID INPUT]",
        "[ERROR: INVALID SCID]",
        "[ERROR: WiFi Status]",
        "[ERROR: Mode Status]",
    ];
    let d = driver.clone();
    let calls = async move {
        let mut results: Vec<Result<(), Error>> = Vec::new();
        results.push(d.at().await);
        results.push(d.mac().await.map(drop));
        results.push(d.info().await.map(drop));
        results.push(d.set_echo(false).await);
        results.push(d.set_message_level(MessageLevel::Normal).await);
        results.push(
            d.wifi_set(&WifiSet {
                mode: WifiMode::Station,
                ssid: "x".into(),
                bssid: None,
                channel: None,
            })
            .await,
        );
        results.push(
            d.wifi_security(&WifiSecurity {
                mode: WifiMode::Station,
                security: Security::Wpa2,
                key: "secretkey".into(),
            })
            .await,
        );
        results.push(d.wifi_net(&WifiNet::Dhcp).await);
        results.push(d.join().await.map(drop));
        results.push(d.leave().await);
        results.push(d.wifi_status().await.map(drop));
        results.push(
            d.open_socket(&SocketOpen::tcp_client("127.0.0.1", 1))
                .await
                .map(drop),
        );
        results.push(d.send(3, b"abc").await);
        results.push(d.close_socket(SocketClose::One(3)).await);
        results.push(d.sockets().await.map(drop));
        results.push(d.data_form().await.map(drop));
        results.push(d.adc().await.map(drop));
        results.push(d.gpio_read(9).await.map(drop));
        results.push(d.reset().await);
        results.push(d.gmmp_set(&GmmpSet::Stop).await);
        results.push(
            d.gmmp_data(&GmmpData {
                send_now: false,
                data: "d".into(),
            })
            .await,
        );
        results.push(d.gmmp_opt(GmmpOpt::ReportPeriod(0)).await);
        results
    };
    let lines = [
        "AT",
        "AT+MMAC=?",
        "AT+MINFO",
        "AT+MECHO=0",
        "AT+MMSG=2",
        "AT+WSET=0,x",
        "AT+WSEC=0,WPA2,secretkey",
        "AT+WNET=1",
        "AT+WJOIN",
        "AT+WLEAVE",
        "AT+WSTAT",
        "AT+SCON=O,TCN,127.0.0.1,1,0,0",
        "AT+SSEND=3,,,3",
        "AT+SMGMT=3",
        "AT+SMGMT=?",
        "AT+SFORM=?",
        "AT+FGETADC=?",
        "AT+FGPIO=9,2,0",
        "AT+MRESET",
        "AT+GMMPSET=0",
        "AT+GMMPDATA=0,d",
        "AT+GMMPOPT=12,0",
    ];
    let script = async move {
        for (i, line) in lines.iter().enumerate() {
            peer.answer(line, &format!("{}\r\n", words[i % words.len()]))
                .await;
        }
        peer
    };
    let (results, _peer) = tokio::join!(calls, script);
    assert_eq!(results.len(), lines.len());
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Err(Error::Module {
                command,
                words: got,
            }) => {
                assert_eq!(got, words[i % words.len()], "{command}");
                assert!(!command.contains("secretkey"), "key leaked in {command}");
            }
            other => panic!("{}: expected a module error, got {other:?}", lines[i]),
        }
    }
}

#[tokio::test]
async fn module_error_kinds_are_exposed() {
    let (driver, _events, mut peer) = start();
    let call = driver.send(5, b"x");
    let script = peer.answer("AT+SSEND=5,,,1", "[ERROR: INVALID SCID]\r\n");
    let (result, ()) = tokio::join!(call, script);
    assert_eq!(
        result.unwrap_err().module_error_kind(),
        Some(ModuleErrorKind::InvalidScid)
    );
}

#[tokio::test]
async fn events_interleaved_with_replies_and_data_all_arrive_in_order() {
    let (driver, mut events, mut peer) = start();
    let payload = nasty_payload(300);
    let mut reply = b"[CONNECT 1]\r\n00:08:DC:".to_vec();
    reply.truncate(13); // the event alone, then data in the middle of the reply
    reply.extend_from_slice(&data_frame(1, &payload));
    reply.extend_from_slice(b"\r\n[Reset Event]\r\n00:08:DC:1E:32:22\r\nGMMP Trace :  T-ID =55\r\n[GMMP Control 5]\r\n[OK]\r\n");
    reply.extend_from_slice(b"[DISCONNECT 1]\r\n");
    let call = driver.mac();
    let script = async {
        peer.expect("AT+MMAC=?").await;
        peer.write(&reply).await;
    };
    let (mac, ()) = tokio::join!(call, script);
    assert_eq!(mac.unwrap().to_string(), "00:08:DC:1E:32:22");
    assert_eq!(events.recv().await, Some(Event::Connect { sid: 1 }));
    match events.recv().await {
        Some(Event::Data(data)) => {
            assert_eq!(data.sid, 1);
            assert_eq!(&data.payload[..], &payload[..]);
        }
        other => panic!("expected data, got {other:?}"),
    }
    assert_eq!(events.recv().await, Some(Event::Reset));
    assert_eq!(
        events.recv().await,
        Some(Event::Trace("GMMP Trace :  T-ID =55".into()))
    );
    assert_eq!(
        events.recv().await,
        Some(Event::GmmpControl { control_type: 5 })
    );
    assert_eq!(events.recv().await, Some(Event::Disconnect { sid: 1 }));
}

#[tokio::test]
async fn events_between_commands_are_not_lost() {
    let (driver, mut events, mut peer) = start();
    peer.write(b"\r\n[Link-Down Event]\r\n[GMMP Disconnect]\r\n")
        .await;
    assert_eq!(events.recv().await, Some(Event::LinkDown));
    assert_eq!(events.recv().await, Some(Event::GmmpDisconnect));
    let (r, ()) = tokio::join!(driver.at(), peer.answer("AT", "[OK]\r\n"));
    r.unwrap();
}

#[tokio::test]
async fn a_2048_byte_binary_payload_goes_both_ways_intact() {
    let (driver, mut events, mut peer) = start();
    let out = nasty_payload(2048);
    let back: Vec<u8> = out.iter().rev().copied().collect();
    let call = driver.send(0, &out);
    let script = async {
        peer.answer("AT+SSEND=0,,,2048", "[0,,,2048]\r\n").await;
        let got = peer.expect_bytes(2048).await;
        peer.write(b"[OK]\r\n").await;
        peer.write(&data_frame(0, &back)).await;
        got
    };
    let (sent, got) = tokio::join!(call, script);
    sent.unwrap();
    assert_eq!(got, out);
    match events.recv().await {
        Some(Event::Data(data)) => assert_eq!(&data.payload[..], &back[..]),
        other => panic!("expected data, got {other:?}"),
    }
}

#[tokio::test]
async fn pipelined_sends_write_the_next_line_before_the_previous_ok() {
    let (driver, _events, mut peer) = start();
    let mut queue = payloads(&[b"abc", b"de", b"f"]);
    let call = driver.send_pipelined(0, || queue.pop_front());
    let script = async {
        peer.answer("AT+SSEND=0,,,3", "[0,,,3]\r\n").await;
        let first = peer.expect_bytes(3).await;
        // The next line is already there, before this payload's [OK].
        peer.expect("AT+SSEND=0,,,2").await;
        peer.write(b"[OK]\r\n[0,,,2]\r\n").await;
        let second = peer.expect_bytes(2).await;
        peer.expect("AT+SSEND=0,,,1").await;
        peer.write(b"[OK]\r\n[0,,,1]\r\n").await;
        let third = peer.expect_bytes(1).await;
        peer.write(b"[OK]\r\n").await;
        [first, second, third].concat()
    };
    let (sent, got) = tokio::join!(call, script);
    assert_eq!(sent.unwrap(), 3);
    assert_eq!(got, b"abcdef");
}

#[tokio::test]
async fn a_failed_pipelined_send_still_finishes_the_line_already_written() {
    let (driver, _events, mut peer) = start();
    let mut queue = payloads(&[b"abc", b"de"]);
    let call = driver.send_pipelined(0, || queue.pop_front());
    let script = async {
        peer.answer("AT+SSEND=0,,,3", "[0,,,3]\r\n").await;
        peer.expect_bytes(3).await;
        peer.expect("AT+SSEND=0,,,2").await;
        // The first fails; the module has read the second line and gives
        // its go-ahead: the driver must feed it, or the module would read
        // the next command as payload.
        peer.write(b"[ERROR]\r\n[0,,,2]\r\n").await;
        let second = peer.expect_bytes(2).await;
        peer.write(b"[OK]\r\n").await;
        second
    };
    let (sent, second) = tokio::join!(call, script);
    match sent {
        Err(Error::Module { command, words }) => {
            assert_eq!(
                (command.as_str(), words.as_str()),
                ("AT+SSEND=0,,,3", "[ERROR]")
            );
        }
        other => panic!("expected the first send's error, got {other:?}"),
    }
    assert_eq!(second, b"de");
    // The module is in step: the next command is a command.
    let next = driver.at();
    let script = peer.answer("AT", "[OK]\r\n");
    let (r, ()) = tokio::join!(next, script);
    r.unwrap();
}

#[tokio::test]
async fn a_module_without_a_go_ahead_gets_one_plain_send_per_call() {
    let timeouts = Timeouts {
        send_prompt: Duration::from_millis(50),
        ..Timeouts::default()
    };
    let (driver, _events, mut peer) = start_with(timeouts);
    let mut queue = payloads(&[b"abc", b"de"]);
    let call = driver.send_pipelined(0, || queue.pop_front());
    let script = async {
        peer.expect("AT+SSEND=0,,,3").await;
        let got = peer.expect_bytes(3).await;
        peer.write(b"[OK]\r\n").await;
        got
    };
    let (sent, got) = tokio::join!(call, script);
    assert_eq!(sent.unwrap(), 1, "no pipelining without a go-ahead");
    assert_eq!(got, b"abc");
}

#[tokio::test(start_paused = true)]
async fn ssend_without_a_go_ahead_still_sends_after_the_prompt_wait() {
    let (driver, _events, mut peer) = start();
    let call = driver.send(0, b"abc");
    let script = async {
        peer.expect("AT+SSEND=0,,,3").await;
        let got = peer.expect_bytes(3).await;
        peer.write(b"[OK]\r\n").await;
        got
    };
    let (sent, got) = tokio::join!(call, script);
    sent.unwrap();
    assert_eq!(got, b"abc");
}

#[tokio::test(start_paused = true)]
async fn a_missing_reply_is_recovered_with_a_bare_at() {
    let timeouts = Timeouts {
        command: Duration::from_secs(2),
        ..Timeouts::default()
    };
    let (driver, _events, mut peer) = start_with(timeouts);
    let call = driver.mac();
    let script = async {
        peer.expect("AT+MMAC=?").await; // reply dropped
        peer.expect("AT").await; // first re-sync attempt: also unanswered
        peer.answer("AT", "[OK]\r\n").await;
    };
    let (result, ()) = tokio::join!(call, script);
    match result {
        Err(Error::Timeout { command, .. }) => assert_eq!(command, "AT+MMAC=?"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let (mac, ()) = tokio::join!(
        driver.mac(),
        peer.answer("AT+MMAC=?", "00:08:DC:1E:32:22\r\n[OK]\r\n")
    );
    assert_eq!(mac.unwrap().to_string(), "00:08:DC:1E:32:22");
}

#[tokio::test(start_paused = true)]
async fn a_silent_module_is_reported_unresponsive() {
    let (driver, _events, mut peer) = start();
    let call = driver.at();
    let script = async {
        for _ in 0..4 {
            peer.expect("AT").await;
        }
    };
    let (result, ()) = tokio::join!(call, script);
    assert!(
        matches!(result, Err(Error::Unresponsive { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_closed_port_fails_commands() {
    let (driver, mut events, peer) = start();
    drop(peer);
    assert_eq!(events.recv().await, None);
    assert!(matches!(
        driver.at().await,
        Err(Error::Closed) | Err(Error::Io(_))
    ));
}

#[tokio::test]
async fn arguments_that_would_break_the_line_are_refused() {
    let (driver, _events, _peer) = start();
    let bad = GmmpData {
        send_now: true,
        data: "x\rAT+MRESET".into(),
    };
    assert!(matches!(
        driver.gmmp_data(&bad).await,
        Err(Error::InvalidArgument { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn data_mode_passes_raw_bytes_and_escapes_with_plus_plus_plus() {
    let (driver, mut events, mut peer) = start();
    let open = SocketOpen {
        data_mode: true,
        ..SocketOpen::tcp_client("127.0.0.1", 5000)
    };
    let (sid, ()) = tokio::join!(
        driver.open_socket(&open),
        peer.answer(
            "AT+SCON=O,TCN,127.0.0.1,5000,0,1",
            "[CONNECT 0]\r\n[OK]\r\n[DISCONNECT 9]{raw\r\n"
        )
    );
    assert_eq!(sid.unwrap(), Some(0));
    assert_eq!(events.recv().await, Some(Event::Connect { sid: 0 }));
    let mut raw = Vec::new();
    while raw.len() < 19 {
        match events.recv().await {
            Some(Event::RawData(bytes)) => raw.extend_from_slice(&bytes),
            other => panic!("expected raw data, got {other:?}"),
        }
    }
    assert_eq!(raw, b"[DISCONNECT 9]{raw\r\n");
    assert!(driver.in_data_mode());
    assert!(matches!(driver.at().await, Err(Error::WrongMode(_))));
    driver.send_raw(b"AT\r\n").await.unwrap();
    assert_eq!(peer.expect_bytes(4).await, b"AT\r\n");
    let (escaped, plus) = tokio::join!(driver.escape_data_mode(), async {
        let plus = peer.expect_bytes(3).await;
        peer.write(b"[OK]\r\n").await;
        plus
    });
    escaped.unwrap();
    assert_eq!(plus, b"+++");
    assert!(!driver.in_data_mode());
    let (r, ()) = tokio::join!(
        driver.resume_data_mode(),
        peer.answer("AT+SDATA", "[OK]\r\n")
    );
    r.unwrap();
    assert!(driver.in_data_mode());
}

#[tokio::test(start_paused = true)]
async fn a_pipelined_send_whose_ok_was_lost_goes_on_at_the_next_go_ahead() {
    let (driver, _events, mut peer) = start();
    let mut queue = payloads(&[b"abc", b"de"]);
    let call = driver.send_pipelined(0, || queue.pop_front());
    let script = async {
        peer.answer("AT+SSEND=0,,,3", "[0,,,3]\r\n").await;
        let first = peer.expect_bytes(3).await;
        peer.expect("AT+SSEND=0,,,2").await;
        // The first payload's [OK] is lost; the second line's go-ahead
        // comes.
        peer.write(b"[0,,,2]\r\n").await;
        let second = peer.expect_bytes(2).await;
        peer.write(b"[OK]\r\n").await;
        [first, second].concat()
    };
    let started = tokio::time::Instant::now();
    let (sent, got) = tokio::join!(call, script);
    assert_eq!(sent.unwrap(), 2);
    assert_eq!(got, b"abcde");
    assert_eq!(driver.unconfirmed_sends(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no timeout waited: {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_pipelined_send_with_both_answers_lost_feeds_the_next_payload() {
    let (driver, _events, mut peer) = start();
    let mut queue = payloads(&[b"abc", b"de"]);
    let call = driver.send_pipelined(0, || queue.pop_front());
    let script = async {
        peer.answer("AT+SSEND=0,,,3", "[0,,,3]\r\n").await;
        let first = peer.expect_bytes(3).await;
        peer.expect("AT+SSEND=0,,,2").await;
        // Neither the first [OK] nor the second go-ahead arrives: after
        // the send's timeout the driver writes the payload the module is
        // waiting for, not a re-sync `AT` it would read as payload.
        let second = peer.expect_bytes(2).await;
        peer.write(b"[OK]\r\n").await;
        [first, second].concat()
    };
    let (sent, got) = tokio::join!(call, script);
    assert_eq!(sent.unwrap(), 2);
    assert_eq!(got, b"abcde");
    assert_eq!(driver.unconfirmed_sends(), 1);
    let (r, ()) = tokio::join!(driver.at(), peer.answer("AT", "[OK]\r\n"));
    r.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_last_send_whose_ok_was_lost_costs_its_timeout_then_a_resync_not_an_error() {
    let timeouts = Timeouts {
        send: Duration::from_secs(3),
        ..Timeouts::default()
    };
    let (driver, _events, mut peer) = start_with(timeouts);
    let mut queue = payloads(&[b"abc"]);
    let call = driver.send_pipelined(0, || queue.pop_front());
    let script = async {
        peer.answer("AT+SSEND=0,,,3", "[0,,,3]\r\n").await;
        let got = peer.expect_bytes(3).await;
        // [OK] lost; nothing queued behind it. The re-sync is answered.
        peer.answer("AT", "[OK]\r\n").await;
        got
    };
    let started = tokio::time::Instant::now();
    let (sent, got) = tokio::join!(call, script);
    assert_eq!(sent.unwrap(), 1, "counted as sent");
    assert_eq!(got, b"abc");
    assert_eq!(driver.unconfirmed_sends(), 1);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
        "one send's timeout: {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_payload_queued_while_an_ok_is_awaited_gets_its_line_written_then() {
    let (driver, _events, mut peer) = start();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from([
        bytes::Bytes::from_static(b"abc"),
    ])));
    let source = queue.clone();
    let call = driver.send_pipelined(0, move || source.lock().unwrap().pop_front());
    let script = async {
        peer.answer("AT+SSEND=0,,,3", "[0,,,3]\r\n").await;
        let first = peer.expect_bytes(3).await;
        // [OK] lost. A payload is queued later: its line follows, and its
        // go-ahead tells that the first payload went through.
        tokio::time::sleep(Duration::from_millis(500)).await;
        queue
            .lock()
            .unwrap()
            .push_back(bytes::Bytes::from_static(b"de"));
        peer.expect("AT+SSEND=0,,,2").await;
        peer.write(b"[0,,,2]\r\n").await;
        let second = peer.expect_bytes(2).await;
        peer.write(b"[OK]\r\n").await;
        [first, second].concat()
    };
    let started = tokio::time::Instant::now();
    let (sent, got) = tokio::join!(call, script);
    assert_eq!(sent.unwrap(), 2);
    assert_eq!(got, b"abcde");
    assert_eq!(driver.unconfirmed_sends(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_go_ahead_from_a_module_that_gives_them_keeps_the_pipeline() {
    let (driver, _events, mut peer) = start();
    let mut queue = payloads(&[b"abc", b"de", b"f"]);
    let call = driver.send_pipelined(0, || queue.pop_front());
    let script = async {
        peer.answer("AT+SSEND=0,,,3", "[0,,,3]\r\n").await;
        let first = peer.expect_bytes(3).await;
        peer.expect("AT+SSEND=0,,,2").await;
        // The second line's go-ahead is lost: after the prompt wait the
        // payload comes all the same, and the third line right behind it.
        peer.write(b"[OK]\r\n").await;
        let second = peer.expect_bytes(2).await;
        peer.expect("AT+SSEND=0,,,1").await;
        peer.write(b"[OK]\r\n[0,,,1]\r\n").await;
        let third = peer.expect_bytes(1).await;
        peer.write(b"[OK]\r\n").await;
        [first, second, third].concat()
    };
    let (sent, got) = tokio::join!(call, script);
    assert_eq!(sent.unwrap(), 3, "one call, still pipelined");
    assert_eq!(got, b"abcdef");
    assert_eq!(driver.unconfirmed_sends(), 0);
}
