//! The STUN service of the loop (TR-111 Part 2): one UDP socket that keeps a NAT binding at the STUN server and receives UDP connection requests (TR-069 Annex G).
//!
//! While `stun.enable` is set the service binds `stun.client_port` (IPv4),
//! resolves the STUN server (`stun.server_address`, else the ACS URL's host)
//! the way the ACS client does (a literal at once, a name on a short-lived
//! worker thread), and drives the pure [`Binding`] machine from that socket.
//! The mapped address is published as `UDPConnectionRequestAddress`, with
//! `NATDetected` set when it is not this host's address and port, through the
//! shared [`CwmpStore`] the ManagementServer provider reads; a change asks the
//! daemon for a value-change check (both parameters notify actively).
//!
//! Datagrams that are not STUN are UDP connection requests: checked by
//! [`UdpRequestGuard`] against `cpe.userid`/`cpe.passwd` and, when authentic and
//! fresh, passed on as a connection request; the rest are logged and dropped.
//! What was accepted is kept in `state_dir/udp_conn_requests`, so a replay is
//! refused after a restart too. UDP connection requests are never answered.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::UdpSocket;
use mio::Interest;

use super::http_client::{resolve, NameLookup, LOOKUP_POLL};
use super::random16;
use crate::config::backends::CwmpStore;
use crate::config::StunConfig;
use crate::fsutil::{atomic_write, set_aside};
use crate::service::{Context, Request, Service, Tokens};
use crate::store::names;
use crate::sys;
use crate::wire::http::Url;
use crate::wire::stun;
use crate::wire::stun_binding::{Binding, BindingSettings, Outcome, Step};
use crate::wire::udp_conn_request::{UdpRequestError, UdpRequestGuard, MAX_DATAGRAM};

/// The STUN port when `stun.server_port` is 0.
const DEFAULT_STUN_PORT: u16 = 3478;
/// How long a name lookup of the STUN server may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait before looking the server up again after a failed lookup.
const LOOKUP_RETRY: Duration = Duration::from_secs(60);
/// Datagrams read in one call before yielding back to the loop.
const READ_BUDGET: usize = 64;

/// Where the STUN server is.
enum Server {
    /// STUN is off, or no server is known (no address and no ACS URL).
    Unknown,
    Resolving {
        lookup: NameLookup,
        host: String,
        next_check: Instant,
        deadline: Instant,
    },
    /// Look the name up again at this time.
    RetryAt(Instant),
    Known(SocketAddr),
}

/// The settings the service was configured with, to tell when they change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Applied {
    stun: StunConfig,
    /// The ACS URL's host, the server when `server_address` is empty.
    acs_host: String,
}

impl Applied {
    fn server(&self) -> (String, u16) {
        let host = if self.stun.server_address.is_empty() {
            self.acs_host.clone()
        } else {
            self.stun.server_address.clone()
        };
        let port = match self.stun.server_port {
            0 => DEFAULT_STUN_PORT,
            port => port,
        };
        (host, port)
    }

    fn binding_settings(&self) -> BindingSettings {
        let stun = &self.stun;
        BindingSettings {
            credentials: (!stun.username.is_empty())
                .then(|| (stun.username.clone(), stun.password.as_str().to_owned())),
            min_keepalive: Duration::from_secs(u64::from(stun.min_keepalive)),
            max_keepalive: u64::try_from(stun.max_keepalive)
                .ok()
                .map(Duration::from_secs),
        }
    }
}

/// The host of the ACS URL (brackets of an IPv6 literal removed).
fn host_of(url: &str) -> String {
    Url::parse(url).map(|url| url.host).unwrap_or_default()
}

/// Whether `mapped` is this host's own address and `port` (no NAT in between).
fn is_own_address(mapped: SocketAddr, port: u16) -> bool {
    mapped.port() == port
        && match mapped.ip() {
            IpAddr::V4(ip) => {
                ip.is_loopback() || sys::ipv4_addresses().iter().any(|a| a.address == ip)
            }
            IpAddr::V6(_) => false,
        }
}

/// A fresh 96-bit transaction id (RFC 5389 wants it random).
fn transaction_id(fallback: &mut u64) -> [u8; 12] {
    let mut id = [0u8; 12];
    match random16() {
        Some(bytes) => id.copy_from_slice(&bytes[..12]),
        None => {
            // No OS randomness (never seen on Linux): ids still differ per transaction.
            *fallback = fallback.wrapping_add(1);
            id[..8].copy_from_slice(&fallback.to_be_bytes());
        }
    }
    id
}

