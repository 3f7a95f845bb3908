//! The binary: the pty path on the first stdout line, then a module on it.

use std::process::Stdio;

use test_support::module_port::Port;
use test_support::wait::{GUARD, terminate};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn prints_the_pty_path_and_answers_on_it() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wiz550s2e-sim"))
        .args(["--boot-mode", "command", "--mac", "0008dc000042", "--dhcp"])
        .args(["--lease-ip", "10.9.8.7"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(GUARD, BufReader::new(stdout).read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let mut port = Port::open(std::path::Path::new(line.trim_end())).await;
    port.write(b"AT+NMAC\r\nAT+NSTAT?2\r\n").await;
    assert_eq!(
        port.read_until_str("[S,,10.9.8.7]\r\n").await,
        "[S,,00:08:dc:00:00:42]\r\n[S,,10.9.8.7]\r\n"
    );
    terminate(&child);
    let status = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_bad_mac_stops_start_up_naming_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wiz550s2e-sim"))
        .args(["--mac", "nonsense"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--mac") && stderr.contains("nonsense"),
        "{stderr}"
    );
}
