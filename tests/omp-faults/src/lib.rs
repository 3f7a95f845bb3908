//! `omp-faults`: fault tests of the OMP (`omp-server`) and of the gateway
//! agent — the promises that need a real process to break: a SIGKILL at any moment
//! loses nothing acknowledged (`crash`) and undoes no committed control
//! state (`crash-controls`) and no PUBACKed MQTT message (`crash-mqtt`), a webhook's backlog survives them in order
//! (`crash-webhooks`), a full disk yields error answers
//! and never a false STATUS_OK, and the OMP resumes when space returns
//! (`disk-full`), and running out of file descriptors neither kills it nor
//! stops it from recovering (`fd-limit`); and the agent, under emulator
//! faults, OMP outages and its own SIGKILLs, confirms no delivery that it
//! then loses (`agent`).
//!
//! Each run starts the OMP as a child process (by default this program's
//! hidden `serve`, which is `omp_server::run`), drives simulated gateways
//! (gmmp-bench's [`Gateway`](test_support::gmmp_client::Gateway)) that send numbered,
//! self-describing payloads, injects its fault, and at the end reads the
//! database directly and checks it against what the gateways were told.
//! Figures are printed as one line (or JSON); broken promises go to stderr
//! and make the exit code 1 (2 when the run itself could not be carried
//! out).
//!
//! # Layout
//!
//! - [`cli`]: the command line.
//! - [`error`]: [`FaultError`], the one error type.
//! - [`payload`]: payloads that name their gateway and sequence number.
//! - [`sys`]: rlimits of another process, signals, tmpfs, `/proc` (rustix).
//! - [`program`]: which executable a child is (this one's `serve` or
//!   `run-agent`, or a given binary).
//! - [`server`]: the OMP child process (start, readiness, kill, stop).
//! - [`serve`]: the hidden `serve` subcommand (the OMP in this process).
//! - [`run_agent`]: the hidden `run-agent` subcommand (gw-agent in this
//!   process).
//! - [`ledger`]: what the gateways recorded, and live counters.
//! - [`sender`]: a gateway that keeps delivering across server deaths.
//! - [`verify`]: the database (SQLite, or PostgreSQL for `crash
//!   --database-url`) against the ledgers; `integrity_check`.
//! - [`scenario`]: the runs — `crash`, `crash_controls` (its own module
//!   tree: gateways answering controls, an HTTP client, the state machine,
//!   its checker), `disk_full`, `fd_limit`, `agent` (the agent's run:
//!   emulator, in-process OMP, agent process, accounting).
//!
//! Decisions: no `unsafe` (rustix's safe wrappers for prlimit, kill and
//! mount; SIGXFSZ is caught with tokio's signal handling inside `serve`).
//! The database is read with sqlx, the OMP's own driver (a second SQLite
//! driver would link a second libsqlite3). Linux only.

#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod error;
pub mod ledger;
pub mod payload;
pub mod program;
pub mod run_agent;
pub mod scenario;
pub mod sender;
pub mod serve;
pub mod server;
pub mod sys;
pub mod verify;

pub use error::FaultError;
