//! When BulkData reports are due: reporting intervals aligned to TimeReference, and the retry back-off of TR-069 Annex N.2.2.1.

use crate::cwmp::retry::RetryPolicy;

/// The end of the reporting interval that contains `now` (the next report),
/// in unix seconds. With a TimeReference (`Some`), intervals complete at the
/// reference plus or minus a multiple of `interval`; without one, they are
/// counted from `started` (when the profile was enabled or changed).
pub fn next_report(now: i64, interval: u32, time_reference: Option<i64>, started: i64) -> i64 {
    let interval = i64::from(interval.max(1));
    let phase = time_reference.unwrap_or(started);
    let since = now.saturating_sub(phase);
    let periods = since.div_euclid(interval) + 1;
    phase.saturating_add(periods.saturating_mul(interval))
}

/// The wait before retry number `retry` (1 = first) of a failed report:
/// the first is random in `m ..= m·k/1000`, each later one grows by `k/1000`
/// (the same pattern as the CWMP session retries).
pub fn retry_wait(min_wait: u32, multiplier: u32, retry: u32, random: u32) -> u64 {
    RetryPolicy {
        min_wait_secs: min_wait,
        interval_multiplier: multiplier,
    }
    .wait_secs(retry, random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_to_the_time_reference() {
        // Midnight reference, daily: the next report is the next midnight.
        let midnight = 1_700_006_400; // 2023-11-15T00:00:00Z
        let now = midnight + 3 * 86_400 + 5_000;
        assert_eq!(
            next_report(now, 86_400, Some(midnight), 0),
            midnight + 4 * 86_400
        );
        // A reference in the future sets only the phase.
        assert_eq!(
            next_report(now, 86_400, Some(midnight + 100 * 86_400), 0),
            midnight + 4 * 86_400
        );
        // Exactly on a boundary: that report is being made, the next is one interval on.
        assert_eq!(next_report(midnight, 60, Some(midnight), 0), midnight + 60);
    }

    #[test]
    fn counts_from_the_start_without_a_reference() {
        assert_eq!(next_report(1000, 300, None, 1000), 1300);
        assert_eq!(next_report(1299, 300, None, 1000), 1300);
        assert_eq!(next_report(1300, 300, None, 1000), 1600);
        assert_eq!(next_report(5, 0, None, 0), 6, "interval 0 is read as 1");
    }

    #[test]
    fn retry_waits_grow_within_their_ranges() {
        assert_eq!(retry_wait(5, 2000, 1, 0), 5);
        assert_eq!(retry_wait(5, 2000, 1, u32::MAX), 10);
        assert_eq!(retry_wait(5, 2000, 2, 0), 10);
        assert_eq!(retry_wait(5, 2000, 3, u32::MAX), 40);
        assert_eq!(retry_wait(1, 1000, 7, u32::MAX), 1);
    }
}
