//! The agent's main loop: the engine, a transport, the spool, the data
//! sources and the controls tied together.
//!
//! ```text
//! sources ──lines──▶ spool (fsync) ──in order──▶ engine ──frames──▶ transport ──▶ OMP
//!                      ▲                            │ Delivered (STATUS_OK)
//!                      └──────── remove ◀───────────┘
//! ```
//!
//! [`Agent::start`] opens the state directory (identity, spool, status)
//! and starts the data sources; [`Agent::run`] then connects, lets the
//! engine register, and loops: feed the engine from the spool, send its
//! frames, act on its events, and wait for a frame, a source line, a
//! finished control or the engine's next timeout. When the connection is
//! lost the engine keeps its in-flight deliveries and the sources keep
//! spooling; the agent reconnects after an exponential back-off with
//! jitter (`reconnect.initial` doubling up to `reconnect.max`, each delay
//! drawn from its upper half), reset once a session is ready again.
//!
//! A delivery the OMP refuses for good (or that cannot be framed, e.g. for
//! a device no longer configured) is set aside in `rejected.jsonl` in the
//! state directory (one JSON line, synced) and then removed from the spool:
//! never lost, never blocking the ones behind it.
//!
//! When the spool is full under the drop-oldest policy, the deliveries it
//! is about to drop — the oldest not on the wire first (dropping a sent
//! one frees no link time, and it may be stored already) — are first
//! written to `dropped.jsonl` (same form, with the reason, synced), and
//! only then dropped; the engine forgets them (not sent again). A drop is therefore always on disk: a crash between
//! the two steps leaves the delivery both recorded and still spooled (it
//! is sent, and may be recorded again when dropped again), never neither.
//! If the record cannot be written the new delivery is refused instead.
//!
//! Controls run inside the session: a host command still running when the
//! session ends is killed (its control died with the session, and the
//! notification could not be sent anyway). A Reset control is answered
//! (0x0E, then 0x17 rc 0x00) before the reset: the session closes, the
//! transport resets the module (bridge: AT+MRESET, `[Reset Event]`) and
//! the next connect re-initialises it and joins Wi-Fi again.
//!
//! [`Agent::run`] serves the frame transports (`direct`, `bridge`);
//! [`Agent::run_native`] (in `native`) the module's own GMMP client.
//! A run of working sessions closed by the OMP is said to be a probable
//! takeover by another connection with the same auth ID (`takeover`).
//! [`Agent::add_module_source`] starts the module readings
//! ([`crate::sources::module`]) when the config asks for them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use gmmp_codec::{AuthId, DomainCode, FixedStr, ManufactureId};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ListenAddr};
use crate::engine::{
    DeviceSpec, Engine, EngineConfig, EngineError, Event, PendingControl, SessionState,
};
use crate::module::ModuleHandle;
use crate::sources::{self, LineDefaults, LocalListener, SourceMessage};
use crate::spool::{Spool, SpoolError, SpooledDelivery};
use crate::status::{Status, StatusReporter};
use crate::transport::{ModuleOp, Transport, TransportError};

mod backoff;
mod controls;
mod down_log;
mod events;
mod identity;
mod intake;
mod native;
mod status;
mod takeover;

use backoff::Backoff;
use down_log::DownLog;

/// Capacity of the channel from the sources: a source waits (and its
/// socket client with it) while the agent is this far behind.
const SOURCE_QUEUE: usize = 1024;
/// Source messages spooled in one go before the loop looks at the rest.
const ACCEPT_BATCH: usize = 256;
/// Why a session ended when the OMP closed it.
const OMP_CLOSED: &str = "the OMP closed the connection";
/// File where refused deliveries are set aside.
pub const REJECTED_FILE: &str = "rejected.jsonl";
/// File where deliveries dropped by a full spool are recorded.
pub const DROPPED_FILE: &str = "dropped.jsonl";

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The state directory could not be used.
    #[error("state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The local data socket could not be bound.
    #[error("cannot listen on {addr:?}: {source}")]
    Listen {
        /// The address.
        addr: ListenAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The transport has no auth ID to give (no module MAC) and none is
    /// configured. (A module that does not answer yet is asked again.)
    #[error("cannot learn the auth ID from the {transport} transport: {source}")]
    AuthId {
        /// Transport name.
        transport: &'static str,
        /// Why.
        source: TransportError,
    },
    /// A configured value does not fit its GMMP field.
    #[error("config value does not fit its GMMP field: {0}")]
    Field(#[from] gmmp_codec::CodecError),
}

/// How a session ended.
enum SessionEnd {
    Shutdown,
    Reset,
    Lost(String),
}

/// The agent, with its state directory open and its sources running.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    spool: Spool,
    sources_rx: mpsc::Receiver<SourceMessage>,
    sources_tx: mpsc::Sender<SourceMessage>,
    local_addr: Option<ListenAddr>,
    source_tasks: Vec<JoinHandle<()>>,
    status: StatusReporter,
    /// The last spool sequence number handed to the engine.
    cursor: Option<u64>,
    /// Deliveries the spool dropped that the engine must forget.
    abandoned: Vec<u64>,
    /// Spool seqs on the wire (sorted), as of the session loop's last
    /// wait: a full spool drops these last.
    in_flight: Vec<u64>,
    spool_full_warned: bool,
    reset_pending: bool,
    omp_note: &'static str,
    last_status: Status,
}

