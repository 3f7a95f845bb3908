//! The sans-IO parser: bytes from the module in, [`Item`]s out.
//!
//! Feed it whatever the port gave ([`Parser::feed`]), then take items with
//! [`Parser::next_item`] until it answers `None` ("not enough bytes yet").
//! It never fails: unreadable input comes out as [`ResponseLine::Text`].
//!
//! Rules, in order, at the start of a line:
//! 1. CR and LF are line ends; any run of them is skipped, so `\r\n`, a
//!    bare `\r` (echo of our CR-terminated input) and empty lines are alike.
//! 2. A line starting with the header start (`{`) that reads as a whole
//!    `{sid,ip,port,len}` header is socket data: exactly `len` bytes are
//!    taken as payload whatever they are, then the data-end bytes (`\r\n`)
//!    are skipped if present. A `{` line that is not a header is text.
//! 3. Otherwise the line runs to the next CR or LF and is an event
//!    ([`super::events`]) or a reply line ([`super::response`]).
//!    `[Link-Up Event]` is held until its `IP Addr`/`Gateway` lines came
//!    (or another line shows they will not).
//!
//! In data mode every byte is payload ([`Event::RawData`]).

use bytes::{Buf, BytesMut};
use std::collections::VecDeque;

use super::events::{Event, EventLine, LinkUpLine, parse_event_line, parse_link_up_line};
use super::response::{ResponseLine, classify};
use super::socket_data::{DataForm, DataHeader, SocketData, parse_header};

/// Longest receive header looked for (`{7,255.255.255.255,65535,100000000}` is 36).
const MAX_HEADER: usize = 64;
/// A line longer than this is cut and delivered, so garbage cannot grow the buffer.
const MAX_LINE: usize = 4096;
/// Largest socket payload accepted; a header announcing more is read as text.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One thing the module said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An unsolicited event (socket data included).
    Event(Event),
    /// A line of a command's reply.
    Response(ResponseLine),
}

/// Where the parser stands between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    LineStart,
    /// Inside a payload announced by a header.
    Payload(DataHeader),
    /// After a payload: skipping data-end byte number `n`.
    Trailer(usize),
    /// Data mode: all bytes are raw payload.
    Data,
    /// Entering data mode: skipping byte `n` of the `[OK]` line's CR LF.
    OkLineEnd(usize),
}

/// Byte stream → items. See the module docs for the rules.
#[derive(Debug)]
pub struct Parser {
    buf: BytesMut,
    form: DataForm,
    state: State,
    /// `[Link-Up Event]` seen, address lines being collected.
    link_up: Option<Event>,
    /// Switch to data mode right after the next `[OK]`.
    data_after_ok: bool,
    out: VecDeque<Item>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(DataForm::default())
    }
}

impl Parser {
    /// A parser in command mode reading receive headers of `form`.
    pub fn new(form: DataForm) -> Self {
        Parser {
            buf: BytesMut::new(),
            form,
            state: State::LineStart,
            link_up: None,
            data_after_ok: false,
            out: VecDeque::new(),
        }
    }

    /// Appends bytes read from the port.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Switches to data mode once the next `[OK]` is out (AT+SCON …,1 and
    /// AT+SDATA answer `[OK]`, then the line carries raw payload).
    pub fn enter_data_mode_after_ok(&mut self) {
        self.data_after_ok = true;
    }

    /// Back to command mode (after the `+++` escape was sent).
    pub fn enter_command_mode(&mut self) {
        self.data_after_ok = false;
        if self.in_data_mode() {
            self.state = State::LineStart;
        }
    }

    /// Whether the parser reads data mode.
    pub fn in_data_mode(&self) -> bool {
        matches!(self.state, State::Data | State::OkLineEnd(_))
    }

