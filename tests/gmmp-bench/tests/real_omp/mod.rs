//! The real omp-server in this process for the scenario tests: loopback
//! ports picked by the OS, open provisioning, a scratch data directory,
//! MQTT off unless the test turns it on.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use gmmp_bench::ceiling::sqlite::ScratchDir;
use tokio_util::sync::CancellationToken;

/// Generous guard against a hang on stopping; never a performance bound.
const STOP_GUARD: Duration = Duration::from_secs(60);

/// A running server and what stops it.
pub struct RealOmp {
    /// The server (its addresses, its state).
    pub server: omp_server::RunningServer,
    /// Its SQLite file.
    pub db_path: PathBuf,
    shutdown: CancellationToken,
    _dir: ScratchDir,
}

/// Starts one, `tweak` applied to its settings last.
pub async fn start(tweak: impl FnOnce(&mut omp_server::Config)) -> RealOmp {
    let dir = ScratchDir::new(None).unwrap();
    let mut config = omp_server::Config::defaults();
    config.gmmp_listen = "127.0.0.1:0".parse().unwrap();
    config.http_listen = "127.0.0.1:0".parse().unwrap();
    config.mqtt_listen = None;
    config.mqtts_listen = None;
    config.data_dir = dir.path().to_owned();
    config.provisioning = omp_server::ProvisioningMode::Open;
    tweak(&mut config);
    let db_path = config.database_path();
    let shutdown = CancellationToken::new();
    let server = omp_server::run(config, shutdown.clone()).await.unwrap();
    RealOmp {
        server,
        db_path,
        shutdown,
        _dir: dir,
    }
}

impl RealOmp {
    /// Stops it and waits for a clean end.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(STOP_GUARD, self.server.wait())
            .await
            .expect("the server stops")
            .expect("clean shutdown");
    }
}
