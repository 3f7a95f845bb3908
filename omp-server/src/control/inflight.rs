//! The controls in flight (SENT or PROGRESS), in memory: T-ID allocation,
//! matching of the gateway's answers, slots per target, deadlines. Plain
//! data, no IO: the dispatcher commits every change to the database first
//! and only then applies it here.
//!
//! Matching (docs/gmmp.md §6.7, §7): a control response (0x0E) echoes its
//! control's T-ID and is matched by it alone. A notification (0x17) is
//! matched by T-ID, else — a real module may have moved its T-ID on — by
//! the PROGRESS control of the same device and type with the highest
//! T-ID *below* the one received. SKT's library sets its T-ID to the
//! OMP's when it answers a control and counts up from there, so a changed
//! T-ID is above its control's; T-IDs given by the OMP only ever grow
//! (across restarts too), so a repeated or late 0x17 of an earlier
//! control is below the current one and never completes it with its
//! predecessor's result. The T-IDs of each gateway's last controls that
//! left flight are also remembered, so a repeat of a result already
//! stored is acknowledged again rather than refused.

use std::collections::{HashMap, VecDeque};

use gmmp_codec::FIRST_OMP_TID;

/// T-IDs remembered per gateway after their controls left flight.
pub const RECENT_PER_GATEWAY: usize = 16;

/// How a control left flight, as remembered by its T-ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// It ended with the gateway's result stored (SUCCESS or FAILED by a
    /// 0x17): a repeated 0x17 is acknowledged again, not stored again.
    WithResult,
    /// It ended otherwise (TIMEOUT, FAILED by its 0x0E) or went back to the
    /// queue: an answer for it is late and matches nothing.
    WithoutResult,
}

/// Where a control in flight stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// 0x0D handed to session `session`; waiting for the 0x0E.
    Sent {
        /// The session that carries it (its end puts the control back in
        /// the queue).
        session: u64,
    },
    /// The gateway accepted it (0x0E rc OK); waiting for the 0x17.
    Progress,
}

/// One control in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Row id.
    pub id: i64,
    /// Device ID, `""` for the gateway itself.
    pub device_id: String,
    /// GMMP control type.
    pub control_type: u8,
    /// OMP T-ID.
    pub tid: u32,
    /// SENT or PROGRESS.
    pub stage: Stage,
    /// Unix ms when it times out in its stage.
    pub deadline: i64,
}

/// A control past its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The gateway.
    pub gw_id: String,
    /// The control.
    pub control: InFlight,
}

/// Every control in flight, by gateway.
#[derive(Debug)]
pub struct Table {
    by_gw: HashMap<String, Vec<InFlight>>,
    recent: HashMap<String, VecDeque<(u32, Left)>>,
    next_tid: u32,
}

impl Table {
    /// An empty table whose T-IDs continue after `last_tid` (the highest
    /// ever given, from the database).
    pub fn new(last_tid: Option<u32>) -> Table {
        let next_tid = match last_tid {
            Some(t) if (FIRST_OMP_TID..u32::MAX).contains(&t) => t + 1,
            _ => FIRST_OMP_TID,
        };
        Table {
            by_gw: HashMap::new(),
            recent: HashMap::new(),
            next_tid,
        }
    }

    /// A fresh T-ID for `gw_id`: ≥ 100 000, counting up across all gateways
    /// (so unique until the counter wraps after 4 billion), and never one a
    /// control of `gw_id` in flight holds.
    pub fn allocate_tid(&mut self, gw_id: &str) -> u32 {
        loop {
            let tid = self.next_tid;
            self.next_tid = if tid == u32::MAX {
                FIRST_OMP_TID
            } else {
                tid + 1
            };
            let taken = self
                .by_gw
                .get(gw_id)
                .is_some_and(|open| open.iter().any(|c| c.tid == tid));
            if !taken {
                return tid;
            }
        }
    }

