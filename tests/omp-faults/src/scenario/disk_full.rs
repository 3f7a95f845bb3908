//! `disk-full`: the database's filesystem fills up while gateways deliver;
//! the OMP must answer an error rc (never a false STATUS_OK), stay up, and
//! store again once space returns.
//!
//! Two ways to make the disk full, both real kernel behaviour:
//! - **tmpfs** (the faithful one): a tmpfs of `size_mib` is mounted on the
//!   working directory and holds the data directory; "full" = a filler
//!   file written until ENOSPC, "space returns" = the filler deleted. SQLite
//!   then sees ENOSPC (SQLITE_FULL) exactly where a real disk would give
//!   it: when a write needs a new block. Mounting needs CAP_SYS_ADMIN (root
//!   outside a restricted container).
//! - **fsize** (works unprivileged): `RLIMIT_FSIZE` of the server process
//!   set to 0 with `prlimit(2)`; every write to a regular file then fails
//!   with EFBIG (SQLITE_IOERR_WRITE / SQLITE_FULL), overwrites included,
//!   so it is harsher than a full disk. "Space returns" = the limit lifted.
//!   Needs the built-in `serve`, which catches SIGXFSZ (an external binary
//!   would be killed by it).
//!
//! `auto` tries tmpfs and falls back to fsize. SQLite's own size cap
//! (`PRAGMA max_page_count`) is not reachable: the OMP has no setting for
//! it, and the fault must come from below the OMP anyway.
//!
//! Phases: deliveries flow (`before_acks`); the disk fills; the run waits
//! for `full_errors` error answers and holds the state `hold` longer
//! (acknowledgements meanwhile are allowed — a write into space SQLite
//! already owns succeeds — and are checked like all others); space
//! returns; the run waits for `after_acks` more acknowledgements
//! (`resume_ms` = time to the first). Then a clean stop (SIGTERM) and the
//! checker.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use test_support::report::Report;

use crate::error::FaultError;
use crate::scenario::{Fleet, Keep, Outcome, WorkDir, add_fleet_figures, collect_violations};
use crate::sender::SenderOptions;
use crate::server::{Program, ServerSpec};
use crate::{sys, verify};

/// How the disk is made full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// tmpfs if it can be mounted here, else fsize.
    Auto,
    /// A small tmpfs filled with a filler file (needs CAP_SYS_ADMIN).
    Tmpfs,
    /// RLIMIT_FSIZE = 0 on the server process (unprivileged).
    Fsize,
}

/// What `disk-full` needs.
#[derive(Debug, Clone)]
pub struct DiskFullOptions {
    /// The OMP program.
    pub program: Program,
    /// How to fill the disk.
    pub method: Method,
    /// Size of the tmpfs, MiB.
    pub size_mib: u64,
    /// Simulated gateways.
    pub gateways: u32,
    /// Acknowledgements before the disk fills.
    pub before_acks: u64,
    /// Error answers to see while it is full.
    pub full_errors: u64,
    /// How much longer to keep it full.
    pub hold: Duration,
    /// Acknowledgements to see after space returns.
    pub after_acks: u64,
    /// Longest wait for each phase.
    pub phase_timeout: Duration,
    /// When to keep the working directory.
    pub keep: Keep,
}

/// The size-limited place and how to fill and free it.
enum Limiter {
    Tmpfs { mount: PathBuf, filler: PathBuf },
    Fsize { pid: u32 },
}

impl Limiter {
    fn name(&self) -> &'static str {
        match self {
            Limiter::Tmpfs { .. } => "tmpfs",
            Limiter::Fsize { .. } => "fsize",
        }
    }

    /// Makes the disk full; returns the filler's size (tmpfs).
    fn fill(&self) -> Result<u64, FaultError> {
        match self {
            Limiter::Tmpfs { filler, .. } => fill_until_enospc(filler),
            Limiter::Fsize { pid } => {
                sys::set_file_size_limit(*pid, Some(0))
                    .map_err(|e| FaultError::io(format!("prlimit FSIZE=0 on pid {pid}"), e))?;
                Ok(0)
            }
        }
    }

    /// Gives the space back.
    fn free(&self) -> Result<(), FaultError> {
        match self {
            Limiter::Tmpfs { filler, .. } => std::fs::remove_file(filler)
                .map_err(|e| FaultError::io(format!("removing {}", filler.display()), e)),
            Limiter::Fsize { pid } => sys::set_file_size_limit(*pid, None)
                .map_err(|e| FaultError::io(format!("prlimit FSIZE=unlimited on pid {pid}"), e)),
        }
    }
}

