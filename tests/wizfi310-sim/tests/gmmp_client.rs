//! The module's GMMP client against a scripted OMP built on gmmp-codec.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{GUARD, Port, joined, quick_config};
use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthKey, ControlRequest, ControlType, DeliveryResponse, DeviceId, DeviceRegistrationResponse,
    FixedStr, Frame, GmmpCodec, GwId, GwRegistrationResponse, Header, HeartbeatResponse, Message,
    ProfileResponse, ResultCode,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use wizfi310_sim::{SimConfig, Simulator};

type Omp = Framed<TcpStream, GmmpCodec>;

fn gw_id() -> GwId {
    FixedStr::new("gw_id", "SC10010254").unwrap()
}

fn auth_key() -> AuthKey {
    key("SP10033827key")
}

fn key(text: &str) -> AuthKey {
    FixedStr::new("auth_key", text).unwrap()
}

/// What the module prints when its GMMP library refuses a call.
const LIB_PARAM_ERROR: &str = "<OMP><Marker:ERR> Code[10012], LIB_PARAM_ERROR\r\n";

fn domain() -> gmmp_codec::DomainCode {
    FixedStr::new("domain_code", "ThingPlug").unwrap()
}

async fn next(omp: &mut Omp) -> Frame {
    tokio::time::timeout(GUARD, omp.next())
        .await
        .expect("a frame from the module")
        .expect("connection open")
        .expect("a valid frame")
}

async fn reply(omp: &mut Omp, request: &Frame, message: impl Into<Message>) {
    omp.send(Frame::new(request.header.response(), message))
        .await
        .unwrap();
}

fn config() -> SimConfig {
    SimConfig {
        gmmp_tick: Duration::from_millis(5),
        gmmp_retry: Duration::from_millis(10),
        ..quick_config()
    }
}

/// Starts the module's client against a fresh listener and accepts it.
async fn start(config: SimConfig, data: &str) -> (Simulator, Port, TcpListener, Omp) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port_no = listener.local_addr().unwrap().port();
    let (sim, mut port) = joined(config).await;
    port.command("AT+MMSG=3").await;
    port.command("AT+GMMPOPT=10,1,1,1").await;
    port.command(&format!("AT+GMMPDATA=0,{data}")).await;
    port.command(&format!(
        "AT+GMMPSET=1,127.0.0.1,{port_no},ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222"
    ))
    .await;
    let (stream, _) = tokio::time::timeout(GUARD, listener.accept())
        .await
        .unwrap()
        .unwrap();
    (sim, port, listener, Framed::new(stream, GmmpCodec))
}

/// Takes the GW registration (checking what the module puts in it) and
/// answers it rc 0 with `key` in the header.
async fn answer_gw_registration(omp: &mut Omp, key: AuthKey, tid: u32) {
    let reg = next(omp).await;
    let Message::GwRegistrationRequest(body) = &reg.message else {
        panic!("expected GW registration, got {:?}", reg.message);
    };
    assert_eq!(body.manufacture_id.as_bytes(), b"WIZnet");
    assert_eq!(reg.header.auth_id.as_bytes(), b"0008dc1e3222");
    assert!(reg.header.auth_key.is_empty());
    assert_eq!(reg.header.encryption_flag, 0x02);
    assert_eq!(reg.header.tid, tid);
    let mut header = reg.header.response();
    header.auth_key = key;
    let rsp = GwRegistrationResponse {
        domain_code: domain(),
        gw_id: gw_id(),
        result_code: ResultCode::OK,
    };
    omp.send(Frame::new(header, rsp)).await.unwrap();
}

