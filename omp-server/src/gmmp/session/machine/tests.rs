//! The time rules and binding rules of a connection, decided by passing
//! instants: no sockets, no sleeps.

use std::time::{Duration, Instant};

use gmmp_codec::{
    ControlResponse, ControlType, DeviceId, FixedStr, Frame, GwDeregistrationRequest,
    GwRegistrationRequest, Header, HeartbeatRequest, Message, MessageType, ResultCode,
};

use super::*;

const FIRST_FRAME: Duration = Duration::from_secs(30);
const AUTH: Duration = Duration::from_secs(60);
const FRAME: Duration = Duration::from_secs(10);
const GRACE: u32 = 2;
const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

fn timeouts() -> Timeouts {
    Timeouts {
        first_frame: FIRST_FRAME,
        auth: AUTH,
        frame: FRAME,
        heartbeat_grace: GRACE,
    }
}

/// A connection opened at `t0`.
fn opened() -> (Machine, Instant) {
    let t0 = Instant::now();
    (Machine::new(timeouts(), t0), t0)
}

fn header(auth_id: &str) -> Header {
    Header::new(
        FixedStr::new("auth_id", auth_id).unwrap(),
        FixedStr::new("auth_key", "key").unwrap(),
        7,
    )
}

fn heartbeat(auth_id: &str) -> Frame {
    Frame::new(
        header(auth_id),
        HeartbeatRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: FixedStr::new("gw_id", "GW1").unwrap(),
        },
    )
}

fn registration(auth_id: &str) -> Frame {
    Frame::new(
        header(auth_id),
        GwRegistrationRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            manufacture_id: FixedStr::new("manufacture_id", "maker").unwrap(),
        },
    )
}

fn control_response(auth_id: &str) -> Frame {
    Frame::new(
        header(auth_id),
        ControlResponse {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: FixedStr::new("gw_id", "GW1").unwrap(),
            device_id: DeviceId::EMPTY,
            control_type: ControlType(0x01),
            result_code: ResultCode::OK,
        },
    )
}

/// `m` bound to GW1 of auth_id "A" with a heartbeat period of `minutes`.
fn bind(m: &mut Machine, minutes: u32) {
    assert_eq!(m.bind("A", "GW1"), Bind::New);
    m.set_heartbeat_period(minutes);
}

#[test]
fn a_new_connection_silent_past_the_first_frame_timeout_is_closed() {
    let (m, t0) = opened();
    assert_eq!(m.poll_timeout(), Some(t0 + FIRST_FRAME));
    assert_eq!(m.handle_timeout(t0 + FIRST_FRAME - SECOND), None);
    assert_eq!(
        m.handle_timeout(t0 + FIRST_FRAME),
        Some(Expiry::Silent(FIRST_FRAME))
    );
}

#[test]
fn an_unbound_connection_is_held_to_the_first_frame_timeout_from_its_last_whole_frame() {
    let (mut m, t0) = opened();
    let t1 = t0 + FIRST_FRAME - SECOND;
    assert_eq!(m.handle_incoming(&heartbeat("A")), Route::Serve);
    m.handled(t1);
    assert_eq!(m.handle_timeout(t0 + FIRST_FRAME), None);
    assert_eq!(m.poll_timeout(), Some(t1 + FIRST_FRAME));
    assert_eq!(
        m.handle_timeout(t1 + FIRST_FRAME),
        Some(Expiry::Silent(FIRST_FRAME))
    );
}

#[test]
fn an_unbound_connection_is_closed_at_the_auth_timeout_whatever_it_sends() {
    let (mut m, t0) = opened();
    // A refused frame every 20 s keeps the idle limit from expiring, but
    // not the auth timeout.
    let mut t = t0;
    while t + 20 * SECOND < t0 + AUTH {
        t += 20 * SECOND;
        assert_eq!(
            m.refuse(&heartbeat("A").message),
            Answer::Close("refused request without a result code")
        );
        m.handled(t);
        assert_eq!(m.handle_timeout(t), None);
    }
    assert_eq!(m.poll_timeout(), Some(t0 + AUTH));
    assert_eq!(
        m.handle_timeout(t0 + AUTH),
        Some(Expiry::NotAuthenticated(AUTH))
    );
    assert_eq!(m.refusals(), 2);
}

