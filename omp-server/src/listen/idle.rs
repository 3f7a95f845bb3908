//! [`IdleBook`]: the connections not yet bound to a GW, by source and in
//! accept order, and the decision which of them to close when a new one
//! comes over a cap — without IO, so the rules are tested without
//! sockets. Each entry carries a handle `H` (the connection's
//! cancellation token in the server) that the caller uses to close the
//! connections the book gives up.
//!
//! Over a cap the OLDEST entry makes room (of the new connection's source
//! when the per-source cap is full, of all sources when the total cap
//! is): refusing the new one instead would let a few hundred silent
//! sockets, opened once and left idle, lock every newcomer out until
//! their timeouts. An idle socket can only hold its place until younger
//! ones push it out; a real gateway needs it for one round trip.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Why a connection was refused a place (the refusing admission,
/// [`IdleBook::try_admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The total cap is reached.
    #[error("{0} unauthenticated connections already (max_unauthenticated)")]
    Total(usize),
    /// This source holds its cap already.
    #[error("{count} unauthenticated connections from {from} already (max_unauthenticated_per_ip)")]
    PerSource {
        /// The source (address or /64).
        from: IpAddr,
        /// Its connections.
        count: usize,
    },
}

/// An entry the book gave up to make room: close its connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Shed<H> {
    /// Its source.
    pub source: IpAddr,
    /// Its handle.
    pub handle: H,
}

/// A new entry's place, and the entries given up for it (at most two:
/// the source's oldest, then the oldest of all).
#[derive(Debug)]
pub struct Admitted<H> {
    /// The entry's id, for [`IdleBook::remove`].
    pub id: u64,
    /// Close these.
    pub shed: Vec<Shed<H>>,
}

#[derive(Debug)]
struct Entry<H> {
    source: IpAddr,
    handle: H,
}

/// Open entries under a total cap and a per-source cap; ids grow with
/// accept time, so the smallest id is the oldest entry.
#[derive(Debug)]
pub struct IdleBook<H> {
    max_total: usize,
    max_per_source: usize,
    next_id: u64,
    by_age: BTreeMap<u64, Entry<H>>,
    per_source: HashMap<IpAddr, BTreeSet<u64>>,
}

impl<H> IdleBook<H> {
    /// A book with these caps (at least one each).
    pub fn new(max_total: usize, max_per_source: usize) -> IdleBook<H> {
        IdleBook {
            max_total: max_total.max(1),
            max_per_source: max_per_source.max(1),
            next_id: 0,
            by_age: BTreeMap::new(),
            per_source: HashMap::new(),
        }
    }

    /// Enters a connection from `source`, giving up the oldest entries
    /// over the caps to make room; always succeeds.
    pub fn admit(&mut self, source: IpAddr, handle: H) -> Admitted<H> {
        let mut shed = Vec::new();
        let oldest_of_source = self
            .per_source
            .get(&source)
            .filter(|ids| ids.len() >= self.max_per_source)
            .and_then(|ids| ids.first().copied());
        if let Some(id) = oldest_of_source {
            shed.extend(self.take(id));
        }
        if self.by_age.len() >= self.max_total
            && let Some(id) = self.by_age.keys().next().copied()
        {
            shed.extend(self.take(id));
        }
        Admitted {
            id: self.insert(source, handle),
            shed,
        }
    }

    /// Enters a connection from `source` unless a cap is reached.
    pub fn try_admit(&mut self, source: IpAddr, handle: H) -> Result<u64, Refused> {
        if self.by_age.len() >= self.max_total {
            return Err(Refused::Total(self.by_age.len()));
        }
        let count = self.from_source(source);
        if count >= self.max_per_source {
            return Err(Refused::PerSource {
                from: source,
                count,
            });
        }
        Ok(self.insert(source, handle))
    }

    /// Removes entry `id` (bound or ended); `false` if it was given up
    /// already.
    pub fn remove(&mut self, id: u64) -> bool {
        self.take(id).is_some()
    }

    /// Entries now.
    pub fn total(&self) -> usize {
        self.by_age.len()
    }

    /// Entries now from `source`.
    pub fn from_source(&self, source: IpAddr) -> usize {
        self.per_source.get(&source).map_or(0, BTreeSet::len)
    }

    /// Sources with entries now.
    pub fn sources(&self) -> usize {
        self.per_source.len()
    }

