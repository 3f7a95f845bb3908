//! How one setting's value is read: from a flag or environment string
//! (and the built-in default, written the way a user would write it), and
//! from a TOML value.
//!
//! Durations are humantime strings everywhere (`30s`, `500ms`, `2m`);
//! a TOML file gives them as strings too.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;
use serde::Deserialize;

use super::{LogFormat, ProvisioningMode};

/// A type a setting can have.
pub trait Setting: Sized + Clone + Send + Sync + 'static {
    /// Parses a flag / environment value, or a built-in default.
    fn parse(text: &str) -> Result<Self, String>;

    /// Reads the value of a TOML key.
    fn from_toml(value: toml::Value) -> Result<Self, String>;
}

/// TOML's own type for the value (a TOML string for an address or a path).
fn deserialize<T: for<'de> Deserialize<'de>>(value: toml::Value) -> Result<T, String> {
    T::deserialize(value).map_err(|e| e.message().to_owned())
}

macro_rules! from_str_setting {
    ($($ty:ty),*) => {$(
        impl Setting for $ty {
            fn parse(text: &str) -> Result<Self, String> {
                <$ty>::from_str(text).map_err(|e| e.to_string())
            }

            fn from_toml(value: toml::Value) -> Result<Self, String> {
                deserialize(value)
            }
        }
    )*};
}

from_str_setting!(SocketAddr, PathBuf, String, usize, u32, bool);

impl Setting for Duration {
    fn parse(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text).map_err(|e| e.to_string())
    }

    fn from_toml(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(text) => Self::parse(&text),
            other => Err(format!(
                "expected a duration string such as \"30s\", found {}",
                other.type_str()
            )),
        }
    }
}

/// A setting that is one of a few names (a clap `ValueEnum`).
macro_rules! value_enum_setting {
    ($($ty:ty),*) => {$(
        impl Setting for $ty {
            fn parse(text: &str) -> Result<Self, String> {
                <$ty>::from_str(text, false).map_err(|_| {
                    let names: Vec<_> = <$ty>::value_variants()
                        .iter()
                        .filter_map(|m| m.to_possible_value())
                        .map(|v| v.get_name().to_owned())
                        .collect();
                    format!("expected one of: {}", names.join(", "))
                })
            }

            fn from_toml(value: toml::Value) -> Result<Self, String> {
                match value {
                    toml::Value::String(text) => Self::parse(&text),
                    other => Err(format!("expected a string, found {}", other.type_str())),
                }
            }
        }
    )*};
}

value_enum_setting!(ProvisioningMode, LogFormat);

/// A list: comma-separated in a flag or the environment, an array of
/// strings in TOML. The empty string is the empty list.
pub type List = Vec<String>;

impl Setting for List {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        Ok(text.split(',').map(str::to_owned).collect())
    }

    fn from_toml(value: toml::Value) -> Result<Self, String> {
        deserialize(value)
    }
}

/// A retention period that can be switched off: `none` keeps for ever.
pub type Retention = Option<Duration>;

impl Setting for Retention {
    fn parse(text: &str) -> Result<Self, String> {
        if text == "none" {
            return Ok(None);
        }
        Duration::parse(text)
            .map(Some)
            .map_err(|e| format!("{e}; expected a duration such as \"30d\", or `none`"))
    }

    fn from_toml(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(text) => Self::parse(&text),
            other => Err(format!(
                "expected a duration string such as \"30d\" or \"none\", found {}",
                other.type_str()
            )),
        }
    }
}

/// A listen address that can be switched off: `none` is no listener.
pub type Listen = Option<SocketAddr>;

impl Setting for Listen {
    fn parse(text: &str) -> Result<Self, String> {
        if text == "none" {
            return Ok(None);
        }
        SocketAddr::from_str(text)
            .map(Some)
            .map_err(|e| format!("{e}; expected an address such as 0.0.0.0:1883, or `none`"))
    }

    fn from_toml(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(text) => Self::parse(&text),
            other => Err(format!(
                "expected an address string or \"none\", found {}",
                other.type_str()
            )),
        }
    }
}
