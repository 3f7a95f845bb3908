//! The `native` transport: the WizFi310's own GMMP client does the
//! protocol; the agent configures it, feeds it data and follows it.
//!
//! ```text
//! start:  (start-up and Wi-Fi join, module.rs)
//!         AT+MMSG=3                         debug lines on the console
//!         AT+GMMPOPT=10,1,1,1               event log + debug trace
//!         AT+GMMPOPT=11,<min> / 12,<min>    only when periods are configured
//!         AT+GMMPDATA=0,<fixed payload>     only when one is configured
//!         AT+GMMPSET=1,<ip>,<port>,<domain>,<auth id>,<manufacture id>,<device mfid>
//! data:   AT+GMMPDATA=1,<text>              one delivery, sent by the module at once
//! follow: [GMMP Connect] · trace blocks (trace.rs) · [GMMP Control n] · [GMMP Disconnect]
//! stop:   AT+GMMPSET=0
//! ```
//!
//! This is not a [`Transport`](super::Transport): no GMMP frame passes the
//! host. [`Agent::run_native`](crate::agent::Agent::run_native) drives it.
//!
//! What native mode cannot do, because the firmware does it its own way
//! (docs/wizfi310.md §4):
//! - Deliveries are GW-level text: report type 0x01, media type 0x01, no
//!   device ID, no CR/LF, at most 2048 bytes. Binary or device deliveries
//!   cannot be carried and are set aside (`rejected.jsonl`).
//! - Confirmation comes only through the trace: a delivery leaves the
//!   spool when its `OPERATION_DELIVERY_RSP` block shows rc 0x00. With the
//!   trace missing the agent cannot tell, and sends again (at-least-once);
//!   deliveries of the fixed payload (AT+GMMPDATA=0) live in the module
//!   and are not spooled at all.
//! - Controls are answered by the firmware (0x0E rc 0, then a 0x17 rc 0
//!   with an empty body): Status Check, Signal Power and Firmware Version
//!   cannot carry the agent's answer. The agent still acts on Reset
//!   (AT+MRESET and a new start), Report On/Off and Pause/Restart (it
//!   holds or resumes feeding data).
//! - The GW ID and auth key are the module's; a restart of the module
//!   registers again (the firmware keeps no identity).
//! - The module's client gives up on a refused registration step until
//!   the next AT+GMMPSET=1; the agent gives it again after its back-off.

pub mod trace;

use super::bridge::{module_op, resolve_ipv4};
use super::{LinkStatus, ModuleAnswer, ModuleOp, TransportError};
use crate::module::{Module, ModuleHandle};
use crate::wizfi310::{Event, GmmpData, GmmpOpt, GmmpSet, MessageLevel};

/// What AT+GMMPSET and AT+GMMPOPT are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeSetup {
    /// Domain code.
    pub domain_code: String,
    /// Auth ID.
    pub auth_id: String,
    /// GW manufacture ID (6th AT+GMMPSET parameter).
    pub manufacture_id: String,
    /// Device registration's manufacture ID (7th parameter).
    pub device_manufacture_id: String,
    /// AT+GMMPOPT=11 in minutes, when configured (the profile overrides it).
    pub heartbeat_minutes: Option<u16>,
    /// AT+GMMPOPT=12 in minutes, when configured (the profile overrides it).
    pub report_minutes: Option<u16>,
    /// AT+GMMPDATA=0: text the module delivers every report period.
    pub fixed_payload: Option<String>,
}

/// The module's GMMP client, configured and fed over AT commands.
#[derive(Debug)]
pub struct NativeTransport {
    module: Module,
    omp_host: String,
    omp_port: u16,
}

impl NativeTransport {
    /// The module's client, to be pointed at `omp_host:omp_port`.
    pub fn new(module: Module, omp_host: &str, omp_port: u16) -> Self {
        NativeTransport {
            module,
            omp_host: omp_host.to_owned(),
            omp_port,
        }
    }

    /// The handle module data sources read through.
    pub fn module_handle(&self) -> ModuleHandle {
        self.module.handle()
    }

    /// The module's MAC as an auth ID (`0008dc1e3222`).
    pub async fn default_auth_id(&mut self) -> Result<String, TransportError> {
        Ok(self.module.mac().await?.to_hex_lower())
    }

    /// Module and Wi-Fi state for the status line.
    pub fn link_status(&self) -> LinkStatus {
        let (module, wifi) = self.module.status_words();
        LinkStatus { module, wifi }
    }

    /// Brings the module up and starts its client (see the module docs).
    pub async fn start(&mut self, setup: &NativeSetup) -> Result<(), TransportError> {
        let ip = resolve_ipv4(&self.omp_host, self.omp_port).await?;
        let driver = self.module.ensure_ready().await?;
        let result = async {
            driver.set_message_level(MessageLevel::Debug).await?;
            driver
                .gmmp_opt(GmmpOpt::Logging {
                    events: true,
                    debug: true,
                })
                .await?;
            if let Some(min) = setup.heartbeat_minutes {
                driver.gmmp_opt(GmmpOpt::HeartbeatPeriod(min)).await?;
            }
            if let Some(min) = setup.report_minutes {
                driver.gmmp_opt(GmmpOpt::ReportPeriod(min)).await?;
            }
            if let Some(text) = &setup.fixed_payload {
                driver
                    .gmmp_data(&GmmpData {
                        send_now: false,
                        data: text.clone(),
                    })
                    .await?;
            }
            driver
                .gmmp_set(&GmmpSet::Start {
                    ip,
                    port: self.omp_port,
                    domain: setup.domain_code.clone(),
                    auth_id: setup.auth_id.clone(),
                    manufacture_id: setup.manufacture_id.clone(),
                    device_id: setup.device_manufacture_id.clone(),
                })
                .await
        }
        .await;
        result.map_err(|e| {
            self.module.note_error(&e);
            TransportError::Module(e.into())
        })
    }

    /// AT+GMMPDATA=1,`text`: the module delivers it at once.
    pub async fn send_now(&mut self, text: &str) -> Result<(), TransportError> {
        let driver = self.module.driver().await?;
        let data = GmmpData {
            send_now: true,
            data: text.to_owned(),
        };
        driver.gmmp_data(&data).await.map_err(|e| {
            self.module.note_error(&e);
            TransportError::Module(e.into())
        })
    }

    /// The next module event. Cancel-safe.
    pub async fn next_event(&mut self) -> Result<Event, TransportError> {
        Ok(self.module.next_event().await?)
    }

    /// AT+GMMPSET=0, best effort (the module may be gone).
    pub async fn stop(&mut self) {
        if let Some(driver) = self.module.handle().driver()
            && let Err(e) = driver.gmmp_set(&GmmpSet::Stop).await
        {
            tracing::debug!(error = %e, "AT+GMMPSET=0");
        }
    }

    /// A module operation (Reset is the one native mode uses).
    pub async fn module_op(&mut self, op: ModuleOp) -> Result<ModuleAnswer, TransportError> {
        module_op(&mut self.module, op).await
    }
}
