//! The application side: POST controls with an `Idempotency-Key`, retry
//! the POSTs whose answer died with the server, and watch every control
//! through `GET /api/v1/controls/{id}?wait=N` until it is final, keeping
//! each state and timeline the API showed.
//!
//! One driver per gateway keeps up to `depth` of its controls open (one
//! is in flight at the OMP's default of one per gateway, the others wait
//! QUEUED behind it), so kills find controls in every state. After each
//! server restart the driver POSTs its latest answered key once more (a
//! *replay*), which must return the same control id.
//!
//! reqwest without default features (plain HTTP/1.1, no proxy lookup);
//! every request has its own timeout, and an answer that does not come
//! because the server died is an error the driver retries after a short
//! pause, as a client of a restarting server must.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::key::ControlKey;
use super::ledger::{ControlRecord, Observation, PostAttempt, PostOutcome, Shared, Step, now_ms};
use crate::error::FaultError;

/// Longest wait for a POST's answer.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a GET may take beyond its `?wait=`.
const GET_MARGIN: Duration = Duration::from_secs(10);
/// A driver stops POSTing after this many refusals (4xx) in a row.
const GIVE_UP_AFTER: u32 = 5;
/// Anomalies kept in words per control (the rest are only counted).
const ANOMALIES_KEPT: usize = 5;

/// True for the states that never change.
pub fn is_final(state: &str) -> bool {
    matches!(
        state,
        "SUCCESS" | "FAILED" | "TIMEOUT" | "EXPIRED" | "CANCELLED"
    )
}

/// Why a call got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No answer (connection refused, reset, timed out).
    Transport(String),
    /// An unexpected status, with the start of the body.
    Status(u16, String),
    /// A body that is not a control.
    Body(String),
}

#[derive(Debug, Deserialize)]
struct ViewBody {
    id: i64,
    state: String,
    #[serde(default)]
    timeline: Vec<StepBody>,
}

#[derive(Debug, Deserialize)]
struct StepBody {
    state: String,
    at: String,
}

/// A client of one OMP's API (cheap to clone).
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    /// A client for the API at `addr` with key `api_key`.
    pub fn new(addr: SocketAddr, api_key: &str) -> Result<Self, FaultError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| FaultError::Config {
                option: "http client",
                detail: e.to_string(),
            })?;
        Ok(Api {
            client,
            base: format!("http://{addr}"),
            auth: format!("Bearer {api_key}"),
        })
    }

    /// `POST /api/v1/gateways/{gw_id}/controls` of `key`'s control.
    pub async fn post(
        &self,
        gw_id: &str,
        key: &ControlKey,
    ) -> Result<(i64, Observation), CallError> {
        let body = serde_json::json!({
            "control_type": super::CONTROL_TYPE,
            "data": STANDARD.encode(key.data()),
        });
        let request = self
            .client
            .post(format!("{}/api/v1/gateways/{gw_id}/controls", self.base))
            .header("authorization", &self.auth)
            .header("idempotency-key", key.idempotency_key())
            .timeout(POST_TIMEOUT)
            .json(&body);
        read_view(request, 202).await
    }

    /// `GET /api/v1/controls/{id}?wait={wait}`.
    pub async fn get(&self, id: i64, wait: Duration) -> Result<(i64, Observation), CallError> {
        let request = self
            .client
            .get(format!(
                "{}/api/v1/controls/{id}?wait={}",
                self.base,
                wait.as_secs()
            ))
            .header("authorization", &self.auth)
            .timeout(wait + GET_MARGIN);
        read_view(request, 200).await
    }
}

