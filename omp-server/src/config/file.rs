//! The TOML settings file (`--config`): flat keys, each optional; a key
//! no setting has is refused by name, as is a value its setting cannot
//! read.

use std::path::{Path, PathBuf};

use super::value::Setting;
use crate::error::ConfigError;

/// The keys of a settings file, taken one by one by the settings that
/// read them.
#[derive(Debug, Default)]
pub(super) struct FileValues {
    /// The file (`None` when no `--config` is given).
    path: Option<PathBuf>,
    /// The keys not yet taken.
    table: toml::Table,
}

impl FileValues {
    /// Reads and parses `path`.
    pub(super) fn read(path: &Path) -> Result<FileValues, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        FileValues::parse(path, &text)
    }

    /// Parses `text`, the contents of `path`.
    pub(super) fn parse(path: &Path, text: &str) -> Result<FileValues, ConfigError> {
        let table = text.parse::<toml::Table>().map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(FileValues {
            path: Some(path.to_path_buf()),
            table,
        })
    }

    /// The value of `key`, if the file has it (removed: what is left at
    /// the end is unknown).
    pub(super) fn take<T: Setting>(&mut self, key: &str) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.table.remove(key) else {
            return Ok(None);
        };
        let shown = value.to_string();
        T::from_toml(value)
            .map(Some)
            .map_err(|reason| self.error(format!("setting {key} = {shown}: {reason}")))
    }

    /// Refuses any key no setting took, naming it.
    pub(super) fn finish(self) -> Result<(), ConfigError> {
        match self.table.keys().next() {
            Some(key) => Err(self.error(format!("unknown setting {key:?}"))),
            None => Ok(()),
        }
    }

    fn error(&self, message: String) -> ConfigError {
        ConfigError::File {
            path: self.path.clone().unwrap_or_default(),
            message,
        }
    }
}
