//! The agent loop for the `native` transport: the module's GMMP client
//! carries the deliveries, the agent keeps the spool and feeds it.
//!
//! ```text
//! sources ─▶ spool (fsync) ─▶ AT+GMMPDATA=1,<text> ─▶ module ─GMMP─▶ OMP
//!              ▲                                         │ trace: OPERATION_DELIVERY_RSP rc 0x00
//!              └─────────── remove ◀─────────────────────┘
//! ```
//!
//! One delivery is fed at a time, and only once the trace showed the
//! registration sequence finished (`OPERATION_DEVICE_REG_RSP` rc 0): the
//! firmware drops AT+GMMPDATA=1 data while it has no GW ID. The delivery's
//! own request block is recognised by its body, which gives the T-ID its
//! response block will carry. Without a response within the response
//! timeout (or when the module's connection drops first) the delivery
//! stays spooled and is fed again after `delivery.retry_delay`, so native
//! mode is at-least-once as far as the trace can see (see
//! [`crate::transport::native`] for what it cannot do).

use std::time::{Duration, Instant};

use gmmp_codec::{ControlType, ResultCode};
use tokio_util::sync::CancellationToken;

use super::{Agent, AgentError, Backoff, DownLog, sleep_until};
use crate::engine::delivery::refusal_is_final;
use crate::refusal;
use crate::spool::{SpoolError, SpooledDelivery};
use crate::status::Status;
use crate::transport::native::trace::{Observed, TraceFollower, operation};
use crate::transport::native::{NativeSetup, NativeTransport};
use crate::transport::{ModuleOp, TransportError};
use crate::wizfi310::Event;

/// How long a delivery waits for its traced response when no profile
/// said otherwise (the module's own timeout is not visible).
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A delivery handed to the module, awaiting its traced response.
#[derive(Debug)]
struct InFlight {
    seq: u64,
    text: String,
    /// The T-ID of its request block, once seen.
    tid: Option<u32>,
    deadline: Instant,
}

/// Why a native session ended.
enum NativeEnd {
    Shutdown,
    /// Start again after the back-off (link lost, registration refused, …).
    Restart(String),
    /// Start again at once (a reset the agent asked for).
    Reset,
}

/// The session as the trace shows it.
#[derive(Debug, Default)]
struct Session {
    omp: String,
    gw_id: Option<String>,
    ready: bool,
    in_flight: Option<InFlight>,
    hold_until: Option<Instant>,
    report_on: bool,
    running: bool,
}

/// The text the module can carry for `delivery`, or why it cannot.
fn native_text(delivery: &SpooledDelivery) -> Result<String, String> {
    if let Some(device) = &delivery.device {
        return Err(format!(
            "native mode delivers at GW level only; device {device:?} cannot be named"
        ));
    }
    // The module's command line keeps 255 bytes: a longer text would go
    // out cut short, never match its trace, and be sent again forever.
    let max = crate::wizfi310::command::gmmp::MAX_GMMP_DATA;
    if delivery.payload.is_empty() || delivery.payload.len() > max {
        return Err(format!(
            "native mode carries 1..={max} bytes (the module's 255-byte command line); this payload has {}",
            delivery.payload.len()
        ));
    }
    let text = std::str::from_utf8(&delivery.payload)
        .map_err(|_| "native mode carries text; this payload is not UTF-8".to_string())?;
    if text.chars().any(char::is_control) {
        return Err("native mode carries one line of text; this payload has control bytes".into());
    }
    Ok(text.to_owned())
}

/// True when the traced body is `text` (the firmware prints it raw; the
/// codec's trace escapes bytes outside printable ASCII and `\`).
fn body_matches(body: &str, text: &str) -> bool {
    body == text || body.trim_start() == text || body == gmmp_codec::escape_bytes(text.as_bytes())
}

