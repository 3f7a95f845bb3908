//! The OMP under test as a child process: its own data directory and
//! loopback ports, kept across restarts, its output in a log file.
//!
//! By default the child is this program's hidden `serve` subcommand, which
//! runs `omp_server::run` exactly as the `omp-server` binary does (same
//! flags, same code); `--server-bin` runs a built `omp-server` instead.
//! Either way SIGKILL kills a real, separate process that has the real
//! database files open.
//!
//! Ports are chosen once (bind `127.0.0.1:0`, note the port, close) and
//! reused by every restart, as a real OMP keeps its address; tokio binds
//! with SO_REUSEADDR, so the TIME_WAIT sockets a killed server leaves do
//! not block its successor. A start that exits before it is ready (the
//! port taken meanwhile by someone else) is retried a few times.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::error::FaultError;
use crate::sys;
use crate::verify::Store;

/// Starts that exit before the server is ready, tried again this often.
const START_ATTEMPTS: u32 = 5;
/// How often readiness is probed.
const READY_POLL: Duration = Duration::from_millis(5);

pub use crate::program::Program;

/// A free loopback address (the port is closed again at once).
pub fn free_loopback_addr() -> Result<SocketAddr, FaultError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| FaultError::io("binding 127.0.0.1:0 to find a free port", e))?;
    listener
        .local_addr()
        .map_err(|e| FaultError::io("reading the free port", e))
}

/// How to start the OMP; the same for every restart.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The program.
    pub program: Program,
    /// Its data directory (the SQLite database, unless `database_url`).
    pub data_dir: PathBuf,
    /// `--database-url`: the PostgreSQL database it stores everything in
    /// instead of the SQLite file (`None`: SQLite).
    pub database_url: Option<String>,
    /// GMMP listen address.
    pub gmmp_addr: SocketAddr,
    /// HTTP API listen address.
    pub http_addr: SocketAddr,
    /// MQTT listen address (`None`: MQTT off).
    pub mqtt_addr: Option<SocketAddr>,
    /// Flags added after the standard ones.
    pub extra_args: Vec<String>,
    /// Where its stdout and stderr go (appended).
    pub log_path: PathBuf,
    /// Open-file limit applied with `prlimit(2)` right after the start.
    pub open_files: Option<u64>,
    /// Longest wait for the GMMP port to accept.
    pub ready_timeout: Duration,
}

impl ServerSpec {
    /// A spec with fresh loopback ports, `data_dir` and its log beside it.
    pub fn new(program: Program, data_dir: PathBuf, log_path: PathBuf) -> Result<Self, FaultError> {
        Ok(ServerSpec {
            program,
            data_dir,
            database_url: None,
            gmmp_addr: free_loopback_addr()?,
            http_addr: free_loopback_addr()?,
            mqtt_addr: None,
            extra_args: Vec::new(),
            log_path,
            open_files: None,
            ready_timeout: Duration::from_secs(30),
        })
    }

