//! The root README's quick start, run as a user pastes it: its commands
//! are taken from README.md itself (so they cannot go stale), with only
//! `cargo run …` replaced by the built binaries and the default ports by
//! free ones. A fresh server in an empty directory; the software gateway
//! approved and delivering; then step 4's blocks, which take every ID
//! from the answer before them, must run to the end (`bash -euo
//! pipefail`) and print the delivered text.
//!
//! The Dockerfile's final stage, as far as it goes without a container
//! engine (none runs where CI runs): its ENTRYPOINT and the `docker exec`
//! command of its header, run against the built binary and a data
//! directory made as the stage makes `/data`.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::bins::{gw_agent, omp_server};
use common::until;
use test_support::omp::http;

const README: &str = include_str!("../../../README.md");
/// What the README's software gateway delivers.
const DELIVERED: &str = "25.3C";

/// The fenced `sh` blocks of `markdown` (indented ones too), each as its
/// lines with the fence's indentation removed.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut current {
            None if trimmed == "```sh" => current = Some((indent, String::new())),
            Some(_) if trimmed == "```" => blocks.push(current.take().unwrap().1),
            Some((indent, text)) => {
                text.push_str(line.get(*indent..).unwrap_or(line.trim_start()));
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// The one block of the quick start that contains `needle`.
fn block_with(blocks: &[String], needle: &str) -> String {
    let found: Vec<&String> = blocks.iter().filter(|b| b.contains(needle)).collect();
    assert_eq!(
        found.len(),
        1,
        "README: one sh block with {needle:?}: {found:#?}"
    );
    found[0].clone()
}

/// A free loopback port (bound, then released for the server).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The README's commands with the built binaries and these ports.
fn as_run_here(block: &str, gmmp: SocketAddr, http: SocketAddr) -> String {
    block
        .replace(
            "cargo run --release -p omp-server --",
            &omp_server().display().to_string(),
        )
        .replace(
            "cargo run -q -p gw-agent --",
            &gw_agent().display().to_string(),
        )
        .replace("127.0.0.1:31002", &gmmp.to_string())
        .replace("127.0.0.1:8080", &http.to_string())
}

/// Runs `script` with bash in `dir`; its stdout, or a panic with both
/// streams when it does not exit 0.
fn run_script(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "README block failed ({}):\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// True once the first gateway has a delivery stored.
async fn delivered(http_addr: SocketAddr, key: &str) -> bool {
    let (status, body) = http(http_addr, "GET", "/api/v1/gateways", key, None).await;
    let Some(gw_id) = body["items"][0]["gw_id"].as_str().filter(|_| status == 200) else {
        return false;
    };
    let latest = format!("/api/v1/gateways/{gw_id}/deliveries/latest");
    http(http_addr, "GET", &latest, key, None).await.0 == 200
}

/// Stops a process group started with `process_group(0)`. (`kill -TERM
/// -<pgid>` is read by procps-ng 4.0's kill as something else and does
/// nothing; `-s TERM -- -<pgid>` is unambiguous.)
fn stop_group(child: &std::process::Child) {
    let _ = Command::new("kill")
        .args(["-s", "TERM", "--", &format!("-{}", child.id())])
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_runs_as_pasted_against_a_fresh_server() {
    use std::os::unix::process::CommandExt;

    let blocks = sh_blocks(README);
    let approve = block_with(&blocks, "provision add soft-gw-01");
    let read = block_with(&blocks, "deliveries/latest");
    let control = block_with(&blocks, "status_check");

    let dir = tempfile::tempdir().unwrap();
    let (gmmp, http_addr) = (free_addr(), free_addr());
    // The README's first command, on free ports and without the MQTT
    // listeners (other tests may hold 1883/8883).
    let mut server = Command::new(omp_server())
        .args(["--gmmp-listen", &gmmp.to_string()])
        .args(["--http-listen", &http_addr.to_string()])
        .args(["--mqtt-listen", "none", "--mqtts-listen", "none"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let key_file = dir.path().join("omp-data/api-key");
    until("the server to serve its API", || async {
        tokio::net::TcpStream::connect(http_addr).await.is_ok() && key_file.is_file()
    })
    .await;
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();

    // The software gateway: approved, then delivering (it stays running).
    let gateway = as_run_here(&approve, gmmp, http_addr);
    let (approve_line, run_gateway) = gateway.split_once('\n').unwrap();
    run_script(dir.path(), approve_line);
    let agent_log = std::fs::File::create(dir.path().join("gw-agent.log")).unwrap();
    let mut agent = Command::new("bash")
        .args(["-c", run_gateway])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(agent_log)
        .process_group(0)
        .spawn()
        .unwrap();
    let stored = tokio::time::timeout(common::GUARD, async {
        while !delivered(http_addr, &key).await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        stored.is_ok(),
        "the software gateway's delivery was not stored; its log:\n{}",
        std::fs::read_to_string(dir.path().join("gw-agent.log")).unwrap_or_default()
    );
    // Step 4, both blocks in one shell: the second uses the first's $GW.
    let script = format!(
        "{}\n{}",
        as_run_here(&read, gmmp, http_addr),
        as_run_here(&control, gmmp, http_addr)
    );
    let printed = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || run_script(&dir, &script)
    })
    .await
    .unwrap();
    assert!(
        printed.lines().any(|l| l.trim() == DELIVERED),
        "the delivered text, decoded: {printed}"
    );
    assert!(
        printed.contains("\"control_type\""),
        "the control: {printed}"
    );

    stop_group(&agent);
    stop_group(&server);
    for child in [&mut agent, &mut server] {
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while child.try_wait().unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        if waited.is_err() {
            let _ = child.kill();
        }
    }
}

const DOCKERFILE: &str = include_str!("../../../Dockerfile");

/// The Dockerfile's `ENTRYPOINT [...]`, its words.
fn entrypoint(dockerfile: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("the Dockerfile has an ENTRYPOINT");
    serde_json::from_str(line).expect("ENTRYPOINT in its JSON (exec) form")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dockerfile_entrypoint_and_exec_command_run_the_built_server() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    // The build stage builds the binary this test runs, as CI does.
    assert!(
        DOCKERFILE.contains("cargo build --release --locked -p omp-server"),
        "the build stage's command"
    );
    // The final stage's data volume: `install -d -m 0700 … /data`.
    assert!(DOCKERFILE.contains("install -d -m 0700 -o omp -g omp /data"));
    let words = entrypoint(DOCKERFILE);
    assert_eq!(words[0], "/usr/local/bin/omp-server");

    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let http_addr = free_addr();
    let args: Vec<String> = words[1..]
        .iter()
        .map(|w| match w.as_str() {
            "/data" => data.display().to_string(),
            // The container's port 8080 is published by `docker run -p`;
            // here a free one on loopback.
            "0.0.0.0:8080" => http_addr.to_string(),
            w => w.to_owned(),
        })
        .collect();
    assert!(
        args.contains(&http_addr.to_string()),
        "the ENTRYPOINT sets --http-listen 0.0.0.0:8080: {words:?}"
    );
    // The other listeners keep their defaults in the container; here free
    // ports, through the environment the ENTRYPOINT leaves alone.
    let mut server = Command::new(omp_server())
        .args(&args)
        .env("OMP_GMMP_LISTEN", free_addr().to_string())
        .env("OMP_MQTT_LISTEN", "none")
        .env("OMP_MQTTS_LISTEN", "none")
        .current_dir(root.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let key_file = data.join("api-key");
    until("the ENTRYPOINT's server to serve its API", || async {
        tokio::net::TcpStream::connect(http_addr).await.is_ok() && key_file.is_file()
    })
    .await;
    let key = std::fs::read_to_string(&key_file).unwrap();
    let (status, _) = http(http_addr, "GET", "/healthz", key.trim(), None).await;
    assert_eq!(status, 200);

    // The header's `docker exec omp omp-server --data-dir /data provision
    // add 0008dc1e3222`, while the server runs.
    let exec = DOCKERFILE
        .lines()
        .find_map(|l| {
            l.trim_start_matches(['#', ' '])
                .strip_prefix("docker exec omp ")
        })
        .expect("the header shows a docker exec command");
    let exec = exec
        .replace("/data", &data.display().to_string())
        .replace("omp-server", &omp_server().display().to_string());
    run_script(root.path(), &exec);
    let (status, body) = http(http_addr, "GET", "/api/v1/provisioning", key.trim(), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["auth_id"] == "0008dc1e3222")),
        "provisioned through the exec command: {body}"
    );

    stop_group(&server);
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while server.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    if waited.is_err() {
        let _ = server.kill();
    }
    assert!(waited.is_ok(), "the server stops on SIGTERM");
}