impl Agent {
    /// Runs the agent over the module's own GMMP client until `shutdown`.
    pub async fn run_native(
        mut self,
        mut native: NativeTransport,
        shutdown: CancellationToken,
    ) -> Result<(), AgentError> {
        let mut backoff = Backoff::new(self.config.reconnect_initial, self.config.reconnect_max);
        let mut down_log = DownLog::default();
        let auth_id = match self.config.auth_id.clone() {
            Some(a) => a,
            None => loop {
                // A module that does not answer yet is asked again.
                let Some(asked) = self
                    .while_accepting(native.default_auth_id(), &shutdown)
                    .await
                else {
                    self.status.flush(Instant::now());
                    return Ok(());
                };
                match asked {
                    Ok(a) => break a,
                    Err(e) => {
                        let recovered = backoff.is_fresh();
                        let delay = backoff.next();
                        down_log.report(
                            "cannot read the module's MAC (the default auth ID) yet",
                            &e.to_string(),
                            delay,
                            recovered,
                        );
                        if !self.idle(delay, &shutdown).await {
                            self.status.flush(Instant::now());
                            return Ok(());
                        }
                    }
                }
            },
        };
        backoff.reset();
        let setup = self.native_setup(auth_id);
        let mut session = Session {
            report_on: true,
            running: true,
            ..Session::default()
        };
        loop {
            session.omp = "starting".into();
            session.ready = false;
            self.native_status(&session, &native);
            let Some(started) = self.while_accepting(native.start(&setup), &shutdown).await else {
                break;
            };
            let end = match started {
                Ok(()) => {
                    tracing::info!("module GMMP client started (AT+GMMPSET=1)");
                    session.omp = "connecting".into();
                    self.native_session(&mut native, &mut session, &setup, &shutdown, &mut backoff)
                        .await?
                }
                Err(e) => NativeEnd::Restart(e.to_string()),
            };
            session.ready = false;
            if let Some(f) = session.in_flight.take() {
                tracing::info!(
                    seq = f.seq,
                    "delivery in flight when the session ended; it stays spooled"
                );
            }
            match end {
                NativeEnd::Shutdown => break,
                NativeEnd::Reset => {
                    if let Err(e) = native.module_op(ModuleOp::Reset).await {
                        tracing::warn!(error = %e, "module reset failed");
                    }
                }
                NativeEnd::Restart(reason) => {
                    let recovered = backoff.is_fresh();
                    let delay = backoff.next();
                    down_log.report("native session down", &reason, delay, recovered);
                    session.omp = "down".into();
                    self.native_status(&session, &native);
                    if !self.idle(delay, &shutdown).await {
                        break;
                    }
                }
            }
        }
        native.stop().await;
        session.omp = "stopped".into();
        self.native_status(&session, &native);
        self.status.flush(Instant::now());
        Ok(())
    }

    fn native_setup(&self, auth_id: String) -> NativeSetup {
        let c = &self.config;
        let minutes = |d: Option<Duration>| {
            d.map(|d| u16::try_from(d.as_secs().div_ceil(60)).unwrap_or(u16::MAX))
        };
        // docs/wizfi310.md §3-4: the 7th AT+GMMPSET parameter is the device
        // registration's manufacture ID; the GMMP guide gives the MAC there.
        let device_manufacture_id = c
            .devices
            .first()
            .map_or_else(|| auth_id.clone(), |d| d.manufacture_id.clone());
        if c.devices.len() > 1 {
            tracing::warn!(
                "native mode registers one device; only the first of [[devices]] is used"
            );
        }
        NativeSetup {
            domain_code: c.domain_code.clone(),
            auth_id,
            manufacture_id: c.manufacture_id.clone(),
            device_manufacture_id,
            heartbeat_minutes: minutes(c.heartbeat_period),
            report_minutes: minutes(c.report_period),
            fixed_payload: c.sources.fixed_payload.clone(),
        }
    }

    async fn native_session(
        &mut self,
        native: &mut NativeTransport,
        session: &mut Session,
        setup: &NativeSetup,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<NativeEnd, AgentError> {
        let mut follower = TraceFollower::new();
        let response_timeout = self
            .config
            .response_timeout
            .unwrap_or(DEFAULT_RESPONSE_TIMEOUT);
        loop {
            let now = Instant::now();
            if session.hold_until.is_some_and(|t| t <= now) {
                session.hold_until = None;
            }
            if let Err(e) = self
                .native_feed(native, session, now, response_timeout)
                .await
            {
                return Ok(NativeEnd::Restart(e.to_string()));
            }
            self.native_status(session, native);
            let deadline = session.in_flight.as_ref().map(|f| f.deadline);
            let status_due = self.status.next_write();
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(NativeEnd::Shutdown),
                event = native.next_event() => {
                    let event = match event {
                        Ok(e) => e,
                        Err(e) => return Ok(NativeEnd::Restart(e.to_string())),
                    };
                    match event {
                        Event::LinkDown => return Ok(NativeEnd::Restart("Wi-Fi link down".into())),
                        Event::Reset => return Ok(NativeEnd::Restart("the module reset itself".into())),
                        event => {
                            for observed in follower.feed(&event) {
                                if let Some(end) = self.observe(observed, session, setup, backoff)? {
                                    return Ok(end);
                                }
                            }
                        }
                    }
                }
                Some(msg) = self.sources_rx.recv() => self.accept_ready(msg),
                _ = sleep_until(deadline), if deadline.is_some() => {
                    if let Some(f) = session.in_flight.take() {
                        tracing::warn!(seq = f.seq, tid = ?f.tid, "no delivery response in the module's trace; sending again later");
                        session.hold_until = Some(Instant::now() + self.config.retry_delay);
                    }
                }
                _ = sleep_until(session.hold_until), if session.hold_until.is_some() => {}
                _ = sleep_until(status_due), if status_due.is_some() => self.status.flush(Instant::now()),
            }
        }
    }

