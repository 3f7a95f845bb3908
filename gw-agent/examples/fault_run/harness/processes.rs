//! The processes under test: the in-process OMP on a fixed port and the
//! `gw-agent` child, started again after each kill.

use super::*;

/// A free loopback port below the kernel's ephemeral range for the OMP.
/// The OMP is stopped and started again on one port, and a port of the
/// ephemeral range can be handed to another socket in between — another
/// program's, or the emulator's own connect attempt to it (a TCP
/// self-connect) — which then keeps the OMP out. Falls back to any free
/// port when the range starts too low.
pub(super) fn pick_port() -> Result<u16, RunError> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let from = 10_000u16;
    if ephemeral_low > from {
        let mut rng = Rng::new(
            u64::from(std::process::id())
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
        );
        for _ in 0..200 {
            let port = from + (rng.next() % u64::from(ephemeral_low - from)) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let any = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    any.local_addr()
        .map(|a| a.port())
        .map_err(io("finding a free port"))
}

/// The OMP in-process, on a fixed GMMP address once started.
pub(super) struct Omp {
    pub(super) server: omp_server::RunningServer,
    pub(super) shutdown: CancellationToken,
    pub(super) gmmp_addr: SocketAddr,
}

impl Omp {
    /// Starts the OMP on `gmmp` (a port a previous run had: retried while
    /// the old socket is still being released).
    pub(super) async fn start(dir: &Path, gmmp: SocketAddr) -> Result<Omp, RunError> {
        let mut last = String::new();
        for _ in 0..50 {
            let mut config = omp_server::Config::defaults();
            config.gmmp_listen = gmmp;
            config.http_listen = "127.0.0.1:0".parse().expect("literal address");
            config.data_dir = dir.to_owned();
            config.provisioning = omp_server::ProvisioningMode::Open;
            let shutdown = CancellationToken::new();
            match omp_server::run(config, shutdown.clone()).await {
                Ok(server) => {
                    return Ok(Omp {
                        gmmp_addr: server.gmmp_addr,
                        server,
                        shutdown,
                    });
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(RunError::Omp(format!("cannot start on {gmmp}: {last}")))
    }

    /// Stops it; returns how many keyed resends it acknowledged without
    /// storing them again.
    pub(super) async fn stop(self) -> Result<u64, RunError> {
        let state = self.server.state.clone();
        self.shutdown.cancel();
        self.server
            .wait()
            .await
            .map_err(|e| RunError::Omp(format!("shutdown: {e}")))?;
        Ok(state
            .metrics
            .deliveries_already_stored
            .load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// The `gw-agent` binary, started again after each kill with the same
/// config and state directory; its log goes to `<state>/agent.log`.
pub(super) struct AgentProcess {
    pub(super) bin: PathBuf,
    pub(super) config: PathBuf,
    pub(super) log: PathBuf,
    pub(super) child: Child,
}

impl AgentProcess {
    pub(super) fn spawn(
        opts: &Options,
        tty: &Path,
        omp_port: u16,
        state: &Path,
        socket: &Path,
    ) -> Result<AgentProcess, RunError> {
        std::fs::create_dir_all(state).map_err(io(format!("creating {}", state.display())))?;
        let config = opts.work_dir.join("agent.toml");
        let text = format!(
            r#"state_dir = "{state}"
[serial]
path = "{tty}"
[wifi]
ssid = "testnet"
passphrase = "12345678"
[omp]
host = "127.0.0.1"
port = {omp_port}
[periods]
response_timeout = "{timeout}ms"
[delivery]
max_in_flight = {in_flight}
retry_delay = "1s"
[spool]
max_bytes = {spool}
segment_bytes = 4096
when_full = "drop-oldest"
[sources]
stdin = false
listen = "unix:{socket}"
[reconnect]
initial = "100ms"
max = "2s"
"#,
            state = state.display(),
            tty = tty.display(),
            timeout = opts.response_timeout.as_millis(),
            in_flight = opts.in_flight,
            spool = opts.spool_bytes,
            socket = socket.display(),
        );
        std::fs::write(&config, text).map_err(io(format!("writing {}", config.display())))?;
        let log = state.join("agent.log");
        let child = start_agent(&opts.agent_bin, &config, &log)?;
        Ok(AgentProcess {
            bin: opts.agent_bin.clone(),
            config,
            log,
            child,
        })
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub(super) async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    pub(super) fn restart(&mut self) -> Result<(), RunError> {
        self.child = start_agent(&self.bin, &self.config, &self.log)?;
        Ok(())
    }
}

pub(super) fn start_agent(bin: &Path, config: &Path, log: &Path) -> Result<Child, RunError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(format!("opening {}", log.display())))?;
    Command::new(bin)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .map_err(io(format!("starting {}", bin.display())))
}

pub(super) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(super) async fn wait_ready(state: &Path, limit: Duration) -> Result<String, RunError> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(s) = gw_agent::status::read(state)
            && s.omp == "ready"
            && let Some(gw) = s.gw_id
        {
            return Ok(gw);
        }
        if Instant::now() > deadline {
            return Err(RunError::NotReady(limit));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
