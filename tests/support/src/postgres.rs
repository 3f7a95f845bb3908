//! A fresh PostgreSQL database for one test.
//!
//! On the cluster `OMP_TEST_POSTGRES_URL` names (`.ci/run` starts one and
//! sets it: an admin URL such as `postgres://omp@127.0.0.1:54321/postgres`)
//! each test gets its own database. Without it, a throwaway cluster is
//! made for the test from the server binaries on `PATH` or under
//! `/usr/lib/postgresql/<version>/bin` (initdb and pg_ctl run as the
//! `postgres` user when the test runs as root, as PostgreSQL refuses
//! root), on a free loopback port, and stopped when the database is
//! dropped. With neither, [`TestDatabase::create`] returns `None` and says
//! why — unless `CI=true`, where it panics: CI never skips them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// A database of its own for one test.
pub struct TestDatabase {
    /// Its URL (trust authentication, no password).
    pub url: String,
    _cluster: Option<Cluster>,
}

impl TestDatabase {
    /// A new empty database, or `None` (printed) where no PostgreSQL can
    /// be had and `CI` is not `true`.
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let (admin_url, cluster) = match std::env::var("OMP_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => match Cluster::start() {
                Ok(cluster) => (cluster.admin_url(), Some(cluster)),
                Err(reason) => {
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!("CI=true and no PostgreSQL for {test}: {reason}");
                    }
                    eprintln!(
                        "SKIPPED {test}: no PostgreSQL ({reason}); apt-get install postgresql, \
                         or set OMP_TEST_POSTGRES_URL"
                    );
                    return None;
                }
            },
        };
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "omp_test_{}_{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {admin_url}: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("OMP_TEST_POSTGRES_URL {admin_url} has no /database"),
        };
        Some(TestDatabase {
            url,
            _cluster: cluster,
        })
    }
}

/// A throwaway cluster in a temporary directory.
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bin = server_binaries().ok_or("no initdb on PATH or in /usr/lib/postgresql/*/bin")?;
        let as_postgres = rustix::process::geteuid().is_root();
        static CLUSTERS: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "omp-test-pg-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if as_postgres {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(&dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("chown postgres failed (is there a postgres user?)".into());
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let cluster = Cluster {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &[
                "-D",
                path(&data),
                "-U",
                "omp",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            cluster.port,
            cluster.dir.display()
        );
        let log = cluster.dir.join("log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                path(&data),
                "-o",
                &options,
                "-l",
                path(&log),
                "-w",
                "start",
            ],
        )?;
        Ok(cluster)
    }

    fn admin_url(&self) -> String {
        format!("postgres://omp@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .current_dir(&self.dir)
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {}: {}{}",
                program.display(),
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run("pg_ctl", &["-D", path(&data), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// The directory of `initdb` and `pg_ctl`: on `PATH`, else Debian's
/// newest `/usr/lib/postgresql/<version>/bin`.
fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}
