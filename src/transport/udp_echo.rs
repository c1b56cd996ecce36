//! The UDP echo server of TR-143 (`UDPEchoConfig.`): RFC 862 echo and UDP Echo Plus, answered from the loop and between slices of long work.
//!
//! Only datagrams from SourceIPAddress (any source when it is empty) count
//! and are answered. With EchoPlusEnabled, a payload long enough for the
//! UDPEchoPlus header gets TestRespSN, the receive time (the kernel's,
//! SO_TIMESTAMPNS), the reply time and the count of answers that could not
//! be sent; shorter ones are echoed unchanged. Counters are kept from the
//! moment the server is enabled; byte counts include the 8-byte UDP header.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{error, info};
use mio::event::Event as Readiness;
use mio::net::UdpSocket;
use mio::Interest;

use super::probe_socket::{self, Read, MAX_DATAGRAM};
use crate::clock;
use crate::config::backends::UciDir;
use crate::datamodel::reflectors::{
    echo_settings, EchoCounters, EchoSettings, SharedReflectorState,
};
use crate::service::{Context, Service, Tokens};
use crate::slices::{SharedUrgent, Urgent};
use crate::wire::udp_echo::{self, EchoPlusHeader};

/// Datagrams answered per turn; the rest waits for the next turn (soon).
const PER_TURN: usize = 64;
/// How soon a server that could not start is tried again.
const RETRY: Duration = Duration::from_secs(30);
const UDP_HEADER: u32 = 8;

struct Running {
    settings: EchoSettings,
    bound: SocketAddr,
    socket: UdpSocket,
}

struct Core {
    running: Option<Running>,
    counters: EchoCounters,
    /// TestRespSN of the last Echo Plus answer.
    resp_sn: u32,
    /// Answers that could not be sent (TestRespReplyFailureCount).
    failures: u32,
    buf: Vec<u8>,
    state: SharedReflectorState,
    backlog: bool,
}

impl Core {
    fn serve(&mut self) {
        self.backlog = false;
        let Some(running) = self.running.as_ref() else {
            return;
        };
        let mut served = 0;
        loop {
            if served == PER_TURN {
                self.backlog = true;
                break;
            }
            served += 1;
            let d = match probe_socket::read(&running.socket, &mut self.buf) {
                Read::Empty => break,
                Read::Dropped => continue,
                Read::Datagram(d) => d,
            };
            if running.settings.source.is_some_and(|s| s != d.from.ip()) {
                continue;
            }
            let received = d.received.unwrap_or_else(clock::unix_now_precise);
            let wire_len = u32::try_from(d.len)
                .unwrap_or(u32::MAX)
                .saturating_add(UDP_HEADER);
            let c = &mut self.counters;
            c.packets_received = c.packets_received.wrapping_add(1);
            c.bytes_received = c.bytes_received.wrapping_add(wire_len);
            c.first_received.get_or_insert(received);
            c.last_received = Some(received);
            let Some(payload) = self.buf.get_mut(..d.len) else {
                continue;
            };
            if running.settings.echo_plus {
                if let Some(request) = udp_echo::parse_echo_plus(payload) {
                    self.resp_sn = self.resp_sn.wrapping_add(1);
                    let (ns, nn) = clock::unix_now_precise();
                    let header = EchoPlusHeader {
                        test_gen_sn: request.test_gen_sn,
                        test_resp_sn: self.resp_sn,
                        test_resp_recv_time_stamp: udp_echo::micros32(received.0, received.1),
                        test_resp_reply_time_stamp: udp_echo::micros32(ns, nn),
                        test_resp_reply_failure_count: self.failures,
                    };
                    udp_echo::write_echo_plus(&header, payload);
                }
            }
            match running.socket.send_to(payload, d.from) {
                Ok(_) => {
                    let c = &mut self.counters;
                    c.packets_responded = c.packets_responded.wrapping_add(1);
                    c.bytes_responded = c.bytes_responded.wrapping_add(wire_len);
                }
                Err(_) => self.failures = self.failures.wrapping_add(1),
            }
        }
        self.publish();
    }

    /// Hands the counters to the data model (later if it is reading them right now).
    fn publish(&self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            state.echo = self.counters;
        }
    }
}

impl Urgent for Core {
    fn serve_now(&mut self) {
        self.serve();
    }
}

/// The UDP echo service.
pub struct UdpEchoServer {
    tokens: Tokens,
    core: Rc<RefCell<Core>>,
    retry_at: Option<Instant>,
}

impl UdpEchoServer {
    pub fn new(tokens: Tokens, state: SharedReflectorState) -> UdpEchoServer {
        UdpEchoServer {
            tokens,
            core: Rc::new(RefCell::new(Core {
                running: None,
                counters: EchoCounters::default(),
                resp_sn: 0,
                failures: 0,
                buf: vec![0; MAX_DATAGRAM + 1],
                state,
                backlog: false,
            })),
            retry_at: None,
        }
    }
}

impl Service for UdpEchoServer {
    fn name(&self) -> &'static str {
        "udpecho"
    }

    fn configure(&mut self, cx: &mut Context) {
        let wanted = echo_settings(&UciDir::new(cx.uci_dir));
        let address = probe_socket::interface_address(&wanted.interface)
            .map(|ip| SocketAddr::new(ip, wanted.port));
        let mut core = self.core.borrow_mut();
        let unchanged = core.running.as_ref().is_some_and(|r| {
            wanted.enable && r.settings == wanted && address.as_ref().is_ok_and(|a| *a == r.bound)
        });
        self.retry_at = None;
        if unchanged {
            return;
        }
        let was_running = core.running.is_some();
        if let Some(mut running) = core.running.take() {
            let _ = cx.registry.deregister(&mut running.socket);
            info!("UDP echo server on {} stopped", running.bound);
        }
        if !wanted.enable {
            return;
        }
        if !was_running {
            // TR-143: enabling clears the statistics and Echo Plus counters.
            core.counters = EchoCounters::default();
            core.resp_sn = 0;
            core.failures = 0;
            core.publish();
        }
        let started = address.and_then(|address| {
            let mut socket = probe_socket::bind(address)
                .map_err(|e| format!("cannot listen on {address}: {e}"))?;
            cx.registry
                .register(&mut socket, self.tokens.token(0), Interest::READABLE)
                .map_err(|e| format!("cannot poll {address}: {e}"))?;
            Ok(Running {
                settings: wanted,
                bound: address,
                socket,
            })
        });
        match started {
            Ok(running) => {
                info!("UDP echo server listening on {}", running.bound);
                core.running = Some(running);
                core.serve();
            }
            Err(e) => {
                error!("UDP echo server: {e}");
                self.retry_at = Some(cx.now + RETRY);
            }
        }
    }

    fn ready(&mut self, _cx: &mut Context, _event: &Readiness) {
        self.core.borrow_mut().serve();
    }

    fn poll_at(&self) -> Option<Instant> {
        if self.core.try_borrow().is_ok_and(|c| c.backlog) {
            return Some(clock::now());
        }
        self.retry_at
    }

    fn run_due(&mut self, cx: &mut Context) {
        if self.core.borrow().backlog {
            self.core.borrow_mut().serve();
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
