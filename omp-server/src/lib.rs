//! `omp-server`: the OMP side of GMMP — a replacement for SK Telecom's
//! ThingPlug sandbox. A WizFi310 given
//! `AT+GMMPSET=1,<this machine>,31002,ThingPlug,<MAC>,<maker>,<id>`
//! registers, heartbeats and delivers as it did with ThingPlug; every
//! delivery is committed to SQLite before the module hears STATUS_OK.
//!
//! [`run`] starts the server on the addresses of a [`Config`] and returns
//! a [`RunningServer`] with the bound address (tests bind `127.0.0.1:0`);
//! cancelling the shutdown token stops accepting, lets in-flight requests
//! finish (deliveries are committed and answered), closes the sessions,
//! drains the writer and closes the database.
//!
//! # Layout
//!
//! - [`auth_id`]: a MAC given as an auth ID, in the form a WizFi310 registers with.
//! - [`config`]: flags / `OMP_…` environment / TOML file → [`Config`].
//! - [`error`]: one error type per layer.
//! - [`escaped`]: peer-supplied text made safe for a log line.
//! - [`state`]: [`Shared`], the one state every part holds (the HTTP API too).
//! - [`data_dir`]: the data directory made ready and held by one server.
//! - [`file_modes`]: owner-only modes for the data directory and its secret
//!   files, and the start-up check that names what others can read.
//! - [`secret`]: the one constant-time comparison of secrets.
//! - [`directory`]: in-memory auth_id → GW map for hot-path authentication.
//! - [`registry`]: GW ID → live session (push frames, close, "connected").
//! - [`cluster`]: on PostgreSQL, the instances sharing the database and
//!   which one holds each live session (the newest, across instances).
//! - [`revocation`]: removing an approval deregisters the GW and closes its sessions.
//! - [`ids`]: auth key generation.
//! - [`listen`]: the accept loop and connection caps GMMP, MQTT and MQTTS share.
//! - [`gmmp`]: listener, sessions and one handler per message family.
//! - [`mqtt`]: the MQTT listener, sessions, login, routing and `$dp`.
//! - [`control`]: the control queue and its dispatcher task.
//! - [`store`]: SQLite or PostgreSQL behind one seam (`store::db`), one file
//!   per table, and the group-commit writer.
//! - [`events`]: the outbox's feed — "events up to id N are committed" —
//!   and the events noted for the writer's next batch.
//! - [`export`]: a gateway's deliveries as CSV or NDJSON, streamed in
//!   constant memory (the HTTP export and `omp-server export`).
//! - [`provision`]: the `omp-server provision add|list|remove` commands.
//! - [`retention`]: the task that removes rows older than their period.
//! - [`summary`]: the one-line summary logged each `summary_interval`.
//! - [`webhooks`]: the outbox POSTed to receivers, one task per webhook.
//! - [`outbound`]: the runtime of webhook deliveries and event streams,
//!   apart from ingest and at a lower CPU priority.
//!
//! - [`http`]: the HTTP API of `openapi/openapi.yaml` (axum).
//!
//! Decisions: Times in the
//! database are Unix milliseconds. Deliveries are stored with the T-ID as
//! sent and never de-duplicated by it (docs/gmmp.md §7).

#![warn(missing_docs, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod auth_id;
pub mod cluster;
pub mod config;
pub mod control;
pub mod data_dir;
pub mod directory;
pub mod error;
pub mod escaped;
pub mod events;
pub mod export;
pub mod file_modes;
pub mod gmmp;
pub mod http;
pub mod ids;
pub mod listen;
pub mod migrate;
pub mod mqtt;
pub mod outbound;
pub mod provision;
pub mod registry;
pub mod retention;
pub mod revocation;
pub mod secret;
pub mod state;
pub mod store;
pub mod summary;
pub mod webhooks;

pub use config::{Config, ProvisioningMode};
pub use error::ServerError;
pub use state::Shared;

/// How often last-contact times are written to the database.
const LAST_SEEN_FLUSH_EVERY: Duration = Duration::from_secs(5);

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound GMMP address (the real port when `:0` was asked).
    pub gmmp_addr: SocketAddr,
    /// The bound MQTT address, if MQTT listens.
    pub mqtt_addr: Option<SocketAddr>,
    /// The bound MQTTS address, if MQTTS listens.
    pub mqtts_addr: Option<SocketAddr>,
    /// The bound HTTP API address.
    pub http_addr: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The shared state (for the HTTP API and tests).
    pub state: Arc<Shared>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Waits until the server has shut down (after the token is cancelled).
    pub async fn wait(self) -> Result<(), ServerError> {
        self.task.await?
    }
}

