//! Lines that belong to a command's reply, as opposed to events.
//!
//! ```text
//! AT+MMAC=?              echo of our own input (when echo is on)
//! 00:08:DC:1E:32:22      text line of the reply
//! [0,,,5]                AT+SSEND's go-ahead for the payload
//! [OK]                   final: success
//! [ERROR: INVALID SCID]  final: failure, with the module's words
//! ```

/// A reply line, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseLine {
    /// `[OK]`.
    Ok,
    /// `[ERROR]` or `[ERROR: …]`, verbatim.
    Error(String),
    /// `[sid,ip,port,len]`: AT+SSEND is ready to read the payload.
    SendPrompt {
        /// Socket id as printed.
        sid: u8,
        /// Length as printed.
        len: usize,
    },
    /// The module echoing our input (a line starting with `AT`).
    Echo(String),
    /// Any other line: the reply's content, or noise.
    Text(String),
}

/// Classifies a trimmed line that is not an event.
pub(crate) fn classify(line: &str) -> ResponseLine {
    if line == "[OK]" {
        return ResponseLine::Ok;
    }
    if line.starts_with("[ERROR") && line.ends_with(']') {
        return ResponseLine::Error(line.to_owned());
    }
    if let Some((sid, len)) = send_prompt(line) {
        return ResponseLine::SendPrompt { sid, len };
    }
    let upper = line.as_bytes();
    // Module output never starts with "AT"; our input always does.
    if upper.len() >= 2
        && upper[..2].eq_ignore_ascii_case(b"AT")
        && (upper.len() == 2 || upper[2] == b'+')
    {
        return ResponseLine::Echo(line.to_owned());
    }
    ResponseLine::Text(line.to_owned())
}

fn send_prompt(line: &str) -> Option<(u8, usize)> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let fields: Vec<&str> = inner.split(',').collect();
    let [sid, _ip, _port, len] = fields.as_slice() else {
        return None;
    };
    Some((sid.trim().parse().ok()?, len.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified() {
        assert_eq!(classify("[OK]"), ResponseLine::Ok);
        assert_eq!(
            classify("[ERROR: WiFi Status]"),
            ResponseLine::Error("[ERROR: WiFi Status]".into())
        );
        assert_eq!(classify("[ERROR]"), ResponseLine::Error("[ERROR]".into()));
        assert_eq!(
            classify("[0,,,5]"),
            ResponseLine::SendPrompt { sid: 0, len: 5 }
        );
        assert_eq!(
            classify("[1,192.168.0.100,5000,1000000]"),
            ResponseLine::SendPrompt {
                sid: 1,
                len: 1_000_000
            }
        );
        assert_eq!(classify("AT"), ResponseLine::Echo("AT".into()));
        assert_eq!(
            classify("AT+MMAC=?"),
            ResponseLine::Echo("AT+MMAC=?".into())
        );
        assert_eq!(classify("ATTN"), ResponseLine::Text("ATTN".into()));
        assert_eq!(classify("1697"), ResponseLine::Text("1697".into()));
    }
}
