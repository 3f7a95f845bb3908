//! The checker of `crash-controls`: the database the last kill left
//! ([`super::db`]) against what the clients saw through the API and what
//! the gateways received. What counts as a broken promise,
//! and what is allowed, is listed in the module doc of
//! [`super`]; each problem kind below names the rule it checks.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use test_support::report::Report;

use super::client::is_final;
use super::db::DbControl;
use super::key::ControlKey;
use super::ledger::{Arrival, ControlRecord, GatewayRecord, Observation, Step};
use super::machine::{self, path_problem};

/// Examples kept per kind of problem.
const EXAMPLES: usize = 3;
/// A PROGRESS control's deadline is taken just before its PROGRESS is
/// committed: its TIMEOUT may come this much before
/// `acknowledged_at + control_completion_timeout`.
const DEADLINE_SLACK_MS: i64 = 100;
/// The first OMP T-ID (GW T-IDs run 0‥99 999).
const FIRST_OMP_TID: u32 = 100_000;

/// What the run did, for the checker.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Every control the clients asked for.
    pub records: &'a [ControlRecord],
    /// Every gateway, by index.
    pub gateways: &'a [GatewayRecord],
    /// Each SIGKILL under load.
    pub kills: &'a [Kill],
    /// The server's `control_completion_timeout`, ms.
    pub completion_timeout_ms: i64,
    /// The gateways re-sent unanswered 0x17s.
    pub resend_notifications: bool,
}

/// One SIGKILL, in Unix ms: just before the signal was sent, and once the
/// process was reaped (the OMP may commit up to the moment the signal
/// lands, somewhere in between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    /// Before `kill(2)`.
    pub sent_ms: i64,
    /// After `waitpid`.
    pub reaped_ms: i64,
}

impl Kill {
    /// True when this kill may have fallen between an event at `t0` and
    /// one at `t1`: the first may have been committed before the process
    /// died and the second after it.
    pub fn between(&self, t0: i64, t1: i64) -> bool {
        t0 <= self.reaped_ms && self.sent_ms <= t1
    }
}

/// Problems by kind: a count and the first few in words.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems {
    by_kind: BTreeMap<&'static str, (u64, Vec<String>)>,
}

impl Problems {
    fn add(&mut self, kind: &'static str, detail: String) {
        let (n, examples) = self.by_kind.entry(kind).or_default();
        *n += 1;
        if examples.len() < EXAMPLES {
            examples.push(detail);
        }
    }

    /// Problems found.
    pub fn total(&self) -> u64 {
        self.by_kind.values().map(|(n, _)| n).sum()
    }

    /// How many of `kind`.
    pub fn count(&self, kind: &str) -> u64 {
        self.by_kind.get(kind).map_or(0, |(n, _)| *n)
    }

    /// One line per kind: `N kind (e.g. …; …)`.
    pub fn lines(&self) -> Vec<String> {
        self.by_kind
            .iter()
            .map(|(kind, (n, examples))| format!("{n} {kind}: {}", examples.join("; ")))
            .collect()
    }
}

/// Figures and problems.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Controls whose POST was answered 202.
    pub posted: u64,
    /// POSTs sent, retries included.
    pub post_attempts: u64,
    /// POSTs whose answer died with the server.
    pub posts_unanswered: u64,
    /// Controls POSTed more than once before their 202.
    pub posts_retried: u64,
    /// Of those, controls the retry found already stored (the first POST
    /// was committed, its answer lost): the Idempotency-Key path.
    pub retry_found_existing: u64,
    /// POSTs of an answered key after a restart (each must return the
    /// same id).
    pub replays: u64,
    /// Rows in `controls`.
    pub rows: u64,
    /// Rows whose POST was never answered (the run ended first).
    pub stored_unanswered: u64,
    /// Ended SUCCESS.
    pub succeeded: u64,
    /// Ended TIMEOUT, as allowed.
    pub timed_out: u64,
    /// SENT → QUEUED transitions.
    pub requeues: u64,
    /// Controls with at least one.
    pub controls_requeued: u64,
    /// SENT transitions beyond each control's first (re-sends).
    pub resends: u64,
    /// 0x0Ds that reached the gateways.
    pub arrivals: u64,
    /// 0x0Ds beyond the first of their control (at-least-once).
    pub duplicate_arrivals: u64,
    /// Controls whose gateway received them more than once.
    pub controls_executed_twice: u64,
    /// 0x17s lost with their session.
    pub notifications_unanswered: u64,
    /// Re-sent 0x17s the OMP answered with an error rc (the first copy
    /// had been taken).
    pub resent_notifications_refused: u64,
    /// Controls QUEUED at one kill or more (by their timeline's ms clock
    /// at the moment the signal was sent).
    pub queued_at_kill: u64,
    /// Controls SENT at one kill or more.
    pub sent_at_kill: u64,
    /// Controls PROGRESS at one kill or more.
    pub progress_at_kill: u64,
    /// API answers checked against the final timelines.
    pub observations: u64,
    /// Of those, answers whose `state` is an earlier state of their own
    /// `timeline` (a torn read of the OMP's API; see the module doc).
    pub torn_answers: u64,
    /// `PRAGMA integrity_check`.
    pub integrity: String,
    /// The broken promises.
    pub problems: Problems,
}