/// Answers the registration sequence with the given periods; checks the
/// order, ids and T-IDs the module uses: `first_tid` for the GW
/// registration and the profile request (GO_Profile keeps the T-ID),
/// the next one for the device registration.
async fn register(omp: &mut Omp, heartbeat_period: u32, report_period: u32, first_tid: u32) {
    answer_gw_registration(omp, auth_key(), first_tid).await;
    let profile = next(omp).await;
    let Message::ProfileRequest(body) = &profile.message else {
        panic!("expected profile, got {:?}", profile.message);
    };
    assert_eq!(body.gw_id, gw_id());
    assert!(body.device_id.is_empty());
    assert_eq!(profile.header.auth_key, auth_key());
    assert_eq!(profile.header.tid, first_tid);
    let rsp = ProfileResponse {
        domain_code: domain(),
        gw_id: gw_id(),
        device_id: DeviceId::EMPTY,
        result_code: ResultCode::OK,
        heartbeat_period,
        report_period,
        report_offset: 0,
        response_timeout: 30,
        model: FixedStr::EMPTY,
        firmware_version: FixedStr::EMPTY,
        software_version: FixedStr::EMPTY,
        hardware_version: FixedStr::EMPTY,
    };
    reply(omp, &profile, rsp).await;

    let device = next(omp).await;
    let Message::DeviceRegistrationRequest(body) = &device.message else {
        panic!("expected device registration, got {:?}", device.message);
    };
    assert_eq!(body.manufacture_id.as_bytes(), b"0008dc1e3222");
    assert_eq!(device.header.tid, first_tid + 1);
    let rsp = DeviceRegistrationResponse {
        domain_code: domain(),
        gw_id: gw_id(),
        device_id: FixedStr::new("device_id", "AD10014858").unwrap(),
        result_code: ResultCode::OK,
    };
    reply(omp, &device, rsp).await;
}

async fn expect_delivery(omp: &mut Omp, data: &[u8]) -> Frame {
    let frame = next(omp).await;
    let Message::DeliveryRequest(body) = &frame.message else {
        panic!("expected a delivery, got {:?}", frame.message);
    };
    assert_eq!(body.payload.as_ref(), data);
    assert!(body.device_id.is_empty());
    assert_eq!(body.report_type.0, 0x01);
    assert_eq!(body.media_type, 0x01);
    let rsp = DeliveryResponse {
        domain_code: domain(),
        gw_id: gw_id(),
        device_id: DeviceId::EMPTY,
        result_code: ResultCode::OK,
        backoff_time: None,
    };
    reply(omp, &frame, rsp).await;
    frame
}

