//! The `omp-server` binary's log, read the way a service manager or a log
//! collector reads it: through a pipe. It is on stderr and plain text (no
//! ANSI colour codes, which would end up as escape bytes in log files),
//! or with `--log-format json` one JSON object per line, with the
//! periodic summary among them.

use std::process::Stdio;
use std::time::Duration;

use test_support::wait::terminate;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// Bound on each wait for the binary, so a hung server fails the test
/// instead of hanging it.
const GUARD: Duration = Duration::from_secs(60);

const ESC: u8 = 0x1b;

/// Starts the binary on a fresh data dir with `extra` flags; settings come
/// from the flags alone. Colour must be off because stderr is a pipe, not
/// because of NO_COLOR.
fn spawn(dir: &std::path::Path, extra: &[&str]) -> tokio::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omp-server"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["--gmmp-listen", "127.0.0.1:0"])
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--mqtt-listen", "none"])
        .args(["--mqtts-listen", "none"])
        .args(["--provisioning", "open"])
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OMP_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn the_log_written_to_a_pipe_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(dir.path(), &[]);
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());

    // Up to the line saying it serves GMMP (it has logged at every level
    // of its start-up by then, the warning about open provisioning next).
    let mut log = Vec::new();
    loop {
        let before = log.len();
        let n = tokio::time::timeout(GUARD, stderr.read_until(b'\n', &mut log))
            .await
            .expect("the server logs its start")
            .unwrap();
        assert!(
            n > 0,
            "stderr closed early:\n{}",
            String::from_utf8_lossy(&log)
        );
        if String::from_utf8_lossy(&log[before..]).contains("listening for GMMP") {
            break;
        }
    }

    terminate(&child);
    tokio::time::timeout(GUARD, stderr.read_to_end(&mut log))
        .await
        .expect("stderr closes when the server exits")
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(GUARD, stdout.read_to_end(&mut out))
        .await
        .expect("stdout closes when the server exits")
        .unwrap();
    let exit = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    let text = String::from_utf8_lossy(&log);
    assert!(text.contains("WARN"), "the levels are spelled out:\n{text}");
    assert!(text.contains("omp-server stopped"), "{text}");
    assert!(
        !log.contains(&ESC),
        "colour codes in a piped log:\n{}",
        text.escape_debug()
    );
    assert!(
        out.is_empty(),
        "the log goes to stderr, stdout stays empty: {:?}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test]
async fn the_json_log_is_one_object_per_line_with_a_summary_each_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(
        dir.path(),
        &["--log-format", "json", "--summary-interval", "1s"],
    );
    let mut stderr = BufReader::new(child.stderr.take().unwrap());

    // Every line up to the first summary is one JSON object with the
    // fields a collector indexes; the summary carries its counts.
    let mut lines = Vec::new();
    let summary = loop {
        let mut line = String::new();
        let n = tokio::time::timeout(GUARD, stderr.read_line(&mut line))
            .await
            .expect("the server logs a summary within a second of its start")
            .unwrap();
        assert!(n > 0, "stderr closed early:\n{}", lines.join(""));
        let object: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(object.get(field).is_some(), "no {field:?} in {line}");
        }
        lines.push(line);
        if object["message"] == "summary" {
            break object;
        }
    };
    assert_eq!(summary["level"], "INFO", "{summary}");
    assert_eq!(summary["deliveries"], 0, "{summary}");
    assert_eq!(summary["gmmp_sessions"], 0, "{summary}");
    assert!(summary.get("writer_queue").is_some(), "{summary}");
    assert!(
        lines.iter().any(|l| l.contains("listening for GMMP")),
        "the start-up lines come first, as JSON: {lines:?}"
    );
    terminate(&child);
    let exit = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn an_unknown_log_format_names_the_setting_and_the_choices() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_omp-server"))
        .args(["--log-format", "yaml", "--mqtt-listen", "none"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("log-format") || error.contains("log_format"),
        "{error}"
    );
    assert!(
        error.contains("json"),
        "the valid names are listed: {error}"
    );
}
