//! The TOML file's schema, as read before anything is checked: every key
//! optional, unknown keys refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, DeviceConfig, TransportKind, UserControl};
use crate::spool::FullPolicy;

/// The file's schema.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) transport: Option<TransportKind>,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) auth_id: Option<String>,
    pub(super) manufacture_id: Option<String>,
    pub(super) domain_code: Option<String>,
    #[serde(default)]
    pub(super) serial: FileSerial,
    #[serde(default)]
    pub(super) wifi: FileWifi,
    #[serde(default)]
    pub(super) omp: FileOmp,
    #[serde(default)]
    pub(super) devices: Vec<DeviceConfig>,
    #[serde(default)]
    pub(super) periods: FilePeriods,
    #[serde(default)]
    pub(super) delivery: FileDelivery,
    #[serde(default)]
    pub(super) spool: FileSpool,
    #[serde(default)]
    pub(super) sources: FileSources,
    #[serde(default)]
    pub(super) controls: BTreeMap<String, UserControl>,
    #[serde(default)]
    pub(super) reconnect: FileReconnect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSerial {
    pub(super) path: Option<String>,
    pub(super) baud: Option<u32>,
    pub(super) parity: Option<String>,
    pub(super) data_bits: Option<u8>,
    pub(super) stop_bits: Option<u8>,
    pub(super) flow_control: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWifi {
    pub(super) ssid: Option<String>,
    pub(super) security: Option<String>,
    pub(super) passphrase: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileOmp {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePeriods {
    pub(super) heartbeat: Option<String>,
    pub(super) report: Option<String>,
    pub(super) response_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDelivery {
    pub(super) max_in_flight: Option<usize>,
    pub(super) keyed: Option<bool>,
    pub(super) report_type: Option<toml::Value>,
    pub(super) media_type: Option<u8>,
    pub(super) retry_delay: Option<String>,
    pub(super) max_retries: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSpool {
    pub(super) max_bytes: Option<u64>,
    pub(super) segment_bytes: Option<u64>,
    pub(super) when_full: Option<FullPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSources {
    pub(super) stdin: Option<bool>,
    pub(super) listen: Option<String>,
    pub(super) fixed_payload: Option<String>,
    #[serde(default)]
    pub(super) module: FileModuleSource,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileModuleSource {
    pub(super) interval: Option<String>,
    pub(super) adc: Option<bool>,
    pub(super) gpio: Option<Vec<u8>>,
    pub(super) device: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReconnect {
    pub(super) initial: Option<String>,
    pub(super) max: Option<String>,
}

pub(super) fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

pub(super) fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}
