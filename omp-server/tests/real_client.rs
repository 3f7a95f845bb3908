//! Conformance with SK Telecom's GMMP client library: the frames it sent in
//! a whole gateway life (captured from the running library,
//! `tests/real_client/README.md`) replayed in order over real TCP against
//! the server started on 127.0.0.1:0, every answer checked field by field
//! as the library reads it (`real_client/library.rs`), and what the server
//! stored read back over the HTTP API.
//!
//! Replay: each captured connection is a TCP connection here; each
//! captured request is sent with the values the live server assigned
//! swapped in (`real_client/capture.rs`); the answers the library waits
//! for are read after it: one per request, none after a control response
//! (0x0E), long sentence answers (0x12) until their last part. Where the
//! capture shows the server pushing a control (0x0D), the control is
//! POSTed over HTTP first.

mod common;

mod real_client {
    pub mod capture;
    pub mod library;
}

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{GUARD, TestServer, start};
use real_client::capture::{self, Assigned, Captured, Direction, HEADER_LEN};
use real_client::library;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const API_KEY: &str = "real-client-test-key";
const ALWAYS_ON: &str = "always_on.hex";
const ALWAYS_OFF: &str = "always_off.hex";

/// A fresh server and what it assigned so far.
struct Replay {
    server: TestServer,
    http: reqwest::Client,
    captured: Assigned,
    live: Assigned,
    /// The id of the control POSTed for the captured 0x0D.
    control_id: Option<i64>,
    /// What the capture's long sentence answers carried: the control data.
    control_data: Vec<u8>,
}

impl Replay {
    async fn start(dir: &std::path::Path, frames: &[Captured]) -> Replay {
        let server = start(dir, |c| {
            c.api_key = Some(API_KEY.to_owned());
            c.trace_gmmp = false;
        })
        .await;
        Replay {
            server,
            http: reqwest::Client::new(),
            captured: Assigned::from_capture(frames),
            live: Assigned::default(),
            control_id: None,
            control_data: captured_control_data(frames),
        }
    }

