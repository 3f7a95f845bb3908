//! `omp-server.example.toml` against the settings table: it loads through
//! the real loader as shipped, names every setting once in a commented
//! line, and each commented line holds the setting's default (or, for a
//! default the file cannot write, says it). A setting added, renamed or
//! given another default fails here until the example says so too.

use std::path::Path;

use super::*;

const EXAMPLE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/omp-server.example.toml");
const EXAMPLE: &str = include_str!("../../omp-server.example.toml");

/// A `key = value` line of the example whose key is a setting's.
fn setting_line(line: &str) -> Option<&'static SettingInfo> {
    let (key, _) = line.split_once(" = ")?;
    SETTINGS.iter().find(|s| s.key == key.trim())
}

/// Each setting's commented line, with the comment above it as one line.
fn commented() -> Vec<(&'static SettingInfo, String, String)> {
    let mut found = Vec::new();
    let mut block = String::new();
    for line in EXAMPLE.lines() {
        match line
            .strip_prefix("# ")
            .and_then(|l| setting_line(l).map(|s| (s, l)))
        {
            Some((setting, text)) => {
                found.push((setting, text.to_owned(), std::mem::take(&mut block)));
            }
            None if line.starts_with('#') => {
                block.push_str(line.trim_start_matches('#').trim());
                block.push(' ');
            }
            None => block.clear(),
        }
    }
    found
}

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omp.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&Settings {
        config: Some(path),
        ..Settings::default()
    })
}

#[test]
fn the_example_loads_as_shipped() {
    let config = Config::load(&Settings {
        config: Some(Path::new(EXAMPLE_PATH).to_path_buf()),
        ..Settings::default()
    })
    .unwrap_or_else(|e| panic!("{EXAMPLE_PATH}: {e}"));
    assert_eq!(config.data_dir, Path::new("/var/lib/omp-server"));
    assert_eq!(config.allowed_domains, vec!["ThingPlug"]);
}

#[test]
fn the_example_names_every_setting_once() {
    let named: Vec<&str> = commented().iter().map(|(s, _, _)| s.key).collect();
    let declared: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
    assert_eq!(
        named, declared,
        "omp-server.example.toml should have one `# key = default` line per setting, in the order of config/settings.rs"
    );
}

#[test]
fn every_commented_line_loads_and_holds_the_default() {
    let all: String = commented()
        .iter()
        .map(|(_, l, _)| format!("{l}\n"))
        .collect();
    load_text(&all).unwrap_or_else(|e| panic!("the example with every line uncommented: {e}"));
    let defaults = Config::defaults();
    for (setting, line, block) in commented() {
        let is_default = load_text(&format!("{line}\n")).is_ok_and(|c| c == defaults);
        let says_default = block.contains(&format!("Default: {}.", setting.default));
        assert!(
            is_default || says_default,
            "`# {line}` is not the default of {}, and its comment does not say `Default: {}.`",
            setting.key,
            setting.default
        );
    }
}
