//! Engine tests: frames in, frames and events out, time passed by hand.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gmmp_codec::{
    AuthKey, ControlRequest, ControlType, DeliveryResponse, DeviceId, DeviceRegistrationResponse,
    DomainCode, FixedStr, Frame, GwId, GwRegistrationResponse, Header, HeartbeatResponse,
    ManufactureId, Message, MessageType, NotificationResponse, ProfileResponse, ResultCode,
};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(10);

fn config() -> EngineConfig {
    EngineConfig {
        domain_code: DomainCode::new("domain_code", "ThingPlug").unwrap(),
        auth_id: FixedStr::new("auth_id", "0008dc1e3222").unwrap(),
        manufacture_id: ManufactureId::new("manufacture_id", "WIZnet").unwrap(),
        devices: vec![DeviceSpec {
            name: "sensor1".into(),
            manufacture_id: ManufactureId::new("manufacture_id", "dev-1").unwrap(),
        }],
        heartbeat_period: None,
        report_period: None,
        response_timeout: None,
        default_response_timeout: TIMEOUT,
        max_retries: 2,
        max_in_flight: 1,
        keyed_deliveries: true,
        retry_delay: Duration::from_secs(5),
        host_controls: ControlSet::new(),
        encryption_flag: 0x02,
    }
}

fn gw_id() -> GwId {
    GwId::new("gw_id", "SC10010254").unwrap()
}

fn key() -> AuthKey {
    AuthKey::new("auth_key", "SP10033827key").unwrap()
}

fn device_id() -> DeviceId {
    DeviceId::new("device_id", "AD10014858").unwrap()
}

fn identity() -> Identity {
    Identity {
        gw_id: gw_id(),
        auth_key: key(),
        devices: BTreeMap::from([("sensor1".to_string(), device_id())]),
    }
}

fn omp_header(tid: u32) -> Header {
    Header::new(
        FixedStr::new("auth_id", "0008dc1e3222").unwrap(),
        key(),
        tid,
    )
}

fn profile(tid: u32, rc: ResultCode, heartbeat_min: u32, report_min: u32) -> Frame {
    Frame::new(
        omp_header(tid),
        ProfileResponse {
            domain_code: config().domain_code,
            gw_id: gw_id(),
            device_id: DeviceId::EMPTY,
            result_code: rc,
            heartbeat_period: heartbeat_min,
            report_period: report_min,
            report_offset: 0,
            response_timeout: 0,
            model: FixedStr::EMPTY,
            firmware_version: FixedStr::EMPTY,
            software_version: FixedStr::EMPTY,
            hardware_version: FixedStr::EMPTY,
        },
    )
}

fn delivery_response(tid: u32, rc: ResultCode, backoff: Option<u32>) -> Frame {
    Frame::new(
        omp_header(tid),
        DeliveryResponse {
            domain_code: config().domain_code,
            gw_id: gw_id(),
            device_id: DeviceId::EMPTY,
            result_code: rc,
            backoff_time: backoff,
        },
    )
}

fn control(tid: u32, ct: ControlType) -> Frame {
    Frame::new(
        omp_header(tid),
        ControlRequest {
            domain_code: config().domain_code,
            gw_id: gw_id(),
            device_id: DeviceId::EMPTY,
            control_type: ct,
            payload: Bytes::new(),
        },
    )
}

/// The spool time of the test deliveries.
const SPOOLED_AT: u32 = 1_795_000_000;

fn data(text: &str) -> SpooledDelivery {
    SpooledDelivery {
        device: None,
        report_type: 1,
        media_type: 1,
        payload: Bytes::copy_from_slice(text.as_bytes()),
        spooled_at: SPOOLED_AT,
    }
}

fn sent(engine: &mut Engine) -> Vec<Frame> {
    std::iter::from_fn(|| engine.poll_transmit()).collect()
}

fn events(engine: &mut Engine) -> Vec<Event> {
    std::iter::from_fn(|| engine.poll_event()).collect()
}

fn types(frames: &[Frame]) -> Vec<MessageType> {
    frames.iter().map(Frame::message_type).collect()
}