/// Unmounts the tmpfs when the run ends, however it ends, after copying
/// the data directory out of it (into `rescue`) so that a kept working
/// directory still holds the database and its WAL.
struct MountGuard {
    mount: PathBuf,
    rescue: PathBuf,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let data = self.mount.join("data");
        if let Ok(entries) = std::fs::read_dir(&data) {
            let _ = std::fs::create_dir_all(&self.rescue);
            for entry in entries.flatten() {
                let _ = std::fs::copy(entry.path(), self.rescue.join(entry.file_name()));
            }
        }
        if let Err(e) = sys::unmount(&self.mount) {
            eprintln!("omp-faults: unmounting {}: {e}", self.mount.display());
        }
    }
}

fn fill_until_enospc(path: &Path) -> Result<u64, FaultError> {
    let what = || format!("filling {}", path.display());
    let mut file = std::fs::File::create(path).map_err(|e| FaultError::io(what(), e))?;
    let chunk = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == ErrorKind::StorageFull => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(FaultError::io(what(), e)),
        }
    }
    Ok(total)
}

/// Mounts the tmpfs, or says why it cannot.
fn mount_tmpfs(mount: &Path, size_mib: u64) -> Result<MountGuard, FaultError> {
    std::fs::create_dir_all(mount)
        .map_err(|e| FaultError::io(format!("creating {}", mount.display()), e))?;
    sys::mount_tmpfs(mount, size_mib * 1024 * 1024).map_err(|e| FaultError::NoLimitedFs {
        detail: format!("mount -t tmpfs on {}: {e}", mount.display()),
    })?;
    Ok(MountGuard {
        mount: mount.to_path_buf(),
        rescue: mount.with_file_name("data-copied-from-tmpfs"),
    })
}

