//! The module the agent drives: the WizFi310 emulator (`wizfi310_sim`) or
//! the WIZ550S2E emulator (`wiz550s2e_sim`), each on its own pty with its
//! own fault kinds. The run, the fault loop and the accounting are the
//! same for both; only what is started, what goes into the agent's
//! settings and how a fault kind is injected differ, and those are here.

use std::path::Path;
use std::time::Duration;

use fastrand::Rng;
use tokio_util::sync::CancellationToken;

pub use gw_agent::config::ModuleKind;

use super::Options;
use crate::error::FaultError;

/// The WizFi310's faults: name, weight.
pub const WIZFI310_FAULTS: [(&str, u32); 7] = [
    ("drop-response", 3),
    ("delay-response", 3),
    ("garble-line", 3),
    ("close-socket", 2),
    ("link-down", 2),
    ("reset-event", 1),
    ("ap-off", 1),
];

/// The WIZ550S2E's faults: name, weight. Its link going down is a period
/// (the cable out for 1–4 s), not an event: the module only reports the
/// socket closed, and connects fail until the link is back.
pub const WIZ550S2E_FAULTS: [(&str, u32); 7] = [
    ("drop-response", 3),
    ("delay-response", 3),
    ("garble-line", 3),
    ("peer-close", 2),
    ("busy-buffer", 2),
    ("link-down", 1),
    ("module-reset", 1),
];

/// The fault kinds injected into `module`'s emulator, with their weights.
pub fn fault_kinds(module: ModuleKind) -> &'static [(&'static str, u32)] {
    match module {
        ModuleKind::Wizfi310 => &WIZFI310_FAULTS,
        ModuleKind::Wiz550s2e => &WIZ550S2E_FAULTS,
    }
}

/// A running emulator.
pub(super) enum Emulator {
    Wizfi310(wizfi310_sim::Simulator),
    Wiz550s2e(wiz550s2e_sim::Simulator),
}

/// The hand on a running emulator's faults.
#[derive(Debug, Clone)]
pub(super) enum Control {
    Wizfi310(wizfi310_sim::SimControl),
    Wiz550s2e(wiz550s2e_sim::SimControl),
}

impl Emulator {
    /// Starts `opts.module`'s emulator; `opts.drop_every` applies to either.
    pub(super) async fn start(opts: &Options) -> Result<Emulator, FaultError> {
        let started = match opts.module {
            ModuleKind::Wizfi310 => wizfi310_sim::Simulator::start(wizfi310_sim::SimConfig {
                pace: opts.pace,
                join_delay: Duration::from_millis(10),
                reset_delay: Duration::from_millis(50),
                fault_plan: wizfi310_sim::FaultPlan {
                    drop_every: opts.drop_every,
                    ..Default::default()
                },
                ..wizfi310_sim::SimConfig::default()
            })
            .await
            .map(Emulator::Wizfi310),
            // The factory boot mode (data mode), so every start and every
            // reset makes the agent escape with `+++` first, as on a
            // real module.
            ModuleKind::Wiz550s2e => wiz550s2e_sim::Simulator::start(wiz550s2e_sim::SimConfig {
                pace: opts.pace,
                reset_delay: Duration::from_millis(50),
                connect_timeout: Duration::from_millis(500),
                fault_plan: wiz550s2e_sim::FaultPlan {
                    drop_every: opts.drop_every,
                    ..Default::default()
                },
                ..wiz550s2e_sim::SimConfig::default()
            })
            .await
            .map(Emulator::Wiz550s2e),
        };
        started.map_err(|e| FaultError::io("starting the emulator", e))
    }

    pub(super) fn tty_path(&self) -> &Path {
        match self {
            Emulator::Wizfi310(sim) => sim.tty_path(),
            Emulator::Wiz550s2e(sim) => sim.tty_path(),
        }
    }

    pub(super) fn control(&self) -> Control {
        match self {
            Emulator::Wizfi310(sim) => Control::Wizfi310(sim.control()),
            Emulator::Wiz550s2e(sim) => Control::Wiz550s2e(sim.control()),
        }
    }

    pub(super) async fn shutdown(self) {
        match self {
            Emulator::Wizfi310(sim) => sim.shutdown().await,
            Emulator::Wiz550s2e(sim) => sim.shutdown().await,
        }
    }
}

