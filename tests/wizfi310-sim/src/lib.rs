//! An emulated WIZnet WizFi310 Wi-Fi module on a pseudo-terminal, so the
//! project's AT driver is tested through a real serial device path.
//!
//! ```no_run
//! use std::time::Duration;
//! use wizfi310_sim::{Fault, SimConfig, SimControl, Simulator};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let sim = Simulator::start(SimConfig {
//!     mac: "0008dc1e3222".into(),   // AT+MMAC=? prints 00:08:DC:1E:32:22
//!     ssid: "testnet".into(),       // AT+WSET / AT+WSEC must match to join
//!     passphrase: "12345678".into(),
//!     baud: 115200,                 // pty paced at this rate when `pace`
//!     pace: false,
//!     ..SimConfig::default()
//! })
//! .await?;
//! let path: &std::path::Path = sim.tty_path(); // open it with tokio-serial
//! let ctl: SimControl = sim.control();
//! ctl.set_adc(1234);
//! ctl.set_gpio(3, true);
//! ctl.set_rssi(-55);
//! ctl.inject(Fault::DelayNextResponse(Duration::from_millis(500)));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The binary `wizfi310-sim --mac … --ssid … --passphrase … --baud …`
//! prints the pty path as the first line of its standard output and runs
//! until SIGINT / SIGTERM (`--help` lists the fault switches).
//!
//! # Behaviour
//!
//! Commands follow the AT reference (docs/wizfi310.md §1): CR-terminated input (LF is
//! ignored), case-insensitive `AT`, echo on by default (each typed byte as
//! it comes, CR echoed as CR LF), lines ending CR LF, `[OK]`, `[ERROR]`,
//! `[ERROR: INVALID INPUT]` for unknown commands or bad parameters,
//! `[ERROR: WiFi Status]` for socket commands before AT+WJOIN,
//! `[ERROR: INVALID SCID]` for a bad or closed socket id, `[ERROR: Mode
//! Status]` for AT+SCON while a data-mode socket exists. Implemented: AT,
//! AT+MMAC, AT+MINFO, AT+MECHO, AT+MMSG, AT+MRESET, AT+USET, AT+FGETADC,
//! AT+FGPIO, AT+WSET, AT+WSEC, AT+WNET, AT+WJOIN, AT+WLEAVE, AT+WSTAT,
//! AT+SCON, AT+SSEND, AT+SMGMT, AT+SFORM, AT+SDATA, AT+SOPT1, AT+GMMPSET,
//! AT+GMMPDATA, AT+GMMPOPT, with their `=?` forms where the reference has
//! them. Events are framed `\r\n[…]\r\n` as AT+MEVTFORM shows. As in
//! WIZnet's firmware source, a command line keeps its first 255 bytes
//! (a 256-byte buffer; the rest is echoed and dropped) and ends at its
//! first NUL; so AT+GMMPDATA carries at most 241 bytes, and the module's
//! GMMP deliveries are never split.
//!
//! Where the reference is silent, these choices were made (and where a
//! driver could reasonably expect otherwise, a [`SimConfig`] field selects
//! the alternative):
//! - AT+SSEND prints `[<sid>,<ip>,<port>,<len>]` (as given, e.g.
//!   `[0,,,5]`) before reading the payload — what WIZnet's own mbed and
//!   Arduino drivers wait for ([`SsendPrompt`]); the payload is not echoed;
//!   `[OK]` follows once it is handed to the socket.
//! - AT+SCON=O answers `[OK]` after the TCP handshake, then `[CONNECT n]`;
//!   a failed connect answers `[ERROR]`. Only TCP clients are emulated.
//! - AT+SMGMT=n prints `[DISCONNECT n]` before `[OK]`; AT+WLEAVE prints
//!   `[DISCONNECT n]` for open sockets, then `[Link-Down Event]`, `[OK]`.
//! - AT+MRESET: `[OK]`, then after `reset_delay` the module reboots
//!   (sockets closed, echo on, AT+MMSG=2, AT+SFORM default, GMMP stopped;
//!   Wi-Fi settings, MAC and UART kept as in flash) and prints
//!   `[Reset Event]`. Input during the reboot is lost.
//! - Received socket data is printed per TCP read, split into records of
//!   at most `recv_chunk` bytes; in data mode it is passed through raw.
//! - AT+MMSG=1 hides status lines and events, not values or data.
//! - AT+WSTAT prints the header line and, when joined,
//!   `STA/<ssid>/<ip>/<gw>/<MAC>/15/<rssi>` with the RSSI signed (-55).
//! - Data mode: `+++` escapes when the guard time (AT+SOPT1=10, default
//!   [`SimConfig::escape_guard`]) passes before the first `+` and after the
//!   third; `[OK]` is printed on escape; AT+SDATA returns.
//!
//! Faults ([`Fault`], or the binary's switches through [`FaultPlan`]):
//! dropped or delayed responses (the echo and events are not affected),
//! a garbled line (content reversed, first byte 0xFF, CR LF kept), an
//! unsolicited `[Reset Event]`, `[Link-Down Event]` (then `[DISCONNECT n]`
//! per socket; ignored when not joined), a socket closed (`[DISCONNECT n]`,
//! the peer sees the close); and the access point taken off the air
//! ([`SimControl::set_access_point`]: link down, joins fail until it is back).
//!
//! # Layout
//!
//! - [`config`]: [`SimConfig`], [`SsendPrompt`], [`FaultPlan`].
//! - [`control`]: [`SimControl`], [`Fault`] and the shared board values.
//! - [`interpreter`]: the sans-IO AT interpreter (bytes and events in,
//!   [`interpreter::Action`]s out), one file per command family.
//! - `gmmp_client`: the module's GMMP client on `gmmp-codec` (its docs
//!   list the firmware behaviours it copies).
//! - `simulator`: [`Simulator`], the IO shell running everything.
//!
//! The pty, the paced UART and the real sockets come from `module-sim`,
//! the machinery every module emulator shares.

#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod control;
mod gmmp_client;
pub mod interpreter;
mod simulator;

pub use config::{FaultPlan, SimConfig, SsendPrompt};
pub use control::{Fault, SimControl};
pub use interpreter::{AtError, Interpreter};
pub use simulator::Simulator;
