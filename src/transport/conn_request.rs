//! HTTP connection-request server (TR-069 3.2.2): Digest-authenticated GETs that make the CPE call the ACS.
//!
//! The decision for one request head (`CrAuthority::decide`) is pure: it parses,
//! checks method and path and verifies Digest credentials (stateless nonces, see
//! `wire::digest`), with time and randomness as arguments. Whether an
//! authenticated request is honoured is the daemon's limit for every source
//! (`cwmp::conn_request_limit`, 503 when it is spent). The `ConnRequestServer`
//! shell accepts clients on a mio listener and never waits on one of them:
//!
//! - every connection has an absolute deadline from accept ([`ConnRequestConfig::client_timeout`]),
//!   never extended by an answer, and carries at most `max_requests_per_connection` requests;
//! - one source address holds at most `max_clients_per_source` connections and all sources
//!   `max_clients`; a new connection beyond either cap pushes out the oldest connection of the
//!   source holding the most, so idle or slow connections cannot lock out an ACS;
//! - failed authentications are counted per source address (a token bucket of
//!   `failure_burst`, one more per `failure_refill`): a source that has spent it is answered
//!   503 without any credential check, and its new connections are closed at once;
//! - reading is edge-triggered and goes on until the socket would block, answering each
//!   complete request as it arrives (output that cannot be written stops reading until the
//!   socket is writable again): a pipelined burst is answered or closed, never left waiting.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::random16;
use crate::config::backends::CwmpStore;
use crate::cwmp::conn_request_limit::{ConnRequestLimit, TokenBucket};
use crate::service::{Context, Request, Service, Tokens};
use crate::wire::digest::{Credentials, DigestServer, Verdict};
use crate::wire::http::{self, HeadError};

/// Most headers accepted in a request head.
const MAX_HEADERS: usize = 32;

/// Server settings; `Default` lists every default.
#[derive(Debug, Clone)]
pub struct ConnRequestConfig {
    pub bind_addr: IpAddr,
    /// UCI `cpe.port`; 0 picks a free port (tests).
    pub port: u16,
    /// Request path the ACS uses (the path of ConnectionRequestURL).
    pub path: String,
    /// UCI `cpe.userid` / `cpe.passwd`.
    pub credentials: Credentials,
    /// Accept Basic credentials too (off: Digest only).
    pub allow_basic: bool,
    pub realm: String,
    pub nonce_lifetime: Duration,
    /// Connections held at once, all sources together.
    pub max_clients: usize,
    /// Connections held at once from one source address.
    pub max_clients_per_source: usize,
    /// Requests answered on one connection; it is closed after the last.
    pub max_requests_per_connection: usize,
    /// Absolute: a connection is closed this long after it was accepted, whatever it sent.
    pub client_timeout: Duration,
    /// Cap on the request line plus headers.
    pub max_head: usize,
    /// Failed authentications one source address may make back to back…
    pub failure_burst: u32,
    /// …and one more per this interval once they are spent.
    pub failure_refill: Duration,
}

impl Default for ConnRequestConfig {
    fn default() -> Self {
        ConnRequestConfig {
            bind_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 7547,
            path: "/".to_string(),
            credentials: Credentials {
                username: String::new(),
                password: String::new(),
            },
            allow_basic: false,
            realm: "authenticate@cwmp".to_string(),
            nonce_lifetime: Duration::from_secs(300),
            max_clients: 64,
            max_clients_per_source: 4,
            max_requests_per_connection: 4,
            client_timeout: Duration::from_secs(10),
            max_head: 8 * 1024,
            failure_burst: 8,
            failure_refill: Duration::from_secs(15),
        }
    }
}

/// A valid connection request: the daemon should start a session with event "6 CONNECTION REQUEST".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRequest {
    pub peer: SocketAddr,
}

/// Why the server could not start.
#[derive(Debug)]
pub enum ConnRequestError {
    Bind(io::Error),
    NoRandomness,
}

impl fmt::Display for ConnRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnRequestError::Bind(err) => {
                write!(f, "cannot listen for connection requests: {err}")
            }
            ConnRequestError::NoRandomness => write!(f, "no randomness for Digest nonces"),
        }
    }
}

impl std::error::Error for ConnRequestError {}

