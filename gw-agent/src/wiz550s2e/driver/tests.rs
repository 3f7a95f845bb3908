//! The driver against a scripted module on an in-memory stream: each step
//! waits for exactly the bytes the driver must write, then answers.

mod pipelined;
mod stream;

use super::*;
use tokio::io::DuplexStream;

/// What the scripted module does next.
pub(super) enum Step {
    /// Read exactly these bytes from the driver, then write the answer.
    Expect(&'static [u8], Vec<u8>),
    /// Read exactly these bytes and do not answer.
    Swallow(Vec<u8>),
    /// Write unasked (an event, received data).
    Say(Vec<u8>),
}

pub(super) fn expect(want: &'static [u8], answer: &[u8]) -> Step {
    Step::Expect(want, answer.to_vec())
}

fn quick() -> Timeouts {
    Timeouts {
        command: Duration::from_millis(200),
        connect: Duration::from_millis(400),
        send: Duration::from_millis(200),
        reboot: Duration::from_millis(10),
        resync: Duration::from_millis(100),
        resync_attempts: 2,
        escape_guard: Duration::from_millis(20),
        busy_retry: Duration::from_millis(1),
        busy_attempts: 3,
    }
}

async fn run_script(mut io: DuplexStream, script: Vec<Step>) -> DuplexStream {
    for step in script {
        match step {
            Step::Expect(want, answer) => {
                let mut got = vec![0u8; want.len()];
                io.read_exact(&mut got).await.unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(want),
                    "what the driver wrote"
                );
                io.write_all(&answer).await.unwrap();
            }
            Step::Swallow(want) => {
                let mut got = vec![0u8; want.len()];
                io.read_exact(&mut got).await.unwrap();
                assert_eq!(got, want, "what the driver wrote");
            }
            Step::Say(bytes) => io.write_all(&bytes).await.unwrap(),
        }
    }
    io
}

/// A driver on a scripted module; the handle ends with the module's side.
pub(super) fn scripted(script: Vec<Step>) -> (Driver, EventReceiver, JoinHandle<DuplexStream>) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let module = tokio::spawn(run_script(theirs, script));
    let (driver, events) = Driver::new(ours, quick());
    (driver, events, module)
}

pub(super) fn module_error(
    result: Result<impl std::fmt::Debug, Error>,
) -> (ErrorCode, Option<u32>) {
    match result {
        Err(Error::Module { code, param, .. }) => (code, param),
        other => panic!("expected a module error, got {other:?}"),
    }
}

#[tokio::test]
async fn identity_firmware_and_addresses() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT\r\n", b"[S]\r\n"),
        expect(b"AT+NMAC?\r\n", b"[S,,00:08:dc:1d:bb:8a]\r\n"),
        expect(b"AT+MSTAT\r\n", b"[S,,1.3.1]\r\n"),
        expect(
            b"AT+NSTAT?\r\n",
            b"[S,,S,192.168.11.100,255.255.255.0,192.168.11.1,8.8.8.8]\r\n",
        ),
        expect(b"AT+NSOCK\r\n", b"[D,,24]\r\n0,C,2000,127.0.0.1,31002\r\n"),
    ]);
    driver.at().await.unwrap();
    assert_eq!(driver.mac().await.unwrap().to_hex_lower(), "0008dc1dbb8a");
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    let net = driver.net_status().await.unwrap();
    assert!(!net.dhcp && net.has_address());
    let socks = driver.sockets().await.unwrap();
    assert_eq!(socks[0].peer, Some((Ipv4Addr::LOCALHOST, 31002)));
    module.await.unwrap();
}

