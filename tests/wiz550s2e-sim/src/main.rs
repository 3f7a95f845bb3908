//! `wiz550s2e-sim`: prints the pty path as its first stdout line, then
//! emulates a WIZ550S2E on it until SIGINT or SIGTERM.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::num::NonZeroU32;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tokio::signal::unix::{SignalKind, signal};
use wiz550s2e_sim::interpreter::mac;
use wiz550s2e_sim::{
    BootMode, Fault, FaultPlan, NetInfo, SimConfig, SimControl, Simulator, WorkingMode,
};

/// WIZ550S2E serial-to-Ethernet module emulator on a pseudo-terminal.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// MAC address, `00:08:dc:1d:bb:8a` or 12 hex digits.
    #[arg(long, default_value = "00:08:dc:1d:bb:8a", value_parser = parse_mac)]
    mac: [u8; 6],
    /// UART rate in bit/s.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Pace the pty at the baud rate (10 bits per byte).
    #[arg(long)]
    pace: bool,
    /// Take the addresses by DHCP (the --lease-* values) instead of static.
    #[arg(long)]
    dhcp: bool,
    /// Static address.
    #[arg(long, default_value_t = NetInfo::FACTORY.ip)]
    ip: Ipv4Addr,
    /// Static subnet mask.
    #[arg(long, default_value_t = NetInfo::FACTORY.subnet)]
    subnet: Ipv4Addr,
    /// Static gateway.
    #[arg(long, default_value_t = NetInfo::FACTORY.gateway)]
    gateway: Ipv4Addr,
    /// Static DNS server.
    #[arg(long, default_value_t = NetInfo::FACTORY.dns)]
    dns: Ipv4Addr,
    /// Address the DHCP server leases.
    #[arg(long, default_value = "192.168.11.150")]
    lease_ip: Ipv4Addr,
    /// Subnet mask of the lease.
    #[arg(long, default_value_t = NetInfo::FACTORY.subnet)]
    lease_subnet: Ipv4Addr,
    /// Gateway of the lease.
    #[arg(long, default_value_t = NetInfo::FACTORY.gateway)]
    lease_gateway: Ipv4Addr,
    /// DNS server of the lease.
    #[arg(long, default_value_t = NetInfo::FACTORY.dns)]
    lease_dns: Ipv4Addr,
    /// Firmware version AT+MSTAT prints.
    #[arg(long, default_value = "1.3.1")]
    fw_version: String,
    /// Mode after power-up and resets (the firmware boots in data mode).
    #[arg(long, value_enum, default_value_t = Boot::Data)]
    boot_mode: Boot,
    /// Data-mode working mode: S, C, M, U or Q (only C connects).
    #[arg(long, default_value = "S", value_parser = parse_mode)]
    mode: WorkingMode,
    /// Data-mode local port.
    #[arg(long, default_value_t = 5000)]
    local_port: u16,
    /// Data-mode server, `ip:port`.
    #[arg(long, default_value = "192.168.11.2:5000")]
    remote: SocketAddrV4,
    /// Domain AT+FDNS resolves when given none.
    #[arg(long, default_value = "")]
    domain: String,
    /// Bind the module's source ports on the host (default: the kernel picks).
    #[arg(long)]
    bind_source_port: bool,
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
    /// Reset the module unannounced every SECS seconds.
    #[arg(long, value_name = "SECS")]
    reset_every: Option<u64>,
    /// Take the link down for one second every SECS seconds.
    #[arg(long, value_name = "SECS")]
    link_down_every: Option<u64>,
    /// Close the connection from the peer side every SECS seconds.
    #[arg(long, value_name = "SECS")]
    peer_close_every: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Boot {
    Data,
    Command,
}

fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let colons = if text.len() == 12 {
        (0..6)
            .map(|i| text.get(i * 2..i * 2 + 2).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(":")
    } else {
        text.to_string()
    };
    mac(&colons).ok_or_else(|| format!("not a MAC address: {text:?}"))
}

fn parse_mode(text: &str) -> Result<WorkingMode, String> {
    let mut chars = text.chars();
    match (chars.next().map(|c| c.to_ascii_uppercase()), chars.next()) {
        (Some(c), None) => WorkingMode::from_letter(c),
        _ => None,
    }
    .ok_or_else(|| format!("not a working mode (S, C, M, U, Q): {text:?}"))
}

fn every(control: &SimControl, secs: Option<u64>, faults: Vec<(Duration, Fault)>) {
    let control = control.clone();
    module_sim::cli::inject_every(secs.map(Duration::from_secs), faults, move |fault| {
        control.inject(fault)
    });
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    module_sim::cli::init_logging();
    let args = Args::parse();
    let config = SimConfig {
        mac: args.mac,
        baud: args.baud,
        pace: args.pace,
        dhcp: args.dhcp,
        static_net: NetInfo {
            ip: args.ip,
            subnet: args.subnet,
            gateway: args.gateway,
            dns: args.dns,
        },
        lease: NetInfo {
            ip: args.lease_ip,
            subnet: args.lease_subnet,
            gateway: args.lease_gateway,
            dns: args.lease_dns,
        },
        fw_version: args.fw_version,
        boot_mode: match args.boot_mode {
            Boot::Data => BootMode::Data,
            Boot::Command => BootMode::Command,
        },
        working_mode: args.mode,
        local_port: args.local_port,
        remote: args.remote,
        domain: args.domain,
        bind_source_port: args.bind_source_port,
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
    every(
        &control,
        args.reset_every,
        vec![(Duration::ZERO, Fault::Reset)],
    );
    every(
        &control,
        args.link_down_every,
        vec![
            (Duration::ZERO, Fault::LinkDown),
            (Duration::from_secs(1), Fault::LinkUp),
        ],
    );
    every(
        &control,
        args.peer_close_every,
        vec![(Duration::ZERO, Fault::PeerClose)],
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = sim.stopped() => return Err(std::io::Error::other("the emulator stopped")),
    }
    sim.shutdown().await;
    Ok(())
}