/// Runs the scenario.
pub async fn run(opts: &DiskFullOptions) -> Result<Outcome, FaultError> {
    let work = WorkDir::new(opts.keep)?;
    let mount_dir = work.path().join("limited");
    let guard;
    let use_tmpfs = match opts.method {
        Method::Tmpfs => match mount_tmpfs(&mount_dir, opts.size_mib) {
            Ok(g) => {
                guard = Some(g);
                true
            }
            Err(e) => {
                // Nothing happened yet: nothing to keep.
                work.finish(false);
                return Err(e);
            }
        },
        Method::Fsize => {
            guard = None;
            false
        }
        Method::Auto => match mount_tmpfs(&mount_dir, opts.size_mib) {
            Ok(g) => {
                guard = Some(g);
                true
            }
            Err(e) => {
                eprintln!("omp-faults: {e}; using the fsize method");
                guard = None;
                false
            }
        },
    };
    if !use_tmpfs && !opts.program.is_self_run() {
        return Err(FaultError::Config {
            option: "--method",
            detail: "fsize needs the built-in server (no --server-bin): SIGXFSZ would kill \
                     another binary"
                .into(),
        });
    }
    let data_dir = if use_tmpfs {
        mount_dir.join("data")
    } else {
        work.path().join("data")
    };
    let spec = ServerSpec::new(opts.program.clone(), data_dir, work.log_path())?;
    let server = spec.start().await?;
    let limiter = if use_tmpfs {
        Limiter::Tmpfs {
            mount: mount_dir.clone(),
            filler: mount_dir.join("filler"),
        }
    } else {
        Limiter::Fsize { pid: server.pid() }
    };

    let template = SenderOptions {
        index: 0,
        auth_prefix: "full".into(),
        target: spec.gmmp_addr,
        in_flight: 1,
        max_seqs: None,
        answer_timeout: Duration::from_secs(15),
        reconnect_pause: Duration::from_millis(20),
        error_pause: Duration::from_millis(20),
        pace: None,
        keyed: None,
        split: None,
    };
    let fleet = Fleet::spawn(&template, 0, opts.gateways);
    let steering = fleet.steering.clone();
    let t = opts.phase_timeout;

    fleet
        .wait_for(
            t,
            "every gateway registered, and acknowledgements, before the disk fills",
            |s| s.sessions >= u64::from(opts.gateways) && s.acked >= opts.before_acks,
        )
        .await?;
    let at_fill = fleet.snapshot();
    let filler_bytes = limiter.fill()?;
    let free_when_full = match &limiter {
        Limiter::Tmpfs { mount, .. } => Some(
            sys::free_bytes(mount)
                .map_err(|e| FaultError::io(format!("statvfs {}", mount.display()), e))?,
        ),
        Limiter::Fsize { .. } => None,
    };
    let first_error_after = fleet
        .wait_for(t, "the first error answer while the disk is full", |s| {
            s.error_rcs > at_fill.error_rcs
        })
        .await?;
    fleet
        .wait_for(t, "error answers while the disk is full", |s| {
            s.error_rcs >= at_fill.error_rcs + opts.full_errors
        })
        .await?;
    tokio::time::sleep(opts.hold).await;
    let mut server = server;
    if let Some(status) = server.exited()? {
        return Err(FaultError::Server {
            program: "omp server".into(),
            detail: format!(
                "exited with {status} while the disk was full; log: {}",
                crate::server::log_tail(&spec.log_path)
            ),
        });
    }
    let at_free = fleet.snapshot();
    let while_full = at_free.since(&at_fill);
    limiter.free()?;
    let mut violations = Vec::new();
    let resume = fleet
        .wait_for(t, "the first acknowledgement after space returned", |s| {
            s.acked > at_free.acked
        })
        .await;
    match &resume {
        Ok(_) => {
            if let Err(e) = fleet
                .wait_for(t, "acknowledgements after space returned", |s| {
                    s.acked >= at_free.acked + opts.after_acks
                })
                .await
            {
                violations.push(format!("deliveries did not resume fully: {e}"));
            }
        }
        Err(e) => violations.push(format!("the OMP did not resume when space returned: {e}")),
    }
    let after = fleet.snapshot().since(&at_free);
    // Without recovery nothing more can be acknowledged: do not wait again.
    let drain = if resume.is_ok() { t } else { Duration::ZERO };
    let (ledgers, drained) = fleet.finish(drain).await?;
    let stop_started = Instant::now();
    let status = server.terminate(Duration::from_secs(30)).await?;
    let stop_ms = stop_started.elapsed().as_secs_f64() * 1e3;

    let verdict = verify::verify(&spec.store(), &ledgers).await?;
    violations.extend(collect_violations(&verdict, &spec));
    if !drained && resume.is_ok() {
        violations.push("not every begun delivery was acknowledged after space returned".into());
    }
    if !status.success() {
        violations.push(format!(
            "the clean stop after the disk-full episode exited with {status}"
        ));
    }

    let mut report = Report::new("disk-full");
    report
        .set("method", limiter.name())
        .set("gateways", opts.gateways);
    if use_tmpfs {
        report
            .set("tmpfs_mib", opts.size_mib)
            .set("filler_bytes", filler_bytes);
    }
    if let Some(free) = free_when_full {
        report.set("free_bytes_when_full", free);
    }
    report
        .set("acked_before_full", at_fill.acked)
        .set_f64("first_error_ms", first_error_after.as_secs_f64() * 1e3, 1)
        .set("acked_while_full", while_full.acked)
        .set("errors_while_full", while_full.error_rcs)
        .set(
            "resume_ms",
            resume.as_ref().map_or(serde_json::Value::Null, |d| {
                serde_json::json!((d.as_secs_f64() * 1e4).round() / 10.0)
            }),
        )
        .set("acked_after_free", after.acked)
        .set("errors_after_free", after.error_rcs)
        .set("clean_stop", status.to_string())
        .set_f64("stop_ms", stop_ms, 1);
    verdict.add_to(&mut report);
    add_fleet_figures(&mut report, &steering, &ledgers);
    report.set("violations", violations.len());
    drop(guard);
    let kept_dir = work.finish(!violations.is_empty());
    Ok(Outcome {
        report,
        violations,
        kept_dir,
    })
}