    /// Adds a control in flight.
    pub fn insert(&mut self, gw_id: &str, control: InFlight) {
        self.by_gw
            .entry(gw_id.to_owned())
            .or_default()
            .push(control);
    }

    /// Removes control `id` of `gw_id`, remembering its T-ID as `left`.
    pub fn remove(&mut self, gw_id: &str, id: i64, left: Left) -> Option<InFlight> {
        let open = self.by_gw.get_mut(gw_id)?;
        let at = open.iter().position(|c| c.id == id)?;
        let control = open.remove(at);
        if open.is_empty() {
            self.by_gw.remove(gw_id);
        }
        let recent = self.recent.entry(gw_id.to_owned()).or_default();
        if recent.len() == RECENT_PER_GATEWAY {
            recent.pop_front();
        }
        recent.push_back((control.tid, left));
        Some(control)
    }

    /// How the control with T-ID `tid` of `gw_id` left flight, if it did
    /// recently and nothing in flight holds that T-ID now.
    pub fn left(&self, gw_id: &str, tid: u32) -> Option<Left> {
        if self
            .by_gw
            .get(gw_id)
            .is_some_and(|open| open.iter().any(|c| c.tid == tid))
        {
            return None;
        }
        self.recent
            .get(gw_id)?
            .iter()
            .rev()
            .find(|(t, _)| *t == tid)
            .map(|(_, left)| *left)
    }

    /// Marks control `id` PROGRESS with a new deadline.
    pub fn progress(&mut self, gw_id: &str, id: i64, deadline: i64) {
        if let Some(c) = self.entry(gw_id, id) {
            c.stage = Stage::Progress;
            c.deadline = deadline;
        }
    }

    /// Moves control `id`'s deadline to `deadline` (its timeout could not
    /// be recorded; it is tried again then).
    pub fn postpone(&mut self, gw_id: &str, id: i64, deadline: i64) {
        if let Some(c) = self.entry(gw_id, id) {
            c.deadline = deadline;
        }
    }

    fn entry(&mut self, gw_id: &str, id: i64) -> Option<&mut InFlight> {
        self.by_gw
            .get_mut(gw_id)
            .and_then(|open| open.iter_mut().find(|c| c.id == id))
    }

    /// Controls in flight for the target `(gw_id, device_id)`.
    pub fn count(&self, gw_id: &str, device_id: &str) -> usize {
        self.by_gw.get(gw_id).map_or(0, |open| {
            open.iter().filter(|c| c.device_id == device_id).count()
        })
    }

    /// The control a control response (0x0E) answers: the SENT one with
    /// its T-ID (a response echoes its request's).
    pub fn match_response(&self, gw_id: &str, tid: u32) -> Option<&InFlight> {
        self.by_gw
            .get(gw_id)?
            .iter()
            .find(|c| c.tid == tid && matches!(c.stage, Stage::Sent { .. }))
    }

    /// The control a notification (0x17) — or a long sentence request —
    /// is about: the one in flight with its T-ID (SENT too: the 0x0E may
    /// have been lost), else, unless the T-ID is one that recently left
    /// flight, the PROGRESS control of the same device and type with the
    /// highest T-ID below it.
    pub fn match_notification(
        &self,
        gw_id: &str,
        tid: u32,
        device_id: &str,
        control_type: u8,
    ) -> Option<&InFlight> {
        let open = self.by_gw.get(gw_id)?;
        if let Some(c) = open.iter().find(|c| c.tid == tid) {
            return Some(c);
        }
        if self.left(gw_id, tid).is_some() {
            return None;
        }
        open.iter()
            .filter(|c| {
                c.stage == Stage::Progress
                    && c.tid < tid
                    && c.device_id == device_id
                    && c.control_type == control_type
            })
            .max_by_key(|c| c.tid)
    }

