//! [`SimConfig`]: everything the emulator can be told at start, including the
//! choices made where the AT reference is silent (each field says which).

use std::net::Ipv4Addr;
use std::time::Duration;

pub use module_sim::faults::FaultPlan;

/// How the emulator configures itself; `SimConfig::default()` is a factory
/// fresh module with MAC `00:08:DC:1E:32:22` on an AP `testnet` / `12345678`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// MAC address, 12 hex digits with or without colons
    /// (`0008dc1e3222` is printed by `AT+MMAC=?` as `00:08:DC:1E:32:22`).
    pub mac: String,
    /// The SSID of the one access point in range.
    pub ssid: String,
    /// Its WPA passphrase; empty means an open network.
    pub passphrase: String,
    /// UART line rate in bit/s (AT+USET may change it at run time).
    pub baud: u32,
    /// Pace the pty at `baud` (10 bits per byte, 8N1), both directions.
    pub pace: bool,
    /// Firmware version printed by AT+MINFO.
    pub fw_version: String,
    /// Hardware version printed by AT+MINFO.
    pub hw_version: String,
    /// Address handed out by the AP's DHCP server.
    pub dhcp_ip: Ipv4Addr,
    /// The AP's gateway address.
    pub gateway: Ipv4Addr,
    /// Time AT+WJOIN takes before `[Link-Up Event]` (input is held meanwhile).
    pub join_delay: Duration,
    /// Time between AT+MRESET's `[OK]` and `[Reset Event]` (input is lost meanwhile).
    pub reset_delay: Duration,
    /// What the module prints between `AT+SSEND=…` and the raw payload.
    pub ssend_prompt: SsendPrompt,
    /// Guard time of the `+++` data-mode escape (AT+SOPT1=10 changes it;
    /// the reference's default is 1000 ms).
    pub escape_guard: Duration,
    /// Largest payload of one `{sid,ip,port,len}` record; bigger reads are
    /// split into several records.
    pub recv_chunk: usize,
    /// How long AT+SCON waits for the TCP handshake before `[ERROR]`.
    pub connect_timeout: Duration,
    /// One tick of the module's GMMP timer loop (one second on the real
    /// module; heartbeats fire every period × 6 ticks). Tests shrink it.
    pub gmmp_tick: Duration,
    /// Pause between GMMP connection attempts (about a second on the module).
    pub gmmp_retry: Duration,
    /// Faults that recur by count, for the binary's switches.
    pub fault_plan: FaultPlan,
}

/// What the module prints after the `AT+SSEND=<sid>,,,<len>` line, before it
/// reads the payload. The reference is silent; WIZnet's own drivers (mbed and
/// Arduino) wait for `[<sid>,,,<len>]`, so that is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SsendPrompt {
    /// `[0,,,5]\r\n`, echoing the socket id and the length as given.
    #[default]
    Bracketed,
    /// Nothing: the payload may follow the command's CR at once.
    Silent,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            mac: "0008dc1e3222".into(),
            ssid: "testnet".into(),
            passphrase: "12345678".into(),
            baud: 115_200,
            pace: false,
            fw_version: "1.1.1.0".into(),
            hw_version: "WizFi310 Rev 1.0".into(),
            dhcp_ip: Ipv4Addr::new(192, 168, 1, 4),
            gateway: Ipv4Addr::new(192, 168, 1, 1),
            join_delay: Duration::from_millis(50),
            reset_delay: Duration::from_millis(200),
            ssend_prompt: SsendPrompt::Bracketed,
            escape_guard: Duration::from_millis(1000),
            recv_chunk: 1460,
            connect_timeout: Duration::from_secs(5),
            gmmp_tick: Duration::from_secs(1),
            gmmp_retry: Duration::from_secs(1),
            fault_plan: FaultPlan::default(),
        }
    }
}
