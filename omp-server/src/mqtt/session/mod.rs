//! One task per MQTT connection: the IO loop around its [`Machine`] —
//! read packets, act on the machine's decisions (log in, commit and only
//! then acknowledge, subscribe, forward routed messages), sleep until the
//! machine's next deadline.
//!
//! The session is generic over its byte stream, so a TLS stream can be
//! handed in exactly as a TCP one.
//!
//! Acknowledgements wait for the commit: a PUBLISH is handed to the
//! group-commit writer and the session reads nothing more until the
//! writer has committed it (and, when the writer's queue is full, until
//! there is room) — back-pressure through TCP, never an acknowledgement
//! of something not on disk. A failed commit closes the connection
//! without acknowledging: the client sends again when it reconnects.
//!
//! Until it logs in a connection holds a place under the listener's
//! unauthenticated caps ([`UnauthenticatedSlot`]), shared with GMMP.
//! Online states are noted in the shared state, not awaited: a session
//! waits on the writer for its messages only (see `MqttState::note_presence`).
//! At the end of a logged-in session the client is marked offline, and
//! its will, unless it sent DISCONNECT, is stored as a message, routed to
//! subscribers and retained if it asks to be.
//!
//! Routed messages and the commands of the control queue
//! ([`crate::control::mqtt`]) reach the session through its one
//! [`Inbox`], made at login; the control dispatcher is given it once the
//! CONNACK 0 is written. The session publishes each command, reports it
//! written, and reports the PUBACK / PUBCOMP or the device's reply that
//! ends it ([`commands`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use mqtt_codec::{ConnectReturnCode, MqttCodec, MqttError, Packet, Publish, QoS};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::codec::Decoder;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::cluster::Kind;
use crate::escaped;
use crate::gmmp::log_budget::LogBudget;
use crate::listen::{self, UnauthenticatedSlot};
use crate::mqtt::inbox::{Delivery, Inbox};
use crate::mqtt::ingest::{self, Incoming};
use crate::mqtt::login::{self, Login};
use crate::mqtt::metrics::CloseReason;
use crate::mqtt::router::Message;
use crate::state::Shared;
use crate::store::mqtt_messages::MessageKind;
use crate::store::mqtt_presence::Presence;
use crate::store::now_millis;

pub mod commands;
mod ending;
pub mod machine;

use ending::Ending;

use machine::{Action, Close, Machine, Timeouts};

const INITIAL_READ_CAPACITY: usize = 64;
/// Warn lines per second for events a peer causes at will.
static PEER_FAULT_LOG: LogBudget = LogBudget::new(10);
/// An idle deadline far enough to mean never.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// The codec, noting the first byte of the packet it last looked at: the
/// packet type a closing is logged with (the one in progress, the one that
/// did not decode, or the last one received).
#[derive(Debug)]
struct NotingCodec {
    codec: MqttCodec,
    first_byte: Option<u8>,
}

impl Decoder for NotingCodec {
    type Item = Packet;
    type Error = MqttError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, MqttError> {
        if let Some(&b) = src.first() {
            self.first_byte = Some(b);
        }
        self.codec.decode(src)
    }
}

type Packets<S> = FramedRead<ReadHalf<S>, NotingCodec>;

struct Session<S> {
    state: Arc<Shared>,
    id: u64,
    peer: SocketAddr,
    write: WriteHalf<S>,
    machine: Machine,
    /// Cancelled when a newer session of the same client id binds.
    close: CancellationToken,
    /// Routed messages and the control dispatcher's commands, made at
    /// login.
    inbox: Option<Arc<Inbox>>,
    /// Commands written and not yet ended.
    commands: commands::Commands,
    /// Held until login (see the listener's caps).
    unauthenticated: Option<UnauthenticatedSlot>,
    /// Unix ms of the last packet.
    last_seen: i64,
    /// Unix ms of the CONNACK 0.
    connected_at: i64,
    out: BytesMut,
}

/// The session clock: tokio's, so that a paused test clock governs it.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Runs one connection to its end. `_permit` holds a place under the
/// connection cap until the session ends, `unauthenticated` one under the
/// unauthenticated caps until it logs in.
pub async fn run<S>(
    state: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    unauthenticated: UnauthenticatedSlot,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    run_opened_at(
        state,
        stream,
        peer,
        permit,
        unauthenticated,
        shutdown,
        now(),
    )
    .await;
}

