//! One webhook's delivery task: read the outbox after the cursor (the
//! same page read as `GET /api/v1/events`, with the webhook's filters),
//! POST each event alone, in order, and move the cursor after each 2xx
//! ([`CursorKeeper`]: committed beside the POSTs, at most
//! [`UNCOMMITTED_MAX`](super::cursor::UNCOMMITTED_MAX) events behind). A failed attempt (non-2xx, `webhook_timeout`, a
//! connection error) is retried after [`backoff::delay`]; a webhook that
//! has failed for `webhook_disable_after` without a success is disabled,
//! the reason stored for its GET. Caught up, the task waits for the
//! committed head to move.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::backoff;
use super::client::{Post, WebhookClient};
use super::cursor::CursorKeeper;
use super::signature::{self, EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::error::StoreError;
use crate::http::events::EventBody;
use crate::state::Shared;
use crate::store::events::{self, StoredEvent};
use crate::store::webhooks::{self as table, StoredWebhook};

/// Events read per page.
const PAGE: i64 = 100;
/// Longest receiver error text kept in `last_error`.
const ERROR_MAX: usize = 300;

/// How one event's delivery ended.
enum Outcome {
    Delivered,
    /// Stopped (delete, disable, change, shutdown) or disabled here.
    Ended,
}

/// The task of `hook`, until `stop` or until it disables the webhook;
/// its newest cursor is committed before it ends.
pub async fn run(
    state: Arc<Shared>,
    hook: StoredWebhook,
    stop: CancellationToken,
    shown_cursor: Arc<AtomicI64>,
) {
    let timeout = state.config.webhook.timeout;
    let client = match state.webhooks.connector(timeout) {
        Ok(connector) => WebhookClient::new(connector, timeout),
        Err(e) => {
            tracing::error!(webhook = hook.id, error = %e, "webhook: no HTTP client; not delivering");
            return;
        }
    };
    let mut cursor = CursorKeeper::new(hook.id, hook.cursor);
    let task = Task {
        state: &state,
        client: &client,
        hook: &hook,
        secret: hook.secret.as_bytes(),
        stop: &stop,
    };
    task.deliver(&mut cursor, &shown_cursor).await;
    if let Err(e) = cursor.flush(&state.writer).await {
        tracing::warn!(webhook = hook.id, cursor = cursor.latest(), error = %e,
            "webhook: last cursor not saved; its events will be sent again");
    }
}

impl Task<'_> {
    /// Reads and POSTs until stopped or disabled.
    async fn deliver(&self, cursor: &mut CursorKeeper, shown_cursor: &AtomicI64) {
        let state = self.state;
        let filter = self.hook.filter();
        let mut head = state.events().subscribe();
        let mut failures: u32 = 0;
        loop {
            let upto = *head.borrow_and_update();
            if cursor.latest() >= upto {
                while let Err(e) = cursor.flush(&state.writer).await {
                    if !self.cursor_failed(e, &mut failures).await {
                        return;
                    }
                }
                tokio::select! {
                    changed = head.changed() => if changed.is_err() { return },
                    () = self.stop.cancelled() => return,
                }
                continue;
            }
            let page = match events::page(&state.db, &filter, cursor.latest(), upto, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(webhook = self.hook.id, error = %e, "webhook: events not read; retrying");
                    failures = failures.saturating_add(1);
                    if !pause(state, failures, self.stop).await {
                        return;
                    }
                    continue;
                }
            };
            for event in page.events {
                let id = event.id;
                match self.deliver_one(event, &mut failures).await {
                    Outcome::Delivered => {
                        shown_cursor.store(id, Ordering::Relaxed);
                        while let Err(e) = cursor.advance(&state.writer, id, true).await {
                            if !self.cursor_failed(e, &mut failures).await {
                                return;
                            }
                        }
                    }
                    Outcome::Ended => return,
                }
            }
            // Events the filters passed over move the cursor too.
            while let Err(e) = cursor.advance(&state.writer, page.scanned_to, false).await {
                if !self.cursor_failed(e, &mut failures).await {
                    return;
                }
            }
            shown_cursor.store(cursor.latest(), Ordering::Relaxed);
        }
    }

    /// Logs a cursor the writer did not commit and waits the back-off
    /// before the retry; `false` if stopped meanwhile.
    async fn cursor_failed(&self, e: Arc<StoreError>, failures: &mut u32) -> bool {
        tracing::warn!(webhook = self.hook.id, error = %e, "webhook: cursor not saved; retrying");
        *failures = failures.saturating_add(1);
        pause(self.state, *failures, self.stop).await
    }
}