impl Verdict {
    /// The broken promises in words; empty when all held.
    pub fn violations(&self) -> Vec<String> {
        let mut v = self.problems.lines();
        if self.integrity != "ok" {
            v.push(format!("PRAGMA integrity_check: {}", self.integrity));
        }
        v
    }

    /// Adds the figures to `report`.
    pub fn add_to(&self, report: &mut Report) {
        report
            .set("controls_posted", self.posted)
            .set("post_attempts", self.post_attempts)
            .set("posts_unanswered", self.posts_unanswered)
            .set("posts_retried", self.posts_retried)
            .set("retry_found_existing", self.retry_found_existing)
            .set("replays", self.replays)
            .set("rows", self.rows)
            .set("stored_unanswered", self.stored_unanswered)
            .set("succeeded", self.succeeded)
            .set("timed_out", self.timed_out)
            .set("requeues", self.requeues)
            .set("controls_requeued", self.controls_requeued)
            .set("resends", self.resends)
            .set("arrivals", self.arrivals)
            .set("duplicate_arrivals", self.duplicate_arrivals)
            .set("controls_executed_twice", self.controls_executed_twice)
            .set("notifications_unanswered", self.notifications_unanswered)
            .set(
                "resent_notifications_refused",
                self.resent_notifications_refused,
            )
            .set("queued_at_kill", self.queued_at_kill)
            .set("sent_at_kill", self.sent_at_kill)
            .set("progress_at_kill", self.progress_at_kill)
            .set("observations", self.observations)
            .set("torn_answers", self.torn_answers)
            .set("problems", self.problems.total())
            .set("integrity", self.integrity.clone());
    }
}

/// Formats Unix ms as the API does (`format_rfc3339_millis`).
fn api_time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

fn states(steps: &[(String, i64)]) -> String {
    steps
        .iter()
        .map(|(s, _)| s.as_str())
        .collect::<Vec<_>>()
        .join("→")
}

/// Checks `rows` (and the integrity answer) against `facts`.
pub fn check(facts: &Facts<'_>, rows: &[DbControl], integrity: String) -> Verdict {
    let mut v = Verdict {
        rows: rows.len() as u64,
        integrity,
        ..Verdict::default()
    };
    let records: HashMap<ControlKey, &ControlRecord> =
        facts.records.iter().map(|r| (r.key, r)).collect();
    let mut arrivals: HashMap<ControlKey, Vec<&Arrival>> = HashMap::new();
    for g in facts.gateways {
        for a in &g.arrivals {
            arrivals.entry(a.key).or_default().push(a);
        }
        for f in &g.foreign_controls {
            v.problems.add(
                "0x0Ds naming no control of their gateway",
                format!("gateway {}: {f}", g.index),
            );
        }
        if g.stray_answers > 0 {
            v.problems.add(
                "0x18s answering no 0x17 in flight",
                format!("gateway {}: {}", g.index, g.stray_answers),
            );
        }
    }
    let mut by_key: BTreeMap<ControlKey, Vec<&DbControl>> = BTreeMap::new();
    for row in rows {
        check_row(facts, row, &mut v);
        match row
            .idempotency_key
            .as_deref()
            .and_then(ControlKey::from_idempotency_key)
        {
            Some(key) => by_key.entry(key).or_default().push(row),
            None => v.problems.add(
                "rows no client asked for",
                format!("control {} (key {:?})", row.id, row.idempotency_key),
            ),
        }
    }
    let no_arrivals = Vec::new();
    for (key, found) in &by_key {
        if found.len() > 1 {
            let ids: Vec<i64> = found.iter().map(|r| r.id).collect();
            v.problems.add(
                "controls stored more than once for one Idempotency-Key",
                format!("{key}: ids {ids:?}"),
            );
        }
        let row = found[0];
        let record = records.get(key).copied();
        match record {
            None => v.problems.add(
                "rows no client asked for",
                format!("control {} names {key}, never POSTed", row.id),
            ),
            Some(r) if r.id.is_none() => v.stored_unanswered += 1,
            Some(r) if r.id != Some(row.id) => v.problems.add(
                "POST answers naming another control than the key's",
                format!("{key}: answered id {:?}, stored id {}", r.id, row.id),
            ),
            Some(_) => {}
        }
        let gw_id = facts
            .gateways
            .iter()
            .find(|g| g.index == key.gateway)
            .and_then(|g| g.gw_id.as_deref());
        if row.data.as_deref() != Some(key.data().as_slice())
            || !row.device_id.is_empty()
            || row.control_type != i64::from(super::CONTROL_TYPE)
            || gw_id.is_some_and(|g| g != row.gw_id)
        {
            v.problems.add(
                "rows differing from their POST",
                format!(
                    "control {} ({key}): gw {}, device {:?}, type {}, data {:?}",
                    row.id,
                    row.gw_id,
                    row.device_id,
                    row.control_type,
                    row.data.as_deref().map(String::from_utf8_lossy)
                ),
            );
        }
        let got = arrivals.get(key).unwrap_or(&no_arrivals);
        check_control(facts, *key, row, got, &mut v);
        if let Some(r) = record {
            check_observations(r, row, &mut v);
        }
    }
    for key in arrivals.keys().filter(|k| !by_key.contains_key(k)) {
        v.problems
            .add("0x0Ds of controls that are not stored", format!("{key}"));
    }
    for r in facts.records {
        check_posts(r, &by_key, &mut v);
    }
    v
}

