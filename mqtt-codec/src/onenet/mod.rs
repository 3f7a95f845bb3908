//! OneNET `$dp` payloads: the data points a module publishes to topic
//! `$dp` on OneNET's MQTT access (port 6002), decoded sans-IO.
//!
//! ```text
//! byte 0   bits 0-5 type 1..=7 | bit 7 time follows (types 6, 7) | bit 6 zero
//! 1  full JSON        u16 len, {"datastreams":[{"id","datapoints":[{"at"?,"value"}]}]}
//! 2  binary           u16 len, JSON descriptor {"ds_id","at"?,"desc"?}, u32 len, bytes
//! 3  simple JSON      u16 len, {"stream": value, ...}
//! 4  JSON with time   u16 len, {"stream": {"YYYY-MM-DD hh:mm:ss": value, ...}, ...}
//! 5  text             u16 len, text: char 1 field separator, char 2 item separator,
//!                     then items "stream<f>value" or "stream<f>time<f>value"
//! 6  text with time   [6-byte time], u16 len, text as type 5
//! 7  floats           [6-byte time], u16 count, count × (u16 stream id, f32 LE)
//! ```
//!
//! The 6-byte time is `YY-2000 MM DD hh mm ss` in UTC (the SDK uses
//! `gmtime`); times inside JSON and text are the sender's clock as written
//! (the SDK's type-2 descriptor uses `localtime`). Type 7 has no length
//! field in the SDK, which sends the caller's bytes as they are; the layout
//! decoded is the one of OneNET's EDP decoder. Lengths must match exactly:
//! a payload that does not decode is a [`DpError`], and the server keeps it
//! raw and flagged. Objects keep the order they were sent in.

mod error;
mod json;
mod text;
mod time;

pub use error::DpError;
pub use time::DpTime;

/// The payload type, the low six bits of byte 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DpType {
    /// 1: `{"datastreams":[...]}`.
    FullJson = 1,
    /// 2: a JSON descriptor and binary data.
    Binary = 2,
    /// 3: `{"stream": value}`.
    SimpleJson = 3,
    /// 4: `{"stream": {"time": value}}`.
    SimpleJsonWithTime = 4,
    /// 5: delimited text.
    Text = 5,
    /// 6: delimited text, optionally after a 6-byte time.
    TextWithTime = 6,
    /// 7: numbered float streams, optionally after a 6-byte time.
    Floats = 7,
}

impl DpType {
    fn from_bits(bits: u8) -> Option<Self> {
        use DpType::*;
        Some(match bits {
            1 => FullJson,
            2 => Binary,
            3 => SimpleJson,
            4 => SimpleJsonWithTime,
            5 => Text,
            6 => TextWithTime,
            7 => Floats,
            _ => return None,
        })
    }
}

/// The value of one data point.
#[derive(Debug, Clone, PartialEq)]
pub enum DpValue {
    /// Any JSON value (types 1, 3, 4).
    Json(serde_json::Value),
    /// The text between separators (types 5, 6).
    Text(String),
    /// A 32-bit float (type 7).
    Float(f32),
    /// Binary data (type 2), with the descriptor's optional `desc`.
    Binary {
        /// The bytes.
        data: Vec<u8>,
        /// The descriptor's `desc`, when present.
        desc: Option<serde_json::Value>,
    },
}

/// One data point: a value of a stream, at a time when the payload says.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    /// The stream (datastream id). Type 7 numbers its streams: the number
    /// in decimal.
    pub stream: String,
    /// When the value was taken, if the payload says.
    pub at: Option<DpTime>,
    /// The value.
    pub value: DpValue,
}

/// A decoded `$dp` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct DpPayload {
    /// The payload type.
    pub dp_type: DpType,
    /// The 6-byte time of types 6 and 7, when bit 7 is set.
    pub time: Option<DpTime>,
    /// The data points, in the order sent.
    pub points: Vec<DataPoint>,
}

