//! The workspace's binaries (`gw-agent`, `omp-server`) for tests that run
//! them as processes (to SIGKILL them, or to run a README's commands).
//! Cargo hands a test only the binaries of its own package, so a binary
//! is found where cargo puts it — `target/<profile>/`, the parent of this
//! test's `deps/` — and built there first when a `cargo test -p
//! e2e-tests` alone did not build it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The path of the built `gw-agent` binary of this workspace.
pub fn gw_agent() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build("gw-agent")).clone()
}

/// The path of the built `omp-server` binary of this workspace.
pub fn omp_server() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build("omp-server")).clone()
}

/// `name`, the binary of the package of the same name.
fn locate_or_build(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    // Always asked of cargo, so a stale binary is rebuilt; a no-op when
    // the workspace's tests already built it.
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "-p", name, "--bin", name]);
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
        .unwrap_or_else(|e| panic!("run cargo to build {name}: {e}"));
    assert!(status.success(), "cargo build -p {name} failed");
    assert!(bin.is_file(), "no {name} at {}", bin.display());
    bin
}
