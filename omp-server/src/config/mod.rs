//! Settings: command-line flags, `OMP_…` environment variables and an
//! optional TOML file (`--config`), merged into one [`Config`].
//!
//! Each setting is written once, in the table of `config/settings.rs`; the flags,
//! variables, file keys, defaults and the typed [`Config`] all come from
//! it. Precedence: flag > environment > file > built-in default. clap
//! handles flag > environment; a file key no setting has stops start-up
//! naming it, and so does a bad value; values that read but make no sense
//! are refused in [`check`](Config::check), naming the key.
//!
//! Durations are humantime strings everywhere (`30s`, `500ms`, `2m`), in
//! flags, the environment and the file alike.

mod check;
mod cli;
mod declare;
mod defaults;
#[cfg(test)]
mod example_tests;
mod file;
mod load;
#[cfg(test)]
mod readme_tests;
mod settings;
#[cfg(test)]
mod tests;
pub mod value;

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::error::ConfigError;
pub use cli::{Cli, Command, ExportCommand, MigrateCommand, ProvisionCommand};

/// The SQLite database's file name in the data directory.
pub const DATABASE_FILE: &str = "omp.sqlite3";
pub use settings::{Config, ControlConfig, ProfileDefaults, SETTINGS, Settings, WebhookConfig};

/// Who may register (docs/gmmp.md §6.1, "provisioning").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProvisioningMode {
    /// Only auth_ids added ahead of time (`omp-server provision add`).
    Approved,
    /// Any auth_id registers (a private sandbox).
    Open,
}

/// How the log is written (`log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people; coloured only when stderr is a terminal and
    /// `NO_COLOR` is unset.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`,
    /// `message` and the line's fields beside it), for a log collector.
    Json,
}

/// One setting as documented: its TOML key (the flag is `--` and the key
/// with `-` for `_`), its environment variable, its default as shown and
/// its help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingInfo {
    /// TOML key.
    pub key: &'static str,
    /// Environment variable.
    pub env: &'static str,
    /// The default, as `--help` and the README show it.
    pub default: &'static str,
    /// What it does.
    pub help: &'static str,
}

impl SettingInfo {
    /// The flag, e.g. `--gmmp-listen`.
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

impl Config {
    /// Path of the SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// The limits split deliveries are held within.
    pub fn split_limits(&self) -> gmmp_codec::SplitLimits {
        gmmp_codec::SplitLimits {
            max_bytes: self.max_connection_buffer,
            expiry_ms: i64::try_from(self.split_expiry.as_millis()).unwrap_or(i64::MAX),
            ..gmmp_codec::SplitLimits::default()
        }
    }
}