async fn read_view(
    request: reqwest::RequestBuilder,
    expected: u16,
) -> Result<(i64, Observation), CallError> {
    let response = request
        .send()
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| CallError::Transport(format!("reading the body: {e}")))?;
    if status != expected {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(CallError::Status(status, text));
    }
    let view: ViewBody = serde_json::from_slice(&body).map_err(|e| {
        CallError::Body(format!(
            "{e}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ))
    })?;
    let observation = Observation {
        state: view.state,
        timeline: view
            .timeline
            .into_iter()
            .map(|s| Step {
                state: s.state,
                at: s.at,
            })
            .collect(),
    };
    Ok((view.id, observation))
}

/// How one driver behaves.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// Its gateway's index.
    pub index: u32,
    /// Controls open (posted, not final) at once.
    pub depth: usize,
    /// `?wait=` of the watching GETs.
    pub wait: Duration,
    /// Pause before retrying a call that got no answer.
    pub retry_pause: Duration,
}

/// Drives one gateway's controls until `produce` is cancelled and all it
/// posted are final, or until `abort`; returns the records, in key order.
pub async fn drive(
    opts: DriverOptions,
    api: Api,
    mut gw_id: watch::Receiver<Option<String>>,
    shared: Shared,
) -> Vec<ControlRecord> {
    let mut records: Vec<ControlRecord> = Vec::new();
    let gw_id = loop {
        if let Some(id) = gw_id.borrow().clone() {
            break id;
        }
        tokio::select! {
            () = shared.abort.cancelled() => return records,
            changed = gw_id.changed() => if changed.is_err() { return records },
        }
    };
    let mut watchers: JoinSet<(usize, Vec<Observation>, Vec<String>)> = JoinSet::new();
    let mut open = 0usize;
    let mut refused = 0u32;
    // (record, server generation that answered it) of the latest answer.
    let mut latest: Option<(usize, u64)> = None;
    loop {
        if shared.abort.is_cancelled() {
            break;
        }
        let generation = shared.generation.load(Ordering::Relaxed);
        if let Some((at, answered_in)) = latest
            && answered_in < generation
        {
            replay(&opts, &api, &gw_id, &mut records[at], &shared).await;
            latest = Some((at, generation));
        }
        while open < opts.depth.max(1) && !shared.produce.is_cancelled() && refused < GIVE_UP_AFTER
        {
            let seq = records.len() as u64;
            let mut record = ControlRecord::new(ControlKey {
                gateway: opts.index,
                seq,
            });
            let id =
                post_until_answered(&opts, &api, &gw_id, &mut record, &shared, &mut refused).await;
            records.push(record);
            let Some(id) = id else { break };
            let at = records.len() - 1;
            latest = Some((at, shared.generation.load(Ordering::Relaxed)));
            watchers.spawn(watch_control(
                opts.clone(),
                api.clone(),
                id,
                at,
                shared.clone(),
            ));
            open += 1;
        }
        if open == 0 {
            break;
        }
        tokio::select! {
            () = shared.abort.cancelled() => break,
            joined = watchers.join_next() => {
                open = open.saturating_sub(1);
                if let Some(Ok((at, observations, anomalies))) = joined {
                    records[at].observations.extend(observations);
                    records[at].anomalies.extend(anomalies);
                }
            }
        }
    }
    // Watchers stop at `abort` with what they saw.
    while let Some(joined) = watchers.join_next().await {
        if let Ok((at, observations, anomalies)) = joined {
            records[at].observations.extend(observations);
            records[at].anomalies.extend(anomalies);
        }
    }
    records
}