#[tokio::test]
async fn every_error_code_comes_back_with_its_parameter() {
    let cases: [(&[u8], ErrorCode, Option<u32>); 16] = [
        (b"[F,,0]\r\n", ErrorCode::Undefined, None),
        (b"[F,,1]\r\n", ErrorCode::WrongOperator, None),
        (b"[F,,2]\r\n", ErrorCode::WrongSign, None),
        (b"[F,,3,2]\r\n", ErrorCode::WrongArguments, Some(2)),
        (b"[F,,4,1]\r\n", ErrorCode::OutOfRange, Some(1)),
        (b"[F,,5]\r\n", ErrorCode::Disabled, None),
        (b"[F,,6]\r\n", ErrorCode::NotAllowed, None),
        (b"[F,,7]\r\n", ErrorCode::Busy, None),
        (b"[F,,8]\r\n", ErrorCode::Timeout, None),
        (b"[F,,10]\r\n", ErrorCode::NoSocket, None),
        (b"[F,,11]\r\n", ErrorCode::SocketClosed, None),
        (b"[F,,12,2]\r\n", ErrorCode::PortInUse, Some(2)),
        (b"[F,,13]\r\n", ErrorCode::NotConnected, None),
        (b"[F,,14]\r\n", ErrorCode::WrongAddress, None),
        (b"[F,,15]\r\n", ErrorCode::NoData, None),
        (b"[F,,20]\r\n", ErrorCode::NoMemory, None),
    ];
    let script = cases
        .iter()
        .map(|(answer, _, _)| expect(b"AT+MSTAT\r\n", answer))
        .collect();
    let (driver, _events, module) = scripted(script);
    for (_, code, param) in cases {
        assert_eq!(module_error(driver.firmware_version().await), (code, param));
    }
    module.await.unwrap();
}

#[tokio::test]
async fn open_and_close_are_answered_in_two_steps() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NOPEN=C,,127.0.0.1,31002\r\n", b"[W,0]\r\n"),
        Step::Say(b"[S,0]\r\n".to_vec()),
        expect(b"AT+NCLOSE=0\r\n", b"[W,0]\r\n[S,0]\r\n"),
        expect(b"AT+NOPEN=C,,127.0.0.1,1\r\n", b"[W,0]\r\n[F,0,8]\r\n"),
        expect(b"AT+NOPEN=C,,127.0.0.1,2\r\n", b"[F,,10]\r\n"),
        expect(b"AT+NCLOSE=0\r\n", b"[F,,11]\r\n"),
    ]);
    driver.open_tcp(Ipv4Addr::LOCALHOST, 31002).await.unwrap();
    driver.close_socket(0).await.unwrap();
    assert_eq!(
        module_error(driver.open_tcp(Ipv4Addr::LOCALHOST, 1).await),
        (ErrorCode::Timeout, None)
    );
    assert_eq!(
        module_error(driver.open_tcp(Ipv4Addr::LOCALHOST, 2).await),
        (ErrorCode::NoSocket, None)
    );
    assert_eq!(
        module_error(driver.close_socket(0).await),
        (ErrorCode::SocketClosed, None)
    );
    module.await.unwrap();
}

#[tokio::test]
async fn a_send_is_split_into_records_that_leave_the_ring_room_for_the_next_line() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1500).collect();
    let (first, second) = data.split_at(crate::wiz550s2e::MAX_RECORD);
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,1007\r\n", b"[W,0]\r\n"),
        Step::Swallow(first.to_vec()),
        // Read before `[S,0]` is written: the line came behind the data.
        expect(b"AT+NSEND=0,493\r\n", b"[S,0]\r\n[F,,7,100]\r\n"),
        expect(b"AT+NSEND=0,493\r\n", b"[W,0]\r\n"),
        Step::Swallow(second.to_vec()),
        Step::Say(b"[S,0]\r\n".to_vec()),
    ]);
    driver.send(0, &data).await.unwrap();
    module.await.unwrap();
}

#[tokio::test]
async fn send_errors_keep_their_code() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,3\r\n", b"[F,,11]\r\n"),
        expect(b"AT+NSEND=0,3\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"abc".to_vec()),
        Step::Say(b"[F,,13]\r\n".to_vec()),
        expect(b"AT+NSEND=0,3\r\n", b"[F,,7,0]\r\n"),
        expect(b"AT+NSEND=0,3\r\n", b"[F,,7,0]\r\n"),
        expect(b"AT+NSEND=0,3\r\n", b"[F,,7,0]\r\n"),
        expect(b"AT+NSEND=0,3\r\n", b"[F,,7,0]\r\n"),
    ]);
    assert_eq!(
        module_error(driver.send(0, b"abc").await),
        (ErrorCode::SocketClosed, None)
    );
    assert_eq!(
        module_error(driver.send(0, b"abc").await),
        (ErrorCode::NotConnected, None)
    );
    assert_eq!(
        module_error(driver.send(0, b"abc").await),
        (ErrorCode::Busy, Some(0)),
        "busy beyond busy_attempts"
    );
    module.await.unwrap();
}