/// The STUN client and UDP connection-request receiver; see the module documentation.
pub struct StunService {
    tokens: Tokens,
    cwmp_store: Rc<RefCell<CwmpStore>>,
    applied: Option<Applied>,
    socket: Option<UdpSocket>,
    local_port: u16,
    server: Server,
    binding: Option<Binding>,
    guard: UdpRequestGuard,
    /// Where the guard is kept (`state_dir/udp_conn_requests`), once loaded.
    guard_file: Option<PathBuf>,
    /// `cpe.userid` and `cpe.passwd`: what a UDP connection request must be signed for.
    credentials: (String, String),
    /// What is published: the mapped address and NATDetected.
    published: (Option<SocketAddr>, bool),
    /// The read budget ran out with datagrams left: run again at once.
    read_more_at: Option<Instant>,
    id_fallback: u64,
    buffer: Vec<u8>,
}

impl StunService {
    pub fn new(tokens: Tokens, cwmp_store: Rc<RefCell<CwmpStore>>) -> StunService {
        StunService {
            tokens,
            cwmp_store,
            applied: None,
            socket: None,
            local_port: 0,
            server: Server::Unknown,
            binding: None,
            guard: UdpRequestGuard::default(),
            guard_file: None,
            credentials: (String::new(), String::new()),
            published: (None, false),
            read_more_at: None,
            id_fallback: 0,
            buffer: vec![0; MAX_DATAGRAM + 1],
        }
    }

    fn close(&mut self, cx: &mut Context) {
        if let Some(mut socket) = self.socket.take() {
            let _ = cx.registry.deregister(&mut socket);
        }
        self.server = Server::Unknown;
        self.binding = None;
        self.read_more_at = None;
        self.publish(cx, None);
    }

