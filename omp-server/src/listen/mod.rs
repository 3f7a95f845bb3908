//! The accept loop every listener (GMMP, MQTT, MQTTS) runs, with the caps they
//! share: a semaphore caps concurrent connections, and accept
//! errors such as EMFILE (out of file descriptors) are met with a growing
//! pause instead of a busy loop or an exit.
//!
//! Connections that have not yet bound to a GW (registered or
//! authenticated, or an MQTT client not yet logged in) are capped twice, by [`Unauthenticated`]: over all peers
//! (`max_unauthenticated`) and per source (`max_unauthenticated_per_ip`:
//! one IPv4 address, or one IPv6 /64, the block one host usually holds).
//! A new connection over either cap is let in, and the OLDEST unbound
//! connection (of its source, or of all) is closed to make room
//! ([`IdleBook`], `idle`): refusing the newcomer instead would let 512
//! silent sockets lock every new gateway of their address out until
//! their timeouts, and a few thousand from a dozen addresses everyone.
//! The connection closed learns it through its slot's cancellation
//! token ([`UnauthenticatedSlot::shed`]), checked by its session between
//! requests; each is counted (`omp_unauthenticated_shed_total`).
//! Bound sessions do not count: thousands of real gateways behind
//! one carrier NAT share an address, and each holds its slot only for the
//! round trip of its registration. So a flood of silent or unauthenticated
//! connections can take neither the whole connection cap (which would make
//! real gateways wait in the backlog) nor more than its share of the
//! unauthenticated slots; each such connection is also bounded in time by
//! `first_frame_timeout`, `frame_timeout` and `auth_timeout` (see
//! `gmmp::session`, `mqtt::session`).
//!
//! Events any peer can cause at will (a connection over the caps, a
//! malformed frame, a refused request) are logged through a [`LogBudget`]
//! (`gmmp::log_budget`) of a few lines per second: an attack must not turn into gigabytes of
//! log (measured before the budget: 1.2 GB in 20 s of forged deliveries).

use std::future::Future;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::gmmp::log_budget::LogBudget;
use crate::state::Shared;

mod idle;

pub use idle::{IdleBook, Refused};

const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Log lines per second for connections closed over the caps.
static OVER_CAP_LOG: LogBudget = LogBudget::new(1);

/// True for errors that concern one connection only (retry at once).
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}

/// The source a per-IP cap counts: the IPv4 address (IPv4-mapped IPv6
/// included), or the /64 of an IPv6 address.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// Counts connections not yet bound to a GW, in total and per source,
/// in an [`IdleBook`]; each holds an [`UnauthenticatedSlot`].
#[derive(Debug)]
pub struct Unauthenticated {
    book: Mutex<IdleBook<CancellationToken>>,
}

