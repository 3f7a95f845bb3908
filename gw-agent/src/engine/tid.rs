//! T-ID allocation. A GW numbers its requests in `gmmp_codec::GW_TIDS` (the
//! OMP's control T-IDs live above that range). This engine splits its range
//! in two:
//!
//! - a delivery's T-ID is its spool sequence number modulo
//!   [`DELIVERY_TIDS`] ([`delivery_tid`]), so every send of one delivery,
//!   in any session or process, carries the same T-ID — with its
//!   `spooled_at` as `origin_timestamp`, the key of a keyed delivery
//!   (`gmmp_codec::KEYED_DELIVERY`);
//! - every other request (registrations, profile, heartbeat) takes the next
//!   free T-ID of [`DELIVERY_TIDS`]..[`TID_LIMIT`] from a [`TidAllocator`].
//!
//! Two deliveries share a T-ID only 90 000 sequence numbers apart, far more
//! than are ever in flight at once (`delivery.max_in_flight` is at most
//! 1 000), and the OMP's key also holds the second they were spooled.

/// The first T-ID that is not a GW's (the OMP allocates from here).
pub const TID_LIMIT: u32 = gmmp_codec::GW_TIDS.end;
/// Deliveries use T-IDs 0..DELIVERY_TIDS; other requests the rest.
pub const DELIVERY_TIDS: u32 = 90_000;

/// The T-ID of the delivery with spool sequence number `seq`.
pub fn delivery_tid(seq: u64) -> u32 {
    (seq % u64::from(DELIVERY_TIDS)) as u32
}

/// Hands out T-IDs 90 000, 90 001, … 99 999, 90 000, … skipping any still
/// in use.
#[derive(Debug, Clone)]
pub struct TidAllocator {
    next: u32,
}

impl Default for TidAllocator {
    fn default() -> Self {
        TidAllocator {
            next: DELIVERY_TIDS,
        }
    }
}

impl TidAllocator {
    /// An allocator whose first T-ID is `first`, brought into its range.
    pub fn starting_at(first: u32) -> Self {
        TidAllocator {
            next: DELIVERY_TIDS + first % (TID_LIMIT - DELIVERY_TIDS),
        }
    }

    fn step(&mut self) -> u32 {
        let tid = self.next;
        self.next = if tid + 1 >= TID_LIMIT {
            DELIVERY_TIDS
        } else {
            tid + 1
        };
        tid
    }

    /// The next T-ID for which `in_use` is false. With fewer than 10 000
    /// requests outstanding (the engine keeps a handful) one always exists;
    /// after a full lap the plain next value is returned.
    pub fn allocate(&mut self, in_use: impl Fn(u32) -> bool) -> u32 {
        for _ in DELIVERY_TIDS..TID_LIMIT {
            let tid = self.step();
            if !in_use(tid) {
                return tid;
            }
        }
        self.step()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_tids_wrap_within_their_range() {
        let mut t = TidAllocator::starting_at(99_998);
        assert_eq!(t.allocate(|_| false), 99_998);
        assert_eq!(t.allocate(|_| false), 99_999);
        assert_eq!(t.allocate(|_| false), 90_000);
        assert_eq!(t.allocate(|_| false), 90_001);
        assert_eq!(TidAllocator::default().allocate(|_| false), 90_000);
        assert_eq!(TidAllocator::starting_at(5).allocate(|_| false), 90_005);
    }

    #[test]
    fn tids_in_use_are_skipped() {
        let mut t = TidAllocator::starting_at(90_005);
        assert_eq!(t.allocate(|tid| tid == 90_005 || tid == 90_006), 90_007);
    }

    #[test]
    fn delivery_tids_follow_the_sequence_and_stay_below_the_request_range() {
        assert_eq!(delivery_tid(0), 0);
        assert_eq!(delivery_tid(89_999), 89_999);
        assert_eq!(delivery_tid(90_000), 0);
        assert_eq!(delivery_tid(u64::MAX), (u64::MAX % 90_000) as u32);
    }
}