    /// The control a long sentence request (0x11) is about: the one in
    /// flight with its T-ID, else the one in flight (SENT or PROGRESS) of
    /// the same device and type, the latest sent if several. SK Telecom's
    /// client library never sets the T-ID of a 0x11, so one sent before
    /// the 0x0E carries whatever T-ID its previous request had.
    pub fn match_long_sentence(
        &self,
        gw_id: &str,
        tid: u32,
        device_id: &str,
        control_type: u8,
    ) -> Option<&InFlight> {
        let open = self.by_gw.get(gw_id)?;
        if let Some(c) = open.iter().find(|c| c.tid == tid) {
            return Some(c);
        }
        open.iter()
            .filter(|c| c.device_id == device_id && c.control_type == control_type)
            .max_by_key(|c| c.tid)
    }

    /// The controls of `gw_id` still SENT on `session` (it ended before the
    /// gateway answered).
    pub fn sent_on(&self, gw_id: &str, session: u64) -> Vec<InFlight> {
        self.by_gw.get(gw_id).map_or_else(Vec::new, |open| {
            open.iter()
                .filter(|c| c.stage == Stage::Sent { session })
                .cloned()
                .collect()
        })
    }

    /// Controls whose deadline is at or before `now`.
    pub fn due(&self, now: i64) -> Vec<Due> {
        self.by_gw
            .iter()
            .flat_map(|(gw_id, open)| {
                open.iter().filter(|c| c.deadline <= now).map(|c| Due {
                    gw_id: gw_id.clone(),
                    control: c.clone(),
                })
            })
            .collect()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.by_gw.values().flatten().map(|c| c.deadline).min()
    }

    /// Number of controls in flight.
    pub fn len(&self) -> usize {
        self.by_gw.values().map(Vec::len).sum()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.by_gw.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: i64, tid: u32, device: &str, ct: u8) -> InFlight {
        InFlight {
            id,
            device_id: device.to_owned(),
            control_type: ct,
            tid,
            stage: Stage::Sent { session: 1 },
            deadline: 1_000 + id,
        }
    }

    #[test]
    fn tids_start_at_100000_continue_after_the_stored_maximum_and_wrap() {
        assert_eq!(Table::new(None).allocate_tid("G"), 100_000);
        assert_eq!(Table::new(Some(7)).allocate_tid("G"), 100_000);
        assert_eq!(Table::new(Some(100_041)).allocate_tid("G"), 100_042);
        let mut t = Table::new(Some(u32::MAX - 1));
        assert_eq!(t.allocate_tid("G"), u32::MAX);
        assert_eq!(t.allocate_tid("G"), 100_000);
    }

    #[test]
    fn a_tid_held_by_an_open_control_of_the_gateway_is_skipped() {
        let mut t = Table::new(Some(u32::MAX));
        t.insert("G", sent(1, 100_000, "", 12));
        t.insert("G", sent(2, 100_001, "", 12));
        assert_eq!(t.allocate_tid("G"), 100_002);
        // Another gateway may hold the same number: T-IDs are per gateway.
        let mut t = Table::new(Some(u32::MAX));
        t.insert("H", sent(1, 100_000, "", 12));
        assert_eq!(t.allocate_tid("G"), 100_000);
    }

    #[test]
    fn notifications_match_by_tid_then_by_device_and_type() {
        let mut t = Table::new(None);
        t.insert("G", sent(1, 100_000, "", 12));
        t.insert("G", sent(2, 100_001, "AD1", 12));
        t.insert("G", sent(3, 100_002, "", 8));
        assert_eq!(t.match_notification("G", 100_001, "", 12).unwrap().id, 2);
        // Moved-on T-ID: only a PROGRESS control of the same device and
        // type whose T-ID is below it.
        assert!(t.match_notification("G", 100_005, "", 12).is_none());
        t.progress("G", 1, 9_000);
        t.progress("G", 3, 9_000);
        assert_eq!(t.match_notification("G", 100_005, "", 12).unwrap().id, 1);
        assert_eq!(t.match_notification("G", 100_005, "", 8).unwrap().id, 3);
        assert!(t.match_notification("G", 100_005, "AD9", 12).is_none());
        // An older T-ID (an earlier control's, repeated) never matches.
        assert!(t.match_notification("G", 99_999, "", 12).is_none());
        assert!(t.match_notification("H", 100_000, "", 12).is_none());
    }

