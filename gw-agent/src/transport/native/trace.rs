//! Reading the module's GMMP client from its console: the sans-IO follower
//! of `[GMMP Connect]` / `[GMMP Disconnect]` / `[GMMP Control n]` and the
//! trace blocks AT+MMSG=3 with AT+GMMPOPT=10,1,1,1 prints (docs/wizfi310.md §3):
//!
//! ```text
//! <OMP><Marker:OPS> [GW->OMP]GMMP_SetDelivery Start      ┐ a request the module sent
//! <OMP><Marker:REQ>                                      │
//! GMMP Trace :  T-ID =129                                │ fields
//! GMMP Trace :  usMessageBody =WizFi310 test data !@#$…  │
//! GMMP Trace :  [GW->OMP]GMMP_SetDelivery End            ┘
//! GMMP Trace :  Recv Header Type = c, Read Body Size = 43
//! <OMP><Marker:RSP> [OMP->GW]OPERATION_DELIVERY_RSP Start ┐ a message the module received
//! GMMP Trace :  T-ID =129                                │
//! GMMP Trace :  GW ID=SC10010254                         │
//! GMMP Trace :  Result Code[0x0], STATUS_OK              │
//! <OMP><Marker:OPE>                                      ┘
//! ```
//!
//! [`TraceFollower::feed`] takes the driver's events one by one and returns
//! what they add up to as [`Observed`] items: a block is complete at its
//! end line, or when the next block starts (a lost end line loses nothing
//! but the block's own end). Field names are matched after trimming, so
//! the module's varying spaces around `=` do not matter.

use crate::wizfi310::Event;

/// Something the module's GMMP client was seen doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// `[GMMP Connect]`: its TCP connection is up.
    Connected,
    /// `[GMMP Disconnect]`: its TCP connection is closed.
    Disconnected,
    /// `[GMMP Control n]`: it received and answered a control.
    Control(u8),
    /// It sent a request (`[GW->OMP]<function>`).
    Sent(Message),
    /// It received a message (`[OMP->GW]<operation>`).
    Received(Message),
}

/// The fields of one trace block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The function (`GMMP_SetDelivery`) or operation
    /// (`OPERATION_DELIVERY_RSP`) named in the block's first line.
    pub name: String,
    /// `T-ID =…`.
    pub tid: Option<u32>,
    /// `GW ID=…` (empty when the field is empty).
    pub gw_id: Option<String>,
    /// `Result Code[0x…]`.
    pub result_code: Option<u8>,
    /// `Control Type[0x…]`.
    pub control_type: Option<u8>,
    /// `usMessageBody =…`, as printed.
    pub body: Option<String>,
}

/// Operation names of the responses the agent acts on.
pub mod operation {
    /// GW registration response.
    pub const GW_REG_RSP: &str = "OPERATION_GW_REG_RSP";
    /// Profile response.
    pub const PROFILE_RSP: &str = "OPERATION_PROFILE_RSP";
    /// Device registration response.
    pub const DEVICE_REG_RSP: &str = "OPERATION_DEVICE_REG_RSP";
    /// Delivery response.
    pub const DELIVERY_RSP: &str = "OPERATION_DELIVERY_RSP";
    /// The module's delivery function.
    pub const SET_DELIVERY: &str = "GMMP_SetDelivery";
}

#[derive(Debug)]
struct Block {
    sent: bool,
    message: Message,
}

/// Follows the trace; see the module documentation.
#[derive(Debug, Default)]
pub struct TraceFollower {
    block: Option<Block>,
}

const TRACE_PREFIX: &str = "GMMP Trace :";

impl TraceFollower {
    /// A follower between blocks.
    pub fn new() -> Self {
        TraceFollower::default()
    }

    /// Takes one module event; returns what completed.
    pub fn feed(&mut self, event: &Event) -> Vec<Observed> {
        let mut out = Vec::new();
        match event {
            Event::GmmpConnect => {
                self.finish(&mut out);
                out.push(Observed::Connected);
            }
            Event::GmmpDisconnect => {
                self.finish(&mut out);
                out.push(Observed::Disconnected);
            }
            Event::GmmpControl { control_type } => out.push(Observed::Control(*control_type)),
            Event::Trace(line) => self.line(line.trim(), &mut out),
            _ => {}
        }
        out
    }

    fn finish(&mut self, out: &mut Vec<Observed>) {
        if let Some(block) = self.block.take() {
            out.push(if block.sent {
                Observed::Sent(block.message)
            } else {
                Observed::Received(block.message)
            });
        }
    }

    fn start(&mut self, sent: bool, name: &str, out: &mut Vec<Observed>) {
        self.finish(out);
        self.block = Some(Block {
            sent,
            message: Message {
                name: name.trim().to_string(),
                ..Message::default()
            },
        });
    }

    fn line(&mut self, line: &str, out: &mut Vec<Observed>) {
        if let Some(rest) = line.strip_prefix("<OMP>") {
            let rest = rest.trim_start();
            if let Some(name) = block_name(rest, "[GW->OMP]") {
                self.start(true, name, out);
            } else if let Some(name) = block_name(rest, "[OMP->GW]") {
                self.start(false, name, out);
            } else if rest.starts_with("<Marker:OPE>") {
                self.finish(out);
            }
            return;
        }
        let Some(field) = line.strip_prefix(TRACE_PREFIX) else {
            return;
        };
        let field = field.trim_start();
        if field.starts_with("[GW->OMP]") && field.trim_end().ends_with("End") {
            self.finish(out);
            return;
        }
        let Some(block) = self.block.as_mut() else {
            return;
        };
        let m = &mut block.message;
        if let Some(v) = value(field, "T-ID") {
            m.tid = v.trim().parse().ok();
        } else if let Some(v) = value(field, "GW ID") {
            m.gw_id = Some(v.trim().to_string());
        } else if let Some(v) = value(field, "usMessageBody") {
            m.body = Some(v.to_string());
        } else if let Some(code) = bracket_hex(field, "Result Code") {
            m.result_code = Some(code);
        } else if let Some(code) = bracket_hex(field, "Control Type") {
            m.control_type = Some(code);
        }
    }
}

