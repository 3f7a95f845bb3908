//! The interpreter, command by command, with time and IO simulated.

mod data_mode;
mod sockets;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::line::{self, AtError, Parsed, Sign};
use super::{Action, Event, Interpreter, Timer};
use crate::config::{BootMode, NetInfo, SimConfig, WorkingMode};
use crate::control::Fault;

/// A module in command mode, its clock and what it did.
pub(super) struct Bench {
    pub(super) interp: Interpreter,
    pub(super) now: Instant,
    pub(super) actions: Vec<Action>,
}

impl Bench {
    pub(super) fn new(config: SimConfig) -> Bench {
        let now = Instant::now();
        let mut interp = Interpreter::new(config, now);
        let actions = interp.take_actions();
        Bench {
            interp,
            now,
            actions,
        }
    }

    pub(super) fn command_mode() -> Bench {
        Bench::new(SimConfig {
            boot_mode: BootMode::Command,
            ..SimConfig::default()
        })
    }

    pub(super) fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    fn collect(&mut self) {
        self.actions.extend(self.interp.take_actions());
    }

    pub(super) fn input(&mut self, bytes: &[u8]) {
        self.interp.handle_input(bytes, self.now);
        self.collect();
    }

    pub(super) fn event(&mut self, event: Event) {
        self.interp.handle_event(event, self.now);
        self.collect();
    }

    /// The bytes written since the last call; other actions are kept.
    pub(super) fn output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.actions.retain(|action| match action {
            Action::Write(bytes) => {
                out.extend_from_slice(bytes);
                false
            }
            _ => true,
        });
        out
    }

    pub(super) fn text(&mut self) -> String {
        String::from_utf8_lossy(&self.output()).into_owned()
    }

    /// Sends a command line (CR LF added) and returns what it printed.
    pub(super) fn command(&mut self, line: &str) -> String {
        self.input(format!("{line}\r\n").as_bytes());
        self.text()
    }

    /// Takes the non-write actions.
    pub(super) fn take(&mut self) -> Vec<Action> {
        let _ = self.output();
        std::mem::take(&mut self.actions)
    }

    /// Fires the first scheduled timer matching `pick`.
    pub(super) fn fire(&mut self, pick: impl Fn(&Timer) -> bool) {
        let position = self
            .actions
            .iter()
            .position(|a| matches!(a, Action::Schedule { timer, .. } if pick(timer)))
            .expect("no such timer scheduled");
        let Action::Schedule { after, timer } = self.actions.remove(position) else {
            unreachable!()
        };
        self.advance(after);
        self.event(Event::Timer(timer));
    }
}

#[test]
fn responses_keep_commas_only_before_set_arguments() {
    assert_eq!(line::response('S', None, None, &[]), "[S]");
    assert_eq!(line::response('S', Some(0), None, &[]), "[S,0]");
    assert_eq!(line::response('S', None, None, &["D", "", ""]), "[S,,D]");
    assert_eq!(line::response('S', None, None, &["", "5"]), "[S,,,5]");
    assert_eq!(
        line::failure(None, AtError::WrongArguments.at(2)),
        "[F,,3,2]"
    );
    assert_eq!(line::failure(Some(0), AtError::Timeout.into()), "[F,0,8]");
    assert_eq!(line::failure(None, AtError::NoSocket.into()), "[F,,10]");
}

#[test]
fn the_sign_is_the_first_of_equal_query_dash_found_anywhere() {
    let Ok(Parsed::Command { op, sign, args }) = line::parse("at+nset-2,10.0.0.1") else {
        panic!()
    };
    assert_eq!((op.as_str(), sign), ("NSET", Sign::Individual));
    assert_eq!(&args[..2], ["2", "10.0.0.1"]);
    let Ok(Parsed::Command { sign, args, .. }) = line::parse("AT+FDNS=my-host?.lan") else {
        panic!()
    };
    assert_eq!((sign, args[0].as_str()), (Sign::Equal, "my-host?.lan"));
    assert_eq!(
        line::parse("AT+NSET=1,2,3,4,5,6,7"),
        Err(AtError::WrongArguments.into())
    );
    let long = format!("AT+FDNS={}", "a".repeat(36));
    assert_eq!(line::parse(&long), Err(AtError::WrongArguments.at(1)));
}

