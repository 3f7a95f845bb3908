//! Helpers of the agent's integration tests: the shared ones of
//! test-support (a scripted OMP, the agent in each transport, the
//! emulator, polling). Tests against the real omp-server are in
//! `tests/e2e`.

#![allow(dead_code, unused_imports)]

pub use test_support::agent::*;
pub use test_support::scripted_omp::ScriptedOmp;
pub use test_support::wait::*;

/// The GW ID the scripted OMP gives the agent (the first to register).
pub fn gw() -> gmmp_codec::GwId {
    test_support::scripted_omp::assigned(1).0
}

/// The key it gives the agent.
pub fn key() -> gmmp_codec::AuthKey {
    test_support::scripted_omp::assigned(1).1
}
