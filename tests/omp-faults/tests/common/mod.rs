//! Running the `omp-faults` binary and reading its JSON figures.

use std::process::Command;

use serde_json::Value;

/// What one run printed.
pub struct Run {
    /// Exit code (0 ok, 1 violation, 2 could not run).
    pub code: i32,
    /// The JSON figures (Null when none were printed).
    pub report: Value,
    /// Everything on stderr.
    pub stderr: String,
}

/// Runs `omp-faults --json <args>` to its end.
pub fn run_faults(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_omp-faults"))
        .arg("--json")
        .args(args)
        .output()
        .expect("omp-faults runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    Run {
        code: out.status.code().unwrap_or(-1),
        report,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    /// A figure as a number (panics with the whole output otherwise).
    pub fn num(&self, key: &str) -> u64 {
        self.report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("figure {key} missing: {}\n{}", self.report, self.stderr))
    }

    /// Asserts the checker's figures that must be zero, and integrity ok
    /// (of the delivery runs; `crash-controls` has its own figures).
    #[allow(dead_code)]
    pub fn assert_nothing_lost(&self) {
        for key in ["lost", "duplicated", "corrupt", "foreign", "wrong_gw"] {
            assert_eq!(self.num(key), 0, "{key}: {}\n{}", self.report, self.stderr);
        }
        assert_eq!(self.report["integrity"], "ok", "{}", self.report);
        assert!(self.num("acknowledged") > 0, "{}", self.report);
        assert!(
            !self.stderr.contains("the server panicked"),
            "{}",
            self.stderr
        );
    }

    /// Asserts exit code 0 (no violation).
    pub fn assert_clean(&self) {
        assert_eq!(self.code, 0, "{}\n{}", self.report, self.stderr);
    }
}
