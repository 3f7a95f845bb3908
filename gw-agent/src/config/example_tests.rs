//! `gw-agent.example.toml` against the declaration of [`keys`]: it loads
//! through the real loader as shipped, names every setting once in a
//! commented line under its section, and each commented line holds the
//! setting's default (or, for a setting without one, says what its
//! absence means). A setting added, renamed or given another default
//! fails here until the example says so too.

use std::path::PathBuf;

use super::keys::{self, ALL};
use super::*;

const EXAMPLE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/gw-agent.example.toml");
const EXAMPLE: &str = include_str!("../../gw-agent.example.toml");

/// A commented setting line of the example.
struct Commented {
    setting: &'static Setting,
    /// The line without its `# `.
    line: String,
    /// The comment above it, as one line.
    about: String,
}

/// Each setting's commented line, found under the section it is in.
fn commented() -> Vec<Commented> {
    let mut found = Vec::new();
    let mut section = String::new();
    let mut about = String::new();
    for line in EXAMPLE.lines() {
        if line.starts_with('[') {
            section = format!("{}.", line.trim_matches(['[', ']']));
            about.clear();
            continue;
        }
        let setting = line.strip_prefix("# ").and_then(|l| {
            let (name, _) = l.split_once(" = ")?;
            keys::find(&format!("{section}{name}"))
        });
        match setting {
            Some(setting) => found.push(Commented {
                setting,
                line: line[2..].to_owned(),
                about: std::mem::take(&mut about),
            }),
            None if line.starts_with('#') => {
                about.push_str(line.trim_start_matches('#').trim());
                about.push(' ');
            }
            None => about.clear(),
        }
    }
    found
}

#[test]
fn the_example_loads_as_shipped() {
    let overrides = Overrides {
        config: Some(PathBuf::from(EXAMPLE_PATH)),
        ..Overrides::default()
    };
    let config = Config::load(&overrides).unwrap_or_else(|e| panic!("{EXAMPLE_PATH}: {e}"));
    assert_eq!(config.transport, TransportKind::Bridge);
    assert_eq!(config.serial.path.as_deref(), Some("/dev/ttyUSB0"));
    assert_eq!(config.omp_host, "omp.example.net");
    assert_eq!(config.devices.len(), 1);
}

#[test]
fn the_example_names_every_setting_once() {
    let named: Vec<&str> = commented().iter().map(|c| c.setting.key).collect();
    let declared: Vec<&str> = ALL.iter().map(|s| s.key).collect();
    assert_eq!(
        named, declared,
        "gw-agent.example.toml should have one `# key = default` line per setting, in the order of config/keys.rs"
    );
}

#[test]
fn every_commented_line_loads_and_holds_the_default() {
    // Uncommented in place (the active line of the same key dropped), the
    // example still loads: every value shown is one the agent reads.
    let commented = commented();
    let mut all = String::new();
    let mut section = String::new();
    for line in EXAMPLE.lines() {
        if line.starts_with('[') {
            section = format!("{}.", line.trim_matches(['[', ']']));
        }
        let active = line
            .split_once(" = ")
            .and_then(|(name, _)| keys::find(&format!("{section}{name}")));
        match line.strip_prefix("# ") {
            Some(rest) if commented.iter().any(|c| c.line == rest) => all.push_str(rest),
            _ if active.is_some() => {}
            _ => all.push_str(line),
        }
        all.push('\n');
    }
    Config::from_toml(&all)
        .unwrap_or_else(|e| panic!("the example with every line uncommented: {e}\n{all}"));

    for c in &commented {
        let (_, value) = c.line.split_once(" = ").unwrap();
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .unwrap()
            .remove("v")
            .unwrap();
        let shown = match &value {
            toml::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        match &c.setting.fallback {
            Fallback::Absent(words) => assert!(
                c.about.contains(&format!("Default: {words}.")),
                "the comment above `# {}` should say `Default: {words}.`",
                c.line
            ),
            fallback => assert_eq!(
                Some(shown),
                fallback.text(),
                "`# {}` is not the default of {}",
                c.line,
                c.setting.key
            ),
        }
    }
}
