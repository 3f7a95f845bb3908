//! Configuration tests: defaults, key-naming errors, flags over the file.

use super::*;

const DIRECT: &str =
    "transport = \"direct\"\nauth_id = \"0008dc1e3222\"\n[omp]\nhost = \"127.0.0.1\"\n";

#[test]
fn a_minimal_direct_config_gets_the_defaults() {
    let c = Config::from_toml(DIRECT).unwrap();
    assert_eq!(c.transport, TransportKind::Direct);
    assert_eq!(c.omp_port, 31002);
    assert_eq!(c.domain_code, "ThingPlug");
    assert_eq!(c.max_in_flight, 1);
    assert!(c.keyed_deliveries);
    assert!(c.sources.stdin);
    assert_eq!(c.heartbeat_period, None);
}

#[test]
fn an_unknown_key_is_named() {
    let err = Config::from_toml(&format!("{DIRECT}colour = 3\n")).unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn deliveries_in_flight_are_bounded_and_keying_can_be_turned_off() {
    for n in [0, 1001] {
        let err =
            Config::from_toml(&format!("{DIRECT}[delivery]\nmax_in_flight = {n}\n")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("delivery.max_in_flight") && text.contains("1..=1000"),
            "{err}"
        );
    }
    let c = Config::from_toml(&format!("{DIRECT}[delivery]\nkeyed = false\n")).unwrap();
    assert!(!c.keyed_deliveries);
}

#[test]
fn a_bad_duration_names_its_key() {
    let err = Config::from_toml(&format!("{DIRECT}[periods]\nheartbeat = \"soon\"\n")).unwrap_err();
    assert!(err.to_string().contains("periods.heartbeat"), "{err}");
}

#[test]
fn a_long_domain_code_is_refused() {
    let err = Config::from_toml(&format!("domain_code = \"ThingPlug123\"\n{DIRECT}")).unwrap_err();
    assert!(err.to_string().contains("domain_code"), "{err}");
}

#[test]
fn bridge_needs_a_serial_port() {
    let err = Config::from_toml("[omp]\nhost = \"h\"\n").unwrap_err();
    assert!(err.to_string().contains("serial.path"), "{err}");
}

#[test]
fn flags_override_the_file() {
    let overrides = Overrides::try_parse_from([
        "gw-agent",
        "--omp",
        "10.1.2.3:4000",
        "--baud",
        "9600",
        "--no-stdin",
    ])
    .unwrap();
    let settings = Settings {
        overrides,
        ..Settings::from_toml(DIRECT).unwrap()
    };
    let c = resolve(&settings).unwrap();
    assert_eq!((c.omp_host.as_str(), c.omp_port), ("10.1.2.3", 4000));
    assert_eq!(c.serial.baud, 9600);
    assert!(!c.sources.stdin);
}

#[test]
fn user_controls_must_be_in_the_user_range() {
    let ok = Config::from_toml(&format!("{DIRECT}[controls]\n\"0x80\" = {{ command = \"true\" }}\n\"0x81\" = {{ gpio = 3, value = 1 }}\n")).unwrap();
    assert_eq!(ok.controls.len(), 2);
    assert_eq!(ok.controls[&0x81], UserControl::Gpio { gpio: 3, value: 1 });
    let err = Config::from_toml(&format!(
        "{DIRECT}[controls]\n\"0x20\" = {{ command = \"x\" }}\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("0x20"), "{err}");
}

const BRIDGE: &str = "[serial]\npath = \"/dev/ttyUSB0\"\n[wifi]\nssid = \"lab\"\npassphrase = \"12345678\"\n[omp]\nhost = \"127.0.0.1\"\n";

#[test]
fn a_minimal_bridge_config_asks_the_module_for_the_auth_id() {
    let c = Config::from_toml(BRIDGE).unwrap();
    assert_eq!(c.transport, TransportKind::Bridge);
    assert_eq!(c.auth_id, None);
    assert_eq!(
        c.wifi.security,
        Security::Auto,
        "the guide's AT+WSEC=0,,key"
    );
    assert_eq!(c.serial.parity, Parity::None);
    assert_eq!(c.sources.module, None);
}

#[test]
fn wifi_mistakes_name_their_key() {
    let no_key = Config::from_toml(&BRIDGE.replace("passphrase = \"12345678\"\n", ""));
    assert!(no_key.unwrap_err().to_string().contains("wifi.passphrase"));
    let short = Config::from_toml(&BRIDGE.replace("12345678", "1234"));
    assert!(short.unwrap_err().to_string().contains("wifi.passphrase"));
    let security = BRIDGE.replace("[wifi]\n", "[wifi]\nsecurity = \"wpa3\"\n");
    assert!(
        Config::from_toml(&security)
            .unwrap_err()
            .to_string()
            .contains("wifi.security")
    );
    let open = BRIDGE
        .replace("passphrase = \"12345678\"\n", "")
        .replace("[wifi]\n", "[wifi]\nsecurity = \"open\"\n");
    assert_eq!(
        Config::from_toml(&open).unwrap().wifi.security,
        Security::Open
    );
}

#[test]
fn module_readings_are_checked() {
    let c = Config::from_toml(&format!(
        "{BRIDGE}[sources.module]\ninterval = \"30s\"\ngpio = [3, 4]\n"
    ))
    .unwrap();
    let m = c.sources.module.unwrap();
    assert_eq!(
        (m.interval, m.adc, m.gpio),
        (Duration::from_secs(30), true, vec![3, 4])
    );
    let direct = Config::from_toml(&format!("{DIRECT}[sources.module]\ninterval = \"30s\"\n"));
    assert!(direct.unwrap_err().to_string().contains("sources.module"));
    let device = Config::from_toml(&format!(
        "{BRIDGE}[sources.module]\ninterval = \"30s\"\ndevice = \"nope\"\n"
    ));
    assert!(
        device
            .unwrap_err()
            .to_string()
            .contains("sources.module.device")
    );
}

#[test]
fn listen_addresses_parse() {
    assert_eq!(
        parse_listen("k", "tcp:127.0.0.1:0").unwrap(),
        ListenAddr::Tcp("127.0.0.1:0".parse().unwrap())
    );
    assert_eq!(
        parse_listen("k", "unix:/tmp/s").unwrap(),
        ListenAddr::Unix("/tmp/s".into())
    );
    assert!(parse_listen("k", "/tmp/s").is_err());
}

#[test]
fn a_wrong_type_names_the_section_or_key_not_a_type() {
    let section = Config::from_toml("omp = \"h\"\n").unwrap_err().to_string();
    assert!(
        section.contains("`omp`") && section.contains("[omp] section"),
        "{section}"
    );
    let value = Config::from_toml(&DIRECT.replace("[omp]\n", "[omp]\nport = \"x\"\n"));
    let value = value.unwrap_err().to_string();
    assert!(
        value.contains("`omp.port`") && value.contains("expected a number"),
        "{value}"
    );
    for text in [section, value] {
        assert!(!text.contains("struct") && !text.contains("File"), "{text}");
    }
    let nested = Config::from_toml(&format!("{DIRECT}[sources.module]\ncolour = 1\n"));
    let nested = nested.unwrap_err().to_string();
    assert!(nested.contains("`sources.module.colour`"), "{nested}");
}

#[test]
fn every_declared_default_is_a_value_of_its_type() {
    for setting in keys::ALL {
        if let Some(text) = setting.fallback.text() {
            assert_eq!(
                (setting.check_text)(&text),
                Ok(()),
                "default of {}",
                setting.key
            );
        }
    }
    let c = Config::from_toml(DIRECT).unwrap();
    assert_eq!(c.spool, SpoolLimits::default(), "the spool's own defaults");
    assert_eq!(c.report_type, gmmp_codec::ReportType::COLLECT_DATA.0);
    assert_eq!(c.retry_delay, Duration::from_secs(5));
    assert_eq!((c.serial.baud, c.serial.data_bits), (115_200, 8));
}

#[test]
fn the_flags_and_variables_are_those_of_the_declaration() {
    let command = <Overrides as clap::Args>::augment_args(clap::Command::new("gw-agent"));
    let flags: Vec<(String, String)> = command
        .get_arguments()
        .map(|a| {
            let env = a.get_env().map(|e| e.to_string_lossy().into_owned());
            (
                a.get_long().unwrap_or_default().to_owned(),
                env.unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        "config",
        "module",
        "transport",
        "state-dir",
        "auth-id",
        "manufacture-id",
        "domain-code",
        "serial",
        "baud",
        "wiz550s2e-mode",
        "ssid",
        "passphrase",
        "omp",
        "max-in-flight",
        "no-stdin",
        "listen",
        "log-format",
    ];
    assert_eq!(flags.len(), expected.len(), "{flags:?}");
    for flag in expected {
        let env = format!("GW_AGENT_{}", flag.to_uppercase().replace('-', "_"));
        assert!(
            flags.contains(&(flag.to_owned(), env)),
            "--{flag} in {flags:?}"
        );
    }
}

#[test]
fn help_shows_each_default() {
    let mut command = <Overrides as clap::Args>::augment_args(clap::Command::new("gw-agent"));
    let help = command.render_long_help().to_string();
    for shown in [
        "[default: 115200]",
        "[default: gw-agent-state]",
        "[default: bridge]",
        "[default: the module's MAC]",
        "[required]",
        "[default: sources.stdin = true]",
        "[possible values: bridge, direct, native]",
    ] {
        assert!(help.contains(shown), "{shown} in {help}");
    }
}

#[test]
fn a_flag_wins_over_the_file_and_the_file_over_the_default() {
    let file = format!("{DIRECT}[serial]\nbaud = 9600\n");
    assert_eq!(Config::from_toml(&file).unwrap().serial.baud, 9600);
    let overrides = Overrides::try_parse_from(["gw-agent", "--baud", "57600"]).unwrap();
    let settings = Settings {
        overrides,
        ..Settings::from_toml(&file).unwrap()
    };
    assert_eq!(resolve(&settings).unwrap().serial.baud, 57600);
    let bad = Overrides::try_parse_from(["gw-agent", "--baud", "fast"]).unwrap_err();
    assert!(bad.to_string().contains("--baud"), "{bad}");
}

#[test]
fn the_wiz550s2e_needs_no_wifi_and_refuses_what_it_cannot_do() {
    let base =
        "module = \"wiz550s2e\"\n[serial]\npath = \"/dev/ttyUSB0\"\n[omp]\nhost = \"127.0.0.1\"\n";
    let c = Config::from_toml(base).unwrap();
    assert_eq!(
        (c.module, c.transport),
        (ModuleKind::Wiz550s2e, TransportKind::Bridge)
    );
    assert_eq!(Config::from_toml("[omp]\nhost = \"x\"\n[serial]\npath = \"p\"\n[wifi]\nssid = \"s\"\npassphrase = \"12345678\"\n").unwrap().module, ModuleKind::Wizfi310);

    let native = Config::from_toml(&format!("transport = \"native\"\n{base}"))
        .unwrap_err()
        .to_string();
    assert!(
        native.contains("module") && native.contains("native"),
        "{native}"
    );

    let readings = Config::from_toml(&format!("{base}[sources.module]\ninterval = \"60s\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        readings.contains("sources.module.interval") && readings.contains("wiz550s2e"),
        "{readings}"
    );

    let gpio = Config::from_toml(&format!(
        "{base}[controls]\n\"0x81\" = {{ gpio = 3, value = 1 }}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(gpio.contains("controls.\"0x81\".gpio"), "{gpio}");
    assert!(
        Config::from_toml(&format!(
            "{base}[controls]\n\"0x80\" = {{ command = \"true\" }}\n"
        ))
        .is_ok(),
        "host-command controls stay usable"
    );

    let bad = Config::from_toml(&base.replace("wiz550s2e", "wiz750"))
        .unwrap_err()
        .to_string();
    assert!(bad.contains("module") && bad.contains("wiz550s2e"), "{bad}");
}

#[test]
fn the_wiz550s2e_mode_is_command_unless_data_is_asked_for_a_wiz550s2e_bridge() {
    let base =
        "module = \"wiz550s2e\"\n[serial]\npath = \"/dev/ttyUSB0\"\n[omp]\nhost = \"127.0.0.1\"\n";
    assert_eq!(
        Config::from_toml(base).unwrap().wiz550s2e_mode,
        Wiz550s2eMode::Command
    );
    let data = format!("{base}[wiz550s2e]\nmode = \"data\"\n");
    assert_eq!(
        Config::from_toml(&data).unwrap().wiz550s2e_mode,
        Wiz550s2eMode::Data
    );

    let overrides = Overrides::try_parse_from(["gw-agent", "--wiz550s2e-mode", "data"]).unwrap();
    let flagged = resolve(&Settings {
        overrides,
        ..Settings::from_toml(base).unwrap()
    })
    .unwrap();
    assert_eq!(flagged.wiz550s2e_mode, Wiz550s2eMode::Data);

    let typo = Config::from_toml(&format!("{base}[wiz550s2e]\nmode = \"transparent\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        typo.contains("wiz550s2e.mode") && typo.contains("data"),
        "{typo}"
    );
    let wifi = data.replace("module = \"wiz550s2e\"\n", "");
    let wifi = format!("{wifi}[wifi]\nssid = \"lab\"\npassphrase = \"secret-wpa\"\n");
    let wrong = Config::from_toml(&wifi).unwrap_err().to_string();
    assert!(
        wrong.contains("wiz550s2e.mode") && wrong.contains("module"),
        "{wrong}"
    );
}