impl Unauthenticated {
    /// A counter with these caps.
    pub fn new(max_total: usize, max_per_source: usize) -> Arc<Unauthenticated> {
        Arc::new(Unauthenticated {
            book: Mutex::new(IdleBook::new(max_total, max_per_source)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdleBook<CancellationToken>> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection from `ip`, held until the slot is
    /// dropped, or refused over a cap (the HTTP API's per-source share).
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<UnauthenticatedSlot, Refused> {
        let source = source_key(ip);
        let shed = CancellationToken::new();
        let id = self.lock().try_admit(source, shed.clone())?;
        Ok(UnauthenticatedSlot {
            owner: self.clone(),
            id,
            shed,
        })
    }

    /// A place for a new connection from `ip`, made by closing the oldest
    /// unbound connection of its source (over `max_per_source`) and the
    /// oldest of all (over `max_total`). Returns the sources of the
    /// connections closed; each of those sees its slot's
    /// [`shed`](UnauthenticatedSlot::shed) resolve.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> (UnauthenticatedSlot, Vec<IpAddr>) {
        let source = source_key(ip);
        let shed = CancellationToken::new();
        let admitted = self.lock().admit(source, shed.clone());
        // Cancelled outside the lock: each wakes a session task.
        let sources = admitted
            .shed
            .into_iter()
            .map(|s| {
                s.handle.cancel();
                s.source
            })
            .collect();
        let slot = UnauthenticatedSlot {
            owner: self.clone(),
            id: admitted.id,
            shed,
        };
        (slot, sources)
    }

    /// Unbound connections now, in total.
    pub fn total(&self) -> usize {
        self.lock().total()
    }

    /// Unbound connections now from the source of `ip`.
    pub fn from_source(&self, ip: IpAddr) -> usize {
        self.lock().from_source(source_key(ip))
    }
}

/// One unbound connection's place under the caps; dropping it frees the
/// place. Its session closes when [`shed`](Self::shed) resolves: the
/// place was given to a newer connection.
#[derive(Debug)]
pub struct UnauthenticatedSlot {
    owner: Arc<Unauthenticated>,
    id: u64,
    shed: CancellationToken,
}

impl UnauthenticatedSlot {
    /// Resolves once this connection is closed to make room for a newer
    /// one.
    pub fn shed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.shed.cancelled()
    }
}

impl Drop for UnauthenticatedSlot {
    fn drop(&mut self) {
        self.owner.lock().remove(self.id);
    }
}

/// Resolves once the connection holding `slot` is to make room for a
/// newer one; never for a bound connection (`None`). Sessions check it
/// between requests only, so a connection that binds in the same instant
/// stays bound.
pub async fn shed(slot: Option<&UnauthenticatedSlot>) {
    match slot {
        Some(slot) => slot.shed().await,
        None => std::future::pending().await,
    }
}

/// The reason a session logs when it was closed to make room.
pub const SHED_REASON: &str =
    "closed to make room for a newer connection (oldest unauthenticated over the caps)";

/// A protocol a listener serves: its name for the logs, the counter of
/// its accepted connections, and the session each connection runs.
#[derive(Debug, Clone, Copy)]
pub struct Protocol {
    /// `GMMP`, `MQTT`.
    pub name: &'static str,
    /// Its "connections accepted" counter.
    pub accepted: fn(&Shared) -> &AtomicU64,
}

/// GMMP on its port.
pub const GMMP: Protocol = Protocol {
    name: "GMMP",
    accepted: |state| &state.metrics.connections_accepted,
};

/// MQTT on its port.
pub const MQTT: Protocol = Protocol {
    name: "MQTT",
    accepted: |state| &state.mqtt.metrics.connections_accepted,
};

/// MQTT on the MQTTS port, TLS or plain (`mqtt::tls`); its connections
/// count with MQTT's.
pub const MQTTS: Protocol = Protocol {
    name: "MQTTS",
    accepted: |state| &state.mqtt.metrics.connections_accepted,
};

/// Accepts connections until `shutdown`, one `session` task each, under
/// the connection cap and the unauthenticated caps every listener shares.
pub async fn accept_loop<S, F>(
    listener: TcpListener,
    state: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    protocol: Protocol,
    session: S,
) where
    S: Fn(
        Arc<Shared>,
        TcpStream,
        SocketAddr,
        OwnedSemaphorePermit,
        UnauthenticatedSlot,
        CancellationToken,
    ) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let cap = state.connection_cap.clone();
    let unauthenticated = state.unauthenticated.clone();
    let name = protocol.name;
    let mut backoff = MIN_BACKOFF;
    loop {
        let permit = match cap.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                tracing::warn!(
                    protocol = name,
                    max_connections = state.config.max_connections,
                    "connection cap reached; new connections wait"
                );
                tokio::select! {
                    p = cap.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    () = shutdown.cancelled() => return,
                }
            }
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                (protocol.accepted)(&state).fetch_add(1, Ordering::Relaxed);
                let (slot, shed) = unauthenticated.admit(peer.ip());
                for from in shed {
                    state
                        .metrics
                        .unauthenticated_shed
                        .fetch_add(1, Ordering::Relaxed);
                    match OVER_CAP_LOG.take() {
                        Some(left_out) => tracing::warn!(protocol = name, %peer, shed_from = %from,
                            left_out, "closing the oldest unauthenticated connection to make room"),
                        None => tracing::debug!(protocol = name, %peer, shed_from = %from,
                            "closing the oldest unauthenticated connection"),
                    }
                }
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(protocol = name, %peer, error = %e, "set_nodelay failed");
                }
                tracker.spawn(session(
                    state.clone(),
                    stream,
                    peer,
                    permit,
                    slot,
                    shutdown.clone(),
                ));
            }
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(protocol = name, error = %e, "accept failed for one connection");
            }
            Err(e) => {
                // EMFILE / ENFILE / ENOBUFS / ENOMEM: wait for resources.
                tracing::warn!(protocol = name, error = %e, pause = ?backoff, "accept failed; pausing");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            source_key(ip("2001:db8:1:2:aaaa::1")),
            source_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            source_key(ip("2001:db8:1:2::1")),
            source_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(source_key(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
    }

    #[test]
    fn a_new_connection_over_a_cap_sheds_the_oldest_and_dropping_frees() {
        let u = Unauthenticated::new(3, 2);
        let (a1, shed) = u.admit(ip("127.0.0.1"));
        assert!(shed.is_empty());
        let (_a2, _) = u.admit(ip("127.0.0.1"));
        let (_a3, shed) = u.admit(ip("127.0.0.1"));
        assert_eq!(shed, [ip("127.0.0.1")]);
        assert!(a1.shed.is_cancelled());
        // a1 was given up already: dropping it changes nothing.
        drop(a1);
        assert_eq!(u.from_source(ip("127.0.0.1")), 2);
        let (b1, _) = u.admit(ip("127.0.0.2"));
        assert_eq!(u.total(), 3);
        drop(b1);
        assert_eq!(u.total(), 2);
    }

    #[test]
    fn the_refusing_admission_keeps_the_old_connections() {
        let u = Unauthenticated::new(3, 1);
        let a1 = u.try_acquire(ip("127.0.0.1")).unwrap();
        assert!(u.try_acquire(ip("127.0.0.1")).is_err());
        assert!(!a1.shed.is_cancelled());
        drop(a1);
        assert!(u.try_acquire(ip("127.0.0.1")).is_ok());
    }
}
