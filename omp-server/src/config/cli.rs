//! The command line: `omp-server` (the server) and `omp-server
//! provision …`, with every setting as a flag (and `OMP_…` environment
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
