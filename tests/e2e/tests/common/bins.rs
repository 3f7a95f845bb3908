//! The workspace's binaries (`gw-agent`, `omp-server`) for tests that run
//! them as processes (to SIGKILL them, or to run a README's commands).
//! Cargo hands a test only the binaries of its own package, so a binary
//! is found where cargo puts it — `target/<profile>/`, the parent of this
//! test's `deps/` — and built there first when a `cargo test -p
//! e2e-tests` alone did not build it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The binaries the tests run, built together in one cargo call (one
/// resolution of features, one build of what they share).
const BINS: [&str; 2] = ["gw-agent", "omp-server"];

/// The path of the built `gw-agent` binary of this workspace.
pub fn gw_agent() -> PathBuf {
    built().join(exe("gw-agent"))
}

/// The path of the built `omp-server` binary of this workspace.
pub fn omp_server() -> PathBuf {
    built().join(exe("omp-server"))
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// `target/<profile>/` once [`BINS`] are built there.
fn built() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let exe_path = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe_path
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps")
        .to_owned();
    // Always asked of cargo, so a stale binary is rebuilt; a no-op when
    // an earlier test already built them.
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet"]);
    for name in BINS {
        build.args(["-p", name, "--bin", name]);
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
    }
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let status = build
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap_or_else(|e| panic!("run cargo to build {BINS:?}: {e}"));
    assert!(status.success(), "cargo build of {BINS:?} failed");
    for name in BINS {
        let bin = profile_dir.join(exe(name));
        assert!(bin.is_file(), "no {name} at {}", bin.display());
    }
    profile_dir
}
