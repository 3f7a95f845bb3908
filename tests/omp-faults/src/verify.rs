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
//! Finally the store's own check must answer `ok`: on SQLite `PRAGMA
//! integrity_check`; PostgreSQL has no such check of a database, so there
//! `integrity` is `ok` when every row of `deliveries` has read back (a
//! page or tuple it cannot read fails the query, and the run with it).
//!
//! The store is where the OMP kept it ([`Store`]): the SQLite file in its
//! data directory, or the PostgreSQL database of its `--database-url`.

use std::path::{Path, PathBuf};

use futures::{Stream, TryStreamExt};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
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
    /// SQLite: `PRAGMA integrity_check`, lines joined with `; `.
    /// PostgreSQL: `ok` once every row has read back (it has no
    /// integrity check to run).
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

/// Where the OMP stores its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// The SQLite file (`omp.sqlite3` in its data directory).
    Sqlite(PathBuf),
    /// The PostgreSQL database of its `--database-url`.
    Postgres(String),
}

impl Store {
    /// `sqlite` or `postgres`, for the report.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}

/// `url` with the password of its user info, if any, replaced by `***`
/// (it goes into error messages).
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Checks the deliveries in `store` (the OMP must not be running) against
/// `ledgers`, indexed by gateway index.
pub async fn verify(store: &Store, ledgers: &[GatewayLedger]) -> Result<Verdict, FaultError> {
    let mut tally = Tally::new(ledgers);
    const ROWS: &str = "SELECT gw_id, payload FROM deliveries ORDER BY id";
    let integrity = match store {
        Store::Sqlite(path) => {
            let db_err = |source| FaultError::Db {
                path: path.clone(),
                source,
            };
            let mut conn = open_after_kill(path).await?;
            tally
                .read(sqlx::query_as(ROWS).fetch(&mut conn))
                .await
                .map_err(db_err)?;
            let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_all(&mut conn)
                .await
                .map_err(db_err)?;
            lines.join("; ")
        }
        Store::Postgres(url) => {
            let db_err = |source| FaultError::Postgres {
                url: without_password(url),
                source,
            };
            let mut conn = sqlx::PgConnection::connect(url).await.map_err(db_err)?;
            tally
                .read(sqlx::query_as(ROWS).fetch(&mut conn))
                .await
                .map_err(db_err)?;
            let _ = conn.close().await;
            "ok".to_owned()
        }
    };
    let mut verdict = tally.finish();
    verdict.integrity = integrity;
    Ok(verdict)
}

/// The rows read so far: copies per delivery, and the row-level figures.
struct Tally<'a> {
    ledgers: &'a [GatewayLedger],
    /// Rows found per delivery, by ledger position and sequence number.
    copies: Vec<Vec<u32>>,
    /// Ledger position by gateway index.
    position: Vec<Option<usize>>,
    verdict: Verdict,
}

impl<'a> Tally<'a> {
    fn new(ledgers: &'a [GatewayLedger]) -> Tally<'a> {
        let mut position: Vec<Option<usize>> = Vec::new();
        for (i, l) in ledgers.iter().enumerate() {
            let at = l.index as usize;
            if position.len() <= at {
                position.resize(at + 1, None);
            }
            position[at] = Some(i);
        }
        Tally {
            ledgers,
            copies: ledgers.iter().map(|l| vec![0; l.seqs.len()]).collect(),
            position,
            verdict: Verdict::default(),
        }
    }

    /// Matches every `(gw_id, payload)` row to the delivery it names.
    async fn read(
        &mut self,
        rows: impl Stream<Item = Result<(String, Vec<u8>), sqlx::Error>>,
    ) -> Result<(), sqlx::Error> {
        let mut rows = std::pin::pin!(rows);
        while let Some((gw_id, bytes)) = rows.try_next().await? {
            self.row(&gw_id, &bytes);
        }
        Ok(())
    }

    fn row(&mut self, gw_id: &str, bytes: &[u8]) {
        let verdict = &mut self.verdict;
        verdict.rows += 1;
        let Some((id, size)) = payload::parse(bytes) else {
            verdict.foreign += 1;
            return;
        };
        let at = self.position.get(id.gateway as usize).copied().flatten();
        let Some((at, slot)) = at.and_then(|at| Some((at, slot(&mut self.copies[at], id.seq)?)))
        else {
            verdict.foreign += 1;
            return;
        };
        *slot += 1;
        if payload::build(id, size).as_ref() != bytes {
            verdict.corrupt += 1;
        }
        if !self.ledgers[at].gw_ids.contains(gw_id) {
            verdict.wrong_gw += 1;
        }
    }

    /// The per-delivery figures, from the copies against the ledgers.
    fn finish(self) -> Verdict {
        let mut verdict = self.verdict;
        for (ledger, copies) in self.ledgers.iter().zip(&self.copies) {
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
        verdict
    }
}

fn slot(copies: &mut [u32], seq: u64) -> Option<&mut u32> {
    copies.get_mut(usize::try_from(seq).ok()?)
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            without_password("postgres://omp:hunter2@db:5432/omp?sslmode=require"),
            "postgres://omp:***@db:5432/omp?sslmode=require"
        );
        assert_eq!(
            without_password("postgres://omp@127.0.0.1:5432/omp"),
            "postgres://omp@127.0.0.1:5432/omp"
        );
        assert_eq!(without_password("postgres://db/omp"), "postgres://db/omp");
    }
}
