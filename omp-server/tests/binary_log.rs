//! The `omp-server` binary's log, read the way a service manager or a log
//! collector reads it: through a pipe. It is on stderr and plain text (no
//! ANSI colour codes, which would end up as escape bytes in log files).

use std::process::Stdio;
use std::time::Duration;

use test_support::wait::terminate;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// Bound on each wait for the binary, so a hung server fails the test
/// instead of hanging it.
const GUARD: Duration = Duration::from_secs(60);

const ESC: u8 = 0x1b;

#[tokio::test]
async fn the_log_written_to_a_pipe_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omp-server"));
    cmd.arg("--data-dir")
        .arg(dir.path())
        .args(["--gmmp-listen", "127.0.0.1:0"])
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--mqtt-listen", "none"])
        .args(["--mqtts-listen", "none"])
        .args(["--provisioning", "open"])
        .env("RUST_LOG", "info")
        // Colour must be off because stderr is a pipe, not because of
        // NO_COLOR; settings come from the flags alone.
        .env_remove("NO_COLOR");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OMP_") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
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
