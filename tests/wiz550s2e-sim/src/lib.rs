//! An emulated WIZnet WIZ550S2E serial-to-Ethernet module on a
//! pseudo-terminal, so an AT driver is tested through a real serial
//! device path and real TCP connections.
//!
//! ```no_run
//! use wiz550s2e_sim::{BootMode, Fault, SimConfig, Simulator};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let sim = Simulator::start(SimConfig {
//!     boot_mode: BootMode::Command, // the firmware boots in data mode
//!     ..SimConfig::default()
//! })
//! .await?;
//! let path: &std::path::Path = sim.tty_path(); // open it with tokio-serial
//! sim.control().inject(Fault::BusyBuffer(100));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The binary `wiz550s2e-sim` prints the pty path as the first line of its
//! standard output and runs until SIGINT / SIGTERM (`--help` lists the
//! address, data-mode and fault switches).
//!
//! The behaviour follows the seed's AT guide and, where it is silent,
//! WIZnet's firmware source (`WIZ550S2E_App/src/ATcmd/`, `S2E/S2E.c`);
//! the crate README lists every such choice.
//!
//! # Layout
//!
//! - [`config`]: [`SimConfig`] and its parts.
//! - [`control`]: [`SimControl`] and [`Fault`].
//! - [`interpreter`]: the sans-IO firmware (bytes, time and events in,
//!   [`interpreter::Action`]s out), one file per concern.
//! - `simulator`: [`Simulator`], the IO shell.
//!
//! The pty, the paced UART, the real socket, the `+++` escape and the
//! fault queue and response faults come from `module-sim`, the machinery
//! every module emulator shares.

#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod control;
pub mod interpreter;
mod simulator;

pub use config::{BootMode, FaultPlan, NetInfo, SimConfig, WorkingMode};
pub use control::{Fault, SimControl};
pub use interpreter::{AtError, Interpreter};
pub use simulator::Simulator;
