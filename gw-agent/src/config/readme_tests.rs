//! The README's settings table against the declaration: one row per
//! setting in declaration order, each with its key, flag, variable and
//! default, and no row for a setting that is not declared.

use super::keys::ALL;

const README: &str = include_str!("../../README.md");
const HEADER: &str = "| key (TOML) | flag | environment | default |";

/// The table's rows (after the header and its rule), as trimmed cells.
fn rows() -> Vec<Vec<String>> {
    let start = README
        .find(HEADER)
        .expect("the README has the settings table");
    README[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

fn code(text: Option<String>) -> String {
    text.map(|t| format!("`{t}`")).unwrap_or_default()
}

#[test]
fn the_readme_table_lists_every_setting_as_declared() {
    let rows = rows();
    let keys: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
    let declared: Vec<&str> = ALL.iter().map(|s| s.key).collect();
    assert_eq!(keys, declared, "README rows vs. config/keys.rs");
    for (row, setting) in rows.iter().zip(ALL) {
        assert_eq!(row.len(), 4, "row of {}: {row:?}", setting.key);
        let flag = code(setting.flag.map(|f| format!("--{f}")));
        assert_eq!(row[1], flag, "flag of {}", setting.key);
        assert_eq!(row[2], code(setting.env()), "variable of {}", setting.key);
        let default = setting.fallback.describe();
        assert!(
            row[3].starts_with(&default),
            "default of {}: README says {:?}, the declaration {default:?}",
            setting.key,
            row[3]
        );
    }
}
