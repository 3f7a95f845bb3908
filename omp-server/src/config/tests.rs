//! Settings tests: precedence, key-naming errors, the defaults.

use clap::Parser;

use super::*;

fn load_toml(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omp.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&Settings {
        config: Some(path),
        ..Settings::default()
    })
}

#[test]
fn unknown_toml_key_is_named() {
    let err = load_toml("gmmp_listen = \"127.0.0.1:1\"\nheartbeat_grase = 3\n").unwrap_err();
    assert!(err.to_string().contains("heartbeat_grase"), "{err}");
}

#[test]
fn bad_toml_value_names_the_key() {
    let err = load_toml("provisioning = \"closed\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("provisioning"), "{text}");
    let err = load_toml("first_frame_timeout = \"soon\"\n").unwrap_err();
    assert!(err.to_string().contains("first_frame_timeout"), "{err}");
    let err = load_toml("gmmp_listen = \"nowhere\"\n").unwrap_err();
    assert!(err.to_string().contains("gmmp_listen"), "{err}");
}

#[test]
fn flag_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omp.toml");
    std::fs::write(
        &path,
        "provisioning = \"open\"\nbackoff_seconds = 9\nfirst_frame_timeout = \"2s\"\n",
    )
    .unwrap();
    let cli = Cli::try_parse_from([
        "omp-server",
        "--config",
        path.to_str().unwrap(),
        "--backoff-seconds",
        "3",
        "--allowed-domains",
        "ThingPlug,Other",
    ])
    .unwrap();
    let c = Config::load(&cli.settings).unwrap();
    assert_eq!(c.provisioning, ProvisioningMode::Open);
    assert_eq!(c.backoff_seconds, 3);
    assert_eq!(c.first_frame_timeout, Duration::from_secs(2));
    assert_eq!(c.allowed_domains, vec!["ThingPlug", "Other"]);
    assert_eq!(c.writer_batch_max, 1000);
}

#[test]
fn bad_flag_value_is_refused_by_name() {
    let err = Cli::try_parse_from(["omp-server", "--provisioning", "maybe"]).unwrap_err();
    assert!(err.to_string().contains("--provisioning"), "{err}");
}

#[test]
fn nonsense_values_are_refused() {
    let err = load_toml("writer_batch_max = 0\n").unwrap_err();
    assert!(err.to_string().contains("writer_batch_max"), "{err}");
    let err = load_toml("control_ttl = \"500ms\"\n").unwrap_err();
    assert!(err.to_string().contains("control_ttl"), "{err}");
    let err = load_toml("control_completion_timeout = \"later\"\n").unwrap_err();
    assert!(
        err.to_string().contains("control_completion_timeout"),
        "{err}"
    );
    let err = load_toml("writer_batch_max = 0\n").unwrap_err();
    assert!(err.to_string().contains("writer_batch_max"), "{err}");
    let err = load_toml("default_model = \"a model name that is far longer than 32 bytes\"\n")
        .unwrap_err();
    assert!(err.to_string().contains("default_model"), "{err}");
}

#[test]
fn hostile_input_limits_are_settings() {
    let c = Config::defaults();
    assert_eq!(c.frame_timeout, Duration::from_secs(20));
    assert_eq!(c.auth_timeout, Duration::from_secs(60));
    assert_eq!(c.max_unauthenticated, 4096);
    assert_eq!(c.max_unauthenticated_per_ip, 512);
    let c = load_toml(
        "frame_timeout = \"3s\"\nauth_timeout = \"1m\"\nmax_unauthenticated = 10\nmax_unauthenticated_per_ip = 2\n",
    )
    .unwrap();
    assert_eq!(c.frame_timeout, Duration::from_secs(3));
    assert_eq!(c.auth_timeout, Duration::from_secs(60));
    assert_eq!(c.max_unauthenticated, 10);
    assert_eq!(c.max_unauthenticated_per_ip, 2);
    let cli = Cli::try_parse_from([
        "omp-server",
        "--frame-timeout",
        "500ms",
        "--max-unauthenticated-per-ip",
        "7",
    ])
    .unwrap();
    let c = Config::load(&cli.settings).unwrap();
    assert_eq!(c.frame_timeout, Duration::from_millis(500));
    assert_eq!(c.max_unauthenticated_per_ip, 7);
    for (text, key) in [
        ("frame_timeout = \"never\"\n", "frame_timeout"),
        ("auth_timeout = \"0s\"\n", "auth_timeout"),
        ("max_unauthenticated = 0\n", "max_unauthenticated"),
        (
            "max_unauthenticated_per_ip = 0\n",
            "max_unauthenticated_per_ip",
        ),
    ] {
        let err = load_toml(text).unwrap_err();
        assert!(err.to_string().contains(key), "{text}: {err}");
    }
}