/// An engine with a stored identity, connected and ready.
/// The test config with `n` deliveries in flight.
fn in_flight(n: usize) -> EngineConfig {
    EngineConfig {
        max_in_flight: n,
        ..config()
    }
}

fn ready_engine(config: EngineConfig, now: Instant) -> Engine {
    let mut e = Engine::new(config, Some(identity()));
    e.connected(now);
    let out = sent(&mut e);
    assert_eq!(types(&out), [MessageType::ProfileRequest]);
    e.handle_frame(profile(out[0].header.tid, ResultCode::OK, 0, 0), now);
    assert_eq!(e.state(), SessionState::Ready);
    events(&mut e);
    e
}

fn payload_of(frame: &Frame) -> &[u8] {
    frame.message.payload().map_or(&[], |p| &p[..])
}

#[test]
fn registration_then_profile_then_devices() {
    let now = Instant::now();
    let mut e = Engine::new(config(), None);
    e.connected(now);
    let out = sent(&mut e);
    assert_eq!(types(&out), [MessageType::GwRegistrationRequest]);
    assert!(out[0].header.auth_key.is_empty());
    let mut header = omp_header(out[0].header.tid);
    header.auth_key = key();
    let reg = GwRegistrationResponse {
        domain_code: config().domain_code,
        gw_id: gw_id(),
        result_code: ResultCode::OK,
    };
    e.handle_frame(Frame::new(header, reg), now);

    let out = sent(&mut e);
    assert_eq!(types(&out), [MessageType::ProfileRequest]);
    assert_eq!(
        out[0].header.auth_key,
        key(),
        "later requests carry the assigned key"
    );
    assert_eq!(out[0].message.gw_id(), Some(&gw_id()));
    e.handle_frame(profile(out[0].header.tid, ResultCode::OK, 1, 0), now);

    let out = sent(&mut e);
    assert_eq!(types(&out), [MessageType::DeviceRegistrationRequest]);
    let dev = DeviceRegistrationResponse {
        domain_code: config().domain_code,
        gw_id: gw_id(),
        device_id: device_id(),
        result_code: ResultCode::OK,
    };
    e.handle_frame(Frame::new(omp_header(out[0].header.tid), dev), now);
    assert_eq!(e.state(), SessionState::Ready);
    assert_eq!(e.identity(), Some(&identity()));
    let ev = events(&mut e);
    assert!(ev.contains(&Event::IdentityChanged(identity())));
    assert!(ev.contains(&Event::Ready {
        heartbeat_period: Duration::from_secs(60),
        report_period: Duration::ZERO,
        response_timeout: TIMEOUT,
    }));
}

#[test]
fn a_stored_identity_skips_registration() {
    let now = Instant::now();
    let e = ready_engine(config(), now);
    assert_eq!(e.identity(), Some(&identity()));
}

#[test]
fn a_refused_profile_registers_again() {
    let now = Instant::now();
    let mut e = Engine::new(config(), Some(identity()));
    e.connected(now);
    let out = sent(&mut e);
    e.handle_frame(
        profile(out[0].header.tid, ResultCode::PERMISSION_DENIED, 0, 0),
        now,
    );
    assert_eq!(types(&sent(&mut e)), [MessageType::GwRegistrationRequest]);
    assert!(events(&mut e).contains(&Event::IdentityCleared));
    assert_eq!(e.state(), SessionState::Registering);
}

#[test]
fn a_refused_registration_closes_the_session() {
    let now = Instant::now();
    let mut e = Engine::new(config(), None);
    e.connected(now);
    let out = sent(&mut e);
    let reg = GwRegistrationResponse {
        domain_code: config().domain_code,
        gw_id: GwId::EMPTY,
        result_code: ResultCode::PERMISSION_DENIED,
    };
    e.handle_frame(Frame::new(omp_header(out[0].header.tid), reg), now);
    let reason = events(&mut e)
        .into_iter()
        .find_map(|ev| match ev {
            Event::Close { reason } => Some(reason),
            _ => None,
        })
        .expect("the session closes");
    assert!(
        reason.contains("omp-server provision add 0008dc1e3222"),
        "the refusal names the approval command: {reason}"
    );
}

