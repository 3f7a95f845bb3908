//! The command table and the commands that are not about the socket:
//! network settings (AT+NSET, AT+NSTAT, AT+NMAC, AT+FDNS) and management
//! (AT+MSTAT, AT+MSAVE, AT+MRST, AT+MDATA, AT+MMODE).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use super::line::{self, AtError, Sign};
use super::{Action, CommandResult, Flow, Interpreter};
use crate::config::{NetInfo, WorkingMode};

impl Interpreter {
    pub(super) fn dispatch(&mut self, op: &str, sign: Sign, args: &[String], now: Instant) -> Flow {
        let result = match op {
            "NSET" => self.nset(sign, args),
            "NSTAT" => self.nstat(sign, args),
            "NMAC" => self.nmac(sign, args),
            "NOPEN" => self.nopen(sign, args),
            "NCLOSE" => self.nclose(sign, args),
            "NSEND" => self.nsend(sign, args),
            "NSOCK" => self.nsock(sign, args),
            "FDNS" => self.fdns(sign, args),
            "MSTAT" => self.mstat(sign, args),
            "MSAVE" => self.msave(sign),
            "MRST" => self.mrst(sign),
            "MMODE" => self.mmode(sign, args),
            "MDATA" => {
                return match self.mdata(sign, args, now) {
                    Ok(()) => Flow::Discard,
                    Err(failure) => {
                        self.fail(failure);
                        Flow::Continue
                    }
                };
            }
            "NAUTO" | "ESTAT" => Err(AtError::NotAllowed.into()),
            _ => Err(AtError::WrongOperator.into()),
        };
        if let Err(failure) = result {
            self.fail(failure);
        }
        Flow::Continue
    }

    /// The optional field number of a query form, `1..=max`.
    fn field(args: &[String], max: u32) -> Result<Option<u32>, line::Failure> {
        if args[0].is_empty() {
            Ok(None)
        } else {
            line::number(&args[0], 1, max, 1).map(Some)
        }
    }

