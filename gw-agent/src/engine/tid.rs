//! T-ID allocation: a GW numbers its requests 0..=99 999 and wraps
//! (GMMP.md §2); the OMP's control T-IDs live above that range.

/// The first T-ID that is not a GW's (the OMP allocates from here).
pub const TID_LIMIT: u32 = 100_000;

/// Hands out T-IDs 0, 1, … 99 999, 0, … skipping any still in use.
#[derive(Debug, Clone, Default)]
pub struct TidAllocator {
    next: u32,
}

impl TidAllocator {
    /// An allocator whose first T-ID is `first` (taken modulo 100 000).
    pub fn starting_at(first: u32) -> Self {
        TidAllocator {
            next: first % TID_LIMIT,
        }
    }

    /// The next T-ID for which `in_use` is false. With fewer than 100 000
    /// requests outstanding (the engine keeps a handful) one always exists;
    /// after a full lap the plain next value is returned.
    pub fn allocate(&mut self, in_use: impl Fn(u32) -> bool) -> u32 {
        for _ in 0..TID_LIMIT {
            let tid = self.next;
            self.next = (self.next + 1) % TID_LIMIT;
            if !in_use(tid) {
                return tid;
            }
        }
        let tid = self.next;
        self.next = (self.next + 1) % TID_LIMIT;
        tid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tids_wrap_at_100000() {
        let mut t = TidAllocator::starting_at(99_998);
        assert_eq!(t.allocate(|_| false), 99_998);
        assert_eq!(t.allocate(|_| false), 99_999);
        assert_eq!(t.allocate(|_| false), 0);
        assert_eq!(t.allocate(|_| false), 1);
    }

    #[test]
    fn tids_in_use_are_skipped() {
        let mut t = TidAllocator::starting_at(5);
        assert_eq!(t.allocate(|tid| tid == 5 || tid == 6), 7);
    }
}
