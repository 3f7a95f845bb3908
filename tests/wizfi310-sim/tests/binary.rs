//! The `wizfi310-sim` binary prints its pty path first and serves it.

mod common;

use std::process::Stdio;

use common::{GUARD, Port};
use test_support::wait::terminate;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The binary's standard output, kept open for what it prints later.
type Stdout = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Starts the binary with `args`; its first line must be the pty path,
/// which is opened.
async fn start(args: &[&str]) -> (Child, Port, Stdout) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wizfi310-sim"))
        .args(args)
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
    let port = Port::open(std::path::Path::new(&first)).await;
    (child, port, lines)
}

#[tokio::test]
async fn binary_prints_the_pty_path_first_and_answers_on_it() {
    let (mut child, mut port, _stdout) = start(&[
        "--mac",
        "00:08:DC:12:34:56",
        "--ssid",
        "lab",
        "--passphrase",
        "secret99",
        "--baud",
        "115200",
    ])
    .await;
    assert_eq!(port.command("AT").await, "AT\r\n[OK]\r\n");
    port.command("AT+MECHO=0").await;
    assert_eq!(
        port.command("AT+MMAC=?").await,
        "00:08:DC:12:34:56\r\n[OK]\r\n"
    );
    port.command("AT+WSET=0,lab").await;
    port.command("AT+WSEC=0,,secret99").await;
    assert!(port.command("AT+WJOIN").await.contains("[Link-Up Event]"));
    terminate(&child);
    let exit = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn binary_fault_switches_apply() {
    let (mut child, mut port, _stdout) = start(&["--drop-every", "2"]).await;
    assert_eq!(port.command("AT").await, "AT\r\n[OK]\r\n");
    port.write(b"AT\r").await;
    assert_eq!(port.command("AT").await, "AT\r\nAT\r\n[OK]\r\n");
    child.kill().await.unwrap();
}
