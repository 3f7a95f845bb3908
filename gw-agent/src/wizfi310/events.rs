//! Unsolicited events: what the module prints on its own, between or in the
//! middle of command replies.
//!
//! ```text
//! [CONNECT 0]            [DISCONNECT 0]        [LISTEN 0]
//! [Link-Up Event]        then  IP Addr    : 192.168.1.4
//!                              Gateway    : 192.168.1.1
//! [Link-Down Event]      [Reset Event]         [TCP Send Error]
//! [GMMP Connect]         [GMMP Disconnect]     (any case)
//! [GMMP Control 3]
//! GMMP Trace :  T-ID =55      <OMP><Marker:OPS> …    GmmpRecvThread : …
//! ```

use bytes::Bytes;
use std::net::Ipv4Addr;

use super::socket_data::SocketData;

/// Something the module reported without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `[CONNECT x]`: a TCP connection is up on socket `sid`.
    Connect {
        /// Socket id.
        sid: u8,
    },
    /// `[DISCONNECT x]`: socket `sid` is closed.
    Disconnect {
        /// Socket id.
        sid: u8,
    },
    /// `[LISTEN x]`: a TCP server socket listens (AT+MEVTMSG=1).
    Listen {
        /// Socket id.
        sid: u8,
    },
    /// `[Link-Up Event]` with the `IP Addr` and `Gateway` lines after it
    /// (`None` when a line was missing or unreadable).
    LinkUp {
        /// The module's address.
        ip: Option<Ipv4Addr>,
        /// The gateway's address.
        gateway: Option<Ipv4Addr>,
    },
    /// `[Link-Down Event]`: Wi-Fi association lost or left.
    LinkDown,
    /// `[Reset Event]`: the module rebooted on its own.
    Reset,
    /// `[TCP Send Error]`.
    TcpSendError,
    /// `[GMMP Connect]` / `[GMMP CONNECT]`: the firmware's GMMP client is up.
    GmmpConnect,
    /// `[GMMP Disconnect]` / `[GMMP DISCONNECT]`.
    GmmpDisconnect,
    /// `[GMMP Control n]`: the OMP sent a control of type `n` (decimal).
    GmmpControl {
        /// The control type.
        control_type: u8,
    },
    /// A GMMP debug/trace line (`GMMP Trace : …`, `<OMP><Marker:…>`,
    /// `GmmpRecvThread : …`, `GMMPStartService : …`), verbatim.
    Trace(String),
    /// Socket data received in command mode (`{sid,ip,port,len}` + bytes).
    Data(SocketData),
    /// Bytes received in data mode (the one data-mode socket; no header).
    RawData(Bytes),
}

/// What one line says when it is (the start of) an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventLine {
    /// A complete event.
    Event(Event),
    /// `[Link-Up Event]`: the address lines follow.
    LinkUpStart,
}

/// Reads an event line (already trimmed); `None` when it is not one.
pub(crate) fn parse_event_line(line: &str) -> Option<EventLine> {
    if is_trace(line) {
        return Some(EventLine::Event(Event::Trace(line.to_owned())));
    }
    let inner = line.strip_prefix('[')?.strip_suffix(']')?.trim();
    let lower = inner.to_ascii_lowercase();
    let event = match lower.as_str() {
        "link-up event" => return Some(EventLine::LinkUpStart),
        "link-down event" => Event::LinkDown,
        "reset event" => Event::Reset,
        "tcp send error" => Event::TcpSendError,
        "gmmp connect" => Event::GmmpConnect,
        "gmmp disconnect" => Event::GmmpDisconnect,
        _ => {
            let (word, arg) = lower.rsplit_once(' ')?;
            let sid = || u8::from_str_radix(arg, 16).ok().filter(|&s| s <= 7);
            match word.trim() {
                "connect" => Event::Connect { sid: sid()? },
                "disconnect" => Event::Disconnect { sid: sid()? },
                "listen" => Event::Listen { sid: sid()? },
                "gmmp control" => Event::GmmpControl {
                    control_type: arg.parse().ok()?,
                },
                _ => return None,
            }
        }
    };
    Some(EventLine::Event(event))
}

