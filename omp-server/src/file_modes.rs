//! Secrets at rest: the data directory is the owner's alone (0700), and
//! the files in it that hold secrets — the SQLite database (gateway auth
//! keys, MQTT login hashes) and the HTTP API key — are readable by the
//! owner only (0600).
//!
//! The server makes them so when it creates them: the directory with
//! mode 0700, the database file with mode 0600 before SQLite opens it
//! (SQLite gives its `-wal` and `-shm` files the main file's permissions,
//! so they follow). Files and directories that already exist are not
//! changed behind the operator's back: [`check`] names each one that
//! group or others can reach, with the `chmod` that fixes it, and the
//! server logs these as warnings and starts anyway (a shared sandbox may
//! be set up that way on purpose).
//!
//! On platforms without Unix permissions there is nothing to set or check.

use std::io;
use std::path::{Path, PathBuf};

/// Suffixes of SQLite's companion files of a WAL-mode database.
const SQLITE_COMPANIONS: [&str; 2] = ["-wal", "-shm"];

/// Creates `path` and its missing parents, each with mode 0700.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates `path` empty with mode 0600 if it does not exist; an existing
/// file is left as it is.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A directory or file that others than its owner can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    /// The directory or file.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// True for the data directory, false for a file.
    pub is_dir: bool,
}

impl std::fmt::Display for Exposed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        if self.is_dir {
            write!(
                f,
                "data directory {path} is accessible by group or others (mode {:04o}); \
                 fix: chmod 700 {path}",
                self.mode
            )
        } else {
            write!(
                f,
                "secret file {path} is readable by group or others (mode {:04o}); \
                 fix: chmod 600 {path}",
                self.mode
            )
        }
    }
}

/// The files of `data_dir` that hold secrets: the database at `database`
/// with its companions, and the API key file at `api_key` (when the key
/// comes from a file).
pub fn secret_files(database: &Path, api_key: Option<&Path>) -> Vec<PathBuf> {
    let mut files = vec![database.to_path_buf()];
    for suffix in SQLITE_COMPANIONS {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files.extend(api_key.map(Path::to_path_buf));
    files
}

/// The data directory when group or others have any access to it, and
/// each of `files` (those that exist) that group or others can read.
pub fn check(data_dir: &Path, files: &[PathBuf]) -> Vec<Exposed> {
    let mut exposed = Vec::new();
    if let Some(mode) = mode_of(data_dir)
        && mode & 0o077 != 0
    {
        exposed.push(Exposed {
            path: data_dir.to_path_buf(),
            mode,
            is_dir: true,
        });
    }
    for file in files {
        if let Some(mode) = mode_of(file)
            && mode & 0o044 != 0
        {
            exposed.push(Exposed {
                path: file.clone(),
                mode,
                is_dir: false,
            });
        }
    }
    exposed
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn created_directories_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        create_private_dir(&data).unwrap();
        assert_eq!(mode_of(&data), Some(0o700));
        assert_eq!(mode_of(&dir.path().join("a")), Some(0o700));
        let file = data.join("omp.sqlite3");
        create_private_file(&file).unwrap();
        assert_eq!(mode_of(&file), Some(0o600));
        // An existing file keeps its mode and its content.
        std::fs::write(&file, b"x").unwrap();
        set_mode(&file, 0o640);
        create_private_file(&file).unwrap();
        assert_eq!(mode_of(&file), Some(0o640));
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }

    #[test]
    fn exposed_paths_are_named_with_their_fix() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("omp.sqlite3");
        let key = dir.path().join("api-key");
        std::fs::write(&db, b"").unwrap();
        std::fs::write(&key, b"k").unwrap();
        set_mode(dir.path(), 0o755);
        set_mode(&db, 0o644);
        set_mode(&key, 0o600);
        let files = secret_files(&db, Some(&key));
        let found = check(dir.path(), &files);
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        let d = dir.path().display();
        assert!(text[0].contains(&format!("chmod 700 {d}")), "{text:?}");
        assert!(text[0].contains("0755"), "{text:?}");
        assert!(
            text[1].contains(&format!("chmod 600 {}", db.display())),
            "{text:?}"
        );
        // Owner-only is quiet; a missing -wal/-shm is not a finding.
        set_mode(dir.path(), 0o700);
        set_mode(&db, 0o600);
        assert!(check(dir.path(), &files).is_empty());
        // Writable by group but not readable still hides the secret.
        set_mode(&db, 0o620);
        assert!(check(dir.path(), &files).is_empty());
    }
}