/// Every row: a valid path that ends where the row's state says, final.
fn check_row(facts: &Facts<'_>, row: &DbControl, v: &mut Verdict) {
    if let Some(p) = path_problem(&row.timeline) {
        v.problems.add(
            "timelines that are not a path of the state machine",
            format!("control {}: {p} ({})", row.id, states(&row.timeline)),
        );
    }
    if row.timeline.last().map(|(s, _)| s.as_str()) != Some(row.state.as_str()) {
        v.problems.add(
            "rows whose state is not their timeline's last",
            format!(
                "control {}: {} vs {}",
                row.id,
                row.state,
                states(&row.timeline)
            ),
        );
    }
    if !machine::FINAL.contains(&row.state.as_str()) {
        v.problems.add(
            "controls not final after the clean period",
            format!("control {}: {}", row.id, states(&row.timeline)),
        );
    }
    let at_kills: Vec<Option<&str>> = facts
        .kills
        .iter()
        .map(|k| machine::state_at(&row.timeline, k.sent_ms))
        .collect();
    v.queued_at_kill += u64::from(at_kills.contains(&Some("QUEUED")));
    v.sent_at_kill += u64::from(at_kills.contains(&Some("SENT")));
    v.progress_at_kill += u64::from(at_kills.contains(&Some("PROGRESS")));
}

