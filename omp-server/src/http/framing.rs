//! How each request on a connection frames its body, read from the bytes
//! as they arrive — before hyper parses them.
//!
//! A request with both `Transfer-Encoding` and `Content-Length` is the
//! request-smuggling shape: a proxy in front that honours the length and
//! this server that honours the chunking (as RFC 9112 §6.1 says) would
//! disagree on where the next request starts. hyper takes the chunking
//! and drops the `Content-Length` header before the request reaches the
//! service, so the conflict cannot be seen there; [`HeadScanner`] sees the
//! raw head and tells the service, which answers 400 (see
//! [`super::serve`]).
//!
//! The scanner reads request heads and skips `Content-Length` bodies to
//! find the next head of a keep-alive connection. It does not parse
//! chunked bodies: after a chunked request it stops, and the service
//! answers that request with `Connection: close`, so no later head on the
//! connection goes unscanned. Protocol logic only: no IO.

use std::collections::VecDeque;

/// Bytes of a header line kept: enough for the names looked for and a
/// length's digits; longer lines are other headers or invalid lengths
/// (which hyper refuses itself).
const LINE_KEPT: usize = 64;

/// How one request head frames its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` or no body.
    Length,
    /// `Transfer-Encoding` alone.
    Chunked,
    /// Both headers: refused.
    Conflicting,
}

#[derive(Debug)]
enum State {
    /// Reading a head's lines.
    Head,
    /// Skipping this many body bytes.
    Body(u64),
    /// After a chunked or conflicting head: nothing more is scanned.
    Stopped,
}

/// Follows a connection's bytes from client to server; [`Self::next_head`]
/// gives each head's [`Framing`] in order.
#[derive(Debug)]
pub struct HeadScanner {
    state: State,
    line: Vec<u8>,
    line_len: usize,
    lines: usize,
    transfer_encoding: bool,
    content_length: Option<Option<u64>>,
    found: VecDeque<Framing>,
}

impl Default for HeadScanner {
    fn default() -> Self {
        HeadScanner {
            state: State::Head,
            line: Vec::with_capacity(LINE_KEPT),
            line_len: 0,
            lines: 0,
            transfer_encoding: false,
            content_length: None,
            found: VecDeque::new(),
        }
    }
}

impl HeadScanner {
    /// Takes the next bytes the client sent.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.state {
                State::Stopped => return,
                State::Body(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::Head
                    } else {
                        State::Body(left)
                    };
                }
                State::Head => {
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    if byte == b'\n' {
                        self.end_line();
                    } else {
                        if self.line.len() < LINE_KEPT {
                            self.line.push(byte);
                        }
                        self.line_len += 1;
                    }
                }
            }
        }
    }

    /// The framing of the next head seen, in order.
    pub fn next_head(&mut self) -> Option<Framing> {
        self.found.pop_front()
    }

    fn end_line(&mut self) {
        if self.line.last() == Some(&b'\r') && self.line_len <= LINE_KEPT {
            self.line.pop();
            self.line_len -= 1;
        }
        let empty = self.line_len == 0;
        if empty && self.lines == 0 {
            // Blank lines before a request line are tolerated (RFC 9112 §2.2).
        } else if empty {
            self.end_head();
        } else {
            if self.lines > 0 {
                self.header_line();
            }
            self.lines += 1;
        }
        self.line.clear();
        self.line_len = 0;
    }

    fn header_line(&mut self) {
        let Some(colon) = self.line.iter().position(|&b| b == b':') else {
            return;
        };
        let name = self.line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.transfer_encoding = true;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let value = (self.line_len <= LINE_KEPT)
                .then(|| std::str::from_utf8(self.line[colon + 1..].trim_ascii()).ok())
                .flatten()
                .and_then(|v| v.parse::<u64>().ok());
            self.content_length = Some(value);
        }
    }

    fn end_head(&mut self) {
        let (framing, state) = match (self.transfer_encoding, self.content_length) {
            (true, Some(_)) => (Framing::Conflicting, State::Stopped),
            (true, None) => (Framing::Chunked, State::Stopped),
            // An unreadable length: hyper refuses the request and closes.
            (false, Some(None)) => (Framing::Length, State::Stopped),
            (false, Some(Some(n))) if n > 0 => (Framing::Length, State::Body(n)),
            (false, _) => (Framing::Length, State::Head),
        };
        self.found.push_back(framing);
        self.state = state;
        self.lines = 0;
        self.transfer_encoding = false;
        self.content_length = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<Framing> {
        let mut scanner = HeadScanner::default();
        for chunk in chunks {
            scanner.feed(chunk);
        }
        std::iter::from_fn(|| scanner.next_head()).collect()
    }

    #[test]
    fn both_headers_are_conflicting_in_any_order_and_case() {
        for head in [
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n",
            b"POST / HTTP/1.1\nTRANSFER-ENCODING : chunked\nContent-Length:4\n\n",
        ] {
            assert_eq!(scan(&[head]), [Framing::Conflicting]);
        }
    }

    #[test]
    fn keep_alive_heads_are_found_across_bodies_and_split_reads() {
        let stream = b"\r\nPOST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
            GET /b HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /c HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n";
        let whole = scan(&[stream]);
        assert_eq!(
            whole,
            [Framing::Length, Framing::Length, Framing::Conflicting]
        );
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(scan(&bytes), whole, "byte by byte");
    }

    #[test]
    fn a_body_that_looks_like_headers_is_skipped() {
        let stream = b"POST / HTTP/1.1\r\nContent-Length: 47\r\n\r\n\
            Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\
            GET / HTTP/1.1\r\n\r\n";
        assert_eq!(scan(&[stream]), [Framing::Length, Framing::Length]);
    }

    #[test]
    fn scanning_stops_after_a_chunked_head() {
        let stream = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            0\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: x\r\n\r\n";
        assert_eq!(scan(&[stream]), [Framing::Chunked]);
    }
}