/// [`run`] for a connection opened at `opened_at`, which its CONNECT
/// timeout counts from (the MQTTS port spends some of it on the TLS
/// handshake).
pub async fn run_opened_at<S>(
    state: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    unauthenticated: UnauthenticatedSlot,
    shutdown: CancellationToken,
    opened_at: std::time::Instant,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let metrics = &state.mqtt.metrics;
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    let (read, write) = tokio::io::split(stream);
    let codec = NotingCodec {
        codec: MqttCodec::with_max_packet_size(state.config.mqtt_max_packet_size),
        first_byte: None,
    };
    let mut packets = FramedRead::with_capacity(read, codec, INITIAL_READ_CAPACITY);
    let id = state.next_session_id();
    let mut session = Session {
        id,
        machine: Machine::new(Timeouts::from_config(&state.config), id, opened_at),
        state,
        peer,
        write,
        close: CancellationToken::new(),
        inbox: None,
        commands: commands::Commands::default(),
        unauthenticated: Some(unauthenticated),
        last_seen: now_millis(),
        connected_at: 0,
        out: BytesMut::new(),
    };
    tracing::debug!(%peer, session = id, "MQTT connection opened");
    let ending = session.serve(&mut packets, &shutdown).await;
    // Boxed like the arms of `serve` that run now and then: what only the
    // end needs (storing a will, the offline state) must not be part of
    // every idle session's task.
    Box::pin(session.end(ending, packets.decoder().first_byte)).await;
}