impl From<io::Error> for ConnRequestError {
    fn from(err: io::Error) -> Self {
        ConnRequestError::Bind(err)
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrReply {
    pub status: u16,
    /// `WWW-Authenticate` values (401 only).
    pub challenges: Vec<String>,
    /// The request was honoured: start a session.
    pub connection_request: bool,
    /// Close after answering (everything but a 401 closes).
    pub close: bool,
    /// The request carried credentials that were refused (counted against its source).
    pub auth_failed: bool,
}

impl CrReply {
    fn closing(status: u16) -> CrReply {
        CrReply {
            status,
            challenges: Vec::new(),
            connection_request: false,
            close: true,
            auth_failed: false,
        }
    }

    /// The reply as bytes on the wire.
    pub fn render(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Error",
        };
        let mut out = format!("HTTP/1.1 {} {reason}\r\nContent-Length: 0\r\n", self.status);
        for challenge in &self.challenges {
            out.push_str("WWW-Authenticate: ");
            out.push_str(challenge);
            out.push_str("\r\n");
        }
        if self.status == 405 {
            out.push_str("Allow: GET\r\n");
        }
        if self.close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// The pure decision core: request checks and Digest authentication.
#[derive(Debug)]
pub struct CrAuthority {
    path: String,
    credentials: Credentials,
    digest: DigestServer,
}

impl CrAuthority {
    /// `secret` keys the Digest nonces for this server's life.
    pub fn new(config: &ConnRequestConfig, secret: [u8; 16]) -> CrAuthority {
        CrAuthority {
            path: config.path.clone(),
            credentials: config.credentials.clone(),
            digest: DigestServer::new(
                &config.realm,
                config.nonce_lifetime,
                64,
                config.allow_basic,
                secret,
            ),
        }
    }

    /// Decide on one complete request head (request line and headers, through the empty line).
    /// `random` seeds the nonce of a challenge, if one is issued; `limit` says whether an
    /// authenticated request is honoured now (503 if not).
    pub fn decide(
        &mut self,
        head: &[u8],
        now: Instant,
        random: [u8; 16],
        limit: &ConnRequestLimit,
    ) -> CrReply {
        let request = match http::parse_request_head(head, MAX_HEADERS) {
            Ok(Some((_, request))) => request,
            Err(HeadError::TooManyHeaders) => return CrReply::closing(431),
            _ => return CrReply::closing(400),
        };
        let target = request.target.as_str();
        if request.method != "GET" {
            return CrReply::closing(405);
        }
        if request.path() != self.path {
            return CrReply::closing(404);
        }
        let headers = &request.headers;
        // A GET carrying a body would leave unread bytes before the next request.
        let has_body = headers.get("transfer-encoding").is_some()
            || headers.get("content-length").is_some_and(|len| len != "0");
        if has_body {
            return CrReply::closing(400);
        }
        let authorization = headers.get("authorization");
        let verdict = match authorization.filter(|value| value.is_ascii()) {
            Some(authorization) => {
                self.digest
                    .verify(authorization, "GET", target, &self.credentials, now)
            }
            None => Verdict::Denied,
        };
        match verdict {
            Verdict::Accepted if limit.would_honour(now) => CrReply {
                connection_request: true,
                ..CrReply::closing(200)
            },
            Verdict::Accepted => CrReply::closing(503),
            Verdict::Stale | Verdict::Denied => CrReply {
                status: 401,
                challenges: self
                    .digest
                    .challenge(random, now, verdict == Verdict::Stale),
                connection_request: false,
                close: false,
                auth_failed: verdict == Verdict::Denied && authorization.is_some(),
            },
        }
    }
}

/// Failed authentications per source address: a token bucket each, for a bounded set of sources.
#[derive(Debug)]
pub struct AuthFailures {
    burst: u32,
    refill: Duration,
    sources: Vec<(IpAddr, TokenBucket)>,
}

/// Sources whose failures are remembered at once; beyond it the least penalised one is forgotten.
const MAX_TRACKED_SOURCES: usize = 256;

impl AuthFailures {
    pub fn new(burst: u32, refill: Duration) -> AuthFailures {
        AuthFailures {
            burst,
            refill,
            sources: Vec::new(),
        }
    }

    /// Whether `source` may still have its credentials checked at `now`.
    pub fn allowed(&self, source: IpAddr, now: Instant) -> bool {
        self.sources
            .iter()
            .find(|(ip, _)| *ip == source)
            .is_none_or(|(_, bucket)| bucket.available(now) > 0)
    }

    /// Counts one failed authentication of `source`.
    pub fn record(&mut self, source: IpAddr, now: Instant) {
        if let Some((_, bucket)) = self.sources.iter_mut().find(|(ip, _)| *ip == source) {
            bucket.take(now);
            return;
        }
        self.sources.retain(|(_, bucket)| !bucket.is_full(now));
        if self.sources.len() >= MAX_TRACKED_SOURCES {
            let least = self
                .sources
                .iter()
                .enumerate()
                .max_by_key(|(_, (_, bucket))| bucket.available(now))
                .map(|(at, _)| at);
            if let Some(at) = least {
                self.sources.swap_remove(at);
            }
        }
        let mut bucket = TokenBucket::new(self.burst, self.refill);
        bucket.take(now);
        self.sources.push((source, bucket));
    }
}

/// The slot a new connection from `source` takes, given who holds the slots (source, accept
/// time): a free slot while `source` is under `per_source`; otherwise the slot of the oldest
/// connection of `source` (at its cap) or of the source holding the most (all slots taken).
fn choose_slot(held: &[Option<(IpAddr, Instant)>], source: IpAddr, per_source: usize) -> usize {
    let count = |ip: IpAddr| held.iter().flatten().filter(|(i, _)| *i == ip).count();
    let oldest_of = |ip: IpAddr| {
        held.iter()
            .enumerate()
            .filter_map(|(slot, h)| h.filter(|(i, _)| *i == ip).map(|(_, at)| (slot, at)))
            .min_by_key(|(_, at)| *at)
            .map(|(slot, _)| slot)
    };
    if count(source) >= per_source.max(1) {
        return oldest_of(source).unwrap_or(0);
    }
    if let Some(free) = held.iter().position(Option::is_none) {
        return free;
    }
    held.iter()
        .enumerate()
        .filter_map(|(slot, h)| h.map(|(ip, at)| (slot, count(ip), at)))
        .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
        .map_or(0, |(slot, _, _)| slot)
}

/// End of the request head in `buf`, if complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// One connected ACS (or anybody).
struct Client {
    socket: TcpStream,
    peer: SocketAddr,
    accepted_at: Instant,
    in_buf: Vec<u8>,
    out_buf: Vec<u8>,
    out_pos: usize,
    requests: usize,
    close_after_write: bool,
    writable_interest: bool,
}

/// Output beyond this stops reading until the client takes it.
const MAX_PENDING_OUTPUT: usize = 16 * 1024;
/// Connections accepted per listener event before other sockets get their turn.
const MAX_ACCEPTS_PER_EVENT: usize = 32;

/// The mio shell around `CrAuthority`; see the module documentation.
pub struct ConnRequestServer {
    listener: TcpListener,
    listener_token: Token,
    first_client_token: usize,
    clients: Vec<Option<Client>>,
    authority: CrAuthority,
    limit: Rc<RefCell<ConnRequestLimit>>,
    failures: AuthFailures,
    client_timeout: Duration,
    max_head: usize,
    max_per_source: usize,
    max_requests: usize,
    scratch: Vec<u8>,
}

impl ConnRequestServer {
    /// Listen and register. Clients get tokens `first_client_token .. first_client_token + max_clients`.
    /// `limit` is the daemon's limit on honoured requests, consulted for every answer.
    pub fn bind(
        registry: &Registry,
        config: &ConnRequestConfig,
        listener_token: Token,
        first_client_token: usize,
        limit: Rc<RefCell<ConnRequestLimit>>,
    ) -> Result<ConnRequestServer, ConnRequestError> {
        let secret = random16().ok_or(ConnRequestError::NoRandomness)?;
        let mut listener = TcpListener::bind(SocketAddr::new(config.bind_addr, config.port))?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        let max_clients = config.max_clients.max(1);
        Ok(ConnRequestServer {
            listener,
            listener_token,
            first_client_token,
            clients: (0..max_clients).map(|_| None).collect(),
            authority: CrAuthority::new(config, secret),
            limit,
            failures: AuthFailures::new(config.failure_burst, config.failure_refill),
            client_timeout: config.client_timeout,
            max_head: config.max_head,
            max_per_source: config.max_clients_per_source.max(1),
            max_requests: config.max_requests_per_connection.max(1),
            scratch: vec![0; 4096],
        })
    }

    /// Deregisters the listener and every client (before the server is dropped for a rebind).
    pub fn close(&mut self, registry: &Registry) {
        for slot in 0..self.clients.len() {
            self.drop_client(registry, slot);
        }
        let _ = registry.deregister(&mut self.listener);
    }

    /// The bound address (the port when bound with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether an event token belongs to this server.
    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token || self.slot_of(token).is_some()
    }

    /// Clients currently connected.
    pub fn client_count(&self) -> usize {
        self.clients.iter().filter(|slot| slot.is_some()).count()
    }

    fn slot_of(&self, token: Token) -> Option<usize> {
        let slot = token.0.checked_sub(self.first_client_token)?;
        (slot < self.clients.len()).then_some(slot)
    }

    /// Earliest client deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.clients
            .iter()
            .flatten()
            .map(|client| client.accepted_at + self.client_timeout)
            .min()
    }

    /// Drop clients past their deadline.
    pub fn handle_timeout(&mut self, registry: &Registry, now: Instant) {
        for slot in 0..self.clients.len() {
            let expired = self
                .clients
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|client| client.accepted_at + self.client_timeout <= now);
            if expired {
                self.drop_client(registry, slot);
            }
        }
    }

