//! Property tests of the split tracker: whatever the order in which the
//! splits of two devices interleave, whichever T-ID form each uses, with
//! repeats and junk parts in between and the run cut anywhere, every part
//! lands in its own split, every whole split comes out byte-exact, and
//! every split cut short is still open with exactly the parts it got.

use std::collections::HashMap;

use bytes::Bytes;
use gmmp_codec::{Part, PartDecision, SplitLimits, SplitTracker};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct PlannedSplit {
    source: &'static str,
    parts: Vec<Bytes>,
    tid_per_part: bool,
    first_tid: u32,
    /// Part indexes sent twice in a row (the second time a repeat).
    repeated: Vec<bool>,
}

#[derive(Debug, Clone)]
enum Sent {
    /// Part `index` (or its repeat) of planned split `split`.
    Part {
        split: usize,
        index: usize,
        repeat: bool,
        part: Part,
    },
    /// A part no split can take.
    Junk(Part),
}

fn planned_split(source: &'static str, first_tid: u32) -> impl Strategy<Value = PlannedSplit> {
    (2usize..=5, any::<bool>())
        .prop_flat_map(move |(total, tid_per_part)| {
            (
                prop::collection::vec(prop::collection::vec(any::<u8>(), 1..8), total),
                prop::collection::vec(prop::bool::weighted(0.2), total),
                Just(tid_per_part),
            )
        })
        .prop_map(move |(parts, repeated, tid_per_part)| PlannedSplit {
            source,
            parts: parts.into_iter().map(Bytes::from).collect(),
            tid_per_part,
            first_tid,
            repeated,
        })
}

/// The frames one planned split sends, in its own order: T-IDs as the
/// sender would give them (per part: one more on every send, repeats too).
fn frames_of(i: usize, s: &PlannedSplit) -> Vec<Sent> {
    let total = s.parts.len() as u16;
    let mut tid = s.first_tid;
    let mut out = Vec::new();
    for (index, payload) in s.parts.iter().enumerate() {
        let sends = if s.repeated[index] { 2 } else { 1 };
        for send in 0..sends {
            out.push(Sent::Part {
                split: i,
                index,
                repeat: send == 1,
                part: Part {
                    tid,
                    current: index as u16 + 1,
                    total,
                    report_type: 1,
                    media_type: 1,
                    payload: payload.clone(),
                },
            });
            if s.tid_per_part {
                tid += 1;
            }
        }
    }
    out
}