#[test]
fn addresses_ports_and_macs_are_checked_as_the_firmware_does() {
    assert_eq!(line::ipv4("127.0.0.1"), Some(Ipv4Addr::LOCALHOST));
    assert_eq!(line::ipv4("0.0.0.0"), None);
    assert_eq!(line::ipv4("localhost"), None);
    assert_eq!(line::ipv4("1.2.3.256"), None);
    assert_eq!(line::ipv4("1.2.3"), None);
    assert_eq!(line::port("0"), None);
    assert_eq!(line::port("65535"), Some(65535));
    assert_eq!(line::port("65536"), None);
    assert_eq!(line::port("12a"), None);
    assert_eq!(
        line::mac("00:08:DC:1d:bb:8a"),
        Some([0, 8, 0xdc, 0x1d, 0xbb, 0x8a])
    );
    assert_eq!(line::mac("0008dc1dbb8a"), None);
}

#[test]
fn at_probes_and_unknown_commands_fail_with_code_1() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT"), "[S]\r\n");
    assert_eq!(b.command("at"), "[S]\r\n");
    assert_eq!(b.command("AT+BOGUS"), "[F,,1]\r\n");
    assert_eq!(b.command("ATI"), "[F,,1]\r\n");
    assert_eq!(b.command("AT-1"), "[F,,2]\r\n");
}

#[test]
fn lf_ends_a_line_cr_is_ignored_and_backspace_deletes() {
    let mut b = Bench::command_mode();
    b.input(b"AT\n");
    assert_eq!(b.text(), "[S]\r\n");
    b.input(b"AX\x08T\r");
    assert_eq!(b.text(), "", "no LF yet");
    b.input(b"\n\r\n\n");
    assert_eq!(b.text(), "[S]\r\n", "empty lines print nothing");
    b.input(b"A\x01T\r\n");
    assert_eq!(b.text(), "[S]\r\n", "other control bytes are dropped");
}

#[test]
fn a_line_keeps_its_first_99_bytes() {
    let mut b = Bench::command_mode();
    let line = format!("AT+BOGUS{}", "x".repeat(200));
    assert_eq!(b.command(&line), "[F,,1]\r\n");
    assert_eq!(b.command("AT?"), format!("[D,,99]\r\n{}\r\n", &line[..99]));
}

#[test]
fn at_query_dumps_the_line_before_it() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT?"), "[D,,0]\r\n");
    b.command("AT+MSTAT");
    assert_eq!(b.command("AT?"), "[D,,8]\r\nAT+MSTAT\r\n");
}

#[test]
fn mstat_prints_the_firmware_version() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT+MSTAT"), "[S,,1.3.1]\r\n");
    assert_eq!(b.command("AT+MSTAT?"), "[S,,1.3.1]\r\n");
    assert_eq!(b.command("AT+MSTAT=1"), "[F,,2]\r\n");
}

#[test]
fn nmac_prints_and_sets_the_mac() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT+NMAC"), "[S,,00:08:dc:1d:bb:8a]\r\n");
    assert_eq!(b.command("AT+NMAC=00:08:DC:00:00:01"), "[S]\r\n");
    assert_eq!(b.command("AT+NMAC?"), "[S,,00:08:dc:00:00:01]\r\n");
    assert_eq!(b.command("AT+NMAC=0008dc000001"), "[F,,3,1]\r\n");
    assert_eq!(b.command("AT+NMAC-1"), "[F,,2]\r\n");
    // Kept across a reset without AT+MSAVE (written to EEPROM at once).
    b.command("AT+MRST");
    b.fire(|t| matches!(t, Timer::Boot(_)));
    assert_eq!(b.command("AT+NMAC"), "[S,,00:08:dc:00:00:01]\r\n");
}

