//! Opaque page cursors: `base64url("<kind>:<key>")`, where the key is the
//! last item's sort key (an id or a text ID). Tagging the kind makes a
//! cursor of one list a 400 on another instead of a silently wrong page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::ApiError;

/// Which list a cursor pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// Provisioning, by auth ID.
    Provisioning,
    /// Gateways, by GW ID.
    Gateways,
    /// Deliveries, by id, newest first.
    Deliveries,
    /// Controls, by id, newest first.
    Controls,
    /// MQTT devices, by client id.
    MqttDevices,
    /// MQTT messages, by id, newest first.
    MqttMessages,
    /// MQTT data points, by id, newest first.
    MqttDataPoints,
    /// Commands to one MQTT client, by id, newest first.
    MqttControls,
}

impl CursorKind {
    fn tag(self) -> &'static str {
        match self {
            CursorKind::Provisioning => "p",
            CursorKind::Gateways => "g",
            CursorKind::Deliveries => "d",
            CursorKind::Controls => "c",
            CursorKind::MqttDevices => "md",
            CursorKind::MqttMessages => "mm",
            CursorKind::MqttDataPoints => "mp",
            CursorKind::MqttControls => "mc",
        }
    }
}

/// The cursor after an item whose sort key is `key`.
pub fn encode(kind: CursorKind, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{key}", kind.tag()))
}

fn bad() -> ApiError {
    ApiError::bad_request("cursor", "not a cursor this list gave out")
}

/// The text key of a cursor of `kind`.
pub fn decode(kind: CursorKind, cursor: &str) -> Result<String, ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let key = text
        .strip_prefix(kind.tag())
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(bad)?;
    if key.is_empty() {
        return Err(bad());
    }
    Ok(key.to_owned())
}

/// The id key of a cursor of `kind` (deliveries, controls).
pub fn decode_id(kind: CursorKind, cursor: &str) -> Result<i64, ApiError> {
    decode(kind, cursor)?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(bad)
}

/// Trims a `limit + 1` fetch to `limit` and answers the next cursor when
/// there was more.
pub fn page_end<T>(
    rows: &mut Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_others() {
        let c = encode(CursorKind::Deliveries, "42");
        assert_eq!(decode_id(CursorKind::Deliveries, &c).unwrap(), 42);
        assert!(decode_id(CursorKind::Controls, &c).is_err());
        let g = encode(CursorKind::Gateways, "SC10010254");
        assert_eq!(decode(CursorKind::Gateways, &g).unwrap(), "SC10010254");
        assert!(decode_id(CursorKind::Gateways, &g).is_err());
        for junk in ["", "!!", "' OR 1=1 --", "ZDo", "ZDotMQ"] {
            assert!(decode_id(CursorKind::Deliveries, junk).is_err(), "{junk}");
        }
    }
}
