//! TR-143 diagnostics as a loop service: tests the ACS requested start when its session ends, run as non-blocking engines, and end in `8 DIAGNOSTICS COMPLETE`.
//!
//! The state ([`state::Board`]) is shared with the data model provider
//! (`datamodel::diagnostics`), which applies the ACS's writes; the service
//! starts what is `Requested` at the end of a session, drops an engine whose
//! test was cancelled (its generation changed), writes the outcome and asks
//! for the event. The board is persisted in `<state_dir>/diagnostics` after
//! every change, so results survive restarts and a test a restart
//! interrupted ends in `Error_Internal` instead of being lost.

pub mod nslookup;
pub mod ping;
pub mod resolve;
pub mod serverselect;
pub mod state;
pub mod throughput;
pub mod trace;
pub mod udpecho;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use log::{error, info, warn};
use mio::event::Event as Readiness;
use mio::{Registry, Token};

use crate::cwmp::events::{Event, EventCode};
use crate::fsutil;
use crate::service::{Context, Request, Service, Tokens};
use crate::vecmap::VecMap;
use state::{Board, Kind, Outcome, Test};

/// Tokens each engine may use within the service's range.
const TOKENS_PER_ENGINE: usize = 64;
/// The state file's name in the state directory.
pub const STATE_FILE: &str = "diagnostics";

/// A diagnostic running in the loop.
pub trait Engine {
    /// When the engine next needs [`Engine::drive`] without a socket event.
    fn poll_at(&self) -> Option<Instant>;
    /// Reads its sockets, checks its timers, sends what is due.
    fn drive(&mut self, registry: &Registry, now: Instant);
    /// The outcome, once finished.
    fn outcome(&mut self) -> Option<Outcome>;
    /// Deregisters its sockets (when finished or cancelled).
    fn close(&mut self, registry: &Registry);
}

/// A numeric input, or `default` when unset, zero or not a number.
pub fn number(test: &Test, name: &str, default: u32) -> u32 {
    match test.input(name).parse::<u32>() {
        Ok(0) | Err(_) => default,
        Ok(n) => n,
    }
}