    fn gw_id(&self) -> String {
        capture::text(&self.live.gw_id.expect("the GW registered"))
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://{}{path}", self.server.http_addr);
        let mut request = self.http.request(method, url).bearer_auth(API_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = tokio::time::timeout(GUARD, request.send())
            .await
            .expect("an HTTP answer in time")
            .expect("HTTP works");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Replays `frames`: one TCP connection per captured connection.
    async fn run(&mut self, frames: &[Captured]) {
        let mut i = 0;
        while i < frames.len() {
            let connection = frames[i].connection;
            let end = frames[i..]
                .iter()
                .position(|f| f.connection != connection)
                .map_or(frames.len(), |n| i + n);
            let mut stream = TcpStream::connect(self.server.addr).await.unwrap();
            for f in &frames[i..end] {
                match (f.direction, f.message_type()) {
                    (Direction::ToOmp, _) => self.request(&mut stream, &f.bytes).await,
                    (Direction::ToGateway, 0x0D) => self.pushed_control(&mut stream, f).await,
                    // Answers are read after their request.
                    (Direction::ToGateway, _) => {}
                }
            }
            // The library closes its socket (Always-Off) or its user does.
            drop(stream);
            i = end;
        }
    }

    /// Sends one captured request and reads the answers the library waits for.
    async fn request(&mut self, stream: &mut TcpStream, captured: &[u8]) {
        let request = capture::substitute(captured, &self.captured, &self.live);
        stream.write_all(&request).await.unwrap();
        match request[3] {
            // GO_Control only sends: a control response has no answer.
            0x0E => {}
            0x11 => {
                let data = self.long_sentence(stream, &request).await;
                assert_eq!(
                    data,
                    self.control_data,
                    "the long sentence (T-ID {}) carries the control's data",
                    capture::tid(&request)
                );
            }
            _ => {
                let answer = read_frame(stream).await;
                library::check_answer(&answer, Some(&request), self.answer_gw_id(&answer));
                self.live.learn(&answer);
            }
        }
    }

    /// The GW ID an answer must carry: the live one, or, for the GW
    /// registration answer that assigns it, its own.
    fn answer_gw_id(&self, answer: &[u8]) -> [u8; 16] {
        match self.live.gw_id {
            Some(id) if answer[3] != 0x02 => id,
            _ => capture::gw_id(answer),
        }
    }

    /// Reads the parts of a long sentence answer; returns their payloads joined.
    async fn long_sentence(&mut self, stream: &mut TcpStream, request: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        loop {
            let answer = read_frame(stream).await;
            assert_eq!(answer[3], 0x12, "a long sentence answer");
            library::check_answer(&answer, Some(request), self.answer_gw_id(&answer));
            data.extend_from_slice(library::long_sentence_payload(&answer));
            let (current, total) = capture::counts(&answer);
            if current == total {
                return data;
            }
        }
    }

    /// POSTs the control the capture shows pushed, reads the live push.
    async fn pushed_control(&mut self, stream: &mut TcpStream, captured: &Captured) {
        let control_type = captured.bytes[HEADER_LEN + 42];
        let device_id = capture::text(&self.live.device_id.expect("a device registered"));
        let body = json!({
            "control_type": control_type,
            "device_id": device_id,
            "data": STANDARD.encode(&self.control_data),
        });
        let path = format!("/api/v1/gateways/{}/controls", self.gw_id());
        let posted = self.api(reqwest::Method::POST, &path, Some(body)).await;
        self.control_id = posted["id"].as_i64();
        let push = read_frame(stream).await;
        assert_eq!(push[3], 0x0D, "the control is pushed");
        let body = library::check_answer(&push, None, self.live.gw_id.unwrap());
        assert_eq!(body[42], control_type, "0x0D control type");
        assert_eq!(capture::text(&body[26..42]), device_id, "0x0D device ID");
        let tid = capture::tid(&push);
        assert!(tid >= 100_000, "an OMP T-ID, outside the GW's 0..=99999");
        assert_eq!(
            u64::from(tid),
            posted["tid"].as_u64().unwrap(),
            "the T-ID the API reports"
        );
        if self.control_data.len() > 2048 {
            assert_eq!(
                body.len(),
                43,
                "data over 2048 bytes is left to long sentence"
            );
        }
        self.live.learn(&push);
    }

    /// Asserts the deliveries stored are exactly the captured ones, byte-exact.
    async fn assert_stored(&self, frames: &[Captured]) {
        let path = format!("/api/v1/gateways/{}/deliveries?limit=100", self.gw_id());
        let page = self.api(reqwest::Method::GET, &path, None).await;
        let mut stored: Vec<Value> = page["items"].as_array().unwrap().clone();
        stored.reverse();
        let expected = capture::deliveries(frames);
        let summary = |v: &[Value]| -> Vec<(usize, Value)> {
            v.iter()
                .map(|d| {
                    (
                        d["content_length"].as_u64().unwrap() as usize,
                        d["tid"].clone(),
                    )
                })
                .collect()
        };
        assert_eq!(
            stored.len(),
            expected.len(),
            "one row per delivery (length, T-ID): stored {:?}, sent {:?}",
            summary(&stored),
            expected
                .iter()
                .map(|(p, _, tid)| (p.len(), tid))
                .collect::<Vec<_>>()
        );
        for (row, (payload, device, tid)) in stored.iter().zip(&expected) {
            let content = STANDARD.decode(row["content"].as_str().unwrap()).unwrap();
            assert!(
                content == *payload,
                "delivery T-ID {tid}: {} bytes stored, {} sent, byte-exact",
                content.len(),
                payload.len()
            );
            let live_device = match capture::text(device).as_str() {
                "" => Value::Null,
                _ => json!(capture::text(&self.live.device_id.unwrap())),
            };
            assert_eq!(row["device_id"], live_device, "delivery T-ID {tid}: device");
            assert_eq!(row["tid"], json!(tid), "the T-ID of the first part");
        }
        let path = format!("/api/v1/gateways/{}/deliveries/incomplete", self.gw_id());
        let incomplete = self.api(reqwest::Method::GET, &path, None).await;
        assert_eq!(incomplete["items"], json!([]), "no split left incomplete");
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

/// Reads one frame as the library does: the 50-byte header, then
/// `message_length − 50` bytes.
async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut frame = vec![0u8; HEADER_LEN];
    tokio::time::timeout(GUARD, stream.read_exact(&mut frame))
        .await
        .expect("an answer in time (the library would wait forever)")
        .expect("a whole header");
    let length = usize::from(u16::from_be_bytes([frame[1], frame[2]]));
    assert!(length >= HEADER_LEN, "message_length {length}");
    frame.resize(length, 0);
    tokio::time::timeout(GUARD, stream.read_exact(&mut frame[HEADER_LEN..]))
        .await
        .expect("the body in time")
        .expect("a whole body");
    frame
}

/// The control data: what the capture's last long sentence answers carried.
fn captured_control_data(frames: &[Captured]) -> Vec<u8> {
    let Some(last_request) = frames
        .iter()
        .rposition(|f| f.direction == Direction::ToOmp && f.message_type() == 0x11)
    else {
        return Vec::new();
    };
    frames[last_request..]
        .iter()
        .filter(|f| f.direction == Direction::ToGateway && f.message_type() == 0x12)
        .flat_map(|f| library::long_sentence_payload(&f.bytes).iter().copied())
        .collect()
}

/// The frames before the `nth` (from 0) request of `message_type`.
fn before(frames: &[Captured], message_type: u8, nth: usize) -> &[Captured] {
    let at = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.direction == Direction::ToOmp && f.message_type() == message_type)
        .nth(nth)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("request {nth} of type 0x{message_type:02x}"));
    &frames[..at]
}

fn requests(frames: &[Captured]) -> Vec<&Captured> {
    frames
        .iter()
        .filter(|f| f.direction == Direction::ToOmp)
        .collect()
}

#[test]
fn captured_requests_carry_the_library_header_bytes() {
    let on = capture::load(ALWAYS_ON);
    let off = capture::load(ALWAYS_OFF);
    for f in requests(&on).into_iter().chain(requests(&off)) {
        let what = format!(
            "request 0x{:02x} T-ID {}",
            f.message_type(),
            capture::tid(&f.bytes)
        );
        assert_eq!(f.bytes[0], 0x21, "{what}: version");
        assert_eq!(
            f.bytes[48], 0x02,
            "{what}: encryption flag 0x02 (GMMP_ENCRYPTION_NOT)"
        );
        assert_eq!(f.bytes[49], 0x00, "{what}: reserved");
        let timestamp = u32::from_be_bytes(f.bytes[4..8].try_into().unwrap());
        assert!(
            timestamp > 1_600_000_000,
            "{what}: origin_timestamp is time(NULL)"
        );
    }
}

/// GO_Reg, GO_Profile (T-ID argument 0) and GO_Delivery add one to the
/// library's T-ID; GO_HB, GO_LSentence and GO_Notifi leave it; GO_Control
/// sets the 0x0D's.
#[test]
fn captured_tids_follow_the_library_calls() {
    let on = capture::load(ALWAYS_ON);
    let sent = requests(&on);
    let tid = |t: u8, nth: usize| {
        capture::tid(
            &sent
                .iter()
                .filter(|f| f.message_type() == t)
                .nth(nth)
                .unwrap()
                .bytes,
        )
    };
    assert_eq!(
        tid(0x01, 0),
        1,
        "Initializaion sets T-ID 0, GO_Reg adds one"
    );
    assert_eq!(tid(0x05, 0), 2);
    assert_eq!(tid(0x07, 0), 3);
    assert_eq!(tid(0x0F, 0), 3, "GO_HB leaves the T-ID");
    let deliveries: Vec<u32> = (0..4).map(|n| tid(0x0B, n)).collect();
    assert_eq!(
        deliveries,
        [4, 5, 6, 7],
        "GO_Delivery adds one per call, per part too"
    );
    let control = capture::tid(&capture::first(&on, 0x0D).bytes);
    assert_eq!(
        tid(0x11, 0),
        7,
        "GO_LSentence before the 0x0E: the last delivery's T-ID"
    );
    assert_eq!(tid(0x0E, 0), control, "GO_Control takes the 0x0D's T-ID");
    assert_eq!(
        tid(0x11, 1),
        control,
        "GO_LSentence after the 0x0E: the control's"
    );
    assert_eq!(tid(0x17, 0), control, "GO_Notifi: the control's");
}

/// Split deliveries: total_count 3, current_count 1..3, 2048-byte parts
/// but the last, C-string bodies; Always-Off: a connection per operation,
/// except that the library leaves its socket open after a heartbeat answer.
#[test]
fn captured_split_deliveries_and_connections_follow_the_library() {
    let on = capture::load(ALWAYS_ON);
    let off = capture::load(ALWAYS_OFF);
    for frames in [&on, &off] {
        let parts: Vec<(u16, u16, usize)> = requests(frames)
            .iter()
            .filter(|f| f.message_type() == 0x0B && capture::counts(&f.bytes).1 > 1)
            .map(|f| {
                let (current, total) = capture::counts(&f.bytes);
                (current, total, capture::delivery_payload(&f.bytes).len())
            })
            .collect();
        assert_eq!(parts.len(), 3);
        for (n, &(current, total, len)) in parts.iter().enumerate() {
            assert_eq!((current, total), (n as u16 + 1, 3));
            assert!(
                if n < 2 { len == 2048 } else { len < 2048 },
                "part {current}: {len}"
            );
        }
        for f in requests(frames).iter().filter(|f| f.message_type() == 0x0B) {
            assert!(!capture::delivery_payload(&f.bytes).contains(&0));
        }
    }

    let mut connections: Vec<(u32, Vec<u8>)> = Vec::new();
    for f in requests(&off) {
        match connections.last_mut() {
            Some((n, types)) if *n == f.connection => types.push(f.message_type()),
            _ => connections.push((f.connection, vec![f.message_type()])),
        }
    }
    let connections: Vec<Vec<u8>> = connections.into_iter().map(|(_, t)| t).collect();
    for c in &connections {
        let expected = if c[0] == 0x0F { 2 } else { 1 };
        assert_eq!(
            c.len(),
            expected,
            "requests of one Always-Off connection: {c:02x?}"
        );
    }
    assert_eq!(
        connections.iter().filter(|c| c == &&vec![0x0B]).count(),
        3,
        "the 3-part delivery takes 3 connections"
    );
}

#[tokio::test]
async fn the_issued_key_fits_the_library_c_buffer() {
    // The emulation refuses what the library cannot hold: 16 characters
    // leave no NUL in `char g_szAuthKey[16]`.
    let mut header = [0u8; HEADER_LEN];
    header[28..44].copy_from_slice(b"SP0123456789abcd");
    header[47] = 1;
    assert_eq!(library::keep_auth_key(&header), None);
    header[28..44].copy_from_slice(b"SP0123456789abc\0");
    assert_eq!(
        &library::keep_auth_key(&header).unwrap(),
        b"SP0123456789abc\0"
    );

    let frames = capture::load(ALWAYS_ON);
    let dir = tempfile::tempdir().unwrap();
    let replay = Replay::start(dir.path(), &frames).await;
    let mut stream = TcpStream::connect(replay.server.addr).await.unwrap();
    let registration = capture::substitute(
        &capture::first(&frames, 0x01).bytes,
        &replay.captured,
        &replay.live,
    );
    stream.write_all(&registration).await.unwrap();
    let answer = read_frame(&mut stream).await;
    library::check_answer(&answer, Some(&registration), capture::gw_id(&answer));
    let key = capture::text(&capture::auth_key(&answer));
    assert!(key.len() <= 15, "issued key {key:?}: at most 15 characters");
    let kept = library::keep_auth_key(&answer[..HEADER_LEN]).expect("the library keeps the key");
    assert_eq!(capture::text(&kept), key);

    // The next request carries the key as the library copies it back, and
    // is served.
    let mut assigned = Assigned::default();
    assigned.learn(&answer);
    let profile = capture::substitute(
        &capture::first(&frames, 0x05).bytes,
        &replay.captured,
        &assigned,
    );
    let profile = library::with_kept_key(&profile, kept);
    stream.write_all(&profile).await.unwrap();
    let answer = read_frame(&mut stream).await;
    library::check_answer(&answer, Some(&profile), assigned.gw_id.unwrap());
    drop(stream);
    replay.stop().await;
}

#[tokio::test]
async fn registration_profile_device_registration_and_heartbeat() {
    let frames = capture::load(ALWAYS_ON);
    let dir = tempfile::tempdir().unwrap();
    let mut replay = Replay::start(dir.path(), &frames).await;
    replay.run(before(&frames, 0x0B, 0)).await;
    assert!(replay.live.device_id.is_some());
    replay.stop().await;
}

#[tokio::test]
async fn a_single_delivery_is_stored_byte_exact() {
    let frames = capture::load(ALWAYS_ON);
    let dir = tempfile::tempdir().unwrap();
    let mut replay = Replay::start(dir.path(), &frames).await;
    let prefix = before(&frames, 0x0B, 1);
    replay.run(prefix).await;
    replay.assert_stored(prefix).await;
    replay.stop().await;
}

#[tokio::test]
async fn a_three_part_delivery_with_a_tid_per_part_is_stored_once_byte_exact() {
    let frames = capture::load(ALWAYS_ON);
    let dir = tempfile::tempdir().unwrap();
    let mut replay = Replay::start(dir.path(), &frames).await;
    let prefix = before(&frames, 0x11, 0);
    replay.run(prefix).await;
    replay.assert_stored(prefix).await;
    replay.stop().await;
}

#[tokio::test]
async fn a_control_round_trip_with_long_sentences_before_and_after_the_control_response() {
    let frames = capture::load(ALWAYS_ON);
    let dir = tempfile::tempdir().unwrap();
    let mut replay = Replay::start(dir.path(), &frames).await;
    assert!(
        replay.control_data.len() > 2048,
        "the capture's control data"
    );
    replay.run(&frames).await;
    let id = replay.control_id.expect("a control was posted");
    let control = replay
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/controls/{id}"),
            None,
        )
        .await;
    assert_eq!(control["state"], "SUCCESS", "{control}");
    let states: Vec<&str> = control["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["QUEUED", "SENT", "PROGRESS", "SUCCESS"]);
    let notification = capture::first(&frames, 0x17);
    let result = STANDARD
        .decode(control["result"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        result,
        &notification.bytes[HEADER_LEN + 44..],
        "the notification's body"
    );
    replay.assert_stored(&frames).await;
    replay.stop().await;
}

#[tokio::test]
async fn always_off_registers_again_and_splits_a_delivery_over_three_connections() {
    let frames = capture::load(ALWAYS_OFF);
    let dir = tempfile::tempdir().unwrap();
    let mut replay = Replay::start(dir.path(), &frames).await;
    let prefix = before(&frames, 0x09, 0);
    replay.run(prefix).await;
    replay.assert_stored(prefix).await;
    replay.stop().await;
}

#[tokio::test]
async fn device_and_gw_deregistration_end_the_always_off_part() {
    let frames = capture::load(ALWAYS_OFF);
    let dir = tempfile::tempdir().unwrap();
    let mut replay = Replay::start(dir.path(), &frames).await;
    replay.run(&frames).await;
    let gw = replay.gw_id();
    let gateway = replay
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/gateways/{gw}"),
            None,
        )
        .await;
    assert_eq!(gateway["registered"], false, "{gateway}");
    let devices = replay
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/gateways/{gw}/devices"),
            None,
        )
        .await;
    let device = &devices["items"][0];
    assert_eq!(device["registered"], false, "{devices}");
    replay.stop().await;
}
