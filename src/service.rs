//! The one interface through which every service joins the daemon's poll loop.
//!
//! A service (HTTP connection requests, STUN, XMPP, TWAMP, UDP echo,
//! diagnostics, BulkData) is a state machine that owns its sockets and
//! timers. The loop gives each service a range of mio tokens, calls it on
//! readiness of those tokens and when its deadline (`poll_at`) has come, hands
//! it the new configuration after every reload, and tells it when a CWMP
//! session ended. A service never reaches into the daemon: what it needs from
//! it (a session, an event, a value-change check) it asks for through
//! [`Context::request`], and the daemon acts on the requests after the call.
//!
//! Values a service publishes in the data model (a status, counters, a mapped
//! address) go through a provider that shares the service's state
//! (`Rc<RefCell<…>>`), registered when the data model is built; the service
//! then asks for [`Request::CheckValueChanges`] so notifications see them.

use std::path::Path;
use std::time::Instant;

use mio::event::Event as Readiness;
use mio::{Registry, Token};

use crate::config::Config;
use crate::cwmp::events::Event;
use crate::datamodel::engine::DataModel;
use crate::slices::SharedUrgent;

/// Tokens below this belong to the daemon's own sockets (signals, ACS, ubus, transfers).
const FIRST_SERVICE_TOKEN: usize = 1 << 16;
/// How many tokens each service may use.
const TOKENS_PER_SERVICE: usize = 1 << 12;

/// The tokens of one service: `token(0) .. token(TOKENS_PER_SERVICE - 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tokens {
    base: usize,
}

impl Tokens {
    /// The range of the service at `index` in the daemon's list.
    pub fn of_service(index: usize) -> Tokens {
        Tokens {
            base: FIRST_SERVICE_TOKEN + index * TOKENS_PER_SERVICE,
        }
    }

    /// The `n`th token of the range; `n` must be below [`Tokens::len`].
    pub fn token(self, n: usize) -> Token {
        Token(self.base + n.min(TOKENS_PER_SERVICE - 1))
    }

    /// How many tokens the range holds.
    pub fn len(self) -> usize {
        TOKENS_PER_SERVICE
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The position of `token` in this range, if it belongs to it.
    pub fn index_of(self, token: Token) -> Option<usize> {
        let n = token.0.checked_sub(self.base)?;
        (n < TOKENS_PER_SERVICE).then_some(n)
    }

    /// Which service a token belongs to, if any.
    pub fn service_of(token: Token) -> Option<usize> {
        let n = token.0.checked_sub(FIRST_SERVICE_TOKEN)?;
        Some(n / TOKENS_PER_SERVICE)
    }
}

/// What a service asks the daemon for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Queue this event (persisted); the agent starts a session as its rules say.
    Event(Event),
    /// An authenticated connection request (HTTP, UDP or XMPP) from `source`:
    /// a `6 CONNECTION REQUEST` session, under the daemon's limit on honoured
    /// requests (`cwmp::conn_request_limit`). A service that answers the
    /// requester (HTTP 200/503) shares that limit (`Rc<RefCell<ConnRequestLimit>>`,
    /// given when the daemon builds it) and asks `would_honour` before answering.
    ConnectionRequest { source: String },
    /// A value the service publishes changed: check the notified parameters now.
    CheckValueChanges,
}

/// What a service may use during one call, and where its requests go.
pub struct Context<'a> {
    pub registry: &'a Registry,
    /// Monotonic time of this loop turn.
    pub now: Instant,
    /// Wall-clock unix seconds of this loop turn.
    pub unix: i64,
    /// The running configuration (`/etc/config/cwmp`).
    pub config: &'a Config,
    /// Where the UCI packages live (`/etc/config`, or the `--config` directory).
    pub uci_dir: &'a Path,
    pub dm: &'a mut DataModel,
    requests: &'a mut Vec<Request>,
}

impl<'a> Context<'a> {
    /// A context whose requests are collected into `requests`.
    pub fn new(
        registry: &'a Registry,
        now: Instant,
        unix: i64,
        config: &'a Config,
        uci_dir: &'a Path,
        dm: &'a mut DataModel,
        requests: &'a mut Vec<Request>,
    ) -> Context<'a> {
        Context {
            registry,
            now,
            unix,
            config,
            uci_dir,
            dm,
            requests,
        }
    }

    /// Asks the daemon for something; it is done once the current call returns.
    pub fn request(&mut self, request: Request) {
        self.requests.push(request);
    }
}

/// A component of the poll loop. See the module documentation.
pub trait Service {
    /// A short name for log lines (`stun`, `twamp`, …).
    fn name(&self) -> &'static str;

    /// Applies the configuration in `cx.config` (and the service's own UCI
    /// package under `cx.uci_dir`): called once at start and after every
    /// reload. Binds, rebinds or closes sockets as the settings require; a
    /// failure is logged and shown in the service's status, never fatal.
    fn configure(&mut self, cx: &mut Context);

    /// One of the service's tokens is ready.
    fn ready(&mut self, cx: &mut Context, event: &Readiness);

    /// The service's earliest deadline; `None` when it waits only for sockets.
    fn poll_at(&self) -> Option<Instant>;

    /// `poll_at` has come (the loop may call it a little late, never early).
    fn run_due(&mut self, cx: &mut Context);

    /// A CWMP session has just ended (changes the ACS made are committed).
    fn session_ended(&mut self, _cx: &mut Context) {}

    /// The handler that serves this service's latency-critical sockets
    /// between slices of long work (`slices`), for services whose answers
    /// must not wait (the reflectors); asked once, when the loop starts.
    fn urgent(&self) -> Option<SharedUrgent> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ranges_do_not_overlap() {
        let first = Tokens::of_service(0);
        let second = Tokens::of_service(1);
        let last_of_first = first.token(first.len() - 1);
        assert_eq!(first.index_of(last_of_first), Some(first.len() - 1));
        assert_eq!(second.index_of(last_of_first), None);
        assert_eq!(Tokens::service_of(last_of_first), Some(0));
        assert_eq!(Tokens::service_of(second.token(0)), Some(1));
        assert_eq!(Tokens::service_of(Token(3)), None);
    }

    #[test]
    fn token_numbers_past_the_range_stay_in_it() {
        let tokens = Tokens::of_service(2);
        assert_eq!(
            tokens.index_of(tokens.token(usize::MAX)),
            Some(tokens.len() - 1)
        );
    }
}
