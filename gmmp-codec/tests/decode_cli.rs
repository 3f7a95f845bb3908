//! The `gmmp-decode` binary: traces good frames, fails clearly on bad ones.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_gmmp-decode");

fn vector_hex(name: &str) -> String {
    let v = common::vectors()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap();
    hex::encode(v.bytes)
}

#[test]
fn traces_a_frame_given_as_an_argument() {
    let out = Command::new(BIN)
        .arg(vector_hex("hb_req"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[GW->OMP]GMMP_SetHB Start"), "{text}");
    assert!(text.contains("GMMP Trace :  T-ID =55"), "{text}");
}

#[test]
fn reads_several_frames_with_whitespace_from_stdin() {
    let mut input = String::new();
    for name in ["delivery_req", "delivery_rsp_43"] {
        let hex = vector_hex(name);
        // Break the hex into spaced pairs over several lines, like a dump.
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            input.push_str(std::str::from_utf8(pair).unwrap());
            input.push(if i % 16 == 15 { '\n' } else { ' ' });
        }
    }
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("usMessageBody =WizFi310 test data !@#$%^&*(/)"),
        "{text}"
    );
    assert!(text.contains("Result Code[0x0], STATUS_OK"), "{text}");
}

#[test]
fn bad_input_prints_the_codec_error_and_fails() {
    let mut hex = vector_hex("delivery_req");
    hex.replace_range(2..6, "000c"); // message_length 12
    let out = Command::new(BIN).arg(&hex).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("shorter than the 50-byte header"), "{err}");

    let out = Command::new(BIN).arg("zz").output().unwrap();
    assert!(!out.status.success());

    let truncated = &vector_hex("hb_req")[..60];
    let out = Command::new(BIN).arg(truncated).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("incomplete")
    );
}
