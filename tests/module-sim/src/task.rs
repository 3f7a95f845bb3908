//! The lifecycle of a running emulator: the IO shell runs as one tokio
//! task on its pty, the handle knows the pty path, asks the task to stop
//! and waits for it, and aborts it when dropped ([`ModuleTask`]). Inside
//! the shell, [`TaskGuard`] ends the helper tasks with it.

use std::future::Future;
use std::path::{Path, PathBuf};

use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};

/// Resolves (with `Ok` or a closed-channel error alike) when the handle
/// asks the shell to stop or is dropped.
pub type StopSignal = oneshot::Receiver<()>;

/// Handle on the shell task of an emulated module on its pty.
#[derive(Debug)]
pub struct ModuleTask {
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ModuleTask {
    /// Spawns `shell` with the signal it must end on; `path` is the pty
    /// slave the shell serves.
    pub fn spawn<S, Fut>(path: PathBuf, shell: S) -> ModuleTask
    where
        S: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(shell(stopped));
        ModuleTask {
            path,
            stop: Some(stop),
            task,
        }
    }

    /// The pty slave path, the module's "serial port".
    pub fn tty_path(&self) -> &Path {
        &self.path
    }

    /// Signals the shell to stop and waits until it has.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Resolves if the shell stops by itself (its pty failed).
    pub async fn stopped(&mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for ModuleTask {
    fn drop(&mut self) {
        // A dropped handle must not leave the pty and sockets open.
        self.task.abort();
    }
}

/// Aborts the shell's helper tasks (UART loops, clients) when the shell
/// ends, however it ends.
#[derive(Debug, Default)]
pub struct TaskGuard(Vec<AbortHandle>);

impl TaskGuard {
    /// Guards these tasks.
    pub fn new(tasks: impl IntoIterator<Item = AbortHandle>) -> TaskGuard {
        TaskGuard(tasks.into_iter().collect())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_stops_the_shell_through_its_signal() {
        let (ended_tx, ended_rx) = oneshot::channel();
        let task = ModuleTask::spawn(PathBuf::from("/dev/pts/test"), |stopped| async move {
            let _ = stopped.await;
            let _ = ended_tx.send(());
        });
        assert_eq!(task.tty_path(), Path::new("/dev/pts/test"));
        task.shutdown().await;
        assert_eq!(ended_rx.await, Ok(()));
    }

    #[tokio::test]
    async fn stopped_resolves_when_the_shell_ends_by_itself() {
        let mut task = ModuleTask::spawn(PathBuf::new(), |_stopped| async {});
        task.stopped().await;
    }

    #[tokio::test]
    async fn a_dropped_handle_aborts_the_shell_and_the_guard_its_helpers() {
        let (helper_tx, helper_rx) = oneshot::channel::<()>();
        let (shell_tx, shell_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = ModuleTask::spawn(PathBuf::new(), |_stopped| async move {
            let helper = tokio::spawn(async move {
                let _held = helper_tx;
                std::future::pending::<()>().await;
            });
            let _guard = TaskGuard::new([helper.abort_handle()]);
            let _held = shell_tx;
            let _ = ready_tx.send(());
            std::future::pending::<()>().await;
        });
        // The guard is in place once the shell says so.
        ready_rx.await.unwrap();
        drop(task);
        // Each sender is dropped only when its task is aborted.
        assert!(shell_rx.await.is_err());
        assert!(helper_rx.await.is_err());
    }
}