    /// Handle a readiness event for the listener or a client.
    pub fn handle_event(
        &mut self,
        registry: &Registry,
        event: &Event,
        now: Instant,
    ) -> Option<ConnectionRequest> {
        if event.token() == self.listener_token {
            self.accept_all(registry, now);
            return None;
        }
        let slot = self.slot_of(event.token())?;
        self.serve_client(registry, slot, now)
    }

    fn accept_all(&mut self, registry: &Registry, now: Instant) {
        for _ in 0..MAX_ACCEPTS_PER_EVENT {
            let (mut socket, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    log::warn!("connection request accept: {err}");
                    return;
                }
            };
            if !self.failures.allowed(peer.ip(), now) {
                // Dropping closes it: a source that keeps failing costs an accept, no more.
                continue;
            }
            let held: Vec<Option<(IpAddr, Instant)>> = self
                .clients
                .iter()
                .map(|c| c.as_ref().map(|c| (c.peer.ip(), c.accepted_at)))
                .collect();
            let slot = choose_slot(&held, peer.ip(), self.max_per_source);
            self.drop_client(registry, slot);
            let token = Token(self.first_client_token + slot);
            if let Err(err) = registry.register(&mut socket, token, Interest::READABLE) {
                log::warn!("connection request register: {err}");
                continue;
            }
            if let Some(entry) = self.clients.get_mut(slot) {
                *entry = Some(Client {
                    socket,
                    peer,
                    accepted_at: now,
                    in_buf: Vec::new(),
                    out_buf: Vec::new(),
                    out_pos: 0,
                    requests: 0,
                    close_after_write: false,
                    writable_interest: false,
                });
            }
        }
        // More are waiting: ask for another event so the other sockets get their turn first.
        if let Err(err) =
            registry.reregister(&mut self.listener, self.listener_token, Interest::READABLE)
        {
            log::warn!("connection request listener: {err}");
        }
    }

    fn drop_client(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) {
            let _ = registry.deregister(&mut client.socket);
        }
    }

    /// Reads, decides and answers for one client until its socket would block (or it is
    /// closed); returns an honoured request.
    fn serve_client(
        &mut self,
        registry: &Registry,
        slot: usize,
        now: Instant,
    ) -> Option<ConnectionRequest> {
        let token = Token(self.first_client_token + slot);
        let mut honoured = None;
        let close = {
            let client = self.clients.get_mut(slot)?.as_mut()?;
            let mut answer = |head: Option<&[u8]>, client: &mut Client| {
                let ip = client.peer.ip();
                let reply = match head {
                    None => CrReply::closing(431),
                    Some(_) if !self.failures.allowed(ip, now) => CrReply::closing(503),
                    Some(head) => match random16() {
                        Some(random) => {
                            self.authority
                                .decide(head, now, random, &self.limit.borrow())
                        }
                        None => CrReply::closing(503),
                    },
                };
                if reply.auth_failed {
                    self.failures.record(ip, now);
                }
                let mut reply = reply;
                client.requests += 1;
                if client.requests >= self.max_requests {
                    reply.close = true;
                }
                if reply.connection_request {
                    honoured = Some(ConnectionRequest { peer: client.peer });
                }
                client.close_after_write = reply.close;
                client.out_buf.extend_from_slice(&reply.render());
            };
            loop {
                match flush_client(client, registry, token) {
                    Flushed::Failed => break true,
                    Flushed::Blocked => break false,
                    Flushed::Done if client.close_after_write => break true,
                    Flushed::Done => {}
                }
                let read = match client.socket.read(&mut self.scratch) {
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break true,
                };
                client
                    .in_buf
                    .extend_from_slice(self.scratch.get(..read).unwrap_or(&[]));
                // Answer every complete head; a head past the cap is refused.
                while !client.close_after_write && client.out_buf.len() < MAX_PENDING_OUTPUT {
                    match head_end(&client.in_buf) {
                        Some(end) if end <= self.max_head => {
                            let head: Vec<u8> = client.in_buf.drain(..end).collect();
                            answer(Some(&head), client);
                        }
                        _ if client.in_buf.len() > self.max_head => answer(None, client),
                        _ => break,
                    }
                }
                if read == 0 {
                    // End of stream: what was asked is answered; nothing more can come.
                    client.close_after_write = true;
                    if client.out_buf.is_empty() {
                        break true;
                    }
                }
            }
        };
        if close {
            self.drop_client(registry, slot);
        }
        honoured
    }
}

