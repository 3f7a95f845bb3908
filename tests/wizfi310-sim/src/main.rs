//! `wizfi310-sim`: prints the pty path as its first stdout line, then
//! emulates a WizFi310 on it until SIGINT or SIGTERM.

use std::io::Write;
use std::num::NonZeroU32;
use std::time::Duration;

use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use wizfi310_sim::{Fault, FaultPlan, SimConfig, SimControl, Simulator, SsendPrompt};

/// WizFi310 Wi-Fi module emulator on a pseudo-terminal.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// MAC address (12 hex digits, colons allowed).
    #[arg(long, default_value = "0008dc1e3222")]
    mac: String,
    /// SSID of the emulated access point.
    #[arg(long, default_value = "testnet")]
    ssid: String,
    /// Its passphrase (empty: open network).
    #[arg(long, default_value = "12345678")]
    passphrase: String,
    /// UART rate in bit/s.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Pace the pty at the baud rate (10 bits per byte).
    #[arg(long)]
    pace: bool,
    /// Print nothing between AT+SSEND and the payload (default: `[sid,,,len]`).
    #[arg(long)]
    silent_ssend: bool,
    /// Scale for GMMP timers: one timer tick in milliseconds (module: 1000).
    #[arg(long, default_value_t = 1000)]
    gmmp_tick_ms: u64,
    /// Drop the response of every N-th command.
    #[arg(long, value_name = "N")]
    drop_every: Option<NonZeroU32>,
    /// Delay the response of every N-th command by --delay-ms.
    #[arg(long, value_name = "N")]
    delay_every: Option<NonZeroU32>,
    /// The delay for --delay-every.
    #[arg(long, default_value_t = 2000)]
    delay_ms: u64,
    /// Garble the first response line of every N-th command.
    #[arg(long, value_name = "N")]
    garble_every: Option<NonZeroU32>,
    /// Inject an unsolicited [Reset Event] every SECS seconds.
    #[arg(long, value_name = "SECS")]
    reset_every: Option<u64>,
    /// Inject a [Link-Down Event] every SECS seconds.
    #[arg(long, value_name = "SECS")]
    link_down_every: Option<u64>,
    /// Close socket 0 from the peer side every SECS seconds.
    #[arg(long, value_name = "SECS")]
    close_socket_every: Option<u64>,
}

fn every(control: &SimControl, secs: Option<u64>, fault: Fault) {
    let control = control.clone();
    let steps = vec![(Duration::ZERO, fault)];
    module_sim::cli::inject_every(secs.map(Duration::from_secs), steps, move |fault| {
        control.inject(fault)
    });
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    module_sim::cli::init_logging();
    let args = Args::parse();
    let config = SimConfig {
        mac: args.mac,
        ssid: args.ssid,
        passphrase: args.passphrase,
        baud: args.baud,
        pace: args.pace,
        ssend_prompt: if args.silent_ssend {
            SsendPrompt::Silent
        } else {
            SsendPrompt::Bracketed
        },
        gmmp_tick: Duration::from_millis(args.gmmp_tick_ms.max(1)),
        fault_plan: FaultPlan {
            drop_every: args.drop_every,
            delay_every: args.delay_every,
            delay: Duration::from_millis(args.delay_ms),
            garble_every: args.garble_every,
        },
        ..SimConfig::default()
    };
    // Before the path is printed: whoever read it may stop us at once.
    let mut term = signal(SignalKind::terminate())?;
    let mut sim = Simulator::start(config).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", sim.tty_path().display())?;
        out.flush()?;
    }
    let control = sim.control();
    every(&control, args.reset_every, Fault::ResetEvent);
    every(&control, args.link_down_every, Fault::LinkDown);
    every(&control, args.close_socket_every, Fault::CloseSocket(0));
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = sim.stopped() => return Err(std::io::Error::other("the emulator stopped")),
    }
    sim.shutdown().await;
    Ok(())
}
