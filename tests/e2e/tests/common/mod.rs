//! Helpers of the agent's end-to-end tests: the workspace binaries, and the
//! shared ones of test-support (the real omp-server, the agent in each
//! transport, the emulator, polling).

#![allow(dead_code, unused_imports)]

pub mod bins;

pub use test_support::agent::*;
pub use test_support::omp::*;
pub use test_support::wait::*;