impl Drop for Agent {
    fn drop(&mut self) {
        for t in &self.source_tasks {
            t.abort();
        }
    }
}

impl Agent {
    /// Opens the state directory and the spool, binds the local socket and
    /// starts reading stdin (as configured).
    pub async fn start(config: Config) -> Result<Agent, AgentError> {
        std::fs::create_dir_all(&config.state_dir).map_err(|source| AgentError::StateDir {
            path: config.state_dir.clone(),
            source,
        })?;
        let (spool, report) = Spool::open(config.spool_dir(), config.spool)?;
        for (path, bytes) in &report.truncated {
            tracing::warn!(path = %path.display(), bytes, "spool: dropped a torn record at the end of a segment");
        }
        tracing::info!(pending = report.pending, "spool opened");
        let (sources_tx, sources_rx) = mpsc::channel(SOURCE_QUEUE);
        let defaults = LineDefaults {
            report_type: config.report_type,
            media_type: config.media_type,
        };
        let mut source_tasks = Vec::new();
        let mut local_addr = None;
        if let Some(addr) = &config.sources.listen {
            let listener =
                LocalListener::bind(addr)
                    .await
                    .map_err(|source| AgentError::Listen {
                        addr: addr.clone(),
                        source,
                    })?;
            local_addr = listener.local_addr();
            tracing::info!(addr = ?local_addr, "listening for data");
            source_tasks.push(listener.spawn(sources_tx.clone(), defaults));
        }
        if config.sources.stdin {
            source_tasks.push(sources::spawn_stdin(sources_tx.clone(), defaults));
        }
        let status = StatusReporter::new(&config.state_dir);
        let config_transport = config.transport.name();
        Ok(Agent {
            config,
            spool,
            sources_rx,
            sources_tx,
            local_addr,
            source_tasks,
            status,
            cursor: None,
            abandoned: Vec::new(),
            in_flight: Vec::new(),
            spool_full_warned: false,
            reset_pending: false,
            omp_note: "starting",
            last_status: Status {
                transport: config_transport.to_string(),
                module: "unknown".into(),
                wifi: "unknown".into(),
                omp: "starting".into(),
                gw_id: None,
                spool_depth: 0,
                spool_bytes: 0,
                report_on: true,
                running: true,
                pid: std::process::id(),
                updated: 0,
            },
        })
    }

    /// The bound local data socket (the real port for `tcp:…:0`).
    pub fn local_addr(&self) -> Option<&ListenAddr> {
        self.local_addr.as_ref()
    }

    /// A programmatic data source (the load generator, tests).
    pub fn sender(&self) -> mpsc::Sender<SourceMessage> {
        self.sources_tx.clone()
    }

