//! Bridge-mode throughput and the agent's memory, against the emulator
//! pacing its pty at the line rate and the real omp-server (both
//! in-process, loopback only, temp dirs) — over a WizFi310 (default) or a
//! WIZ550S2E (`--module wiz550s2e`).
//!
//! ```sh
//! # throughput: the agent in-process
//! cargo run --release -p gmmp-bench --example bridge_bench -- --deliveries 500 --in-flight 4
//! cargo run --release -p gmmp-bench --example bridge_bench -- --module wiz550s2e --deliveries 500
//! cargo run --release -p gmmp-bench --example bridge_bench -- --module wiz550s2e \
//!     --wiz550s2e-mode data --deliveries 500
//! # memory: the gw-agent binary as its own process (VmRSS / VmHWM from /proc)
//! cargo build --release -p gw-agent
//! cargo run --release -p gmmp-bench --example bridge_bench -- \
//!     --agent-bin target/release/gw-agent --deliveries 20000 --in-flight 4
//! ```
//!
//! It pushes `--deliveries` payloads of `--payload` bytes once the session
//! is ready and times them until the last one is in the OMP's store, then
//! checks every one arrived once, in order. Wire figures: host → module
//! carries each frame (50 B header + 44 B of delivery fields + payload)
//! and a share of an `AT+SSEND=0,,,<len>\r` line (WizFi310) or an
//! `AT+NSEND=0,<len>\r\n` line (WIZ550S2E; none in its data mode, where
//! the frames are the line's bytes); that direction is the
//! bottleneck (module → host carries the shorter responses), so its
//! utilisation is the figure to hold against the line rate (10 bit times
//! per byte, 8N1).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use gw_agent::agent::Agent;
use gw_agent::config::{Config, Wiz550s2eMode};
use gw_agent::module::{Module, ModuleSettings};
use gw_agent::sources::SourceMessage;
use gw_agent::spool::SpooledDelivery;
use gw_agent::transport::BridgeTransport;
use gw_agent::transport::bridge::MAX_SSEND;
use gw_agent::wiz550s2e::MAX_RECORD as MAX_NSEND;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;
use wizfi310_sim::{SimConfig, Simulator};

/// Bridge-mode throughput and agent memory.
#[derive(Debug, Parser)]
struct Args {
    /// Deliveries to send.
    #[arg(long, default_value_t = 500)]
    deliveries: usize,
    /// Payload bytes of each.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Deliveries awaiting their response at once (`delivery.max_in_flight`).
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// UART rate the emulator paces its pty at.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Do not pace the pty (the emulator's own speed).
    #[arg(long)]
    no_pace: bool,
    /// Run this gw-agent binary as a separate process and report its memory.
    #[arg(long)]
    agent_bin: Option<PathBuf>,
    /// The module the emulator plays.
    #[arg(long, value_enum, default_value_t = ModuleKind::Wizfi310)]
    module: ModuleKind,
    /// The WIZ550S2E's mode (`wiz550s2e.mode`).
    #[arg(long, value_enum, default_value_t = Wiz550s2eMode::Command)]
    wiz550s2e_mode: Wiz550s2eMode,
    /// The emulator drops its whole response to every n-th command (the
    /// agent's lost-reply path: one command's wait, not a session).
    #[arg(long)]
    drop_every: Option<std::num::NonZeroU32>,
}

/// The two modules the agent bridges over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModuleKind {
    /// WIZnet WizFi310 (Wi-Fi): AT+SSEND.
    Wizfi310,
    /// WIZnet WIZ550S2E (Ethernet): AT+NSEND.
    Wiz550s2e,
}

/// The emulator of either module.
enum Emulator {
    Wizfi310(Simulator),
    Wiz550s2e(wiz550s2e_sim::Simulator),
}

impl Emulator {
    fn tty_path(&self) -> &Path {
        match self {
            Emulator::Wizfi310(sim) => sim.tty_path(),
            Emulator::Wiz550s2e(sim) => sim.tty_path(),
        }
    }

