//! Session retry back-off of TR-069 3.2.1.1: how long to wait before retrying a failed session.
//!
//! No randomness and no clock inside: the caller passes a random `u32` (from
//! /dev/urandom or a seeded generator) and adds the returned wait to its own
//! notion of now.

/// Default `CWMPRetryMinimumWaitInterval` in seconds (TR-069 3.2.1.1, TR-181 ManagementServer).
pub const DEFAULT_MIN_WAIT_SECS: u32 = 5;

/// Default `CWMPRetryIntervalMultiplier`, in thousandths (2000 = ×2.000).
pub const DEFAULT_INTERVAL_MULTIPLIER: u32 = 2000;

/// From this retry on the wait range stops growing (TR-069 Table 3: "10 and subsequent").
const LAST_GROWING_RETRY: u32 = 10;

/// The two ManagementServer parameters that shape the back-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `CWMPRetryMinimumWaitInterval`, seconds (TR-181 range 1..=65535; 0 is read as 1).
    pub min_wait_secs: u32,
    /// `CWMPRetryIntervalMultiplier`, thousandths (TR-181 range 1000..=65535;
    /// smaller values are read as 1000 so the wait never shrinks).
    pub interval_multiplier: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            min_wait_secs: DEFAULT_MIN_WAIT_SECS,
            interval_multiplier: DEFAULT_INTERVAL_MULTIPLIER,
        }
    }
}

impl RetryPolicy {
    /// The wait range in seconds for the `retry`-th retry (1 = the first retry
    /// after the first failure), TR-069 3.2.1.1:
    /// `m·(k/1000)^(n-1) ..= m·(k/1000)^n`, with n capped at 10. With the
    /// defaults this gives Table 3: 5–10, 10–20, ..., 2560–5120 s.
    /// Retry 0 (no failure yet) is treated as retry 1. Fractions of a second
    /// are dropped at each step; huge parameters saturate instead of overflowing.
    pub fn wait_range(&self, retry: u32) -> (u64, u64) {
        let n = retry.clamp(1, LAST_GROWING_RETRY);
        let multiplier = u64::from(self.interval_multiplier.max(1000));
        // Milliseconds keep non-integer multipliers (e.g. 1500) accurate enough.
        let mut low_ms = u64::from(self.min_wait_secs.max(1)) * 1000;
        for _ in 1..n {
            low_ms = low_ms.saturating_mul(multiplier) / 1000;
        }
        let high_ms = low_ms.saturating_mul(multiplier) / 1000;
        (low_ms / 1000, high_ms / 1000)
    }

    /// A wait in seconds for the `retry`-th retry, picked uniformly within
    /// [`wait_range`](Self::wait_range) by `random` (the whole u32 range maps
    /// onto the interval, so the low bits' quality matters less than with `%`).
    pub fn wait_secs(&self, retry: u32, random: u32) -> u64 {
        let (low, high) = self.wait_range(retry);
        let span = u128::from(high - low) + 1;
        let offset = (span * u128::from(random)) >> 32;
        low + offset as u64
    }
}

/// The session retry counter: it feeds the Inform `RetryCount` argument and
/// picks the back-off after each failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionRetry {
    failures: u32,
}

impl SessionRetry {
    /// The Inform `RetryCount`: how many attempts of this session failed before
    /// (TR-069 A.3.3.1; 0 on a first attempt).
    pub fn retry_count(&self) -> u32 {
        self.failures
    }

    /// Records a failed session and returns the seconds to wait before the next
    /// attempt (TR-069 3.2.1.1).
    pub fn on_failure(&mut self, policy: &RetryPolicy, random: u32) -> u64 {
        self.failures = self.failures.saturating_add(1);
        policy.wait_secs(self.failures, random)
    }

    /// A session completed successfully: the next session is a first attempt again.
    pub fn on_success(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TR-069 Table 3 with the default parameters (m = 5, k = 2000).
    const TABLE_3: [(u32, u64, u64); 11] = [
        (1, 5, 10),
        (2, 10, 20),
        (3, 20, 40),
        (4, 40, 80),
        (5, 80, 160),
        (6, 160, 320),
        (7, 320, 640),
        (8, 640, 1280),
        (9, 1280, 2560),
        (10, 2560, 5120),
        (11, 2560, 5120),
    ];

    #[test]
    fn default_policy_matches_table_3() {
        let policy = RetryPolicy::default();
        for (retry, low, high) in TABLE_3 {
            assert_eq!(policy.wait_range(retry), (low, high), "retry {retry}");
        }
        assert_eq!(policy.wait_range(u32::MAX), (2560, 5120));
        assert_eq!(policy.wait_range(0), (5, 10));
    }

    #[test]
    fn random_spans_the_whole_range() {
        let policy = RetryPolicy::default();
        for (retry, low, high) in TABLE_3 {
            assert_eq!(policy.wait_secs(retry, 0), low);
            assert_eq!(policy.wait_secs(retry, u32::MAX), high);
            let middle = policy.wait_secs(retry, u32::MAX / 2);
            assert!(low < middle && middle < high, "retry {retry}: {middle}");
        }
    }

    #[test]
    fn other_parameters_follow_the_formula() {
        let policy = RetryPolicy {
            min_wait_secs: 10,
            interval_multiplier: 1500,
        };
        assert_eq!(policy.wait_range(1), (10, 15));
        assert_eq!(policy.wait_range(2), (15, 22));
        assert_eq!(policy.wait_range(3), (22, 33));
        let flat = RetryPolicy {
            min_wait_secs: 30,
            interval_multiplier: 1000,
        };
        assert_eq!(flat.wait_range(7), (30, 30));
        assert_eq!(flat.wait_secs(7, 12345), 30);
    }

    #[test]
    fn out_of_range_parameters_neither_panic_nor_shrink() {
        let zero = RetryPolicy {
            min_wait_secs: 0,
            interval_multiplier: 0,
        };
        assert_eq!(zero.wait_range(5), (1, 1));
        let huge = RetryPolicy {
            min_wait_secs: u32::MAX,
            interval_multiplier: u32::MAX,
        };
        let (low, high) = huge.wait_range(10);
        assert!(low <= high);
        assert_eq!(huge.wait_secs(10, u32::MAX), high);
    }

    #[test]
    fn session_retry_counts_failures_and_resets() {
        let policy = RetryPolicy::default();
        let mut retry = SessionRetry::default();
        assert_eq!(retry.retry_count(), 0);
        assert_eq!(retry.on_failure(&policy, 0), 5);
        assert_eq!(retry.retry_count(), 1);
        assert_eq!(retry.on_failure(&policy, 0), 10);
        assert_eq!(retry.on_failure(&policy, u32::MAX), 40);
        assert_eq!(retry.retry_count(), 3);
        retry.on_success();
        assert_eq!(retry.retry_count(), 0);
        assert_eq!(retry.on_failure(&policy, u32::MAX), 10);
    }
}
