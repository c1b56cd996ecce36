//! HTTP connection-request server (TR-069 3.2.2): Digest-authenticated GETs that make the CPE call the ACS.
//!
//! The decision for one request head (`CrAuthority::decide`) is pure: it parses,
//! checks method and path, verifies Digest credentials with one-use server nonces
//! and applies the rate limit, with time and randomness as arguments. The
//! `ConnRequestServer` shell accepts clients on a mio listener, reads heads with a
//! size cap, writes the answers and drops clients that are slow or idle, without
//! ever waiting on one of them.
//!
//! Rate limit: TR-069 3.2.2 lets the CPE restrict how many connection requests it
//! honours and asks for `503 Service Unavailable` when it refuses one. An
//! authenticated request within `rate_limit_interval` of the last honoured one gets
//! 503 and yields no new session (icwmp does the same, counting per period).

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
use crate::service::{Context, Request, Service, Tokens};
use crate::wire::digest::{Credentials, DigestServer, Verdict};

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
    /// At most one honoured request per interval.
    pub rate_limit_interval: Duration,
    pub max_clients: usize,
    /// A client must finish its request within this time of connecting (or of its last answer).
    pub client_timeout: Duration,
    /// Cap on the request line plus headers.
    pub max_head: usize,
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
            rate_limit_interval: Duration::from_secs(5),
            max_clients: 16,
            client_timeout: Duration::from_secs(10),
            max_head: 8 * 1024,
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
}