#[test]
fn response_timeout_retries_the_request() {
    let now = Instant::now();
    let mut e = Engine::new(config(), Some(identity()));
    e.connected(now);
    let first = sent(&mut e);
    assert_eq!(e.poll_timeout(), Some(now + TIMEOUT));
    e.handle_timeout(now + TIMEOUT);
    let again = sent(&mut e);
    assert_eq!(types(&again), [MessageType::ProfileRequest]);
    assert_ne!(
        again[0].header.tid, first[0].header.tid,
        "a re-send gets a new T-ID"
    );
    // The late answer to the first attempt matches nothing.
    e.handle_frame(
        profile(first[0].header.tid, ResultCode::OK, 0, 0),
        now + TIMEOUT,
    );
    assert_eq!(e.state(), SessionState::RequestingProfile);
    e.handle_frame(
        profile(again[0].header.tid, ResultCode::OK, 0, 0),
        now + TIMEOUT,
    );
    assert_eq!(e.state(), SessionState::Ready);
}

#[test]
fn too_many_timeouts_close_the_session() {
    let now = Instant::now();
    let mut e = Engine::new(config(), Some(identity()));
    e.connected(now);
    let mut t = now;
    for _ in 0..=config().max_retries {
        sent(&mut e);
        t += TIMEOUT;
        e.handle_timeout(t);
    }
    let ev = events(&mut e);
    assert!(
        ev.iter().any(|ev| matches!(ev, Event::Close { .. })),
        "{ev:?}"
    );
}

#[test]
fn a_delivery_is_done_when_the_omp_says_ok() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    assert_eq!(e.delivery_slots(now), 1);
    e.send_delivery(7, data("25.3C"), now).unwrap();
    assert_eq!(e.delivery_slots(now), 0, "one in flight by default");
    let out = sent(&mut e);
    assert_eq!(types(&out), [MessageType::DeliveryRequest]);
    assert_eq!(payload_of(&out[0]), b"25.3C");
    e.handle_frame(
        delivery_response(out[0].header.tid, ResultCode::OK, None),
        now,
    );
    assert_eq!(events(&mut e), [Event::Delivered { seq: 7 }]);
    assert_eq!(e.delivery_slots(now), 1);
}

#[test]
fn deliveries_to_a_device_carry_its_id() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    let mut d = data("x");
    d.device = Some("sensor1".into());
    e.send_delivery(1, d, now).unwrap();
    assert_eq!(sent(&mut e)[0].message.device_id(), Some(&device_id()));
    let mut unknown = data("x");
    unknown.device = Some("nope".into());
    e.handle_frame(delivery_response(0, ResultCode::OK, None), now);
    let err = e.send_delivery(2, unknown, now);
    assert!(matches!(
        err,
        Err(EngineError::UnknownDevice { .. }) | Err(EngineError::NoSlot { .. })
    ));
}

#[test]
fn several_deliveries_fly_at_once_when_allowed() {
    let now = Instant::now();
    let mut e = ready_engine(
        EngineConfig {
            max_in_flight: 3,
            ..config()
        },
        now,
    );
    for seq in 1..=3 {
        e.send_delivery(seq, data("x"), now).unwrap();
    }
    assert_eq!(e.delivery_slots(now), 0);
    assert_eq!(sent(&mut e).len(), 3);
}

#[test]
fn backoff_delays_the_next_delivery() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    e.send_delivery(1, data("a"), now).unwrap();
    let out = sent(&mut e);
    e.handle_frame(
        delivery_response(out[0].header.tid, ResultCode::OK, Some(30)),
        now,
    );
    assert_eq!(events(&mut e), [Event::Delivered { seq: 1 }]);
    assert_eq!(e.delivery_slots(now), 0);
    assert_eq!(e.delivery_slots(now + Duration::from_secs(29)), 0);
    assert_eq!(e.poll_timeout(), Some(now + Duration::from_secs(30)));
    e.handle_timeout(now + Duration::from_secs(30));
    assert_eq!(e.delivery_slots(now + Duration::from_secs(30)), 1);
}

