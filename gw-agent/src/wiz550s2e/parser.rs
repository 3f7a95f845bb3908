//! The sans-IO parser: bytes from the module in, [`Item`]s out.
//!
//! Feed it whatever the port gave ([`Parser::feed`]), then take items with
//! [`Parser::next_item`] until it answers `None` ("not enough bytes yet").
//! It never fails: unreadable input comes out as [`ReplyLine::Text`].
//!
//! Rules, at the start of a line:
//! 1. CR and LF between lines are skipped.
//! 2. The line runs to the next CR or LF and is classified
//!    ([`super::reply::classify`]).
//! 3. After a `[R,<sock>,<len>…]` header, its CR LF is skipped and exactly
//!    `len` bytes are taken as the payload, whatever they are (`[`, `]`, CR,
//!    LF, any byte value), however the input was chunked; then the CR LF the
//!    firmware prints after the payload is skipped when present.
//! 4. After a `[D,<id>,<size>]` header, its CR LF is skipped and `size`
//!    bytes are the dump.
//!
//! The firmware prints a receive record only between lines (`act_nrecv`
//! waits for the UART ring buffer to empty first), so a header is looked
//! for only at the start of a line.

use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::reply::{ReceiveHeader, ReplyLine, SocketEvent, classify};

/// A line longer than this is cut and delivered, so garbage cannot grow
/// the buffer.
const MAX_LINE: usize = 4096;
/// Largest receive record or dump accepted; a header announcing more is
/// read as text (the firmware's records are at most 1024 bytes).
pub const MAX_RECORD: usize = 64 * 1024;

/// One thing the module said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A response line (`[S…]`, `[F…]`, `[W…]`) or text.
    Line(ReplyLine),
    /// A socket event (`[V,<sock>,<event>]`).
    Event {
        /// The socket.
        sock: u8,
        /// What happened.
        event: SocketEvent,
    },
    /// A dump (`[D,<id>,<size>]` and its bytes).
    Dump {
        /// The id (`None` when empty).
        id: Option<u8>,
        /// The dumped bytes.
        data: Bytes,
    },
    /// Received socket data (`[R,…]` and its payload).
    Received {
        /// The socket.
        sock: u8,
        /// The sender (UDP only).
        from: Option<(Ipv4Addr, u16)>,
        /// The payload, byte-exact.
        data: Bytes,
    },
}

/// What the bytes after a header are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Receive(ReceiveHeader),
    Dump { id: Option<u8>, size: usize },
}

impl Body {
    fn len(self) -> usize {
        match self {
            Body::Receive(h) => h.len,
            Body::Dump { size, .. } => size,
        }
    }
}

/// Where the parser stands between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    LineStart,
    /// After a header: skipping byte `n` of its CR LF.
    HeaderEnd(Body, usize),
    /// Taking the body by length.
    Body(Body),
    /// After a receive payload: skipping byte `n` of its CR LF.
    Trailer(usize),
}

/// Byte stream → items. See the module docs for the rules.
#[derive(Debug)]
pub struct Parser {
    buf: BytesMut,
    state: State,
    out: VecDeque<Item>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    /// A parser at the start of a line.
    pub fn new() -> Self {
        Parser {
            buf: BytesMut::new(),
            state: State::LineStart,
            out: VecDeque::new(),
        }
    }

    /// Appends bytes read from the port.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
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

    /// The bytes fed but not read into items yet, taken out: the parser is
    /// back at a line start. For the switch to data mode, where what
    /// follows AT+MDATA's `[S]` is the connection's bytes, not lines.
    pub fn take_rest(&mut self) -> Bytes {
        self.state = State::LineStart;
        self.buf.split().freeze()
    }

    /// Consumes some input, possibly queueing an item. `false`: need more.
    fn step(&mut self) -> bool {
        match self.state {
            State::LineStart => self.line_start(),
            State::HeaderEnd(body, n) => {
                match (b"\r\n".get(n), self.buf.first()) {
                    (Some(_), None) => return false,
                    (Some(want), Some(got)) if want == got => {
                        self.buf.advance(1);
                        self.state = State::HeaderEnd(body, n + 1);
                    }
                    _ => self.state = State::Body(body),
                }
                true
            }
            State::Body(body) => {
                if self.buf.len() < body.len() {
                    return false;
                }
                let data = self.buf.split_to(body.len()).freeze();
                match body {
                    Body::Receive(h) => {
                        self.out.push_back(Item::Received {
                            sock: h.sock,
                            from: h.from,
                            data,
                        });
                        self.state = State::Trailer(0);
                    }
                    Body::Dump { id, .. } => {
                        self.out.push_back(Item::Dump { id, data });
                        self.state = State::LineStart;
                    }
                }
                true
            }
            State::Trailer(n) => {
                match (b"\r\n".get(n), self.buf.first()) {
                    (Some(_), None) => return false,
                    (Some(want), Some(got)) if want == got => {
                        self.buf.advance(1);
                        self.state = State::Trailer(n + 1);
                    }
                    _ => self.state = State::LineStart,
                }
                true
            }
        }
    }

    fn line_start(&mut self) -> bool {
        let skip = self
            .buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        self.buf.advance(skip);
        if self.buf.is_empty() {
            return false;
        }
        let end = self.buf.iter().position(|&b| b == b'\r' || b == b'\n');
        let line = match end {
            Some(end) => self.buf.split_to(end),
            None if self.buf.len() > MAX_LINE => self.buf.split_to(MAX_LINE),
            None => return false,
        };
        let text = String::from_utf8_lossy(&line);
        match classify(text.trim_matches(' ')) {
            ReplyLine::Receive(h) if h.len <= MAX_RECORD => {
                self.state = State::HeaderEnd(Body::Receive(h), 0);
            }
            ReplyLine::DumpHeader { id, size } if size <= MAX_RECORD => {
                self.state = State::HeaderEnd(Body::Dump { id, size }, 0);
            }
            ReplyLine::Event { sock, event } => self.out.push_back(Item::Event { sock, event }),
            ReplyLine::Receive(_) | ReplyLine::DumpHeader { .. } => {
                self.out
                    .push_back(Item::Line(ReplyLine::Text(text.into_owned())));
            }
            line => self.out.push_back(Item::Line(line)),
        }
        true
    }
}

#[cfg(test)]
mod tests;