/// One stored control of the run against its gateway's arrivals.
fn check_control(
    facts: &Facts<'_>,
    key: ControlKey,
    row: &DbControl,
    arrivals: &[&Arrival],
    v: &mut Verdict,
) {
    let tl = &row.timeline;
    let sents = tl.iter().filter(|(s, _)| s == "SENT").count() as u64;
    v.resends += sents.saturating_sub(1);
    let session_ends = facts
        .gateways
        .iter()
        .find(|g| g.index == key.gateway)
        .map_or(&[][..], |g| g.session_ends.as_slice());
    let mut requeued = false;
    for (from, to, t0, t1) in machine::edges(tl) {
        match (from, to) {
            ("SENT", "QUEUED") => {
                v.requeues += 1;
                requeued = true;
                let killed = facts.kills.iter().any(|k| k.between(t0, t1));
                let ended = session_ends.iter().any(|t| t0 <= *t && *t <= t1);
                if !killed && !ended {
                    v.problems.add(
                        "SENT → QUEUED with no kill or session end in between",
                        format!("control {} ({key}): SENT at {t0}, QUEUED at {t1}", row.id),
                    );
                }
            }
            // A re-sent 0x17 of an earlier sending may complete a control
            // sent again before its 0x0E: allowed by the rules then.
            ("SENT", "SUCCESS") if !facts.resend_notifications => v.problems.add(
                "SUCCESS committed without the 0x0E that preceded its 0x17",
                format!("control {} ({key}): {}", row.id, states(tl)),
            ),
            ("SENT", "TIMEOUT") => v.problems.add(
                "SENT controls timed out (the gateway answers every 0x0D at once)",
                format!("control {} ({key}): {}", row.id, states(tl)),
            ),
            _ => {}
        }
    }
    v.controls_requeued += u64::from(requeued);

    let n = arrivals.len() as u64;
    v.arrivals += n;
    if n > 1 {
        v.duplicate_arrivals += n - 1;
        v.controls_executed_twice += 1;
    }
    if n > sents {
        v.problems.add(
            "controls received more often than they were SENT",
            format!("control {} ({key}): {n} 0x0Ds, {}", row.id, states(tl)),
        );
    }
    for a in arrivals {
        if a.tid < FIRST_OMP_TID {
            v.problems.add(
                "0x0Ds with a T-ID in the gateways' range",
                format!("control {} ({key}): T-ID {}", row.id, a.tid),
            );
        }
        if a.after_ack {
            v.problems.add(
                "controls executed again after their result was acknowledged",
                format!(
                    "control {} ({key}): T-ID {} on session {}",
                    row.id, a.tid, a.session
                ),
            );
        }
        v.notifications_unanswered += u64::from(a.unanswered());
        for &rc in a.answers.iter().filter(|&&rc| rc != 0) {
            if a.notifications_sent > 1 {
                v.resent_notifications_refused += 1;
            } else {
                v.problems.add(
                    "0x17s refused (0x18 rc ≠ 0)",
                    format!("control {} ({key}): T-ID {}, rc 0x{rc:02x}", row.id, a.tid),
                );
            }
        }
        if a.acknowledged() && row.state != "SUCCESS" {
            v.problems.add(
                "acknowledged results lost (0x18 rc 0, control not SUCCESS)",
                format!("control {} ({key}): T-ID {}, {}", row.id, a.tid, states(tl)),
            );
        }
    }

    match row.state.as_str() {
        "SUCCESS" => {
            v.succeeded += 1;
            let expected = key.data();
            if row.result_code != Some(0) || row.result_data.as_deref() != Some(&expected[..]) {
                v.problems.add(
                    "SUCCESS results differing from what the gateway sent",
                    format!(
                        "control {} ({key}): rc {:?}, result {:?}",
                        row.id,
                        row.result_code,
                        row.result_data.as_deref().map(String::from_utf8_lossy)
                    ),
                );
            }
            if arrivals.is_empty() {
                v.problems.add(
                    "SUCCESS for controls that never reached their gateway",
                    format!("control {} ({key})", row.id),
                );
            }
            if let Some(done) = row.completed_at
                && let Some(late) = arrivals.iter().find(|a| a.at_ms > done)
            {
                v.problems.add(
                    "controls executed again after their SUCCESS",
                    format!(
                        "control {} ({key}): SUCCESS at {done}, 0x0D T-ID {} at {}",
                        row.id, late.tid, late.at_ms
                    ),
                );
            }
        }
        "TIMEOUT" => match timeout_problem(facts, row, arrivals) {
            None => v.timed_out += 1,
            Some(why) => v.problems.add(
                "TIMEOUTs that are not allowed",
                format!("control {} ({key}): {why}; {}", row.id, states(tl)),
            ),
        },
        state if machine::FINAL.contains(&state) => v.problems.add(
            "controls ended FAILED, EXPIRED or CANCELLED",
            format!("control {} ({key}): {}", row.id, states(tl)),
        ),
        // Not final: counted by `check_row`.
        _ => {}
    }
}

/// Why this TIMEOUT is not allowed, or `None` (the rule of the module
/// doc: PROGRESS when a kill hit, its 0x17 lost with the session, never
/// acknowledged, and not before its deadline).
fn timeout_problem(facts: &Facts<'_>, row: &DbControl, arrivals: &[&Arrival]) -> Option<String> {
    let tl = &row.timeline;
    let [.., (before, t_progress), (_, t_end)] = tl.as_slice() else {
        return Some("TIMEOUT as the first state".into());
    };
    if before != "PROGRESS" {
        return Some(format!("TIMEOUT from {before}, not PROGRESS"));
    }
    if arrivals.iter().any(|a| a.acknowledged()) {
        return Some("its gateway was told its result was stored (0x18 rc 0)".into());
    }
    let tid = row.tid.and_then(|t| u32::try_from(t).ok());
    let Some(execution) = arrivals.iter().rev().find(|a| Some(a.tid) == tid) else {
        return Some(format!(
            "no 0x0D with its T-ID {:?} reached the gateway",
            row.tid
        ));
    };
    if execution.unanswered() == 0 {
        return Some(format!(
            "the 0x17 of T-ID {} was answered ({:?}), not lost",
            execution.tid, execution.answers
        ));
    }
    if !facts.kills.iter().any(|k| k.between(*t_progress, *t_end)) {
        return Some("no kill between its PROGRESS and its TIMEOUT".into());
    }
    if t_end + DEADLINE_SLACK_MS < t_progress + facts.completion_timeout_ms {
        return Some(format!(
            "timed out {} ms after PROGRESS, before control_completion_timeout ({} ms)",
            t_end - t_progress,
            facts.completion_timeout_ms
        ));
    }
    None
}