/// A cursor over the payload, naming the field it was reading when the
/// payload ends early.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DpError> {
        if self.rest.len() < n {
            return Err(DpError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DpError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DpError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A u16-length-prefixed UTF-8 text.
    fn text(&mut self, field: &'static str) -> Result<&'a str, DpError> {
        let len = usize::from(self.u16(field)?);
        let bytes = self.take(len, field)?;
        std::str::from_utf8(bytes).map_err(|_| DpError::InvalidUtf8 { field })
    }

    fn finish(self) -> Result<(), DpError> {
        match self.rest.len() {
            0 => Ok(()),
            extra => Err(DpError::TrailingBytes { extra }),
        }
    }
}

/// Decodes a `$dp` payload into data points.
pub fn decode_dp(payload: &[u8]) -> Result<DpPayload, DpError> {
    let (&byte0, rest) = payload.split_first().ok_or(DpError::Empty)?;
    let dp_type = DpType::from_bits(byte0 & 0x3f).ok_or(DpError::UnknownType { byte: byte0 })?;
    let time_flag = byte0 & 0x80 != 0;
    let timed = matches!(dp_type, DpType::TextWithTime | DpType::Floats);
    if byte0 & 0x40 != 0 || (time_flag && !timed) {
        return Err(DpError::ReservedFlags { byte: byte0 });
    }
    let mut c = Cursor { rest };
    let time = if time_flag {
        Some(DpTime::from_bytes(c.take(6, "time")?)?)
    } else {
        None
    };
    let points = match dp_type {
        DpType::FullJson => json::full(c.text("JSON")?)?,
        DpType::Binary => {
            let desc = c.text("descriptor")?;
            let len = c.u32("binary length")? as usize;
            json::binary(desc, c.take(len, "binary data")?)?
        }
        DpType::SimpleJson => json::simple(c.text("JSON")?)?,
        DpType::SimpleJsonWithTime => json::with_time(c.text("JSON")?)?,
        DpType::Text | DpType::TextWithTime => text::items(c.text("text")?, time)?,
        DpType::Floats => {
            let count = c.u16("float count")?;
            let mut points = Vec::with_capacity(usize::from(count).min(c.rest.len() / 6));
            for _ in 0..count {
                let id = c.u16("float stream id")?;
                let v = c.take(4, "float value")?;
                points.push(DataPoint {
                    stream: id.to_string(),
                    at: time,
                    value: DpValue::Float(f32::from_le_bytes([v[0], v[1], v[2], v[3]])),
                });
            }
            points
        }
    };
    c.finish()?;
    Ok(DpPayload {
        dp_type,
        time,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_type_3() {
        let payload = [
            &[0x03][..],   // type 3
            &[0x00, 0x1b], // 27 bytes
            "{\"test\":\"hello，world！\"}".as_bytes(),
        ]
        .concat();
        let dp = decode_dp(&payload).unwrap();
        assert_eq!(dp.dp_type, DpType::SimpleJson);
        assert_eq!(
            dp.points,
            vec![DataPoint {
                stream: "test".into(),
                at: None,
                value: DpValue::Json("hello，world！".into()),
            }]
        );
    }

    #[test]
    fn type_7_with_time() {
        let payload = [
            0x87, // type 7, time follows
            0x10, 0x0b, 0x16, 0x0e, 0x1f, 0x0c, // 2016-11-22 14:31:12 UTC
            0x00, 0x02, // two floats
            0x00, 0x01, 0x00, 0x00, 0x08, 0x42, // stream 1 = 34.0
            0x00, 0x02, 0x66, 0x66, 0xa2, 0xc1, // stream 2 = -20.3
        ];
        let dp = decode_dp(&payload).unwrap();
        let t = dp.time.unwrap();
        assert_eq!(t.to_string(), "2016-11-22 14:31:12Z");
        let values: Vec<_> = dp
            .points
            .iter()
            .map(|p| (p.stream.as_str(), &p.value))
            .collect();
        assert_eq!(
            values,
            [("1", &DpValue::Float(34.0)), ("2", &DpValue::Float(-20.3))]
        );
        assert!(dp.points.iter().all(|p| p.at == Some(t)));
    }

    #[test]
    fn refusals() {
        assert!(matches!(decode_dp(&[]), Err(DpError::Empty)));
        assert!(matches!(
            decode_dp(&[0x08]),
            Err(DpError::UnknownType { byte: 8 })
        ));
        assert!(matches!(
            decode_dp(&[0x00]),
            Err(DpError::UnknownType { byte: 0 })
        ));
        assert!(matches!(
            decode_dp(&[0x83, 0, 0]),
            Err(DpError::ReservedFlags { .. })
        ));
        assert!(matches!(
            decode_dp(&[0x47, 0, 0]),
            Err(DpError::ReservedFlags { .. })
        ));
        assert!(matches!(
            decode_dp(&[0x03, 0x00, 0x05, b'{', b'}']),
            Err(DpError::Truncated { field: "JSON" })
        ));
        assert!(matches!(
            decode_dp(&[0x03, 0x00, 0x02, b'{', b'}', 0]),
            Err(DpError::TrailingBytes { extra: 1 })
        ));
        assert!(matches!(
            decode_dp(&[0x07, 0x00, 0x01, 0x00, 0x01, 0x00]),
            Err(DpError::Truncated {
                field: "float value"
            })
        ));
        assert!(matches!(
            decode_dp(&[0x87, 0x10]),
            Err(DpError::Truncated { field: "time" })
        ));
    }
}
