//! Why a `$dp` payload did not decode.

/// Why a `$dp` payload is not a valid OneNET data-point upload. The server
/// keeps such a payload raw and flagged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpError {
    /// No byte at all.
    #[error("empty $dp payload")]
    Empty,
    /// Byte 0 names no type 1..=7.
    #[error("$dp type byte 0x{byte:02x} names no type 1..=7")]
    UnknownType {
        /// Byte 0.
        byte: u8,
    },
    /// Bit 6 set, or the time bit on a type without a time.
    #[error("$dp type byte 0x{byte:02x} has flags its type does not allow")]
    ReservedFlags {
        /// Byte 0.
        byte: u8,
    },
    /// The payload ends inside a field.
    #[error("$dp payload ends inside {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes after the last field.
    #[error("$dp payload has {extra} bytes after its last field")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A text field is not UTF-8.
    #[error("$dp {field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A JSON field does not parse.
    #[error("$dp {field} is not JSON: {reason}")]
    InvalidJson {
        /// The field.
        field: &'static str,
        /// serde_json's message.
        reason: String,
    },
    /// JSON that parses but has not the shape its type requires.
    #[error("$dp JSON: {what}")]
    UnexpectedJson {
        /// What was expected.
        what: &'static str,
    },
    /// A time that is not `YYYY-MM-DD hh:mm:ss`, or out of range.
    #[error("$dp time {text:?} is not a valid YYYY-MM-DD hh:mm:ss")]
    InvalidTime {
        /// The time as received (hex for the 6-byte form).
        text: String,
    },
    /// A type 5/6 text without separators, or an item that is not
    /// `stream,value` or `stream,time,value`.
    #[error("$dp text item {item:?} is not stream,value or stream,time,value")]
    InvalidItem {
        /// The item (or the whole text when the separators are missing).
        item: String,
    },
}
