//! One setting's value from its layers: a flag, else its `GW_AGENT_…`
//! variable (clap keeps that order), else the file, else its default.

use std::path::Path;

use super::file::{FileValues, parse, read_file};
use super::flags::Overrides;
use super::setting::{Key, SettingValue};
use super::{ConfigError, invalid};

/// The file and the flags, asked one setting at a time.
#[derive(Debug, Default)]
pub struct Settings {
    pub(super) overrides: Overrides,
    pub(super) file: FileValues,
}

impl Settings {
    /// Reads the file named by `--config` (if any) under the flags.
    pub fn load(overrides: &Overrides) -> Result<Settings, ConfigError> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileValues::default(),
        };
        Ok(Settings {
            overrides: overrides.clone(),
            file,
        })
    }

    /// TOML text and no flags.
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        Ok(Settings {
            overrides: Overrides::default(),
            file: parse(Path::new("<inline>"), text)?,
        })
    }

    /// The setting from the first layer that has it; `None` when none
    /// does and it has no default.
    pub fn get<T: SettingValue>(&self, key: Key<T>) -> Result<Option<T>, ConfigError> {
        let setting = key.setting;
        let shown = |text: &str| {
            if setting.secret {
                "****".to_owned()
            } else {
                text.to_owned()
            }
        };
        if let Some(given) = self.overrides.given.get(setting.key) {
            return T::from_text(&given.text)
                .map(Some)
                .map_err(|reason| invalid(&given.origin, shown(&given.text), reason));
        }
        if let Some(value) = self.file.values.get(setting.key) {
            return T::from_toml(value.clone())
                .map(Some)
                .map_err(|reason| invalid(setting.key, shown(&written(value)), reason));
        }
        match setting.fallback.text() {
            Some(text) => T::from_text(&text)
                .map(Some)
                .map_err(|reason| invalid(setting.key, text, reason)),
            None => Ok(None),
        }
    }

    /// The setting, which must have a value: `why` says what for.
    pub fn require<T: SettingValue>(&self, key: Key<T>, why: &str) -> Result<T, ConfigError> {
        self.get(key)?.ok_or_else(|| ConfigError::Missing {
            key: key.setting.key_and_flag(),
            why: why.to_owned(),
        })
    }

    /// A setting with a default (declaring one without is a mistake this
    /// reports as a missing value).
    pub fn value<T: SettingValue>(&self, key: Key<T>) -> Result<T, ConfigError> {
        self.require(key, "it has no default")
    }

    /// The flag's or variable's text, if one gave the setting (for a flag
    /// that sets more than its own key, like `--omp HOST:PORT`).
    pub(super) fn given(&self, key: Key<impl SettingValue>) -> Option<&str> {
        self.overrides
            .given
            .get(key.setting.key)
            .map(|given| given.text.as_str())
    }
}

/// A TOML value as an error shows it: a string without its quotes.
pub(super) fn written(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
