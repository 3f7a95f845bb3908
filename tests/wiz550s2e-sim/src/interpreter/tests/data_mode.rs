//! Data mode: the transparent TCP client and the `+++` escape.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;

use super::Bench;
use crate::config::{SimConfig, WorkingMode};
use crate::control::Fault;
use crate::interpreter::{Action, Event, Timer};

const GUARD: Duration = Duration::from_millis(500);

fn server() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7000)
}

/// A module booted in data mode as a TCP client of 127.0.0.1:7000, connected.
fn client() -> Bench {
    let mut b = Bench::new(SimConfig {
        working_mode: WorkingMode::Client,
        remote: server(),
        ..SimConfig::default()
    });
    assert_eq!(
        b.take(),
        vec![Action::Connect {
            remote: server(),
            local_port: 0
        }]
    );
    b.event(Event::Connected { local_port: 40000 });
    assert_eq!(b.text(), "", "data mode prints no connection events");
    b
}

#[test]
fn bytes_pass_both_ways_untouched() {
    let mut b = client();
    b.input(b"[S]\r\nAT\r\n\0");
    assert_eq!(
        b.take(),
        vec![Action::Send(Bytes::from_static(b"[S]\r\nAT\r\n\0"))]
    );
    b.event(Event::Received(Bytes::from_static(b"\r\n[R,0,1]\xff")));
    assert_eq!(b.output(), b"\r\n[R,0,1]\xff");
}

#[test]
fn plus_plus_plus_between_guard_times_enters_command_mode() {
    let mut b = client();
    b.advance(GUARD);
    b.input(b"+++");
    assert!(!b.actions.iter().any(|a| matches!(a, Action::Send(_))));
    b.fire(|t| matches!(t, Timer::Escape(_)));
    assert_eq!(b.text(), "\r\n\r\n\r\n[W,0]\r\n[S,0]\r\n");
    assert_eq!(
        b.take(),
        vec![Action::Close],
        "the data connection is closed"
    );
    assert_eq!(b.command("AT"), "[S]\r\n");
}

#[test]
fn plus_plus_plus_inside_data_is_data() {
    let mut b = client();
    b.advance(GUARD);
    b.input(b"x+++");
    assert_eq!(b.take(), vec![Action::Send(Bytes::from_static(b"x+++"))]);
    b.advance(GUARD);
    b.input(b"+++");
    b.advance(Duration::from_millis(100));
    b.input(b"y");
    let sent: Vec<Action> = b
        .take()
        .into_iter()
        .filter(|a| matches!(a, Action::Send(_)))
        .collect();
    assert_eq!(sent, vec![Action::Send(Bytes::from_static(b"+++y"))]);
    assert!(b.interp.in_data_mode());
}

#[test]
fn a_pause_between_pluses_releases_them() {
    let mut b = client();
    b.advance(GUARD);
    b.input(b"+");
    b.fire(|t| matches!(t, Timer::Escape(_)));
    assert_eq!(b.take(), vec![Action::Send(Bytes::from_static(b"+"))]);
    assert!(b.interp.in_data_mode());
}

#[test]
fn the_client_reconnects_after_a_failure_or_a_close() {
    let mut b = client();
    b.event(Event::PeerClosed);
    assert_eq!(b.text(), "");
    b.input(b"lost");
    assert!(
        !b.actions.iter().any(|a| matches!(a, Action::Send(_))),
        "bytes typed while disconnected are flushed"
    );
    b.fire(|t| matches!(t, Timer::Reconnect(_)));
    assert!(matches!(b.take()[..], [Action::Connect { .. }]));
    b.event(Event::ConnectFailed);
    b.fire(|t| matches!(t, Timer::Reconnect(_)));
    assert!(matches!(b.take()[..], [Action::Connect { .. }]));
}

#[test]
fn link_down_in_data_mode_waits_for_the_link() {
    let mut b = client();
    b.event(Event::Fault(Fault::LinkDown));
    assert_eq!(b.text(), "");
    assert!(b.actions.contains(&Action::Close));
    b.fire(|t| matches!(t, Timer::Reconnect(_)));
    assert!(
        !b.actions
            .iter()
            .any(|a| matches!(a, Action::Connect { .. }))
    );
    b.event(Event::Fault(Fault::LinkUp));
    b.fire(|t| matches!(t, Timer::Reconnect(_)));
    assert!(
        b.actions
            .iter()
            .any(|a| matches!(a, Action::Connect { .. }))
    );
}

#[test]
fn mdata_closes_the_at_socket_and_flushes_the_rest_of_the_input() {
    let mut b = Bench::command_mode();
    b.command("AT+MMODE=C,5000,127.0.0.1,7000");
    b.command("AT+NOPEN=C,,127.0.0.1,5000");
    b.event(Event::Connected { local_port: 1 });
    b.take();
    b.input(b"AT+MDATA\r\nAT\r\n");
    assert_eq!(b.text(), "[S]\r\n");
    assert_eq!(
        b.take(),
        vec![
            Action::Close,
            Action::Connect {
                remote: server(),
                local_port: 0
            }
        ]
    );
    assert!(b.interp.in_data_mode());
}