#[tokio::test]
async fn received_data_and_events_arrive_in_order_between_answers() {
    let mut record = b"[R,0,9]\r\n".to_vec();
    record.extend_from_slice(b"[S]\r\n\x00\xff[]");
    record.extend_from_slice(b"\r\n");
    let mut answer = record.clone();
    answer.extend_from_slice(b"[S,,1.3.1]\r\n[V,0,2]\r\n");
    let (driver, mut events, module) = scripted(vec![expect(b"AT+MSTAT\r\n", &answer)]);
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    assert_eq!(
        events.recv().await.unwrap(),
        Event::Data {
            sock: 0,
            data: Bytes::from_static(b"[S]\r\n\x00\xff[]")
        }
    );
    assert_eq!(
        events.recv().await.unwrap(),
        Event::Socket {
            sock: 0,
            event: SocketEvent::Closed
        }
    );
    module.await.unwrap();
}

#[tokio::test]
async fn a_lost_answer_is_a_timeout_once_at_answers_again() {
    let (driver, _events, module) = scripted(vec![
        Step::Swallow(b"AT+MSTAT\r\n".to_vec()),
        expect(b"AT\r\n", b"[S]\r\n"),
        expect(b"AT+MSTAT\r\n", b"[S,,1.3.1]\r\n"),
    ]);
    match driver.firmware_version().await {
        Err(Error::Timeout { command, .. }) => assert_eq!(command, "AT+MSTAT"),
        other => panic!("{other:?}"),
    }
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    module.await.unwrap();
}

#[tokio::test]
async fn a_silent_module_is_unresponsive() {
    let (driver, _events, module) = scripted(vec![
        Step::Swallow(b"AT+MSTAT\r\n".to_vec()),
        Step::Swallow(b"AT\r\n".to_vec()),
        Step::Swallow(b"AT\r\n".to_vec()),
    ]);
    assert!(matches!(
        driver.firmware_version().await,
        Err(Error::Unresponsive { .. })
    ));
    module.await.unwrap();
}

#[tokio::test]
async fn a_lost_send_go_ahead_is_completed_with_nuls() {
    let (driver, _events, module) = scripted(vec![
        Step::Swallow(b"AT+NSEND=0,4\r\n".to_vec()),
        Step::Swallow(vec![0; 4]),
        expect(b"AT\r\n", b"[S,0]\r\n[S]\r\n"),
    ]);
    assert!(matches!(
        driver.send(0, b"abcd").await,
        Err(Error::Timeout { .. })
    ));
    module.await.unwrap();
}

#[tokio::test]
async fn start_up_escapes_data_mode_when_at_goes_unanswered() {
    let (driver, _events, module) = scripted(vec![
        Step::Swallow(b"AT\r\n".to_vec()),
        Step::Swallow(b"AT\r\n".to_vec()),
        expect(b"+++", b"\r\n\r\n\r\n[W,0]\r\n[S,0]\r\n"),
        expect(b"AT\r\n", b"[S]\r\n"),
        expect(b"AT+MRST\r\n", b"[S]\r\n"),
        expect(b"AT\r\n", b"[S]\r\n"),
    ]);
    driver.init().await.unwrap();
    driver.reset().await.unwrap();
    module.await.unwrap();
}

#[tokio::test]
async fn a_closed_port_ends_calls() {
    let (driver, _events, module) = scripted(vec![]);
    drop(module.await.unwrap());
    assert!(matches!(
        driver.at().await,
        Err(Error::Closed | Error::Io(_))
    ));
}
