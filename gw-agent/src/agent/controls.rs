//! Executing the controls the engine hands over ([`Event::Control`]):
//! time sync, reset, the module-dependent checks and the user-defined
//! types of the config.
//!
//! Notification bodies: time sync — the host's Unix seconds (u32 BE; the
//! offset to the OMP's clock is logged); signal power check — u32 BE as
//! docs/gmmp.md §5 has it, holding the RSSI in −dBm the way the module's AT+WSTAT
//! column `RSSI(-dBm)` does (61 for −61 dBm); firmware version check — the
//! version text; a host
//! command — its stdout (at most 2048 bytes). A host command gets the
//! control payload on stdin and `GW_AGENT_CONTROL_TYPE` /
//! `GW_AGENT_CONTROL_TID` in its environment, and 60 s to finish.
//!
//! [`Event::Control`]: crate::engine::Event::Control

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use gmmp_codec::{ControlPayload, ControlType, MAX_PAYLOAD_LEN, ResultCode};
use tokio::io::AsyncWriteExt;

use crate::config::{Config, UserControl};
use crate::engine::{ControlSet, PendingControl};
use crate::status::unix_now;
use crate::transport::{ModuleAnswer, ModuleOp, Transport};

/// How long a host command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A control's outcome: rc and notification body.
pub(crate) type Outcome = (ResultCode, Bytes);

/// What to do with a control.
pub(crate) enum Plan {
    /// Answer now.
    Done(Outcome),
    /// Answer, then reset the session (and the module).
    Reset,
    /// Run a module operation, then answer.
    Module(ModuleOp),
    /// Run a host command in the background, then answer.
    Command(String),
}

/// The control types the agent executes with `transport`.
pub(crate) fn host_controls<T: Transport>(config: &Config, transport: &T) -> ControlSet {
    let mut set = ControlSet::new();
    set.insert(ControlType::TIME_SYNC);
    set.insert(ControlType::RESET);
    if transport.supports(ModuleOp::SignalPower) {
        set.insert(ControlType::SIGNAL_POWER_CHECK);
    }
    if transport.supports(ModuleOp::FirmwareVersion) {
        set.insert(ControlType::FIRMWARE_VERSION_CHECK);
    }
    for (code, action) in &config.controls {
        let usable = match action {
            UserControl::Command { .. } => true,
            UserControl::Gpio { gpio, value } => transport.supports(ModuleOp::GpioWrite {
                pin: *gpio,
                value: *value,
            }),
        };
        if usable {
            set.insert(ControlType(*code));
        }
    }
    set
}

/// Decides how to execute `control`.
pub(crate) fn plan(config: &Config, control: &PendingControl) -> Plan {
    match control.control_type {
        ControlType::TIME_SYNC => Plan::Done(time_sync(&control.payload)),
        ControlType::RESET => Plan::Reset,
        ControlType::SIGNAL_POWER_CHECK => Plan::Module(ModuleOp::SignalPower),
        ControlType::FIRMWARE_VERSION_CHECK => Plan::Module(ModuleOp::FirmwareVersion),
        ct => match config.controls.get(&ct.0) {
            Some(UserControl::Command { command }) => Plan::Command(command.clone()),
            Some(UserControl::Gpio { gpio, value }) => Plan::Module(ModuleOp::GpioWrite {
                pin: *gpio,
                value: *value,
            }),
            None => Plan::Done((ResultCode::NOT_IMPLEMENTED, Bytes::new())),
        },
    }
}

fn time_sync(payload: &[u8]) -> Outcome {
    let host = unix_now();
    let omp = payload
        .get(..4)
        .and_then(|b| ControlPayload::decode(ControlType::TIME_SYNC, b));
    match omp {
        Some(ControlPayload::TimeSync { unix_seconds }) => {
            let omp = u64::from(unix_seconds);
            let offset = host as i64 - omp as i64;
            tracing::info!(
                host,
                omp,
                offset_seconds = offset,
                "time sync: host clock offset to the OMP"
            );
        }
        _ => tracing::info!(host, "time sync without an OMP time"),
    }
    let answer = ControlPayload::TimeSync {
        unix_seconds: host as u32,
    };
    (ResultCode::OK, answer.encode())
}

/// Runs a module operation through the transport.
pub(crate) async fn run_module_op<T: Transport>(transport: &mut T, op: ModuleOp) -> Outcome {
    match transport.module_op(op).await {
        Ok(ModuleAnswer::Done) => (ResultCode::OK, Bytes::new()),
        Ok(ModuleAnswer::Rssi(dbm)) => (
            ResultCode::OK,
            ControlPayload::SignalPower(dbm.unsigned_abs()).encode(),
        ),
        Ok(ModuleAnswer::Text(text)) => (ResultCode::OK, truncate(text.into_bytes())),
        Err(e) => {
            tracing::warn!(?op, error = %e, "module operation for a control failed");
            (ResultCode::INTERNAL_SERVER_ERROR, Bytes::new())
        }
    }
}

fn truncate(mut bytes: Vec<u8>) -> Bytes {
    bytes.truncate(MAX_PAYLOAD_LEN);
    Bytes::from(bytes)
}

/// Runs a host command for `control`.
pub(crate) async fn run_command(
    command: String,
    control: PendingControl,
) -> (PendingControl, Outcome) {
    let outcome = run_command_inner(&command, &control).await;
    (control, outcome)
}

async fn run_command_inner(command: &str, control: &PendingControl) -> Outcome {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env(
            "GW_AGENT_CONTROL_TYPE",
            format!("0x{:02x}", control.control_type.0),
        )
        .env("GW_AGENT_CONTROL_TID", control.tid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(command, error = %e, "cannot start the control's command");
            return (ResultCode::INTERNAL_SERVER_ERROR, Bytes::new());
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin closes the pipe early.
        let _ = stdin.write_all(&control.payload).await;
    }
    match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let rc = if out.status.success() {
                ResultCode::OK
            } else {
                tracing::warn!(command, status = %out.status, "control command failed");
                ResultCode::INTERNAL_SERVER_ERROR
            };
            (rc, truncate(out.stdout))
        }
        Ok(Err(e)) => {
            tracing::warn!(command, error = %e, "control command failed");
            (ResultCode::INTERNAL_SERVER_ERROR, Bytes::new())
        }
        Err(_) => {
            tracing::warn!(
                command,
                "control command ran past {COMMAND_TIMEOUT:?}; killed"
            );
            (ResultCode::REQUEST_TIMEOUT, Bytes::new())
        }
    }
}
