//! The `wizfi310-sim` binary prints its pty path first and serves it.

mod common;

use std::process::Stdio;

use common::{GUARD, Port};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_prints_the_pty_path_first_and_answers_on_it() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wizfi310-sim"))
        .args([
            "--mac",
            "00:08:DC:12:34:56",
            "--ssid",
            "lab",
            "--passphrase",
            "secret99",
        ])
        .args(["--baud", "115200"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("a first line");
    assert!(first.starts_with("/dev/"), "{first}");
    let mut port = Port::open(std::path::Path::new(&first)).await;
    assert_eq!(port.command("AT").await, "AT\r\n[OK]\r\n");
    port.command("AT+MECHO=0").await;
    assert_eq!(
        port.command("AT+MMAC=?").await,
        "00:08:DC:12:34:56\r\n[OK]\r\n"
    );
    port.command("AT+WSET=0,lab").await;
    port.command("AT+WSEC=0,,secret99").await;
    assert!(port.command("AT+WJOIN").await.contains("[Link-Up Event]"));
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn binary_fault_switches_apply() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wizfi310-sim"))
        .args(["--drop-every", "2"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let path = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("a first line");
    let mut port = Port::open(std::path::Path::new(&path)).await;
    assert_eq!(port.command("AT").await, "AT\r\n[OK]\r\n");
    port.write(b"AT\r").await;
    assert_eq!(port.command("AT").await, "AT\r\nAT\r\n[OK]\r\n");
    child.kill().await.unwrap();
}
