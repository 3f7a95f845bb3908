//! `omp-server`: parse settings, start logging, run the server (or a
//! `provision` or `export` command). SIGINT / SIGTERM shut it down cleanly (exit 0).
//! The log goes to stderr, so a `provision` command's stdout carries its
//! answer alone; it is coloured only when stderr is a terminal (and
//! `NO_COLOR` is not set), so a log piped to a file or a collector is
//! plain text. `--log-format json` writes one JSON object per line.

use std::io::IsTerminal;

use clap::Parser;
use omp_server::config::{Cli, Command, Config, LogFormat};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Settings first: the log format is one of them. A settings error is
    // printed plainly, as there is no log yet.
    let config = match Config::load(&cli.settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("omp-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    start_logging(config.log_format);
    let result = match &cli.command {
        Some(Command::Provision(cmd)) => {
            omp_server::provision::execute(&config, cmd, &mut std::io::stdout()).await
        }
        Some(Command::Export(cmd)) => omp_server::export::execute(&config, cmd).await,
        Some(Command::Migrate(cmd)) => omp_server::migrate::execute(cmd).await,
        None => serve(config).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omp-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at `RUST_LOG` (default `info`), in `format`.
fn start_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            log.with_ansi(colour).init();
        }
        // Flattened: a line's fields sit beside `message`, as collectors
        // index them.
        LogFormat::Json => log.json().flatten_event(true).init(),
    }
}

async fn serve(config: Config) -> Result<(), omp_server::ServerError> {
    // Watched before the server starts: a SIGTERM that comes while it is
    // starting (a service manager's stop right after its start) is then a
    // clean stop, not the default action that kills the process.
    let signal = watch_for_signal();
    let shutdown = CancellationToken::new();
    let server = omp_server::run(config, shutdown.clone()).await?;
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutdown requested");
        shutdown.cancel();
    });
    server.wait().await
}

/// Installs the SIGINT and SIGTERM handlers now; the future ends at the
/// first of the two.
#[cfg(unix)]
fn watch_for_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let watch = |kind: SignalKind, name: &str| {
        signal(kind)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot watch {name}"))
            .ok()
    };
    async fn next(signal: Option<Signal>) {
        match signal {
            Some(mut signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let interrupt = watch(SignalKind::interrupt(), "SIGINT");
    let terminate = watch(SignalKind::terminate(), "SIGTERM");
    async move {
        tokio::select! {
            () = next(interrupt) => {}
            () = next(terminate) => {}
        }
    }
}

#[cfg(not(unix))]
fn watch_for_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
