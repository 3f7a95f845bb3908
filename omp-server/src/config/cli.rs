//! The command line: `omp-server` (the server), `omp-server
//! provision …`, `omp-server export …` and `omp-server migrate …`, with every setting as a flag (and `OMP_…` environment
//! variable). Only `--config` and `--data-dir` are also flags of the
//! `provision` commands (the rest are read as for the server, from before
//! the subcommand, the environment or the file).

use clap::{Parser, Subcommand};

use super::Settings;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "omp-server",
    version,
    about = "GMMP OMP server (ThingPlug sandbox replacement)"
)]
pub struct Cli {
    /// The settings (`--config` and `--data-dir` also after a subcommand).
    #[command(flatten)]
    pub settings: Settings,
    /// A subcommand; none runs the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the auth_ids allowed to register (mode `approved`).
    #[command(subcommand)]
    Provision(ProvisionCommand),
    /// Write a gateway's deliveries as CSV or NDJSON, oldest first, from
    /// the data directory's database (whether or not the server runs).
    Export(ExportCommand),
    /// Copy a data directory's SQLite database into PostgreSQL, verified
    /// table by table (row counts and checksums of every value) before it
    /// is committed.
    Migrate(MigrateCommand),
}

/// `omp-server migrate …`
#[derive(Debug, clap::Args)]
pub struct MigrateCommand {
    /// The data directory whose `omp.sqlite3` is copied (it may be in use
    /// by a running server: the copy reads one snapshot).
    #[arg(long)]
    pub from: std::path::PathBuf,
    /// The target, `postgres://user:password@host:port/database` (TLS:
    /// `?sslmode=require`); its schema is created or migrated first.
    #[arg(long, env = "OMP_MIGRATE_TO", hide_env_values = true)]
    pub to: String,
    /// Empty a target that already holds rows instead of refusing it.
    #[arg(long)]
    pub replace_target: bool,
}

/// `omp-server export …`
#[derive(Debug, clap::Args)]
pub struct ExportCommand {
    /// The gateway, e.g. `SC10010001`.
    #[arg(long)]
    pub gw_id: String,
    /// `csv` (a header row, then one row per delivery, content Base64)
    /// or `ndjson` (one API `Delivery` per line).
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Only deliveries received at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Only deliveries received before this time (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// Only deliveries of this device (empty for the gateway's own).
    #[arg(long)]
    pub device_id: Option<String>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// `omp-server provision …`
#[derive(Debug, Subcommand)]
pub enum ProvisionCommand {
    /// Approve an auth_id (the GW's serial / MAC / MSISDN).
    Add {
        /// The auth_id, e.g. `0008dc1e3222`.
        auth_id: String,
        /// Only accept this domain code at registration.
        #[arg(long)]
        domain: Option<String>,
        /// Only accept this manufacture ID at registration.
        #[arg(long)]
        manufacture_id: Option<String>,
    },
    /// List approved auth_ids.
    List,
    /// Manage the MQTT clients allowed to connect (mode `approved`).
    #[command(subcommand)]
    Mqtt(crate::mqtt::provision::MqttProvisionCommand),
    /// Withdraw an approval. In mode `approved` its GW is deregistered too
    /// (a running server closes its session within about a second).
    Remove {
        /// The auth_id.
        auth_id: String,
    },
}