impl CrReply {
    fn closing(status: u16) -> CrReply {
        CrReply {
            status,
            challenges: Vec::new(),
            connection_request: false,
            close: true,
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

/// The pure decision core: authentication state and rate limit.
#[derive(Debug)]
pub struct CrAuthority {
    path: String,
    credentials: Credentials,
    rate_limit_interval: Duration,
    digest: DigestServer,
    last_honoured: Option<Instant>,
}

impl CrAuthority {
    /// `opaque_random` fixes the Digest `opaque` value for this server's life.
    pub fn new(config: &ConnRequestConfig, opaque_random: [u8; 16]) -> CrAuthority {
        CrAuthority {
            path: config.path.clone(),
            credentials: config.credentials.clone(),
            rate_limit_interval: config.rate_limit_interval,
            digest: DigestServer::new(
                &config.realm,
                config.nonce_lifetime,
                config.max_clients.saturating_mul(2).max(8),
                config.allow_basic,
                opaque_random,
            ),
            last_honoured: None,
        }
    }

    /// Decide on one complete request head (request line and headers, through the empty line).
    /// `random` seeds the nonce of a challenge, if one is issued.
    pub fn decide(&mut self, head: &[u8], now: Instant, random: [u8; 16]) -> CrReply {
        let request = match ureq_proto::parser::try_parse_request::<MAX_HEADERS>(head) {
            Ok(Some((_, request))) => request,
            Err(ureq_proto::Error::HttpParseTooManyHeaders) => return CrReply::closing(431),
            _ => return CrReply::closing(400),
        };
        let target = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        let path = request.uri().path();
        if request.method() != ureq_proto::http::Method::GET {
            return CrReply::closing(405);
        }
        if path != self.path {
            return CrReply::closing(404);
        }
        let headers = request.headers();
        // A GET carrying a body would leave unread bytes before the next request.
        let has_body = headers.contains_key(ureq_proto::http::header::TRANSFER_ENCODING)
            || headers
                .get(ureq_proto::http::header::CONTENT_LENGTH)
                .is_some_and(|len| len.as_bytes() != b"0");
        if has_body {
            return CrReply::closing(400);
        }
        let verdict = match headers
            .get(ureq_proto::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
        {
            Some(authorization) => {
                self.digest
                    .verify(authorization, "GET", target, &self.credentials, now)
            }
            None => Verdict::Denied,
        };
        match verdict {
            Verdict::Accepted => {
                let limited = self.last_honoured.is_some_and(|last| {
                    now.saturating_duration_since(last) < self.rate_limit_interval
                });
                if limited {
                    return CrReply::closing(503);
                }
                self.last_honoured = Some(now);
                CrReply {
                    connection_request: true,
                    ..CrReply::closing(200)
                }
            }
            Verdict::Stale | Verdict::Denied => CrReply {
                status: 401,
                challenges: self
                    .digest
                    .challenge(random, now, verdict == Verdict::Stale),
                connection_request: false,
                close: false,
            },
        }
    }
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
    in_buf: Vec<u8>,
    out_buf: Vec<u8>,
    out_pos: usize,
    close_after_write: bool,
    deadline: Instant,
    writable_interest: bool,
}

/// The mio shell around `CrAuthority`; see the module documentation.
pub struct ConnRequestServer {
    listener: TcpListener,
    listener_token: Token,
    first_client_token: usize,
    clients: Vec<Option<Client>>,
    authority: CrAuthority,
    client_timeout: Duration,
    max_head: usize,
    scratch: Vec<u8>,
}

impl ConnRequestServer {
    /// Listen and register. Clients get tokens `first_client_token .. first_client_token + max_clients`.
    pub fn bind(
        registry: &Registry,
        config: &ConnRequestConfig,
        listener_token: Token,
        first_client_token: usize,
    ) -> Result<ConnRequestServer, ConnRequestError> {
        let opaque = random16().ok_or(ConnRequestError::NoRandomness)?;
        let mut listener = TcpListener::bind(SocketAddr::new(config.bind_addr, config.port))?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        let max_clients = config.max_clients.max(1);
        Ok(ConnRequestServer {
            listener,
            listener_token,
            first_client_token,
            clients: (0..max_clients).map(|_| None).collect(),
            authority: CrAuthority::new(config, opaque),
            client_timeout: config.client_timeout,
            max_head: config.max_head,
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
            .map(|client| client.deadline)
            .min()
    }

    /// Drop clients past their deadline.
    pub fn handle_timeout(&mut self, registry: &Registry, now: Instant) {
        for slot in 0..self.clients.len() {
            let expired = self
                .clients
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|client| client.deadline <= now);
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
        loop {
            let (mut socket, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    log::warn!("connection request accept: {err}");
                    return;
                }
            };
            let Some(slot) = self.clients.iter().position(Option::is_none) else {
                // Full: refuse without waiting on this client (dropping closes it).
                let _ = socket.write(&CrReply::closing(503).render());
                continue;
            };
            let token = Token(self.first_client_token + slot);
            if let Err(err) = registry.register(&mut socket, token, Interest::READABLE) {
                log::warn!("connection request register: {err}");
                continue;
            }
            if let Some(entry) = self.clients.get_mut(slot) {
                *entry = Some(Client {
                    socket,
                    peer,
                    in_buf: Vec::new(),
                    out_buf: Vec::new(),
                    out_pos: 0,
                    close_after_write: false,
                    deadline: now + self.client_timeout,
                    writable_interest: false,
                });
            }
        }
    }

    fn drop_client(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) {
            let _ = registry.deregister(&mut client.socket);
        }
    }

    /// Read, decide and answer for one client; returns an honoured request.
    fn serve_client(
        &mut self,
        registry: &Registry,
        slot: usize,
        now: Instant,
    ) -> Option<ConnectionRequest> {
        let mut honoured = None;
        let mut close = false;
        let mut eof = false;
        {
            let client = self.clients.get_mut(slot)?.as_mut()?;
            // Read what is there, up to one byte past the head cap.
            loop {
                if client.in_buf.len() > self.max_head {
                    break;
                }
                match client.socket.read(&mut self.scratch) {
                    Ok(0) => {
                        // Answer what was asked before the peer's end of stream.
                        eof = true;
                        break;
                    }
                    Ok(n) => client
                        .in_buf
                        .extend_from_slice(self.scratch.get(..n).unwrap_or(&[])),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        close = true;
                        break;
                    }
                }
            }
            // Answer every complete head unless the connection is closing.
            while !client.close_after_write {
                let reply = match head_end(&client.in_buf) {
                    Some(end) if end <= self.max_head => {
                        let Some(random) = random16() else {
                            close = true;
                            break;
                        };
                        let head: Vec<u8> = client.in_buf.drain(..end).collect();
                        self.authority.decide(&head, now, random)
                    }
                    _ if client.in_buf.len() > self.max_head => CrReply::closing(431),
                    _ => break,
                };
                if reply.connection_request {
                    honoured = Some(ConnectionRequest { peer: client.peer });
                }
                client.close_after_write = reply.close;
                client.out_buf.extend_from_slice(&reply.render());
                // A fresh allowance for the next request on a kept-alive connection.
                client.deadline = now + self.client_timeout;
            }
            if !close {
                let token = Token(self.first_client_token + slot);
                close = flush_client(client, registry, token) || eof;
            }
        }
        if close {
            self.drop_client(registry, slot);
        }
        honoured
    }
}

/// Write pending output. Returns `true` when the client should be dropped now.
fn flush_client(client: &mut Client, registry: &Registry, token: Token) -> bool {
    while client.out_pos < client.out_buf.len() {
        let pending = client.out_buf.get(client.out_pos..).unwrap_or(&[]);
        match client.socket.write(pending) {
            Ok(0) => return true,
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
                return false;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    client.out_buf.clear();
    client.out_pos = 0;
    client.close_after_write
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
}

impl HttpConnRequests {
    pub fn new(tokens: Tokens, cwmp_store: Rc<RefCell<CwmpStore>>) -> HttpConnRequests {
        HttpConnRequests {
            tokens,
            server: None,
            bound_with: None,
            cwmp_store,
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
        match ConnRequestServer::bind(cx.registry, &config, self.tokens.token(0), first_client) {
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

    #[test]
    fn challenge_then_accept_then_rate_limit() {
        let now = Instant::now();
        let mut authority = CrAuthority::new(&config(), [0; 16]);
        let first = authority.decide(b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n", now, [1; 16]);
        assert_eq!(first.status, 401);
        assert!(!first.close);
        assert!(first.challenges[0].contains("SHA-256") && first.challenges[1].contains("MD5"));
        let ok = authority.decide(
            &authorized_get(&first.challenges, "secret", "/"),
            now,
            [2; 16],
        );
        assert_eq!(
            (ok.status, ok.connection_request, ok.close),
            (200, true, true)
        );
        // A second valid request within the interval: 503, no session.
        let again = authority.decide(b"GET / HTTP/1.1\r\n\r\n", now, [3; 16]);
        let limited = authority.decide(
            &authorized_get(&again.challenges, "secret", "/"),
            now,
            [4; 16],
        );
        assert_eq!((limited.status, limited.connection_request), (503, false));
        // After the interval a new one is honoured.
        let later = now + Duration::from_secs(6);
        let again = authority.decide(b"GET / HTTP/1.1\r\n\r\n", later, [5; 16]);
        let ok = authority.decide(
            &authorized_get(&again.challenges, "secret", "/"),
            later,
            [6; 16],
        );
        assert_eq!(ok.status, 200);
    }

    #[test]
    fn refuses_wrong_password_method_path_body_and_garbage() {
        let now = Instant::now();
        let mut authority = CrAuthority::new(&config(), [0; 16]);
        let challenge = authority.decide(b"GET / HTTP/1.1\r\n\r\n", now, [1; 16]);
        let wrong = authority.decide(
            &authorized_get(&challenge.challenges, "guess", "/"),
            now,
            [2; 16],
        );
        assert_eq!((wrong.status, wrong.connection_request), (401, false));
        assert_eq!(
            authority
                .decide(b"POST / HTTP/1.1\r\n\r\n", now, [3; 16])
                .status,
            405
        );
        assert_eq!(
            authority
                .decide(b"GET /x HTTP/1.1\r\n\r\n", now, [3; 16])
                .status,
            404
        );
        assert_eq!(
            authority
                .decide(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", now, [3; 16])
                .status,
            400
        );
        assert_eq!(
            authority
                .decide(b"\x00\x01garbage\r\n\r\n", now, [3; 16])
                .status,
            400
        );
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(authority.decide(head.as_bytes(), now, [3; 16]).status, 431);
        // Basic is not accepted unless configured.
        let basic = b"GET / HTTP/1.1\r\nAuthorization: Basic Y3BlOnNlY3JldA==\r\n\r\n";
        assert_eq!(authority.decide(basic, now, [4; 16]).status, 401);
        let mut with_basic = CrAuthority::new(
            &ConnRequestConfig {
                allow_basic: true,
                ..config()
            },
            [0; 16],
        );
        assert_eq!(with_basic.decide(basic, now, [4; 16]).status, 200);
    }

    #[test]
    fn renders_replies() {
        let reply = CrReply {
            status: 401,
            challenges: vec!["Digest realm=\"r\"".into()],
            connection_request: false,
            close: false,
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
    fn random_and_mutated_requests_never_panic() {
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
            let reply = authority.decide(&head, start, [round as u8; 16]);
            assert!((200..600).contains(&reply.status));
        }
    }
}
