//! The only place the daemon reads the clock; pure code takes time as an argument.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic time, for deadlines.
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock unix seconds, for what is persisted or sent to the ACS.
pub fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Wall-clock time as unix seconds and nanoseconds, for timestamps sent in packets.
pub fn unix_now_precise() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => (0, 0),
    }
}

/// Wall-clock unix microseconds, for the TR-143 timestamps of diagnostics.
pub fn unix_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}
