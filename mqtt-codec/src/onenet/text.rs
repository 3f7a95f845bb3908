//! The delimited text of types 5 and 6: the first character is the field
//! separator, the second the item separator, then items
//! `stream<f>value` or `stream<f>YYYY-MM-DD hh:mm:ss<f>value`.
//! `,;temperature,20;humidity,30` is two points. An empty item (a trailing
//! separator) is skipped.

use super::{DataPoint, DpError, DpTime, DpValue};

/// The points of `text`; `time` (the 6-byte time of type 6) applies to
/// items that carry none.
pub(super) fn items(text: &str, time: Option<DpTime>) -> Result<Vec<DataPoint>, DpError> {
    let mut chars = text.chars();
    let (Some(field_sep), Some(item_sep)) = (chars.next(), chars.next()) else {
        return Err(DpError::InvalidItem {
            item: text.to_owned(),
        });
    };
    let body = chars.as_str();
    let mut points = Vec::new();
    for item in body.split(item_sep).filter(|i| !i.is_empty()) {
        let fields: Vec<&str> = item.split(field_sep).collect();
        let bad = || DpError::InvalidItem {
            item: item.to_owned(),
        };
        let (stream, at, value) = match fields[..] {
            [stream, value] => (stream, time, value),
            [stream, at, value] => (stream, Some(DpTime::parse(at)?), value),
            _ => return Err(bad()),
        };
        if stream.is_empty() {
            return Err(bad());
        }
        points.push(DataPoint {
            stream: stream.to_owned(),
            at,
            value: DpValue::Text(value.to_owned()),
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, Option<String>, String)> {
        items(text, None)
            .unwrap()
            .into_iter()
            .map(|p| {
                let DpValue::Text(v) = p.value else { panic!() };
                (p.stream, p.at.map(|t| t.to_string()), v)
            })
            .collect()
    }

    #[test]
    fn the_sdk_forms() {
        assert_eq!(
            pairs(",;temperature,20;humidity,30"),
            [
                ("temperature".into(), None, "20".into()),
                ("humidity".into(), None, "30".into())
            ]
        );
        assert_eq!(
            pairs(",;temperature,2015-03-22 22:31:12,22.5;"),
            [(
                "temperature".into(),
                Some("2015-03-22 22:31:12".into()),
                "22.5".into()
            )]
        );
        // Any separators, multi-byte ones included.
        assert_eq!(pairs("|，a|1，b|2").len(), 2);
    }

    #[test]
    fn refusals() {
        for bad in [",", ",;temperature", ",;a,b,c,d", ",;,5"] {
            assert!(
                matches!(items(bad, None), Err(DpError::InvalidItem { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            items(",;t,nope,1", None),
            Err(DpError::InvalidTime { .. })
        ));
    }
}
