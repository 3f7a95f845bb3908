//! Socket 0 in command mode: open, send, receive, close, and its faults.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;

use super::Bench;
use crate::config::SimConfig;
use crate::control::Fault;
use crate::interpreter::{Action, Event, Timer};

fn peer() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5000)
}

/// A module with socket 0 connected to 127.0.0.1:5000 from port 2000.
fn connected() -> Bench {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT+NOPEN=C,,127.0.0.1,5000"), "[W,0]\r\n");
    assert_eq!(
        b.take(),
        vec![Action::Connect {
            remote: peer(),
            local_port: 0
        }]
    );
    b.event(Event::Connected { local_port: 40000 });
    assert_eq!(b.text(), "[S,0]\r\n");
    b
}

#[test]
fn nopen_connects_and_nsock_shows_the_socket() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT+NSOCK"), "[D,,0]\r\n");
    assert_eq!(b.command("AT+NOPEN=C,,127.0.0.1,5000"), "[W,0]\r\n");
    assert_eq!(b.command("AT+NSOCK"), "[D,,8]\r\n0,C,2000\r\n");
    assert_eq!(
        b.command("AT+NSEND=0,5"),
        "[F,,7]\r\n",
        "busy while connecting"
    );
    assert_eq!(b.command("AT+NCLOSE=0"), "[F,,7]\r\n");
    b.event(Event::Connected { local_port: 40000 });
    assert_eq!(b.text(), "[S,0]\r\n");
    assert_eq!(
        b.command("AT+NSOCK?"),
        "[D,,23]\r\n0,C,2000,127.0.0.1,5000\r\n"
    );
    assert_eq!(b.command("AT+NSOCK=0"), "[S,,C,2000,127.0.0.1,5000]\r\n");
    assert_eq!(b.command("AT+NOPEN=C,2000,127.0.0.1,5001"), "[F,,12,2]\r\n");
    assert_eq!(b.command("AT+NOPEN=C,3000,127.0.0.1,5001"), "[F,,10]\r\n");
}

#[test]
fn nopen_checks_its_arguments() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT+NOPEN=C,,localhost,5000"), "[F,,3,3]\r\n");
    assert_eq!(b.command("AT+NOPEN=C,,127.0.0.1,0"), "[F,,3,4]\r\n");
    assert_eq!(b.command("AT+NOPEN=C,,127.0.0.1,5000,1"), "[F,,3,5]\r\n");
    assert_eq!(b.command("AT+NOPEN=X,,127.0.0.1,5000"), "[F,,3,1]\r\n");
    assert_eq!(b.command("AT+NOPEN?"), "[F,,6]\r\n");
    assert_eq!(b.command("AT+NOPEN=S,5000,,"), "[F,,5]\r\n");
    assert_eq!(b.command("AT+NOPEN=A"), "[F,,5]\r\n", "working mode S");
    assert!(b.take().is_empty());
}

#[test]
fn nopen_a_uses_the_data_mode_target_and_a_given_port_is_bound_when_asked() {
    let mut b = Bench::new(SimConfig {
        boot_mode: crate::BootMode::Command,
        bind_source_port: true,
        ..SimConfig::default()
    });
    b.command("AT+MMODE=C,6000,127.0.0.1,7000");
    assert_eq!(b.command("AT+NOPEN=A"), "[W,0]\r\n");
    assert_eq!(
        b.take(),
        vec![Action::Connect {
            remote: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7000),
            local_port: 6000
        }]
    );
}

#[test]
fn a_failed_connect_is_a_timeout_for_socket_0() {
    let mut b = Bench::command_mode();
    b.command("AT+NOPEN=C,,127.0.0.1,5000");
    b.event(Event::ConnectFailed);
    assert_eq!(b.text(), "[F,0,8]\r\n");
    assert_eq!(b.command("AT+NSOCK"), "[D,,0]\r\n");
}

#[test]
fn nsend_takes_exactly_len_raw_bytes() {
    let mut b = connected();
    assert_eq!(b.command("AT+NSEND=0,10"), "[W,0]\r\n");
    let payload = b"a\r\n\0[S]\r\nA";
    b.input(&payload[..4]);
    assert_eq!(b.text(), "");
    b.input(&payload[4..]);
    assert_eq!(b.text(), "", "no answer until the socket has the record");
    assert_eq!(
        b.take(),
        vec![Action::SendRecord(Bytes::from_static(payload))]
    );
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n");
    assert_eq!(b.command("AT"), "[S]\r\n", "back to command lines");
}

#[test]
fn a_payload_and_the_next_command_may_come_in_one_write() {
    let mut b = connected();
    b.input(b"AT+NSEND=0,3\r\nxyzAT\r\n");
    assert_eq!(b.text(), "[W,0]\r\n", "AT waits in the ring");
    assert_eq!(
        b.take(),
        vec![Action::SendRecord(Bytes::from_static(b"xyz"))]
    );
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n[S]\r\n");
}

