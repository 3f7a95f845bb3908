//! Shared helpers: a started emulator and its pty opened like a driver
//! would (test-support's `module_port`), and the hang guard.

#![allow(unused_imports)]

pub use test_support::module_port::*;
pub use test_support::wait::GUARD;
