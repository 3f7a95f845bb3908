//! What one setting is: its TOML key, its flag (and so its environment
//! variable), its default and its help, declared once in [`super::keys`];
//! the flags, the file's schema, the defaults, `--help` and the README
//! check are all read from that declaration.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use super::{LogFormat, ModuleKind, TransportKind, Wiz550s2eMode};
use crate::spool::FullPolicy;
use crate::wizfi310::{FlowControl, Parity, Security};

/// What a setting is when no layer gives it.
#[derive(Debug, Clone, Copy)]
pub enum Fallback {
    /// This value, written as a flag takes it.
    Text(&'static str),
    /// A value another module owns (the spool's bounds), as text.
    Derived(fn() -> String),
    /// No value; the words say what that means (`required`, `the OMP's
    /// profile`).
    Absent(&'static str),
}

impl Fallback {
    /// The default as `--help` and the README show it: a value in
    /// backticks, or the words of an absent one.
    pub fn describe(&self) -> String {
        match self {
            Fallback::Text(text) => format!("`{text}`"),
            Fallback::Derived(text) => format!("`{}`", text()),
            Fallback::Absent(words) => (*words).to_owned(),
        }
    }

    /// The default value's text, if there is one.
    pub fn text(&self) -> Option<String> {
        match self {
            Fallback::Text(text) => Some((*text).to_owned()),
            Fallback::Derived(text) => Some(text()),
            Fallback::Absent(_) => None,
        }
    }
}

/// One setting, as declared.
#[derive(Debug)]
pub struct Setting {
    /// Its key in the TOML file, sections joined with dots (`omp.host`).
    pub key: &'static str,
    /// Its flag without the dashes (`state-dir`), if it has one; the
    /// environment variable is derived from it ([`Setting::env`]).
    pub flag: Option<&'static str>,
    /// The flag takes no value: given, it sets the setting to this text
    /// (`--no-stdin` sets `sources.stdin` to `false`).
    pub switch: Option<&'static str>,
    /// Its default.
    pub fallback: Fallback,
    /// One sentence for `--help`.
    pub help: &'static str,
    /// The values a flag may take, for `--help` (empty: any).
    pub choices: &'static [&'static str],
    /// Whether `--help` and errors hide the value (a passphrase).
    pub secret: bool,
    pub(super) check_toml: fn(toml::Value) -> Result<(), String>,
    pub(super) check_text: fn(&str) -> Result<(), String>,
}

/// Every environment variable is the flag's name under this prefix.
pub const ENV_PREFIX: &str = "GW_AGENT_";

impl Setting {
    /// `GW_AGENT_<FLAG>` (dashes as underscores), if the setting has a flag.
    pub fn env(&self) -> Option<String> {
        self.flag.map(env_name)
    }

    /// The key and its flag, as a missing setting's error names them
    /// (`omp.host (--omp)`).
    pub fn key_and_flag(&self) -> String {
        match self.flag {
            Some(flag) => format!("{} (--{flag})", self.key),
            None => self.key.to_owned(),
        }
    }
}

/// The environment variable of a flag.
pub(super) fn env_name(flag: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        flag.to_ascii_uppercase().replace('-', "_")
    )
}

/// A declared setting with the type its value is read as.
pub struct Key<T> {
    /// The declaration.
    pub setting: &'static Setting,
    pub(super) ty: PhantomData<fn() -> T>,
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

/// A type a setting's value is read as: from the file's TOML value, or
/// from the text of a flag, a variable or a default.
pub trait SettingValue: Sized {
    /// The values it may take, for `--help` (empty: any).
    const CHOICES: &'static [&'static str] = &[];
    /// From the value in the file.
    fn from_toml(value: toml::Value) -> Result<Self, String>;
    /// From a flag's, a variable's or a default's text.
    fn from_text(text: &str) -> Result<Self, String>;
}

macro_rules! number_values {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn from_toml(value: toml::Value) -> Result<Self, String> {
                match value {
                    toml::Value::Integer(n) => <$ty>::try_from(n)
                        .map_err(|_| format!("must be {}..={}", <$ty>::MIN, <$ty>::MAX)),
                    other => Err(format!("expected a number, not {}", other.type_str())),
                }
            }
            fn from_text(text: &str) -> Result<Self, String> {
                text.parse().map_err(|e| format!("{e}"))
            }
        }
    )*};
}

number_values!(u8, u16, u32, u64, usize);

impl SettingValue for bool {
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        value
            .as_bool()
            .ok_or_else(|| format!("expected true or false, not {}", value.type_str()))
    }
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "expected true or false".to_owned())
    }
}

fn string(value: toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s),
        other => Err(format!("expected a string, not {}", other.type_str())),
    }
}

impl SettingValue for String {
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        string(value)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl SettingValue for PathBuf {
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        string(value).map(PathBuf::from)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
}

/// Written like `1m`, `30s`, `500ms`.
impl SettingValue for Duration {
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        Self::from_text(&string(value)?)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text).map_err(|e| e.to_string())
    }
}

