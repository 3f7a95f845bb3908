//! Helpers shared by the integration tests of several crates (gw-agent,
//! wizfi310-sim, gmmp-bench, e2e-tests), written once here instead of once per test
//! folder. The fixtures panic on failure (they are for tests only); the
//! GMMP client and the report return errors, as the load generator and
//! the fault harness build on them too.
//!
//! # Layout
//!
//! - `gmmp_client`: the one GMMP test client — [`gmmp_client::Gateway`],
//!   a simulated gateway (registration, T-IDs, pre-encoded deliveries,
//!   answering controls the WizFi310's way), [`gmmp_client::ClientError`].
//! - `mqtt_client`: an MQTT test client's login (CONNECT, CONNACK).
//! - `captured_log`: [`captured_log::CapturedLog`], a `tracing` log the
//!   test reads back.
//! - `process`: another process's CPU time from `/proc` (load generator
//!   and fault harness).
//! - `report`: [`report::Report`], the figures of a run as a line or JSON
//!   (load generator and fault harness).
//! - `wait`: `GUARD`, `eventually` and `until` — polling that only guards
//!   against a hang and times nothing — and `terminate` (SIGTERM a child).
//! - `omp` (feature `omp`): the real omp-server in-process (open provisioning) and a
//!   minimal HTTP client for its API.
//! - `agent` (feature `agent`): gw-agent in-process in each transport, its test
//!   configurations, its data socket and status file (`ready`,
//!   `ready_within`), a quick emulator.
//! - `scripted_omp`: a scripted GMMP peer playing the OMP (registration,
//!   deliveries, controls pushed, going down and coming back).
//! - `module_port` (feature `module`): the emulator's pty opened and driven as a host drives
//!   the module (AT commands).
//! - `postgres` (feature `postgres`): [`postgres::TestDatabase`], a
//!   fresh PostgreSQL database for one test (on `.ci/run`'s cluster, or a
//!   throwaway one of its own).
//! - `webhook_receiver` (feature `webhook-receiver`): a webhook receiver
//!   recording the event ids POSTed to it.

#[cfg(feature = "agent")]
pub mod agent;
pub mod captured_log;
pub mod gmmp_client;
#[cfg(feature = "module")]
pub mod module_port;
pub mod mqtt_client;
#[cfg(feature = "omp")]
pub mod omp;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod process;
pub mod report;
pub mod scripted_omp;
pub mod wait;
#[cfg(feature = "webhook-receiver")]
pub mod webhook_receiver;
