//! The agent's state in one line — module, Wi-Fi, OMP session, GW ID,
//! spool depth — logged when it changes and kept in `status.json` in the
//! state directory, which `gw-agent status` prints.
//!
//! The file is replaced atomically (write a temporary file, rename), so a
//! reader never sees half of it; it is not fsynced: it describes the
//! present, and a stale one after a crash says so by its `updated` time
//! and `pid`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Name of the status file in the state directory.
pub const STATUS_FILE: &str = "status.json";

/// Depth-only changes are written at most this often.
const DEPTH_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// A snapshot of the agent's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Transport name.
    pub transport: String,
    /// Module state.
    pub module: String,
    /// Wi-Fi state.
    pub wifi: String,
    /// OMP session state.
    pub omp: String,
    /// GW ID, once registered.
    pub gw_id: Option<String>,
    /// Deliveries waiting in the spool (in flight included).
    pub spool_depth: usize,
    /// Bytes waiting in the spool.
    pub spool_bytes: u64,
    /// Report state.
    pub report_on: bool,
    /// Operation state.
    pub running: bool,
    /// The agent's process ID.
    pub pid: u32,
    /// Unix seconds of this snapshot.
    pub updated: u64,
}

impl Status {
    /// The one-line form.
    pub fn line(&self) -> String {
        format!(
            "transport={} module={} wifi={} omp={} gw_id={} spool={} ({} bytes) report={} operation={}",
            self.transport,
            self.module,
            self.wifi,
            self.omp,
            self.gw_id.as_deref().unwrap_or("-"),
            self.spool_depth,
            self.spool_bytes,
            if self.report_on { "on" } else { "off" },
            if self.running { "run" } else { "pause" },
        )
    }

    /// Everything but the spool depth and time: what a log line is worth.
    fn shape(&self) -> (&str, &str, &str, &str, &Option<String>, bool, bool, bool) {
        (
            &self.transport,
            &self.module,
            &self.wifi,
            &self.omp,
            &self.gw_id,
            self.report_on,
            self.running,
            self.spool_depth == 0,
        )
    }
}

/// Why the status could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The file could not be read or written.
    #[error("status file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a status.
    #[error("status file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
}

/// Reads the status file of `state_dir`.
pub fn read(state_dir: &Path) -> Result<Status, StatusError> {
    let path = state_dir.join(STATUS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| StatusError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| StatusError::Invalid {
        path,
        message: e.to_string(),
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename; with
/// `durable`, syncs the file and the directory too.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if durable && let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Logs and writes the status as it changes.
#[derive(Debug)]
pub struct StatusReporter {
    path: PathBuf,
    last: Option<Status>,
    last_write: Option<Instant>,
    dirty: bool,
}

impl StatusReporter {
    /// A reporter writing into `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        StatusReporter {
            path: state_dir.join(STATUS_FILE),
            last: None,
            last_write: None,
            dirty: false,
        }
    }

    /// Takes a new snapshot: logs it when more than the depth changed,
    /// writes the file (depth-only changes at most once a second).
    pub fn update(&mut self, status: Status, now: Instant) {
        let shape_changed = self
            .last
            .as_ref()
            .is_none_or(|l| l.shape() != status.shape());
        let changed = self.last.as_ref().is_none_or(|l| {
            (l.spool_depth, l.spool_bytes) != (status.spool_depth, status.spool_bytes)
                || shape_changed
        });
        if shape_changed {
            tracing::info!("state: {}", status.line());
        }
        if changed {
            self.dirty = true;
        }
        self.last = Some(status);
        let due = shape_changed
            || self
                .last_write
                .is_none_or(|t| now.duration_since(t) >= DEPTH_WRITE_INTERVAL);
        if self.dirty && due {
            self.flush(now);
        }
    }

    /// Writes the latest snapshot if it has not been written yet.
    pub fn flush(&mut self, now: Instant) {
        let Some(status) = &self.last else { return };
        if !self.dirty {
            return;
        }
        let mut status = status.clone();
        status.updated = unix_now();
        let text = serde_json::to_vec_pretty(&status).unwrap_or_default();
        if let Err(e) = write_atomic(&self.path, &text, false) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the status file");
        }
        self.dirty = false;
        self.last_write = Some(now);
    }

    /// When a pending depth-only write is due, if one is pending.
    pub fn next_write(&self) -> Option<Instant> {
        match (self.dirty, self.last_write) {
            (true, Some(t)) => Some(t + DEPTH_WRITE_INTERVAL),
            (true, None) => Some(Instant::now()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(depth: usize) -> Status {
        Status {
            transport: "direct".into(),
            module: "none".into(),
            wifi: "n/a".into(),
            omp: "ready".into(),
            gw_id: Some("SC10010254".into()),
            spool_depth: depth,
            spool_bytes: depth as u64 * 10,
            report_on: true,
            running: true,
            pid: 1,
            updated: 0,
        }
    }

    #[test]
    fn the_file_round_trips_and_the_line_names_everything() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = StatusReporter::new(dir.path());
        r.update(status(3), Instant::now());
        let back = read(dir.path()).unwrap();
        assert_eq!(back.spool_depth, 3);
        assert_eq!(
            back.line(),
            "transport=direct module=none wifi=n/a omp=ready gw_id=SC10010254 spool=3 (30 bytes) report=on operation=run"
        );
    }

    #[test]
    fn depth_only_changes_wait_for_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = StatusReporter::new(dir.path());
        let t = Instant::now();
        r.update(status(1), t);
        r.update(status(2), t);
        assert_eq!(read(dir.path()).unwrap().spool_depth, 1);
        assert_eq!(r.next_write(), Some(t + DEPTH_WRITE_INTERVAL));
        r.flush(t);
        assert_eq!(read(dir.path()).unwrap().spool_depth, 2);
    }
}