    /// Starts the module readings of `sources.module`, if configured,
    /// reading through `handle` (the bridge or native transport's).
    pub fn add_module_source(&mut self, handle: ModuleHandle) {
        if let Some(config) = self.config.sources.module.clone() {
            tracing::info!(interval = ?config.interval, adc = config.adc, gpio = ?config.gpio, "module readings on");
            self.source_tasks.push(crate::sources::module::spawn(
                handle,
                config,
                self.config.report_type,
                self.sources_tx.clone(),
            ));
        }
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run<T: Transport>(
        mut self,
        mut transport: T,
        shutdown: CancellationToken,
    ) -> Result<(), AgentError> {
        let mut backoff = Backoff::new(self.config.reconnect_initial, self.config.reconnect_max);
        let mut down_log = DownLog::default();
        let mut takeover = takeover::TakeoverHint::default();
        let auth_id = match self.config.auth_id.clone() {
            Some(a) => a,
            None => match self
                .learn_auth_id(&mut transport, &shutdown, &mut backoff)
                .await?
            {
                Some(a) => a,
                None => {
                    self.status.flush(Instant::now());
                    return Ok(());
                }
            },
        };
        let engine_config = self.engine_config(&auth_id, &transport)?;
        let stored = identity::load(&self.config.state_dir, &auth_id);
        if let Some(id) = &stored {
            tracing::info!(gw_id = %id.gw_id, "reusing the stored GW identity");
        }
        let mut engine = Engine::new(engine_config, stored);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            self.omp_note = "connecting";
            self.report_status(&engine, &transport);
            // Connecting can take long (module start-up, a Wi-Fi join, a
            // module that stopped answering): the sources are spooled and
            // answered meanwhile.
            let Some(connected) = self.while_accepting(transport.connect(), &shutdown).await else {
                break;
            };
            let end = match connected {
                Ok(()) => {
                    tracing::info!(transport = transport.name(), "connected to the OMP");
                    self.omp_note = "";
                    engine.connected(Instant::now());
                    let end = self
                        .session(
                            &mut engine,
                            &mut transport,
                            &shutdown,
                            &mut backoff,
                            &auth_id,
                        )
                        .await?;
                    engine.disconnected(Instant::now());
                    self.in_flight.clear();
                    transport.close().await;
                    end
                }
                Err(e) => SessionEnd::Lost(e.to_string()),
            };
            match end {
                SessionEnd::Shutdown => break,
                SessionEnd::Reset => {
                    tracing::info!("reset by control: re-initialising");
                    if transport.supports(ModuleOp::Reset)
                        && let Err(e) = transport.module_op(ModuleOp::Reset).await
                    {
                        tracing::warn!(error = %e, "module reset failed");
                    }
                }
                SessionEnd::Lost(reason) => {
                    let recovered = backoff.is_fresh();
                    let delay = backoff.next();
                    down_log.report("OMP session down", &reason, delay, recovered);
                    if !(recovered && reason == OMP_CLOSED) {
                        takeover.other_end();
                    } else if let Some(ends) = takeover.closed_by_omp(Instant::now()) {
                        tracing::warn!(
                            target: "gw_agent::agent",
                            %auth_id,
                            ends,
                            within = ?takeover::WINDOW,
                            "the OMP keeps closing this gateway's session once it is up: another \
                             connection registering the same auth ID probably takes it over (a \
                             second gw-agent, emulator or module with this MAC); the OMP's log \
                             names both peers"
                        );
                    }
                    self.omp_note = "down";
                    self.report_status(&engine, &transport);
                    if !self.idle(delay, &shutdown).await {
                        break;
                    }
                }
            }
        }
        self.omp_note = "stopped";
        self.report_status(&engine, &transport);
        self.status.flush(Instant::now());
        Ok(())
    }

    fn engine_config<T: Transport>(
        &self,
        auth_id: &str,
        transport: &T,
    ) -> Result<EngineConfig, AgentError> {
        let c = &self.config;
        let devices = c
            .devices
            .iter()
            .map(|d| {
                Ok(DeviceSpec {
                    name: d.name.clone(),
                    manufacture_id: ManufactureId::new(
                        "devices.manufacture_id",
                        &d.manufacture_id,
                    )?,
                })
            })
            .collect::<Result<_, gmmp_codec::CodecError>>()?;
        Ok(EngineConfig {
            domain_code: DomainCode::new("domain_code", &c.domain_code)?,
            auth_id: AuthId::new("auth_id", auth_id)?,
            manufacture_id: FixedStr::new("manufacture_id", &c.manufacture_id)?,
            devices,
            heartbeat_period: c.heartbeat_period,
            report_period: c.report_period,
            response_timeout: c.response_timeout,
            default_response_timeout: Duration::from_secs(30),
            max_retries: c.max_retries,
            max_in_flight: c.max_in_flight,
            keyed_deliveries: c.keyed_deliveries,
            retry_delay: c.retry_delay,
            host_controls: controls::host_controls(c, transport),
            encryption_flag: 0x02,
        })
    }

