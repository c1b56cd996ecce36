//! TWAMP-light reflectors (RFC 5357 Appendix I, TR-390): one UDP socket per enabled `Device.IP.Interface.{i}.TWAMPReflector.{i}`, answered from the loop and between slices of long work.
//!
//! Each test packet from an allowed source (IPAllowedList, PortAllowedList)
//! that arrived within MaximumTTL hops is answered at once with the
//! reflector layout of RFC 5357 4.2.1: the receive time is the kernel's
//! (SO_TIMESTAMPNS), the error estimate says whether the clock is
//! synchronised (adjtimex), and each sender (address and port) gets its own
//! reflector sequence numbers, counted from 0.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{error, info};
use mio::event::Event as Readiness;
use mio::net::UdpSocket;
use mio::{Interest, Registry};

use super::probe_socket::{self, Read, MAX_DATAGRAM};
use crate::clock;
use crate::config::backends::{stamp_of, FileStamp, UciDir};
use crate::datamodel::reflectors::{
    twamp_settings, RunState, SharedReflectorState, TwampSettings, TWAMP_PACKAGE,
};
use crate::service::{Context, Service, Tokens};
use crate::slices::{SharedUrgent, Urgent};
use crate::sys;
use crate::vecmap::VecMap;
use crate::wire::allowed_list::AllowedSources;
use crate::wire::twamp::{self, NtpTimestamp, Reflection};

/// Datagrams one socket answers per turn; the rest waits for the next turn (soon).
const PER_TURN: usize = 64;
/// Senders whose sequence numbers are remembered; past that the record starts over.
const MAX_SENDERS: usize = 1024;
/// How soon a reflector that could not start is tried again.
const RETRY: Duration = Duration::from_secs(30);

struct Reflector {
    settings: TwampSettings,
    bound: SocketAddr,
    socket: UdpSocket,
    allowed: AllowedSources,
    /// Next reflector sequence number per sender.
    sequences: VecMap<SocketAddr, u32>,
}

/// The sockets and buffers, shared with the urgent handler.
struct Core {
    /// Slot `n` uses token `n` of the service's range.
    slots: Vec<Option<Reflector>>,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// A socket stopped at `PER_TURN` with datagrams left.
    backlog: bool,
}

impl Core {
    fn serve_slot(&mut self, index: usize) {
        let Some(Some(reflector)) = self.slots.get_mut(index) else {
            return;
        };
        for _ in 0..PER_TURN {
            match probe_socket::read(&reflector.socket, &mut self.buf) {
                Read::Empty => return,
                Read::Dropped => continue,
                Read::Datagram(d) => {
                    let Some(bytes) = self.buf.get(..d.len) else {
                        continue;
                    };
                    reflect(reflector, &d, bytes, &mut self.out);
                }
            }
        }
        self.backlog = true;
    }

    fn serve_all(&mut self) {
        self.backlog = false;
        for index in 0..self.slots.len() {
            self.serve_slot(index);
        }
    }
}

impl Urgent for Core {
    fn serve_now(&mut self) {
        self.serve_all();
    }
}

/// Answers one datagram if the reflector's rules let it through.
fn reflect(reflector: &mut Reflector, d: &sys::Datagram, bytes: &[u8], out: &mut Vec<u8>) {
    if !reflector.allowed.allows(d.from.ip(), d.from.port())
        || !twamp::ttl_allowed(d.ttl, reflector.settings.maximum_ttl)
    {
        return;
    }
    let Ok(packet) = twamp::parse_test_packet(bytes) else {
        return;
    };
    if reflector.sequences.len() >= MAX_SENDERS && !reflector.sequences.contains_key(&d.from) {
        reflector.sequences.clear();
    }
    let next = reflector.sequences.get_or_insert_with(d.from, || 0);
    let sequence = *next;
    *next = next.wrapping_add(1);
    let (rs, rn) = d.received.unwrap_or_else(clock::unix_now_precise);
    let clock_state = sys::clock_state();
    let error_estimate = twamp::error_estimate(
        clock_state.is_some_and(|c| c.synchronized),
        clock_state.map_or(u64::from(u32::MAX), |c| c.error_us),
    );
    let (ts, tn) = clock::unix_now_precise();
    let reflection = Reflection {
        sequence,
        transmit: NtpTimestamp::from_unix(ts, tn),
        error_estimate,
        receive: NtpTimestamp::from_unix(rs, rn),
        sender_ttl: d.ttl.unwrap_or(255),
    };
    twamp::emit_reflector_packet(&packet, &reflection, out);
    // A full socket buffer loses this answer, as the network could; the sender counts it lost.
    let _ = reflector.socket.send_to(out, d.from);
}

/// The TWAMP reflector service.
pub struct TwampReflectors {
    tokens: Tokens,
    state: SharedReflectorState,
    core: Rc<RefCell<Core>>,
    retry_at: Option<Instant>,
    /// The `twamp` package as last read, and the stamp of its file then.
    read: Option<(FileStamp, Vec<TwampSettings>)>,
}

