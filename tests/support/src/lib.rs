//! Helpers shared by the integration tests of several crates (gw-agent,
//! wizfi310-sim, gmmp-bench, e2e-tests), written once here instead of once per test
//! folder. They panic on failure: they are for tests only.
//!
//! # Layout
//!
//! - `wait`: `GUARD`, `eventually` and `until` — polling that only guards
//!   against a hang and times nothing.
//! - `omp` (feature `omp`): the real omp-server in-process (open provisioning) and a
//!   minimal HTTP client for its API.
//! - `agent` (feature `agent`): gw-agent in-process in each transport, its test
//!   configurations, its data socket and status file, a quick emulator.
//! - `scripted_omp`: a scripted GMMP peer playing the OMP (registration,
//!   deliveries, controls pushed, going down and coming back).
//! - `module_port`: the emulator's pty opened and driven as a host drives
//!   the module (AT commands).

#[cfg(feature = "agent")]
pub mod agent;
pub mod module_port;
#[cfg(feature = "omp")]
pub mod omp;
pub mod scripted_omp;
pub mod wait;
