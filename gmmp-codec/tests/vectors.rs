//! Every golden vector decodes to exactly the listed fields and re-encodes
//! to exactly the listed bytes.

mod common;

use gmmp_codec::{Frame, Message};
use serde_json::{Map, Value, json};

fn s<const N: usize>(f: &gmmp_codec::FixedStr<N>) -> Value {
    json!(f.as_str().expect("vector strings are UTF-8"))
}

/// The body as vectors.json spells it.
fn body_json(m: &Message) -> Value {
    let mut o = Map::new();
    o.insert("domain_code".into(), s(m.domain_code()));
    if let Some(g) = m.gw_id() {
        o.insert("gw_id".into(), s(g));
    }
    if let Some(d) = m.device_id() {
        o.insert("device_id".into(), s(d));
    }
    match m {
        Message::GwRegistrationRequest(b) => {
            o.insert("manufacture_id".into(), s(&b.manufacture_id));
        }
        Message::DeviceRegistrationRequest(b) => {
            o.insert("manufacture_id".into(), s(&b.manufacture_id));
        }
        Message::DeliveryRequest(b) => {
            o.insert("report_type".into(), json!(b.report_type.0));
            o.insert("media_type".into(), json!(b.media_type));
            o.insert("message_body_hex".into(), json!(hex::encode(&b.payload)));
        }
        Message::DeliveryResponse(b) => {
            o.insert("backoff_time".into(), json!(b.backoff_time));
        }
        Message::ProfileResponse(b) => {
            o.insert("heartbeat_period".into(), json!(b.heartbeat_period));
            o.insert("report_period".into(), json!(b.report_period));
            o.insert("report_offset".into(), json!(b.report_offset));
            o.insert("response_timeout".into(), json!(b.response_timeout));
            o.insert("model".into(), s(&b.model));
            o.insert("firmware_version".into(), s(&b.firmware_version));
            o.insert("software_version".into(), s(&b.software_version));
            o.insert("hardware_version".into(), s(&b.hardware_version));
        }
        Message::ControlRequest(b) => {
            o.insert("control_type".into(), json!(b.control_type.0));
            o.insert("message_body_hex".into(), json!(hex::encode(&b.payload)));
        }
        Message::ControlResponse(b) => {
            o.insert("control_type".into(), json!(b.control_type.0));
        }
        Message::NotificationRequest(b) => {
            o.insert("control_type".into(), json!(b.control_type.0));
            o.insert("message_body_hex".into(), json!(hex::encode(&b.payload)));
        }
        Message::NotificationResponse(b) => {
            o.insert("control_type".into(), json!(b.control_type.0));
        }
        _ => {}
    }
    if let Some(rc) = m.result_code() {
        o.insert("result_code".into(), json!(rc.0));
    }
    Value::Object(o)
}

fn header_json(f: &Frame) -> Value {
    let h = &f.header;
    json!({
        "version": h.version,
        "message_length": h.message_length,
        "message_type": h.message_type,
        "timestamp": h.origin_timestamp,
        "total_count": h.total_count,
        "current_count": h.current_count,
        "auth_id": s(&h.auth_id),
        "auth_key": s(&h.auth_key),
        "tid": h.tid,
        "encryption_flag": h.encryption_flag,
    })
}

#[test]
fn every_vector_decodes_to_its_fields_and_re_encodes_exactly() {
    let vectors = common::vectors();
    assert!(vectors.len() >= 18, "expected the full vector set");
    for v in &vectors {
        let frame = Frame::decode_slice(&v.bytes)
            .unwrap_or_else(|e| panic!("{}: decode failed: {e}", v.name));
        assert_eq!(header_json(&frame), v.json["header"], "{}: header", v.name);
        assert_eq!(
            body_json(&frame.message),
            v.json["body"],
            "{}: body",
            v.name
        );
        let again = frame.to_bytes().expect("re-encode");
        assert_eq!(
            hex::encode(&again),
            hex::encode(&v.bytes),
            "{}: bytes",
            v.name
        );
    }
}

#[test]
fn hex_files_hold_the_same_frames_as_the_json() {
    for v in common::vectors() {
        let path = common::vectors_dir().join(format!("{}.hex", v.name));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let cleaned: String = text.split_whitespace().collect();
        assert_eq!(hex::decode(cleaned).expect("hex"), v.bytes, "{}", v.name);
    }
}

#[test]
fn delivery_response_lengths_follow_the_backoff_field() {
    for v in common::vectors() {
        if let Ok(frame) = Frame::decode_slice(&v.bytes)
            && let Message::DeliveryResponse(r) = &frame.message
        {
            let body = v.bytes.len() - gmmp_codec::HEADER_LEN;
            assert_eq!(body, if r.backoff_time.is_some() { 47 } else { 43 });
        }
    }
}

#[test]
fn seed_delivery_traces_like_the_wizfi310() {
    let v = common::vectors()
        .into_iter()
        .find(|v| v.name == "delivery_req")
        .expect("delivery_req vector");
    let trace = Frame::decode_slice(&v.bytes).unwrap().trace().to_string();
    let expected = "\
<OMP><Marker:OPS> [GW->OMP]GMMP_SetDelivery Start
<OMP><Marker:REQ> 
GMMP Trace :  AuthID =0008dc1e3222
GMMP Trace :  Auth Key =SP10033827key
GMMP Trace :  T-ID =129
GMMP Trace :  Domain Code =ThingPlug
GMMP Trace :  GW ID=SC10010254
GMMP Trace :  Device ID =
GMMP Trace :  ucReportType[0x1]
GMMP Trace :  ucMediaType[0x1]
GMMP Trace :  usMessageBody =WizFi310 test data !@#$%^&*(/)
";
    assert_eq!(trace, expected);
}

#[test]
fn seed_delivery_response_traces_like_the_wizfi310() {
    let v = common::vectors()
        .into_iter()
        .find(|v| v.name == "delivery_rsp_43")
        .expect("delivery_rsp_43 vector");
    let trace = Frame::decode_slice(&v.bytes).unwrap().trace().to_string();
    assert!(trace.starts_with("<OMP><Marker:RSP> [OMP->GW]OPERATION_DELIVERY_RSP Start"));
    assert!(trace.contains("GMMP Trace :  Result Code[0x0], STATUS_OK\n"));
    assert!(trace.contains("GMMP Trace :  unBackOffTime = 0\n"));
    assert!(trace.ends_with("<OMP><Marker:OPE> \n"));
}

#[test]
fn seed_gw_registration_traces_like_the_wizfi310() {
    let v = common::vectors()
        .into_iter()
        .find(|v| v.name == "gw_reg_req")
        .expect("gw_reg_req vector");
    let trace = Frame::decode_slice(&v.bytes).unwrap().trace().to_string();
    assert!(
        trace.starts_with("<OMP><Marker:OPS> [GW->OMP]GW GMMP_SetReg Start\n"),
        "{trace}"
    );
}
