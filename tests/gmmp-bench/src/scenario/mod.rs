//! The scenarios run against an OMP: [`ingest`], [`sessions`], [`control`],
//! [`api`], [`hostile`], [`events`], [`mqtt_sessions`]; and what they share: registering a
//! fleet of gateways.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::error::BenchError;
use test_support::gmmp_client::{self, Gateway, auth_id_for};

pub mod api;
pub mod control;
pub mod events;
pub mod hostile;
pub mod ingest;
pub mod mqtt_sessions;
pub mod sessions;

/// How long a registration may take before the gateway counts as failed.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);
/// The manufacture ID the simulated gateways register with.
pub const MANUFACTURE_ID: &str = "gmmp-bench";

/// A fleet of registered gateways, and what went wrong with the others.
#[derive(Debug, Default)]
pub struct Fleet {
    /// Registered gateways, in index order.
    pub gateways: Vec<Gateway>,
    /// The first few errors of the gateways that did not register.
    pub errors: Vec<String>,
    /// How many did not register.
    pub failed: usize,
    /// Time from first connect to last 0x02.
    pub elapsed: Duration,
}

impl Fleet {
    /// An error when gateways were asked for and not one registered: the
    /// figures of such a run would measure nothing.
    pub fn check_any_registered(&self, target: SocketAddr) -> Result<(), BenchError> {
        if self.gateways.is_empty() && self.failed > 0 {
            return Err(BenchError::NoneRegistered {
                target,
                attempted: self.failed,
                first_error: self.errors.first().cloned().unwrap_or_default(),
            });
        }
        Ok(())
    }
}

/// Connects and registers gateways `first..first + count` (auth IDs
/// `prefix` + index), `concurrency` at a time; `source` picks each one's
/// source address.
pub async fn register_fleet(
    target: SocketAddr,
    prefix: &str,
    first: usize,
    count: usize,
    concurrency: usize,
    source: impl Fn(usize) -> Option<Ipv4Addr>,
) -> Fleet {
    let start = Instant::now();
    let attempts = (first..first + count).map(|index| {
        let auth_id = auth_id_for(prefix, index);
        let from = source(index);
        async move {
            let stream = gmmp_client::connect(target, from).await?;
            let gw = Gateway::register(stream, &auth_id, MANUFACTURE_ID, REGISTER_TIMEOUT).await?;
            Ok::<_, BenchError>((index, gw))
        }
    });
    let mut results: Vec<Result<(usize, Gateway), BenchError>> = futures::stream::iter(attempts)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut fleet = Fleet {
        elapsed: start.elapsed(),
        ..Fleet::default()
    };
    results.sort_by_key(|r| r.as_ref().map_or(usize::MAX, |(i, _)| *i));
    for result in results {
        match result {
            Ok((_, gw)) => fleet.gateways.push(gw),
            Err(e) => {
                fleet.failed += 1;
                if fleet.errors.len() < 3 {
                    fleet.errors.push(e.to_string());
                }
            }
        }
    }
    fleet
}
