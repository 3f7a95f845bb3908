//! The `$dp` decoder against the bytes OneNET's own SDK produces for every
//! payload type (`tests/vectors/onenet-dp-vectors.json`, with what each
//! vector decodes to), plus the examples of the module guides and
//! malformed variants of them.

mod common;

use mqtt_codec::onenet::{DpError, DpType, DpValue, decode_dp};
use serde_json::{Value, json};

fn vectors() -> Vec<Value> {
    let path = common::vectors_dir().join("onenet-dp-vectors.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

/// (stream, at, value) of every point, values as JSON.
fn points(payload: &[u8]) -> Vec<(String, Option<String>, Value)> {
    decode_dp(payload)
        .unwrap()
        .points
        .into_iter()
        .map(|p| {
            let value = match p.value {
                DpValue::Json(v) => v,
                DpValue::Text(t) => json!(t),
                DpValue::Float(f) => json!(f),
                DpValue::Binary { data, desc } => json!({"bin": hex::encode(data), "desc": desc}),
            };
            (p.stream, p.at.map(|t| t.to_string()), value)
        })
        .collect()
}

#[test]
fn every_sdk_vector_decodes_as_listed() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 9);
    for v in &vectors {
        let step = v["step"].as_str().unwrap();
        let payload = common::unhex(v["payload_hex"].as_str().unwrap());
        let d = &v["decoded"];
        assert_eq!(d["errors"], json!([]), "{step}");
        let dp = decode_dp(&payload).unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_eq!(dp.dp_type as u64, v["type"].as_u64().unwrap(), "{step}");
        assert_eq!(
            dp.time.is_some(),
            v["time_flag"].as_bool().unwrap(),
            "{step}"
        );
        if let Some(t) = d.get("time") {
            assert_eq!(
                dp.time.unwrap().to_string(),
                format!("{}Z", t["text"].as_str().unwrap())
            );
        }
        let got = points(&payload);
        let at = |s: &str| Some(s.to_owned());
        let want: Vec<(String, Option<String>, Value)> = match dp.dp_type {
            DpType::FullJson => {
                vec![("temperature".into(), at("2016-12-22 22:22:22"), json!(36.5))]
            }
            DpType::Binary => vec![(
                d["desc_json"]["ds_id"].as_str().unwrap().into(),
                at(d["desc_json"]["at"].as_str().unwrap()),
                json!({"bin": d["bin_hex"], "desc": d["desc_json"]["desc"]}),
            )],
            DpType::SimpleJson => d["json"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), None, v.clone()))
                .collect(),
            DpType::SimpleJsonWithTime => {
                vec![("temperature".into(), at("2015-03-22 22:31:12"), json!(22.5))]
            }
            DpType::Text | DpType::TextWithTime => d["parsed"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    let time = dp.time.map(|t| t.to_string());
                    (i[0].as_str().unwrap().into(), time, i[1].clone())
                })
                .collect(),
            DpType::Floats => d["floats_edp_layout"]["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let f = p["value"].as_f64().unwrap() as f32;
                    (
                        p["id"].to_string(),
                        dp.time.map(|t| t.to_string()),
                        json!(f),
                    )
                })
                .collect(),
        };
        assert_eq!(got, want, "{step}");
    }
}

#[test]
fn the_seed_example() {
    // 03 00 1b {"test":"hello，world！"}
    let payload = common::unhex(
        "03 00 1b 7b 22 74 65 73 74 22 3a 22 68 65 6c 6c 6f ef bc 8c 77 6f 72 6c 64 ef bc 81 22 7d",
    );
    assert_eq!(
        points(&payload),
        [("test".into(), None, json!("hello，world！"))]
    );
}

#[test]
fn the_guide_examples() {
    // Type 2: {"ds_id":"image"}, 3 bytes.
    let t2 = common::unhex(
        "02 00 11 7b 22 64 73 5f 69 64 22 3a 22 69 6d 61 67 65 22 7d 00 00 00 03 de ad be",
    );
    assert_eq!(
        points(&t2),
        [("image".into(), None, json!({"bin": "deadbe", "desc": null}))]
    );
    // Type 6 with time 2015-03-22 22:31:12.
    let t6 = common::unhex(
        "86 0f 03 16 16 1f 0c 00 12 2c 3b 74 65 6d 70 65 72 61 74 75 72 65 2c 32 32 2e 35",
    );
    assert_eq!(
        points(&t6),
        [(
            "temperature".into(),
            Some("2015-03-22 22:31:12Z".into()),
            json!("22.5")
        )]
    );
}

#[test]
fn malformed_variants_are_typed_errors() {
    for v in vectors() {
        let payload = common::unhex(v["payload_hex"].as_str().unwrap());
        // Every truncation is an error, never a panic nor a shorter decode.
        for cut in 0..payload.len() {
            assert!(
                decode_dp(&payload[..cut]).is_err(),
                "{} cut at {cut}",
                v["step"]
            );
        }
        // One byte too many.
        let mut longer = payload.clone();
        longer.push(0);
        assert!(matches!(
            decode_dp(&longer),
            Err(DpError::TrailingBytes { extra: 1 })
        ));
    }
    // A declared length longer than the JSON.
    assert!(matches!(
        decode_dp(&common::unhex("03 00 ff 7b 7d")),
        Err(DpError::Truncated { field: "JSON" })
    ));
    // Not UTF-8.
    assert!(matches!(
        decode_dp(&common::unhex("05 00 04 2c 3b ff fe")),
        Err(DpError::InvalidUtf8 { field: "text" })
    ));
}