#[test]
fn the_next_nsend_queued_behind_a_record_is_answered_after_its_s_0() {
    let mut b = connected();
    assert_eq!(b.command("AT+NSEND=0,3"), "[W,0]\r\n");
    b.input(b"abcAT+NSEND=0,4\r\n");
    b.input(b"AT\r\n");
    assert_eq!(b.text(), "", "busy with the record: the rest waits");
    assert_eq!(
        b.take(),
        vec![Action::SendRecord(Bytes::from_static(b"abc"))]
    );
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n[W,0]\r\n");
    assert_eq!(
        b.take(),
        vec![Action::SendRecord(Bytes::from_static(b"AT\r\n"))],
        "the bytes behind the queued line are its record, not a command"
    );
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n");
    assert_eq!(b.interp.input_lost(), 0);
}

#[test]
fn records_queued_in_the_ring_are_answered_in_order_up_to_a_refused_line() {
    let mut b = connected();
    b.command("AT+NSEND=0,2");
    b.input(b"xyAT+NSEND=0,2\r\nzwAT+NSEND=0,2000\r\n");
    assert_eq!(b.text(), "");
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n[W,0]\r\n");
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n[F,,4,2]\r\n");
    assert_eq!(
        b.take(),
        vec![
            Action::SendRecord(Bytes::from_static(b"xy")),
            Action::SendRecord(Bytes::from_static(b"zw"))
        ]
    );
    assert_eq!(b.command("AT"), "[S]\r\n");
}

#[test]
fn input_beyond_the_ring_while_a_record_is_sent_is_lost() {
    let mut b = connected();
    b.command("AT+NSEND=0,1");
    b.input(b"!");
    // 1,024 bytes fit: a line and its record's bytes.
    let mut ahead = b"AT+NSEND=0,1008\r\n".to_vec();
    ahead.extend_from_slice(&[b'a'; 1008]);
    assert_eq!(ahead.len(), 1025);
    b.input(&ahead);
    assert_eq!(b.interp.input_lost(), 1, "the last byte did not fit");
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n[W,0]\r\n");
    b.input(b"b");
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n");
    let Action::SendRecord(second) = b.take().pop().unwrap() else {
        panic!("a record")
    };
    assert_eq!(second.len(), 1008);
    assert_eq!(second.last(), Some(&b'b'), "the lost byte's place is taken");
}

#[test]
fn nsend_checks_length_socket_and_state() {
    let mut b = Bench::command_mode();
    assert_eq!(b.command("AT+NSEND=0,5"), "[F,,11]\r\n");
    let mut b = connected();
    assert_eq!(b.command("AT+NSEND=0,1025"), "[F,,4,2]\r\n");
    assert_eq!(b.command("AT+NSEND=0,0"), "[F,,4,2]\r\n");
    assert_eq!(b.command("AT+NSEND=0,x"), "[F,,4,2]\r\n");
    assert_eq!(b.command("AT+NSEND=1,5"), "[F,,4,1]\r\n");
    assert_eq!(b.command("AT+NSEND=0,5,127.0.0.1,5000"), "[F,,3,3]\r\n");
    assert_eq!(b.command("AT+NSEND=0,5,,5000"), "[F,,3,4]\r\n");
    assert_eq!(b.command("AT+NSEND"), "[F,,2]\r\n");
    assert_eq!(b.command("AT+NSEND=0,1024"), "[W,0]\r\n");
}

#[test]
fn a_busy_transmit_buffer_reports_its_free_space() {
    let mut b = connected();
    b.event(Event::Fault(Fault::BusyBuffer(100)));
    assert_eq!(b.command("AT+NSEND=0,200"), "[F,,7,100]\r\n");
    assert_eq!(b.command("AT+NSEND=0,200"), "[W,0]\r\n", "drained again");
    b.input(&[0u8; 200]);
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[S,0]\r\n");
    b.event(Event::Fault(Fault::BusyBuffer(100)));
    assert_eq!(b.command("AT+NSEND=0,100"), "[W,0]\r\n", "it fits");
}

#[test]
fn received_data_is_framed_in_records_of_at_most_1024_bytes() {
    let mut b = connected();
    let data: Vec<u8> = (0..2500u32).map(|i| (i % 256) as u8).collect();
    b.event(Event::Received(Bytes::from(data.clone())));
    let out = b.output();
    let mut expected = Vec::new();
    for chunk in data.chunks(1024) {
        expected.extend_from_slice(format!("[R,0,{}]\r\n", chunk.len()).as_bytes());
        expected.extend_from_slice(chunk);
        expected.extend_from_slice(b"\r\n");
    }
    assert_eq!(out, expected);
}