/// The agent settings that name the module: `module` and, for the
/// WizFi310, the access point to join (the WIZ550S2E is wired).
pub(super) fn agent_settings(module: ModuleKind) -> (String, &'static str) {
    let wifi = match module {
        ModuleKind::Wizfi310 => "[wifi]\nssid = \"testnet\"\npassphrase = \"12345678\"\n",
        ModuleKind::Wiz550s2e => "",
    };
    (format!("module = \"{}\"\n", module.name()), wifi)
}

impl Control {
    /// Injects the fault named `kind` (one of [`fault_kinds`]); a fault
    /// that lasts (the access point off, the link down) is over when this
    /// returns, or when `stop` is cancelled.
    pub(super) async fn inject(&self, kind: &str, rng: &mut Rng, stop: &CancellationToken) {
        match self {
            Control::Wizfi310(ctl) => wizfi310(ctl, kind, rng, stop).await,
            Control::Wiz550s2e(ctl) => wiz550s2e(ctl, kind, rng, stop).await,
        }
    }

    /// Ends whatever lasting fault a stopped fault loop left on, so the
    /// agent can drain.
    pub(super) fn restore(&self) {
        match self {
            Control::Wizfi310(ctl) => ctl.set_access_point(true),
            Control::Wiz550s2e(ctl) => ctl.set_link(true),
        }
    }
}

async fn wizfi310(
    ctl: &wizfi310_sim::SimControl,
    kind: &str,
    rng: &mut Rng,
    stop: &CancellationToken,
) {
    use wizfi310_sim::Fault;
    match kind {
        "drop-response" => ctl.inject(Fault::DropNextResponse),
        "delay-response" => ctl.inject(Fault::DelayNextResponse(response_delay(rng))),
        "garble-line" => ctl.inject(Fault::GarbleNextLine),
        // Every open socket: the agent's is usually 0, but not when a
        // stale one was still open at its connect (closing a socket that
        // is not open does nothing).
        "close-socket" => {
            for sid in 0..wizfi310_sim::interpreter::MAX_SOCKETS as u8 {
                ctl.inject(Fault::CloseSocket(sid));
            }
        }
        "link-down" => ctl.inject(Fault::LinkDown),
        "reset-event" => ctl.inject(Fault::ResetEvent),
        _ => {
            ctl.set_access_point(false);
            off_for(rng, stop).await;
            ctl.set_access_point(true);
        }
    }
}

async fn wiz550s2e(
    ctl: &wiz550s2e_sim::SimControl,
    kind: &str,
    rng: &mut Rng,
    stop: &CancellationToken,
) {
    use wiz550s2e_sim::Fault;
    match kind {
        "drop-response" => ctl.inject(Fault::DropNextResponse),
        "delay-response" => ctl.inject(Fault::DelayNextResponse(response_delay(rng))),
        "garble-line" => ctl.inject(Fault::GarbleNextLine),
        "peer-close" => ctl.inject(Fault::PeerClose),
        // Less free transmit buffer than any record of the run needs, so
        // the next AT+NSEND is refused with `[F,,7,<free>]`.
        "busy-buffer" => ctl.inject(Fault::BusyBuffer(rng.u16(0..16))),
        "module-reset" => ctl.inject(Fault::Reset),
        _ => {
            ctl.set_link(false);
            off_for(rng, stop).await;
            ctl.set_link(true);
        }
    }
}

/// How long a delayed response waits.
fn response_delay(rng: &mut Rng) -> Duration {
    between(rng, Duration::from_millis(100), Duration::from_secs(3))
}

/// A lasting fault's length, 1–4 s, cut short by `stop`.
async fn off_for(rng: &mut Rng, stop: &CancellationToken) {
    let off = between(rng, Duration::from_secs(1), Duration::from_secs(4));
    tokio::select! {
        _ = tokio::time::sleep(off) => {}
        _ = stop.cancelled() => {}
    }
}

/// Uniform in [lo, hi].
pub(super) fn between(rng: &mut Rng, lo: Duration, hi: Duration) -> Duration {
    lo + hi.saturating_sub(lo).mul_f64(rng.f64())
}
