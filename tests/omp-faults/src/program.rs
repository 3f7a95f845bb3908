//! [`Program`]: which executable a fault run starts as its child — this
//! crate's own binary with one of its hidden subcommands (`serve` for the
//! OMP, `run-agent` for the agent), or a binary given on the command line.

use std::path::PathBuf;

use tokio::process::Command;

use crate::error::FaultError;

/// The subcommand that runs the OMP in this executable.
pub const SERVE: &str = "serve";
/// The subcommand that runs the gateway agent in this executable.
pub const RUN_AGENT: &str = "run-agent";

/// Which program a child is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// `<this executable> <subcommand> <flags>`.
    SelfRun {
        /// This executable.
        exe: PathBuf,
        /// Its hidden subcommand ([`SERVE`], [`RUN_AGENT`]).
        subcommand: &'static str,
    },
    /// `<binary> <flags>`.
    External(PathBuf),
}

impl Program {
    /// This executable's `subcommand`, or `bin` when given.
    pub fn choose(bin: Option<PathBuf>, subcommand: &'static str) -> Result<Program, FaultError> {
        match bin {
            Some(path) => Ok(Program::External(path)),
            None => std::env::current_exe()
                .map(|exe| Program::SelfRun { exe, subcommand })
                .map_err(|e| FaultError::io("locating this executable", e)),
        }
    }

    /// True for this executable's own subcommand (whose `serve` handles
    /// SIGXFSZ).
    pub fn is_self_run(&self) -> bool {
        matches!(self, Program::SelfRun { .. })
    }

    /// The command to start it, flags still to add.
    pub fn command(&self) -> Command {
        match self {
            Program::SelfRun { exe, subcommand } => {
                let mut command = Command::new(exe);
                command.arg(subcommand);
                command
            }
            Program::External(bin) => Command::new(bin),
        }
    }

    /// How it is named in errors.
    pub fn describe(&self) -> String {
        match self {
            Program::SelfRun { exe, subcommand } => format!("{} {subcommand}", exe.display()),
            Program::External(p) => p.display().to_string(),
        }
    }
}
