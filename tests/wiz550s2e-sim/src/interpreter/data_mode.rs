//! Data mode: the module as a transparent TCP client (working mode `C`).
//! It connects to the AT+MMODE server, passes UART bytes to it and its
//! bytes to the UART, reconnects every `reconnect_interval` after a
//! failure or close, and drops UART bytes while not connected (the
//! firmware flushes its buffer). `+++` between guard times closes the
//! connection and prints `\r\n\r\n\r\n[W,0]\r\n[S,0]\r\n`: command mode.
//! Other working modes hold no connection here (not emulated).

use std::time::Instant;

use bytes::Bytes;
use module_sim::escape::{Escape, Expired};

use super::{Action, DataLink, Interpreter, Mode, Timer};
use crate::config::WorkingMode;

/// The firmware's trigger code (2B 2B 2B).
const TRIGGER: &[u8] = b"+++";

impl Interpreter {
    pub(super) fn enter_data_mode(&mut self, now: Instant) {
        self.mode = Mode::Data(Escape::new(TRIGGER, self.config.guard_time, now));
        self.data_link = DataLink::Idle;
        self.connect_data();
    }

    fn connect_data(&mut self) {
        if !self.in_data_mode() || self.live.working_mode != WorkingMode::Client {
            return;
        }
        if !self.link_up {
            self.arm_reconnect();
            return;
        }
        let local_port = if self.config.bind_source_port {
            self.live.local_port
        } else {
            0
        };
        self.data_link = DataLink::Connecting;
        self.actions.push(Action::Connect {
            remote: self.live.remote,
            local_port,
        });
    }

    pub(super) fn arm_reconnect(&mut self) {
        if self.in_data_mode() && self.live.working_mode == WorkingMode::Client {
            let token = self.token();
            self.schedule(self.config.reconnect_interval, Timer::Reconnect(token));
            self.reconnect_token = token;
        }
    }

    pub(super) fn reconnect_timer(&mut self, token: u64) {
        if token == self.reconnect_token && self.data_link == DataLink::Idle {
            self.connect_data();
        }
    }

    pub(super) fn data_input(&mut self, bytes: &[u8], now: Instant) {
        let Mode::Data(escape) = &mut self.mode else {
            return;
        };
        let fed = escape.feed(bytes, now);
        if let Some((after, token)) = fed.arm {
            self.schedule(after, Timer::Escape(token));
        }
        self.pass_on(fed.pass);
    }

    fn pass_on(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() && self.data_link == DataLink::Connected {
            self.actions.push(Action::Send(Bytes::from(bytes)));
        }
    }

    pub(super) fn escape_timer(&mut self, token: u64) {
        let Mode::Data(escape) = &mut self.mode else {
            return;
        };
        match escape.timer(token) {
            Expired::Stale => {}
            Expired::Released(held) => self.pass_on(held),
            Expired::Escaped => {
                if self.data_link != DataLink::Idle {
                    self.actions.push(Action::Close);
                }
                self.data_link = DataLink::Idle;
                self.reconnect_token = 0;
                self.mode = Mode::Command;
                self.line.clear();
                self.write(&b"\r\n\r\n\r\n[W,0]\r\n[S,0]\r\n"[..]);
            }
        }
    }
}