    #[test]
    fn long_sentences_match_by_tid_then_any_open_control_of_the_device_and_type() {
        let mut t = Table::new(None);
        t.insert("G", sent(1, 100_000, "", 12));
        t.insert("G", sent(2, 100_001, "AD1", 12));
        assert_eq!(t.match_long_sentence("G", 100_001, "", 12).unwrap().id, 2);
        // A stale T-ID (the library's previous request's), before the 0x0E:
        // the SENT control of the same device and type.
        assert_eq!(t.match_long_sentence("G", 7, "", 12).unwrap().id, 1);
        assert_eq!(t.match_long_sentence("G", 7, "AD1", 12).unwrap().id, 2);
        // And after it.
        t.progress("G", 1, 9_000);
        assert_eq!(t.match_long_sentence("G", 8, "", 12).unwrap().id, 1);
        assert!(t.match_long_sentence("G", 7, "", 8).is_none());
        assert!(t.match_long_sentence("G", 7, "AD9", 12).is_none());
        assert!(t.match_long_sentence("H", 100_000, "", 12).is_none());
    }

    #[test]
    fn a_tid_that_left_flight_never_falls_back_to_another_control() {
        let mut t = Table::new(None);
        t.insert("G", sent(1, 100_000, "", 12));
        t.progress("G", 1, 9_000);
        t.remove("G", 1, Left::WithResult);
        t.insert("G", sent(2, 100_001, "", 12));
        t.progress("G", 2, 9_000);
        // A repeat of control 1's 0x17 is not control 2's result.
        assert!(t.match_notification("G", 100_000, "", 12).is_none());
        assert_eq!(t.left("G", 100_000), Some(Left::WithResult));
        assert_eq!(t.left("G", 100_001), None, "in flight");
        // Only the last RECENT_PER_GATEWAY are remembered.
        for i in 0..RECENT_PER_GATEWAY as i64 {
            t.insert("G", sent(10 + i, 200_000 + i as u32, "", 1));
            t.remove("G", 10 + i, Left::WithoutResult);
        }
        assert_eq!(t.left("G", 100_000), None);
        assert_eq!(t.left("G", 200_000), Some(Left::WithoutResult));
    }

    #[test]
    fn responses_match_only_sent_controls_by_tid() {
        let mut t = Table::new(None);
        t.insert("G", sent(1, 100_000, "", 12));
        assert!(t.match_response("G", 100_001).is_none());
        assert_eq!(t.match_response("G", 100_000).unwrap().id, 1);
        t.progress("G", 1, 9_999);
        assert!(t.match_response("G", 100_000).is_none());
        assert_eq!(t.match_notification("G", 100_000, "", 12).unwrap().id, 1);
    }

    #[test]
    fn slots_sessions_and_deadlines() {
        let mut t = Table::new(None);
        t.insert("G", sent(1, 100_000, "", 12));
        t.insert("G", sent(2, 100_001, "AD1", 12));
        assert_eq!(t.count("G", ""), 1);
        assert_eq!(t.count("G", "AD1"), 1);
        assert_eq!(t.count("G", "AD2"), 0);
        assert_eq!(t.sent_on("G", 1).len(), 2);
        assert!(t.sent_on("G", 2).is_empty());
        assert_eq!(t.next_deadline(), Some(1_001));
        assert_eq!(t.due(1_001).len(), 1);
        t.progress("G", 1, 5_000);
        assert_eq!(t.sent_on("G", 1).len(), 1);
        assert_eq!(t.next_deadline(), Some(1_002));
        t.remove("G", 1, Left::WithResult);
        t.remove("G", 2, Left::WithResult);
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
    }
}