    fn net_line(
        &self,
        dhcp: bool,
        net: &NetInfo,
        field: Option<u32>,
    ) -> Result<String, line::Failure> {
        let mode = if dhcp { "D" } else { "S" };
        let addr = |ip: Ipv4Addr| ip.to_string();
        let args = match field {
            None => vec![
                mode.to_string(),
                addr(net.ip),
                addr(net.subnet),
                addr(net.gateway),
                addr(net.dns),
            ],
            Some(1) => vec![mode.to_string()],
            Some(2) => vec![addr(net.ip)],
            Some(3) => vec![addr(net.subnet)],
            Some(4) => vec![addr(net.gateway)],
            Some(5) => vec![addr(net.dns)],
            Some(_) => return Err(AtError::NotAllowed.into()),
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok(line::response('S', None, None, &args))
    }

    fn nset(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        match sign {
            Sign::None | Sign::Query => {
                let field = Self::field(args, 6)?;
                // The mode in use, with the stored (not leased) addresses.
                let line = self.net_line(self.live.dhcp, &self.live.net, field)?;
                self.respond(&line);
            }
            Sign::Individual => {
                let Some(field) = Self::field(args, 6)? else {
                    return Err(AtError::WrongArguments.at(1));
                };
                match field {
                    1 => self.live.dhcp = line::letter(&args[1], "DS", 2)? == 'D',
                    6 => return Err(AtError::NotAllowed.at(2)),
                    _ => {
                        let ip = line::ipv4(&args[1]).ok_or(AtError::WrongArguments.at(2))?;
                        let net = &mut self.live.net;
                        match field {
                            2 => net.ip = ip,
                            3 => net.subnet = ip,
                            4 => net.gateway = ip,
                            _ => net.dns = ip,
                        }
                    }
                }
                self.respond("[S]");
            }
            Sign::Equal => {
                let mode = if args[0].is_empty() {
                    None
                } else {
                    Some(line::letter(&args[0], "DS", 1)?)
                };
                let mut addrs = [None; 5];
                for (i, slot) in addrs.iter_mut().enumerate() {
                    let text = &args[i + 1];
                    if !text.is_empty() {
                        let ip =
                            line::ipv4(text).ok_or(AtError::WrongArguments.at(i as u32 + 2))?;
                        *slot = Some(ip);
                    }
                }
                if mode.is_none() && addrs.iter().all(Option::is_none) {
                    return Err(AtError::NotAllowed.into());
                }
                if addrs[4].is_some() {
                    // A second DNS server is refused after parsing.
                    return Err(AtError::NotAllowed.at(6));
                }
                let net = &mut self.live.net;
                for (slot, value) in [&mut net.ip, &mut net.subnet, &mut net.gateway, &mut net.dns]
                    .into_iter()
                    .zip(addrs)
                {
                    if let Some(ip) = value {
                        *slot = ip;
                    }
                }
                if let Some(mode) = mode {
                    self.live.dhcp = mode == 'D';
                }
                self.respond("[S]");
            }
        }
        Ok(())
    }

    fn nstat(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        match sign {
            Sign::None | Sign::Query => {
                let field = Self::field(args, 6)?;
                let line = self.net_line(self.live.dhcp, &self.netinfo(), field)?;
                self.respond(&line);
                Ok(())
            }
            _ => Err(AtError::WrongSign.into()),
        }
    }

    fn nmac(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        match sign {
            Sign::None | Sign::Query => {
                Self::field(args, 1)?;
                let text = line::mac_text(&self.mac);
                self.respond(&line::response('S', None, None, &[&text]));
            }
            Sign::Individual => return Err(AtError::WrongSign.into()),
            Sign::Equal => {
                // Written to EEPROM at once, without AT+MSAVE.
                self.mac = line::mac(&args[0]).ok_or(AtError::WrongArguments.at(1))?;
                self.respond("[S]");
            }
        }
        Ok(())
    }

    fn fdns(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        let name = match sign {
            Sign::None => self.config.domain.clone(),
            // `AT+FDNS=` with no name: the firmware prints nothing.
            Sign::Equal if args[0].is_empty() => return Ok(()),
            Sign::Equal => args[0].clone(),
            _ => return Err(AtError::WrongSign.into()),
        };
        if !self.link_up || name.is_empty() {
            self.dump(None, "DNS Timeout\r\n");
            return Ok(());
        }
        self.resolving = true;
        self.actions.push(Action::Resolve(name));
        Ok(())
    }

    pub(super) fn on_resolved(&mut self, addr: Option<Ipv4Addr>, now: Instant) {
        if !self.resolving {
            return;
        }
        self.resolving = false;
        let body = match addr {
            Some(ip) => format!("{ip}\r\n"),
            None => "DNS Timeout\r\n".to_string(),
        };
        // The answer belongs to the command that asked; it is an event now.
        self.event(&format!("[D,,{}]", body.len()));
        self.write(format!("{body}\r\n"));
        self.read_ring(now);
    }

    fn mstat(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        match sign {
            Sign::None | Sign::Query => {
                Self::field(args, 1)?;
                let version = self.config.fw_version.clone();
                self.respond(&line::response('S', None, None, &[&version]));
                Ok(())
            }
            _ => Err(AtError::WrongSign.into()),
        }
    }

    fn msave(&mut self, sign: Sign) -> CommandResult {
        if sign != Sign::None {
            return Err(AtError::WrongSign.into());
        }
        self.saved = self.live.clone();
        self.respond("[S]");
        Ok(())
    }

    fn mrst(&mut self, sign: Sign) -> CommandResult {
        if sign != Sign::None {
            return Err(AtError::WrongSign.into());
        }
        self.respond("[S]");
        self.reboot();
        Ok(())
    }

    fn mdata(&mut self, sign: Sign, args: &[String], now: Instant) -> CommandResult {
        match sign {
            Sign::None | Sign::Query => {
                Self::field(args, 6)?;
                if self.socket.take().is_some() {
                    self.actions.push(Action::Close);
                }
                self.respond("[S]");
                self.enter_data_mode(now);
                Ok(())
            }
            _ => Err(AtError::WrongSign.into()),
        }
    }

    fn mmode(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        match sign {
            Sign::None | Sign::Query => {
                let live = &self.live;
                let line = line::response(
                    'S',
                    None,
                    None,
                    &[
                        &live.working_mode.letter().to_string(),
                        &live.local_port.to_string(),
                        &live.remote.ip().to_string(),
                        &live.remote.port().to_string(),
                    ],
                );
                self.respond(&line);
                Ok(())
            }
            Sign::Individual => Err(AtError::WrongSign.into()),
            Sign::Equal => {
                let letter = line::letter(&args[0], "SCMUQ", 1)?;
                let local_port = line::port(&args[1]).ok_or(AtError::WrongArguments.at(2))?;
                let ip = line::ipv4(&args[2]).ok_or(AtError::WrongArguments.at(3))?;
                let port = line::port(&args[3]).ok_or(AtError::WrongArguments.at(4))?;
                line::must_be_empty(&args[4], 5)?;
                let mode = WorkingMode::from_letter(letter).ok_or(AtError::WrongArguments.at(1))?;
                // Written to EEPROM at once, as the firmware does.
                for settings in [&mut self.live, &mut self.saved] {
                    settings.working_mode = mode;
                    settings.local_port = local_port;
                    settings.remote = SocketAddrV4::new(ip, port);
                }
                self.respond("[S]");
                Ok(())
            }
        }
    }
}
