//! [`Readers`]: the runtime the `events` scenario's webhook receivers
//! and SSE readers run on, apart from its gateways.
//!
//! They stand for applications on other machines. On the load
//! generator's own runtime their work (parsing every POST, counting
//! every streamed event) queued ahead of the gateways' tasks, and those
//! gateways send in a closed loop: every delay there lowered the
//! `attached` rate as if the OMP had been slower. On a thread of their
//! own they still take the machine's CPU, as they would beside a real
//! OMP on one host, but no longer the gateways' turns.

use std::time::Instant;

use tokio::runtime::{Handle, Runtime};

use super::stream::Stream;
use crate::error::BenchError;
use crate::http::ApiClient;
use test_support::webhook_receiver::{Answer, Receiver};

/// The readers' runtime, shut down when dropped.
#[derive(Debug)]
pub struct Readers {
    /// Taken by `drop` only.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Readers {
    /// Starts the runtime's thread.
    pub fn start() -> Result<Readers, BenchError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-readers")
            .enable_all()
            .build()
            .map_err(|e| BenchError::io("the readers' runtime", e))?;
        Ok(Readers {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// A webhook receiver on 127.0.0.1 answering `answer`.
    pub async fn receiver(&self, answer: Answer) -> Result<Receiver, BenchError> {
        self.handle
            .spawn(Receiver::start(answer, None))
            .await
            .map_err(|e| {
                BenchError::io("a webhook receiver on 127.0.0.1", std::io::Error::other(e))
            })?
            .map_err(|e| BenchError::io("a webhook receiver on 127.0.0.1", e))
    }

    /// An SSE reader after event `after` (see [`Stream::open`]).
    pub fn stream(
        &self,
        api: &ApiClient,
        after: i64,
        epoch: Option<Instant>,
    ) -> Result<Stream, BenchError> {
        let _on_readers = self.handle.enter();
        Stream::open(api, after, epoch)
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        // Dropped inside the scenario's async code, where a runtime may
        // not wait for its threads.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
