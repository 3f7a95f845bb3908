//! `gw-agent` — the GMMP gateway agent.
//!
//! - `gw-agent [run]` (default): runs the agent (see `gw_agent::config` for
//!   the flags, `GW_AGENT_…` variables and the TOML file).
//! - `gw-agent status`: prints the running agent's one-line state from the
//!   status file in the state directory.
//! - `gw-agent probe`: opens the module's serial port and prints its
//!   answers to AT, AT+MMAC=? and AT+MINFO.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gw_agent::config::{Config, LogFormat, Overrides, Settings, keys};
use gw_agent::wizfi310::{DataForm, Driver, DriverConfig, SerialConfig};
use tokio_util::sync::CancellationToken;

/// GMMP gateway agent.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent (the default).
    Run,
    /// Print the running agent's state.
    Status,
    /// Probe a WizFi310 module on a serial port.
    Probe {
        /// Serial device of the module (or the emulator's pty).
        #[arg(long = "port")]
        port: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The log format is a setting, so the settings are read before the
    // log starts; a mistake in them is printed plainly.
    let format = match Settings::load(&cli.overrides).and_then(|s| s.value(keys::LOG_FORMAT)) {
        Ok(format) => format,
        Err(e) => {
            eprintln!("gw-agent: {e}");
            return ExitCode::from(2);
        }
    };
    start_logging(format);
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(&cli.overrides).await,
        Command::Status => status(&cli.overrides),
        Command::Probe { port } => probe(&cli.overrides, port).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gw-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at `RUST_LOG` (default `info`), in `format`.
fn start_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            // Colours only on a terminal (and without NO_COLOR): a log
            // piped to a file or journald stays plain text.
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            log.with_ansi(colour).init();
        }
        // Flattened: a line's fields sit beside `message`, as collectors
        // index them.
        LogFormat::Json => log.json().flatten_event(true).init(),
    }
}

async fn run(overrides: &Overrides) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(overrides)?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        token.cancel();
    });
    gw_agent::launch::run(config, shutdown).await?;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn status(overrides: &Overrides) -> Result<(), Box<dyn std::error::Error>> {
    let state_dir = Settings::load(overrides)?.value(keys::STATE_DIR)?;
    let status = gw_agent::status::read(&state_dir)?;
    println!("{}", status.line());
    Ok(())
}

async fn probe(
    overrides: &Overrides,
    port: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::load(overrides)?;
    let path = match port {
        Some(port) => port,
        None => settings.get(keys::SERIAL_PATH)?.ok_or(
            "probe needs a serial port: --serial PATH, serial.path (or probe --port PATH)",
        )?,
    };
    let serial = SerialConfig {
        baud: settings.value(keys::SERIAL_BAUD)?,
        ..SerialConfig::new(&path)
    };
    let (driver, _events) = Driver::open(&serial, DriverConfig::default())?;
    driver.init(&DataForm::default()).await?;
    println!("AT: OK");
    let mac = driver.mac().await?;
    println!("MAC: {mac}");
    println!("auth ID: {}", mac.to_hex_lower());
    let info = driver.info().await?;
    println!("firmware: {}", info.firmware);
    println!("hardware: {}", info.hardware);
    Ok(())
}
