//! The webhook's promise checked against the database, without IO: the
//! ids of the delivery events the receiver was POSTed, in arrival order,
//! against the ids of the delivery events stored.
//!
//! - `missing`: stored, never POSTed — lost.
//! - `phantom`: POSTed, not stored — an event of a rolled-back batch.
//! - `skipped`: a POST that jumped over a stored event not yet received —
//!   out of order (whether or not the gap was filled later).
//! - `repeats`: POSTs of an id already received. At least once allows
//!   them, but only what a kill can leave uncommitted: the events
//!   answered past the committed cursor (at most `per_kill`, the OMP's
//!   `UNCOMMITTED_MAX`) and the one in flight.

use std::collections::HashSet;

/// What [`check`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WebhookVerdict {
    /// Delivery events stored.
    pub stored: usize,
    /// POSTs received.
    pub posts: usize,
    /// Stored events never POSTed.
    pub missing: usize,
    /// POSTed ids that are not stored delivery events.
    pub phantom: usize,
    /// POSTs that jumped over a stored event not yet received.
    pub skipped: usize,
    /// POSTs of an id already received.
    pub repeats: usize,
    /// The first missing id, for the message.
    pub first_missing: Option<i64>,
}

/// Checks `posted` (arrival order) against `stored` (ascending).
pub fn check(posted: &[i64], stored: &[i64]) -> WebhookVerdict {
    let stored_set: HashSet<i64> = stored.iter().copied().collect();
    let mut verdict = WebhookVerdict {
        stored: stored.len(),
        posts: posted.len(),
        ..WebhookVerdict::default()
    };
    let mut seen = HashSet::new();
    // Index in `stored` of the next event the receiver should get.
    let mut next = 0usize;
    for &id in posted {
        if !stored_set.contains(&id) {
            verdict.phantom += 1;
            continue;
        }
        if !seen.insert(id) {
            verdict.repeats += 1;
            continue;
        }
        if stored.get(next) != Some(&id) {
            verdict.skipped += 1;
        }
        // Past this id (and anything skipped to reach it).
        if let Ok(at) = stored.binary_search(&id) {
            next = next.max(at + 1);
        }
    }
    for &id in stored {
        if !seen.contains(&id) {
            verdict.missing += 1;
            verdict.first_missing.get_or_insert(id);
        }
    }
    verdict
}

impl WebhookVerdict {
    /// The broken promises in words; `kills` × (`per_kill` + 1) bounds
    /// the repeats.
    pub fn violations(&self, kills: u32, per_kill: u32) -> Vec<String> {
        let mut v = Vec::new();
        if self.missing > 0 {
            v.push(format!(
                "{} stored delivery events never reached the webhook (first: event {})",
                self.missing,
                self.first_missing.unwrap_or_default()
            ));
        }
        if self.phantom > 0 {
            v.push(format!(
                "{} webhook POSTs carried an event that is not stored",
                self.phantom
            ));
        }
        if self.skipped > 0 {
            v.push(format!(
                "{} webhook POSTs came out of order (an earlier stored event not yet sent)",
                self.skipped
            ));
        }
        let bound = kills as usize * (per_kill as usize + 1);
        if self.repeats > bound {
            v.push(format!(
                "{} events were POSTed again after {kills} kills: more than the {bound} the \
                 uncommitted cursors allow",
                self.repeats
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_run_has_nothing_to_say() {
        let v = check(&[1, 3, 4], &[1, 3, 4]);
        assert_eq!(v.violations(0, 0), Vec::<String>::new());
        assert_eq!((v.stored, v.posts), (3, 3));
    }

    #[test]
    fn a_resend_after_a_restart_is_a_repeat_not_a_skip() {
        let v = check(&[1, 3, 3, 4], &[1, 3, 4]);
        assert_eq!((v.repeats, v.skipped, v.missing), (1, 0, 0));
        assert!(v.violations(1, 0).is_empty());
        assert_eq!(v.violations(0, 0).len(), 1, "a repeat needs a kill");
    }

    #[test]
    fn gaps_phantoms_and_reorderings_are_named() {
        let v = check(&[1, 4, 9], &[1, 3, 4]);
        assert_eq!((v.missing, v.phantom, v.skipped), (1, 1, 1));
        assert_eq!(v.first_missing, Some(3));
        let v = check(&[1, 4, 3], &[1, 3, 4]);
        assert_eq!((v.missing, v.skipped, v.repeats), (0, 2, 0));
        assert_eq!(v.violations(5, 0).len(), 1);
    }
}