    /// Hands the oldest spooled delivery to the module when it can take one.
    async fn native_feed(
        &mut self,
        native: &mut NativeTransport,
        session: &mut Session,
        now: Instant,
        response_timeout: Duration,
    ) -> Result<(), TransportError> {
        while session.ready
            && session.report_on
            && session.running
            && session.in_flight.is_none()
            && session.hold_until.is_none()
        {
            let Some(seq) = self.spool.next_after(None) else {
                return Ok(());
            };
            let delivery = match self.spool.read(seq) {
                Ok(d) => d,
                Err(e @ SpoolError::BadRecord { .. }) => {
                    self.native_set_aside(seq, &e.to_string());
                    continue;
                }
                Err(e) => {
                    tracing::error!(seq, error = %e, "cannot read a spooled delivery; trying later");
                    session.hold_until = Some(now + self.config.retry_delay);
                    return Ok(());
                }
            };
            let text = match native_text(&delivery) {
                Ok(t) => t,
                Err(reason) => {
                    self.native_set_aside(seq, &reason);
                    continue;
                }
            };
            if delivery.report_type != gmmp_codec::ReportType::COLLECT_DATA.0
                || delivery.media_type != 0x01
            {
                tracing::warn!(
                    seq,
                    report_type = delivery.report_type,
                    media_type = delivery.media_type,
                    "native mode: the module sends report type 0x01 and media type 0x01"
                );
            }
            native.send_now(&text).await?;
            session.in_flight = Some(InFlight {
                seq,
                text,
                tid: None,
                deadline: now + response_timeout,
            });
        }
        Ok(())
    }

    fn native_set_aside(&mut self, seq: u64, reason: &str) {
        if let Err(e) = self.set_aside(seq, reason) {
            tracing::error!(seq, error = %e, "cannot set a delivery aside; it stays spooled");
        }
    }

    /// Applies one traced observation.
    fn observe(
        &mut self,
        observed: Observed,
        session: &mut Session,
        setup: &NativeSetup,
        backoff: &mut Backoff,
    ) -> Result<Option<NativeEnd>, AgentError> {
        match observed {
            Observed::Connected => {
                tracing::info!("[GMMP Connect]: the module's client is connected");
                session.omp = "registering".into();
            }
            Observed::Disconnected => {
                tracing::warn!("[GMMP Disconnect]: the module's client lost the OMP");
                session.ready = false;
                session.omp = "connecting".into();
                if let Some(f) = session.in_flight.take() {
                    session.hold_until = Some(Instant::now() + self.config.retry_delay);
                    tracing::info!(seq = f.seq, "delivery unconfirmed; it stays spooled");
                }
            }
            Observed::Control(code) => return Ok(self.native_control(code, session)),
            Observed::Sent(m) if m.name == operation::SET_DELIVERY => {
                if let (Some(f), Some(body)) = (session.in_flight.as_mut(), m.body.as_deref())
                    && f.tid.is_none()
                    && body_matches(body, &f.text)
                {
                    f.tid = m.tid;
                }
            }
            Observed::Sent(_) => {}
            Observed::Received(m) => {
                let rc = m.result_code.map(ResultCode);
                let refused = rc.filter(|rc| !rc.is_ok());
                match m.name.as_str() {
                    operation::GW_REG_RSP => {
                        if let Some(rc) = refused {
                            return Ok(Some(NativeEnd::Restart(format!(
                                "the module's {}",
                                refusal::registration_refused(
                                    rc,
                                    refusal::Applicant {
                                        auth_id: &setup.auth_id,
                                        domain: &setup.domain_code,
                                        manufacture_id: &setup.manufacture_id,
                                    },
                                )
                            ))));
                        }
                        if let Some(gw_id) = m.gw_id.filter(|g| !g.is_empty()) {
                            tracing::info!(%gw_id, "GW ID assigned to the module");
                            session.gw_id = Some(gw_id);
                        }
                        session.omp = "registering".into();
                    }
                    operation::PROFILE_RSP | operation::DEVICE_REG_RSP if refused.is_some() => {
                        return Ok(Some(NativeEnd::Restart(format!(
                            "the OMP refused the module's {}: {:?}",
                            m.name,
                            refused.unwrap_or(ResultCode::OK)
                        ))));
                    }
                    operation::DEVICE_REG_RSP => {
                        tracing::info!(gw_id = ?session.gw_id, "the module's registration is complete");
                        session.ready = true;
                        session.omp = "ready".into();
                        backoff.reset();
                    }
                    operation::DELIVERY_RSP => self.delivery_result(&m, session)?,
                    _ => {}
                }
            }
        }
        Ok(None)
    }

