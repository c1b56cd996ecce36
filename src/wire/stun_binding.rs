//! TR-111 binding maintenance as a pure state machine: when to send Binding Requests (RFC 5389 7.2.1 retransmission, keep-alive, binding-timeout discovery) and what each response means.
//!
//! Time comes in as an argument and the machine says when it next needs to
//! run ([`Binding::poll_at`]). One transaction is outstanding at a time: a
//! request is sent at once and retransmitted after 0.5 s, 1 s, 2 s … (seven
//! sends in all), and the transaction fails 8 s after the last one (39.5 s in
//! all). A success schedules the next request one keep-alive period later.
//!
//! Keep-alive period: `STUNMinimumKeepAlivePeriod` when no maximum is set
//! (`STUNMaximumKeepAlivePeriod` -1, or not above the minimum). With a larger
//! maximum the period is discovered (TR-111 Part 2 6.1): it starts at the
//! maximum, and each time a keep-alive finds the mapping changed — the NAT
//! dropped the binding while the CPE was quiet — it is halved, never below
//! the minimum. A changed mapping is announced at once with a request carrying
//! BINDING-CHANGE (not limited by the minimum period, as TR-181 says),
//! repeated until one is answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::stun::{self, BindingRequest, BindingResponse, Integrity, ResponseBody};

/// RFC 5389's initial retransmission timeout.
pub const INITIAL_RTO: Duration = Duration::from_millis(500);
/// Requests sent per transaction (Rc).
pub const MAX_SENDS: u32 = 7;
/// The wait after the last send, in RTOs (Rm).
pub const LAST_WAIT_RTOS: u32 = 16;
/// The shortest keep-alive period used, whatever the configuration says.
pub const SHORTEST_PERIOD: Duration = Duration::from_secs(1);

/// What the binding needs from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingSettings {
    /// STUNUsername and STUNPassword; MESSAGE-INTEGRITY is used when set.
    pub credentials: Option<(String, String)>,
    pub min_keepalive: Duration,
    /// `None`: no maximum (-1).
    pub max_keepalive: Option<Duration>,
}

impl BindingSettings {
    fn min(&self) -> Duration {
        self.min_keepalive.max(SHORTEST_PERIOD)
    }

    /// The period discovery starts from.
    fn initial_period(&self) -> Duration {
        match self.max_keepalive {
            Some(max) if max > self.min() => max,
            _ => self.min(),
        }
    }
}

#[derive(Clone, Debug)]
enum Phase {
    Idle {
        next_at: Instant,
    },
    Waiting {
        transaction: [u8; 12],
        request: Vec<u8>,
        sends: u32,
        rto: Duration,
        /// Retransmit (or give up) at this time.
        next_at: Instant,
        binding_change: bool,
    },
}

/// What the loop must do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes to the STUN server.
    Send(Vec<u8>),
    /// The transaction got no answer; the next one starts at `retry_at`.
    TimedOut { retry_at: Instant },
}

/// What a datagram from the server meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not an answer to the outstanding request: dropped.
    Ignored(String),
    /// The binding is (still) `mapped`; `changed` when it differs from the previous one.
    Mapped { mapped: SocketAddr, changed: bool },
    /// The server refused the request (e.g. 401); the next one follows a period later.
    Refused { code: u16, reason: String },
}

/// The binding of the UDP connection-request socket at the STUN server.
#[derive(Clone, Debug)]
pub struct Binding {
    settings: BindingSettings,
    phase: Phase,
    mapped: Option<SocketAddr>,
    period: Duration,
    change_pending: bool,
}

impl Binding {
    /// A binding whose first request goes out at `now`.
    pub fn new(settings: BindingSettings, now: Instant) -> Binding {
        let period = settings.initial_period();
        Binding {
            settings,
            phase: Phase::Idle { next_at: now },
            mapped: None,
            period,
            change_pending: false,
        }
    }

    /// When [`Binding::poll`] must next be called.
    pub fn poll_at(&self) -> Instant {
        match &self.phase {
            Phase::Idle { next_at } | Phase::Waiting { next_at, .. } => *next_at,
        }
    }

