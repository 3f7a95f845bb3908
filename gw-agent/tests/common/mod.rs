//! Helpers of the agent's integration tests: a scripted OMP (`responder`)
//! and the shared ones of test-support (the agent in each transport, the
//! emulator, polling). Tests against the real omp-server are in
//! `tests/e2e`.

#![allow(dead_code, unused_imports)]

pub mod responder;

pub use test_support::agent::*;
pub use test_support::wait::*;
