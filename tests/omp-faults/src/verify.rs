//! The checker: the OMP's database against the gateways' ledgers.
//!
//! Every row of `deliveries` is read back (the OMP is stopped by then) and
//! matched to the delivery its payload names; its bytes must equal the
//! payload rebuilt from that name, and its `gw_id` one the gateway was
//! given. Then, per delivery, with `copies` rows found:
//! - acknowledged and `copies == 0`: **lost** (a false STATUS_OK);
//! - `copies > attempts`: **duplicated** (one send stored twice);
//! - `copies > acknowledged + unanswered`: stored although the OMP
//!   answered an error rc for it (a false error; it makes the client send
//!   a duplicate) — reported, not a broken promise;
//! - otherwise extra copies come from attempts whose session died before
//!   the answer, which the client had to send again: **retry duplicates**,
//!   allowed by at-least-once delivery and counted apart.
//!
//! Finally `PRAGMA integrity_check` must answer `ok`.

use std::path::Path;

use futures::TryStreamExt;
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use test_support::report::Report;

use crate::error::FaultError;
use crate::ledger::GatewayLedger;
use crate::payload;

/// What the checker found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Rows in `deliveries`.
    pub rows: u64,
    /// Deliveries acknowledged (rc 0), each checked.
    pub acked: u64,
    /// Acknowledged but not stored.
    pub lost: u64,
    /// Stored more often than sent.
    pub duplicated: u64,
    /// Extra copies from re-sends after a session died (allowed).
    pub retry_duplicates: u64,
    /// Never acknowledged (the session died) yet stored (allowed).
    pub stored_unacked: u64,
    /// Copies stored although the OMP answered an error rc.
    pub stored_despite_error: u64,
    /// Rows whose bytes differ from the payload their prefix names.
    pub corrupt: u64,
    /// Rows whose payload names no delivery that was sent.
    pub foreign: u64,
    /// Rows stored under a GW ID the gateway was not given.
    pub wrong_gw: u64,
    /// `PRAGMA integrity_check`, lines joined with `; `.
    pub integrity: String,
}

impl Verdict {
    /// The broken promises, in words; empty when all held.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut check = |n: u64, what: &str| {
            if n > 0 {
                v.push(format!("{n} {what}"));
            }
        };
        check(self.lost, "acknowledged deliveries are missing (lost)");
        check(
            self.duplicated,
            "deliveries are stored more often than they were sent",
        );
        check(self.corrupt, "rows differ from the payload that was sent");
        check(self.foreign, "rows name no delivery that was sent");
        check(
            self.wrong_gw,
            "rows carry a GW ID their gateway was not given",
        );
        if self.integrity != "ok" {
            v.push(format!("PRAGMA integrity_check: {}", self.integrity));
        }
        v
    }

    /// Adds the figures to `report`.
    pub fn add_to(&self, report: &mut Report) {
        report
            .set("rows", self.rows)
            .set("acknowledged", self.acked)
            .set("lost", self.lost)
            .set("duplicated", self.duplicated)
            .set("retry_duplicates", self.retry_duplicates)
            .set("stored_unacked", self.stored_unacked)
            .set("stored_despite_error", self.stored_despite_error)
            .set("corrupt", self.corrupt)
            .set("foreign", self.foreign)
            .set("wrong_gw", self.wrong_gw)
            .set("integrity", self.integrity.clone());
    }
}

/// A connection to the OMP's database after a SIGKILL (or while it runs,
/// beside it): read-write and never created, since the first connection
/// after a kill recovers the WAL, which a read-only one may not be able to.
pub async fn open_after_kill(path: &Path) -> Result<sqlx::SqliteConnection, FaultError> {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .connect()
        .await
        .map_err(|source| FaultError::Db {
            path: path.to_path_buf(),
            source,
        })
}

/// Checks the database at `db_path` (the OMP must not be running) against
/// `ledgers`, indexed by gateway index.
pub async fn verify(db_path: &Path, ledgers: &[GatewayLedger]) -> Result<Verdict, FaultError> {
    let db_err = |source| FaultError::Db {
        path: db_path.to_path_buf(),
        source,
    };
    let mut conn = open_after_kill(db_path).await?;
    let mut copies: Vec<Vec<u32>> = ledgers.iter().map(|l| vec![0; l.seqs.len()]).collect();
    // Ledger position by gateway index.
    let mut position: Vec<Option<usize>> = Vec::new();
    for (i, l) in ledgers.iter().enumerate() {
        let at = l.index as usize;
        if position.len() <= at {
            position.resize(at + 1, None);
        }
        position[at] = Some(i);
    }
    let mut verdict = Verdict::default();
    {
        let mut rows = sqlx::query_as::<_, (String, Vec<u8>)>(
            "SELECT gw_id, payload FROM deliveries ORDER BY id",
        )
        .fetch(&mut conn);
        while let Some((gw_id, bytes)) = rows.try_next().await.map_err(db_err)? {
            verdict.rows += 1;
            let Some((id, size)) = payload::parse(&bytes) else {
                verdict.foreign += 1;
                continue;
            };
            let at = position.get(id.gateway as usize).copied().flatten();
            let Some((at, slot)) = at.and_then(|at| Some((at, slot(&mut copies[at], id.seq)?)))
            else {
                verdict.foreign += 1;
                continue;
            };
            *slot += 1;
            if bytes != payload::build(id, size) {
                verdict.corrupt += 1;
            }
            if !ledgers[at].gw_ids.contains(&gw_id) {
                verdict.wrong_gw += 1;
            }
        }
    }
    for (ledger, copies) in ledgers.iter().zip(&copies) {
        for (record, &n) in ledger.seqs.iter().zip(copies) {
            if record.acked {
                verdict.acked += 1;
                if n == 0 {
                    verdict.lost += 1;
                }
            } else if n > 0 {
                verdict.stored_unacked += 1;
            }
            let allowed = u32::from(record.acked) + record.unanswered;
            if n > record.attempts {
                verdict.duplicated += 1;
            } else if n > allowed {
                verdict.stored_despite_error += u64::from(n - allowed);
            } else if record.acked && n > 1 {
                verdict.retry_duplicates += u64::from(n - 1);
            }
        }
    }
    let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(db_err)?;
    verdict.integrity = lines.join("; ");
    Ok(verdict)
}

fn slot(copies: &mut [u32], seq: u64) -> Option<&mut u32> {
    copies.get_mut(usize::try_from(seq).ok()?)
}
