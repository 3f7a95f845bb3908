//! `gmmp-bench`: a load generator for a GMMP OMP (`omp-server`), and the
//! same-machine reference points its figures are compared with.
//!
//! It simulates Always-On gateways over loopback TCP with `gmmp-codec`,
//! drives the OMP's HTTP API, and prints one line per scenario (or one
//! JSON object with `--json`). Every run is bounded in time (and
//! optionally in count) and only ever talks to 127.0.0.0/8 or ::1.
//!
//! # Layout
//!
//! - [`cli`]: the command line (clap); loopback-only address parsing.
//! - [`error`]: [`BenchError`], the one error type.
//! - [`latency`]: [`Latency`], an hdrhistogram of latencies.
//! - [`rss`]: the OMP's memory from `/proc/<pid>/status`.
//! - [`db`]: counting rows in the OMP's SQLite file (read-only).
//! - [`http`]: [`http::ApiClient`], the HTTP API calls used.
//! - [`scenario`]: `ingest`, `sessions`, `control`, `api`, `hostile`,
//!   `events`, `mqtt-sessions`.
//! - [`ceiling`]: `sqlite-ceiling`, `tcp-ceiling`, `mqtt-ceiling`.
//! - [`run`]: dispatches a parsed command line to its scenario.
//!
//! The simulated gateways ([`test_support::gmmp_client::Gateway`]: a
//! session, its T-IDs, deliveries encoded once) and the figures
//! ([`Report`]) come from test-support, shared with the fault harness.

#![warn(missing_docs, unreachable_pub)]

pub mod ceiling;
pub mod cli;
pub mod db;
pub mod error;
pub mod http;
pub mod latency;
pub mod rss;
pub mod run;
pub mod scenario;

pub use error::BenchError;
pub use latency::Latency;
pub use test_support::report::Report;
