//! The module's own GMMP client (AT+GMMPSET / AT+GMMPDATA / AT+GMMPOPT),
//! built on `gmmp-codec`, behaving as docs/wizfi310.md §4 describes:
//!
//! - AT+GMMPSET=1 starts it: connect over TCP, retrying every
//!   `SimConfig::gmmp_retry` (about a second) forever; on connect print
//!   `GmmpRecvThread : connect try <ip>:<port>, <local port>` (debug) and
//!   the event `[GMMP Connect]`.
//! - On every connect: GW registration (manufacture id = 6th parameter) →
//!   profile (device id empty) → device registration (manufacture id = 7th
//!   parameter). Any rc ≠ 0 closes the connection (`[GMMP Disconnect]`)
//!   and leaves the client idle until the next AT+GMMPSET=1.
//! - Periods come from the profile response and override AT+GMMPOPT=11/12
//!   (which apply until a profile arrives); the timer loop ticks every
//!   `SimConfig::gmmp_tick` and fires after period × 6 ticks; 0 disables.
//! - T-IDs, the auth key and the GW ID are kept as the module's GMMP
//!   library keeps them (module `library`): one T-ID, zeroed by
//!   AT+GMMPSET=1; GW registration, device registration, every delivery
//!   and every heartbeat take the next one, the profile request goes out
//!   under the GW registration's, answering a control sets it to the
//!   control's and the notification carries that too. The key and the GW
//!   ID sit in 16-byte C string buffers: one of 16 characters leaves no
//!   room for the NUL, and the library then refuses every later call with
//!   LIB_PARAM_ERROR (10012) without sending it, printing
//!   `<OMP><Marker:ERR> Code[10012], LIB_PARAM_ERROR` — after GW
//!   registration the module goes silent until the connection ends.
//! - Deliveries are GW-level (device id empty), report type 0x01, media
//!   type 0x01; AT+GMMPDATA=1 sends at once, =0 stores the data for each
//!   report period. The data is a C string of at most 241 bytes (the
//!   firmware's 256-byte command buffer), so a delivery is never split.
//! - A control (0x0D) is answered at once with 0x0E rc 0, printed as
//!   `[GMMP Control <type in decimal>]`, then notified with 0x17 rc 0 and an
//!   empty body, both under the control's T-ID.
//! - Every frame the module sends has encryption flag 0x02, as the real
//!   module's (docs/gmmp.md §7). Each sent frame is traced as the codec's
//!   WizFi310 trace plus `GMMP Trace :  [GW->OMP]<function> End`, each
//!   received one as `GMMP Trace :  Recv Header Type = <hex>, Read Body
//!   Size = <dec>` plus its trace (docs/wizfi310.md §3).
//! - AT+GMMPSET=0 (or a reset) closes the connection: `[GMMP Disconnect]`.

mod library;
mod session;

use std::time::Duration;

use bytes::Bytes;

use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::interpreter::{GmmpCommand, GmmpLine, GmmpServer};

use self::library::Library;
use self::session::{Session, SessionEnd};

/// Timing of the client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// One tick of the timer loop.
    pub(crate) tick: Duration,
    /// Pause between connection attempts.
    pub(crate) retry: Duration,
}

/// What survives a connection: the AT+GMMPDATA / AT+GMMPOPT state and
/// the library's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stored {
    pub(crate) data: Option<Bytes>,
    pub(crate) heartbeat_period: u32,
    pub(crate) report_period: u32,
    library: Library,
}

impl Stored {
    /// Applies a command that does not change the connection; returns the
    /// command back when it does (start / stop) or needs a session (send).
    fn absorb(&mut self, command: GmmpCommand) -> Option<GmmpCommand> {
        match command {
            GmmpCommand::StoreData(data) => self.data = Some(data),
            GmmpCommand::HeartbeatPeriod(p) => self.heartbeat_period = p,
            GmmpCommand::ReportPeriod(p) => self.report_period = p,
            other => return Some(other),
        }
        None
    }
}

/// Runs the client until `commands` closes. `print` gets every line.
pub(crate) async fn run(
    mut commands: mpsc::UnboundedReceiver<GmmpCommand>,
    print: impl Fn(GmmpLine),
    timing: Timing,
) {
    let mut stored = Stored::default();
    let mut next: Option<GmmpServer> = None;
    loop {
        let server = match next.take() {
            Some(server) => server,
            None => match idle(&mut commands, &mut stored).await {
                Some(server) => server,
                None => return,
            },
        };
        match connected(&mut commands, &mut stored, &print, timing, server).await {
            Ending::Idle => {}
            Ending::Restart(server) => next = Some(server),
            Ending::Gone => return,
        }
    }
}

/// Waits for AT+GMMPSET=1; `None` when the emulator is gone.
async fn idle(
    commands: &mut mpsc::UnboundedReceiver<GmmpCommand>,
    stored: &mut Stored,
) -> Option<GmmpServer> {
    loop {
        match stored.absorb(commands.recv().await?) {
            Some(GmmpCommand::Start(server)) => return Some(server),
            // Nothing to stop, no connection to send on: dropped.
            _ => continue,
        }
    }
}

enum Ending {
    Idle,
    Restart(GmmpServer),
    Gone,
}

/// Starts the client (the library's `Initializaion`), then connects
/// (retrying) and runs sessions until stopped.
async fn connected(
    commands: &mut mpsc::UnboundedReceiver<GmmpCommand>,
    stored: &mut Stored,
    print: &impl Fn(GmmpLine),
    timing: Timing,
    server: GmmpServer,
) -> Ending {
    stored.library.initialise();
    loop {
        let attempt = TcpStream::connect((server.ip, server.port));
        let stream = tokio::select! {
            result = attempt => result,
            command = commands.recv() => match command.map(|c| stored.absorb(c)) {
                None => return Ending::Gone,
                Some(Some(GmmpCommand::Stop)) => return Ending::Idle,
                Some(Some(GmmpCommand::Start(s))) => return Ending::Restart(s),
                Some(_) => continue,
            },
        };
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!("GMMP connect to {}:{} failed: {e}", server.ip, server.port);
                tokio::select! {
                    _ = tokio::time::sleep(timing.retry) => continue,
                    command = commands.recv() => match command.map(|c| stored.absorb(c)) {
                        None => return Ending::Gone,
                        Some(Some(GmmpCommand::Stop)) => return Ending::Idle,
                        Some(Some(GmmpCommand::Start(s))) => return Ending::Restart(s),
                        Some(_) => continue,
                    },
                }
            }
        };
        let local_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
        print(GmmpLine::Debug(format!(
            "GmmpRecvThread : connect try {}:{}, {local_port}",
            server.ip, server.port
        )));
        print(GmmpLine::Event("[GMMP Connect]".into()));
        let end = Session::new(stream, &server, stored, print, timing)
            .run(commands)
            .await;
        print(GmmpLine::Event("[GMMP Disconnect]".into()));
        match end {
            SessionEnd::Lost => tokio::time::sleep(timing.retry).await,
            SessionEnd::Refused | SessionEnd::Stopped => return Ending::Idle,
            SessionEnd::Restart(s) => return Ending::Restart(s),
            SessionEnd::Gone => return Ending::Gone,
        }
    }
}
