//! The GMMP gateway agent. So far it holds the WizFi310 AT-command driver
//! that the agent's "bridge" transport will sit on; the gateway engine and
//! the other transports come later.
//!
//! # Layout
//!
//! - [`wizfi310`]: the WizFi310 AT-command driver — serial port settings,
//!   the sans-IO byte-stream parser, typed commands, unsolicited events and
//!   binary-safe socket data, and the async [`wizfi310::Driver`].
//! - [`engine`]: the sans-IO GMMP gateway engine (registration, profile,
//!   heartbeats, deliveries, controls, T-IDs, timeouts).
//! - [`spool`]: the crash-safe on-disk delivery spool.
//! - [`config`]: TOML file + flags + `GW_AGENT_…` environment → [`config::Config`].
//! - [`sources`]: host data sources (stdin, local socket) → deliveries.
//! - [`transport`]: the [`transport::Transport`] trait and the `direct` transport.
//! - [`status`]: the one-line state, logged and kept in `status.json`.
//! - [`agent`]: the main loop tying engine, transport, spool, sources and controls.
//!
//! The binary (`src/main.rs`) is for now a probe: it opens the port and
//! prints the module's answers to AT, AT+MMAC=? and AT+MINFO.

#![warn(missing_docs, unreachable_pub)]

pub mod agent;
pub mod config;
pub mod engine;
pub mod sources;
pub mod spool;
pub mod status;
pub mod transport;
pub mod wizfi310;
