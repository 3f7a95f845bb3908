//! [`CursorKeeper`]: a delivery task's cursor on its way to table
//! `webhooks`.
//!
//! Waiting for each cursor's commit before the next POST would tie a
//! webhook to the writer's batch cycle: under sustained ingest a batch
//! commits every few milliseconds, and a webhook would deliver about a
//! hundred events a second however fast its receiver — and never catch
//! up. Instead one commit is in flight at a time, carrying the newest
//! cursor, while the POSTs go on; the task waits only when
//! [`UNCOMMITTED_MAX`] answered events are past the committed cursor.
//! A crash therefore sends those again after the restart (at least
//! once, still in order) and never skips one. A stopping task commits
//! its newest cursor and waits for it ([`CursorKeeper::flush`]) before it
//! ends, so a cursor the API writes after the stop is never overwritten.

use std::sync::Arc;

use crate::error::StoreError;
use crate::store::writer::{CursorCommit, WriterHandle};

/// Most answered events past the committed cursor: what a crash can
/// send twice.
pub const UNCOMMITTED_MAX: u32 = 256;

/// One webhook's cursor: what was answered, what is committed, and the
/// commit in flight.
#[derive(Debug)]
pub struct CursorKeeper {
    hook: i64,
    /// The newest cursor: the last event answered or passed over.
    latest: i64,
    /// The committed cursor.
    persisted: i64,
    /// The commit in flight and the cursor it carries.
    in_flight: Option<(i64, CursorCommit)>,
    /// Events answered since the committed cursor.
    since_persisted: u32,
    /// Events answered since the cursor in flight.
    since_in_flight: u32,
}

impl CursorKeeper {
    /// Webhook `hook`, its committed cursor `cursor`.
    pub fn new(hook: i64, cursor: i64) -> CursorKeeper {
        CursorKeeper {
            hook,
            latest: cursor,
            persisted: cursor,
            in_flight: None,
            since_persisted: 0,
            since_in_flight: 0,
        }
    }

    /// The newest cursor.
    pub fn latest(&self) -> i64 {
        self.latest
    }

    /// Moves the cursor to `cursor` — an event `answered` with a 2xx, or
    /// events the filters passed over. Starts a commit when none is in
    /// flight; waits for one only at [`UNCOMMITTED_MAX`].
    pub async fn advance(
        &mut self,
        writer: &WriterHandle,
        cursor: i64,
        answered: bool,
    ) -> Result<(), Arc<StoreError>> {
        self.latest = self.latest.max(cursor);
        if answered {
            self.since_persisted = self.since_persisted.saturating_add(1);
            self.since_in_flight = self.since_in_flight.saturating_add(1);
        }
        self.take_finished()?;
        if self.in_flight.is_none() && self.latest > self.persisted {
            self.submit(writer).await?;
        }
        if self.since_persisted >= UNCOMMITTED_MAX {
            self.flush(writer).await?;
        }
        Ok(())
    }

    /// Commits the newest cursor and waits for it: when caught up, and
    /// before the task ends.
    pub async fn flush(&mut self, writer: &WriterHandle) -> Result<(), Arc<StoreError>> {
        self.wait().await?;
        if self.latest > self.persisted {
            self.submit(writer).await?;
            self.wait().await?;
        }
        Ok(())
    }

    /// Takes the commit in flight if it has ended.
    fn take_finished(&mut self) -> Result<(), Arc<StoreError>> {
        let Some((cursor, commit)) = &mut self.in_flight else {
            return Ok(());
        };
        let Some(result) = commit.try_committed() else {
            return Ok(());
        };
        let cursor = *cursor;
        self.in_flight = None;
        result?;
        self.committed(cursor);
        Ok(())
    }

    async fn wait(&mut self) -> Result<(), Arc<StoreError>> {
        if let Some((cursor, commit)) = self.in_flight.take() {
            commit.committed().await?;
            self.committed(cursor);
        }
        Ok(())
    }

    async fn submit(&mut self, writer: &WriterHandle) -> Result<(), Arc<StoreError>> {
        let commit = writer.submit_webhook_cursor(self.hook, self.latest).await?;
        self.in_flight = Some((self.latest, commit));
        self.since_in_flight = 0;
        Ok(())
    }

    fn committed(&mut self, cursor: i64) {
        self.persisted = cursor;
        self.since_persisted = self.since_in_flight;
    }
}