/// The local address the kernel would send from to reach `to` (no packet is sent).
pub fn source_address(to: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if to.is_ipv6() {
        "[::]:0".parse().ok()?
    } else {
        "0.0.0.0:0".parse().ok()?
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(SocketAddr::new(to, 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// The board and the file it is kept in.
pub struct Shared {
    pub board: Board,
    path: PathBuf,
}

/// The state shared by the service and the data model provider.
pub type SharedBoard = Rc<RefCell<Shared>>;

impl Shared {
    /// Reads `<state_dir>/diagnostics` (a corrupt file is set aside and
    /// reported); tests a restart interrupted are marked failed. Returns the
    /// board and whether any test was interrupted.
    pub fn open(state_dir: &Path) -> (SharedBoard, bool) {
        let path = state_dir.join(STATE_FILE);
        let mut board = match std::fs::read(&path) {
            Ok(bytes) => match Board::from_bytes(&bytes) {
                Ok(board) => board,
                Err(e) => {
                    error!(
                        "{}: {e}; set aside, diagnostics start empty",
                        path.display()
                    );
                    if let Err(e) = fsutil::set_aside(&path) {
                        error!("cannot set {} aside: {e}", path.display());
                    }
                    Board::default()
                }
            },
            Err(_) => Board::default(),
        };
        let interrupted = board.fail_interrupted();
        let shared = Shared { board, path };
        if interrupted {
            warn!("a diagnostic was interrupted by a restart: reported as Error_Internal");
            shared.save();
        }
        (Rc::new(RefCell::new(shared)), interrupted)
    }

    /// Writes the board atomically; a failure is logged (the test still runs).
    pub fn save(&self) {
        if let Err(e) = fsutil::atomic_write(&self.path, &self.board.to_bytes()) {
            error!("cannot persist diagnostics to {}: {e}", self.path.display());
        }
    }
}

struct Running {
    generation: u64,
    engine: Box<dyn Engine>,
}

/// The diagnostics service of the daemon's loop.
pub struct Diagnostics {
    tokens: Tokens,
    shared: SharedBoard,
    running: VecMap<Kind, Running>,
    /// A restart interrupted a test: announce its failure once.
    announce: bool,
}

impl Diagnostics {
    pub fn new(tokens: Tokens, shared: SharedBoard, interrupted: bool) -> Diagnostics {
        Diagnostics {
            tokens,
            shared,
            running: VecMap::new(),
            announce: interrupted,
        }
    }

    fn token_of(&self, kind: Kind, slot: usize) -> Token {
        let index = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.tokens.token(index * TOKENS_PER_ENGINE + slot)
    }

    /// Drops engines whose test was cancelled or re-requested.
    fn drop_cancelled(&mut self, registry: &Registry) {
        let shared = self.shared.borrow();
        self.running.retain(|kind, running| {
            let current = shared.board.is_current(*kind, running.generation);
            if !current {
                info!("{} cancelled", kind.log_name());
                running.engine.close(registry);
            }
            current
        });
    }

    /// Collects finished engines' outcomes into the board.
    fn collect(&mut self, cx: &mut Context) {
        let mut finished = Vec::new();
        for (kind, running) in self.running.iter_mut() {
            if let Some(outcome) = running.engine.outcome() {
                running.engine.close(cx.registry);
                finished.push((*kind, running.generation, outcome));
            }
        }
        for (kind, generation, outcome) in finished {
            self.running.remove(&kind);
            let state = outcome.state;
            let mut shared = self.shared.borrow_mut();
            if shared.board.finish(kind, generation, outcome) {
                shared.save();
                info!("{} finished: {state}", kind.log_name());
                cx.request(Request::Event(Event::new(EventCode::DiagnosticsComplete)));
                cx.request(Request::CheckValueChanges);
            }
        }
    }

    fn start(&mut self, cx: &mut Context, kind: Kind, generation: u64) {
        let Some(test) = self.shared.borrow().board.test(kind).cloned() else {
            return;
        };
        let device = interface_name(cx, test.input("Interface"));
        let token = self.token_of(kind, 0);
        let mut engine: Box<dyn Engine> = match kind {
            Kind::IpPing => Box::new(ping::Ping::start(
                ping::PingSettings::from_test(&test, device),
                token,
                cx.now,
            )),
            Kind::TraceRoute => Box::new(trace::Trace::start(
                trace::TraceSettings::from_test(&test, device),
                token,
                cx.now,
            )),
            Kind::NsLookup => {
                let system = std::fs::read_to_string(nslookup::RESOLV_CONF)
                    .ok()
                    .and_then(|text| nslookup::first_nameserver(&text));
                Box::new(nslookup::NsLookup::start(
                    nslookup::LookupSettings::from_test(&test, device),
                    system,
                    token,
                    cx.now,
                ))
            }
            Kind::UdpEcho => Box::new(udpecho::UdpEcho::start(
                udpecho::EchoSettings::from_test(&test, device),
                token,
                cx.now,
                WallClock::new(cx.now, crate::clock::unix_micros()),
            )),
            Kind::ServerSelection => Box::new(serverselect::ServerSelection::start(
                serverselect::SelectionSettings::from_test(&test, device),
                token,
                cx.now,
                WallClock::new(cx.now, crate::clock::unix_micros()),
            )),
            Kind::Download | Kind::Upload => {
                let direction = if kind == Kind::Download {
                    throughput::Direction::Download
                } else {
                    throughput::Direction::Upload
                };
                Box::new(throughput::Throughput::start(
                    throughput::ThroughputSettings::from_test(direction, &test, device),
                    token,
                    cx.now,
                    WallClock::new(cx.now, crate::clock::unix_micros()),
                ))
            }
        };
        engine.drive(cx.registry, cx.now);
        self.running.insert(kind, Running { generation, engine });
    }
}

/// The Linux name of the `Device.IP.Interface.{i}` an `Interface` input names (empty, another object or unknown: none).
fn interface_name(cx: &mut Context, reference: &str) -> Option<String> {
    let reference = reference.trim().trim_end_matches('.');
    // Only TR-181 IP interfaces carry the Linux name; other references leave routing to decide.
    if !reference.starts_with("Device.IP.Interface.") {
        return None;
    }
    let name = format!("{reference}.Name");
    let values = cx.dm.get_values(&[name.as_str()]).ok()?;
    let value = values.into_iter().next()?.value;
    (!value.is_empty()).then_some(value)
}

impl Service for Diagnostics {
    fn name(&self) -> &'static str {
        "diagnostics"
    }

    fn configure(&mut self, cx: &mut Context) {
        if std::mem::take(&mut self.announce) {
            cx.request(Request::Event(Event::new(EventCode::DiagnosticsComplete)));
        }
    }

    fn ready(&mut self, cx: &mut Context, event: &Readiness) {
        self.drop_cancelled(cx.registry);
        let Some(index) = self.tokens.index_of(event.token()) else {
            return;
        };
        let kind = Kind::ALL.get(index / TOKENS_PER_ENGINE).copied();
        if let Some(running) = kind.and_then(|k| self.running.get_mut(&k)) {
            running.engine.drive(cx.registry, cx.now);
        }
        self.collect(cx);
    }

    fn poll_at(&self) -> Option<Instant> {
        self.running
            .values()
            .filter_map(|r| r.engine.poll_at())
            .min()
    }

    fn run_due(&mut self, cx: &mut Context) {
        self.drop_cancelled(cx.registry);
        for running in self.running.values_mut() {
            if running.engine.poll_at().is_some_and(|t| t <= cx.now) {
                running.engine.drive(cx.registry, cx.now);
            }
        }
        self.collect(cx);
    }

    fn session_ended(&mut self, cx: &mut Context) {
        self.drop_cancelled(cx.registry);
        let requested = self.shared.borrow().board.requested();
        for (kind, generation) in requested {
            if self
                .running
                .get(&kind)
                .is_some_and(|r| r.generation == generation)
            {
                continue;
            }
            info!("Executing {}: end session request", kind.log_name());
            self.start(cx, kind, generation);
        }
        self.collect(cx);
    }
}

/// Wall-clock time of monotonic instants, from one reading of both clocks
/// taken when a test starts (the TR-143 timestamps stay ordered even if the
/// wall clock is stepped meanwhile).
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    base: Instant,
    base_micros: i64,
}

impl WallClock {
    pub fn new(base: Instant, base_micros: i64) -> WallClock {
        WallClock { base, base_micros }
    }

    /// Unix microseconds at `t`.
    pub fn micros_at(&self, t: Instant) -> i64 {
        let after = t.saturating_duration_since(self.base).as_micros() as i64;
        let before = self.base.saturating_duration_since(t).as_micros() as i64;
        self.base_micros + after - before
    }
}

/// `YYYY-MM-DDThh:mm:ss.uuuuuuZ`: a TR-143 timestamp of unix microseconds.
pub fn format_micros(unix_micros: i64) -> String {
    let seconds = unix_micros.div_euclid(1_000_000);
    let fraction = unix_micros.rem_euclid(1_000_000);
    let whole = crate::cwmp::datetime::format_utc(seconds);
    match whole.strip_suffix('Z') {
        Some(stem) => format!("{stem}.{fraction:06}Z"),
        None => whole,
    }
}