    /// The next whole item, or `None` until more bytes are fed.
    pub fn next_item(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(item);
            }
            if !self.step() {
                return None;
            }
        }
    }

    /// Consumes some input, possibly queueing items. `false`: need more bytes.
    fn step(&mut self) -> bool {
        match self.state {
            State::Data => {
                if self.buf.is_empty() {
                    return false;
                }
                let bytes = self.buf.split().freeze();
                self.out.push_back(Item::Event(Event::RawData(bytes)));
                true
            }
            State::Payload(header) => {
                if self.buf.len() < header.len {
                    return false;
                }
                let payload = self.buf.split_to(header.len).freeze();
                self.out.push_back(Item::Event(Event::Data(SocketData {
                    sid: header.sid,
                    remote_ip: header.remote_ip,
                    remote_port: header.remote_port,
                    payload,
                })));
                self.state = State::Trailer(0);
                true
            }
            State::Trailer(n) => {
                match (self.form.trailer.get(n), self.buf.first()) {
                    (Some(_), None) => return false,
                    (Some(want), Some(got)) if want == got => {
                        self.buf.advance(1);
                        self.state = State::Trailer(n + 1);
                    }
                    _ => self.state = State::LineStart,
                }
                true
            }
            State::OkLineEnd(n) => {
                match (b"\r\n".get(n), self.buf.first()) {
                    (Some(_), None) => return false,
                    (Some(want), Some(got)) if want == got => {
                        self.buf.advance(1);
                        self.state = State::OkLineEnd(n + 1);
                    }
                    _ => self.state = State::Data,
                }
                true
            }
            State::LineStart => self.line_start(),
        }
    }

    fn line_start(&mut self) -> bool {
        let skip = self
            .buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        self.buf.advance(skip);
        let Some(&first) = self.buf.first() else {
            return false;
        };
        if first == self.form.start {
            match self.try_header() {
                HeaderScan::Header(header) => {
                    self.flush_link_up();
                    self.state = State::Payload(header);
                    return true;
                }
                HeaderScan::NeedMore => return false,
                HeaderScan::NotHeader => {}
            }
        }
        let end = self.buf.iter().position(|&b| b == b'\r' || b == b'\n');
        let line = match end {
            Some(end) => self.buf.split_to(end),
            None if self.buf.len() > MAX_LINE => self.buf.split_to(MAX_LINE),
            None => return false,
        };
        let text = String::from_utf8_lossy(&line);
        self.line(text.trim());
        true
    }

    fn try_header(&mut self) -> HeaderScan {
        let window = &self.buf[..self.buf.len().min(MAX_HEADER)];
        for (i, &b) in window.iter().enumerate().skip(1) {
            if b == self.form.end {
                return match parse_header(&window[1..i], &self.form) {
                    Some(header) if header.len <= MAX_PAYLOAD => {
                        self.buf.advance(i + 1);
                        HeaderScan::Header(header)
                    }
                    _ => HeaderScan::NotHeader,
                };
            }
            if b == b'\r' || b == b'\n' {
                return HeaderScan::NotHeader;
            }
        }
        if window.len() < MAX_HEADER {
            HeaderScan::NeedMore
        } else {
            HeaderScan::NotHeader
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        if let Some(Event::LinkUp { ip, gateway }) = &mut self.link_up {
            match parse_link_up_line(line) {
                Some(LinkUpLine::Ip(addr)) => {
                    *ip = addr;
                    return;
                }
                Some(LinkUpLine::Gateway(addr)) => {
                    *gateway = addr;
                    self.flush_link_up();
                    return;
                }
                None => self.flush_link_up(),
            }
        }
        match parse_event_line(line) {
            Some(EventLine::LinkUpStart) => {
                self.link_up = Some(Event::LinkUp {
                    ip: None,
                    gateway: None,
                });
            }
            Some(EventLine::Event(event)) => self.out.push_back(Item::Event(event)),
            None => {
                let response = classify(line);
                if response == ResponseLine::Ok && self.data_after_ok {
                    self.data_after_ok = false;
                    self.state = State::OkLineEnd(0);
                }
                self.out.push_back(Item::Response(response));
            }
        }
    }

    fn flush_link_up(&mut self) {
        if let Some(event) = self.link_up.take() {
            self.out.push_back(Item::Event(event));
        }
    }
}

enum HeaderScan {
    Header(DataHeader),
    NeedMore,
    NotHeader,
}

#[cfg(test)]
mod tests;
