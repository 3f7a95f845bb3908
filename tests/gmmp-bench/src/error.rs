//! [`BenchError`], the one error type of the bench.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a scenario could not run or could not be trusted.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A simulated gateway could not go on.
    #[error(transparent)]
    Gateway(#[from] test_support::gmmp_client::ClientError),
    /// Not one simulated gateway registered.
    #[error(
        "no gateway registered at {target} ({attempted} tried; first error: {first_error}); \
         is omp-server listening there (its GMMP port is 31002 by default) and started with \
         `--provisioning open`, or are the bench's auth IDs approved?"
    )]
    NoneRegistered {
        /// The GMMP address tried.
        target: SocketAddr,
        /// Registrations attempted.
        attempted: usize,
        /// The first registration's error.
        first_error: String,
    },
    /// A socket or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`connect 127.0.0.1:31002`).
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The OMP answered something the protocol does not allow here.
    #[error("gateway {auth_id}: {detail}")]
    Protocol {
        /// The simulated gateway's auth ID.
        auth_id: String,
        /// What was expected and what came.
        detail: String,
    },
    /// No answer in time.
    #[error("{what}: no answer within {secs} s")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit.
        secs: u64,
    },
    /// An HTTP request failed or answered an unexpected status.
    #[error("HTTP {method} {url}: {detail}")]
    Http {
        /// GET, POST, …
        method: &'static str,
        /// The URL.
        url: String,
        /// The status and body, or the client error.
        detail: String,
    },
    /// The SQLite database could not be read or written.
    #[error("database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The rows stored do not match the deliveries acknowledged.
    #[error(
        "check failed: {acknowledged} deliveries acknowledged but {rows} new rows in {table} \
         ({before} before the run, {after} after)"
    )]
    RowMismatch {
        /// STATUS_OK responses counted by the bench.
        acknowledged: u64,
        /// New rows (after − before).
        rows: i64,
        /// The table counted.
        table: String,
        /// Rows before the run.
        before: i64,
        /// Rows after the run.
        after: i64,
    },
    /// The control scenario saw controls lost or delivered twice.
    #[error("control check failed: {lost} lost, {duplicated} duplicated, {failed} not SUCCESS")]
    ControlMismatch {
        /// POSTed but never seen as 0x0D.
        lost: u64,
        /// Seen as 0x0D more than once.
        duplicated: u64,
        /// Never reached SUCCESS.
        failed: u64,
    },
    /// The events scenario saw an event missing or out of order.
    #[error(
        "events check failed: {missing} acknowledged deliveries never reached the stream, \
         {not_rising} webhook POSTs did not carry a rising event id"
    )]
    EventsMismatch {
        /// Acknowledged paced deliveries with no stream event.
        missing: u64,
        /// Webhook POSTs whose event id was not above the previous one's.
        not_rising: u64,
    },
    /// The MQTT broker refused or dropped a client.
    #[error("MQTT client {client} to {broker}: {detail}")]
    Mqtt {
        /// Client index.
        client: usize,
        /// Broker address.
        broker: SocketAddr,
        /// The client library's words.
        detail: String,
    },
    /// A worker process of the sessions scenario failed.
    #[error("worker process {index}: {detail}")]
    Worker {
        /// Worker index.
        index: usize,
        /// Exit status and stderr, or the bad output.
        detail: String,
    },
    /// An option value the scenario cannot use.
    #[error("invalid option {option}: {detail}")]
    Config {
        /// The option.
        option: &'static str,
        /// Why.
        detail: String,
    },
}

impl BenchError {
    /// Wraps an IO error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }
}
