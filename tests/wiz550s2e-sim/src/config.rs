//! [`SimConfig`]: everything the emulator is told at start, including the
//! choices made where the AT guide is silent (each field says which).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

pub use module_sim::faults::FaultPlan;

/// IPv4 settings of the module's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetInfo {
    /// The module's address.
    pub ip: Ipv4Addr,
    /// Its subnet mask.
    pub subnet: Ipv4Addr,
    /// The gateway.
    pub gateway: Ipv4Addr,
    /// The DNS server.
    pub dns: Ipv4Addr,
}

impl NetInfo {
    /// The factory settings (configuration tool's factory reset table).
    pub const FACTORY: NetInfo = NetInfo {
        ip: Ipv4Addr::new(192, 168, 11, 100),
        subnet: Ipv4Addr::new(255, 255, 255, 0),
        gateway: Ipv4Addr::new(192, 168, 11, 1),
        dns: Ipv4Addr::new(8, 8, 8, 8),
    };
}

/// The data-mode working mode (AT+MMODE's first argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkingMode {
    /// `S`: TCP server (factory default; its data mode is not emulated).
    Server,
    /// `C`: TCP client, emulated: the module connects and passes bytes.
    Client,
    /// `M`: mixed server / client (not emulated in data mode).
    Mixed,
    /// `U`: UDP (not emulated in data mode).
    Udp,
    /// `Q`: MQTT (not emulated in data mode).
    Mqtt,
}

impl WorkingMode {
    /// The letter AT+MMODE prints.
    pub fn letter(self) -> char {
        match self {
            WorkingMode::Server => 'S',
            WorkingMode::Client => 'C',
            WorkingMode::Mixed => 'M',
            WorkingMode::Udp => 'U',
            WorkingMode::Mqtt => 'Q',
        }
    }

    /// The mode of a letter (upper case).
    pub fn from_letter(letter: char) -> Option<WorkingMode> {
        Some(match letter {
            'S' => WorkingMode::Server,
            'C' => WorkingMode::Client,
            'M' => WorkingMode::Mixed,
            'U' => WorkingMode::Udp,
            'Q' => WorkingMode::Mqtt,
            _ => return None,
        })
    }
}

/// The mode the module is in after power-up or a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BootMode {
    /// Data mode, as the firmware boots (`+++` enters command mode).
    #[default]
    Data,
    /// Command mode at once (a convenience of the emulator).
    Command,
}

/// How the emulator configures itself.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// MAC address (AT+NMAC prints it as `00:08:dc:1d:bb:8a`).
    pub mac: [u8; 6],
    /// UART line rate in bit/s.
    pub baud: u32,
    /// Pace the pty at `baud` (10 bits per byte, 8N1), both directions.
    pub pace: bool,
    /// Addresses by DHCP (`D`) rather than static (`S`).
    pub dhcp: bool,
    /// The stored static addresses (AT+NSET).
    pub static_net: NetInfo,
    /// What the network's DHCP server leases while `dhcp` is on.
    pub lease: NetInfo,
    /// Firmware version printed by AT+MSTAT (the source read is 1.3.1).
    pub fw_version: String,
    /// Mode after power-up and after every reset.
    pub boot_mode: BootMode,
    /// Data-mode working mode (AT+MMODE).
    pub working_mode: WorkingMode,
    /// Data-mode local port (AT+MMODE's second argument).
    pub local_port: u16,
    /// Data-mode remote server (AT+MMODE's third and fourth arguments).
    pub remote: SocketAddrV4,
    /// Domain AT+FDNS resolves when given no name.
    pub domain: String,
    /// The `+++` guard time (500 timer ticks of 1 ms in the firmware).
    pub guard_time: Duration,
    /// Pause between data-mode connection attempts ("Reconnection", 1000 ms).
    pub reconnect_interval: Duration,
    /// How long a TCP connect may take before `[F,0,8]`.
    pub connect_timeout: Duration,
    /// How long a name lookup may take before `DNS Timeout`.
    pub dns_timeout: Duration,
    /// Time from AT+MRST's `[S]` (or a reset fault) until the module
    /// listens again; input meanwhile is lost.
    pub reset_delay: Duration,
    /// Free space of the socket's transmit buffer, checked against the
    /// AT+NSEND length (the W5500's 2 KiB; the host's TCP stack drains
    /// it at once, so only [`crate::Fault::BusyBuffer`] makes it smaller).
    pub tx_buffer: u16,
    /// Largest payload of one `[R,…]` record (the firmware's 1024-byte
    /// work buffer); bigger reads are split.
    pub recv_chunk: usize,
    /// Bind the module's own source port (2000, 2001, … or the one given)
    /// on the host. Off by default: the host's kernel picks the port, so
    /// parallel emulators do not collide, while AT+NSOCK still prints the
    /// module's port number.
    pub bind_source_port: bool,
    /// Response faults recurring by count, for the binary's switches.
    pub fault_plan: FaultPlan,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            mac: [0x00, 0x08, 0xdc, 0x1d, 0xbb, 0x8a],
            baud: 115_200,
            pace: false,
            dhcp: false,
            static_net: NetInfo::FACTORY,
            lease: NetInfo {
                ip: Ipv4Addr::new(192, 168, 11, 150),
                ..NetInfo::FACTORY
            },
            fw_version: "1.3.1".into(),
            boot_mode: BootMode::Data,
            working_mode: WorkingMode::Server,
            local_port: 5000,
            remote: SocketAddrV4::new(Ipv4Addr::new(192, 168, 11, 2), 5000),
            domain: String::new(),
            guard_time: Duration::from_millis(500),
            reconnect_interval: Duration::from_millis(1000),
            connect_timeout: Duration::from_secs(5),
            dns_timeout: Duration::from_secs(3),
            reset_delay: Duration::from_millis(200),
            tx_buffer: 2048,
            recv_chunk: 1024,
            bind_source_port: false,
            fault_plan: FaultPlan::default(),
        }
    }
}
