//! Secrets at rest: a fresh data directory is the owner's alone (0700,
//! database and API key 0600), and a start on a directory others can
//! read logs a warning per exposed path with the `chmod` that fixes it.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use test_support::wait::terminate;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// Bound on each wait for the binary, so a hung server fails the test
/// instead of hanging it.
const GUARD: Duration = Duration::from_secs(60);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn a_fresh_data_directory_and_its_secret_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("omp-data");
    let server = common::start(&data, |_| {}).await;
    // The pool holds the database open in WAL mode: -wal and -shm exist.
    let db = data.join("omp.sqlite3");
    assert_eq!(mode(&data), 0o700, "data directory");
    for file in [
        db.clone(),
        data.join("omp.sqlite3-wal"),
        data.join("omp.sqlite3-shm"),
        data.join("api-key"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    server.stop().await;
}

#[tokio::test]
async fn exposed_secrets_are_named_with_their_chmod_and_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shared");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("omp.sqlite3");
    let key = data.join("api-key");
    std::fs::write(&db, b"").unwrap();
    std::fs::write(&key, b"a-key-made-by-hand\n").unwrap();
    set_mode(&data, 0o777);
    set_mode(&db, 0o644);
    set_mode(&key, 0o644);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omp-server"));
    cmd.arg("--data-dir")
        .arg(&data)
        .args(["--gmmp-listen", "127.0.0.1:0"])
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--mqtt-listen", "none", "--mqtts-listen", "none"])
        .args(["--provisioning", "open"])
        .env("RUST_LOG", "info");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OMP_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = Vec::new();
    loop {
        let before = log.len();
        let n = tokio::time::timeout(GUARD, stderr.read_until(b'\n', &mut log))
            .await
            .expect("the server logs its start")
            .unwrap();
        assert!(
            n > 0,
            "the server stopped instead of starting:\n{}",
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
    let exit = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    let text = String::from_utf8_lossy(&log);
    let warning = |fix: String| {
        text.lines()
            .any(|line| line.contains("WARN") && line.contains(&fix))
    };
    assert!(
        warning(format!("chmod 700 {}", data.display())),
        "the directory is named with its fix:\n{text}"
    );
    for file in [&db, &key] {
        assert!(
            warning(format!("chmod 600 {}", file.display())),
            "{} is named with its fix:\n{text}",
            file.display()
        );
    }
    // Warned about, not changed.
    assert_eq!(mode(&data), 0o777);
    assert_eq!(mode(&key), 0o644);
}