/// `[3, 4]` in the file, `3,4` as text.
impl SettingValue for Vec<u8> {
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::Array(items) => items.into_iter().map(u8::from_toml).collect(),
            other => Err(format!("expected a list, not {}", other.type_str())),
        }
    }
    fn from_text(text: &str) -> Result<Self, String> {
        let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
        inner
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(u8::from_text)
            .collect()
    }
}

/// Choices named as [`ValueEnum`] names them.
fn choice<T: ValueEnum>(text: &str) -> Result<T, String> {
    T::from_str(text, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_owned())
            .collect();
        format!("must be one of {}", names.join(", "))
    })
}

impl SettingValue for TransportKind {
    const CHOICES: &'static [&'static str] = &["bridge", "direct", "native"];
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        choice(&string(value)?)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        choice(text)
    }
}

impl SettingValue for LogFormat {
    const CHOICES: &'static [&'static str] = &["text", "json"];
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        choice(&string(value)?)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        choice(text)
    }
}

impl SettingValue for ModuleKind {
    const CHOICES: &'static [&'static str] = &["wizfi310", "wiz550s2e"];
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        choice(&string(value)?)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        choice(text)
    }
}

impl SettingValue for Wiz550s2eMode {
    const CHOICES: &'static [&'static str] = &["command", "data"];
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        choice(&string(value)?)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        choice(text)
    }
}

impl SettingValue for FullPolicy {
    const CHOICES: &'static [&'static str] = &["drop-oldest", "reject-new"];
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        choice(&string(value)?)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        choice(text)
    }
}

impl SettingValue for Parity {
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        string(value)?.parse()
    }
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse()
    }
}

impl SettingValue for FlowControl {
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        string(value)?.parse()
    }
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse()
    }
}

/// The config's names of the AT+WSEC types.
const SECURITY: [(&str, Security); 8] = [
    ("auto", Security::Auto),
    ("open", Security::Open),
    ("wep", Security::Wep),
    ("wpa", Security::Wpa),
    ("wpa-aes", Security::WpaAes),
    ("wpa2", Security::Wpa2),
    ("wpa2-aes", Security::Wpa2Aes),
    ("wpa2-tkip", Security::Wpa2Tkip),
];

impl SettingValue for Security {
    const CHOICES: &'static [&'static str] = &[
        "auto",
        "open",
        "wep",
        "wpa",
        "wpa-aes",
        "wpa2",
        "wpa2-aes",
        "wpa2-tkip",
    ];
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        Self::from_text(&string(value)?)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        let lower = text.to_ascii_lowercase();
        SECURITY
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, security)| *security)
            .ok_or_else(|| {
                "must be auto, open, wep, wpa, wpa-aes, wpa2, wpa2-aes or wpa2-tkip".to_owned()
            })
    }
}

/// A report type by name (`collect_data`) or number.
impl SettingValue for gmmp_codec::ReportType {
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::Integer(n) => u8::try_from(n)
                .map(gmmp_codec::ReportType)
                .map_err(|_| "not 0..=255".to_owned()),
            toml::Value::String(s) => Self::from_text(&s),
            _ => Err("expected a name or a number".to_owned()),
        }
    }
    fn from_text(text: &str) -> Result<Self, String> {
        if let Ok(n) = text.parse::<u8>() {
            return Ok(gmmp_codec::ReportType(n));
        }
        gmmp_codec::ReportType::from_name(text)
            .ok_or_else(|| "not collect_data, alarm, event or alarm_clear".to_owned())
    }
}

/// Declares each setting once: its constant (a typed [`Key`]), its TOML
/// key, flag, default and help (the doc comment), and [`ALL`] of them in
/// the order `--help` and the README list them.
macro_rules! settings {
    ($(
        #[doc = $help:literal]
        $name:ident: $ty:ty {
            key: $key:literal,
            $(flag: $flag:literal,)?
            $(switch: $switch:literal,)?
            $(secret: $secret:literal,)?
            default: $fallback:expr $(,)?
        }
    )*) => {
        $(
            #[doc = $help]
            pub const $name: $crate::config::Key<$ty> = $crate::config::Key {
                ty: ::std::marker::PhantomData,
                setting: &$crate::config::Setting {
                    key: $key,
                    flag: $crate::config::setting::first!($(Some($flag),)? None),
                    switch: $crate::config::setting::first!($(Some($switch),)? None),
                    fallback: $fallback,
                    help: $help.trim_ascii(),
                    choices: <$ty as $crate::config::SettingValue>::CHOICES,
                    secret: $crate::config::setting::first!($($secret,)? false),
                    check_toml: |value| {
                        <$ty as $crate::config::SettingValue>::from_toml(value).map(drop)
                    },
                    check_text: |text| {
                        <$ty as $crate::config::SettingValue>::from_text(text).map(drop)
                    },
                },
            };
        )*
        /// Every setting, in the order `--help` and the README list them.
        pub const ALL: &[&$crate::config::Setting] = &[$($name.setting),*];
    };
}

/// The first of the given expressions (an optional one, then its default).
macro_rules! first {
    ($value:expr $(, $rest:expr)*) => {
        $value
    };
}

pub(super) use {first, settings};
