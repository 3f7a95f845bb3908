//! Data sources on the host: each line on stdin, and each line on a local
//! socket (Unix or loopback TCP), becomes one delivery.
//!
//! A line is taken as it is (text, media type and report type from the
//! config, GW-level) unless it is a JSON envelope — an object with only
//! these keys and a `payload` or `payload_hex`:
//!
//! ```text
//! {"payload": "25.3C", "device": "sensor1", "report_type": "alarm", "media_type": 1}
//! {"payload": {"t": 25.3}}          a JSON payload, sent as JSON text, media type 0x65
//! {"payload_hex": "00ff10"}         binary
//! ```
//!
//! So `{"t": 25.3}` on its own (no `payload` key) is sent as it is.
//! On the local socket every line gets an answer once the delivery is in
//! the spool: `ok <seq>` or `error <reason>`. Stdin gets none; a bad stdin
//! line is logged and skipped.
//!
//! [`module`] reads the WizFi310's ADC and GPIO pins on a schedule (bridge
//! and native transports). The fixed payload of each report period is
//! handled by the agent loop (bridge, direct) or by the module itself
//! (native, AT+GMMPDATA=0).

use std::path::PathBuf;

use bytes::Bytes;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, oneshot};

use crate::config::ListenAddr;
use crate::spool::SpooledDelivery;

pub mod module;

/// Media type of a JSON payload (seen in a public ThingPlug device).
pub const MEDIA_TYPE_JSON: u8 = 0x65;
/// Longest line accepted from a source (a larger payload is split by the
/// engine; this only bounds memory).
pub const MAX_LINE: usize = 64 * 1024;

/// One delivery from a source, with where to send the spool's answer.
#[derive(Debug)]
pub struct SourceMessage {
    /// The delivery.
    pub delivery: SpooledDelivery,
    /// Told the spool sequence number, or why the delivery was refused.
    pub reply: Option<oneshot::Sender<Result<u64, String>>>,
}

/// Report and media type of a plain line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineDefaults {
    /// Report type.
    pub report_type: u8,
    /// Media type.
    pub media_type: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    payload: Option<serde_json::Value>,
    payload_hex: Option<String>,
    device: Option<String>,
    report_type: Option<serde_json::Value>,
    media_type: Option<u8>,
}

/// Turns one line (without its end) into a delivery.
pub fn parse_line(line: &str, defaults: LineDefaults) -> Result<SpooledDelivery, String> {
    let plain = || SpooledDelivery {
        device: None,
        report_type: defaults.report_type,
        media_type: defaults.media_type,
        payload: Bytes::copy_from_slice(line.as_bytes()),
        spooled_at: 0,
    };
    if !line.trim_start().starts_with('{') {
        return Ok(plain());
    }
    let Ok(envelope) = serde_json::from_str::<Envelope>(line) else {
        return Ok(plain());
    };
    let (payload, json) = match (envelope.payload, envelope.payload_hex) {
        (None, None) => return Ok(plain()),
        (Some(_), Some(_)) => return Err("give payload or payload_hex, not both".into()),
        (Some(serde_json::Value::String(s)), None) => (Bytes::from(s.into_bytes()), false),
        (Some(v), None) => (Bytes::from(v.to_string().into_bytes()), true),
        (None, Some(h)) => (
            Bytes::from(hex::decode(h.trim()).map_err(|e| format!("payload_hex: {e}"))?),
            false,
        ),
    };
    let report_type = match envelope.report_type {
        None => defaults.report_type,
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| format!("report_type {n} is not 0..=255"))?,
        Some(serde_json::Value::String(s)) => gmmp_codec::ReportType::from_name(&s)
            .map(|r| r.0)
            .ok_or_else(|| {
                format!("report_type {s:?} is not collect_data, alarm, event or alarm_clear")
            })?,
        Some(other) => return Err(format!("report_type {other} is not a name or a number")),
    };
    let media_type = envelope.media_type.unwrap_or(if json {
        MEDIA_TYPE_JSON
    } else {
        defaults.media_type
    });
    let device = envelope.device.filter(|d| !d.is_empty());
    Ok(SpooledDelivery {
        device,
        report_type,
        media_type,
        payload,
        spooled_at: 0,
    })
}

/// Reads lines from `input` into the channel until it ends. With
/// `answer`, writes `ok <seq>` / `error <reason>` back for each line.
async fn pump_lines<R, W>(
    input: R,
    mut answer: Option<W>,
    tx: mpsc::Sender<SourceMessage>,
    defaults: LineDefaults,
    what: &str,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await;
        match read {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(source = what, error = %e, "reading a data source failed");
                return;
            }
        }
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            tracing::warn!(
                source = what,
                "line longer than {MAX_LINE} bytes; closing the source"
            );
            if let Some(w) = answer.as_mut() {
                let _ = w.write_all(b"error line too long\n").await;
            }
            return;
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            continue;
        }
        let outcome = match parse_line(line, defaults) {
            Ok(delivery) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                let msg = SourceMessage {
                    delivery,
                    reply: Some(reply_tx),
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
                reply_rx
                    .await
                    .unwrap_or_else(|_| Err("agent stopped".into()))
            }
            Err(e) => Err(e),
        };
        match (&outcome, answer.as_mut()) {
            (_, Some(w)) => {
                let reply = match &outcome {
                    Ok(seq) => format!("ok {seq}\n"),
                    Err(e) => format!("error {e}\n"),
                };
                if w.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
            (Err(e), None) => tracing::warn!(source = what, error = %e, "line not delivered"),
            (Ok(_), None) => {}
        }
    }
}