#[test]
fn a_bound_gateway_is_held_to_neither_the_first_frame_nor_the_auth_timeout() {
    let (mut m, t0) = opened();
    bind(&mut m, 10);
    m.handled(t0);
    assert_eq!(m.handle_timeout(t0 + AUTH + FIRST_FRAME), None);
    assert_eq!(m.poll_timeout(), Some(t0 + 20 * MINUTE));
}

#[test]
fn a_gateway_silent_past_its_heartbeat_grace_is_closed() {
    let (mut m, t0) = opened();
    bind(&mut m, 10);
    m.handled(t0);
    let limit = 10 * MINUTE * GRACE;
    assert_eq!(m.idle_limit(), Some(limit));
    assert_eq!(m.handle_timeout(t0 + limit - SECOND), None);
    assert_eq!(m.handle_timeout(t0 + limit), Some(Expiry::Silent(limit)));
}

#[test]
fn a_gateway_heard_within_its_heartbeat_grace_stays_open() {
    let (mut m, t0) = opened();
    bind(&mut m, 1);
    let mut t = t0;
    for _ in 0..10 {
        t += MINUTE + 59 * SECOND;
        assert_eq!(m.handle_timeout(t), None);
        assert_eq!(m.handle_incoming(&heartbeat("A")), Route::Serve);
        m.handled(t);
    }
    assert_eq!(m.poll_timeout(), Some(t + 2 * MINUTE));
}

#[test]
fn a_gateway_with_a_zero_heartbeat_period_is_never_closed_for_silence() {
    let (mut m, t0) = opened();
    bind(&mut m, 0);
    m.handled(t0);
    assert_eq!(m.idle_limit(), None);
    assert_eq!(m.poll_timeout(), None);
    assert_eq!(m.handle_timeout(t0 + 365 * 24 * 60 * MINUTE), None);
}

#[test]
fn a_frame_not_completed_within_the_frame_timeout_is_closed_bound_or_not() {
    for bound in [false, true] {
        let (mut m, t0) = opened();
        if bound {
            bind(&mut m, 0);
        }
        let started = t0 + SECOND;
        m.frame_started(started);
        assert!(m.frame_in_progress());
        assert_eq!(m.poll_timeout(), Some(started + FRAME));
        assert_eq!(m.handle_timeout(started + FRAME - SECOND), None);
        assert_eq!(
            m.handle_timeout(started + FRAME),
            Some(Expiry::FrameNotCompleted(FRAME)),
            "bound: {bound}"
        );
    }
}

#[test]
fn a_trickled_frame_is_held_to_the_deadline_of_its_first_byte() {
    let (mut m, t0) = opened();
    m.frame_started(t0);
    // More bytes of the same frame do not move its deadline.
    m.frame_started(t0 + 5 * SECOND);
    m.frame_started(t0 + 9 * SECOND);
    assert_eq!(
        m.handle_timeout(t0 + FRAME),
        Some(Expiry::FrameNotCompleted(FRAME))
    );
}

#[test]
fn a_completed_frame_clears_its_frame_deadline() {
    let (mut m, t0) = opened();
    m.frame_started(t0);
    m.handle_incoming(&heartbeat("A"));
    m.handled(t0 + SECOND);
    assert!(!m.frame_in_progress());
    assert_eq!(m.handle_timeout(t0 + FRAME), None);
    assert_eq!(m.poll_timeout(), Some(t0 + SECOND + FIRST_FRAME));
}

#[test]
fn the_next_deadline_is_the_earliest_of_the_running_ones() {
    let (mut m, t0) = opened();
    // Idle 30 s, auth 60 s, frame 10 s from its first byte.
    assert_eq!(m.poll_timeout(), Some(t0 + FIRST_FRAME));
    m.frame_started(t0 + 25 * SECOND);
    assert_eq!(m.poll_timeout(), Some(t0 + FIRST_FRAME));
    m.handle_incoming(&heartbeat("A"));
    m.handled(t0 + 50 * SECOND);
    assert_eq!(m.poll_timeout(), Some(t0 + AUTH));
    m.frame_started(t0 + 45 * SECOND);
    assert_eq!(m.poll_timeout(), Some(t0 + 55 * SECOND));
}