    /// The SQLite file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("omp.sqlite3")
    }

    /// Where the server stores its deliveries: the PostgreSQL database of
    /// `database_url`, else the SQLite file.
    pub fn store(&self) -> Store {
        match &self.database_url {
            Some(url) => Store::Postgres(url.clone()),
            None => Store::Sqlite(self.database_path()),
        }
    }

    fn command(&self) -> Result<Command, FaultError> {
        let mut cmd = self.program.command();
        cmd.arg("--gmmp-listen")
            .arg(self.gmmp_addr.to_string())
            .arg("--http-listen")
            .arg(self.http_addr.to_string())
            .arg("--mqtt-listen")
            .arg(self.mqtt_addr.map_or("none".to_owned(), |a| a.to_string()))
            .args(["--mqtts-listen", "none"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--provisioning")
            .arg("open");
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(&self.extra_args);
        // Settings come from the flags alone, not from the caller's OMP_*.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OMP_") {
                cmd.env_remove(key);
            }
        }
        cmd.env(
            "RUST_LOG",
            std::env::var("OMP_FAULTS_SERVER_LOG").unwrap_or_else(|_| "info".into()),
        );
        // Output goes through pipes that this process copies to the log:
        // a log file written by the server itself would fall under its
        // RLIMIT_FSIZE (the disk-full run) and go silent.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Ok(cmd)
    }

    /// Copies the child's stdout and stderr into the log file until they
    /// close (line-buffered: each side's lines stay whole).
    fn log_output(&self, child: &mut Child) -> Result<(), FaultError> {
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::pin(o) as Pin<Box<dyn AsyncRead + Send>>),
            child
                .stderr
                .take()
                .map(|e| Box::pin(e) as Pin<Box<dyn AsyncRead + Send>>),
        ]
        .into_iter()
        .flatten()
        {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_path)
                .map_err(|e| FaultError::io(format!("opening {}", self.log_path.display()), e))?;
            tokio::spawn(async move {
                let mut file = tokio::fs::File::from_std(file);
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if file
                        .write_all(format!("{line}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                let _ = file.flush().await;
            });
        }
        Ok(())
    }

    /// Starts the OMP and waits until its GMMP port accepts.
    pub async fn start(&self) -> Result<ServerProcess, FaultError> {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match self.start_once().await? {
                Ok(server) => return Ok(server),
                Err(detail) => {
                    last = detail;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Err(FaultError::Server {
            program: self.program.describe(),
            detail: format!("did not start in {START_ATTEMPTS} attempts; last: {last}"),
        })
    }

    /// Ok(Err(detail)) when the child exited before it was ready.
    async fn start_once(&self) -> Result<Result<ServerProcess, String>, FaultError> {
        let started = Instant::now();
        let mut child = self
            .command()?
            .spawn()
            .map_err(|e| FaultError::io(format!("starting {}", self.program.describe()), e))?;
        let pid = child.id().ok_or_else(|| FaultError::Server {
            program: self.program.describe(),
            detail: "exited at once".into(),
        })?;
        self.log_output(&mut child)?;
        if let Some(n) = self.open_files {
            sys::set_open_files_limit(pid, n)
                .map_err(|e| FaultError::io(format!("prlimit NOFILE={n} on pid {pid}"), e))?;
        }
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| FaultError::io("waiting for the server", e))?
            {
                return Ok(Err(format!(
                    "exited with {status} before it was ready; log: {}",
                    log_tail(&self.log_path)
                )));
            }
            if tokio::net::TcpStream::connect(self.gmmp_addr).await.is_ok() {
                return Ok(Ok(ServerProcess {
                    child,
                    pid,
                    ready_after: started.elapsed(),
                    program: self.program.describe(),
                    log_path: self.log_path.clone(),
                }));
            }
            if started.elapsed() > self.ready_timeout {
                let _ = child.start_kill();
                return Err(FaultError::Timeout {
                    what: format!(
                        "{} to accept on {}",
                        self.program.describe(),
                        self.gmmp_addr
                    ),
                    secs: self.ready_timeout.as_secs(),
                });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }
}

/// A running OMP child. Dropping it kills it.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pid: u32,
    /// Time from spawn to the GMMP port accepting.
    pub ready_after: Duration,
    program: String,
    log_path: PathBuf,
}

impl ServerProcess {
    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(status)` when the process has exited on its own.
    pub fn exited(&mut self) -> Result<Option<ExitStatus>, FaultError> {
        self.child
            .try_wait()
            .map_err(|e| FaultError::io("checking the server process", e))
    }

    /// SIGKILL, then reap. Errors if the process had already exited (it
    /// was not supposed to).
    pub async fn kill(mut self) -> Result<(), FaultError> {
        if let Some(status) = self.exited()? {
            return Err(self.died(status));
        }
        sys::kill(self.pid).map_err(|e| FaultError::io(format!("SIGKILL pid {}", self.pid), e))?;
        self.child
            .wait()
            .await
            .map_err(|e| FaultError::io("reaping the killed server", e))?;
        Ok(())
    }

    /// SIGTERM (clean shutdown), at most `grace` to exit, then SIGKILL.
    /// Returns the exit status of the clean stop, or an error naming the
    /// forced kill.
    pub async fn terminate(mut self, grace: Duration) -> Result<ExitStatus, FaultError> {
        if let Some(status) = self.exited()? {
            return Err(self.died(status));
        }
        sys::terminate(self.pid)
            .map_err(|e| FaultError::io(format!("SIGTERM pid {}", self.pid), e))?;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.map_err(|e| FaultError::io("reaping the server", e)),
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                Err(FaultError::Timeout {
                    what: format!("{} to stop after SIGTERM (killed)", self.program),
                    secs: grace.as_secs(),
                })
            }
        }
    }

    fn died(&self, status: ExitStatus) -> FaultError {
        FaultError::Server {
            program: self.program.clone(),
            detail: format!(
                "exited on its own with {status}; log: {}",
                log_tail(&self.log_path)
            ),
        }
    }
}

/// The last lines of the log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(8).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Lines of the log that report a panic.
pub fn panics_in_log(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("panicked at"))
        .map(str::to_owned)
        .collect()
}