    /// The current mapped address, once a response gave one.
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// The keep-alive period in use.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Sends, retransmits or gives up as the time says. `fresh_transaction`
    /// (random) is used when a new transaction starts.
    pub fn poll(&mut self, now: Instant, fresh_transaction: [u8; 12]) -> Option<Step> {
        if now < self.poll_at() {
            return None;
        }
        match &mut self.phase {
            Phase::Idle { .. } => {
                let binding_change = self.change_pending;
                let request = BindingRequest {
                    transaction: fresh_transaction,
                    connection_request_binding: true,
                    binding_change,
                    credentials: self
                        .settings
                        .credentials
                        .as_ref()
                        .map(|(u, p)| (u.as_str(), p.as_str())),
                }
                .emit();
                self.phase = Phase::Waiting {
                    transaction: fresh_transaction,
                    request: request.clone(),
                    sends: 1,
                    rto: INITIAL_RTO,
                    next_at: now + INITIAL_RTO,
                    binding_change,
                };
                Some(Step::Send(request))
            }
            Phase::Waiting {
                request,
                sends,
                rto,
                next_at,
                ..
            } => {
                if *sends >= MAX_SENDS {
                    let retry_at = now + self.settings.min();
                    self.phase = Phase::Idle { next_at: retry_at };
                    return Some(Step::TimedOut { retry_at });
                }
                *sends += 1;
                *rto *= 2;
                *next_at = now
                    + if *sends == MAX_SENDS {
                        INITIAL_RTO * LAST_WAIT_RTOS
                    } else {
                        *rto
                    };
                Some(Step::Send(request.clone()))
            }
        }
    }