/// POSTs `record`'s control until a 202 (its id), a run of refusals, or
/// `abort` (`None`).
async fn post_until_answered(
    opts: &DriverOptions,
    api: &Api,
    gw_id: &str,
    record: &mut ControlRecord,
    shared: &Shared,
    refused: &mut u32,
) -> Option<i64> {
    let counters = &shared.counters;
    while *refused < GIVE_UP_AFTER {
        let started_ms = now_ms();
        let answer = tokio::select! {
            () = shared.abort.cancelled() => return None,
            a = api.post(gw_id, &record.key) => a,
        };
        let outcome = match answer {
            Ok((id, observation)) => {
                *refused = 0;
                record.attempts.push(PostAttempt {
                    started_ms,
                    outcome: PostOutcome::Accepted(id),
                });
                record.id = Some(id);
                record.observations.push(observation);
                counters.posted.fetch_add(1, Ordering::Relaxed);
                counters.observations.fetch_add(1, Ordering::Relaxed);
                return Some(id);
            }
            Err(CallError::Transport(e)) => {
                counters.posts_unanswered.fetch_add(1, Ordering::Relaxed);
                PostOutcome::Unanswered(e)
            }
            Err(CallError::Status(status, body)) => {
                if status >= 500 {
                    counters.http_5xx.fetch_add(1, Ordering::Relaxed);
                } else {
                    *refused += 1;
                }
                PostOutcome::Status(status, body)
            }
            Err(CallError::Body(e)) => {
                *refused += 1;
                PostOutcome::Status(202, e)
            }
        };
        record.attempts.push(PostAttempt {
            started_ms,
            outcome,
        });
        if !pause(opts.retry_pause, shared).await {
            return None;
        }
    }
    None
}

/// POSTs `record`'s key again (until answered or `abort`) and keeps the id
/// and view it returns.
async fn replay(
    opts: &DriverOptions,
    api: &Api,
    gw_id: &str,
    record: &mut ControlRecord,
    shared: &Shared,
) {
    for _ in 0..GIVE_UP_AFTER * 20 {
        let answer = tokio::select! {
            () = shared.abort.cancelled() => return,
            a = api.post(gw_id, &record.key) => a,
        };
        match answer {
            Ok((id, observation)) => {
                record.replays.push(id);
                record.replay_observations.push(observation);
                shared.counters.observations.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(CallError::Transport(_)) => {}
            Err(CallError::Status(status, _)) if status >= 500 => {
                shared.counters.http_5xx.fetch_add(1, Ordering::Relaxed);
            }
            Err(CallError::Status(status, body)) => {
                note(
                    record.anomalies.as_mut(),
                    format!("replayed POST: {status} {body}"),
                );
                return;
            }
            Err(CallError::Body(e)) => {
                note(record.anomalies.as_mut(), format!("replayed POST: {e}"));
                return;
            }
        }
        if !pause(opts.retry_pause, shared).await {
            return;
        }
    }
}

/// Reads control `id` (record `at`) with long polls until its state is
/// final or `abort`.
async fn watch_control(
    opts: DriverOptions,
    api: Api,
    id: i64,
    at: usize,
    shared: Shared,
) -> (usize, Vec<Observation>, Vec<String>) {
    let mut observations = Vec::new();
    let mut anomalies = Vec::new();
    loop {
        let answer = tokio::select! {
            () = shared.abort.cancelled() => break,
            a = api.get(id, opts.wait) => a,
        };
        match answer {
            Ok((got, observation)) => {
                if got != id {
                    note(
                        &mut anomalies,
                        format!("GET control {id} answered control {got}"),
                    );
                }
                shared.counters.observations.fetch_add(1, Ordering::Relaxed);
                let done = is_final(&observation.state);
                observations.push(observation);
                if done {
                    break;
                }
                continue;
            }
            Err(CallError::Transport(_)) => {}
            Err(CallError::Status(status, _)) if status >= 500 => {
                shared.counters.http_5xx.fetch_add(1, Ordering::Relaxed);
            }
            Err(CallError::Status(status, body)) => {
                note(&mut anomalies, format!("GET control {id}: {status} {body}"));
            }
            Err(CallError::Body(e)) => note(&mut anomalies, format!("GET control {id}: {e}")),
        }
        if !pause(opts.retry_pause, &shared).await {
            break;
        }
    }
    (at, observations, anomalies)
}

fn note(anomalies: &mut Vec<String>, what: String) {
    if anomalies.len() < ANOMALIES_KEPT {
        anomalies.push(what);
    }
}

/// Sleeps `pause`; false when `abort` came first.
async fn pause(pause: Duration, shared: &Shared) -> bool {
    tokio::select! {
        () = shared.abort.cancelled() => false,
        () = tokio::time::sleep(pause) => true,
    }
}
