//! Waiting in tests: polling with a guard that only stops a hang.

use std::time::Duration;

/// Guard against hanging, not a performance bound.
pub const GUARD: Duration = Duration::from_secs(30);

/// Polls `check` until it holds (the guard only stops a hang).
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(GUARD, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for: {what}");
}

/// Polls the async `check` until it holds (the guard only stops a hang).
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(GUARD, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for: {what}");
}

/// Asks the child process `child` to stop (SIGTERM, by the `kill`
/// command: no unsafe code, no signal crate) — for tests of a binary's
/// clean shutdown.
pub fn terminate(child: &tokio::process::Child) {
    let pid = child.id().expect("the child is running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -TERM {pid}: {status}");
}
