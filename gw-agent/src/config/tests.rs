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
    let o = Overrides {
        omp: Some("10.1.2.3:4000".into()),
        baud: Some(9600),
        no_stdin: true,
        ..Overrides::default()
    };
    let c = resolve(parse(Path::new("x"), DIRECT).unwrap(), &o).unwrap();
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
