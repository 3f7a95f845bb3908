//! The sessions this instance holds, as the cluster sees them: by kind
//! and key, the local session's id, how to close it, and where its claim
//! stands. What to do on word of another instance's claim is decided
//! here, without IO ([`should_close`]).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

/// What a session is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A GMMP gateway, by GW ID.
    Gmmp,
    /// An MQTT client, by client id.
    Mqtt,
}

impl Kind {
    /// The `sessions.kind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gmmp => "gmmp",
            Kind::Mqtt => "mqtt",
        }
    }

    /// The kind of a `sessions.kind` value.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "gmmp" => Some(Kind::Gmmp),
            "mqtt" => Some(Kind::Mqtt),
            _ => None,
        }
    }
}

/// Where a local session's claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Queued or in flight: its epoch is not known yet.
    Pending,
    /// Made: the row was this instance's with this epoch.
    Held(i64),
    /// Not made (the database out of reach, the queue full): the session
    /// goes on without a row.
    Failed,
}

/// True when a claim of the key by `owner` at `epoch` closes the local
/// session whose claim stands at `claim` on instance `me`.
///
/// A claim by this instance never does (a newer local session closes the
/// older through the registry already). A pending claim is left alone:
/// word of another instance's claim may be older or newer than it, and
/// only the epochs tell, so the rescan decides once it is known. A failed
/// claim loses to any other instance's.
pub fn should_close(claim: Claim, me: &str, owner: &str, epoch: i64) -> bool {
    if owner == me {
        return false;
    }
    match claim {
        Claim::Pending => false,
        Claim::Held(mine) => epoch > mine,
        Claim::Failed => true,
    }
}

#[derive(Debug)]
struct Held {
    session: u64,
    close: CancellationToken,
    claim: Claim,
    taken_by: Option<String>,
}

/// A local session to close: another instance took its key.
#[derive(Debug, Clone)]
pub struct TakenOver {
    /// The key's kind.
    pub kind: Kind,
    /// The GW ID or client id.
    pub key: String,
    /// The local session's id.
    pub session: u64,
    /// The instance now holding the key.
    pub by: String,
    close: CancellationToken,
}

impl TakenOver {
    /// Closes the local session (as a newer local session would).
    pub fn close(&self) {
        self.close.cancel();
    }
}

/// The local sessions by kind and key: one per key, the newest.
#[derive(Debug, Default)]
pub struct Local {
    held: Mutex<HashMap<(Kind, String), Held>>,
}

impl Local {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Kind, String), Held>> {
        // Single inserts, removals and field writes: a panic cannot leave
        // the map half-changed.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Session `session` now holds `key` here (replacing an older local
    /// one); its claim is pending.
    pub fn bind(&self, kind: Kind, key: &str, session: u64, close: CancellationToken) {
        self.lock().insert(
            (kind, key.to_owned()),
            Held {
                session,
                close,
                claim: Claim::Pending,
                taken_by: None,
            },
        );
    }

    /// Records how the claim of `session` ended, if it still holds `key`.
    pub fn claimed(&self, kind: Kind, key: &str, session: u64, claim: Claim) {
        if let Some(held) = self
            .lock()
            .get_mut(&(kind, key.to_owned()))
            .filter(|h| h.session == session)
        {
            held.claim = claim;
        }
    }

    /// Forgets `key` if `session` still holds it; its claim then.
    pub fn release(&self, kind: Kind, key: &str, session: u64) -> Option<Claim> {
        let mut held = self.lock();
        let k = (kind, key.to_owned());
        if held.get(&k).is_some_and(|h| h.session == session) {
            return held.remove(&k).map(|h| h.claim);
        }
        None
    }

    /// The instance that took `key` from `session`, if one did.
    pub fn taken_by(&self, kind: Kind, key: &str, session: u64) -> Option<String> {
        self.lock()
            .get(&(kind, key.to_owned()))
            .filter(|h| h.session == session)
            .and_then(|h| h.taken_by.clone())
    }

    /// Word that `owner` claimed `key` at `epoch`: the local session to
    /// close, if [`should_close`] says so (marked taken, so it is closed
    /// once only).
    pub fn claimed_elsewhere(
        &self,
        me: &str,
        kind: Kind,
        key: &str,
        owner: &str,
        epoch: i64,
    ) -> Option<TakenOver> {
        let mut held = self.lock();
        let h = held.get_mut(&(kind, key.to_owned()))?;
        if h.taken_by.is_some() || !should_close(h.claim, me, owner, epoch) {
            return None;
        }
        h.taken_by = Some(owner.to_owned());
        Some(TakenOver {
            kind,
            key: key.to_owned(),
            session: h.session,
            by: owner.to_owned(),
            close: h.close.clone(),
        })
    }

    /// The keys of `kind` held here and not yet taken (what the rescan
    /// looks up).
    pub fn keys(&self, kind: Kind) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|((k, _), h)| *k == kind && h.taken_by.is_none())
            .map(|((_, key), _)| key.clone())
            .collect()
    }

    /// Sessions held here.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no session is held here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_higher_epoch_of_another_instance_closes_a_held_session() {
        assert!(!should_close(Claim::Held(3), "a", "a", 9), "own claim");
        assert!(!should_close(Claim::Held(3), "a", "b", 3));
        assert!(!should_close(Claim::Held(3), "a", "b", 2), "older word");
        assert!(should_close(Claim::Held(3), "a", "b", 4));
        assert!(
            !should_close(Claim::Pending, "a", "b", 4),
            "left to the rescan"
        );
        assert!(should_close(Claim::Failed, "a", "b", 1));
    }

    #[test]
    fn a_taken_session_is_closed_once_and_says_by_whom() {
        let local = Local::default();
        let close = CancellationToken::new();
        local.bind(Kind::Gmmp, "SC10010001", 7, close.clone());
        local.claimed(Kind::Gmmp, "SC10010001", 7, Claim::Held(2));
        assert!(
            local
                .claimed_elsewhere("a", Kind::Gmmp, "SC10010001", "b", 2)
                .is_none()
        );
        let taken = local
            .claimed_elsewhere("a", Kind::Gmmp, "SC10010001", "b", 3)
            .unwrap();
        assert_eq!((taken.session, taken.by.as_str()), (7, "b"));
        taken.close();
        assert!(close.is_cancelled());
        assert!(
            local
                .claimed_elsewhere("a", Kind::Gmmp, "SC10010001", "c", 4)
                .is_none()
        );
        assert_eq!(
            local.taken_by(Kind::Gmmp, "SC10010001", 7).as_deref(),
            Some("b")
        );
        assert!(local.keys(Kind::Gmmp).is_empty());
    }

    #[test]
    fn an_older_session_neither_records_nor_releases_its_successors_claim() {
        let local = Local::default();
        local.bind(Kind::Mqtt, "dev", 1, CancellationToken::new());
        local.bind(Kind::Mqtt, "dev", 2, CancellationToken::new());
        local.claimed(Kind::Mqtt, "dev", 1, Claim::Held(5));
        assert_eq!(local.release(Kind::Mqtt, "dev", 1), None);
        local.claimed(Kind::Mqtt, "dev", 2, Claim::Held(6));
        assert_eq!(local.release(Kind::Mqtt, "dev", 2), Some(Claim::Held(6)));
        assert!(local.is_empty());
    }
}
