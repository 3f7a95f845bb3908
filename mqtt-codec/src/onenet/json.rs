//! The JSON payload types 1–4. Objects are read in the order sent (the
//! workspace's `serde_json::Value` sorts keys), so data points come out in
//! the order the device wrote them.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::{DataPoint, DpError, DpTime, DpValue};

/// A JSON object as its (key, value) pairs in order, duplicates kept.
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Pairs<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Ordered(pairs))
            }
        }
        d.deserialize_map(Pairs(PhantomData))
    }
}

fn parse<'a, T: Deserialize<'a>>(field: &'static str, text: &'a str) -> Result<T, DpError> {
    serde_json::from_str(text).map_err(|e| DpError::InvalidJson {
        field,
        reason: e.to_string(),
    })
}

fn shape(what: &'static str) -> DpError {
    DpError::UnexpectedJson { what }
}

fn time_of(v: Option<&Value>) -> Result<Option<DpTime>, DpError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => DpTime::parse(s).map(Some),
        Some(_) => Err(shape("\"at\" is not a string")),
    }
}

/// Type 1: `{"datastreams":[{"id":…, "datapoints":[{"at"?:…, "value":…}]}]}`.
pub(super) fn full(text: &str) -> Result<Vec<DataPoint>, DpError> {
    let doc: Value = parse("JSON", text)?;
    let streams = doc
        .get("datastreams")
        .and_then(Value::as_array)
        .ok_or(shape("type 1 needs a \"datastreams\" array"))?;
    let mut points = Vec::new();
    for s in streams {
        let id = s
            .get("id")
            .and_then(Value::as_str)
            .ok_or(shape("a datastream needs a string \"id\""))?;
        let dps = s
            .get("datapoints")
            .and_then(Value::as_array)
            .ok_or(shape("a datastream needs a \"datapoints\" array"))?;
        for dp in dps {
            let value = dp
                .get("value")
                .ok_or(shape("a datapoint needs a \"value\""))?;
            points.push(DataPoint {
                stream: id.to_owned(),
                at: time_of(dp.get("at"))?,
                value: DpValue::Json(value.clone()),
            });
        }
    }
    Ok(points)
}

/// Type 2: the descriptor `{"ds_id":…, "at"?:…, "desc"?:…}` and its bytes.
pub(super) fn binary(desc: &str, data: &[u8]) -> Result<Vec<DataPoint>, DpError> {
    let doc: Value = parse("descriptor", desc)?;
    let stream = doc
        .get("ds_id")
        .and_then(Value::as_str)
        .ok_or(shape("type 2 descriptor needs a string \"ds_id\""))?;
    Ok(vec![DataPoint {
        stream: stream.to_owned(),
        at: time_of(doc.get("at"))?,
        value: DpValue::Binary {
            data: data.to_vec(),
            desc: doc.get("desc").cloned(),
        },
    }])
}

/// Type 3: `{"stream": value, …}`.
pub(super) fn simple(text: &str) -> Result<Vec<DataPoint>, DpError> {
    let Ordered(pairs) = parse::<Ordered<Value>>("JSON", text)?;
    Ok(pairs
        .into_iter()
        .map(|(stream, value)| DataPoint {
            stream,
            at: None,
            value: DpValue::Json(value),
        })
        .collect())
}

/// Type 4: `{"stream": {"YYYY-MM-DD hh:mm:ss": value, …}, …}`.
pub(super) fn with_time(text: &str) -> Result<Vec<DataPoint>, DpError> {
    let Ordered(streams) = parse::<Ordered<Ordered<Value>>>("JSON", text)?;
    let mut points = Vec::new();
    for (stream, Ordered(values)) in streams {
        for (at, value) in values {
            points.push(DataPoint {
                stream: stream.clone(),
                at: Some(DpTime::parse(&at)?),
                value: DpValue::Json(value),
            });
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_is_kept() {
        let points = simple(r#"{"z":1,"a":"x","m":{"k":true}}"#).unwrap();
        let got: Vec<_> = points.iter().map(|p| p.stream.as_str()).collect();
        assert_eq!(got, ["z", "a", "m"]);
        assert_eq!(points[2].value, DpValue::Json(json!({"k": true})));
    }

    #[test]
    fn shapes() {
        assert!(matches!(simple("[1]"), Err(DpError::InvalidJson { .. })));
        assert!(matches!(
            simple("{\"a\":"),
            Err(DpError::InvalidJson { .. })
        ));
        assert!(matches!(full("{}"), Err(DpError::UnexpectedJson { .. })));
        assert!(matches!(
            full(r#"{"datastreams":[{"id":"t","datapoints":[{"at":"x","value":1}]}]}"#),
            Err(DpError::InvalidTime { .. })
        ));
        assert!(matches!(
            with_time(r#"{"t":5}"#),
            Err(DpError::InvalidJson { .. })
        ));
        assert!(matches!(
            binary(r#"{"desc":"x"}"#, &[]),
            Err(DpError::UnexpectedJson { .. })
        ));
    }

    #[test]
    fn type_4_times() {
        let points = with_time(r#"{"temperature":{"2015-03-22 22:31:12":22.5}}"#).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].at.unwrap().to_string(), "2015-03-22 22:31:12");
        assert_eq!(points[0].value, DpValue::Json(json!(22.5)));
    }
}