    /// One connected session; returns how it ended.
    async fn session<T: Transport>(
        &mut self,
        engine: &mut Engine,
        transport: &mut T,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
        auth_id: &str,
    ) -> Result<SessionEnd, AgentError> {
        let mut commands: JoinSet<(PendingControl, controls::Outcome)> = JoinSet::new();
        loop {
            // Work until the engine has nothing more to say.
            loop {
                let now = Instant::now();
                self.feed(engine, now)?;
                let mut busy = false;
                let mut batch = Vec::new();
                while let Some(mut frame) = engine.poll_transmit() {
                    // Keyed deliveries carry their spool time already.
                    if frame.header.origin_timestamp == 0 {
                        frame.header.origin_timestamp = crate::status::unix_now() as u32;
                    }
                    match frame.to_bytes() {
                        Ok(b) => batch.push(b),
                        Err(e) => tracing::error!(error = %e, "cannot encode a frame; dropped"),
                    }
                }
                if !batch.is_empty() {
                    busy = true;
                    // A send over the module can take a command's timeout
                    // (a lost AT reply); sources are spooled meanwhile, and
                    // a full spool must not pick what is being sent.
                    self.refresh_in_flight(engine);
                    match self
                        .while_accepting(transport.send_batch(batch), shutdown)
                        .await
                    {
                        None => return Ok(SessionEnd::Shutdown),
                        Some(Err(e)) => return Ok(SessionEnd::Lost(e.to_string())),
                        Some(Ok(())) => {}
                    }
                }
                if self.reset_pending {
                    self.reset_pending = false;
                    return Ok(SessionEnd::Reset);
                }
                while let Some(event) = engine.poll_event() {
                    busy = true;
                    if let Some(end) = self
                        .on_event(event, engine, transport, backoff, auth_id, &mut commands)
                        .await?
                    {
                        return Ok(end);
                    }
                }
                if !busy {
                    break;
                }
            }
            self.report_status(engine, transport);
            self.refresh_in_flight(engine);
            let timeout = engine.poll_timeout();
            let status_due = self.status.next_write();
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(SessionEnd::Shutdown),
                r = transport.recv() => match r {
                    Ok(Some(frame)) => {
                        engine.handle_frame(frame, Instant::now());
                        // Take the frames already here before answering, so
                        // the answers leave together (one AT+SSEND on the
                        // bridge). `recv` is cancel-safe, so polling it once
                        // loses nothing.
                        while let Some(more) = transport.recv().now_or_never() {
                            match more {
                                Ok(Some(frame)) => engine.handle_frame(frame, Instant::now()),
                                Ok(None) => return Ok(SessionEnd::Lost(OMP_CLOSED.into())),
                                Err(e) => return Ok(SessionEnd::Lost(e.to_string())),
                            }
                        }
                    }
                    Ok(None) => return Ok(SessionEnd::Lost(OMP_CLOSED.into())),
                    Err(e) => return Ok(SessionEnd::Lost(e.to_string())),
                },
                Some(msg) = self.sources_rx.recv() => self.accept_ready(msg),
                Some(done) = commands.join_next(), if !commands.is_empty() => {
                    if let Ok((control, (rc, body))) = done {
                        engine.complete_control(&control, rc, body, Instant::now());
                    }
                }
                _ = sleep_until(timeout), if timeout.is_some() => engine.handle_timeout(Instant::now()),
                _ = sleep_until(status_due), if status_due.is_some() => self.status.flush(Instant::now()),
            }
        }
    }

    /// The transport's auth ID (bridge: the module's MAC), asked again
    /// after the reconnect back-off while the module does not answer — a
    /// module busy rebooting, or left mid-command by a killed agent, is
    /// no reason to exit. `None` on shutdown.
    async fn learn_auth_id<T: Transport>(
        &mut self,
        transport: &mut T,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<Option<String>, AgentError> {
        let mut down_log = DownLog::default();
        loop {
            let Some(asked) = self
                .while_accepting(transport.default_auth_id(), shutdown)
                .await
            else {
                return Ok(None);
            };
            match asked {
                Ok(Some(mac)) => {
                    backoff.reset();
                    return Ok(Some(mac.replace(':', "").to_ascii_lowercase()));
                }
                Ok(None) => {
                    return Err(AgentError::AuthId {
                        transport: transport.name(),
                        source: TransportError::NoMac,
                    });
                }
                Err(e) => {
                    let recovered = backoff.is_fresh();
                    let delay = backoff.next();
                    down_log.report(
                        "cannot read the module's MAC (the default auth ID) yet",
                        &e.to_string(),
                        delay,
                        recovered,
                    );
                    if !self.idle(delay, shutdown).await {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Runs `work` (a connect, a module query) while still spooling and
    /// answering source data, as [`idle`](Self::idle) does; `None` on
    /// shutdown.
    async fn while_accepting<F: std::future::Future>(
        &mut self,
        work: F,
        shutdown: &CancellationToken,
    ) -> Option<F::Output> {
        self.spooling_while(async {
            tokio::select! {
                r = work => Some(r),
                _ = shutdown.cancelled() => None,
            }
        })
        .await
    }

    /// The spool seqs the engine has sent and awaits answers for (a full
    /// spool drops those last).
    fn refresh_in_flight(&mut self, engine: &Engine) {
        self.in_flight.clear();
        self.in_flight.extend(engine.in_flight_seqs());
        self.in_flight.sort_unstable();
    }

    /// Runs `work` while still spooling and answering source data: the
    /// one place the agent waits on anything but its sources.
    async fn spooling_while<F: std::future::Future>(&mut self, work: F) -> F::Output {
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return r,
                Some(msg) = self.sources_rx.recv() => {
                    self.accept(msg);
                    self.status.update(self.status_snapshot_depth(), Instant::now());
                }
            }
        }
    }

    /// Waits `delay` while still spooling source data; false on shutdown.
    async fn idle(&mut self, delay: Duration, shutdown: &CancellationToken) -> bool {
        self.while_accepting(tokio::time::sleep(delay), shutdown)
            .await
            .is_some()
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
