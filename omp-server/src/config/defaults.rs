//! The built-in defaults: what `omp-server` with no arguments runs with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// File descriptors kept free for the database, logs and the HTTP API.
const FD_RESERVE: usize = 500;

impl Config {
    /// The built-in defaults (what `omp-server` with no arguments runs with).
    pub fn defaults() -> Config {
        Config {
            gmmp_listen: SocketAddr::from(([0, 0, 0, 0], 31002)),
            mqtt_listen: Some(SocketAddr::from(([0, 0, 0, 0], 1883))),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./omp-data"),
            provisioning: ProvisioningMode::Approved,
            api_key: None,
            first_frame_timeout: Duration::from_secs(30),
            heartbeat_grace: 2,
            max_connections: default_max_connections(),
            max_connection_buffer: 128 * 1024,
            frame_timeout: Duration::from_secs(20),
            split_expiry: Duration::from_secs(120),
            auth_timeout: Duration::from_secs(60),
            max_unauthenticated: 4096,
            max_unauthenticated_per_ip: 512,
            http_max_connections: 1024,
            http_idle_timeout: Duration::from_secs(75),
            http_body_limit: crate::http::DEFAULT_BODY_LIMIT,
            http_body_deadline: crate::http::DEFAULT_BODY_DEADLINE,
            writer_batch_max: 1000,
            writer_queue_capacity: 20_000,
            backoff_seconds: 5,
            allowed_domains: Vec::new(),
            profile_defaults: ProfileDefaults {
                heartbeat_period: 10,
                report_period: 10,
                report_offset: 0,
                response_timeout: 30,
                model: String::new(),
                firmware_version: String::new(),
                software_version: String::new(),
                hardware_version: String::new(),
            },
            control: ControlConfig {
                ttl: crate::http::DEFAULT_CONTROL_TTL,
                completion_timeout: Duration::from_secs(300),
                max_in_flight: 1,
            },
            trace_gmmp: false,
        }
    }
}

/// The soft open-file limit minus a reserve, read from /proc on Linux
/// (no libc binding needed); 1024 − reserve elsewhere.
fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    soft.saturating_sub(FD_RESERVE).max(16)
}