#[test]
fn a_busy_omp_gets_the_delivery_again_after_its_backoff() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    e.send_delivery(1, data("a"), now).unwrap();
    let out = sent(&mut e);
    e.handle_frame(
        delivery_response(out[0].header.tid, ResultCode::SERVICE_UNAVAILABLE, Some(10)),
        now,
    );
    assert!(sent(&mut e).is_empty());
    assert_eq!(e.retry_len(), 1);
    let later = now + Duration::from_secs(10);
    e.handle_timeout(later);
    let again = sent(&mut e);
    assert_eq!(payload_of(&again[0]), b"a");
    e.handle_frame(
        delivery_response(again[0].header.tid, ResultCode::OK, None),
        later,
    );
    assert_eq!(events(&mut e), [Event::Delivered { seq: 1 }]);
}

#[test]
fn a_bad_request_rejects_the_delivery_for_good() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    e.send_delivery(4, data("a"), now).unwrap();
    let out = sent(&mut e);
    e.handle_frame(
        delivery_response(out[0].header.tid, ResultCode::BAD_REQUEST, None),
        now,
    );
    assert_eq!(
        events(&mut e),
        [Event::DeliveryRejected {
            seq: 4,
            rc: ResultCode::BAD_REQUEST
        }]
    );
    assert_eq!(e.retry_len(), 0);
}

#[test]
fn a_timed_out_delivery_is_sent_again() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    e.send_delivery(1, data("a"), now).unwrap();
    let first = sent(&mut e);
    e.handle_timeout(now + TIMEOUT);
    let again = sent(&mut e);
    assert_eq!(types(&again), [MessageType::DeliveryRequest]);
    assert_eq!(again, first, "the same keyed delivery: same T-ID and time");
    e.handle_frame(
        delivery_response(again[0].header.tid, ResultCode::OK, None),
        now + TIMEOUT,
    );
    assert_eq!(events(&mut e), [Event::Delivered { seq: 1 }]);
}

#[test]
fn large_payloads_are_split_and_done_after_every_part() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    let big = "x".repeat(5000);
    e.send_delivery(1, data(&big), now).unwrap();
    let parts = sent(&mut e);
    assert_eq!(parts.len(), 3);
    let tid = parts[0].header.tid;
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.header.tid, tid);
        assert_eq!(
            (p.header.current_count, p.header.total_count),
            (i as u16 + 1, 3)
        );
    }
    e.handle_frame(delivery_response(tid, ResultCode::OK, None), now);
    e.handle_frame(delivery_response(tid, ResultCode::OK, None), now);
    assert!(events(&mut e).is_empty());
    e.handle_frame(delivery_response(tid, ResultCode::OK, None), now);
    assert_eq!(events(&mut e), [Event::Delivered { seq: 1 }]);
}

#[test]
fn a_disconnect_keeps_in_flight_deliveries_and_sends_them_first() {
    let now = Instant::now();
    let mut e = ready_engine(in_flight(2), now);
    e.send_delivery(1, data("a"), now).unwrap();
    e.send_delivery(2, data("b"), now).unwrap();
    sent(&mut e);
    e.disconnected(now);
    assert_eq!(e.held().collect::<Vec<_>>(), [1, 2]);
    e.connected(now);
    let out = sent(&mut e);
    e.handle_frame(profile(out[0].header.tid, ResultCode::OK, 0, 0), now);
    assert_eq!(
        e.delivery_slots(now),
        0,
        "held deliveries go before new ones"
    );
    let out = sent(&mut e);
    assert_eq!(out.iter().map(payload_of).collect::<Vec<_>>(), [b"a", b"b"]);
    let keys: Vec<_> = out
        .iter()
        .map(|f| (f.header.tid, f.header.origin_timestamp, f.header.is_keyed()))
        .collect();
    assert_eq!(
        keys,
        [(1, SPOOLED_AT, true), (2, SPOOLED_AT, true)],
        "re-sent under the same key after the reconnect"
    );
}

