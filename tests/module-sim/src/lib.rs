//! What every emulated serial module shares, whatever its AT grammar: the
//! pseudo-terminal a host opens as its serial port, the UART paced at the
//! line rate, and real TCP connections for the module's sockets. An
//! emulator (`wizfi310-sim`, `wiz550s2e-sim`) is its own sans-IO
//! interpreter plus an IO shell built from these.
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

#![warn(missing_docs, unreachable_pub)]

pub mod escape;
pub mod faults;
pub mod net;
pub mod pty;
pub mod uart;
