//! The TOML file, read against the declared settings: each value by its
//! dotted key, `[[devices]]` and `[controls]` as lists; a key that is not
//! declared, a section written as a value or a value of the wrong type is
//! an error naming the key.

use std::collections::BTreeMap;
use std::path::Path;

use super::layers::written;
use super::{ConfigError, DeviceConfig, UserControl, invalid, keys};

/// The file's contents by key.
#[derive(Debug, Default)]
pub(super) struct FileValues {
    /// Each declared setting the file gives, by its dotted key.
    pub(super) values: BTreeMap<&'static str, toml::Value>,
    /// `[[devices]]`.
    pub(super) devices: Vec<DeviceConfig>,
    /// `[controls]`, by the key as written (`"0x80"`).
    pub(super) controls: BTreeMap<String, UserControl>,
}

pub(super) fn read_file(path: &Path) -> Result<FileValues, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

pub(super) fn parse(path: &Path, text: &str) -> Result<FileValues, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let mut file = FileValues::default();
    for (name, value) in table {
        match name.as_str() {
            "devices" => file.devices = devices(value)?,
            "controls" => file.controls = controls(value)?,
            _ => section(&mut file.values, path, "", name, value)?,
        }
    }
    Ok(file)
}

/// A key of the table under `prefix` (`""` at the top): a setting, or a
/// section of them.
fn section(
    values: &mut BTreeMap<&'static str, toml::Value>,
    path: &Path,
    prefix: &str,
    name: String,
    value: toml::Value,
) -> Result<(), ConfigError> {
    let key = format!("{prefix}{name}");
    if let Some(setting) = keys::find(&key) {
        (setting.check_toml)(value.clone()).map_err(|reason| {
            let shown = if setting.secret {
                "****".to_owned()
            } else {
                written(&value)
            };
            invalid(&key, shown, reason)
        })?;
        values.insert(setting.key, value);
        return Ok(());
    }
    if keys::in_section(&key).next().is_none() {
        return Err(ConfigError::Unknown {
            path: path.to_owned(),
            key,
        });
    }
    match value {
        toml::Value::Table(table) => {
            let prefix = format!("{key}.");
            for (name, value) in table {
                section(values, path, &prefix, name, value)?;
            }
            Ok(())
        }
        other => Err(invalid(
            &key,
            written(&other),
            format!("expected a [{key}] section"),
        )),
    }
}

/// `[[devices]]`: a list of `name` and `manufacture_id` tables.
fn devices(value: toml::Value) -> Result<Vec<DeviceConfig>, ConfigError> {
    let toml::Value::Array(items) = value else {
        return Err(invalid("devices", &value, "expected [[devices]] tables"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let key = format!("devices[{i}]");
            let toml::Value::Table(_) = &item else {
                return Err(invalid(&key, &item, "expected a table"));
            };
            item.clone()
                .try_into::<DeviceConfig>()
                .map_err(|e| invalid(&key, &item, e.message()))
        })
        .collect()
}

/// `[controls]`: each key a control type, each value what it does.
fn controls(value: toml::Value) -> Result<BTreeMap<String, UserControl>, ConfigError> {
    let toml::Value::Table(table) = value else {
        return Err(invalid("controls", &value, "expected a [controls] section"));
    };
    table
        .into_iter()
        .map(|(code, action)| {
            let parsed = action.clone().try_into::<UserControl>().map_err(|_| {
                invalid(
                    &format!("controls.{code:?}"),
                    &action,
                    "expected { command = \"…\" } or { gpio = N, value = N }",
                )
            })?;
            Ok((code, parsed))
        })
        .collect()
}
