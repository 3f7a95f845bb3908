//! Helpers shared by the integration tests: the golden vectors on disk.

#![allow(dead_code)]

pub mod arb;

use std::path::PathBuf;

/// The directory of the golden vectors.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Hex text to bytes; whitespace is ignored.
pub fn unhex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(digits).expect("vector files hold hex")
}

/// Every `*.hex` vector as (name, bytes), sorted by name.
pub fn hex_vectors() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(vectors_dir())
        .expect("vectors directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, unhex(&std::fs::read_to_string(&p).expect("readable")))
        })
        .collect();
    out.sort();
    out
}