/// Opens the store, binds the GMMP listener and starts serving until
/// `shutdown` is cancelled.
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServerError> {
    config.check()?;
    data_dir::prepare(&config.data_dir)?;
    let data_dir_lock = data_dir::DataDirLock::acquire(&config.data_dir)?;
    let db_path = config.database_path();
    let (db, store_name) = store::Db::open(config.database_url.as_deref(), &db_path).await?;
    let directory = directory::Directory::load(
        store::gateways::load_active(&db).await?,
        store::devices::load_active(&db).await?,
    );
    // Revocations before now are in the directory already (deregistered).
    let revocations_seen = store::revocations::last_seq(&db).await?;
    let writer_stop = CancellationToken::new();
    let (writer, writer_task) = store::writer::spawn(
        &db,
        config.writer_queue_capacity,
        config.writer_batch_max,
        config.split_limits(),
        writer_stop.clone(),
    )
    .await?;
    let listener = TcpListener::bind(config.gmmp_listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.gmmp_listen,
            source,
        })?;
    let gmmp_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.gmmp_listen,
        source,
    })?;
    let mqtt_listener = bind_optional(config.mqtt_listen).await?;
    let mqtt_addr = mqtt_listener.as_ref().map(|(_, a)| *a);
    let mqtts_listener = bind_optional(config.mqtts_listen).await?;
    let mqtts_addr = mqtts_listener.as_ref().map(|(_, a)| *a);
    let mqtts_acceptor = match mqtts_addr {
        Some(_) => Some(mqtts_acceptor(&config).await?),
        None => None,
    };
    let http_listener = TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.http_listen,
            source,
        })?;
    let http_addr = http_listener
        .local_addr()
        .map_err(|source| ServerError::Bind {
            addr: config.http_listen,
            source,
        })?;
    let api_key = http::auth::load_or_create_api_key(&config.data_dir, config.api_key.as_deref())?;
    match &api_key.source {
        http::auth::KeySource::Configured => tracing::info!("HTTP API key: the configured api_key"),
        http::auth::KeySource::File(path) | http::auth::KeySource::Generated(path) => {
            tracing::info!(path = %path.display(), "HTTP API key is in this file (Authorization: Bearer <key>)")
        }
    }
    let key_file = match &api_key.source {
        http::auth::KeySource::Configured => None,
        http::auth::KeySource::File(path) | http::auth::KeySource::Generated(path) => Some(path),
    };
    for exposed in file_modes::check(
        &config.data_dir,
        &file_modes::secret_files(&db_path, key_file.map(PathBuf::as_path)),
    ) {
        tracing::warn!("{exposed}");
    }
    let data_dir = config.data_dir.clone();
    tracing::info!(http = %http_addr, "omp-server serving the HTTP API");
    tracing::info!(gmmp = %gmmp_addr, data = %store_name, gateways = directory.len(),
        max_connections = config.max_connections, "omp-server listening for GMMP");
    match mqtt_addr {
        Some(mqtt) => tracing::info!(%mqtt, "omp-server listening for MQTT"),
        None => tracing::info!("MQTT listener off (mqtt_listen = none)"),
    }
    match mqtts_addr {
        Some(mqtts) => {
            tracing::info!(%mqtts, "omp-server listening for MQTTS (TLS, or plain MQTT)")
        }
        None => tracing::info!("MQTTS listener off (mqtts_listen = none)"),
    }
    if config.provisioning == ProvisioningMode::Open {
        tracing::warn!("provisioning is open: any auth_id may register (private sandbox only)");
    }
    // Several instances may share a PostgreSQL database; on SQLite one
    // process holds every session and there is no cluster.
    let cluster = match db.as_postgres() {
        Some(pool) => Some(cluster::Cluster::register(pool, config.instance_heartbeat).await?),
        None => None,
    };
    let (control, control_inbox) = control::ControlHandle::channel();
    let control_config = config.control.clone();
    let state = Arc::new(
        Shared::new(config, db, writer, directory, control, api_key.key).with_cluster(cluster),
    );
    let cluster_stop = CancellationToken::new();
    let cluster_task = cluster::spawn(&state, cluster_stop.clone());
    let control_stop = CancellationToken::new();
    let control_task = control::dispatcher::spawn(
        &state.db,
        control_config,
        control_inbox,
        state.control_watch().clone(),
        state.events().clone(),
        control_stop.clone(),
    )
    .await?;
    let http_task = tokio::spawn(http::serve(
        http::listener::LimitedListener::new(
            http_listener,
            state.config.http_max_connections,
            state.config.http_idle_timeout,
        ),
        http::router(state.clone()),
        state.config.http_header_timeout,
        shutdown.clone(),
    ));
    state
        .mqtt
        .router
        .restore_retained(store::mqtt_messages::retained(&state.db).await?);
    webhooks::start_all(&state).await?;
    let tracker = TaskTracker::new();
    let mqtt_task = mqtt_listener.map(|(listener, _)| {
        tokio::spawn(listen::accept_loop(
            listener,
            state.clone(),
            shutdown.clone(),
            tracker.clone(),
            listen::MQTT,
            mqtt::session::run::<tokio::net::TcpStream>,
        ))
    });
    let mqtts_task = mqtts_listener
        .zip(mqtts_acceptor)
        .map(|((listener, _), acceptor)| {
            tokio::spawn(listen::accept_loop(
                listener,
                state.clone(),
                shutdown.clone(),
                tracker.clone(),
                listen::MQTTS,
                move |state, stream, peer, permit, slot, shutdown| {
                    mqtt::tls::run(
                        acceptor.clone(),
                        state,
                        stream,
                        peer,
                        permit,
                        slot,
                        shutdown,
                    )
                },
            ))
        });
    let flusher = tokio::spawn(flush_last_seen(state.clone(), shutdown.clone()));
    let summary = tokio::spawn(summary::run(
        state.clone(),
        state.config.summary_interval,
        shutdown.clone(),
    ));
    let retention_task = tokio::spawn(retention::run(state.clone(), shutdown.clone()));
    let revocation_watch = tokio::spawn(revocation::watch(
        state.clone(),
        revocations_seen,
        shutdown.clone(),
    ));
    let task = tokio::spawn({
        let state = state.clone();
        async move {
            listen::accept_loop(
                listener,
                state.clone(),
                shutdown,
                tracker.clone(),
                listen::GMMP,
                gmmp::session::run,
            )
            .await;
            // Event streams end now, so the HTTP server's graceful
            // shutdown does not wait out its grace for them.
            state.events().close();
            // Webhook tasks end before the pool closes (a cursor being
            // written is committed or not, never half).
            state.webhooks.stop_all().await;
            if let Some(mqtt_task) = mqtt_task {
                mqtt_task.await?;
            }
            if let Some(mqtts_task) = mqtts_task {
                mqtts_task.await?;
            }
            tracing::info!(
                sessions = tracker.len(),
                "stopped accepting; closing sessions"
            );
            tracker.close();
            tracker.wait().await;
            // The sessions are gone: the instance's rows go with them.
            cluster_stop.cancel();
            if let Some(cluster_task) = cluster_task {
                cluster_task.await?;
            }
            // The sessions are gone: nothing more for the dispatcher.
            control_stop.cancel();
            control_task.await?;
            flusher.await?;
            summary.await?;
            revocation_watch.await?;
            // It stops between batches; the writer is still there for it.
            retention_task.await?;
            // Last contacts go to the writer, which drains its queue on stop.
            if let Err(e) = state.flush_last_seen().await {
                tracing::warn!(error = %e, "last contact times not saved");
            }
            writer_stop.cancel();
            writer_task.await?;
            http_task.await?.map_err(|source| ServerError::Http {
                addr: http_addr,
                source,
            })?;
            state.db.close().await;
            // Only now may another server take the directory.
            drop(data_dir_lock);
            tracing::info!("omp-server stopped");
            Ok(())
        }
    });
    Ok(RunningServer {
        gmmp_addr,
        mqtt_addr,
        mqtts_addr,
        http_addr,
        data_dir,
        state,
        task,
    })
}

