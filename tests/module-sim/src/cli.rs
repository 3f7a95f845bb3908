//! What every emulator binary shares around its own arguments: logging to
//! stderr ([`init_logging`]) and the `--*-every SECS` fault tickers
//! ([`inject_every`]).

use std::io::IsTerminal;
use std::time::Duration;

/// Logs to stderr, filtered by `RUST_LOG`. Colours only on a terminal (and
/// without `NO_COLOR`): a log piped to a file or a test harness stays plain
/// text. Stdout stays free for the pty path.
pub fn init_logging() {
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
}

/// Every `period` (none or zero: never), hands the faults of `steps` to
/// `inject` in order, each after its delay from the one before — e.g. a
/// link going down and, a second later, up again. The first tick is one
/// period after the start.
pub fn inject_every<F>(
    period: Option<Duration>,
    steps: Vec<(Duration, F)>,
    inject: impl Fn(F) + Send + 'static,
) where
    F: Clone + Send + Sync + 'static,
{
    let Some(period) = period.filter(|p| !p.is_zero()) else {
        return;
    };
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        // An interval's first tick is immediate.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            for (after, fault) in &steps {
                if !after.is_zero() {
                    tokio::time::sleep(*after).await;
                }
                inject(fault.clone());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_steps_recur_each_period_in_order() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        inject_every(
            Some(Duration::from_secs(5)),
            vec![(Duration::ZERO, "down"), (Duration::from_secs(1), "up")],
            move |fault| {
                let _ = tx.send((tokio::time::Instant::now(), fault));
            },
        );
        let start = tokio::time::Instant::now();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (at, fault) = rx.recv().await.unwrap();
            seen.push((at - start, fault));
        }
        let secs = Duration::from_secs;
        assert_eq!(
            seen,
            [
                (secs(5), "down"),
                (secs(6), "up"),
                (secs(10), "down"),
                (secs(11), "up"),
            ]
        );
    }

    #[tokio::test]
    async fn no_or_a_zero_period_injects_nothing() {
        for period in [None, Some(Duration::ZERO)] {
            let (tx, mut rx) = mpsc::unbounded_channel::<()>();
            inject_every(period, vec![(Duration::ZERO, ())], move |()| {
                let _ = tx.send(());
            });
            // No task holds the sender, so the channel is closed at once.
            assert_eq!(rx.recv().await, None);
        }
    }
}
