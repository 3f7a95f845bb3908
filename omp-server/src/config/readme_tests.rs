//! The README's settings table against the settings table of the code:
//! one row per setting, in the same order, with its flag, TOML key,
//! environment variable and default; no row for a setting that is gone.

use super::SETTINGS;

const README: &str = include_str!("../../README.md");
const HEADER: &str = "| flag / TOML key | env | default | meaning |";

/// One documented row: flag and key, variable, default (backticks removed).
#[derive(Debug, PartialEq, Eq)]
struct Row {
    flag: String,
    key: String,
    env: String,
    default: String,
}

fn unquote(cell: &str) -> String {
    cell.trim().replace('`', "")
}

fn readme_rows() -> Vec<Row> {
    let mut lines = README.lines().skip_while(|l| l.trim() != HEADER).skip(2);
    let mut rows = Vec::new();
    for line in lines.by_ref().take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').collect();
        assert!(cells.len() >= 6, "a settings row needs four cells: {line}");
        // `--config` names the file: it is no key of it.
        let (flag, key) = cells[1].split_once(" / ").unwrap_or((cells[1], ""));
        rows.push(Row {
            flag: unquote(flag),
            key: unquote(key),
            env: unquote(cells[2]),
            default: unquote(cells[3]),
        });
    }
    rows
}

fn expected_rows() -> Vec<Row> {
    let config = Row {
        flag: "--config".into(),
        key: String::new(),
        env: "OMP_CONFIG".into(),
        default: "none".into(),
    };
    let settings = SETTINGS.iter().map(|s| Row {
        flag: s.flag(),
        key: s.key.into(),
        env: s.env.into(),
        default: s.default.into(),
    });
    std::iter::once(config).chain(settings).collect()
}

#[test]
fn readme_documents_every_setting_as_declared() {
    let documented = readme_rows();
    assert!(
        !documented.is_empty(),
        "no table under {HEADER:?} in README.md"
    );
    let expected = expected_rows();
    let table: String = expected
        .iter()
        .map(|r| {
            format!(
                "| `{}` / `{}` | `{}` | {} | … |\n",
                r.flag, r.key, r.env, r.default
            )
        })
        .collect();
    assert_eq!(
        documented, expected,
        "omp-server/README.md's settings table differs from config/settings.rs; its rows should be:\n{table}"
    );
}

#[test]
fn every_setting_has_its_own_variable_and_key() {
    let mut keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
    let mut envs: Vec<_> = SETTINGS.iter().map(|s| s.env).collect();
    for s in SETTINGS {
        assert_eq!(s.env, format!("OMP_{}", s.key.to_uppercase()), "{}", s.key);
    }
    keys.sort_unstable();
    keys.dedup();
    envs.sort_unstable();
    envs.dedup();
    assert_eq!((keys.len(), envs.len()), (SETTINGS.len(), SETTINGS.len()));
}
