//! The TOML settings file (`--config`): every key optional, unknown keys
//! refused by name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ProvisioningMode;
use crate::error::ConfigError;

/// The TOML file: the same keys as [`Settings`] (without `config`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSettings {
    pub(super) gmmp_listen: Option<SocketAddr>,
    pub(super) mqtt_listen: Option<super::OptionalListen>,
    pub(super) http_listen: Option<SocketAddr>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) provisioning: Option<ProvisioningMode>,
    pub(super) api_key: Option<String>,
    pub(super) first_frame_timeout: Option<String>,
    pub(super) heartbeat_grace: Option<u32>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_connection_buffer: Option<usize>,
    pub(super) frame_timeout: Option<String>,
    pub(super) split_expiry: Option<String>,
    pub(super) auth_timeout: Option<String>,
    pub(super) max_unauthenticated: Option<usize>,
    pub(super) max_unauthenticated_per_ip: Option<usize>,
    pub(super) http_max_connections: Option<usize>,
    pub(super) http_idle_timeout: Option<String>,
    pub(super) http_body_limit: Option<usize>,
    pub(super) http_body_deadline: Option<String>,
    pub(super) writer_batch_max: Option<usize>,
    pub(super) writer_queue_capacity: Option<usize>,
    pub(super) backoff_seconds: Option<u32>,
    pub(super) allowed_domains: Option<Vec<String>>,
    pub(super) default_heartbeat_period: Option<u32>,
    pub(super) default_report_period: Option<u32>,
    pub(super) default_report_offset: Option<u32>,
    pub(super) default_response_timeout: Option<u32>,
    pub(super) default_model: Option<String>,
    pub(super) default_firmware_version: Option<String>,
    pub(super) default_software_version: Option<String>,
    pub(super) default_hardware_version: Option<String>,
    pub(super) control_ttl: Option<String>,
    pub(super) control_completion_timeout: Option<String>,
    pub(super) control_max_in_flight: Option<usize>,
    pub(super) trace_gmmp: Option<bool>,
}

pub(super) fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(&text).map_err(|message| ConfigError::File {
        path: path.to_path_buf(),
        message,
    })
}

pub(super) fn parse_file(text: &str) -> Result<FileSettings, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}