#[test]
fn a_deregistered_gateway_is_held_to_the_first_frame_and_auth_timeouts_again() {
    let (mut m, t0) = opened();
    bind(&mut m, 0);
    let t1 = t0 + 10 * MINUTE;
    let was = m.unbind(t1);
    assert_eq!(
        was,
        Some(Bound {
            auth_id: "A".into(),
            gw_id: "GW1".into()
        })
    );
    m.handled(t1);
    assert_eq!(m.bound(), None);
    assert_eq!(m.idle_limit(), Some(FIRST_FRAME));
    assert_eq!(m.poll_timeout(), Some(t1 + FIRST_FRAME));
    // Kept busy, it must still bind again within the auth timeout.
    m.handled(t1 + 50 * SECOND);
    assert_eq!(
        m.handle_timeout(t1 + AUTH),
        Some(Expiry::NotAuthenticated(AUTH))
    );
}

#[test]
fn frames_are_routed_by_what_they_are() {
    let (mut m, _) = opened();
    let reg = registration("A");
    let Message::GwRegistrationRequest(req) = &reg.message else {
        unreachable!()
    };
    assert_eq!(m.handle_incoming(&reg), Route::Register(req));
    assert_eq!(m.handle_incoming(&heartbeat("A")), Route::Serve);
    assert_eq!(
        m.handle_incoming(&control_response("A")),
        Route::TakeResponse
    );
}

#[test]
fn a_frame_of_another_auth_id_on_a_bound_connection_is_refused() {
    let (mut m, _) = opened();
    bind(&mut m, 10);
    assert_eq!(m.handle_incoming(&heartbeat("A")), Route::Serve);
    assert_eq!(
        m.handle_incoming(&registration("B")),
        Route::Refuse(Refusal::OtherSession {
            bound: "GW1".into(),
            got: "B".into()
        })
    );
}

#[test]
fn a_connection_carries_one_gateway_only() {
    let (mut m, _) = opened();
    bind(&mut m, 10);
    assert_eq!(m.bind("A", "GW1"), Bind::Already);
    assert_eq!(
        m.bind("A", "GW2"),
        Bind::Close("second GW on one connection")
    );
    assert_eq!(m.gw_id(), "GW1");
}

#[test]
fn a_heartbeat_period_set_while_unbound_changes_nothing() {
    let (mut m, _) = opened();
    m.set_heartbeat_period(0);
    assert_eq!(m.idle_limit(), Some(FIRST_FRAME));
}

#[test]
fn a_refused_request_is_answered_permission_denied_where_its_response_has_a_result_code() {
    let (mut m, _) = opened();
    let dereg = Message::from(GwDeregistrationRequest {
        domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
        gw_id: FixedStr::new("gw_id", "GW1").unwrap(),
    });
    let Answer::Respond(response) = m.refuse(&dereg) else {
        panic!("a deregistration response has a result code")
    };
    assert_eq!(
        response.message_type(),
        MessageType::GwDeregistrationResponse
    );
    assert_eq!(response.result_code(), Some(ResultCode::PERMISSION_DENIED));
    assert_eq!(m.refusals(), 1);
}

#[test]
fn a_failed_request_is_answered_internal_error_or_closes() {
    let Answer::Respond(response) = failed(&registration("A").message) else {
        panic!("a registration response has a result code")
    };
    assert_eq!(
        response.result_code(),
        Some(ResultCode::INTERNAL_SERVER_ERROR)
    );
    assert_eq!(
        failed(&heartbeat("A").message),
        Answer::Close("internal error")
    );
    assert_eq!(
        served(None),
        Answer::Close("request without a response form")
    );
}

#[test]
fn the_silence_limit_of_a_zero_heartbeat_period_is_never() {
    assert_eq!(silence_limit(0, 2), None);
}

#[test]
fn silence_limit_is_period_times_grace() {
    assert_eq!(silence_limit(10, 2), Some(Duration::from_secs(1200)));
    assert_eq!(silence_limit(1, 3), Some(Duration::from_secs(180)));
}