#[test]
fn peer_close_prints_v_0_2_and_frees_the_socket() {
    let mut b = connected();
    b.event(Event::PeerClosed);
    assert_eq!(b.text(), "[V,0,2]\r\n");
    assert_eq!(b.command("AT+NSEND=0,5"), "[F,,11]\r\n");
    let mut b = connected();
    b.event(Event::Fault(Fault::PeerClose));
    assert_eq!(b.text(), "[V,0,2]\r\n");
    assert_eq!(
        b.take(),
        vec![Action::Close],
        "the real peer sees the close"
    );
}

#[test]
fn a_peer_gone_during_the_payload_fails_the_send() {
    let mut b = connected();
    b.command("AT+NSEND=0,4");
    b.event(Event::PeerClosed);
    assert_eq!(b.text(), "[V,0,2]\r\n");
    b.input(b"abcd");
    assert_eq!(b.text(), "[F,,13]\r\n");
    assert!(b.take().is_empty(), "nothing to send on");
}

#[test]
fn a_peer_gone_while_the_record_is_handed_over_fails_the_send() {
    let mut b = connected();
    b.command("AT+NSEND=0,4");
    b.input(b"abcdAT\r\n");
    b.event(Event::PeerClosed);
    assert_eq!(b.text(), "[V,0,2]\r\n");
    b.event(Event::SendDone);
    assert_eq!(b.text(), "[F,,13]\r\n[S]\r\n");
}

#[test]
fn nclose_closes_and_moves_the_client_port_on() {
    let mut b = connected();
    assert_eq!(b.command("AT+NCLOSE=0"), "[W,0]\r\n[S,0]\r\n");
    assert_eq!(b.take(), vec![Action::Close]);
    assert_eq!(b.command("AT+NCLOSE=0"), "[F,,11]\r\n");
    assert_eq!(b.command("AT+NCLOSE=1"), "[F,,4,1]\r\n");
    assert_eq!(b.command("AT+NCLOSE"), "[F,,2]\r\n");
    b.command("AT+NOPEN=C,,127.0.0.1,5000");
    assert_eq!(b.command("AT+NSOCK"), "[D,,8]\r\n0,C,2002\r\n");
}

#[test]
fn link_down_closes_the_socket_and_connects_time_out() {
    let mut b = connected();
    b.event(Event::Fault(Fault::LinkDown));
    assert_eq!(b.text(), "[V,0,2]\r\n");
    assert_eq!(b.take(), vec![Action::Close]);
    assert_eq!(b.command("AT+NOPEN=C,,127.0.0.1,5000"), "[W,0]\r\n");
    b.fire(|t| matches!(t, Timer::ConnectTimeout(_)));
    assert_eq!(b.text(), "[F,0,8]\r\n");
    assert!(b.take().is_empty(), "no connection was attempted");
    b.event(Event::Fault(Fault::LinkUp));
    assert_eq!(b.command("AT+NOPEN=C,,127.0.0.1,5000"), "[W,0]\r\n");
    assert!(matches!(b.take()[..], [Action::Connect { .. }]));
}

#[test]
fn a_reset_drops_the_socket_silently_and_boots_in_the_boot_mode() {
    let mut b = connected();
    b.event(Event::Fault(Fault::Reset));
    assert_eq!(b.text(), "");
    assert!(b.actions.contains(&Action::Close));
    b.fire(|t| matches!(t, Timer::Boot(_)));
    b.take();
    assert!(
        !b.interp.in_data_mode(),
        "booted in command mode as configured"
    );
    assert_eq!(b.command("AT+NSOCK"), "[D,,0]\r\n");
    assert_eq!(b.command("AT+NOPEN=C,,127.0.0.1,5000"), "[W,0]\r\n");
    assert_eq!(
        b.command("AT+NSOCK"),
        "[D,,8]\r\n0,C,2000\r\n",
        "port counter restarted"
    );
}

#[test]
fn after_a_reset_a_factory_module_is_in_data_mode_until_plus_plus_plus() {
    let mut b = Bench::new(SimConfig::default());
    b.advance(Duration::from_millis(600));
    b.input(b"+++");
    b.fire(|t| matches!(t, Timer::Escape(_)));
    assert_eq!(b.text(), "\r\n\r\n\r\n[W,0]\r\n[S,0]\r\n");
    assert_eq!(b.command("AT+MRST"), "[S]\r\n");
    b.fire(|t| matches!(t, Timer::Boot(_)));
    assert!(b.interp.in_data_mode());
    assert_eq!(b.command("AT"), "", "command lines are data now");
}

#[test]
fn a_fault_during_the_connect_fails_it() {
    let mut b = Bench::command_mode();
    b.command("AT+NOPEN=C,,127.0.0.1,5000");
    b.take();
    b.event(Event::Fault(Fault::PeerClose));
    assert_eq!(b.text(), "[F,0,8]\r\n");
    assert_eq!(b.take(), vec![Action::Close]);
}

#[test]
fn an_event_line_can_be_garbled() {
    let mut b = connected();
    b.event(Event::Fault(Fault::GarbleNextLine));
    b.event(Event::PeerClosed);
    assert_eq!(b.output(), b"\xff2,0,V[\r\n");
}