/// `<Marker:OPS> [GW->OMP]GMMP_SetHB Start` → `GMMP_SetHB`.
fn block_name<'a>(rest: &'a str, arrow: &str) -> Option<&'a str> {
    let (_, after) = rest.split_once(arrow)?;
    Some(after.trim_end().strip_suffix("Start")?.trim_end())
}

/// `T-ID =55` with `name` = `T-ID` → `55`; spaces around `=` are optional.
/// The value keeps its own spaces except the one the module puts after `=`
/// in some lines, which is not trimmed (a body may start with a space).
fn value<'a>(field: &'a str, name: &str) -> Option<&'a str> {
    let rest = field.strip_prefix(name)?;
    let rest = rest.trim_start();
    rest.strip_prefix('=')
}

/// `Result Code[0x0], STATUS_OK` → 0.
fn bracket_hex(field: &str, name: &str) -> Option<u8> {
    let rest = field.strip_prefix(name)?.trim_start().strip_prefix("[0x")?;
    let (hex, _) = rest.split_once(']')?;
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_lines(f: &mut TraceFollower, lines: &[&str]) -> Vec<Observed> {
        lines
            .iter()
            .flat_map(|l| f.feed(&Event::Trace(l.to_string())))
            .collect()
    }

    #[test]
    fn the_seed_delivery_exchange_reads_as_sent_then_received() {
        let mut f = TraceFollower::new();
        let seen = feed_lines(
            &mut f,
            &[
                "<OMP><Marker:OPS> [GW->OMP]GMMP_SetDelivery Start ",
                "<OMP><Marker:REQ> ",
                "GMMP Trace :  AuthID =0008dc1e3222",
                "GMMP Trace :  Auth Key =SP10033827key",
                "GMMP Trace :  T-ID =129",
                "GMMP Trace :  Domain Code =ThingPlug",
                "GMMP Trace :  GW ID=SC10010254",
                "GMMP Trace :  Device ID =",
                "GMMP Trace :  ucReportType[0x1]",
                "GMMP Trace :  ucMediaType[0x1]",
                "GMMP Trace :  usMessageBody =WizFi310 test data !@#$%^&*(/)",
                "GMMP Trace :  [GW->OMP]GMMP_SetDelivery End ",
                "GMMP Trace :  Recv Header Type = c, Read Body Size = 43",
                "<OMP><Marker:RSP> [OMP->GW]OPERATION_DELIVERY_RSP Start ",
                "GMMP Trace :  AuthID =0008dc1e3222",
                "GMMP Trace :  T-ID =129",
                "GMMP Trace :  GW ID=SC10010254",
                "GMMP Trace :  Device ID =",
                "GMMP Trace :  Result Code[0x0], STATUS_OK",
                "GMMP Trace :  unBackOffTime = 0",
                "<OMP><Marker:OPE>",
            ],
        );
        assert_eq!(
            seen,
            [
                Observed::Sent(Message {
                    name: operation::SET_DELIVERY.into(),
                    tid: Some(129),
                    gw_id: Some("SC10010254".into()),
                    body: Some("WizFi310 test data !@#$%^&*(/)".into()),
                    ..Message::default()
                }),
                Observed::Received(Message {
                    name: operation::DELIVERY_RSP.into(),
                    tid: Some(129),
                    gw_id: Some("SC10010254".into()),
                    result_code: Some(0),
                    ..Message::default()
                }),
            ]
        );
    }

    #[test]
    fn a_block_without_its_end_line_completes_when_the_next_starts() {
        let mut f = TraceFollower::new();
        let seen = feed_lines(
            &mut f,
            &[
                "<OMP><Marker:RSP> [OMP->GW]OPERATION_GW_REG_RSP Start",
                "GMMP Trace :  GW ID=SC10000000",
                "GMMP Trace :  Result Code[0x4], PERMISSION_DENIED",
                "<OMP><Marker:OPS> [GW->OMP]GMMP_SetHB Start",
            ],
        );
        assert_eq!(
            seen,
            [Observed::Received(Message {
                name: operation::GW_REG_RSP.into(),
                gw_id: Some("SC10000000".into()),
                result_code: Some(4),
                ..Message::default()
            })]
        );
    }

    #[test]
    fn connect_control_and_disconnect_events_pass_through() {
        let mut f = TraceFollower::new();
        assert_eq!(f.feed(&Event::GmmpConnect), [Observed::Connected]);
        assert_eq!(
            f.feed(&Event::GmmpControl { control_type: 12 }),
            [Observed::Control(12)]
        );
        f.feed(&Event::Trace(
            "<OMP><Marker:RSP> [OMP->GW]OPERATION_HEARTBEAT_RSP Start".into(),
        ));
        let seen = f.feed(&Event::GmmpDisconnect);
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[1], Observed::Disconnected);
    }

    #[test]
    fn lines_outside_a_block_and_odd_lines_are_ignored() {
        let mut f = TraceFollower::new();
        let seen = feed_lines(
            &mut f,
            &[
                "GMMP Trace :  T-ID =1",
                "GmmpRecvThread : connect try 127.0.0.1:31002, 40000",
                "GMMPStartService : GMMP Thread is running",
                "<OMP><Marker:REQ>",
            ],
        );
        assert!(seen.is_empty(), "{seen:?}");
    }
}
