//! `--log-format`: the agent's log as a collector reads it through a
//! pipe — with `json`, one JSON object per line from the first line on;
//! a format it does not know stops it before it starts, naming the key.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn agent() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gw-agent"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GW_AGENT_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info").env_remove("NO_COLOR");
    command
}

#[test]
fn the_json_log_is_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: the agent logs its start and its failed
    // connection attempts, and keeps retrying.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let omp = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut child = agent()
        .args(["--log-format", "json", "--transport", "direct"])
        .args(["--omp", &omp, "--auth-id", "0008dc000001", "--no-stdin"])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    // The first lines: the start and a refused connection at least.
    while seen.len() < 2 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let object: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(object.get(field).is_some(), "no {field:?} in {line}");
        }
        seen.push(object);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(seen.len(), 2, "the agent logged before it ended: {seen:?}");
}

#[test]
fn an_unknown_log_format_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = agent()
        .current_dir(dir.path())
        .args(["--log-format", "yaml", "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("log"), "{error}");
    assert!(
        error.contains("json"),
        "the valid names are listed: {error}"
    );
}
