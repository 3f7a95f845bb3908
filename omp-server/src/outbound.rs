//! [`Outbound`]: the runtime that pushes events out — the webhook
//! delivery tasks (with their HTTP client's connections) and the live
//! event streams' reading and rendering.
//!
//! Ingest is a closed loop: a gateway sends its next delivery when it
//! hears the last one acknowledged, so its rate is set by how soon each
//! session task runs after the commit. On one runtime those session
//! tasks waited behind every ready webhook POST and stream page; the
//! outbound work now queues on its own worker thread, apart from the
//! sessions, the API and the writer. That thread runs at a lower CPU
//! priority (nice [`NICE`]), so when the cores are short the kernel runs
//! ingest first and the readers fall behind — into the table, which
//! they read from their cursor, so they never skip an event.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

/// The outbound thread's nice value (0 is the default; 19 the lowest).
pub const NICE: i32 = 10;

/// The outbound runtime; one per server, in [`crate::state::Shared`].
#[derive(Debug)]
pub struct Outbound {
    /// `None` once dropped, or when no thread could be started (then the
    /// tasks run on the caller's runtime).
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Outbound {
    /// Starts the thread; when it cannot be, says so and runs outbound
    /// tasks on the current runtime instead. Must be called inside one.
    pub fn start() -> Outbound {
        let built = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name("omp-outbound")
            .on_thread_start(lower_priority)
            .enable_all()
            .build();
        match built {
            Ok(runtime) => Outbound {
                handle: runtime.handle().clone(),
                runtime: Some(runtime),
            },
            Err(e) => {
                tracing::warn!(error = %e,
                    "no thread for webhooks and event streams; they share the server's runtime");
                Outbound {
                    runtime: None,
                    handle: Handle::current(),
                }
            }
        }
    }

    /// Runs `task` on the outbound runtime.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        // Dropped from async code (the last `Shared`, possibly in a task
        // of this very runtime), where a runtime may not wait for its
        // threads: they are told to stop and left to end. The webhooks
        // have been stopped by then and streams end with their
        // connections.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's CPU priority to [`NICE`]; a failure only
/// costs the priority, so it is logged and ignored.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux the "process" of PRIO_PROCESS is a thread id: this
        // sets the calling thread alone.
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), NICE) {
            tracing::debug!(error = %e, "outbound thread: priority not lowered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_outbound_thread() {
        let outbound = Outbound::start();
        let name = outbound
            .spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("omp-outbound"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_outbound_thread_runs_at_the_lower_priority() {
        let outbound = Outbound::start();
        let nice = outbound
            .spawn(async {
                rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
            })
            .await
            .unwrap();
        assert_eq!(nice, NICE);
    }
}