    async fn shutdown(self) {
        match self {
            Emulator::Wizfi310(sim) => sim.shutdown().await,
            Emulator::Wiz550s2e(sim) => sim.shutdown().await,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    let omp_dir = work.path().join("omp");
    let mut omp_config = omp_server::Config::defaults();
    omp_config.gmmp_listen = "127.0.0.1:0".parse()?;
    omp_config.http_listen = "127.0.0.1:0".parse()?;
    omp_config.mqtt_listen = None;
    omp_config.mqtts_listen = None;
    omp_config.data_dir = omp_dir;
    omp_config.provisioning = omp_server::ProvisioningMode::Open;
    let omp_stop = CancellationToken::new();
    let omp = omp_server::run(omp_config, omp_stop.clone()).await?;
    let sim = match args.module {
        ModuleKind::Wizfi310 => Emulator::Wizfi310(
            Simulator::start(SimConfig {
                baud: args.baud,
                pace: !args.no_pace,
                join_delay: Duration::from_millis(10),
                fault_plan: wizfi310_sim::FaultPlan {
                    drop_every: args.drop_every,
                    ..Default::default()
                },
                ..SimConfig::default()
            })
            .await?,
        ),
        ModuleKind::Wiz550s2e => Emulator::Wiz550s2e(
            wiz550s2e_sim::Simulator::start(wiz550s2e_sim::SimConfig {
                baud: args.baud,
                pace: !args.no_pace,
                reset_delay: Duration::from_millis(50),
                fault_plan: wiz550s2e_sim::FaultPlan {
                    drop_every: args.drop_every,
                    ..Default::default()
                },
                ..wiz550s2e_sim::SimConfig::default()
            })
            .await?,
        ),
    };
    let state = work.path().join("agent");
    std::fs::create_dir_all(&state)?;
    let socket = work.path().join("data.sock");
    let module_lines = match args.module {
        ModuleKind::Wizfi310 => "",
        ModuleKind::Wiz550s2e => "module = \"wiz550s2e\"\n",
    };
    if args.wiz550s2e_mode == Wiz550s2eMode::Data && args.module != ModuleKind::Wiz550s2e {
        return Err("--wiz550s2e-mode data needs --module wiz550s2e".into());
    }
    let wifi_lines = match args.module {
        ModuleKind::Wizfi310 => "[wifi]\nssid = \"testnet\"\npassphrase = \"12345678\"\n".into(),
        ModuleKind::Wiz550s2e => {
            format!("[wiz550s2e]\nmode = \"{}\"\n", args.wiz550s2e_mode.name())
        }
    };
    let config_text = format!(
        r#"
{module_lines}state_dir = "{}"
[serial]
path = "{}"
baud = {}
{wifi_lines}[omp]
host = "127.0.0.1"
port = {}
[delivery]
max_in_flight = {}
[spool]
max_bytes = 1073741824
[sources]
stdin = false
listen = "unix:{}"
"#,
        state.display(),
        sim.tty_path().display(),
        args.baud,
        omp.gmmp_addr.port(),
        args.in_flight,
        socket.display()
    );
    let payloads: Vec<String> = (0..args.deliveries)
        .map(|i| {
            let tag = format!("{i:08} ");
            format!(
                "{tag}{}",
                "x".repeat(args.payload.saturating_sub(tag.len()))
            )
        })
        .collect();

    let stop = CancellationToken::new();
    let (mut child, task) = match &args.agent_bin {
        Some(bin) => {
            let path = work.path().join("agent.toml");
            std::fs::write(&path, &config_text)?;
            let child = tokio::process::Command::new(bin)
                .arg("--config")
                .arg(&path)
                .env("RUST_LOG", "warn")
                .kill_on_drop(true)
                .spawn()?;
            (Some(child), None)
        }
        None if args.module == ModuleKind::Wizfi310 => {
            let config = Config::from_toml(&config_text)?;
            let module = Module::new(ModuleSettings::from_config(&config));
            let transport = BridgeTransport::new(module, &config.omp_host, config.omp_port);
            let agent = Agent::start(config).await?;
            let sender = agent.sender();
            let task = tokio::spawn(agent.run(transport, stop.clone()));
            (None, Some(Running::Sender(task, sender)))
        }
        // As `gw-agent run` starts it (the module setting picks the
        // transport), fed through its data socket.
        None => {
            let config = Config::from_toml(&config_text)?;
            let task = tokio::spawn(gw_agent::launch::run(config, stop.clone()));
            (None, Some(Running::Launched(task)))
        }
    };

    let gw_id = wait_ready(&state).await?;
    let started = Instant::now();
    let pid = child.as_ref().and_then(|c| c.id());
    let mut peak_rss_sampled = 0u64;
    match &task {
        Some(Running::Sender(_, sender)) => {
            let sender = sender.clone();
            let payloads = payloads.clone();
            tokio::spawn(async move {
                for p in payloads {
                    let delivery = SpooledDelivery {
                        device: None,
                        report_type: 1,
                        media_type: 1,
                        payload: Bytes::from(p),
                        spooled_at: 0,
                    };
                    let msg = SourceMessage {
                        delivery,
                        reply: None,
                    };
                    if sender.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
        Some(Running::Launched(_)) | None => {
            let stream = tokio::net::UnixStream::connect(&socket).await?;
            let (r, mut w) = stream.into_split();
            let payloads = payloads.clone();
            tokio::spawn(async move {
                for p in payloads {
                    if w.write_all(format!("{p}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
            tokio::spawn(async move {
                let mut answers = BufReader::new(r).lines();
                while let Ok(Some(_)) = answers.next_line().await {}
            });
        }
    }
    let last = payloads.last().cloned().unwrap_or_default();
    loop {
        let latest = omp_server::store::deliveries::latest(&omp.state.db, &gw_id, 1).await?;
        if latest.first().is_some_and(|d| d.payload == last.as_bytes()) {
            break;
        }
        if let Some(pid) = pid {
            peak_rss_sampled = peak_rss_sampled.max(proc_kib(pid, "VmRSS").unwrap_or(0));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let memory = pid.map(|pid| {
        (
            proc_kib(pid, "VmRSS").unwrap_or(0),
            proc_kib(pid, "VmHWM").unwrap_or(0),
        )
    });

    let stored =
        omp_server::store::deliveries::latest(&omp.state.db, &gw_id, args.deliveries as i64 + 10)
            .await?;
    let in_order = stored
        .iter()
        .rev()
        .map(|d| d.payload.as_slice())
        .eq(payloads.iter().map(|p| p.as_bytes()));

    let n = args.deliveries as f64;
    let secs = elapsed.as_secs_f64();
    let rate = n / secs;
    // Host → module per delivery: the frame, plus a share of the AT+SSEND
    // line (frames ready together share one, up to MAX_SSEND bytes, or
    // MAX_RECORD for an AT+NSEND record, and at most the deliveries in
    // flight; at the rates measured the outbox is full, so the share is the
    // joined one).
    let frame = 50 + 44 + args.payload;
    let (max_send, command) = match args.module {
        ModuleKind::Wizfi310 => (MAX_SSEND, "AT+SSEND"),
        ModuleKind::Wiz550s2e => (MAX_NSEND, "AT+NSEND"),
    };
    let per_send = (max_send / frame).clamp(1, args.in_flight.max(1));
    let line = match (args.module, args.wiz550s2e_mode) {
        (ModuleKind::Wizfi310, _) => format!("AT+SSEND=0,,,{}\r", per_send * frame).len(),
        (ModuleKind::Wiz550s2e, Wiz550s2eMode::Command) => {
            format!("AT+NSEND=0,{}\r\n", per_send * frame).len()
        }
        // Data mode: the frames alone.
        (ModuleKind::Wiz550s2e, Wiz550s2eMode::Data) => 0,
    };
    let command = match (args.module, args.wiz550s2e_mode) {
        (ModuleKind::Wiz550s2e, Wiz550s2eMode::Data) => "no (data mode)",
        _ => command,
    };
    let tx = frame as f64 + line as f64 / per_send as f64;
    let line_bytes = f64::from(args.baud) / 10.0;
    println!(
        "bridge over {:?}{}: {} deliveries of {} B, max_in_flight {}, {} baud{}",
        args.module,
        match args.module {
            ModuleKind::Wiz550s2e => format!(" ({} mode)", args.wiz550s2e_mode.name()),
            ModuleKind::Wizfi310 => String::new(),
        },
        args.deliveries,
        args.payload,
        args.in_flight,
        args.baud,
        if args.no_pace {
            " (not paced)"
        } else {
            " (paced)"
        }
    );
    if let Some(n) = args.drop_every {
        println!("  the emulator dropped its response to every {n}th command");
    }
    println!(
        "  {secs:.2} s: {rate:.1} deliveries/s, payload {:.0} B/s = {:.1} % of the line's {line_bytes:.0} B/s",
        rate * args.payload as f64,
        100.0 * rate * args.payload as f64 / line_bytes
    );
    println!(
        "  host->module: {frame} B frame + {:.1} B of {command} line per delivery = {:.0} B/s, {:.1} % of the line (ceiling {:.1} deliveries/s)",
        tx - frame as f64,
        rate * tx,
        100.0 * rate * tx / line_bytes,
        line_bytes / tx
    );
    println!(
        "  stored {} of {}, each once in order: {in_order}",
        stored.len(),
        args.deliveries
    );
    if let Some((rss, hwm)) = memory {
        println!(
            "  agent process: VmRSS {rss} KiB, VmHWM {hwm} KiB (largest sampled RSS {peak_rss_sampled} KiB)"
        );
    }

    if let Some(child) = child.as_mut() {
        if let Some(pid) = child.id() {
            // SIGTERM: the agent shuts down cleanly.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    }
    match task {
        Some(Running::Sender(task, _)) => {
            stop.cancel();
            let _ = task.await;
        }
        Some(Running::Launched(task)) => {
            stop.cancel();
            let _ = task.await;
        }
        None => {}
    }
    sim.shutdown().await;
    omp_stop.cancel();
    omp.wait().await?;
    Ok(())
}

/// The agent running in this process.
enum Running {
    /// Fed through its sender (the WizFi310 bridge built here).
    Sender(
        tokio::task::JoinHandle<Result<(), gw_agent::agent::AgentError>>,
        tokio::sync::mpsc::Sender<SourceMessage>,
    ),
    /// Started as `gw-agent run` does, fed through its data socket.
    Launched(tokio::task::JoinHandle<Result<(), gw_agent::agent::AgentError>>),
}

async fn wait_ready(state: &Path) -> Result<String, Box<dyn std::error::Error>> {
    test_support::agent::ready_within(state, Duration::from_secs(60))
        .await
        .ok_or_else(|| "the agent did not get a ready session within 60 s".into())
}

/// A `kB` line of /proc/<pid>/status.
fn proc_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
