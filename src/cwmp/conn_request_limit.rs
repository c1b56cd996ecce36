//! The limit on honoured connection requests (TR-069 3.2.2), shared by every source (HTTP, UDP, XMPP).
//!
//! An authenticated connection request is never refused because another one
//! was honoured recently: one that arrives while a connection-request session
//! is already due is folded into it (answered 200 at no cost), and one that
//! arrives during a session makes the next session (TR-069: it follows right
//! after). What is bounded is the number of *sessions* requests can cause: a
//! token bucket holds [`BURST`] sessions (more than an ACS's back-to-back task
//! sequence, as GenieACS runs them) and gains one every [`REFILL`]; when it is
//! empty a request is refused (503 for HTTP). Pure: time comes in as `now`.

use std::time::{Duration, Instant};

/// Sessions connection requests may cause back to back.
pub const BURST: u32 = 24;
/// One more session is allowed per this interval once the burst is spent.
pub const REFILL: Duration = Duration::from_secs(5);

/// What becomes of one authenticated connection request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Honoured: a `6 CONNECTION REQUEST` session is now due.
    NewSession,
    /// Honoured: a connection-request session is already due and carries it.
    Folded,
    /// Refused: the bucket is empty (HTTP answers 503).
    Refused,
}

/// A token bucket: `burst` tokens, one more every `refill` up to `burst`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    burst: u32,
    refill: Duration,
    tokens: u32,
    /// When the bucket last gained a token; `None` while it is full.
    refilled_at: Option<Instant>,
}

impl TokenBucket {
    pub fn new(burst: u32, refill: Duration) -> TokenBucket {
        let burst = burst.max(1);
        TokenBucket {
            burst,
            refill: refill.max(Duration::from_millis(1)),
            tokens: burst,
            refilled_at: None,
        }
    }

    /// Tokens at `now`, and when the last of them was gained (`None`: full).
    fn at(&self, now: Instant) -> (u32, Option<Instant>) {
        let Some(since) = self.refilled_at else {
            return (self.tokens, None);
        };
        let elapsed = now.saturating_duration_since(since);
        let gained = elapsed.as_nanos() / self.refill.as_nanos().max(1);
        let tokens = u128::from(self.tokens).saturating_add(gained);
        if tokens >= u128::from(self.burst) {
            return (self.burst, None);
        }
        let gained = u32::try_from(gained).unwrap_or(u32::MAX);
        let advanced = since + self.refill.saturating_mul(gained);
        (u32::try_from(tokens).unwrap_or(self.burst), Some(advanced))
    }

    /// Tokens available at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        self.at(now).0
    }

    /// Whether the bucket is full at `now` (it then holds no information worth keeping).
    pub fn is_full(&self, now: Instant) -> bool {
        self.at(now).1.is_none()
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let (tokens, refilled_at) = self.at(now);
        if tokens == 0 {
            return false;
        }
        // A full bucket starts counting its refill from the first token taken.
        self.refilled_at = Some(refilled_at.unwrap_or(now));
        self.tokens = tokens - 1;
        true
    }
}

/// The token bucket of sessions and whether a connection-request session is due.
#[derive(Clone, Debug)]
pub struct ConnRequestLimit {
    sessions: TokenBucket,
    /// A request was honoured and its session has not started yet.
    session_due: bool,
}

impl Default for ConnRequestLimit {
    fn default() -> Self {
        ConnRequestLimit::new(BURST, REFILL)
    }
}

impl ConnRequestLimit {
    pub fn new(burst: u32, refill: Duration) -> ConnRequestLimit {
        ConnRequestLimit {
            sessions: TokenBucket::new(burst, refill),
            session_due: false,
        }
    }

    /// Whether a request arriving at `now` would be honoured (for an answer given before
    /// the request reaches [`ConnRequestLimit::admit`]).
    pub fn would_honour(&self, now: Instant) -> bool {
        self.session_due || self.sessions.available(now) > 0
    }

    /// Decides on one authenticated request arriving at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        if self.session_due {
            return Admission::Folded;
        }
        if !self.sessions.take(now) {
            return Admission::Refused;
        }
        self.session_due = true;
        Admission::NewSession
    }

    /// A session has started: it carries every request honoured so far.
    pub fn session_started(&mut self) {
        self.session_due = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_while_a_session_is_due_are_folded_for_free() {
        let now = Instant::now();
        let mut limit = ConnRequestLimit::new(2, Duration::from_secs(5));
        assert_eq!(limit.admit(now), Admission::NewSession);
        for _ in 0..100 {
            assert!(limit.would_honour(now));
            assert_eq!(limit.admit(now), Admission::Folded);
        }
        limit.session_started();
        // During that session: one more session after it.
        assert_eq!(limit.admit(now), Admission::NewSession);
        assert_eq!(limit.admit(now), Admission::Folded);
    }

    #[test]
    fn back_to_back_task_sequence_is_all_honoured() {
        // GenieACS: each task's request comes right after the previous session ended.
        let start = Instant::now();
        let mut limit = ConnRequestLimit::default();
        for task in 0..BURST {
            let at = start + Duration::from_millis(u64::from(task) * 300);
            assert_eq!(limit.admit(at), Admission::NewSession, "task {task}");
            limit.session_started();
        }
    }

    #[test]
    fn the_sessions_a_flood_can_cause_are_bounded() {
        let start = Instant::now();
        let mut limit = ConnRequestLimit::new(3, Duration::from_secs(5));
        let mut sessions = 0;
        // One authenticated request every 10 ms for 60 s, a session starting after each.
        for ms in (0..60_000u64).step_by(10) {
            if limit.admit(start + Duration::from_millis(ms)) == Admission::NewSession {
                sessions += 1;
                limit.session_started();
            }
        }
        // The burst, then one per 5 s.
        assert_eq!(sessions, 3 + 11);
        assert!(!limit.would_honour(start + Duration::from_millis(59_995)));
        assert!(limit.would_honour(start + Duration::from_secs(70)));
    }

    #[test]
    fn an_idle_bucket_fills_up_to_the_burst_only() {
        let start = Instant::now();
        let mut limit = ConnRequestLimit::new(2, Duration::from_secs(5));
        for _ in 0..2 {
            assert_eq!(limit.admit(start), Admission::NewSession);
            limit.session_started();
        }
        assert_eq!(limit.admit(start), Admission::Refused);
        let later = start + Duration::from_secs(3600);
        for _ in 0..2 {
            assert_eq!(limit.admit(later), Admission::NewSession);
            limit.session_started();
        }
        assert_eq!(limit.admit(later), Admission::Refused);
    }
}
