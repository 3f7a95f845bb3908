//! The GMMP side: the accept loop, one session task per connection, and
//! one handler per message family. Protocol decisions (authentication,
//! registration checks, a connection's deadlines, binding and answers) are
//! plain functions and plain state, testable without sockets or sleeps.
//!
//! - [`log_budget`]: rate-limited logging of what peers can cause at will.
//! - [`session`]: one connection — the IO loop (framing, writes, pushes)
//!   around its protocol state, [`session::machine`] (timeouts, binding,
//!   routing of frames, answers), and the dispatch to the handlers.
//! - [`auth`]: auth_id + auth_key + GW ID checks.
//! - [`registration`]: GW/device (de)registration and provisioning checks.
//! - [`registration_rate`]: the per-source rate limit of GW registrations.
//! - [`profile`], [`delivery`], [`heartbeat`], [`encryption`]: the served
//!   requests.
//! - [`control`]: control responses, notifications and long sentences,
//!   handed to the control dispatcher ([`crate::control`]).
//! - [`presence`]: the events of a gateway coming online and going offline.
//! - [`unsupported`]: rc 0x0D for types not served (the result-code-only
//!   response is the codec's `Message::response_with_result_code`).

pub mod auth;
pub mod control;
pub mod delivery;
pub mod encryption;
pub mod heartbeat;
pub mod log_budget;
pub mod presence;
pub mod profile;
pub mod registration;
pub mod registration_rate;
pub mod session;
pub mod unsupported;
