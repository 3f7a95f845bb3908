//! The interpreter driven byte by byte, without any IO.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::config::SimConfig;
use crate::control::{Board, Fault};

struct Module {
    interp: Interpreter,
    board: Board,
    now: Instant,
    /// Non-write actions of the last step.
    actions: Vec<Action>,
    /// Timers not yet fired.
    timers: Vec<Timer>,
}

impl Module {
    fn new() -> Module {
        Module::with(SimConfig::default())
    }

    /// A module with echo off (`AT+MECHO=0`), as most tests want it.
    fn quiet() -> Module {
        let mut m = Module::new();
        m.send("AT+MECHO=0\r");
        m
    }

    fn with(config: SimConfig) -> Module {
        let board = Board::default();
        Module {
            interp: Interpreter::new(config, board.clone()),
            board,
            now: Instant::now(),
            actions: Vec::new(),
            timers: Vec::new(),
        }
    }

    fn collect(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.actions.clear();
        for action in self.interp.take_actions() {
            match action {
                Action::Write(bytes) => out.extend_from_slice(&bytes),
                Action::Schedule { timer, .. } => {
                    self.timers.push(timer);
                    self.actions.push(action);
                }
                other => self.actions.push(other),
            }
        }
        out
    }

    fn input(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.interp.handle_input(bytes, self.now);
        self.collect()
    }

    fn send(&mut self, text: &str) -> String {
        String::from_utf8_lossy(&self.input(text.as_bytes())).into_owned()
    }

    fn event(&mut self, event: Event) -> String {
        self.interp.handle_event(event, self.now);
        String::from_utf8_lossy(&self.collect()).into_owned()
    }

    /// Fires every pending timer (oldest first), returning the output.
    fn fire(&mut self) -> String {
        let timers = std::mem::take(&mut self.timers);
        let mut out = String::new();
        for timer in timers {
            out += &self.event(Event::Timer(timer));
        }
        out
    }

    fn joined() -> Module {
        let mut m = Module::quiet();
        m.send("AT+WSET=0,testnet\r");
        m.send("AT+WSEC=0,,12345678\r");
        m.send("AT+WJOIN\r");
        m.fire();
        m
    }

    /// A joined module with socket 0 connected to 127.0.0.1:5000.
    fn connected() -> Module {
        let mut m = Module::joined();
        m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r");
        m.event(Event::Connected {
            sid: 0,
            local_port: 40000,
        });
        m
    }