    fn insert(&mut self, source: IpAddr, handle: H) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.by_age.insert(id, Entry { source, handle });
        self.per_source.entry(source).or_default().insert(id);
        id
    }

    fn take(&mut self, id: u64) -> Option<Shed<H>> {
        let entry = self.by_age.remove(&id)?;
        if let Some(ids) = self.per_source.get_mut(&entry.source) {
            ids.remove(&id);
            if ids.is_empty() {
                // Keep the map as small as the set of sources connecting now.
                self.per_source.remove(&entry.source);
            }
        }
        Some(Shed {
            source: entry.source,
            handle: entry.handle,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn handles(shed: &[Shed<&'static str>]) -> Vec<&'static str> {
        shed.iter().map(|s| s.handle).collect()
    }

    #[test]
    fn a_full_source_gives_up_its_oldest_entry() {
        let mut book = IdleBook::new(10, 2);
        assert!(book.admit(ip("10.0.0.1"), "a1").shed.is_empty());
        assert!(book.admit(ip("10.0.0.2"), "b1").shed.is_empty());
        assert!(book.admit(ip("10.0.0.1"), "a2").shed.is_empty());
        let third = book.admit(ip("10.0.0.1"), "a3");
        assert_eq!(handles(&third.shed), ["a1"]);
        assert_eq!(third.shed[0].source, ip("10.0.0.1"));
        assert_eq!(book.from_source(ip("10.0.0.1")), 2);
        let fourth = book.admit(ip("10.0.0.1"), "a4");
        assert_eq!(handles(&fourth.shed), ["a2"]);
        // The other source keeps its entry.
        assert_eq!(book.from_source(ip("10.0.0.2")), 1);
        assert_eq!(book.total(), 3);
    }

    #[test]
    fn a_full_book_gives_up_the_oldest_entry_of_any_source() {
        let mut book = IdleBook::new(3, 3);
        book.admit(ip("10.0.0.1"), "a1");
        book.admit(ip("10.0.0.2"), "b1");
        book.admit(ip("10.0.0.3"), "c1");
        let d = book.admit(ip("10.0.0.4"), "d1");
        assert_eq!(handles(&d.shed), ["a1"]);
        assert_eq!(book.from_source(ip("10.0.0.1")), 0);
        assert_eq!(book.sources(), 3);
        assert_eq!(book.total(), 3);
    }

    #[test]
    fn both_caps_full_give_up_two_entries_once_then_one() {
        let mut book = IdleBook::new(3, 2);
        book.admit(ip("10.0.0.2"), "b1");
        book.admit(ip("10.0.0.1"), "a1");
        book.admit(ip("10.0.0.1"), "a2");
        // Source full (a1 goes) — then three left, none over the total.
        let a3 = book.admit(ip("10.0.0.1"), "a3");
        assert_eq!(handles(&a3.shed), ["a1"]);
        assert_eq!(book.total(), 3);
        let c1 = book.admit(ip("10.0.0.3"), "c1");
        assert_eq!(handles(&c1.shed), ["b1"]);
        assert_eq!(book.total(), 3);
    }

    #[test]
    fn removed_entries_are_not_given_up_and_free_their_place() {
        let mut book = IdleBook::new(2, 2);
        let a1 = book.admit(ip("10.0.0.1"), "a1").id;
        book.admit(ip("10.0.0.1"), "a2");
        assert!(book.remove(a1));
        assert!(!book.remove(a1));
        assert!(book.admit(ip("10.0.0.1"), "a3").shed.is_empty());
        let a4 = book.admit(ip("10.0.0.1"), "a4");
        assert_eq!(handles(&a4.shed), ["a2"]);
    }

    #[test]
    fn an_entry_given_up_is_gone_for_remove_too() {
        let mut book = IdleBook::new(1, 1);
        let a1 = book.admit(ip("10.0.0.1"), "a1").id;
        assert_eq!(handles(&book.admit(ip("10.0.0.1"), "a2").shed), ["a1"]);
        assert!(!book.remove(a1));
        assert_eq!(book.total(), 1);
    }

    #[test]
    fn the_refusing_admission_refuses_over_either_cap() {
        let mut book = IdleBook::new(3, 2);
        let a1 = book.try_admit(ip("127.0.0.1"), ()).unwrap();
        book.try_admit(ip("127.0.0.1"), ()).unwrap();
        assert_eq!(
            book.try_admit(ip("127.0.0.1"), ()).unwrap_err(),
            Refused::PerSource {
                from: ip("127.0.0.1"),
                count: 2
            }
        );
        book.try_admit(ip("127.0.0.2"), ()).unwrap();
        assert_eq!(
            book.try_admit(ip("127.0.0.3"), ()).unwrap_err(),
            Refused::Total(3)
        );
        book.remove(a1);
        assert!(book.try_admit(ip("127.0.0.1"), ()).is_ok());
    }

    #[test]
    fn a_source_with_no_entry_left_is_forgotten() {
        let mut book = IdleBook::new(10, 10);
        let id = book.admit(ip("127.0.0.9"), ()).id;
        book.remove(id);
        assert_eq!(book.total(), 0);
        assert_eq!(book.sources(), 0);
    }
}
