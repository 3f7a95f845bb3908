//! Who numbers which T-IDs (docs/gmmp.md §2): a GW numbers its own
//! requests in [`GW_TIDS`]; the OMP numbers the requests it starts
//! (controls) in [`OMP_TIDS`], outside the GW's range, so a control's
//! answers can be told from the GW's own traffic.
//!
//! The ranges say who *gives* a T-ID, not what a frame may carry: a real
//! module's next requests after a control can carry T-IDs of the OMP's
//! range (docs/gmmp.md §7), so a received T-ID is never refused by range.

use std::ops::{Range, RangeInclusive};

/// The first T-ID the OMP gives; every lower one is a GW's.
pub const FIRST_OMP_TID: u32 = 100_000;

/// The T-IDs a GW gives its own requests: 0..=99 999.
pub const GW_TIDS: Range<u32> = 0..FIRST_OMP_TID;

/// The T-IDs the OMP gives the requests it starts: 100 000 and up.
pub const OMP_TIDS: RangeInclusive<u32> = FIRST_OMP_TID..=u32::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_ranges_meet_without_overlap_and_cover_every_tid() {
        assert_eq!(GW_TIDS.end, *OMP_TIDS.start());
        assert_eq!(GW_TIDS.start, u32::MIN);
        assert_eq!(*OMP_TIDS.end(), u32::MAX);
        assert!(GW_TIDS.contains(&99_999) && !GW_TIDS.contains(&100_000));
    }
}
