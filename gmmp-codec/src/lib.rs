//! GMMP v2.1 — SK Telecom's binary TCP protocol between M2M gateways and the
//! OMP platform (ThingPlug) — as typed Rust, framed for tokio.
//!
//! Every message of the wire reference (`docs/gmmp.md`) is a named
//! struct, gathered in [`Message`] by [`MessageType`]; a [`Frame`] is a
//! [`Header`] plus a message; [`GmmpCodec`] frames a byte stream for
//! `tokio_util::codec::Framed`. Decoding is zero-copy for payloads and
//! never panics: any input gives a frame or a [`CodecError`].
//!
//! ```
//! use bytes::BytesMut;
//! use gmmp_codec::{Frame, GmmpCodec, Header, HeartbeatRequest, FixedStr};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let header = Header::new(
//!     FixedStr::new("auth_id", "0008dc1e3222")?,
//!     FixedStr::new("auth_key", "SP10033827key")?,
//!     55,
//! );
//! let hb = HeartbeatRequest {
//!     domain_code: FixedStr::new("domain_code", "ThingPlug")?,
//!     gw_id: FixedStr::new("gw_id", "SC10010254")?,
//! };
//! let mut buf = BytesMut::new();
//! GmmpCodec.encode(Frame::new(header, hb), &mut buf)?;
//! assert_eq!(buf.len(), 76);
//! let frame = GmmpCodec.decode(&mut buf)?.expect("a whole frame");
//! assert_eq!(frame.header.tid, 55);
//! # Ok::<(), gmmp_codec::CodecError>(())
//! ```
//!
//! # Layout
//!
//! - [`error`]: [`CodecError`], the one error type, carrying the offending values.
//! - [`fixed_str`]: [`FixedStr`], the fixed-width zero-padded string fields.
//! - [`codes`]: named result codes, report types and control types.
//! - [`control_payload`]: [`ControlPayload`], the typed payloads of the
//!   control types whose layout the reference gives.
//! - [`header`]: the 50-byte [`Header`] and the size limits.
//! - [`message`]: one file per message family, the [`Body`] trait, and the
//!   [`Message`] / [`MessageType`] enums.
//! - [`frame`]: [`Frame`] — header + message to and from bytes.
//! - [`codec`]: [`GmmpCodec`] for `tokio_util::codec`.
//! - [`reassembly`]: [`split`] payloads over 2048 bytes, and the
//!   [`SplitTracker`] that matches parts to their split (either T-ID form)
//!   within limits.
//! - [`tid`]: the T-ID ranges of the GW's and the OMP's requests.
//! - [`trace`]: WizFi310-style multi-line trace of a frame.
//!
//! The binary `gmmp-decode` (src/bin) prints the trace of hex frames.

#![warn(missing_docs, unreachable_pub)]

pub mod codec;
pub mod codes;
pub mod control_payload;
pub mod error;
pub mod fixed_str;
pub mod frame;
pub mod header;
pub mod message;
pub mod reassembly;
pub mod tid;
pub mod trace;

pub use codec::GmmpCodec;
pub use codes::{ControlType, ReportType, ResultCode};
pub use control_payload::ControlPayload;
pub use error::CodecError;
pub use fixed_str::{
    AuthId, AuthKey, DeviceId, DomainCode, FixedStr, GwId, MAX_CLIENT_AUTH_KEY_LEN, ManufactureId,
};
pub use frame::Frame;
pub use header::{HEADER_LEN, Header, KEYED_DELIVERY, MAX_FRAME_LEN, MAX_PAYLOAD_LEN, VERSION};
pub use message::*;
pub use reassembly::{
    OpenSplit, Part, PartDecision, PartRefusal, SplitLimits, SplitTracker, split,
};
pub use tid::{FIRST_OMP_TID, GW_TIDS, OMP_TIDS};
pub use trace::{Trace, escape_bytes};