#[tokio::test]
async fn registers_delivers_and_answers_controls() {
    let (sim, mut port, _listener, mut omp) = start(config(), "WizFi310 test data").await;
    register(&mut omp, 0, 1, 1).await;

    // Report period 1 → a delivery every 6 ticks, each with the next
    // T-ID (GO_Delivery): 3 after the registrations' 1, 1, 2.
    let delivery = expect_delivery(&mut omp, b"WizFi310 test data").await;
    assert_eq!(delivery.header.tid, 3);

    // A control: 0x0E rc 0 at once, then 0x17 rc 0, empty, same T-ID.
    let header = Header::new(delivery.header.auth_id, auth_key(), 100_001);
    let control = ControlRequest {
        domain_code: domain(),
        gw_id: gw_id(),
        device_id: DeviceId::EMPTY,
        control_type: ControlType(0x0C),
        payload: Bytes::new(),
    };
    omp.send(Frame::new(header, control)).await.unwrap();
    let answered = async {
        let (mut response, mut notification) = (None, None);
        while response.is_none() || notification.is_none() {
            let frame = next(&mut omp).await;
            match &frame.message {
                Message::ControlResponse(b) => {
                    assert!(notification.is_none(), "response comes first");
                    assert_eq!(b.result_code, ResultCode::OK);
                    assert_eq!(b.control_type, ControlType(0x0C));
                    response = Some(frame);
                }
                Message::NotificationRequest(b) => {
                    assert_eq!(b.result_code, ResultCode::OK);
                    assert!(b.payload.is_empty());
                    notification = Some(frame);
                }
                Message::DeliveryRequest(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (response.unwrap(), notification.unwrap())
    };
    let (response, notification) = tokio::time::timeout(GUARD, answered).await.unwrap();
    assert_eq!(response.header.tid, 100_001);
    assert_eq!(notification.header.tid, 100_001);

    // The counter now holds the OMP's T-ID: the next delivery takes the
    // one after it (those sent before the control count up from 3).
    let later = async {
        loop {
            let frame = expect_delivery(&mut omp, b"WizFi310 test data").await;
            if frame.header.tid > 100_000 {
                break frame;
            }
            assert!(frame.header.tid < 100, "{:?}", frame.header);
        }
    };
    let delivery = tokio::time::timeout(GUARD, later).await.unwrap();
    assert_eq!(delivery.header.tid, 100_002);

    let out = port.read_until_str("[GMMP Control 12]\r\n").await;
    assert!(
        out.contains("GmmpRecvThread : connect try 127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("\r\n[GMMP Connect]\r\n"), "{out}");
    let expected_trace = "<OMP><Marker:OPS> [GW->OMP]GMMP_SetDelivery Start\r\n\
        <OMP><Marker:REQ> \r\n\
        GMMP Trace :  AuthID =0008dc1e3222\r\n\
        GMMP Trace :  Auth Key =SP10033827key\r\n\
        GMMP Trace :  T-ID =3\r\n\
        GMMP Trace :  Domain Code =ThingPlug\r\n\
        GMMP Trace :  GW ID=SC10010254\r\n\
        GMMP Trace :  Device ID =\r\n\
        GMMP Trace :  ucReportType[0x1]\r\n\
        GMMP Trace :  ucMediaType[0x1]\r\n\
        GMMP Trace :  usMessageBody =WizFi310 test data\r\n\
        GMMP Trace :  [GW->OMP]GMMP_SetDelivery End \r\n\
        GMMP Trace :  Recv Header Type = c, Read Body Size = 43\r\n\
        <OMP><Marker:RSP> [OMP->GW]OPERATION_DELIVERY_RSP Start \r\n";
    assert!(out.contains(expected_trace), "{out}");
    assert!(
        out.contains("GMMP Trace :  Result Code[0x0], STATUS_OK\r\n"),
        "{out}"
    );

    // AT+GMMPDATA=1 sends at once (periodic deliveries keep coming too).
    port.command("AT+GMMPDATA=1,now!").await;
    let now_sent = async {
        loop {
            let frame = next(&mut omp).await;
            if let Message::DeliveryRequest(b) = &frame.message {
                if b.payload.as_ref() == b"now!" {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(GUARD, now_sent).await.unwrap();

    port.command("AT+GMMPSET=0").await;
    port.read_until_str("[GMMP Disconnect]\r\n").await;
    assert!(
        tokio::time::timeout(GUARD, omp.next())
            .await
            .unwrap()
            .is_none()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn every_heartbeat_and_every_delivery_takes_the_next_tid() {
    let (sim, _port, _listener, mut omp) = start(config(), "x").await;
    register(&mut omp, 1, 1, 1).await;
    // Both timers fire every 6 ticks; whichever comes first, each request
    // carries the T-ID after the one before (the device registration's 2).
    for expected in 3..=8 {
        let frame = next(&mut omp).await;
        assert_eq!(frame.header.tid, expected, "{frame:?}");
        match &frame.message {
            Message::HeartbeatRequest(_) => {
                let rsp = HeartbeatResponse {
                    domain_code: domain(),
                    gw_id: gw_id(),
                };
                reply(&mut omp, &frame, rsp).await;
            }
            Message::DeliveryRequest(body) => {
                assert_eq!(body.payload.as_ref(), b"x");
                assert_eq!(
                    (frame.header.total_count, frame.header.current_count),
                    (1, 1)
                );
                let rsp = DeliveryResponse {
                    domain_code: domain(),
                    gw_id: gw_id(),
                    device_id: DeviceId::EMPTY,
                    result_code: ResultCode::OK,
                    backoff_time: None,
                };
                reply(&mut omp, &frame, rsp).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    sim.shutdown().await;
}

/// Reads the module's frames until it closes the connection: none may
/// come.
async fn expect_silence_until_closed(omp: &mut Omp) {
    let closed = tokio::time::timeout(GUARD, omp.next())
        .await
        .expect("the module closes the connection");
    assert!(closed.is_none(), "the module sent {closed:?}");
}

#[tokio::test]
async fn a_16_character_key_silences_the_module_after_registration() {
    let (sim, mut port, listener, mut omp) = start(config(), "x").await;
    answer_gw_registration(&mut omp, key("SP0123456789abcd"), 1).await;

    // The library refuses the profile request: its Start line, then the
    // error, and nothing on the wire.
    let out = port.read_until_str(LIB_PARAM_ERROR).await;
    assert!(
        out.ends_with(&format!(
            "<OMP><Marker:OPS> [GW->OMP]GMMP_SetProfile Start\r\n{LIB_PARAM_ERROR}"
        )),
        "{out}"
    );
    // A delivery fails the same way…
    port.write(b"AT+GMMPDATA=1,now\r").await;
    let out = port.read_until_str(LIB_PARAM_ERROR).await;
    assert!(
        out.contains("<OMP><Marker:OPS> [GW->OMP]GMMP_SetDelivery Start\r\n"),
        "{out}"
    );
    // …and so do the control's response and notification, though the
    // module still prints the control.
    let auth_id = FixedStr::new("auth_id", "0008dc1e3222").unwrap();
    let header = Header::new(auth_id, key("SP0123456789abcd"), 100_001);
    let control = ControlRequest {
        domain_code: domain(),
        gw_id: gw_id(),
        device_id: DeviceId::EMPTY,
        control_type: ControlType(0x0C),
        payload: Bytes::new(),
    };
    omp.send(Frame::new(header, control)).await.unwrap();
    let out = port.read_until_str("[GMMP Control 12]\r\n").await;
    assert!(out.contains(LIB_PARAM_ERROR), "{out}");
    let out = port
        .read_until_str("<OMP><Marker:OPS> [GW->OMP]GMMP_SetNotifi Start\r\n")
        .await;
    assert!(!out.contains("GMMP_SetControlResp End"), "{out}");
    port.read_until_str(LIB_PARAM_ERROR).await;

    // Stopping the client closes the connection: nothing was sent on it
    // after the GW registration.
    port.command("AT+GMMPSET=0").await;
    expect_silence_until_closed(&mut omp).await;

    // A new start clears the library's buffers; a key of 15 characters
    // works, and the T-ID starts again from 1.
    let port_no = listener.local_addr().unwrap().port();
    port.command(&format!(
        "AT+GMMPSET=1,127.0.0.1,{port_no},ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222"
    ))
    .await;
    let (stream, _) = tokio::time::timeout(GUARD, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut omp = Framed::new(stream, GmmpCodec);
    answer_gw_registration(&mut omp, key("SP0123456789abc"), 1).await;
    let profile = next(&mut omp).await;
    assert!(
        matches!(profile.message, Message::ProfileRequest(_)),
        "{profile:?}"
    );
    assert_eq!(profile.header.auth_key, key("SP0123456789abc"));
    assert_eq!(profile.header.tid, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_shorter_key_at_the_next_registration_does_not_cure_a_16_character_one() {
    let (sim, mut port, listener, mut omp) = start(config(), "x").await;
    answer_gw_registration(&mut omp, key("SP0123456789abcd"), 1).await;
    port.read_until_str(LIB_PARAM_ERROR).await;
    drop(omp);
    port.read_until_str("[GMMP Disconnect]\r\n").await;

    // The module reconnects and registers again (the T-ID goes on); the
    // OMP now gives it a 15-character key, which the library copies over
    // the old one without clearing it: the 16th character stays, and the
    // buffer still has no NUL.
    let (stream, _) = tokio::time::timeout(GUARD, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut omp = Framed::new(stream, GmmpCodec);
    answer_gw_registration(&mut omp, key("SP0123456789xyz"), 2).await;
    port.read_until_str(LIB_PARAM_ERROR).await;
    port.command("AT+GMMPSET=0").await;
    expect_silence_until_closed(&mut omp).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_registration_stops_the_client_until_gmmpset() {
    let (sim, mut port, listener, mut omp) = start(config(), "x").await;
    let reg = next(&mut omp).await;
    let rsp = GwRegistrationResponse {
        domain_code: domain(),
        gw_id: GwId::EMPTY,
        result_code: ResultCode::PERMISSION_DENIED,
    };
    reply(&mut omp, &reg, rsp).await;
    port.read_until_str("[GMMP Disconnect]\r\n").await;
    assert!(
        tokio::time::timeout(GUARD, omp.next())
            .await
            .unwrap()
            .is_none()
    );
    // Many retry periods pass without a new connection…
    let again = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(again.is_err(), "the client reconnected after rc != 0");
    // …until AT+GMMPSET=1 is given again.
    let port_no = listener.local_addr().unwrap().port();
    port.command(&format!(
        "AT+GMMPSET=1,127.0.0.1,{port_no},ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222"
    ))
    .await;
    let (stream, _) = tokio::time::timeout(GUARD, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut omp = Framed::new(stream, GmmpCodec);
    let reg = next(&mut omp).await;
    assert!(matches!(reg.message, Message::GwRegistrationRequest(_)));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lost_connection_is_retried() {
    let (sim, mut port, listener, omp) = start(config(), "x").await;
    drop(omp);
    port.read_until_str("[GMMP Disconnect]\r\n").await;
    let (stream, _) = tokio::time::timeout(GUARD, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut omp = Framed::new(stream, GmmpCodec);
    // The T-ID counter survives the reconnect (one counter in the module).
    let first = next(&mut omp).await;
    assert!(matches!(first.message, Message::GwRegistrationRequest(_)));
    assert_eq!(first.header.tid, 2);
    sim.shutdown().await;
}