enum Read {
    Packet(Packet),
    Started,
    Failed(MqttError),
    End,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    async fn serve(&mut self, packets: &mut Packets<S>, shutdown: &CancellationToken) -> Ending {
        let mut armed = self.machine.poll_timeout();
        let timer = tokio::time::sleep_until(tokio::time::Instant::from_std(
            armed.unwrap_or_else(|| now() + NEVER),
        ));
        tokio::pin!(timer);
        let shutting_down = shutdown.cancelled();
        tokio::pin!(shutting_down);
        let close = self.close.clone();
        let replaced = close.cancelled();
        tokio::pin!(replaced);
        loop {
            let deadline = self.machine.poll_timeout();
            if deadline != armed {
                if let Some(at) = deadline {
                    timer.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                armed = deadline;
            }
            let in_progress = self.machine.packet_in_progress();
            tokio::select! {
                biased;
                () = &mut shutting_down => return Ending::new(CloseReason::Shutdown, "server shutting down"),
                () = &mut replaced => return self.replaced(),
                () = listen::shed(self.unauthenticated.as_ref()) => {
                    return Ending::new(CloseReason::Shed, listen::SHED_REASON);
                }
                read = next_read(packets, in_progress) => {
                    let action = match read {
                        Read::Started => {
                            self.machine.packet_started(now());
                            continue;
                        }
                        Read::End => return Ending::new(CloseReason::PeerClosed, "peer closed"),
                        Read::Failed(e) => self.malformed(&e),
                        Read::Packet(packet) => {
                            self.state.mqtt.metrics.packet_in(packet.packet_type());
                            self.last_seen = now_millis();
                            self.machine.handle_packet(packet, now())
                        }
                    };
                    // Boxed: the store and login futures are large, and an
                    // idle session must not carry their space.
                    if let Err(ending) = Box::pin(self.act(action)).await {
                        return ending;
                    }
                }
                delivery = next_delivery(self.inbox.as_deref()) => {
                    let written = match delivery {
                        Delivery::Routed(m) => {
                            let packet = self.machine.outgoing(*m);
                            Box::pin(self.write_packet(&packet)).await
                        }
                        Delivery::Command(c) => Box::pin(self.send_command(*c)).await,
                    };
                    if let Err(ending) = written {
                        return ending;
                    }
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    if let Some(expiry) = self.machine.handle_timeout(now()) {
                        tracing::debug!(peer = %self.peer, ?expiry, "MQTT deadline passed");
                        return Ending::new(expiry.kind(), expiry.reason());
                    }
                }
            }
        }
    }

    /// Counts and logs undecodable input; the machine's answer to it.
    fn malformed(&self, e: &MqttError) -> Action {
        self.state
            .mqtt
            .metrics
            .malformed
            .fetch_add(1, Ordering::Relaxed);
        match PEER_FAULT_LOG.take() {
            Some(left_out) => {
                tracing::warn!(peer = %self.peer, client_id = self.machine.client_id().map(escaped::shown),
                kind = e.kind(), error = %e, left_out, "malformed MQTT packet; closing")
            }
            None => tracing::debug!(peer = %self.peer, kind = e.kind(), error = %e,
                "malformed MQTT packet; closing"),
        }
        self.machine.undecodable(e)
    }

    /// Carries out `action`; `Err` is why the connection closes.
    async fn act(&mut self, action: Action) -> Result<(), Ending> {
        match action {
            Action::None => Ok(()),
            Action::Send(packet) => self.write_packet(&packet).await,
            Action::Authenticate(connect) => {
                let result = match login::check(&self.state, &connect).await {
                    Ok(Login::Accepted(profile)) => Ok(profile),
                    Ok(Login::Refused(code)) => Err(code),
                    Err(e) => {
                        tracing::error!(client_id = %escaped::text(&connect.client_id), error = %e,
                            "MQTT login not checked: the store failed");
                        Err(ConnectReturnCode::ServerUnavailable)
                    }
                };
                match self.machine.logged_in(result, now()) {
                    Action::Send(connack) => {
                        self.logged_in(&connect);
                        self.write_packet(&connack).await?;
                        self.take_commands().await;
                        Ok(())
                    }
                    other => self.close_with(other).await,
                }
            }
            Action::Store(publish) => self.store(publish).await,
            Action::Subscribe(subscribe, suback) => {
                let Some(client) = self.machine.client() else {
                    return Err(Ending::new(
                        CloseReason::ProtocolViolation,
                        "subscribe before login",
                    ));
                };
                let filters: Vec<(String, QoS)> = subscribe
                    .filters
                    .into_iter()
                    .map(|f| (f.filter, f.qos))
                    .collect();
                let retained =
                    self.state
                        .mqtt
                        .router
                        .subscribe(&client.client_id, self.id, &filters);
                self.write_packet(&Packet::SubAck(suback)).await?;
                for m in retained {
                    let packet = self.machine.outgoing(m);
                    self.write_packet(&packet).await?;
                }
                self.report_filters().await;
                Ok(())
            }
            Action::Unsubscribe(unsubscribe, unsuback) => {
                if let Some(client) = self.machine.client() {
                    self.state.mqtt.router.unsubscribe(
                        &client.client_id,
                        self.id,
                        &unsubscribe.filters,
                    );
                }
                self.write_packet(&Packet::UnsubAck(unsuback)).await?;
                self.report_filters().await;
                Ok(())
            }
            Action::Delivered(packet_id) => {
                if let Some(control_id) = self.commands.delivered(packet_id) {
                    self.state
                        .control
                        .mqtt_answered(self.id, control_id, None)
                        .await;
                }
                Ok(())
            }
            Action::Close(..) => self.close_with(action).await,
        }
    }

    /// Sends the closing packet, if any, and logs a refusal.
    async fn close_with(&mut self, action: Action) -> Result<(), Ending> {
        let Action::Close(packet, why) = action else {
            return Ok(());
        };
        if let Close::Refused(code) = why {
            self.state.mqtt.metrics.refused(code);
            match PEER_FAULT_LOG.take() {
                Some(left_out) => tracing::info!(peer = %self.peer,
                    client_id = self.machine.client_id().map(escaped::shown), code = ?code, left_out,
                    "MQTT CONNECT refused"),
                None => tracing::debug!(peer = %self.peer, code = ?code, "MQTT CONNECT refused"),
            }
        }
        if let Some(packet) = packet {
            self.write_packet(&packet).await?;
        }
        Err(Ending::new(why.kind(), why.reason()))
    }

    /// Binds the client id (closing an older session of it), leaves the
    /// unauthenticated caps and marks the client online.
    fn logged_in(&mut self, connect: &mqtt_codec::Connect) {
        let Some(client) = self.machine.client() else {
            return;
        };
        let client_id = client.client_id.clone();
        let inbox = Arc::new(Inbox::default());
        self.state
            .mqtt
            .router
            .bind(&client_id, self.id, self.close.clone(), inbox.clone());
        if let Some(cluster) = &self.state.cluster {
            cluster.claim(
                Kind::Mqtt,
                &client_id,
                self.id,
                self.peer,
                self.close.clone(),
            );
        }
        self.inbox = Some(inbox);
        self.unauthenticated = None;
        tracing::info!(peer = %self.peer, client_id = %escaped::text(&client_id), protocol = connect.protocol.name(),
            keep_alive = connect.keep_alive, profile = client.profile.map(|p| p.as_str()),
            will = connect.will.is_some(), "MQTT client connected");
        self.connected_at = now_millis();
        let for_the_flush = self.state.mqtt.note_presence(
            &self.state.writer,
            Presence {
                client_id,
                online: true,
                reason: None,
                peer: self.peer.to_string(),
                connected_at: self.connected_at,
                last_seen: self.connected_at,
            },
        );
        if for_the_flush {
            self.state.events().wake_flush();
        }
    }

    /// Commits `publish`, then acknowledges, retains and routes it.
    async fn store(&mut self, publish: Publish) -> Result<(), Ending> {
        let Some(client) = self.machine.client() else {
            return Err(Ending::new(
                CloseReason::ProtocolViolation,
                "publish before login",
            ));
        };
        let row = ingest::row(Incoming {
            client_id: &client.client_id,
            kind: MessageKind::Publish,
            topic: &publish.topic,
            payload: &publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            dup: publish.dup,
            packet_id: (publish.qos != QoS::AtMostOnce).then_some(publish.packet_id),
            received_at: now_millis(),
        });
        commit(&self.state, row)
            .await
            .map_err(|why| Ending::new(CloseReason::NotStored, why))?;
        self.state.mqtt.metrics.stored(publish.qos);
        if let Some(ack) = self.machine.stored(&publish) {
            self.write_packet(&ack).await?;
        }
        if let Some(control_id) = self.commands.replied(&publish.topic) {
            self.state
                .control
                .mqtt_answered(self.id, control_id, Some(publish.payload.clone()))
                .await;
        }
        publish_to_subscribers(
            &self.state,
            Message {
                topic: publish.topic,
                payload: publish.payload,
                qos: publish.qos,
            },
            publish.retain,
        );
        Ok(())
    }

    async fn write_packet(&mut self, packet: &Packet) -> Result<(), Ending> {
        self.try_write_packet(packet).await.map(|_| ())
    }

    /// Writes `packet`; false when it could not be encoded (not sent).
    async fn try_write_packet(&mut self, packet: &Packet) -> Result<bool, Ending> {
        self.out.clear();
        if let Err(e) = packet.encode(&mut self.out) {
            tracing::warn!(peer = %self.peer, error = %e, "MQTT packet not encodable; not sent");
            return Ok(false);
        }
        self.write
            .write_all(&self.out)
            .await
            .map_err(|_| Ending::new(CloseReason::WriteFailed, "write failed"))?;
        Ok(true)
    }
}

/// Hands `row` to the writer and waits for its commit.
async fn commit(
    state: &Shared,
    row: crate::store::mqtt_messages::MessageRow,
) -> Result<i64, &'static str> {
    let client_id = row.client_id.clone();
    let committed = state.writer.submit_mqtt(row).await.map_err(|_| {
        tracing::error!(client_id = %escaped::text(&client_id), "MQTT message not stored: the writer has stopped");
        "writer stopped"
    })?;
    match committed.await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => {
            tracing::error!(client_id = %escaped::text(&client_id), error = %e, "MQTT message not stored; not acknowledged");
            Err("message not stored")
        }
        Err(_) => {
            tracing::error!(
                client_id = %escaped::text(&client_id),
                "writer dropped the MQTT message; not acknowledged"
            );
            Err("message not stored")
        }
    }
}

/// Retains (when asked) and routes a committed message.
fn publish_to_subscribers(state: &Shared, m: Message, retain: bool) {
    if retain {
        state.mqtt.router.retain(m.clone());
    }
    state.mqtt.router.route(&m);
}

/// The next routed message or command; never before login (`None`).
async fn next_delivery(inbox: Option<&Inbox>) -> Delivery {
    match inbox {
        Some(inbox) => inbox.next().await,
        None => std::future::pending().await,
    }
}

/// The next thing the read side brings; [`Read::Started`] once per packet
/// whose first bytes are buffered (see the GMMP session's `next_read`).
async fn next_read<S: AsyncRead>(packets: &mut Packets<S>, packet_in_progress: bool) -> Read {
    std::future::poll_fn(|cx| match packets.poll_next_unpin(cx) {
        Poll::Ready(Some(Ok(packet))) => Poll::Ready(Read::Packet(packet)),
        Poll::Ready(Some(Err(e))) => Poll::Ready(Read::Failed(e)),
        Poll::Ready(None) => Poll::Ready(Read::End),
        Poll::Pending if !packet_in_progress && !packets.read_buffer().is_empty() => {
            Poll::Ready(Read::Started)
        }
        Poll::Pending => Poll::Pending,
    })
    .await
}