fn scenario() -> impl Strategy<Value = (Vec<PlannedSplit>, Vec<Sent>, usize)> {
    let splits = (
        prop::collection::vec(0u32..1, 1..=3),
        prop::collection::vec(0u32..1, 1..=3),
    )
        .prop_flat_map(|(a, b)| {
            // T-IDs far apart per split, so no two splits of one device can
            // take each other's parts; devices deliberately share T-IDs.
            let a: Vec<_> = (0..a.len())
                .map(|j| planned_split("dev-a", 1000 * (j as u32 + 1)).boxed())
                .collect();
            let b: Vec<_> = (0..b.len())
                .map(|j| planned_split("dev-b", 1000 * (j as u32 + 1)).boxed())
                .collect();
            a.into_iter().chain(b).collect::<Vec<_>>()
        });
    splits
        .prop_flat_map(|splits| {
            let n: usize = splits.iter().map(|s| frames_of(0, s).len()).sum();
            (
                Just(splits),
                prop::collection::vec(any::<prop::sample::Index>(), n),
                prop::collection::vec((any::<prop::sample::Index>(), 0u32..3000), 0..4),
                0..=n + 4,
            )
        })
        .prop_map(|(splits, picks, junk, cut)| {
            // Interleave: each pick takes the next frame of one split,
            // keeping every split's own order.
            let mut queues: Vec<std::collections::VecDeque<Sent>> = splits
                .iter()
                .enumerate()
                .map(|(i, s)| frames_of(i, s).into())
                .collect();
            let mut sent = Vec::new();
            for pick in picks {
                let live: Vec<usize> = (0..queues.len())
                    .filter(|&q| !queues[q].is_empty())
                    .collect();
                let q = live[pick.index(live.len())];
                sent.push(queues[q].pop_front().expect("live queue"));
            }
            for (at, tid) in junk {
                let at = at.index(sent.len() + 1);
                sent.insert(
                    at,
                    Sent::Junk(Part {
                        tid,
                        current: 7,
                        total: 6,
                        report_type: 1,
                        media_type: 1,
                        payload: Bytes::from_static(b"junk"),
                    }),
                );
            }
            let cut = cut.min(sent.len());
            (splits, sent, cut)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parts_land_in_their_own_split_in_any_interleaving((splits, sent, cut) in scenario()) {
        let limits = SplitLimits { max_open_per_source: 8, ..SplitLimits::default() };
        let mut tracker = SplitTracker::new(limits, 1);
        // Tracker id → planned split, and the bytes the caller holds.
        let mut owner: HashMap<u64, usize> = HashMap::new();
        let mut held: HashMap<u64, Vec<Bytes>> = HashMap::new();
        let mut completed: HashMap<usize, Bytes> = HashMap::new();
        let mut received: HashMap<usize, usize> = HashMap::new();
        for (now, s) in sent[..cut].iter().enumerate() {
            let now = now as i64;
            match s {
                Sent::Junk(part) => {
                    let d = tracker.accept(&"dev-a", part, now);
                    prop_assert!(matches!(d, PartDecision::Refused(_)), "junk taken: {d:?}");
                }
                Sent::Part { split, index, repeat, part } => {
                    let source = splits[*split].source;
                    match tracker.accept(&source, part, now) {
                        PartDecision::Opened { id, closed } => {
                            prop_assert!(!repeat && *index == 0);
                            prop_assert!(closed.is_empty());
                            owner.insert(id, *split);
                            held.insert(id, vec![part.payload.clone()]);
                        }
                        PartDecision::Added { id } => {
                            prop_assert!(!repeat);
                            prop_assert_eq!(owner[&id], *split);
                            held.get_mut(&id).unwrap().push(part.payload.clone());
                        }
                        PartDecision::Completed(done) => {
                            prop_assert!(!repeat);
                            prop_assert_eq!(owner[&done.id], *split);
                            let mut parts = held.remove(&done.id).unwrap();
                            parts.push(part.payload.clone());
                            prop_assert_eq!(done.tids.len(), parts.len());
                            completed.insert(*split, parts.concat().into());
                        }
                        PartDecision::Repeated { id } => {
                            prop_assert!(*repeat, "a first send taken as a repeat");
                            prop_assert_eq!(owner[&id], *split);
                        }
                        PartDecision::Refused(why) => {
                            prop_assert!(false, "a good part refused: {why}");
                        }
                    }
                    if !repeat {
                        *received.entry(*split).or_default() += 1;
                    }
                }
            }
        }
        for (i, plan) in splits.iter().enumerate() {
            let got = received.get(&i).copied().unwrap_or(0);
            if got == plan.parts.len() {
                let whole: Bytes = plan.parts.concat().into();
                prop_assert_eq!(completed.get(&i), Some(&whole));
            } else {
                prop_assert!(!completed.contains_key(&i));
                let open: Vec<_> = tracker
                    .open_splits(&plan.source)
                    .iter()
                    .filter(|s| owner.get(&s.id) == Some(&i))
                    .collect();
                if got == 0 {
                    prop_assert!(open.is_empty());
                } else {
                    prop_assert_eq!(open.len(), 1, "a split cut short stays open");
                    prop_assert_eq!(open[0].tids.len(), got);
                    prop_assert_eq!(held[&open[0].id].len(), got);
                }
            }
        }
        // Whatever stays open is handed back by expiry, once.
        let open = tracker.open_count();
        prop_assert_eq!(tracker.expire(i64::MAX).len(), open);
        prop_assert_eq!(tracker.open_count(), 0);
    }
}
