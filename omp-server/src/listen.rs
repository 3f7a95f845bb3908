//! The accept loop every listener (GMMP, MQTT, MQTTS) runs, with the caps they
//! share: a semaphore caps concurrent connections, and accept
//! errors such as EMFILE (out of file descriptors) are met with a growing
//! pause instead of a busy loop or an exit.
//!
//! Connections that have not yet bound to a GW (registered or
//! authenticated, or an MQTT client not yet logged in) are capped twice, by [`Unauthenticated`]: over all peers
//! (`max_unauthenticated`) and per source (`max_unauthenticated_per_ip`:
//! one IPv4 address, or one IPv6 /64, the block one host usually holds).
//! A connection over either cap is closed at once, before a session task
//! exists. Bound sessions do not count: thousands of real gateways behind
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

use std::collections::HashMap;
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

/// Why a connection was refused a place among the unauthenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `max_unauthenticated` connections are unbound already.
    #[error("{0} unauthenticated connections already (max_unauthenticated)")]
    Total(usize),
    /// This source holds `max_unauthenticated_per_ip` unbound ones.
    #[error("{count} unauthenticated connections from {from} already (max_unauthenticated_per_ip)")]
    PerSource {
        /// The source (address or /64).
        from: IpAddr,
        /// Its unbound connections.
        count: usize,
    },
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// Counts connections not yet bound to a GW, in total and per source.
#[derive(Debug)]
pub struct Unauthenticated {
    max_total: usize,
    max_per_source: usize,
    counts: Mutex<Counts>,
}

impl Unauthenticated {
    /// A counter with these caps.
    pub fn new(max_total: usize, max_per_source: usize) -> Arc<Unauthenticated> {
        Arc::new(Unauthenticated {
            max_total,
            max_per_source,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection from `ip`, held until the slot is
    /// dropped (the session binds to a GW, or ends).
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<UnauthenticatedSlot, Refused> {
        let source = source_key(ip);
        let mut counts = self.lock();
        if counts.total >= self.max_total {
            return Err(Refused::Total(counts.total));
        }
        let count = counts.per_source.entry(source).or_insert(0);
        if *count >= self.max_per_source {
            return Err(Refused::PerSource {
                from: source,
                count: *count,
            });
        }
        *count += 1;
        counts.total += 1;
        Ok(UnauthenticatedSlot {
            owner: self.clone(),
            source,
        })
    }

    /// Unbound connections now, in total.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// Unbound connections now from the source of `ip`.
    pub fn from_source(&self, ip: IpAddr) -> usize {
        self.lock()
            .per_source
            .get(&source_key(ip))
            .copied()
            .unwrap_or(0)
    }
}

/// One unbound connection's place under the caps; dropping it frees the
/// place.
#[derive(Debug)]
pub struct UnauthenticatedSlot {
    owner: Arc<Unauthenticated>,
    source: IpAddr,
}

impl Drop for UnauthenticatedSlot {
    fn drop(&mut self) {
        let mut counts = self.owner.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                // Keep the map as small as the set of sources connecting now.
                counts.per_source.remove(&self.source);
            }
        }
    }
}

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
                let slot = match unauthenticated.try_acquire(peer.ip()) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        // Dropping the stream closes it; the permit goes back.
                        match OVER_CAP_LOG.take() {
                            Some(left_out) => tracing::warn!(protocol = name, %peer, %refused,
                                left_out, "connection closed at once: too many unauthenticated connections"),
                            None => tracing::debug!(protocol = name, %peer, %refused,
                                "connection closed at once"),
                        }
                        continue;
                    }
                };
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
    fn the_per_source_cap_and_the_total_cap_hold_and_free() {
        let u = Unauthenticated::new(3, 2);
        let a1 = u.try_acquire(ip("127.0.0.1")).unwrap();
        let _a2 = u.try_acquire(ip("127.0.0.1")).unwrap();
        assert_eq!(
            u.try_acquire(ip("127.0.0.1")).unwrap_err(),
            Refused::PerSource {
                from: ip("127.0.0.1"),
                count: 2
            }
        );
        let _b1 = u.try_acquire(ip("127.0.0.2")).unwrap();
        assert_eq!(
            u.try_acquire(ip("127.0.0.3")).unwrap_err(),
            Refused::Total(3)
        );
        drop(a1);
        assert_eq!(u.from_source(ip("127.0.0.1")), 1);
        let _a3 = u.try_acquire(ip("127.0.0.1")).unwrap();
        assert_eq!(u.total(), 3);
    }

    #[test]
    fn a_source_with_no_connection_left_is_forgotten() {
        let u = Unauthenticated::new(10, 10);
        drop(u.try_acquire(ip("127.0.0.9")).unwrap());
        assert_eq!(u.total(), 0);
        assert!(u.lock().per_source.is_empty());
    }
}
