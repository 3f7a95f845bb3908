//! The defaults computed at run time (the others are written in the
//! settings table).

/// File descriptors kept free for the database, logs and the HTTP API.
const FD_RESERVE: usize = 500;

/// The soft open-file limit minus a reserve, read from /proc on Linux
/// (no libc binding needed); 1024 − reserve elsewhere.
pub(super) fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    soft.saturating_sub(FD_RESERVE).max(16)
}