#[test]
fn http_body_limits_are_settings() {
    let c = Config::defaults();
    assert_eq!(c.http_body_limit, 64 * 1024);
    assert_eq!(c.http_body_deadline, Duration::from_secs(30));
    let c = load_toml("http_body_limit = 4096\nhttp_body_deadline = \"5s\"\n").unwrap();
    assert_eq!(
        (c.http_body_limit, c.http_body_deadline),
        (4096, Duration::from_secs(5))
    );
    let cli = Cli::try_parse_from([
        "omp-server",
        "--http-body-limit",
        "100000",
        "--http-body-deadline",
        "1m",
    ])
    .unwrap();
    let c = Config::load(&cli.settings).unwrap();
    assert_eq!(
        (c.http_body_limit, c.http_body_deadline),
        (100_000, Duration::from_secs(60))
    );
    for (text, key) in [
        ("http_body_limit = 10\n", "http_body_limit"),
        ("http_body_deadline = \"0s\"\n", "http_body_deadline"),
    ] {
        let err = load_toml(text).unwrap_err();
        assert!(err.to_string().contains(key), "{text}: {err}");
    }
}

#[test]
fn defaults_as_documented() {
    let c = Config::defaults();
    assert_eq!(c.gmmp_listen.to_string(), "0.0.0.0:31002");
    assert_eq!(c.http_listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./omp-data"));
    assert_eq!(c.provisioning, ProvisioningMode::Approved);
    assert_eq!(c.profile_defaults.heartbeat_period, 10);
    assert_eq!(c.profile_defaults.response_timeout, 30);
}

#[test]
fn no_arguments_run_with_the_defaults() {
    assert_eq!(
        Config::load(&Settings::default()).unwrap(),
        Config::defaults()
    );
    Config::defaults().check().unwrap();
}

#[test]
fn grouped_settings_have_flat_keys() {
    let c = load_toml(
        "default_heartbeat_period = 3\ndefault_model = \"M1\"\ncontrol_ttl = \"2h\"\ncontrol_max_in_flight = 4\n",
    )
    .unwrap();
    assert_eq!(c.profile_defaults.heartbeat_period, 3);
    assert_eq!(c.profile_defaults.model, "M1");
    assert_eq!(c.control.ttl, Duration::from_secs(7200));
    assert_eq!(c.control.max_in_flight, 4);
    let cli = Cli::try_parse_from(["omp-server", "--control-completion-timeout", "90s"]).unwrap();
    let c = Config::load(&cli.settings).unwrap();
    assert_eq!(c.control.completion_timeout, Duration::from_secs(90));
}

#[test]
fn file_values_of_the_wrong_type_name_their_key() {
    for (text, key) in [
        ("frame_timeout = 20\n", "frame_timeout"),
        ("writer_batch_max = \"many\"\n", "writer_batch_max"),
        ("allowed_domains = \"ThingPlug\"\n", "allowed_domains"),
        ("trace_gmmp = \"yes\"\n", "trace_gmmp"),
        ("control_ttl = 5\n", "control_ttl"),
    ] {
        let err = load_toml(text).unwrap_err();
        assert!(err.to_string().contains(key), "{text}: {err}");
    }
    let err = load_toml("data_dir = \"/x\"\ndata_dri = \"/y\"\n").unwrap_err();
    assert!(
        err.to_string().contains("unknown setting \"data_dri\""),
        "{err}"
    );
}

#[test]
fn a_file_holds_every_setting_under_its_key() {
    let c = load_toml(
        "api_key = \"k\"\nallowed_domains = [\"ThingPlug\"]\ntrace_gmmp = true\ndata_dir = \"/srv/omp\"\n",
    )
    .unwrap();
    assert_eq!(c.api_key.as_deref(), Some("k"));
    assert_eq!(c.allowed_domains, vec!["ThingPlug"]);
    assert!(c.trace_gmmp);
    assert_eq!(c.data_dir, PathBuf::from("/srv/omp"));
    let cli = Cli::try_parse_from(["omp-server", "--trace-gmmp"]).unwrap();
    assert_eq!(cli.settings.trace_gmmp, Some(true));
}

#[test]
fn help_shows_every_default_and_variable() {
    let help = <Cli as clap::CommandFactory>::command()
        .render_long_help()
        .to_string();
    for setting in SETTINGS {
        assert!(help.contains(&setting.flag()), "{}", setting.key);
        assert!(help.contains(setting.env), "{}", setting.env);
        // Settings without a default (`optional`) say in their help what
        // having none means.
        if !["api_key", "mqtts_cert", "mqtts_key"].contains(&setting.key) {
            let shown = format!("[default: {}]", setting.default);
            assert!(help.contains(&shown), "{}: {shown}", setting.key);
        }
    }
}

#[test]
fn provision_takes_only_the_data_dir_and_config() {
    let mut command = <Cli as clap::CommandFactory>::command();
    // Global flags reach the subcommands when the command is built.
    command.build();
    let provision = command.find_subcommand_mut("provision").unwrap();
    let help = provision.render_long_help().to_string();
    assert!(
        help.contains("--data-dir") && help.contains("--config"),
        "{help}"
    );
    assert!(!help.contains("--gmmp-listen"), "{help}");
    for args in [
        &["omp-server", "--data-dir", "/d", "provision", "add", "gw1"][..],
        &["omp-server", "provision", "add", "gw1", "--data-dir", "/d"],
        &["omp-server", "provision", "--data-dir", "/d", "list"],
    ] {
        let cli = Cli::try_parse_from(args).unwrap();
        assert_eq!(cli.settings.data_dir, Some(PathBuf::from("/d")), "{args:?}");
        assert!(matches!(cli.command, Some(Command::Provision(_))));
    }
    let cli = Cli::try_parse_from(["omp-server", "--provisioning", "open", "provision", "list"]);
    assert_eq!(
        cli.unwrap().settings.provisioning,
        Some(ProvisioningMode::Open)
    );
}

#[test]
fn http_defaults_are_the_tables() {
    let c = Config::defaults();
    assert_eq!(c.http_body_limit, crate::http::DEFAULT_BODY_LIMIT);
    assert_eq!(c.http_body_deadline, crate::http::DEFAULT_BODY_DEADLINE);
    assert_eq!(c.control.ttl, crate::http::DEFAULT_CONTROL_TTL);
}

#[test]
fn mqtt_listen_takes_an_address_or_none() {
    assert_eq!(
        Config::defaults().mqtt_listen,
        Some("0.0.0.0:1883".parse().unwrap())
    );
    let c = load_toml("mqtt_listen = \"none\"\n").unwrap();
    assert_eq!(c.mqtt_listen, None);
    let cli = Cli::try_parse_from(["omp-server", "--mqtt-listen", "127.0.0.1:1884"]).unwrap();
    let c = Config::load(&cli.settings).unwrap();
    assert_eq!(c.mqtt_listen, Some("127.0.0.1:1884".parse().unwrap()));
    let err = load_toml("mqtt_listen = \"nowhere\"\n").unwrap_err();
    assert!(err.to_string().contains("mqtt_listen"), "{err}");
    let err = Cli::try_parse_from(["omp-server", "--mqtt-listen", "nowhere"]).unwrap_err();
    assert!(err.to_string().contains("--mqtt-listen"), "{err}");
}

#[test]
fn mqtts_listen_takes_an_address_or_none() {
    assert_eq!(
        Config::defaults().mqtts_listen,
        Some("0.0.0.0:8883".parse().unwrap())
    );
    let c = load_toml("mqtts_listen = \"none\"\n").unwrap();
    assert_eq!(c.mqtts_listen, None);
    let cli = Cli::try_parse_from(["omp-server", "--mqtts-listen", "127.0.0.1:8884"]).unwrap();
    let c = Config::load(&cli.settings).unwrap();
    assert_eq!(c.mqtts_listen, Some("127.0.0.1:8884".parse().unwrap()));
    let err = load_toml("mqtts_listen = \"nowhere\"\n").unwrap_err();
    assert!(err.to_string().contains("mqtts_listen"), "{err}");
    let err = Cli::try_parse_from(["omp-server", "--mqtts-listen", "nowhere"]).unwrap_err();
    assert!(err.to_string().contains("--mqtts-listen"), "{err}");
}

#[test]
fn mqtts_cert_and_key_come_together_or_not_at_all() {
    let c = Config::defaults();
    assert_eq!((c.mqtts_cert.as_ref(), c.mqtts_key.as_ref()), (None, None));
    c.check().unwrap();
    let c = load_toml("mqtts_cert = \"/etc/omp/cert.pem\"\nmqtts_key = \"/etc/omp/key.pem\"\n")
        .unwrap();
    assert_eq!(c.mqtts_key, Some(PathBuf::from("/etc/omp/key.pem")));
    c.check().unwrap();

    let err = load_toml("mqtts_cert = \"/etc/omp/cert.pem\"\n").unwrap_err();
    assert!(
        err.to_string().starts_with("setting mqtts_key is missing"),
        "{err}"
    );
    let cli = Cli::try_parse_from(["omp-server", "--mqtts-key", "/etc/omp/key.pem"]).unwrap();
    let err = Config::load(&cli.settings).unwrap_err();
    assert!(
        err.to_string().starts_with("setting mqtts_cert is missing"),
        "{err}"
    );
}

#[test]
fn a_database_url_that_is_not_postgres_is_refused_without_echoing_it() {
    let mut c = Config::defaults();
    c.database_url = Some("mysql://root:hunter2@db/omp".into());
    let text = c.check().unwrap_err().to_string();
    assert!(text.contains("database_url"), "{text}");
    assert!(text.contains("postgres://"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    c.database_url = Some("postgres://omp@db/omp".into());
    assert!(c.check().is_ok());
}
