//! The traffic of a run and what is read back after it: the producer
//! writing numbered deliveries to the agent's data socket, the drain, the
//! OMP's stored rows, the agent's `dropped.jsonl` / `rejected.jsonl`, and
//! what is left in its spool.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;

use super::Options;
use super::ledger::{self, AgentRecords, Produced, Row, Tally};
use super::omp::Omp;
use crate::error::FaultError;

/// Writes numbered deliveries to the data socket, one at a time, until
/// `stop`; records what the agent answered.
pub(super) async fn produce(
    socket: PathBuf,
    rate: f64,
    len: usize,
    stop: CancellationToken,
    log: Arc<Mutex<Produced>>,
) {
    let record = |f: &dyn Fn(&mut Produced)| f(&mut log.lock().unwrap_or_else(|p| p.into_inner()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 1u64;
    'connect: while !stop.is_cancelled() {
        let Ok(stream) = UnixStream::connect(&socket).await else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.cancelled() => {}
            }
            continue;
        };
        let (r, mut w) = stream.into_split();
        let mut answers = BufReader::new(r).lines();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break 'connect,
            }
            let seq = next;
            next += 1;
            let mut line = ledger::payload(seq, len);
            line.push(b'\n');
            if w.write_all(&line).await.is_err() {
                record(&|p| {
                    p.unconfirmed.insert(seq);
                });
                continue 'connect;
            }
            match answers.next_line().await {
                Ok(Some(a)) if a.starts_with("ok ") => record(&|p| {
                    p.confirmed.insert(seq);
                }),
                Ok(Some(a)) => record(&|p| {
                    p.refused.insert(seq, a.clone());
                }),
                _ => {
                    record(&|p| {
                        p.unconfirmed.insert(seq);
                    });
                    continue 'connect;
                }
            }
        }
    }
}

/// Waits until the agent's spool is empty and every produced delivery is
/// stored or reported; false when `drain_timeout` passed first.
pub(super) async fn drain(
    omp: &Omp,
    state: &Path,
    pid: Option<u32>,
    produced: &Produced,
    opts: &Options,
) -> Result<bool, FaultError> {
    let deadline = Instant::now() + opts.drain_timeout;
    loop {
        let empty = gw_agent::status::read(state)
            .is_ok_and(|s| Some(s.pid) == pid && s.omp == "ready" && s.spool_depth == 0);
        if empty {
            let rows = stored_rows(omp).await?;
            let records = agent_records(state)?;
            if Tally::new(produced, &records, &rows, opts.payload)
                .lost
                .is_empty()
            {
                return Ok(true);
            }
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every row of the OMP's `deliveries` table, in commit order.
pub(super) async fn stored_rows(omp: &Omp) -> Result<Vec<Row>, FaultError> {
    let rows: Vec<(String, i64, i64, Vec<u8>)> =
        sqlx::query_as("SELECT gw_id, tid, received_at, payload FROM deliveries ORDER BY id")
            .fetch_all(omp.server.state.db.as_sqlite().expect("a SQLite store"))
            .await
            .map_err(|source| FaultError::Db {
                path: omp.data_dir.clone(),
                source,
            })?;
    Ok(rows
        .into_iter()
        .map(|(gw_id, tid, received_at, payload)| Row {
            gw_id,
            tid,
            received_at,
            payload,
        })
        .collect())
}

/// The deliveries named in the agent's `dropped.jsonl` and
/// `rejected.jsonl` (`spooled` left empty: see [`spooled`]).
pub(super) fn agent_records(state: &Path) -> Result<AgentRecords, FaultError> {
    let mut records = AgentRecords::default();
    for (file, set) in [
        (gw_agent::agent::DROPPED_FILE, &mut records.dropped),
        (gw_agent::agent::REJECTED_FILE, &mut records.rejected),
    ] {
        let text = match std::fs::read_to_string(state.join(file)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(FaultError::io(format!("reading {file}"), e)),
        };
        for line in text.lines() {
            let seq = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| hex::decode(v["payload_hex"].as_str()?).ok())
                .and_then(|bytes| ledger::seq_of(&bytes));
            match seq {
                Some(seq) => {
                    set.insert(seq);
                }
                None => records.unreadable_lines += 1,
            }
        }
    }
    Ok(records)
}

/// The deliveries still pending in the agent's spool. Only once the agent
/// is dead: opening the spool cuts a torn tail, which would cut a record
/// a running agent is writing.
pub(super) fn spooled(state: &Path) -> Result<BTreeSet<u64>, FaultError> {
    let limits = gw_agent::spool::SpoolLimits {
        max_bytes: u64::MAX,
        ..gw_agent::spool::SpoolLimits::default()
    };
    let (spool, _) = gw_agent::spool::Spool::open(state.join("spool"), limits)
        .map_err(|e| FaultError::Agent(format!("reading its spool: {e}")))?;
    let mut out = BTreeSet::new();
    let mut cursor = None;
    while let Some(seq) = spool.next_after(cursor) {
        cursor = Some(seq);
        if let Some(n) = spool
            .read(seq)
            .ok()
            .and_then(|d| ledger::seq_of(&d.payload))
        {
            out.insert(n);
        }
    }
    Ok(out)
}