    fn delivery_result(
        &mut self,
        m: &crate::transport::native::trace::Message,
        session: &mut Session,
    ) -> Result<(), AgentError> {
        let Some(f) = session.in_flight.as_ref() else {
            return Ok(());
        };
        if f.tid.is_none() || f.tid != m.tid {
            // The fixed payload's delivery, or one the agent did not feed.
            return Ok(());
        }
        let seq = f.seq;
        session.in_flight = None;
        match m.result_code.map(ResultCode) {
            Some(rc) if rc.is_ok() => match self.spool.remove(seq) {
                Ok(()) | Err(SpoolError::NotPending { .. }) => {}
                Err(e) => return Err(e.into()),
            },
            Some(rc) if refusal_is_final(rc) => {
                self.set_aside(seq, &format!("the OMP answered {rc:?} (module trace)"))?;
            }
            rc => {
                tracing::warn!(seq, ?rc, "delivery refused for now; sending again later");
                session.hold_until = Some(Instant::now() + self.config.retry_delay);
            }
        }
        Ok(())
    }

    /// A control the firmware already answered; the agent acts on the ones
    /// it can.
    fn native_control(&mut self, code: u8, session: &mut Session) -> Option<NativeEnd> {
        let ct = ControlType(code);
        tracing::info!(control = %ct.title(), "control from the OMP (answered by the module's firmware)");
        match ct {
            ControlType::RESET => return Some(NativeEnd::Reset),
            ControlType::REPORT_ON => session.report_on = true,
            ControlType::REPORT_OFF => session.report_on = false,
            ControlType::RESTART => session.running = true,
            ControlType::PAUSE => session.running = false,
            _ => tracing::info!(
                control = %ct.title(),
                "native mode: the firmware's empty notification is the only answer"
            ),
        }
        None
    }

    fn native_status(&mut self, session: &Session, native: &NativeTransport) {
        let link = native.link_status();
        let status = Status {
            transport: "native".into(),
            module: link.module,
            wifi: link.wifi,
            omp: session.omp.clone(),
            gw_id: session.gw_id.clone(),
            spool_depth: self.spool.len(),
            spool_bytes: self.spool.pending_bytes(),
            report_on: session.report_on,
            running: session.running,
            pid: std::process::id(),
            updated: 0,
        };
        self.last_status = status.clone();
        self.status.update(status, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn delivery(device: Option<&str>, payload: &[u8]) -> SpooledDelivery {
        SpooledDelivery {
            device: device.map(str::to_owned),
            report_type: 1,
            media_type: 1,
            payload: Bytes::copy_from_slice(payload),
            spooled_at: 0,
        }
    }

    #[test]
    fn only_gw_level_single_line_text_goes_native() {
        assert_eq!(
            native_text(&delivery(None, b"25.3C, ok")).unwrap(),
            "25.3C, ok"
        );
        assert!(native_text(&delivery(Some("s1"), b"x")).is_err());
        assert!(native_text(&delivery(None, b"a\r\nAT+MRESET")).is_err());
        assert!(native_text(&delivery(None, &[0xff, 0x00])).is_err());
        assert!(native_text(&delivery(None, &[b'a'; 241])).is_ok());
        assert!(native_text(&delivery(None, &[b'a'; 242])).is_err());
    }

    #[test]
    fn traced_bodies_match_raw_or_escaped() {
        assert!(body_matches("a\\x5cb", "a\\b"));
        assert!(body_matches("test data", "test data"));
        assert!(body_matches(" test data", "test data"));
        assert!(!body_matches("test", "test data"));
    }
}
