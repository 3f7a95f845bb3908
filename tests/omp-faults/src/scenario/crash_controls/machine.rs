//! The OMP's control state machine (omp-server/src/control/, README
//! "## Controls"), as the checker judges timelines by it.
//!
//! ```text
//! QUEUED ──→ SENT ──→ PROGRESS ──→ SUCCESS | FAILED | TIMEOUT
//!   │  ↖______/│
//!   │          └──→ SUCCESS | FAILED | TIMEOUT
//!   └──→ EXPIRED | CANCELLED | FAILED
//! ```
//!
//! - QUEUED → SENT: 0x0D handed to a live session. → EXPIRED: TTL passed.
//!   → CANCELLED: `DELETE`. → FAILED: the 0x0D cannot be encoded.
//! - SENT → QUEUED: the session ended before the 0x0E, or the server
//!   restarted, or the session's outbox was full. → PROGRESS: 0x0E rc 0.
//!   → FAILED: 0x0E with an error rc. → SUCCESS / FAILED: a 0x17 that
//!   came before any 0x0E. → TIMEOUT: no 0x0E within the response timeout.
//! - PROGRESS → SUCCESS / FAILED: the 0x17. → TIMEOUT: no 0x17 within
//!   `control_completion_timeout`.
//! - SUCCESS, FAILED, TIMEOUT, EXPIRED, CANCELLED: final, no way out.
//!
//! A timeline is a *valid path* when it starts QUEUED, every step is one
//! of these edges, and its times never go back.

/// States a control never leaves.
pub const FINAL: &[&str] = &["SUCCESS", "FAILED", "TIMEOUT", "EXPIRED", "CANCELLED"];

/// The states `from` may move to.
pub fn successors(from: &str) -> Option<&'static [&'static str]> {
    Some(match from {
        "QUEUED" => &["SENT", "EXPIRED", "CANCELLED", "FAILED"],
        "SENT" => &["QUEUED", "PROGRESS", "SUCCESS", "FAILED", "TIMEOUT"],
        "PROGRESS" => &["SUCCESS", "FAILED", "TIMEOUT"],
        "SUCCESS" | "FAILED" | "TIMEOUT" | "EXPIRED" | "CANCELLED" => &[],
        _ => return None,
    })
}

/// Why `timeline` ((state, Unix ms) in order) is not a valid path, or
/// `None` when it is.
pub fn path_problem(timeline: &[(String, i64)]) -> Option<String> {
    let Some((first, _)) = timeline.first() else {
        return Some("empty timeline".into());
    };
    if first != "QUEUED" {
        return Some(format!("starts {first}, not QUEUED"));
    }
    for pair in timeline.windows(2) {
        let [(from, t0), (to, t1)] = pair else {
            continue;
        };
        match successors(from) {
            None => return Some(format!("unknown state {from}")),
            Some(next) if !next.contains(&to.as_str()) => {
                return Some(format!("{from} → {to} is not a transition"));
            }
            Some(_) => {}
        }
        if t1 < t0 {
            return Some(format!("{from} → {to} goes back in time ({t0} → {t1} ms)"));
        }
    }
    let (last, _) = &timeline[timeline.len() - 1];
    successors(last)
        .is_none()
        .then(|| format!("unknown state {last}"))
}

/// The edges of `timeline`, as (from, to, from's time, to's time).
pub fn edges(timeline: &[(String, i64)]) -> impl Iterator<Item = (&str, &str, i64, i64)> {
    timeline.windows(2).filter_map(|pair| match pair {
        [(from, t0), (to, t1)] => Some((from.as_str(), to.as_str(), *t0, *t1)),
        _ => None,
    })
}

/// The state a control with `timeline` was in at Unix ms `at`: the last
/// state reached at or before it (`None` before it existed).
pub fn state_at(timeline: &[(String, i64)], at: i64) -> Option<&str> {
    timeline
        .iter()
        .take_while(|(_, t)| *t <= at)
        .last()
        .map(|(s, _)| s.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl(steps: &[(&str, i64)]) -> Vec<(String, i64)> {
        steps.iter().map(|(s, t)| (s.to_string(), *t)).collect()
    }

    #[test]
    fn the_happy_path_and_a_requeue_are_valid() {
        let happy = tl(&[("QUEUED", 1), ("SENT", 2), ("PROGRESS", 3), ("SUCCESS", 4)]);
        assert_eq!(path_problem(&happy), None);
        let requeued = tl(&[
            ("QUEUED", 1),
            ("SENT", 2),
            ("QUEUED", 9),
            ("SENT", 9),
            ("PROGRESS", 10),
            ("TIMEOUT", 2000),
        ]);
        assert_eq!(path_problem(&requeued), None);
    }

    #[test]
    fn invalid_paths_are_named() {
        let cases: &[(&[(&str, i64)], &str)] = &[
            (&[], "empty"),
            (&[("SENT", 1)], "starts SENT"),
            (&[("QUEUED", 1), ("PROGRESS", 2)], "QUEUED → PROGRESS"),
            (
                &[("QUEUED", 1), ("SENT", 2), ("PROGRESS", 3), ("QUEUED", 4)],
                "PROGRESS → QUEUED",
            ),
            (
                &[("QUEUED", 1), ("SENT", 2), ("SUCCESS", 3), ("SENT", 4)],
                "SUCCESS → SENT",
            ),
            (&[("QUEUED", 5), ("SENT", 4)], "back in time"),
            (&[("QUEUED", 1), ("LIMBO", 2)], "not a transition"),
        ];
        for (steps, expected) in cases {
            let problem = path_problem(&tl(steps)).unwrap_or_default();
            assert!(problem.contains(expected), "{steps:?}: {problem}");
        }
    }

    #[test]
    fn state_at_a_moment() {
        let t = tl(&[("QUEUED", 10), ("SENT", 20), ("QUEUED", 30)]);
        assert_eq!(state_at(&t, 5), None);
        assert_eq!(state_at(&t, 10), Some("QUEUED"));
        assert_eq!(state_at(&t, 25), Some("SENT"));
        assert_eq!(state_at(&t, 99), Some("QUEUED"));
        let e: Vec<_> = edges(&t).collect();
        assert_eq!(
            e,
            vec![("QUEUED", "SENT", 10, 20), ("SENT", "QUEUED", 20, 30)]
        );
    }
}