#[test]
fn a_delivery_is_keyed_by_its_sequence_number_and_spool_time() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    e.send_delivery(90_007, data("a"), now).unwrap();
    let out = sent(&mut e);
    let h = &out[0].header;
    assert_eq!((h.tid, h.origin_timestamp), (7, SPOOLED_AT));
    assert_eq!(h.reserved, gmmp_codec::KEYED_DELIVERY);

    // Keying off, or a record without a spool time (format 01): a plain
    // delivery, which the IO shell stamps with the clock.
    for (keyed, spooled_at) in [(false, SPOOLED_AT), (true, 0)] {
        let mut e = ready_engine(
            EngineConfig {
                keyed_deliveries: keyed,
                ..config()
            },
            now,
        );
        let d = SpooledDelivery {
            spooled_at,
            ..data("a")
        };
        e.send_delivery(8, d, now).unwrap();
        let h = sent(&mut e)[0].header;
        assert_eq!((h.tid, h.origin_timestamp, h.reserved), (8, 0, 0));
    }
}

#[test]
fn two_deliveries_in_flight_never_share_a_tid() {
    let now = Instant::now();
    let mut e = ready_engine(in_flight(2), now);
    e.send_delivery(3, data("a"), now).unwrap();
    assert_eq!(
        e.send_delivery(90_003, data("b"), now),
        Err(EngineError::TidInUse { tid: 3 })
    );
}

#[test]
fn an_abandoned_delivery_is_neither_sent_again_nor_waited_for() {
    let now = Instant::now();
    let mut e = ready_engine(in_flight(2), now);
    e.send_delivery(1, data("a"), now).unwrap();
    e.send_delivery(2, data("b"), now).unwrap();
    let first = sent(&mut e);
    // In flight: forgotten, its slot freed; its late answer is ignored.
    assert!(e.abandon_delivery(1));
    assert_eq!(e.held().collect::<Vec<_>>(), [2]);
    e.handle_frame(
        delivery_response(first[0].header.tid, ResultCode::OK, None),
        now,
    );
    assert!(events(&mut e).is_empty());
    // Held for a retry after a disconnect: not sent on the next session.
    e.disconnected(now);
    assert!(e.abandon_delivery(2));
    assert!(!e.abandon_delivery(2), "already gone");
    e.connected(now);
    let out = sent(&mut e);
    e.handle_frame(profile(out[0].header.tid, ResultCode::OK, 0, 0), now);
    assert!(sent(&mut e).is_empty());
    assert_eq!(e.delivery_slots(now), 2);
}

#[test]
fn request_tids_wrap_within_90000_to_99999() {
    let now = Instant::now();
    let mut e = Engine::new(config(), Some(identity()));
    e.set_first_tid(99_999);
    e.connected(now);
    let profile_request = sent(&mut e);
    assert_eq!(profile_request[0].header.tid, 99_999);
    e.handle_frame(profile(99_999, ResultCode::OK, 1, 0), now);
    e.handle_timeout(now + Duration::from_secs(60));
    let heartbeat = sent(&mut e);
    assert_eq!(types(&heartbeat), [MessageType::HeartbeatRequest]);
    assert_eq!(heartbeat[0].header.tid, 90_000);
}

#[test]
fn heartbeats_follow_the_profile_period() {
    let now = Instant::now();
    let mut e = Engine::new(config(), Some(identity()));
    e.connected(now);
    let out = sent(&mut e);
    e.handle_frame(profile(out[0].header.tid, ResultCode::OK, 1, 0), now);
    assert_eq!(e.poll_timeout(), Some(now + Duration::from_secs(60)));
    let t = now + Duration::from_secs(60);
    e.handle_timeout(t);
    let hb = sent(&mut e);
    assert_eq!(types(&hb), [MessageType::HeartbeatRequest]);
    let rsp = HeartbeatResponse {
        domain_code: config().domain_code,
        gw_id: gw_id(),
    };
    e.handle_frame(Frame::new(omp_header(hb[0].header.tid), rsp), t);
    assert_eq!(e.poll_timeout(), Some(t + Duration::from_secs(60)));
}

