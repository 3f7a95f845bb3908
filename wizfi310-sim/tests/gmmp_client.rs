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
    FixedStr::new("auth_key", "SP10033827key").unwrap()
}

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

/// Answers the registration sequence with the given periods; checks the
/// order, ids and T-IDs (from `first_tid` up) the module uses.
async fn register(omp: &mut Omp, heartbeat_period: u32, report_period: u32, first_tid: u32) {
    let reg = next(omp).await;
    let Message::GwRegistrationRequest(body) = &reg.message else {
        panic!("expected GW registration, got {:?}", reg.message);
    };
    assert_eq!(body.manufacture_id.as_bytes(), b"WIZnet");
    assert_eq!(reg.header.auth_id.as_bytes(), b"0008dc1e3222");
    assert!(reg.header.auth_key.is_empty());
    assert_eq!(reg.header.encryption_flag, 0x02);
    assert_eq!(reg.header.tid, first_tid);
    let mut header = reg.header.response();
    header.auth_key = auth_key();
    let rsp = GwRegistrationResponse {
        domain_code: domain(),
        gw_id: gw_id(),
        result_code: ResultCode::OK,
    };
    omp.send(Frame::new(header, rsp)).await.unwrap();

    let profile = next(omp).await;
    let Message::ProfileRequest(body) = &profile.message else {
        panic!("expected profile, got {:?}", profile.message);
    };
    assert_eq!(body.gw_id, gw_id());
    assert!(body.device_id.is_empty());
    assert_eq!(profile.header.auth_key, auth_key());
    assert_eq!(profile.header.tid, first_tid + 1);
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
    assert_eq!(device.header.tid, first_tid + 2);
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

    // Report period 1 → a delivery every 6 ticks, reusing T-ID 3.
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

    // The counter now holds the OMP's T-ID: the next delivery reuses it.
    let later = async {
        loop {
            let frame = expect_delivery(&mut omp, b"WizFi310 test data").await;
            if frame.header.tid != 3 {
                break frame;
            }
        }
    };
    let delivery = tokio::time::timeout(GUARD, later).await.unwrap();
    assert_eq!(delivery.header.tid, 100_001);

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
async fn heartbeats_increment_the_tid() {
    let (sim, _port, _listener, mut omp) = start(config(), "x").await;
    register(&mut omp, 1, 0, 1).await;
    for expected in [4, 5, 6] {
        let frame = next(&mut omp).await;
        assert!(
            matches!(frame.message, Message::HeartbeatRequest(_)),
            "{frame:?}"
        );
        assert_eq!(frame.header.tid, expected);
        let rsp = HeartbeatResponse {
            domain_code: domain(),
            gw_id: gw_id(),
        };
        reply(&mut omp, &frame, rsp).await;
    }
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