#[test]
fn nset_and_nstat_show_static_addresses() {
    let mut b = Bench::command_mode();
    let factory = "S,192.168.11.100,255.255.255.0,192.168.11.1,8.8.8.8";
    assert_eq!(b.command("AT+NSET"), format!("[S,,{factory}]\r\n"));
    assert_eq!(b.command("AT+NSTAT?"), format!("[S,,{factory}]\r\n"));
    assert_eq!(
        b.command("AT+NSET=S,10.0.0.5,255.0.0.0,10.0.0.1,10.0.0.53"),
        "[S]\r\n"
    );
    assert_eq!(
        b.command("AT+NSTAT"),
        "[S,,S,10.0.0.5,255.0.0.0,10.0.0.1,10.0.0.53]\r\n"
    );
    assert_eq!(b.command("AT+NSET-2,10.0.0.6"), "[S]\r\n");
    assert_eq!(b.command("AT+NSTAT=2"), "[F,,2]\r\n");
    assert_eq!(b.command("AT+NSTAT?2"), "[S,,10.0.0.6]\r\n");
    assert_eq!(b.command("AT+NSET=S,10.0.0.300"), "[F,,3,2]\r\n");
    assert_eq!(b.command("AT+NSET=X"), "[F,,3,1]\r\n");
    assert_eq!(b.command("AT+NSET="), "[F,,6]\r\n");
    assert_eq!(b.command("AT+NSET=,,,,,1.1.1.1"), "[F,,6,6]\r\n");
    assert_eq!(b.command("AT+NSET?7"), "[F,,4,1]\r\n");
}

#[test]
fn under_dhcp_nstat_shows_the_lease_and_nset_the_stored_addresses() {
    let mut b = Bench::new(SimConfig {
        boot_mode: BootMode::Command,
        dhcp: true,
        lease: NetInfo {
            ip: Ipv4Addr::new(10, 1, 2, 3),
            ..NetInfo::FACTORY
        },
        ..SimConfig::default()
    });
    assert_eq!(
        b.command("AT+NSTAT"),
        "[S,,D,10.1.2.3,255.255.255.0,192.168.11.1,8.8.8.8]\r\n"
    );
    assert_eq!(
        b.command("AT+NSET"),
        "[S,,D,192.168.11.100,255.255.255.0,192.168.11.1,8.8.8.8]\r\n"
    );
    b.event(Event::Fault(Fault::LinkDown));
    assert_eq!(
        b.command("AT+NSTAT"),
        "[S,,D,0.0.0.0,0.0.0.0,0.0.0.0,0.0.0.0]\r\n"
    );
    b.event(Event::Fault(Fault::LinkUp));
    assert_eq!(b.command("AT+NSTAT?2"), "[S,,10.1.2.3]\r\n");
    assert_eq!(b.command("AT+NSET-1,S"), "[S]\r\n");
    assert_eq!(b.command("AT+NSTAT?1"), "[S,,S]\r\n");
}

#[test]
fn settings_survive_a_reset_only_when_saved() {
    let mut b = Bench::command_mode();
    b.command("AT+NSET-2,10.0.0.7");
    assert_eq!(b.command("AT+MRST"), "[S]\r\n");
    b.input(b"AT\r\n");
    assert_eq!(b.text(), "", "input is lost while booting");
    b.fire(|t| matches!(t, Timer::Boot(_)));
    assert_eq!(b.command("AT+NSET?2"), "[S,,192.168.11.100]\r\n");
    b.command("AT+NSET-2,10.0.0.7");
    assert_eq!(b.command("AT+MSAVE"), "[S]\r\n");
    assert_eq!(b.command("AT+MSAVE?"), "[F,,2]\r\n");
    b.event(Event::Fault(Fault::Reset));
    assert_eq!(b.text(), "", "an unannounced reset prints nothing");
    b.fire(|t| matches!(t, Timer::Boot(_)));
    assert_eq!(b.command("AT+NSET?2"), "[S,,10.0.0.7]\r\n");
}

