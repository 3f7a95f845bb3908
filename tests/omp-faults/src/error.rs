//! [`FaultError`], the one error type of the fault tests.
//!
//! An error means a run could not be carried out (a server that does not
//! start, a database that cannot be read). A run that was carried out but
//! found a broken promise is not an error: it returns its figures with the
//! violations named, and the program exits 1.

use std::path::PathBuf;

use test_support::gmmp_client::ClientError;

/// Why a fault run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// A file, socket or system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The OMP child process did not start, or died when it should not.
    #[error("omp server ({program}): {detail}")]
    Server {
        /// The program started.
        program: String,
        /// What happened, with the tail of its log.
        detail: String,
    },
    /// The database could not be read.
    #[error("database {path}: {source}")]
    Db {
        /// The SQLite file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The PostgreSQL database could not be read.
    #[error("database {url}: {source}")]
    Postgres {
        /// Its URL, the password left out.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A simulated gateway failed in a way the run cannot go on from.
    #[error(transparent)]
    Gateway(#[from] ClientError),
    /// The agent (a fault run of the agent) could not be run or read.
    #[error("gw-agent: {0}")]
    Agent(String),
    /// A task of the run panicked or was cancelled.
    #[error("a task of the run failed: {0}")]
    Task(String),
    /// A waited-for condition did not come.
    #[error("timed out after {secs} s: {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit.
        secs: u64,
    },
    /// An option value the scenario cannot use.
    #[error("invalid option {option}: {detail}")]
    Config {
        /// The option.
        option: &'static str,
        /// Why.
        detail: String,
    },
    /// The limited filesystem cannot be made here.
    #[error("cannot make a size-limited filesystem: {detail}")]
    NoLimitedFs {
        /// What was tried and what the OS said.
        detail: String,
    },
}

impl FaultError {
    /// Wraps an IO error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        FaultError::Io {
            what: what.into(),
            source,
        }
    }
}