impl TwampReflectors {
    pub fn new(tokens: Tokens, state: SharedReflectorState) -> TwampReflectors {
        TwampReflectors {
            tokens,
            state,
            core: Rc::new(RefCell::new(Core {
                slots: Vec::new(),
                buf: vec![0; MAX_DATAGRAM + 1],
                out: Vec::with_capacity(MAX_DATAGRAM),
                backlog: false,
            })),
            retry_at: None,
            read: None,
        }
    }

    /// The reflectors the `twamp` package asks for (read again only when its file changed).
    fn wanted(&mut self, uci_dir: &std::path::Path) -> Vec<TwampSettings> {
        let stamp = stamp_of(&uci_dir.join(TWAMP_PACKAGE));
        if let (Some(stamp), Some((seen, settings))) = (stamp, &self.read) {
            if stamp == *seen {
                return settings.clone();
            }
        }
        let settings = twamp_settings(&UciDir::new(uci_dir));
        self.read = stamp.map(|s| (s, settings.clone()));
        settings
    }

    /// Starts one reflector in a free slot.
    fn start(
        &self,
        core: &mut Core,
        registry: &Registry,
        settings: TwampSettings,
        address: SocketAddr,
    ) -> Result<(), String> {
        let allowed = settings.allowed.clone()?;
        let index = match core.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if core.slots.len() < self.tokens.len() => {
                core.slots.push(None);
                core.slots.len() - 1
            }
            None => return Err("too many reflectors".to_owned()),
        };
        let mut socket =
            probe_socket::bind(address).map_err(|e| format!("cannot listen on {address}: {e}"))?;
        registry
            .register(&mut socket, self.tokens.token(index), Interest::READABLE)
            .map_err(|e| format!("cannot poll {address}: {e}"))?;
        info!(
            "TWAMP reflector {} listening on {address}",
            settings.section
        );
        if let Some(slot) = core.slots.get_mut(index) {
            *slot = Some(Reflector {
                settings,
                bound: address,
                socket,
                allowed,
                sequences: VecMap::new(),
            });
        }
        // Packets that came before registration raise no event: read them now.
        core.serve_slot(index);
        Ok(())
    }
}

impl Service for TwampReflectors {
    fn name(&self) -> &'static str {
        "twamp"
    }

    fn configure(&mut self, cx: &mut Context) {
        let wanted = self.wanted(cx.uci_dir);
        let mut core = self.core.borrow_mut();
        let mut states = VecMap::new();
        // Stop what changed or went away.
        for slot in core.slots.iter_mut() {
            let keep = slot.as_ref().is_some_and(|r| {
                wanted.iter().any(|w| {
                    *w == r.settings
                        && probe_socket::interface_address(&w.interface)
                            .is_ok_and(|a| a == r.bound.ip())
                })
            });
            if !keep {
                if let Some(mut reflector) = slot.take() {
                    let _ = cx.registry.deregister(&mut reflector.socket);
                    info!("TWAMP reflector {} stopped", reflector.settings.section);
                }
            }
        }
        for settings in wanted.into_iter().filter(|s| s.enable) {
            let running = core
                .slots
                .iter()
                .flatten()
                .any(|r| r.settings.section == settings.section);
            let section = settings.section.clone();
            let result = if running {
                Ok(())
            } else {
                probe_socket::interface_address(&settings.interface).and_then(|ip| {
                    let address = SocketAddr::new(ip, settings.port);
                    self.start(&mut core, cx.registry, settings, address)
                })
            };
            let state = match result {
                Ok(()) => RunState::Active,
                Err(e) => {
                    error!("TWAMP reflector {section}: {e}");
                    RunState::Error(e)
                }
            };
            states.insert(section, state);
        }
        let failed = states.values().any(|s| *s != RunState::Active);
        self.retry_at = failed.then(|| cx.now + RETRY);
        self.state.borrow_mut().twamp = states;
    }

    fn ready(&mut self, _cx: &mut Context, event: &Readiness) {
        if let Some(index) = self.tokens.index_of(event.token()) {
            self.core.borrow_mut().serve_slot(index);
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        let backlog = self.core.try_borrow().is_ok_and(|c| c.backlog);
        if backlog {
            return Some(clock::now());
        }
        self.retry_at
    }

    fn run_due(&mut self, cx: &mut Context) {
        if self.core.borrow().backlog {
            self.core.borrow_mut().serve_all();
        }
        if self.retry_at.is_some_and(|t| t <= cx.now) {
            self.configure(cx);
        }
    }

    fn session_ended(&mut self, cx: &mut Context) {
        self.configure(cx);
    }

    fn urgent(&self) -> Option<SharedUrgent> {
        Some(self.core.clone())
    }
}