#[test]
fn mmode_prints_and_stores_the_data_mode_target() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT+MMODE"), "[S,,S,5000,192.168.11.2,5000]\r\n");
    assert_eq!(b.command("AT+MMODE=c,6000,127.0.0.1,7000"), "[S]\r\n");
    assert_eq!(b.command("AT+MMODE?"), "[S,,C,6000,127.0.0.1,7000]\r\n");
    assert_eq!(b.command("AT+MMODE=C,0,127.0.0.1,7000"), "[F,,3,2]\r\n");
    assert_eq!(b.command("AT+MMODE=C,1,host,7000"), "[F,,3,3]\r\n");
    assert_eq!(b.command("AT+MMODE=X,1,127.0.0.1,7000"), "[F,,3,1]\r\n");
    b.command("AT+MRST");
    b.fire(|t| matches!(t, Timer::Boot(_)));
    assert_eq!(b.command("AT+MMODE"), "[S,,C,6000,127.0.0.1,7000]\r\n");
}

#[test]
fn fdns_resolves_while_input_waits() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT+FDNS=localhost"), "");
    assert_eq!(b.take(), vec![Action::Resolve("localhost".into())]);
    assert_eq!(b.command("AT"), "", "held until the lookup ends");
    b.event(Event::Resolved(Some(Ipv4Addr::LOCALHOST)));
    assert_eq!(b.text(), "[D,,11]\r\n127.0.0.1\r\n\r\n[S]\r\n");
    b.command("AT+FDNS=nowhere.invalid");
    b.event(Event::Resolved(None));
    assert_eq!(b.text(), "[D,,13]\r\nDNS Timeout\r\n\r\n");
    assert_eq!(
        b.command("AT+FDNS"),
        "[D,,13]\r\nDNS Timeout\r\n\r\n",
        "no domain set"
    );
    assert_eq!(b.command("AT+FDNS="), "", "the firmware prints nothing");
    assert_eq!(b.command("AT+FDNS-1"), "[F,,2]\r\n");
    b.event(Event::Fault(Fault::LinkDown));
    assert_eq!(
        b.command("AT+FDNS=localhost"),
        "[D,,13]\r\nDNS Timeout\r\n\r\n"
    );
}

#[test]
fn response_faults_drop_delay_and_garble() {
    let mut b = Bench::command_mode();
    b.event(Event::Fault(Fault::DropNextResponse));
    assert_eq!(b.command("AT"), "");
    assert_eq!(b.command("AT"), "[S]\r\n");
    b.event(Event::Fault(Fault::DelayNextResponse(
        Duration::from_millis(300),
    )));
    b.input(b"AT\r\n");
    assert_eq!(
        b.actions,
        vec![
            Action::Pause(Duration::from_millis(300)),
            Action::Write(Bytes::from_static(b"[S]\r\n"))
        ]
    );
    b.take();
    b.event(Event::Fault(Fault::GarbleNextLine));
    b.input(b"AT\r\n");
    assert_eq!(b.output(), b"\xffS[\r\n");
    assert_eq!(b.command("AT+MSTAT"), "[S,,1.3.1]\r\n");
}

#[test]
fn the_fault_plan_drops_every_nth_response() {
    let mut b = Bench::new(SimConfig {
        boot_mode: BootMode::Command,
        fault_plan: crate::FaultPlan {
            drop_every: std::num::NonZeroU32::new(2),
            ..crate::FaultPlan::default()
        },
        ..SimConfig::default()
    });
    assert_eq!(b.command("AT"), "[S]\r\n");
    assert_eq!(b.command("AT"), "");
    assert_eq!(b.command("AT"), "[S]\r\n");
}

#[test]
fn a_factory_module_boots_silently_into_data_mode() {
    let mut b = Bench::new(SimConfig::default());
    assert!(b.interp.in_data_mode());
    assert_eq!(b.text(), "");
    assert!(
        b.take().is_empty(),
        "a TCP server working mode connects nowhere"
    );
    assert_eq!(b.interp.live.working_mode, WorkingMode::Server);
}