#[test]
fn the_report_period_asks_for_periodic_data() {
    let now = Instant::now();
    let mut e = Engine::new(
        EngineConfig {
            report_period: Some(Duration::from_secs(5)),
            ..config()
        },
        Some(identity()),
    );
    e.connected(now);
    let out = sent(&mut e);
    e.handle_frame(profile(out[0].header.tid, ResultCode::OK, 0, 10), now);
    events(&mut e);
    e.handle_timeout(now + Duration::from_secs(5));
    assert_eq!(events(&mut e), [Event::ReportDue]);
}

#[test]
fn status_check_answers_0e_then_0x17_with_both_states() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    e.handle_frame(control(100_001, ControlType::REPORT_OFF), now);
    sent(&mut e);
    assert!(events(&mut e).contains(&Event::ControlState {
        report_on: false,
        running: true
    }));
    e.handle_frame(control(100_002, ControlType::STATUS_CHECK), now);
    let out = sent(&mut e);
    assert_eq!(
        types(&out),
        [
            MessageType::ControlResponse,
            MessageType::NotificationRequest
        ]
    );
    assert!(out.iter().all(|f| f.header.tid == 100_002));
    assert_eq!(out[0].message.result_code(), Some(ResultCode::OK));
    assert_eq!(payload_of(&out[1]), [0x00, 0x01]);
    for (tid, ct) in [
        (100_001, ControlType::REPORT_OFF),
        (100_002, ControlType::STATUS_CHECK),
    ] {
        let rsp = NotificationResponse {
            domain_code: config().domain_code,
            gw_id: gw_id(),
            device_id: DeviceId::EMPTY,
            control_type: ct,
            result_code: ResultCode::OK,
        };
        e.handle_frame(Frame::new(omp_header(tid), rsp), now);
    }
    assert_eq!(e.poll_timeout(), None, "nothing left outstanding");
}

#[test]
fn report_off_and_pause_hold_deliveries() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    e.handle_frame(control(100_001, ControlType::PAUSE), now);
    assert_eq!(e.delivery_slots(now), 0);
    assert!(!e.running());
    e.handle_frame(control(100_002, ControlType::RESTART), now);
    assert_eq!(e.delivery_slots(now), 1);
    e.handle_frame(control(100_003, ControlType::REPORT_OFF), now);
    assert_eq!(e.delivery_slots(now), 0);
    e.handle_frame(control(100_004, ControlType::REPORT_ON), now);
    assert_eq!(e.delivery_slots(now), 1);
}

#[test]
fn an_unsupported_control_is_refused_with_not_implemented() {
    let now = Instant::now();
    let mut e = ready_engine(config(), now);
    e.handle_frame(control(100_001, ControlType::SIGNAL_POWER_CHECK), now);
    let out = sent(&mut e);
    assert_eq!(types(&out), [MessageType::ControlResponse]);
    assert_eq!(
        out[0].message.result_code(),
        Some(ResultCode::NOT_IMPLEMENTED)
    );
    assert!(events(&mut e).is_empty());
}

#[test]
fn a_host_control_waits_for_the_caller_then_notifies() {
    let now = Instant::now();
    let host_controls = [ControlType::TIME_SYNC].into_iter().collect();
    let mut e = ready_engine(
        EngineConfig {
            host_controls,
            ..config()
        },
        now,
    );
    e.handle_frame(control(100_009, ControlType::TIME_SYNC), now);
    let out = sent(&mut e);
    assert_eq!(types(&out), [MessageType::ControlResponse]);
    assert_eq!(out[0].message.result_code(), Some(ResultCode::OK));
    let ev = events(&mut e);
    let [Event::Control(pending)] = ev.as_slice() else {
        panic!("expected one control, got {ev:?}");
    };
    e.complete_control(
        pending,
        ResultCode::OK,
        Bytes::from_static(&[0, 0, 0, 1]),
        now,
    );
    let out = sent(&mut e);
    assert_eq!(types(&out), [MessageType::NotificationRequest]);
    assert_eq!(out[0].header.tid, 100_009);
    assert!(
        matches!(&out[0].message, Message::NotificationRequest(n) if n.control_type == ControlType::TIME_SYNC)
    );
}
