//! The module's data mode set up from command mode: the working mode
//! (AT+MMODE), and AT+MDATA into it. Sans-IO: the commands, their answers
//! and what must change; the driver runs them ([`super::Driver::execute`],
//! [`super::Driver::enter_data_mode`]).
//!
//! ```text
//! AT+MMODE?                          →  [S,,C,5000,192.168.11.2,5000]
//! AT+MMODE=C,<lport>,<ip>,<port>     →  [S]     (only when it differs)
//! AT+MDATA                           →  [S]     then bytes pass both ways
//! ```
//!
//! Decisions (from the firmware source, `cmdrun.c`, `S2E.c`):
//! - Working mode `C` (TCP client): in data mode the module connects to the
//!   AT+MMODE target and connects again after a failure or a close, every
//!   "Reconnection" interval, on its own.
//! - AT+MMODE= writes the EEPROM at once, so no AT+MSAVE follows it: that
//!   would also store network settings (AT+NSET) the user left unsaved.
//!   It is written only when the module holds another target, sparing the
//!   EEPROM at every start-up.
//! - The local port is kept as the module holds it (the firmware refuses
//!   0); an out-of-range one becomes the factory 5000.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::command::{Answer, Command};
use crate::wizfi310::command::ParseFail;

/// The factory local port of data mode.
pub const FACTORY_LOCAL_PORT: u16 = 5000;

/// What AT+MMODE shows: the data-mode working mode, local port and remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingMode {
    /// `S` server, `C` client, `M` mixed, `U` UDP, `Q` MQTT.
    pub mode: char,
    /// The local port.
    pub local_port: u16,
    /// The remote server (client mode's target).
    pub remote: SocketAddrV4,
}

impl WorkingMode {
    /// The TCP client of `target`, keeping this mode's local port.
    pub fn client_of(&self, target: SocketAddrV4) -> WorkingMode {
        WorkingMode {
            mode: 'C',
            local_port: if self.local_port == 0 {
                FACTORY_LOCAL_PORT
            } else {
                self.local_port
            },
            remote: target,
        }
    }

    /// The AT+MMODE= that sets this mode, when it is not `current`.
    pub fn change_from(&self, current: &WorkingMode) -> Option<SetWorkingMode> {
        (self != current).then_some(SetWorkingMode(*self))
    }
}

/// `AT+MMODE?`: the working mode, `[S,,C,5000,192.168.11.2,5000]`.
#[derive(Debug, Clone, Copy)]
pub struct GetWorkingMode;

impl Command for GetWorkingMode {
    type Output = WorkingMode;
    fn line(&self) -> String {
        "AT+MMODE?".into()
    }
    fn parse(&self, answer: &Answer) -> Result<WorkingMode, ParseFail> {
        let text = answer.args.join(",");
        let [mode, local, ip, port] = answer.args.as_slice() else {
            return Err(ParseFail::new(&text, "mode, local port, ip, port"));
        };
        let mode = match mode.as_bytes() {
            [m] if b"SCMUQ".contains(&m.to_ascii_uppercase()) => char::from(m.to_ascii_uppercase()),
            _ => return Err(ParseFail::new(&text, "a working mode letter")),
        };
        let local_port = local
            .parse()
            .map_err(|_| ParseFail::new(&text, "a local port"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| ParseFail::new(&text, "a remote IPv4 address"))?;
        let port = port
            .parse()
            .map_err(|_| ParseFail::new(&text, "a remote port"))?;
        Ok(WorkingMode {
            mode,
            local_port,
            remote: SocketAddrV4::new(ip, port),
        })
    }
}

/// `AT+MMODE=<mode>,<lport>,<ip>,<port>`: `[S]`, stored at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetWorkingMode(pub WorkingMode);

impl Command for SetWorkingMode {
    type Output = ();
    fn line(&self) -> String {
        let m = &self.0;
        format!(
            "AT+MMODE={},{},{},{}",
            m.mode,
            m.local_port,
            m.remote.ip(),
            m.remote.port()
        )
    }
    fn parse(&self, _: &Answer) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// `AT+MDATA`: `[S]`, then data mode (the AT socket is closed).
#[derive(Debug, Clone, Copy)]
pub struct EnterDataMode;

impl Command for EnterDataMode {
    type Output = ();
    fn line(&self) -> String {
        "AT+MDATA".into()
    }
    fn parse(&self, _: &Answer) -> Result<(), ParseFail> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn omp() -> SocketAddrV4 {
        "127.0.0.1:31002".parse().unwrap()
    }

    #[test]
    fn the_working_mode_is_read_as_the_module_prints_it() {
        assert_eq!(GetWorkingMode.line(), "AT+MMODE?");
        let factory = GetWorkingMode
            .parse(&Answer::of_args(&["S", "5000", "192.168.11.2", "5000"]))
            .unwrap();
        assert_eq!(
            factory,
            WorkingMode {
                mode: 'S',
                local_port: 5000,
                remote: "192.168.11.2:5000".parse().unwrap(),
            }
        );
        for bad in [
            &["S", "5000", "192.168.11.2"][..],
            &["X", "5000", "192.168.11.2", "5000"],
            &["C", "port", "192.168.11.2", "5000"],
            &["C", "5000", "host", "5000"],
        ] {
            assert!(
                GetWorkingMode.parse(&Answer::of_args(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_client_of_the_omp_is_set_only_when_the_module_holds_another_target() {
        let factory = WorkingMode {
            mode: 'S',
            local_port: 6000,
            remote: "192.168.11.2:5000".parse().unwrap(),
        };
        let wanted = factory.client_of(omp());
        let set = wanted.change_from(&factory).unwrap();
        assert_eq!(
            set.line(),
            "AT+MMODE=C,6000,127.0.0.1,31002",
            "local port kept"
        );
        assert_eq!(
            wanted.change_from(&wanted),
            None,
            "already the OMP's client"
        );
        let zero = WorkingMode {
            local_port: 0,
            ..factory
        };
        assert_eq!(zero.client_of(omp()).local_port, FACTORY_LOCAL_PORT);
        assert_eq!(EnterDataMode.line(), "AT+MDATA");
    }
}
