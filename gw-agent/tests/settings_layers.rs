//! The settings' layers as a user meets them, through the `gw-agent`
//! binary: a flag wins over its `GW_AGENT_…` variable, which wins over the
//! file, which wins over the default. `gw-agent status` names the state
//! directory it read in its error when no agent ran there, so that error
//! shows which layer gave `state_dir`.

use std::path::Path;
use std::process::Command;

fn status(dir: &Path, env: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gw-agent"));
    command.current_dir(dir).arg("status").args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GW_AGENT_") {
            command.env_remove(name);
        }
    }
    if let Some(value) = env {
        command.env("GW_AGENT_STATE_DIR", value);
    }
    let output = command.output().expect("gw-agent runs");
    assert!(
        !output.status.success(),
        "no agent ran in {}",
        dir.display()
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn flag_over_variable_over_file_over_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agent.toml"), "state_dir = \"from-file\"\n").unwrap();
    let file = ["--config", "agent.toml"];
    let flag = ["--config", "agent.toml", "--state-dir", "from-flag"];

    let default = status(dir.path(), None, &[]);
    assert!(default.contains("gw-agent-state/status.json"), "{default}");
    let from_file = status(dir.path(), None, &file);
    assert!(from_file.contains("from-file/status.json"), "{from_file}");
    let from_env = status(dir.path(), Some("from-env"), &file);
    assert!(from_env.contains("from-env/status.json"), "{from_env}");
    let from_flag = status(dir.path(), Some("from-env"), &flag);
    assert!(from_flag.contains("from-flag/status.json"), "{from_flag}");
}

#[test]
fn a_file_mistake_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agent.toml"),
        "[spool]\nmax_bytes = \"big\"\n",
    )
    .unwrap();
    let error = status(dir.path(), None, &["--config", "agent.toml"]);
    assert!(
        error.contains("`spool.max_bytes`") && error.contains("expected a number"),
        "{error}"
    );
}