/// Binds `addr` unless the listener is off; the listener and its bound
/// address.
async fn bind_optional(
    addr: Option<SocketAddr>,
) -> Result<Option<(TcpListener, SocketAddr)>, ServerError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let bind_error = |source| ServerError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok(Some((listener, bound)))
}

/// The TLS side of the MQTTS port: the configured certificate, else the
/// data directory's (made now at the first start: RSA key generation
/// takes a while, so off the runtime's threads).
async fn mqtts_acceptor(config: &Config) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
    use mqtt::tls::certificate::{self, CertSource};

    let data_dir = config.data_dir.clone();
    let configured = config.mqtts_cert.clone().zip(config.mqtts_key.clone());
    let cert = tokio::task::spawn_blocking(move || {
        certificate::load_or_create(
            &data_dir,
            configured.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )
    })
    .await??;
    let fingerprint = cert.fingerprint();
    match &cert.source {
        CertSource::Configured => tracing::info!(cert = %cert.cert_path.display(),
            sha256 = fingerprint, "MQTTS certificate: the configured mqtts_cert"),
        CertSource::File(path) => tracing::info!(cert = %path.display(), sha256 = fingerprint,
            "MQTTS certificate: the self-signed one in the data directory"),
        CertSource::Generated(path) => tracing::info!(cert = %path.display(),
            sha256 = fingerprint, "MQTTS certificate: self-signed, made now"),
    }
    Ok(mqtt::tls::acceptor(cert)?)
}

/// Hands last-contact times to the writer every few seconds, and noted
/// events (gateways and MQTT clients online or offline, refused
/// registrations) as soon as they are noted, so the event stream does not
/// lag by the flush period.
async fn flush_last_seen(state: Arc<Shared>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(LAST_SEEN_FLUSH_EVERY);
    loop {
        let result = tokio::select! {
            _ = every.tick() => state.flush_last_seen().await,
            () = state.events().noted() => state.flush_events().await,
            () = shutdown.cancelled() => return,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "last contact times or events not saved");
        }
    }
}