    /// Loads what earlier runs accepted (a corrupt file is set aside and reported).
    fn load_guard(&mut self, state_dir: &Path) {
        let path = state_dir.join(names::UDP_CONN_REQUESTS);
        if self.guard_file.as_ref() == Some(&path) {
            return;
        }
        self.guard = match std::fs::read(&path) {
            Ok(bytes) => UdpRequestGuard::from_bytes(&bytes).unwrap_or_else(|e| {
                let aside = set_aside(&path).map(|p| p.display().to_string());
                log::error!(
                    "{}: {e}; set aside ({}), started empty",
                    path.display(),
                    aside.unwrap_or_else(|e| e.to_string())
                );
                UdpRequestGuard::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => UdpRequestGuard::default(),
            Err(e) => {
                log::warn!("{}: {e}", path.display());
                UdpRequestGuard::default()
            }
        };
        self.guard_file = Some(path);
    }

    /// Publishes the mapped address (`None`: no binding) and NATDetected.
    fn publish(&mut self, cx: &mut Context, mapped: Option<SocketAddr>) {
        let nat = mapped.is_some_and(|m| !is_own_address(m, self.local_port));
        if self.published == (mapped, nat) {
            return;
        }
        self.published = (mapped, nat);
        let address = mapped.map(|m| m.to_string());
        let mut store = self.cwmp_store.borrow_mut();
        store.set_runtime("stun", "udp_connection_request_address", address.as_deref());
        store.set_runtime(
            "stun",
            "nat_detected",
            mapped.map(|_| if nat { "1" } else { "0" }),
        );
        drop(store);
        match mapped {
            Some(m) => log::info!(
                "STUN: UDP connection request address {m} (NAT detected: {})",
                if nat { "yes" } else { "no" }
            ),
            None => log::debug!("STUN: no UDP connection request address"),
        }
        cx.request(Request::CheckValueChanges);
    }

    /// Starts finding the server's address.
    fn find_server(&mut self, now: Instant) {
        let Some(applied) = &self.applied else {
            return;
        };
        let (host, port) = applied.server();
        if host.is_empty() {
            log::warn!("STUN: no server (stun.server_address and the ACS URL are empty)");
            self.server = Server::Unknown;
            return;
        }
        let lookup = match host.parse::<IpAddr>() {
            Ok(_) => None,
            Err(_) => NameLookup::start(&host, port, false),
        };
        self.server = match lookup {
            Some(lookup) => Server::Resolving {
                lookup,
                host,
                next_check: now + LOOKUP_POLL,
                deadline: now + LOOKUP_TIMEOUT,
            },
            // A literal, or no worker thread could start: resolve here.
            None => match resolve(&host, port, false) {
                Ok(addrs) => self.server_found(addrs, now),
                Err(e) => {
                    log::warn!("STUN server {host}: {e}");
                    Server::RetryAt(now + LOOKUP_RETRY)
                }
            },
        };
    }

    fn server_found(&mut self, addrs: Vec<SocketAddr>, now: Instant) -> Server {
        let Some(addr) = addrs.into_iter().next() else {
            return Server::RetryAt(now + LOOKUP_RETRY);
        };
        if self.binding.is_none() {
            if let Some(applied) = &self.applied {
                self.binding = Some(Binding::new(applied.binding_settings(), now));
            }
        }
        log::info!("STUN: binding at {addr}");
        Server::Known(addr)
    }

    /// Checks a pending lookup.
    fn poll_lookup(&mut self, now: Instant) {
        let (answer, host) = match &mut self.server {
            Server::Resolving {
                lookup,
                host,
                next_check,
                deadline,
            } if now >= *next_check => match lookup.take() {
                Some(answer) => (Some(answer), host.clone()),
                None if now >= *deadline => (None, host.clone()),
                None => {
                    *next_check = now + LOOKUP_POLL;
                    return;
                }
            },
            _ => return,
        };
        self.server = match answer {
            Some(Ok(addrs)) => self.server_found(addrs, now),
            Some(Err(e)) => {
                log::warn!("STUN server {host}: {e}");
                Server::RetryAt(now + LOOKUP_RETRY)
            }
            None => {
                log::warn!("STUN server {host}: name lookup timed out");
                Server::RetryAt(now + LOOKUP_RETRY)
            }
        };
    }

    /// Sends, retransmits or gives up as the binding machine says.
    fn drive_binding(&mut self, now: Instant) {
        let (Server::Known(server), Some(binding), Some(socket)) =
            (&self.server, self.binding.as_mut(), self.socket.as_ref())
        else {
            return;
        };
        let server = *server;
        if binding.poll_at() > now {
            return;
        }
        match binding.poll(now, transaction_id(&mut self.id_fallback)) {
            Some(Step::Send(request)) => {
                if let Err(e) = socket.send_to(&request, server) {
                    // Treated like a lost datagram: the retransmission timer goes on.
                    log::debug!("STUN: send to {server}: {e}");
                }
            }
            Some(Step::TimedOut { retry_at }) => {
                log::warn!(
                    "STUN server {server} did not answer; next Binding Request in {}s",
                    retry_at.saturating_duration_since(now).as_secs()
                );
                let by_name = self
                    .applied
                    .as_ref()
                    .is_some_and(|a| a.server().0.parse::<IpAddr>().is_err());
                if by_name {
                    // The name may point elsewhere by then.
                    self.server = Server::RetryAt(retry_at);
                }
            }
            None => {}
        }
    }

    /// Reads what the socket holds, within the budget.
    fn read_datagrams(&mut self, cx: &mut Context) {
        self.read_more_at = None;
        for _ in 0..READ_BUDGET {
            let Some(socket) = self.socket.as_ref() else {
                return;
            };
            let (len, from) = match socket.recv_from(&mut self.buffer) {
                Ok(received) => received,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // EINTR, or an ICMP error queued by an earlier send: read on.
                    log::debug!("STUN socket: {e}");
                    continue;
                }
            };
            let buffer = std::mem::take(&mut self.buffer);
            self.on_datagram(cx, buffer.get(..len).unwrap_or(&[]), from);
            self.buffer = buffer;
        }
        self.read_more_at = Some(cx.now);
    }

    fn on_datagram(&mut self, cx: &mut Context, datagram: &[u8], from: SocketAddr) {
        if stun::is_stun(datagram) {
            let from_server = matches!(self.server, Server::Known(server) if server == from);
            let outcome = match self.binding.as_mut() {
                Some(binding) if from_server => binding.on_response(datagram, cx.now),
                _ => Outcome::Ignored(format!("STUN message from {from}")),
            };
            match outcome {
                Outcome::Mapped { mapped, changed } => {
                    if changed {
                        log::info!("STUN: the binding changed to {mapped}");
                    }
                    self.publish(cx, Some(mapped));
                }
                Outcome::Refused { code, reason } => {
                    log::warn!("STUN server refused the Binding Request: {code} {reason}")
                }
                Outcome::Ignored(why) => log::debug!("STUN: ignored: {why}"),
            }
            return;
        }
        let (username, password) = &self.credentials;
        match self.guard.accept(datagram, username, password) {
            Ok(request) => {
                log::info!("UDP connection request from {from} (id {})", request.id);
                if let Some(path) = &self.guard_file {
                    if let Err(e) = atomic_write(path, &self.guard.to_bytes()) {
                        log::warn!("{}: {e}", path.display());
                    }
                }
                cx.request(Request::ConnectionRequest {
                    source: format!("{from} (UDP)"),
                });
            }
            // The ACS sends each request several times (UDP may lose it): not a warning.
            Err(e @ UdpRequestError::Replay) => {
                log::info!("UDP connection request from {from} dropped: {e}")
            }
            Err(e) => log::warn!("UDP connection request from {from} dropped: {e}"),
        }
    }
}

impl Service for StunService {
    fn name(&self) -> &'static str {
        "stun"
    }