/// Reads deliveries from stdin until it ends.
pub fn spawn_stdin(
    tx: mpsc::Sender<SourceMessage>,
    defaults: LineDefaults,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        pump_lines(
            tokio::io::stdin(),
            None::<tokio::io::Sink>,
            tx,
            defaults,
            "stdin",
        )
        .await;
        tracing::info!("stdin ended; other sources go on");
    })
}

/// A bound local data socket.
#[derive(Debug)]
pub enum LocalListener {
    /// Unix socket (the path is removed when dropped).
    Unix(UnixListener, PathBuf),
    /// Loopback TCP.
    Tcp(TcpListener),
}

impl LocalListener {
    /// Binds `addr`; a stale Unix socket file is replaced.
    pub async fn bind(addr: &ListenAddr) -> std::io::Result<LocalListener> {
        match addr {
            ListenAddr::Tcp(a) => Ok(LocalListener::Tcp(TcpListener::bind(a).await?)),
            ListenAddr::Unix(path) => {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                Ok(LocalListener::Unix(UnixListener::bind(path)?, path.clone()))
            }
        }
    }

    /// The bound address (the real port for `tcp:…:0`).
    pub fn local_addr(&self) -> Option<ListenAddr> {
        match self {
            LocalListener::Tcp(l) => l.local_addr().ok().map(ListenAddr::Tcp),
            LocalListener::Unix(_, p) => Some(ListenAddr::Unix(p.clone())),
        }
    }

    /// Serves connections, one task each, until the channel closes.
    pub fn spawn(
        self,
        tx: mpsc::Sender<SourceMessage>,
        defaults: LineDefaults,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let tx = tx.clone();
                if tx.is_closed() {
                    return;
                }
                match &self {
                    LocalListener::Tcp(l) => match l.accept().await {
                        Ok((stream, _)) => {
                            let (r, w) = stream.into_split();
                            tokio::spawn(pump_lines(r, Some(w), tx, defaults, "local socket"));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "accept on the local data socket failed")
                        }
                    },
                    LocalListener::Unix(l, _) => match l.accept().await {
                        Ok((stream, _)) => {
                            let (r, w) = stream.into_split();
                            tokio::spawn(pump_lines(r, Some(w), tx, defaults, "local socket"));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "accept on the local data socket failed")
                        }
                    },
                }
            }
        })
    }
}

impl Drop for LocalListener {
    fn drop(&mut self) {
        if let LocalListener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: LineDefaults = LineDefaults {
        report_type: 1,
        media_type: 1,
    };

    #[test]
    fn a_plain_line_is_sent_as_it_is() {
        let d = parse_line("25.3C", D).unwrap();
        assert_eq!(&d.payload[..], b"25.3C");
        assert_eq!((d.report_type, d.media_type, d.device), (1, 1, None));
    }

    #[test]
    fn json_without_an_envelope_key_is_plain_data() {
        let d = parse_line("{\"t\": 25.3}", D).unwrap();
        assert_eq!(&d.payload[..], b"{\"t\": 25.3}");
        assert_eq!(d.media_type, 1);
    }

    #[test]
    fn an_envelope_selects_device_and_report_type() {
        let d = parse_line(
            r#"{"payload":"hot","device":"sensor1","report_type":"alarm"}"#,
            D,
        )
        .unwrap();
        assert_eq!(&d.payload[..], b"hot");
        assert_eq!(d.device.as_deref(), Some("sensor1"));
        assert_eq!(d.report_type, 2);
    }

    #[test]
    fn a_json_payload_gets_the_json_media_type() {
        let d = parse_line(r#"{"payload":{"t":1},"report_type":3}"#, D).unwrap();
        assert_eq!(&d.payload[..], b"{\"t\":1}");
        assert_eq!((d.media_type, d.report_type), (MEDIA_TYPE_JSON, 3));
    }

    #[test]
    fn hex_payloads_are_binary_and_bad_ones_refused() {
        let d = parse_line(r#"{"payload_hex":"00ff"}"#, D).unwrap();
        assert_eq!(&d.payload[..], [0x00, 0xff]);
        assert!(parse_line(r#"{"payload_hex":"zz"}"#, D).is_err());
        assert!(parse_line(r#"{"payload":"a","report_type":"loud"}"#, D).is_err());
    }
}