fn is_trace(line: &str) -> bool {
    ["GMMP Trace", "<OMP>", "GmmpRecvThread", "GMMPStartService"]
        .iter()
        .any(|prefix| line.starts_with(prefix))
}

/// Which of the two address lines after `[Link-Up Event]` this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkUpLine {
    Ip(Option<Ipv4Addr>),
    Gateway(Option<Ipv4Addr>),
}

/// Reads `IP Addr    : 192.168.1.4` / `Gateway   : 192.168.1.1`.
pub(crate) fn parse_link_up_line(line: &str) -> Option<LinkUpLine> {
    let (name, value) = line.split_once(':')?;
    let addr = value.trim().parse().ok();
    match name.trim() {
        "IP Addr" => Some(LinkUpLine::Ip(addr)),
        "Gateway" => Some(LinkUpLine::Gateway(addr)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Option<Event> {
        match parse_event_line(line)? {
            EventLine::Event(e) => Some(e),
            EventLine::LinkUpStart => None,
        }
    }

    #[test]
    fn bracketed_events_are_read() {
        assert_eq!(event("[CONNECT 0]"), Some(Event::Connect { sid: 0 }));
        assert_eq!(event("[DISCONNECT 7]"), Some(Event::Disconnect { sid: 7 }));
        assert_eq!(event("[LISTEN 2]"), Some(Event::Listen { sid: 2 }));
        assert_eq!(event("[Link-Down Event]"), Some(Event::LinkDown));
        assert_eq!(event("[Reset Event]"), Some(Event::Reset));
        assert_eq!(event("[TCP Send Error]"), Some(Event::TcpSendError));
        assert_eq!(event("[GMMP CONNECT]"), Some(Event::GmmpConnect));
        assert_eq!(event("[GMMP Connect]"), Some(Event::GmmpConnect));
        assert_eq!(event("[GMMP Disconnect]"), Some(Event::GmmpDisconnect));
        assert_eq!(
            event("[GMMP Control 5]"),
            Some(Event::GmmpControl { control_type: 5 })
        );
        assert_eq!(
            parse_event_line("[Link-Up Event]"),
            Some(EventLine::LinkUpStart)
        );
    }

    #[test]
    fn replies_and_odd_brackets_are_not_events() {
        assert_eq!(parse_event_line("[OK]"), None);
        assert_eq!(parse_event_line("[ERROR: INVALID SCID]"), None);
        assert_eq!(parse_event_line("[CONNECT 9]"), None);
        assert_eq!(parse_event_line("[0,,,5]"), None);
        assert_eq!(parse_event_line("[CONNECT]"), None);
    }

    #[test]
    fn trace_lines_are_kept_verbatim() {
        for line in [
            "GMMP Trace :  Recv Header Type = c, Read Body Size = 43",
            "<OMP><Marker:OPS> [GW->OMP]GMMP_SetHB Start",
            "<OMP><Marker:OPE>",
            "GmmpRecvThread : connect try 61.250.21.211:31002, 34208",
        ] {
            assert_eq!(event(line), Some(Event::Trace(line.to_owned())));
        }
    }

    #[test]
    fn link_up_address_lines_are_read() {
        assert_eq!(
            parse_link_up_line("IP Addr    : 192.168.1.4"),
            Some(LinkUpLine::Ip(Some(Ipv4Addr::new(192, 168, 1, 4))))
        );
        assert_eq!(
            parse_link_up_line("Gateway   : 192.168.1.1"),
            Some(LinkUpLine::Gateway(Some(Ipv4Addr::new(192, 168, 1, 1))))
        );
        assert_eq!(parse_link_up_line("Joining : SSID"), None);
    }
}