    /// A datagram from the STUN server.
    pub fn on_response(&mut self, datagram: &[u8], now: Instant) -> Outcome {
        let Phase::Waiting {
            transaction,
            binding_change,
            ..
        } = &self.phase
        else {
            return Outcome::Ignored("no request outstanding".into());
        };
        let (transaction, binding_change) = (*transaction, *binding_change);
        let key = self
            .settings
            .credentials
            .as_ref()
            .map(|(_, password)| password.as_bytes());
        let response: BindingResponse = match stun::parse_response(datagram, key) {
            Ok(response) => response,
            Err(e) => return Outcome::Ignored(e.to_string()),
        };
        if response.id != stun::echoed_id(&transaction) {
            return Outcome::Ignored("response to another transaction".into());
        }
        if response.integrity == Integrity::Invalid {
            return Outcome::Ignored("MESSAGE-INTEGRITY does not match STUNPassword".into());
        }
        match response.body {
            ResponseBody::Error { code, reason } => {
                self.phase = Phase::Idle {
                    next_at: now + self.period,
                };
                Outcome::Refused { code, reason }
            }
            ResponseBody::Success { mapped } => {
                let changed = self.mapped.is_some_and(|old| old != mapped);
                self.mapped = Some(mapped);
                let next_at = if changed {
                    if !binding_change {
                        // The binding timed out during the quiet period: shorten it.
                        self.period = (self.period / 2).max(self.settings.min());
                    }
                    self.change_pending = true;
                    now
                } else {
                    if binding_change {
                        self.change_pending = false;
                    }
                    now + self.period
                };
                self.phase = Phase::Idle { next_at };
                Outcome::Mapped { mapped, changed }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min: u64, max: Option<u64>) -> BindingSettings {
        BindingSettings {
            credentials: None,
            min_keepalive: Duration::from_secs(min),
            max_keepalive: max.map(Duration::from_secs),
        }
    }

    /// A success response to `request` mapping to `mapped` (RFC 3489 style, MAPPED-ADDRESS).
    fn answer(request: &[u8], mapped: SocketAddr) -> Vec<u8> {
        let SocketAddr::V4(v4) = mapped else {
            panic!("IPv4 only here")
        };
        let mut out = vec![0x01, 0x01, 0x00, 0x0C];
        out.extend_from_slice(&request[4..20]);
        out.extend_from_slice(&[0x00, 0x01, 0x00, 0x08, 0x00, 0x01]);
        out.extend_from_slice(&v4.port().to_be_bytes());
        out.extend_from_slice(&v4.ip().octets());
        out
    }

    fn sent(step: Option<Step>) -> Vec<u8> {
        match step {
            Some(Step::Send(bytes)) => bytes,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn has_binding_change(request: &[u8]) -> bool {
        request.windows(4).any(|w| w == [0xC0, 0x02, 0x00, 0x00])
    }

    #[test]
    fn retransmits_with_back_off_then_gives_up() {
        let start = Instant::now();
        let mut binding = Binding::new(settings(30, None), start);
        let first = sent(binding.poll(start, [1; 12]));
        assert!(first.windows(20).any(|w| w == b"dslforum.org/TR-111 "));
        let mut at = start;
        let mut waits = Vec::new();
        loop {
            let next = binding.poll_at();
            waits.push((next - at).as_millis());
            at = next;
            assert_eq!(binding.poll(at - Duration::from_millis(1), [2; 12]), None);
            match binding.poll(at, [2; 12]) {
                Some(Step::Send(again)) => assert_eq!(again, first, "same transaction"),
                Some(Step::TimedOut { retry_at }) => {
                    assert_eq!(retry_at, at + Duration::from_secs(30));
                    break;
                }
                None => panic!("nothing due at the deadline"),
            }
        }
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 8000]);
        assert_eq!(at - start, Duration::from_millis(39_500));
        // The next transaction is a new one.
        let retry = sent(binding.poll(binding.poll_at(), [3; 12]));
        assert_ne!(retry[8..20], first[8..20]);
    }

    #[test]
    fn keeps_alive_at_the_minimum_when_no_maximum_is_set() {
        let start = Instant::now();
        let mapped: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let mut binding = Binding::new(settings(30, None), start);
        let request = sent(binding.poll(start, [1; 12]));
        let outcome = binding.on_response(&answer(&request, mapped), start);
        assert_eq!(
            outcome,
            Outcome::Mapped {
                mapped,
                changed: false
            }
        );
        assert_eq!(binding.mapped(), Some(mapped));
        assert_eq!(binding.poll_at(), start + Duration::from_secs(30));
        // A repeated answer to a finished transaction is ignored.
        assert!(matches!(
            binding.on_response(&answer(&request, mapped), start),
            Outcome::Ignored(_)
        ));
    }

    #[test]
    fn a_changed_mapping_is_announced_with_binding_change_and_shortens_the_period() {
        let start = Instant::now();
        let first: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let second: SocketAddr = "198.51.100.7:40001".parse().unwrap();
        let mut binding = Binding::new(settings(30, Some(240)), start);
        assert_eq!(binding.period(), Duration::from_secs(240));
        let request = sent(binding.poll(start, [1; 12]));
        assert!(!has_binding_change(&request));
        binding.on_response(&answer(&request, first), start);
        let at = binding.poll_at();
        assert_eq!(at, start + Duration::from_secs(240));

        let request = sent(binding.poll(at, [2; 12]));
        assert_eq!(
            binding.on_response(&answer(&request, second), at),
            Outcome::Mapped {
                mapped: second,
                changed: true
            }
        );
        assert_eq!(binding.period(), Duration::from_secs(120));
        assert_eq!(binding.poll_at(), at, "BINDING-CHANGE goes out at once");
        let announce = sent(binding.poll(at, [3; 12]));
        assert!(has_binding_change(&announce));
        binding.on_response(&answer(&announce, second), at);
        assert_eq!(binding.poll_at(), at + Duration::from_secs(120));
        let next = sent(binding.poll(binding.poll_at(), [4; 12]));
        assert!(!has_binding_change(&next));

        // Halving stops at the minimum.
        for _ in 0..5 {
            let at = binding.poll_at();
            let flip = if binding.mapped() == Some(first) {
                second
            } else {
                first
            };
            let request = sent(binding.poll(at, [5; 12]));
            binding.on_response(&answer(&request, flip), at);
            let announce = sent(binding.poll(at, [6; 12]));
            binding.on_response(&answer(&announce, flip), at);
        }
        assert_eq!(binding.period(), Duration::from_secs(30));
    }

    #[test]
    fn ignores_other_transactions_and_bad_integrity_and_waits_after_errors() {
        let start = Instant::now();
        let mut binding = Binding::new(
            BindingSettings {
                credentials: Some(("cpe".into(), "pw".into())),
                ..settings(60, None)
            },
            start,
        );
        let request = sent(binding.poll(start, [1; 12]));
        let mut other = request.clone();
        other[10] ^= 1;
        let mapped: SocketAddr = "192.0.2.1:1".parse().unwrap();
        assert!(matches!(
            binding.on_response(&answer(&other, mapped), start),
            Outcome::Ignored(_)
        ));
        assert!(matches!(
            binding.on_response(b"garbage", start),
            Outcome::Ignored(_)
        ));
        // A response signed with another password.
        let mut signed = answer(&request, mapped);
        signed[3] = 0x0C + 24;
        signed.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
        signed.extend_from_slice(&[0u8; 20]);
        assert!(matches!(
            binding.on_response(&signed, start),
            Outcome::Ignored(_)
        ));
        let mut error = vec![0x01, 0x11, 0x00, 0x08];
        error.extend_from_slice(&request[4..20]);
        error.extend_from_slice(&[0x00, 0x09, 0x00, 0x04, 0, 0, 4, 1]);
        assert_eq!(
            binding.on_response(&error, start),
            Outcome::Refused {
                code: 401,
                reason: String::new()
            }
        );
        assert_eq!(binding.poll_at(), start + Duration::from_secs(60));
    }
}
