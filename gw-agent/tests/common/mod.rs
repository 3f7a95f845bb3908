//! Helpers of the agent's integration tests: a scripted OMP (`responder`)
//! and the shared ones of test-support (the real omp-server, the agent in
//! each transport, the emulator, polling).

#![allow(dead_code, unused_imports)]

pub mod responder;

pub use test_support::agent::*;
pub use test_support::omp::*;
pub use test_support::wait::*;
