//! Shared by the codec's integration tests: the golden vectors in
//! `tests/vectors/` (`vectors.json` lists every field of every frame, one
//! `<name>.hex` per frame beside it).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// The golden vectors folder, `gmmp-codec/tests/vectors`.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// One golden vector.
pub struct Vector {
    pub name: String,
    pub bytes: Vec<u8>,
    pub json: serde_json::Value,
}

/// Every vector of vectors.json.
pub fn vectors() -> Vec<Vector> {
    let path = vectors_dir().join("vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: serde_json::Value = serde_json::from_str(&text).expect("vectors.json is JSON");
    doc["vectors"]
        .as_array()
        .expect("a vectors array")
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().expect("name").to_string(),
            bytes: hex::decode(v["hex"].as_str().expect("hex")).expect("valid hex"),
            json: v.clone(),
        })
        .collect()
}
