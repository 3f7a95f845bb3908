//! The frames captured from SK Telecom's GMMP client library (the `.hex`
//! files beside this one, format in `README.md`), and how a replay turns
//! the library's requests into requests of a fresh server: the values the
//! captured server assigned (auth key, GW ID, device ID, the control's
//! T-ID) are swapped for the ones the live server assigns, and every
//! origin_timestamp is set to now, as the library sets `time(NULL)`.
//!
//! Header offsets used here (docs/gmmp.md §2, the library's `GMMPHeader`):
//!
//! ```text
//!  0  version · 1 message_length(2) · 3 message_type · 4 origin_timestamp(4)
//!  8 total_count(2) · 10 current_count(2) · 12 auth_id(16) · 28 auth_key(16)
//! 44 tid(4) · 48 encryption_flag · 49 reserved · 50 body: domain_code(10),
//! 60 gw_id(16), 76 device_id(16) in the bodies that carry one
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

/// The library's `sizeof(GMMPHeader)`.
pub const HEADER_LEN: usize = 50;
const AUTH_KEY: std::ops::Range<usize> = 28..44;
const TID: std::ops::Range<usize> = 44..48;
const TIMESTAMP: std::ops::Range<usize> = 4..8;
const GW_ID: std::ops::Range<usize> = 60..76;
const DEVICE_ID: std::ops::Range<usize> = 76..92;

/// Message types whose request body has the device ID at offset 26
/// (profile, device deregistration, delivery, control response, long
/// sentence, notification). A device registration has the manufacture ID
/// there instead.
const REQUESTS_WITH_DEVICE_ID: [u8; 6] = [0x05, 0x09, 0x0B, 0x0E, 0x11, 0x17];

/// Which way a captured frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the library.
    ToOmp,
    /// Answered or pushed by the server.
    ToGateway,
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The capture's connection number (one TCP connection each).
    pub connection: u32,
    pub direction: Direction,
    pub bytes: Vec<u8>,
}

impl Captured {
    pub fn message_type(&self) -> u8 {
        self.bytes[3]
    }
}

/// Reads `tests/real_client/<name>`: `<connection> <'>'|'<'> <hex>` lines;
/// `#` comments and blank lines skipped.
pub fn load(name: &str) -> Vec<Captured> {
    let path = format!("{}/tests/real_client/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut frames = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [connection, arrow, hex] = fields[..] else {
            panic!(
                "{path}:{}: expected `<connection> <direction> <hex>`",
                n + 1
            )
        };
        let direction = match arrow {
            ">" => Direction::ToOmp,
            "<" => Direction::ToGateway,
            other => panic!("{path}:{}: direction {other:?}", n + 1),
        };
        let bytes = hex::decode(hex).unwrap_or_else(|e| panic!("{path}:{}: {e}", n + 1));
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[1], bytes[2]])),
            bytes.len(),
            "{path}:{}: message_length is the frame's length",
            n + 1
        );
        frames.push(Captured {
            connection: connection.parse().unwrap(),
            direction,
            bytes,
        });
    }
    frames
}

/// The first captured frame of `message_type`.
pub fn first(frames: &[Captured], message_type: u8) -> &Captured {
    frames
        .iter()
        .find(|f| f.message_type() == message_type)
        .unwrap_or_else(|| panic!("no frame of type 0x{message_type:02x} captured"))
}

pub fn tid(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[TID].try_into().unwrap())
}

pub fn counts(frame: &[u8]) -> (u16, u16) {
    (
        u16::from_be_bytes([frame[10], frame[11]]),
        u16::from_be_bytes([frame[8], frame[9]]),
    )
}

pub fn auth_key(frame: &[u8]) -> [u8; 16] {
    frame[AUTH_KEY].try_into().unwrap()
}

pub fn gw_id(frame: &[u8]) -> [u8; 16] {
    frame[GW_ID].try_into().unwrap()
}

pub fn device_id(frame: &[u8]) -> [u8; 16] {
    frame[DEVICE_ID].try_into().unwrap()
}

/// A fixed field as text, trailing NULs cut.
pub fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// What one server assigned, as seen in its answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assigned {
    pub auth_key: Option<[u8; 16]>,
    pub gw_id: Option<[u8; 16]>,
    pub device_id: Option<[u8; 16]>,
    /// The T-ID of the pushed control request (0x0D).
    pub control_tid: Option<u32>,
}

impl Assigned {
    /// Takes what an answer or push of the server assigns.
    pub fn learn(&mut self, answer: &[u8]) {
        match answer[3] {
            0x02 => {
                self.auth_key = Some(auth_key(answer));
                self.gw_id = Some(gw_id(answer));
            }
            0x08 => self.device_id = Some(device_id(answer)),
            0x0D => self.control_tid = Some(tid(answer)),
            _ => {}
        }
    }

    /// Everything the captured server assigned, read from the capture.
    pub fn from_capture(frames: &[Captured]) -> Assigned {
        let mut assigned = Assigned::default();
        for f in frames
            .iter()
            .filter(|f| f.direction == Direction::ToGateway)
        {
            assigned.learn(&f.bytes);
        }
        assigned
    }
}

pub fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    u32::try_from(secs).unwrap()
}

/// The captured request `frame` as the library would send it to the live
/// server: each value the captured server assigned (where the request
/// carries it) swapped for the live one, origin_timestamp now.
pub fn substitute(frame: &[u8], captured: &Assigned, live: &Assigned) -> Vec<u8> {
    let mut out = frame.to_vec();
    out[TIMESTAMP].copy_from_slice(&unix_now().to_be_bytes());
    swap(&mut out, AUTH_KEY, captured.auth_key, live.auth_key);
    if out[3] != 0x01 {
        swap(&mut out, GW_ID, captured.gw_id, live.gw_id);
    }
    if REQUESTS_WITH_DEVICE_ID.contains(&out[3]) {
        swap(&mut out, DEVICE_ID, captured.device_id, live.device_id);
    }
    if let (Some(was), Some(now)) = (captured.control_tid, live.control_tid)
        && tid(&out) == was
    {
        out[TID].copy_from_slice(&now.to_be_bytes());
    }
    out
}

fn swap(
    frame: &mut [u8],
    at: std::ops::Range<usize>,
    was: Option<[u8; 16]>,
    now: Option<[u8; 16]>,
) {
    if let (Some(was), Some(now)) = (was, now)
        && frame[at.clone()] == was
    {
        frame[at].copy_from_slice(&now);
    }
}

/// The payload of a delivery request (0x0B): after the 44 fixed body bytes.
pub fn delivery_payload(frame: &[u8]) -> &[u8] {
    &frame[HEADER_LEN + 44..]
}

/// The deliveries the capture holds, each as the server must store it: a
/// single part as it is, a split one as its parts joined in current_count
/// order; with the device ID field and the T-ID of its (first) part.
pub fn deliveries(frames: &[Captured]) -> Vec<(Vec<u8>, [u8; 16], u32)> {
    let mut out: Vec<(Vec<u8>, [u8; 16], u32)> = Vec::new();
    for f in frames
        .iter()
        .filter(|f| f.direction == Direction::ToOmp && f.message_type() == 0x0B)
    {
        let (current, _) = counts(&f.bytes);
        let payload = delivery_payload(&f.bytes);
        if current <= 1 {
            out.push((payload.to_vec(), device_id(&f.bytes), tid(&f.bytes)));
        } else {
            out.last_mut().unwrap().0.extend_from_slice(payload);
        }
    }
    out
}