/// What the API showed of a control against its stored timeline: every
/// answer a prefix of it and an extension of the answer before it, its
/// state one of its own timeline's (the last, unless torn); the last
/// answer final and whole.
fn check_observations(record: &ControlRecord, row: &DbControl, v: &mut Verdict) {
    let stored: Vec<Step> = row
        .timeline
        .iter()
        .map(|(state, at)| Step {
            state: state.clone(),
            at: api_time(*at),
        })
        .collect();
    let show = |o: &Observation| {
        o.timeline
            .iter()
            .map(|s| s.state.as_str())
            .collect::<Vec<_>>()
            .join("→")
    };
    let key = record.key;
    for pair in record.observations.windows(2) {
        if let [earlier, later] = pair
            && !later.timeline.starts_with(&earlier.timeline)
        {
            v.problems.add(
                "API answers that do not extend the answer before them (a state went back)",
                format!(
                    "control {} ({key}): {} after {}",
                    row.id,
                    show(later),
                    show(earlier)
                ),
            );
        }
    }
    for o in record
        .observations
        .iter()
        .chain(&record.replay_observations)
    {
        v.observations += 1;
        if o.timeline.last().map(|s| s.state.as_str()) != Some(o.state.as_str()) {
            if o.timeline.iter().any(|s| s.state == o.state) {
                // Row and timeline read in two queries: a change committed
                // in between shows in the timeline only.
                v.torn_answers += 1;
            } else {
                v.problems.add(
                    "API answers whose state is not in their own timeline",
                    format!("control {} ({key}): {} vs {}", row.id, o.state, show(o)),
                );
            }
        }
        if !stored.starts_with(&o.timeline) {
            v.problems.add(
                "API answers not a prefix of the stored timeline (a shown state was lost or rewritten)",
                format!(
                    "control {} ({key}): shown {}, stored {}",
                    row.id,
                    show(o),
                    states(&row.timeline)
                ),
            );
        }
    }
    let shown_final = record.observations.last().filter(|o| is_final(&o.state));
    match shown_final {
        Some(last) if last.timeline != stored => v.problems.add(
            "final API answers differing from the stored timeline",
            format!(
                "control {} ({key}): shown {}, stored {}",
                row.id,
                show(last),
                states(&row.timeline)
            ),
        ),
        None if record.id.is_some() => v.problems.add(
            "controls never shown final by the API",
            format!(
                "control {} ({key}): stored {}",
                row.id,
                states(&row.timeline)
            ),
        ),
        _ => {}
    }
}

/// The POSTs of one control: answered ones exist, replays name the same
/// control, 4xx and odd answers are problems.
fn check_posts(
    record: &ControlRecord,
    by_key: &BTreeMap<ControlKey, Vec<&DbControl>>,
    v: &mut Verdict,
) {
    let key = record.key;
    v.post_attempts += record.attempts.len() as u64;
    v.posts_unanswered += record.unanswered_posts() as u64;
    v.replays += record.replays.len() as u64;
    let stored = by_key.get(&key).and_then(|rows| rows.first());
    if let Some(id) = record.id {
        v.posted += 1;
        if stored.is_none() {
            v.problems.add(
                "controls answered 202 that are not stored (lost)",
                format!("control {id} ({key})"),
            );
        }
        if record.unanswered_posts() > 0 {
            v.posts_retried += 1;
            let accepted_at = record.attempts.last().map_or(i64::MAX, |a| a.started_ms);
            if stored.is_some_and(|row| row.created_at < accepted_at) {
                v.retry_found_existing += 1;
            }
        }
    }
    for &replayed in &record.replays {
        if Some(replayed) != record.id {
            v.problems.add(
                "replayed POSTs answering another control",
                format!("{key}: first id {:?}, replay id {replayed}", record.id),
            );
        }
    }
    for a in &record.anomalies {
        v.problems
            .add("unexpected API answers", format!("{key}: {a}"));
    }
    for a in &record.attempts {
        if let super::ledger::PostOutcome::Status(status, body) = &a.outcome
            && *status < 500
        {
            v.problems
                .add("POSTs refused", format!("{key}: {status} {body}"));
        }
    }
}

#[cfg(test)]
mod tests;
