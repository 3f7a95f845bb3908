//! What the fault runs ask of the OS, through rustix (no `unsafe`):
//! resource limits of the OMP child (`prlimit(2)`), signals, tmpfs mounts,
//! and readings from `/proc/<pid>`. Linux only, as these tests are.

use std::io;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};
use rustix::process::{Pid, Resource, Rlimit, Signal};

fn pid_of(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("bad pid {pid}")))
}

/// Sets the open-file limit (soft and hard) of process `pid` to `n`. Only
/// descriptors opened later are refused, so it is set before the process
/// gets traffic.
pub fn set_open_files_limit(pid: u32, n: u64) -> io::Result<()> {
    let limit = Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    rustix::process::prlimit(Some(pid_of(pid)?), Resource::Nofile, limit)?;
    Ok(())
}

/// Raises this process's soft open-files limit to its hard limit (the
/// children started after inherit it); returns the soft limit now.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let limit = rustix::process::getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum
        && limit.current.is_some_and(|soft| soft < hard)
    {
        rustix::process::setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        )?;
    }
    Ok(rustix::process::getrlimit(Resource::Nofile)
        .current
        .unwrap_or(u64::MAX))
}

/// Sets the file-size limit (`RLIMIT_FSIZE`, soft; hard unlimited) of
/// process `pid`: `Some(0)` makes every write to a regular file fail with
/// EFBIG (and SIGXFSZ, which the process must handle), `None` lifts it.
pub fn set_file_size_limit(pid: u32, bytes: Option<u64>) -> io::Result<()> {
    let limit = Rlimit {
        current: bytes,
        maximum: None,
    };
    rustix::process::prlimit(Some(pid_of(pid)?), Resource::Fsize, limit)?;
    Ok(())
}

/// Sends SIGKILL to `pid`.
pub fn kill(pid: u32) -> io::Result<()> {
    rustix::process::kill_process(pid_of(pid)?, Signal::KILL)?;
    Ok(())
}

/// Sends SIGTERM to `pid` (the OMP's clean shutdown).
pub fn terminate(pid: u32) -> io::Result<()> {
    rustix::process::kill_process(pid_of(pid)?, Signal::TERM)?;
    Ok(())
}

/// Mounts a tmpfs of `size_bytes` on `target` (needs CAP_SYS_ADMIN).
pub fn mount_tmpfs(target: &Path, size_bytes: u64) -> io::Result<()> {
    let data = std::ffi::CString::new(format!("size={size_bytes},mode=0700"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    rustix::mount::mount(
        "omp-faults",
        target,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(data.as_c_str()),
    )?;
    Ok(())
}

/// Detaches the mount on `target` (lazily, so an open file cannot keep it).
pub fn unmount(target: &Path) -> io::Result<()> {
    rustix::mount::unmount(target, UnmountFlags::DETACH)?;
    Ok(())
}

/// How many file descriptors process `pid` has open.
pub fn open_fds(pid: u32) -> io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

pub use test_support::process::cpu_seconds;

/// Free bytes of the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(open_fds(me).unwrap() >= 3);
    }
}