/// What writing a client's pending output came to.
enum Flushed {
    /// Everything is written.
    Done,
    /// The socket would block: it is registered for writability.
    Blocked,
    /// The connection failed.
    Failed,
}

/// Write pending output.
fn flush_client(client: &mut Client, registry: &Registry, token: Token) -> Flushed {
    while client.out_pos < client.out_buf.len() {
        let pending = client.out_buf.get(client.out_pos..).unwrap_or(&[]);
        match client.socket.write(pending) {
            Ok(0) => return Flushed::Failed,
            Ok(n) => client.out_pos += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if !client.writable_interest {
                    client.writable_interest = registry
                        .reregister(
                            &mut client.socket,
                            token,
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_ok();
                }
                return Flushed::Blocked;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Flushed::Failed,
        }
    }
    client.out_buf.clear();
    client.out_pos = 0;
    Flushed::Done
}

/// The HTTP connection-request service of the loop: binds the server on
/// `cpe.port` while `cpe.userid` is set (without it no request could be
/// authenticated, so none is accepted) and rebinds when the settings change.
pub struct HttpConnRequests {
    tokens: Tokens,
    server: Option<ConnRequestServer>,
    /// The settings the server was bound with (`None`: never configured).
    bound_with: Option<(u16, String, String)>,
    /// Where the bound port is published (`cpe.port` as the data model reads it).
    cwmp_store: Rc<RefCell<CwmpStore>>,
    /// The daemon's limit on honoured connection requests (all sources).
    limit: Rc<RefCell<ConnRequestLimit>>,
}

impl HttpConnRequests {
    pub fn new(
        tokens: Tokens,
        cwmp_store: Rc<RefCell<CwmpStore>>,
        limit: Rc<RefCell<ConnRequestLimit>>,
    ) -> HttpConnRequests {
        HttpConnRequests {
            tokens,
            server: None,
            bound_with: None,
            cwmp_store,
            limit,
        }
    }
}

impl Service for HttpConnRequests {
    fn name(&self) -> &'static str {
        "connection requests"
    }

    fn configure(&mut self, cx: &mut Context) {
        let cpe = &cx.config.cpe;
        let settings = (cpe.port, cpe.userid.clone(), cpe.passwd.as_str().to_owned());
        if self.bound_with.as_ref() == Some(&settings) {
            return;
        }
        if let Some(mut server) = self.server.take() {
            server.close(cx.registry);
        }
        self.bound_with = Some(settings.clone());
        let (port, username, password) = settings;
        if username.is_empty() {
            log::warn!("Connection requests disabled: cpe.userid is not set");
            return;
        }
        let config = ConnRequestConfig {
            port,
            credentials: Credentials { username, password },
            ..ConnRequestConfig::default()
        };
        let first_client = self.tokens.token(1).0;
        let bound = ConnRequestServer::bind(
            cx.registry,
            &config,
            self.tokens.token(0),
            first_client,
            self.limit.clone(),
        );
        match bound {
            Ok(server) => {
                let bound = server.local_addr().map(|a| a.port()).unwrap_or(port);
                log::info!("Connection Request server initiated with the port: {bound}");
                self.cwmp_store
                    .borrow_mut()
                    .set_runtime("cpe", "port", Some(&bound.to_string()));
                self.server = Some(server);
            }
            Err(e) => log::error!("Connection Request server on port {port}: {e}"),
        }
    }

    fn ready(&mut self, cx: &mut Context, event: &Event) {
        let request = self
            .server
            .as_mut()
            .and_then(|server| server.handle_event(cx.registry, event, cx.now));
        if let Some(request) = request {
            cx.request(Request::ConnectionRequest {
                source: request.peer.to_string(),
            });
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        self.server.as_ref().and_then(ConnRequestServer::poll_at)
    }

    fn run_due(&mut self, cx: &mut Context) {
        if let Some(server) = self.server.as_mut() {
            server.handle_timeout(cx.registry, cx.now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::conn_request_limit::Admission;
    use crate::wire::digest::{parse_www_authenticate, Challenge, DigestClient};

    fn config() -> ConnRequestConfig {
        ConnRequestConfig {
            credentials: Credentials {
                username: "cpe".into(),
                password: "secret".into(),
            },
            ..ConnRequestConfig::default()
        }
    }

    const PLAIN_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n";

    fn authorized_get(challenges: &[String], password: &str, path: &str) -> Vec<u8> {
        let Some(Challenge::Digest(challenge)) = parse_www_authenticate(&challenges[1]).pop()
        else {
            panic!("no digest challenge");
        };
        let creds = Credentials {
            username: "cpe".into(),
            password: password.into(),
        };
        let auth = DigestClient::new(challenge).authorization(&creds, "GET", path, "c");
        format!("GET {path} HTTP/1.1\r\nHost: cpe\r\nAuthorization: {auth}\r\n\r\n").into_bytes()
    }

    /// GET, challenge, authorized GET with `password`: the second reply.
    fn exchange(
        authority: &mut CrAuthority,
        limit: &ConnRequestLimit,
        password: &str,
        now: Instant,
    ) -> CrReply {
        // Fresh randomness for each nonce, as the server's shell gives it.
        static ROUND: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
        let round = ROUND.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let challenge = authority.decide(PLAIN_GET, now, [round; 16], limit);
        assert_eq!((challenge.status, challenge.auth_failed), (401, false));
        let request = authorized_get(&challenge.challenges, password, "/");
        authority.decide(&request, now, [2; 16], limit)
    }

    #[test]
    fn challenge_then_accept_then_the_spent_limit_answers_503() {
        let now = Instant::now();
        let mut authority = CrAuthority::new(&config(), [0; 16]);
        let mut limit = ConnRequestLimit::new(1, Duration::from_secs(60));
        let first = authority.decide(PLAIN_GET, now, [1; 16], &limit);
        assert!(!first.close);
        assert!(first.challenges[0].contains("SHA-256") && first.challenges[1].contains("MD5"));
        let ok = exchange(&mut authority, &limit, "secret", now);
        assert_eq!(
            (ok.status, ok.connection_request, ok.close),
            (200, true, true)
        );
        assert_eq!(limit.admit(now), Admission::NewSession);
        // While its session is due, more requests are honoured (folded into it).
        assert_eq!(exchange(&mut authority, &limit, "secret", now).status, 200);
        limit.session_started();
        let limited = exchange(&mut authority, &limit, "secret", now);
        assert_eq!((limited.status, limited.connection_request), (503, false));
        let later = now + Duration::from_secs(61);
        assert_eq!(
            exchange(&mut authority, &limit, "secret", later).status,
            200
        );
    }

    #[test]
    fn refuses_wrong_password_method_path_body_and_garbage() {
        let now = Instant::now();
        let limit = ConnRequestLimit::default();
        let mut authority = CrAuthority::new(&config(), [0; 16]);
        let wrong = exchange(&mut authority, &limit, "guess", now);
        assert_eq!(
            (wrong.status, wrong.connection_request, wrong.auth_failed),
            (401, false, true)
        );
        let mut status = |head: &[u8]| authority.decide(head, now, [3; 16], &limit).status;
        assert_eq!(status(b"POST / HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status(b"GET /x HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(status(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 400);
        assert_eq!(status(b"\x00\x01garbage\r\n\r\n"), 400);
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            431
        );
        // Basic is not accepted unless configured.
        let basic = b"GET / HTTP/1.1\r\nAuthorization: Basic Y3BlOnNlY3JldA==\r\n\r\n";
        assert_eq!(status(basic), 401);
        let mut with_basic = CrAuthority::new(
            &ConnRequestConfig {
                allow_basic: true,
                ..config()
            },
            [0; 16],
        );
        assert_eq!(with_basic.decide(basic, now, [4; 16], &limit).status, 200);
    }

    #[test]
    fn renders_replies() {
        let reply = CrReply {
            status: 401,
            challenges: vec!["Digest realm=\"r\"".into()],
            connection_request: false,
            close: false,
            auth_failed: false,
        };
        assert_eq!(
            reply.render(),
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nWWW-Authenticate: Digest realm=\"r\"\r\n\r\n"
        );
        assert!(String::from_utf8(CrReply::closing(200).render())
            .unwrap()
            .ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn failures_lock_out_their_source_only_and_wear_off() {
        let now = Instant::now();
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        let acs: IpAddr = "198.51.100.7".parse().unwrap();
        let mut failures = AuthFailures::new(3, Duration::from_secs(15));
        for _ in 0..3 {
            assert!(failures.allowed(attacker, now));
            failures.record(attacker, now);
        }
        assert!(!failures.allowed(attacker, now));
        assert!(failures.allowed(acs, now));
        assert!(failures.allowed(attacker, now + Duration::from_secs(15)));
    }

    #[test]
    fn failure_records_stay_bounded() {
        let now = Instant::now();
        let mut failures = AuthFailures::new(1, Duration::from_secs(15));
        for n in 0..10_000u32 {
            failures.record(IpAddr::from(n.to_be_bytes()), now);
        }
        assert!(failures.sources.len() <= MAX_TRACKED_SOURCES);
    }

    #[test]
    fn a_new_connection_pushes_out_the_oldest_of_the_busiest_source() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        // A free slot while the source is under its cap.
        let held = [Some((a, at(0))), None, Some((b, at(1)))];
        assert_eq!(choose_slot(&held, a, 2), 1);
        // At its cap, the source's own oldest goes.
        let held = [Some((a, at(5))), Some((a, at(2))), None];
        assert_eq!(choose_slot(&held, a, 2), 1);
        // All taken: the busiest source's oldest goes, not the lone ACS.
        let held = [
            Some((c, at(0))),
            Some((a, at(4))),
            Some((a, at(3))),
            Some((b, at(1))),
        ];
        assert_eq!(choose_slot(&held, b, 2), 2);
    }

    #[test]
    fn random_and_mutated_requests_never_panic() {
        let limit = ConnRequestLimit::default();
        let mut authority = CrAuthority::new(&config(), [7; 16]);
        let base = b"GET / HTTP/1.1\r\nHost: cpe\r\nAuthorization: Digest username=\"cpe\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"00\", qop=auth, nc=00000001, cnonce=\"c\"\r\n\r\n";
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let start = Instant::now();
        for round in 0..5_000u32 {
            let mut head = base.to_vec();
            for _ in 0..(next() % 8) {
                let at = next() as usize % head.len();
                head[at] = next() as u8;
            }
            if round % 3 == 0 {
                head.truncate(next() as usize % head.len());
            }
            let reply = authority.decide(&head, start, [round as u8; 16], &limit);
            assert!((200..600).contains(&reply.status));
        }
    }
}
