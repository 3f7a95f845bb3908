//! Memory of the OMP process, read from `/proc/<pid>/status`.
//!
//! `VmRSS` is the resident set now, `VmHWM` the highest it has been since
//! the process started. [`RssSampler`] polls `VmRSS` while a scenario runs
//! so that a peak *during the run* can be told apart from one at start-up
//! (`VmHWM` cannot: it never goes down).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::BenchError;
use test_support::report::Report;

/// Memory figures of one process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident set now (`VmRSS`).
    pub rss_kib: u64,
    /// Highest resident set so far (`VmHWM`).
    pub hwm_kib: u64,
}

/// Parses the `VmRSS` and `VmHWM` lines of a `/proc/<pid>/status` text.
pub fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Reads the memory figures of process `pid`.
pub fn read(pid: u32) -> Result<Memory, BenchError> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| BenchError::io(&path, e))?;
    parse_status(&text).ok_or_else(|| BenchError::Config {
        option: "--server-pid",
        detail: format!("{path} has no VmRSS/VmHWM lines (a kernel thread, or gone?)"),
    })
}

/// Polls a process's `VmRSS` in the background and keeps the highest.
#[derive(Debug)]
pub struct RssSampler {
    pid: u32,
    start: Memory,
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    /// Starts polling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> Result<Self, BenchError> {
        let start = read(pid)?;
        let peak_kib = Arc::new(AtomicU64::new(start.rss_kib));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let peak_kib = peak_kib.clone();
            let stop = stop.clone();
            async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(m) = read(pid) {
                        peak_kib.fetch_max(m.rss_kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(every).await;
                }
            }
        });
        Ok(RssSampler {
            pid,
            start,
            peak_kib,
            stop,
            task,
        })
    }

    /// Stops polling and adds `server_rss_start_kib`, `server_rss_end_kib`,
    /// `server_peak_rss_kib` (sampled during the run) and `server_vmhwm_kib`.
    pub async fn finish(self, report: &mut Report) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let end = read(self.pid).ok();
        let peak = self
            .peak_kib
            .load(Ordering::Relaxed)
            .max(end.map_or(0, |m| m.rss_kib));
        report.set("server_rss_start_kib", self.start.rss_kib);
        if let Some(end) = end {
            report.set("server_rss_end_kib", end.rss_kib);
            report.set("server_vmhwm_kib", end.hwm_kib);
        }
        report.set("server_peak_rss_kib", peak);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_status_text() {
        let text =
            "Name:\tomp-server\nVmPeak:\t  900 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                rss_kib: 4096,
                hwm_kib: 5120
            })
        );
        assert_eq!(parse_status("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let m = read(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }
}
