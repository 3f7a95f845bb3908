//! What every emulated serial module shares, whatever its AT grammar: the
//! pseudo-terminal a host opens as its serial port, the UART paced at the
//! line rate, real TCP connections for the module's sockets, and the
//! lifecycle of the shell task. An emulator (`wizfi310-sim`,
//! `wiz550s2e-sim`) is its own sans-IO interpreter plus an IO shell built
//! from these.
//!
//! # Layout
//!
//! - [`pty`]: the pseudo-terminal pair (tokio-serial, no extra dependency).
//! - [`uart`]: paced reading and writing of the pty ([`uart::LineRate`]).
//! - [`net`]: one real TCP connection per module socket, reporting
//!   [`net::SocketReport`]s; [`net::SocketLink`] is the shell's handle on it.
//! - [`faults`]: the fault queue and the dropped, delayed or garbled
//!   responses of a command.
//! - [`escape`]: the data-mode `+++` escape with its guard times.
//! - [`task`]: the shell task and its handle ([`task::ModuleTask`]), and
//!   the guard that ends helper tasks with it ([`task::TaskGuard`]).
//! - [`cli`]: what the binaries share — stderr logging and fault tickers.

#![warn(missing_docs, unreachable_pub)]

pub mod cli;
pub mod escape;
pub mod faults;
pub mod net;
pub mod pty;
pub mod task;
pub mod uart;