    fn configure(&mut self, cx: &mut Context) {
        let cpe = &cx.config.cpe;
        self.credentials = (cpe.userid.clone(), cpe.passwd.as_str().to_owned());
        self.load_guard(&cx.config.cpe.state_dir);
        let applied = Applied {
            stun: cx.config.stun.clone(),
            acs_host: host_of(cx.config.acs.effective_url()),
        };
        if self.applied.as_ref() == Some(&applied) {
            return;
        }
        self.close(cx);
        let enable = applied.stun.enable;
        let port = applied.stun.client_port;
        self.applied = Some(applied);
        if !enable {
            log::debug!("STUN disabled");
            return;
        }
        let bound = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
            .and_then(|mut socket| {
                cx.registry
                    .register(&mut socket, self.tokens.token(0), Interest::READABLE)?;
                Ok(socket)
            });
        match bound {
            Ok(socket) => {
                self.local_port = socket.local_addr().map_or(port, |a| a.port());
                log::info!(
                    "STUN enabled: UDP connection requests on port {}",
                    self.local_port
                );
                self.socket = Some(socket);
                self.find_server(cx.now);
            }
            Err(e) => log::error!("STUN: cannot bind UDP port {port}: {e}"),
        }
    }

    fn ready(&mut self, cx: &mut Context, _event: &Event) {
        self.read_datagrams(cx);
    }

    fn poll_at(&self) -> Option<Instant> {
        let server = match &self.server {
            Server::Unknown => None,
            Server::Resolving { next_check, .. } => Some(*next_check),
            Server::RetryAt(at) => Some(*at),
            Server::Known(_) => self.binding.as_ref().map(Binding::poll_at),
        };
        [server, self.read_more_at].into_iter().flatten().min()
    }

    fn run_due(&mut self, cx: &mut Context) {
        let now = cx.now;
        if self.read_more_at.is_some_and(|at| at <= now) {
            self.read_datagrams(cx);
        }
        if matches!(self.server, Server::RetryAt(at) if at <= now) {
            self.find_server(now);
        }
        self.poll_lookup(now);
        self.drive_binding(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acs_host_is_the_default_server() {
        assert_eq!(host_of("http://acs.example:7547/cwmp"), "acs.example");
        assert_eq!(host_of("https://[2001:db8::1]/"), "2001:db8::1");
        assert_eq!(host_of(""), "");
        let applied = Applied {
            stun: StunConfig {
                server_port: 0,
                ..StunConfig::default()
            },
            acs_host: "acs.example".into(),
        };
        assert_eq!(applied.server(), ("acs.example".into(), 3478));
        let settings = applied.binding_settings();
        assert_eq!(settings.credentials, None);
        assert_eq!(settings.max_keepalive, None);
    }

    #[test]
    fn own_address_means_no_nat() {
        assert!(is_own_address("127.0.0.1:4000".parse().unwrap(), 4000));
        assert!(!is_own_address("127.0.0.1:4001".parse().unwrap(), 4000));
        assert!(!is_own_address("192.0.2.1:4000".parse().unwrap(), 4000));
    }
}
