//! The GMMP gateway agent: a host with a WizFi310 on its serial port
//! speaks GMMP to the OMP through the module's Wi-Fi, turns the module's
//! readings and the host's own data into deliveries (never losing one:
//! each is spooled on disk until the OMP answers STATUS_OK), and carries
//! out the OMP's controls on the module. See `README.md` for a walkthrough.
//!
//! Three transports carry the one gateway [`engine`]: `bridge` (default;
//! the module's TCP socket driven by AT commands), `direct` (the host's
//! own TCP) — and `native`, where the module's built-in GMMP client does
//! the protocol and the agent feeds and follows it.
//!
//! # Layout
//!
//! - [`wizfi310`]: the WizFi310 AT-command driver — serial port settings,
//!   the sans-IO byte-stream parser, typed commands, unsolicited events and
//!   binary-safe socket data, and the async [`wizfi310::Driver`].
//! - [`wiz550s2e`]: the WIZ550S2E (serial-to-Ethernet) AT-command driver:
//!   its bracketed response grammar, binary-safe received data, typed
//!   commands and the async [`wiz550s2e::Driver`].
//! - [`engine`]: the sans-IO GMMP gateway engine (registration, profile,
//!   heartbeats, deliveries, controls, T-IDs, timeouts).
//! - [`spool`]: the crash-safe on-disk delivery spool.
//! - [`config`]: TOML file + flags + `GW_AGENT_…` environment → [`config::Config`].
//! - [`module`]: the WizFi310 as the agent keeps it (port, start-up, Wi-Fi
//!   join, reset, state), shared by the module transports and readings.
//! - [`refusal`]: what the OMP's refusals mean and the command that
//!   fixes them (worded once for every transport).
//! - [`sources`]: data sources → deliveries: stdin, a local socket, and
//!   [`sources::module`] (ADC/GPIO readings on a schedule).
//! - [`transport`]: the [`transport::Transport`] trait; `direct`, `bridge`,
//!   and `native` (with [`transport::native::trace`], the sans-IO reader
//!   of the module's GMMP trace).
//! - [`status`]: the one-line state, logged and kept in `status.json`.
//! - [`agent`]: the main loops tying engine (or module client), transport,
//!   spool, sources and controls.
//! - [`launch`]: the agent on the transport its settings name, until shut
//!   down (`gw-agent run`, and harnesses that run it in their own process).
//!
//! The binary (`src/main.rs`): `gw-agent [run]`, `gw-agent status`,
//! `gw-agent probe`.

#![warn(missing_docs, unreachable_pub)]

pub mod agent;
pub mod config;
pub mod engine;
pub mod launch;
pub mod module;
pub mod refusal;
pub mod sources;
pub mod spool;
pub mod status;
pub mod transport;
pub mod wiz550s2e;
pub mod wizfi310;
