//! The data directory: made ready before the database opens, and held by
//! one server at a time.
//!
//! SQLite would let two servers share one database file, but each would
//! then allocate gateway IDs, run a control dispatcher and answer for
//! sessions the other holds. [`DataDirLock`] takes an exclusive advisory
//! lock (`flock`) on `omp.lock` in the directory and writes the holder's
//! PID into it, so a second server stops at start-up naming the first.
//! The kernel drops the lock when the process ends, however it ends: a
//! crashed server never leaves a stale lock behind.
//!
//! `omp-server provision …` does not take the lock: approving an auth ID
//! while the server runs is the normal way to use it.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::ServerError;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "omp.lock";

/// Creates `path` (mode 0700) if it is missing and checks that it is a
/// directory this user can write in, with errors that name the path and
/// the fix.
pub fn prepare(path: &Path) -> Result<(), ServerError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_dir() => {
            return Err(ServerError::DataDirNotADirectory {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            crate::file_modes::create_private_dir(path).map_err(|source| ServerError::DataDir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Err(source) => {
            return Err(ServerError::DataDir {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    // Creating a file is the one test of writability that asks the
    // filesystem itself (permissions, read-only mounts, ACLs alike).
    let probe = path.join(".omp-write-test");
    match File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(source) => Err(ServerError::DataDirNotWritable {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The exclusive hold of a data directory; released when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the data directory at `dir` (already [`prepare`]d) for this
    /// process, or names the process that holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, ServerError> {
        let path = dir.join(LOCK_FILE);
        let lock_error = |source| ServerError::DataDirNotWritable {
            path: dir.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(ServerError::DataDirInUse {
                    path: dir.to_path_buf(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(lock_error(source)),
        }
        file.set_len(0).map_err(lock_error)?;
        file.seek(SeekFrom::Start(0)).map_err(lock_error)?;
        writeln!(file, "{}", std::process::id()).map_err(lock_error)?;
        file.sync_all().map_err(lock_error)?;
        Ok(DataDirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path()).unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&std::process::id().to_string()),
            "the holder's PID is named: {text}"
        );
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        drop(first);
        DataDirLock::acquire(dir.path()).expect("free again once the holder is gone");
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("omp-data");
        std::fs::write(&file, b"").unwrap();
        let text = prepare(&file).unwrap_err().to_string();
        assert!(text.contains("not a directory"), "{text}");
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert!(text.contains("--data-dir"), "{text}");
    }

    #[test]
    fn a_missing_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        prepare(&data).unwrap();
        assert!(data.is_dir());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_directory_no_file_can_be_made_in_is_named_with_the_fix() {
        // No user, root included, creates files in /proc/self.
        let path = Path::new("/proc/self");
        let text = prepare(path).unwrap_err().to_string();
        assert!(text.contains("/proc/self"), "{text}");
        assert!(text.contains("not writable by this user"), "{text}");
        assert!(
            text.contains("owner") && text.contains("--data-dir"),
            "{text}"
        );
    }
}