    fn sent(&self) -> Vec<u8> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { data, .. } => Some(data.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

#[test]
fn at_is_echoed_and_answered_ok() {
    let mut m = Module::new();
    assert_eq!(m.send("AT\r"), "AT\r\n[OK]\r\n");
    assert_eq!(m.send("at\r"), "at\r\n[OK]\r\n");
}

#[test]
fn unknown_commands_and_garbage_are_invalid_input() {
    let mut m = Module::new();
    assert_eq!(m.send("AT+NOPE\r"), "AT+NOPE\r\n[ERROR: INVALID INPUT]\r\n");
    assert_eq!(m.send("hello\r"), "hello\r\n[ERROR: INVALID INPUT]\r\n");
    assert_eq!(
        m.send("AT+MECHO=7\r"),
        "AT+MECHO=7\r\n[ERROR: INVALID INPUT]\r\n"
    );
}

#[test]
fn echo_can_be_turned_off_and_queried() {
    let mut m = Module::new();
    assert_eq!(m.send("AT+MECHO=0\r"), "AT+MECHO=0\r\n[OK]\r\n");
    assert_eq!(m.send("AT\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+MECHO=?\r"), "0\r\n[OK]\r\n");
}

#[test]
fn input_split_across_reads_and_lf_after_cr_are_handled() {
    let mut m = Module::quiet();
    assert_eq!(m.send("A"), "");
    assert_eq!(m.send("T\r\nAT\r"), "[OK]\r\n[OK]\r\n");
}

#[test]
fn mac_is_printed_set_and_checked() {
    let mut m = Module::quiet();
    assert_eq!(m.send("AT+MMAC=?\r"), "00:08:DC:1E:32:22\r\n[OK]\r\n");
    assert_eq!(m.send("AT+MMAC=00:08:DC:11:22:33\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+MMAC=?\r"), "00:08:DC:11:22:33\r\n[OK]\r\n");
    assert_eq!(m.send("AT+MMAC=00:08\r"), "[ERROR: INVALID INPUT]\r\n");
}

#[test]
fn minfo_prints_versions() {
    let mut m = Module::quiet();
    assert_eq!(
        m.send("AT+MINFO\r"),
        "FW version / HW version\r\n1.1.1.0 / WizFi310 Rev 1.0\r\n[OK]\r\n"
    );
}

#[test]
fn mmsg_level_one_hides_status_lines() {
    let mut m = Module::quiet();
    assert_eq!(m.send("AT+MMSG=?\r"), "2\r\n[OK]\r\n");
    assert_eq!(m.send("AT+MMSG=4\r"), "[ERROR: INVALID INPUT]\r\n");
    assert_eq!(m.send("AT+MMSG=1\r"), "");
    assert_eq!(m.send("AT+MMSG=?\r"), "1\r\n");
}

#[test]
fn socket_commands_before_join_are_a_wifi_status_error() {
    let mut m = Module::quiet();
    assert_eq!(
        m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r"),
        "[ERROR: WiFi Status]\r\n"
    );
    assert_eq!(m.send("AT+SSEND=0,,,5\r"), "[ERROR: WiFi Status]\r\n");
    assert_eq!(m.send("AT+WLEAVE\r"), "[ERROR: WiFi Status]\r\n");
}

#[test]
fn join_with_the_right_passphrase_links_up() {
    let mut m = Module::quiet();
    assert_eq!(m.send("AT+WSET=0,testnet\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+WSEC=0,,12345678\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+WNET=1\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+WJOIN\r"), "Joining : testnet\r\n");
    assert_eq!(
        m.fire(),
        "Successfully joined : testnet\r\n\r\n[Link-Up Event]\r\n  IP Addr    : 192.168.1.4\r\n  Gateway    : 192.168.1.1\r\n[OK]\r\n"
    );
    assert_eq!(m.send("AT+WJOIN\r"), "Already Associated : STA\r\n[OK]\r\n");
    assert_eq!(m.send("AT+WSET=?\r"), "0,testnet,,\r\n[OK]\r\n");
    assert_eq!(m.send("AT+WSEC=?\r"), "0,,12345678\r\n[OK]\r\n");
    assert_eq!(m.send("AT+WLEAVE\r"), "\r\n[Link-Down Event]\r\n[OK]\r\n");
}

#[test]
fn join_with_a_wrong_passphrase_fails() {
    let mut m = Module::quiet();
    m.send("AT+WSET=0,testnet\r");
    m.send("AT+WSEC=0,,87654321\r");
    assert_eq!(m.send("AT+WJOIN\r"), "Joining : testnet\r\n");
    assert_eq!(m.fire(), "[ERROR]\r\n");
    assert_eq!(
        m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r"),
        "[ERROR: WiFi Status]\r\n"
    );
}

#[test]
fn joins_fail_while_the_access_point_is_off_the_air() {
    let mut m = Module::quiet();
    m.send("AT+WSET=0,testnet\r");
    m.send("AT+WSEC=0,,12345678\r");
    m.board.with(|v| v.ap_on_air = false);
    assert_eq!(m.send("AT+WJOIN\r"), "Joining : testnet\r\n");
    assert_eq!(m.fire(), "[ERROR]\r\n");
    m.board.with(|v| v.ap_on_air = true);
    m.send("AT+WJOIN\r");
    assert!(m.fire().contains("[Link-Up Event]"));
}

#[test]
fn wifi_parameters_are_checked() {
    let mut m = Module::quiet();
    assert_eq!(m.send("AT+WSET=2,x\r"), "[ERROR: INVALID INPUT]\r\n");
    assert_eq!(m.send("AT+WSET=0,\r"), "[ERROR: INVALID INPUT]\r\n");
    assert_eq!(
        m.send("AT+WSEC=0,WPA2,short\r"),
        "[ERROR: INVALID INPUT]\r\n"
    );
    assert_eq!(
        m.send("AT+WSEC=0,FOO,12345678\r"),
        "[ERROR: INVALID INPUT]\r\n"
    );
    assert_eq!(m.send("AT+WNET=0,1.2.3\r"), "[ERROR: INVALID INPUT]\r\n");
    assert_eq!(
        m.send("AT+WNET=0,192.168.1.50,255.255.255.0,192.168.1.1\r"),
        "[OK]\r\n"
    );
    assert_eq!(
        m.send("AT+WNET=?\r"),
        "0,192.168.1.50,255.255.255.0,192.168.1.1\r\n[OK]\r\n"
    );
}

#[test]
fn input_typed_while_joining_is_held_and_replayed() {
    let mut m = Module::quiet();
    m.send("AT+WSET=0,testnet\r");
    m.send("AT+WSEC=0,,12345678\r");
    m.send("AT+WJOIN\r");
    assert_eq!(m.send("AT\r"), "");
    assert!(m.fire().ends_with("[OK]\r\n[OK]\r\n"));
}

#[test]
fn wstat_shows_the_link_and_rssi() {
    let mut m = Module::joined();
    m.board.with(|v| v.rssi = -61);
    assert_eq!(
        m.send("AT+WSTAT\r"),
        "IF/SSID/IP-Addr/Gateway/MAC/TxPower(dBm)/RSSI(-dBm)\r\nSTA/testnet/192.168.1.4/192.168.1.1/00:08:DC:1E:32:22/15/-61\r\n[OK]\r\n"
    );
}

#[test]
fn scon_connects_then_announces_the_socket() {
    let mut m = Module::joined();
    assert_eq!(m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r"), "");
    assert_eq!(
        m.actions,
        vec![Action::Connect {
            sid: 0,
            remote: "127.0.0.1:5000".parse().unwrap(),
            local_port: 0
        }]
    );
    let out = m.event(Event::Connected {
        sid: 0,
        local_port: 40000,
    });
    assert_eq!(out, "[OK]\r\n\r\n[CONNECT 0]\r\n");
    assert_eq!(m.send("AT+SCON=?\r"), "O,TCN,127.0.0.1,5000,,0\r\n[OK]\r\n");
    assert_eq!(
        m.send("AT+SMGMT=?\r"),
        "Number of Sockets : 1 (SCID/Socket/Mode/Remote/Local/DataMode)\r\n0,1,TCN,127.0.0.1,5000,40000,0\r\n[OK]\r\n"
    );
}

#[test]
fn a_refused_connection_is_an_error() {
    let mut m = Module::joined();
    m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r");
    assert_eq!(m.event(Event::ConnectFailed { sid: 0 }), "[ERROR]\r\n");
    assert_eq!(m.send("AT+SSEND=0,,,1\r"), "[ERROR: INVALID SCID]\r\n");
}

#[test]
fn scon_parameters_are_checked() {
    let mut m = Module::joined();
    assert_eq!(
        m.send("AT+SCON=X,TCN,127.0.0.1,5000,,0\r"),
        "[ERROR: INVALID INPUT]\r\n"
    );
    assert_eq!(
        m.send("AT+SCON=O,TCN,127.0.0.1,0,,0\r"),
        "[ERROR: INVALID INPUT]\r\n"
    );
    assert_eq!(
        m.send("AT+SCON=O,TCN,localhost,5000,,0\r"),
        "[ERROR: INVALID INPUT]\r\n"
    );
    assert_eq!(m.send("AT+SCON=O,UCN,127.0.0.1,5000,,0\r"), "[ERROR]\r\n");
}

#[test]
fn eight_sockets_at_most() {
    let mut m = Module::joined();
    for sid in 0..8 {
        m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r");
        let out = m.event(Event::Connected {
            sid,
            local_port: 40000 + u16::from(sid),
        });
        assert_eq!(out, format!("[OK]\r\n\r\n[CONNECT {sid}]\r\n"));
    }
    assert_eq!(m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r"), "[ERROR]\r\n");
}

#[test]
fn ssend_reads_exactly_len_raw_bytes() {
    let mut m = Module::connected();
    let out = m.input(b"AT+SSEND=0,,,7\r");
    assert_eq!(out, b"[0,,,7]\r\n");
    let out = m.input(b"a\r\n{}\r");
    assert_eq!(out, b"");
    let out = m.input(b"\nAT\r");
    assert_eq!(out, b"[OK]\r\n[OK]\r\n");
    assert_eq!(m.sent(), b"a\r\n{}\r\n");
}

#[test]
fn silent_ssend_prompt_prints_nothing_before_the_payload() {
    let mut m = Module::with(SimConfig {
        ssend_prompt: crate::SsendPrompt::Silent,
        ..SimConfig::default()
    });
    m.send("AT+MECHO=0\r");
    m.send("AT+WSET=0,testnet\r");
    m.send("AT+WSEC=0,,12345678\r");
    m.send("AT+WJOIN\r");
    m.fire();
    m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r");
    m.event(Event::Connected {
        sid: 0,
        local_port: 1,
    });
    assert_eq!(m.send("AT+SSEND=0,,,2\rhi"), "[OK]\r\n");
    assert_eq!(m.sent(), b"hi");
}

#[test]
fn ssend_checks_the_socket_id() {
    let mut m = Module::connected();
    assert_eq!(m.send("AT+SSEND=9,,,5\r"), "[ERROR: INVALID SCID]\r\n");
    assert_eq!(m.send("AT+SSEND=3,,,5\r"), "[ERROR: INVALID SCID]\r\n");
    assert_eq!(m.send("AT+SSEND=0,,,0\r"), "[ERROR: INVALID INPUT]\r\n");
    assert_eq!(m.send("AT+SSEND=0\r"), "[ERROR: INVALID INPUT]\r\n");
}

#[test]
fn ssend_payload_timeout_is_an_error() {
    let mut m = Module::connected();
    m.send("AT+SSEND=0,,,5,100\r");
    m.send("ab");
    assert_eq!(m.fire(), "[ERROR]\r\n");
    assert!(m.sent().is_empty());
}

#[test]
fn received_data_is_framed_binary_safe() {
    let mut m = Module::connected();
    let data = Bytes::from_static(b"{1,x}\r\n\x00\xff");
    let out = m.interp_receive(0, data.clone());
    let mut expected = b"{0,127.0.0.1,5000,9}".to_vec();
    expected.extend_from_slice(&data);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(out, expected);
}

impl Module {
    fn interp_receive(&mut self, sid: u8, data: Bytes) -> Vec<u8> {
        self.interp
            .handle_event(Event::Received { sid, data }, self.now);
        self.collect()
    }
}

#[test]
fn large_reads_are_split_into_records() {
    let mut m = Module::with(SimConfig {
        recv_chunk: 4,
        ..SimConfig::default()
    });
    m.send("AT+MECHO=0\r");
    m.send("AT+WSET=0,testnet\r");
    m.send("AT+WSEC=0,,12345678\r");
    m.send("AT+WJOIN\r");
    m.fire();
    m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r");
    m.event(Event::Connected {
        sid: 0,
        local_port: 1,
    });
    let out = m.interp_receive(0, Bytes::from_static(b"abcdef"));
    assert_eq!(
        out,
        b"{0,127.0.0.1,5000,4}abcd\r\n{0,127.0.0.1,5000,2}ef\r\n".to_vec()
    );
}

#[test]
fn peer_close_prints_disconnect_and_frees_the_id() {
    let mut m = Module::connected();
    assert_eq!(
        m.event(Event::PeerClosed { sid: 0 }),
        "\r\n[DISCONNECT 0]\r\n"
    );
    assert_eq!(m.send("AT+SSEND=0,,,5\r"), "[ERROR: INVALID SCID]\r\n");
    assert_eq!(m.send("AT+SMGMT=0\r"), "[ERROR: INVALID SCID]\r\n");
}

#[test]
fn smgmt_closes_one_or_all() {
    let mut m = Module::connected();
    assert_eq!(m.send("AT+SMGMT=0\r"), "\r\n[DISCONNECT 0]\r\n[OK]\r\n");
    assert_eq!(m.actions, vec![Action::Close { sid: 0 }]);
    assert_eq!(m.send("AT+SMGMT=ALL\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+SMGMT=x\r"), "[ERROR: INVALID INPUT]\r\n");
}

#[test]
fn sform_changes_the_receive_header() {
    let mut m = Module::connected();
    assert_eq!(
        m.send("AT+SFORM=?\r"),
        "111111111,7B,2C,7D,0D,0A\r\n[OK]\r\n"
    );
    assert_eq!(m.send("AT+SFORM=101100110,5B,2F,5D,0D,00\r"), "[OK]\r\n");
    let out = m.interp_receive(0, Bytes::from_static(b"hi"));
    assert_eq!(out, b"[127.0.0.1]hi\r".to_vec());
    assert_eq!(m.send("AT+SFORM=1\r"), "[ERROR: INVALID INPUT]\r\n");
}

#[test]
fn adc_and_gpio_follow_the_board() {
    let mut m = Module::quiet();
    m.board.with(|v| v.adc = 1234);
    assert_eq!(m.send("AT+FGETADC=?\r"), "1234\r\n[OK]\r\n");
    assert_eq!(m.send("AT+FGETADC\r"), "[ERROR: INVALID INPUT]\r\n");
    assert_eq!(m.send("AT+FGPIO=?\r"), "3,4\r\n[OK]\r\n");
    m.board.with(|v| v.pin_mut(3).unwrap().external = true);
    assert_eq!(m.send("AT+FGPIO=3,2,0\r"), "1\r\n[OK]\r\n");
    assert_eq!(m.send("AT+FGPIO=4,3,1\r"), "[ERROR]\r\n");
    assert_eq!(m.send("AT+FGPIO=4,1,0\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+FGPIO=4,3,1\r"), "[OK]\r\n");
    assert!(m.board.with(|v| v.pin_mut(4).unwrap().level()));
    assert_eq!(m.send("AT+FGPIO=5,2,0\r"), "[ERROR: INVALID INPUT]\r\n");
}

#[test]
fn uset_changes_the_line_rate_after_ok() {
    let mut m = Module::quiet();
    assert_eq!(m.send("AT+USET=?\r"), "115200,N,8,1,N\r\n[OK]\r\n");
    assert_eq!(m.send("AT+USET=921600,N,8,1,HW\r"), "[OK]\r\n");
    assert_eq!(m.actions, vec![Action::SetBaud(921_600)]);
    assert_eq!(
        m.send("AT+USET=1000,N,8,1,N\r"),
        "[ERROR: INVALID INPUT]\r\n"
    );
}

#[test]
fn data_mode_passes_bytes_and_escapes_on_guarded_plus() {
    let mut m = Module::joined();
    m.send("AT+SCON=O,TCN,127.0.0.1,5000,,1\r");
    m.event(Event::Connected {
        sid: 0,
        local_port: 1,
    });
    assert!(m.interp.in_data_mode());
    assert_eq!(m.send("a+++b\r"), "");
    assert_eq!(m.sent(), b"a+++b\r");
    let guard = Duration::from_millis(1000);
    m.now += guard;
    m.timers.clear();
    assert_eq!(m.send("+++"), "");
    assert_eq!(m.fire(), "[OK]\r\n");
    assert!(!m.interp.in_data_mode());
    // Received data in command mode is framed; AT+SCON is refused.
    assert_eq!(
        m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r"),
        "[ERROR: Mode Status]\r\n"
    );
    assert_eq!(m.send("AT+SDATA\r"), "[OK]\r\n");
    assert!(m.interp.in_data_mode());
    let out = m.interp_receive(0, Bytes::from_static(b"raw"));
    assert_eq!(out, b"raw".to_vec());
}

#[test]
fn pluses_followed_by_data_are_data() {
    let mut m = Module::joined();
    m.send("AT+SCON=O,TCN,127.0.0.1,5000,,1\r");
    m.event(Event::Connected {
        sid: 0,
        local_port: 1,
    });
    m.timers.clear();
    assert_eq!(m.send("++"), "");
    assert!(m.sent().is_empty());
    m.fire();
    assert_eq!(m.sent(), b"++");
}

#[test]
fn data_mode_socket_close_returns_to_command_mode() {
    let mut m = Module::joined();
    m.send("AT+SCON=O,TCN,127.0.0.1,5000,,1\r");
    m.event(Event::Connected {
        sid: 0,
        local_port: 1,
    });
    assert_eq!(
        m.event(Event::PeerClosed { sid: 0 }),
        "\r\n[DISCONNECT 0]\r\n"
    );
    assert_eq!(m.send("AT\r"), "[OK]\r\n");
}

#[test]
fn mreset_reboots_after_ok() {
    let mut m = Module::connected();
    assert_eq!(m.send("AT+MRESET\r"), "[OK]\r\n");
    assert_eq!(m.send("AT\r"), "", "input during the reboot is lost");
    assert_eq!(m.board.with(|v| v.boots), 0);
    assert_eq!(m.fire(), "\r\n[Reset Event]\r\n");
    assert_eq!(m.board.with(|v| v.boots), 1, "the reboot is counted");
    assert!(m.actions.contains(&Action::Close { sid: 0 }));
    assert_eq!(m.send("AT\r"), "AT\r\n[OK]\r\n", "echo is back on");
    assert_eq!(
        m.send("AT+SSEND=0,,,1\r"),
        "AT+SSEND=0,,,1\r\n[ERROR: WiFi Status]\r\n"
    );
    assert_eq!(
        m.send("AT+WSET=?\r"),
        "AT+WSET=?\r\n0,testnet,,\r\n[OK]\r\n"
    );
}

#[test]
fn drop_fault_swallows_one_response() {
    let mut m = Module::new();
    m.event(Event::Fault(Fault::DropNextResponse));
    assert_eq!(m.send("AT+MMAC=?\r"), "AT+MMAC=?\r\n");
    assert_eq!(m.send("AT\r"), "AT\r\n[OK]\r\n");
}

#[test]
fn delay_fault_pauses_before_the_response() {
    let mut m = Module::quiet();
    let d = Duration::from_millis(300);
    m.event(Event::Fault(Fault::DelayNextResponse(d)));
    m.interp.handle_input(b"AT\r", m.now);
    let actions = m.interp.take_actions();
    assert_eq!(
        actions,
        vec![
            Action::Pause(d),
            Action::Write(Bytes::from_static(b"[OK]\r\n"))
        ]
    );
}

#[test]
fn garble_fault_corrupts_one_line() {
    let mut m = Module::quiet();
    m.event(Event::Fault(Fault::GarbleNextLine));
    let out = m.input(b"AT\r");
    assert_eq!(out, b"\xffKO[\r\n".to_vec());
    assert_eq!(m.send("AT\r"), "[OK]\r\n");
}

#[test]
fn fault_plan_recurs_by_count() {
    let mut m = Module::with(SimConfig {
        fault_plan: crate::FaultPlan {
            drop_every: std::num::NonZeroU32::new(2),
            ..Default::default()
        },
        ..SimConfig::default()
    });
    assert_eq!(m.send("AT\r"), "AT\r\n[OK]\r\n");
    assert_eq!(m.send("AT\r"), "AT\r\n");
    assert_eq!(m.send("AT\r"), "AT\r\n[OK]\r\n");
}

#[test]
fn reset_fault_drops_everything() {
    let mut m = Module::connected();
    assert_eq!(
        m.event(Event::Fault(Fault::ResetEvent)),
        "\r\n[Reset Event]\r\n"
    );
    assert!(m.actions.contains(&Action::Close { sid: 0 }));
    assert!(m.actions.contains(&Action::Gmmp(GmmpCommand::Stop)));
}

#[test]
fn link_down_fault_closes_sockets() {
    let mut m = Module::connected();
    assert_eq!(
        m.event(Event::Fault(Fault::LinkDown)),
        "\r\n[Link-Down Event]\r\n\r\n[DISCONNECT 0]\r\n"
    );
    assert_eq!(m.send("AT+SSEND=0,,,1\r"), "[ERROR: WiFi Status]\r\n");
}

#[test]
fn close_socket_fault_disconnects() {
    let mut m = Module::connected();
    assert_eq!(
        m.event(Event::Fault(Fault::CloseSocket(0))),
        "\r\n[DISCONNECT 0]\r\n"
    );
    assert_eq!(m.actions, vec![Action::Close { sid: 0 }]);
}

#[test]
fn gmmp_commands_are_checked_and_handed_over() {
    let mut m = Module::quiet();
    let set = "AT+GMMPSET=1,127.0.0.1,31002,ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222\r";
    assert_eq!(m.send(set), "[ERROR: WiFi Status]\r\n");
    let mut m = Module::joined();
    assert_eq!(m.send(set), "[OK]\r\n");
    assert_eq!(
        m.actions,
        vec![Action::Gmmp(GmmpCommand::Start(GmmpServer {
            ip: "127.0.0.1".parse().unwrap(),
            port: 31002,
            domain: "ThingPlug".into(),
            auth_id: "0008dc1e3222".into(),
            gw_manufacture_id: "WIZnet".into(),
            device_manufacture_id: "0008dc1e3222".into(),
        }))]
    );
    assert_eq!(m.send("AT+GMMPDATA=0,a,b\r"), "[OK]\r\n");
    assert_eq!(
        m.actions,
        vec![Action::Gmmp(GmmpCommand::StoreData(Bytes::from_static(
            b"a,b"
        )))]
    );
    assert_eq!(m.send("AT+GMMPOPT=12,5\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+GMMPOPT=12\r"), "5\r\n[OK]\r\n");
    assert_eq!(m.send("AT+GMMPOPT=10,0\r"), "0,0\r\n[OK]\r\n");
    assert_eq!(m.send("AT+GMMPOPT=10,1,1,1\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+GMMPOPT=13,1\r"), "[ERROR: INVALID INPUT]\r\n");
    assert_eq!(
        m.send("AT+GMMPSET=1,127.0.0.1,31002,ThingPlug123,a,b,c\r"),
        "[ERROR: INVALID INPUT]\r\n"
    );
    assert_eq!(m.send("AT+GMMPSET=0\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+GMMPDATA=1,now\r"), "[ERROR]\r\n");
}

#[test]
fn gmmp_traces_need_level_three_and_the_option() {
    let mut m = Module::quiet();
    let trace =
        |m: &mut Module| m.event(Event::Gmmp(GmmpLine::Debug("GMMP Trace :  T-ID =1".into())));
    assert_eq!(trace(&mut m), "");
    m.send("AT+MMSG=3\r");
    assert_eq!(trace(&mut m), "");
    m.send("AT+GMMPOPT=10,1,1,1\r");
    assert_eq!(trace(&mut m), "GMMP Trace :  T-ID =1\r\n");
    assert_eq!(
        m.event(Event::Gmmp(GmmpLine::Event("[GMMP Connect]".into()))),
        "\r\n[GMMP Connect]\r\n"
    );
}

#[test]
fn the_remote_of_a_record_is_the_peer() {
    // Kept apart so the record header's peer is visibly the SCON target.
    let peer: SocketAddrV4 = "127.0.0.1:5000".parse().unwrap();
    let mut m = Module::connected();
    let out = m.interp_receive(0, Bytes::from_static(b"x"));
    assert_eq!(
        out,
        format!("{{0,{},{},1}}x\r\n", peer.ip(), peer.port()).into_bytes()
    );
}

#[test]
fn a_service_socket_opens_on_join_without_ok() {
    let mut m = Module::quiet();
    assert_eq!(m.send("AT+SCON=S,TCN,127.0.0.1,5000,,0\r"), "[OK]\r\n");
    assert!(m.actions.is_empty());
    m.send("AT+WSET=0,testnet\r");
    m.send("AT+WSEC=0,,12345678\r");
    m.send("AT+WJOIN\r");
    assert!(m.fire().ends_with("[OK]\r\n"));
    assert_eq!(
        m.actions,
        vec![Action::Connect {
            sid: 0,
            remote: "127.0.0.1:5000".parse().unwrap(),
            local_port: 0
        }]
    );
    assert_eq!(
        m.event(Event::Connected {
            sid: 0,
            local_port: 1
        }),
        "\r\n[CONNECT 0]\r\n"
    );
}

#[test]
fn sopt1_sets_the_escape_guard() {
    let mut m = Module::joined();
    assert_eq!(m.send("AT+SOPT1=10,500\r"), "[OK]\r\n");
    assert_eq!(m.send("AT+SOPT1=10,0\r"), "[ERROR: INVALID INPUT]\r\n");
    assert_eq!(m.send("AT+SOPT1=11,5\r"), "[ERROR: INVALID INPUT]\r\n");
    m.send("AT+SCON=O,TCN,127.0.0.1,5000,,1\r");
    m.event(Event::Connected {
        sid: 0,
        local_port: 1,
    });
    m.timers.clear();
    m.send("+++");
    assert!(m.actions.contains(&Action::Schedule {
        after: Duration::from_millis(500),
        timer: m.timers[0],
    }));
}

#[test]
fn link_down_while_connecting_fails_the_scon() {
    let mut m = Module::joined();
    m.send("AT+SCON=O,TCN,127.0.0.1,5000,,0\r");
    assert_eq!(m.send("AT\r"), "", "held while connecting");
    assert_eq!(
        m.event(Event::Fault(Fault::LinkDown)),
        "\r\n[Link-Down Event]\r\n[ERROR]\r\n[OK]\r\n"
    );
    assert!(m.actions.contains(&Action::Close { sid: 0 }));
    assert_eq!(
        m.event(Event::Connected {
            sid: 0,
            local_port: 1
        }),
        ""
    );
}

#[test]
fn a_line_keeps_the_first_255_bytes_as_the_firmware_buffer_does() {
    let mut m = Module::quiet();
    let prefix = "AT+GMMPDATA=0,";
    let long = format!("{prefix}{}\r", "x".repeat(COMMAND_BUFFER + 10));
    assert_eq!(m.send(&long), "[OK]\r\n", "the kept part runs");
    let kept = COMMAND_BUFFER - prefix.len();
    assert_eq!(kept, 241, "the most data AT+GMMPDATA can carry");
    assert_eq!(
        m.actions,
        vec![Action::Gmmp(GmmpCommand::StoreData(Bytes::from(
            "x".repeat(kept)
        )))]
    );
    assert_eq!(m.send("AT\r"), "[OK]\r\n");
}

#[test]
fn gmmp_data_ends_at_a_nul_and_keeps_other_bytes_as_typed() {
    let mut m = Module::joined();
    m.send("AT+GMMPSET=1,127.0.0.1,31002,ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222\r");
    m.actions.clear();
    assert_eq!(m.input(b"AT+GMMPDATA=1,ab\0cd\r"), b"[OK]\r\n");
    assert_eq!(
        m.actions,
        vec![Action::Gmmp(GmmpCommand::SendNow(Bytes::from_static(
            b"ab"
        )))]
    );
    assert_eq!(m.input(b"AT+GMMPDATA=0,\xe9t\xe9\r"), b"[OK]\r\n");
    assert_eq!(
        m.actions,
        vec![Action::Gmmp(GmmpCommand::StoreData(Bytes::from_static(
            b"\xe9t\xe9"
        )))]
    );
    assert_eq!(
        m.input(b"AT+GMMPDATA=1,\0cd\r"),
        b"[ERROR: INVALID INPUT]\r\n",
        "nothing before the NUL"
    );
}

#[test]
fn mac_and_firmware_come_from_the_board() {
    let mut m = Module::quiet();
    m.board.with(|v| {
        v.mac = [0, 1, 2, 3, 4, 5];
        v.fw_version = "9.9.9.9".into();
    });
    assert_eq!(m.send("AT+MMAC=?\r"), "00:01:02:03:04:05\r\n[OK]\r\n");
    assert!(m.send("AT+MINFO\r").contains("9.9.9.9 / "));
    m.send("AT+MMAC=00:08:DC:00:00:01\r");
    assert_eq!(m.board.with(|v| v.mac), [0, 8, 0xDC, 0, 0, 1]);
}