/// Waits the back-off of the `failures`-th failure; `false` if stopped.
async fn pause(state: &Shared, failures: u32, stop: &CancellationToken) -> bool {
    let c = &state.config.webhook;
    let wait = backoff::delay(failures, c.retry_min, c.retry_max, fastrand::f64());
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = stop.cancelled() => false,
    }
}

/// What the task needs.
struct Task<'a> {
    state: &'a Arc<Shared>,
    client: &'a WebhookClient,
    hook: &'a StoredWebhook,
    secret: &'a [u8],
    stop: &'a CancellationToken,
}

impl Task<'_> {
    /// POSTs `event` until a 2xx, a stop, or the webhook is disabled.
    async fn deliver_one(&self, event: StoredEvent, failures: &mut u32) -> Outcome {
        let id = event.id;
        let body = match serde_json::to_vec(&EventBody::from(event)) {
            Ok(body) => bytes::Bytes::from(body),
            Err(e) => {
                tracing::error!(webhook = self.hook.id, event = id, error = %e, "webhook: event not encoded; skipped");
                return Outcome::Delivered;
            }
        };
        let signature = signature::sign(self.secret, &body);
        let metrics = self.state.webhooks.metrics();
        loop {
            let sent = tokio::select! {
                sent = self.post(id, body.clone(), &signature) => sent,
                () = self.stop.cancelled() => return Outcome::Ended,
            };
            let error = match sent {
                Ok(()) => {
                    metrics.delivered.fetch_add(1, Ordering::Relaxed);
                    *failures = 0;
                    return Outcome::Delivered;
                }
                Err(error) => error,
            };
            metrics.failed.fetch_add(1, Ordering::Relaxed);
            *failures = failures.saturating_add(1);
            if *failures == 1 || failures.is_power_of_two() {
                tracing::warn!(webhook = self.hook.id, event = id, failures = *failures,
                    error = %error, "webhook delivery failed; retrying");
            }
            if self.failing_too_long(&error).await {
                return Outcome::Ended;
            }
            if !pause(self.state, *failures, self.stop).await {
                return Outcome::Ended;
            }
        }
    }

    /// One POST; the error as text for `last_error`.
    async fn post(&self, id: i64, body: bytes::Bytes, signature: &str) -> Result<(), String> {
        let now = crate::store::now_millis() / 1000;
        let headers = [
            (SIGNATURE_HEADER, signature.to_owned()),
            (EVENT_ID_HEADER, id.to_string()),
            (TIMESTAMP_HEADER, now.to_string()),
        ];
        let status = self
            .client
            .post(Post {
                url: &self.hook.url,
                headers: &headers,
                body,
            })
            .await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("event {id}: the receiver answered {status}"))
        }
    }

    /// Records the failure; disables the webhook when it has failed for
    /// `webhook_disable_after` (true then).
    async fn failing_too_long(&self, error: &str) -> bool {
        let now = crate::store::now_millis();
        let error: String = error.chars().take(ERROR_MAX).collect();
        let since = match table::failed(&self.state.db, self.hook.id, now, &error).await {
            Ok(since) => since.unwrap_or(now),
            Err(e) => {
                tracing::warn!(webhook = self.hook.id, error = %e, "webhook: failure not recorded");
                return false;
            }
        };
        let limit = self.state.config.webhook.disable_after;
        let failing_for = Duration::from_millis(u64::try_from(now - since).unwrap_or(0));
        if failing_for < limit {
            return false;
        }
        let reason = format!(
            "failing for {} (webhook_disable_after = {}): {error}",
            humantime::format_duration(Duration::from_secs(failing_for.as_secs())),
            humantime::format_duration(limit)
        );
        if let Err(e) = table::disable(&self.state.db, self.hook.id, &reason).await {
            tracing::warn!(webhook = self.hook.id, error = %e, "webhook: not disabled; retrying");
            return false;
        }
        self.state
            .webhooks
            .metrics()
            .disabled
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(webhook = self.hook.id, %reason, "webhook disabled");
        true
    }
}
