//! Non-blocking HTTP/1.1 (+TLS) client for ACS sessions and file transfers, driven from the mio loop.
//!
//! One `HttpClient` owns at most one connection and one exchange at a time. The
//! HTTP protocol is the pure codec of [`crate::wire::http`]; TLS is rustls over a mio
//! `TcpStream`, driven like rustls's `tlsclient-mio` example (interest follows what
//! the TLS state wants). The client never blocks, except for host name resolution
//! (see [`resolve`]). Work per call is bounded: when a socket has more data than
//! [`READ_BUDGET`], the client asks to be run again at once through `poll_at()`.
//!
//! Usage from the loop: `start()` an exchange, then call `handle_event()` for
//! events on the client's token and `handle_timeout()` when `poll_at()` is due;
//! both return the outcome once the exchange is over. The connection stays open
//! between exchanges (keep-alive for a whole CWMP session) until `close()`.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::cookie_jar::CookieJar;
use super::{random16, tls};
use crate::redact;
use crate::wire::content_coding::{self, CodingError, ContentCoding, Decoder};
use crate::wire::digest::{self, Challenge, Credentials, DigestClient};
use crate::wire::http::{self as wire, BodyReader, HeadError, ResponseHead, Url};

/// Size of the output and body scratch buffers (one TLS record's worth).
const CHUNK: usize = 16 * 1024;
/// Bytes read from the socket in one call before yielding back to the loop.
pub const READ_BUDGET: usize = 256 * 1024;
/// A response head larger than this is refused.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Interim (1xx) responses accepted before a final one; a server that keeps
/// sending them is refused rather than followed for ever.
const MAX_INTERIM_RESPONSES: u32 = 8;
/// Body of a 401 or redirect that we read and throw away; more is refused.
const MAX_DISCARDED_BODY: u64 = 64 * 1024;

/// Client settings; `Default` lists every default.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// UCI `ipv6_enable`: also try IPv6 addresses of the host (IPv4 first otherwise only).
    pub ipv6_enable: bool,
    pub connect_timeout: Duration,
    /// Longest silence of the server while an exchange is under way.
    pub idle_timeout: Duration,
    /// Longest time one exchange (request, authentication and redirects
    /// included, until the whole response is in) may take, however steadily
    /// the server trickles bytes; `None`: no bound beyond `idle_timeout`.
    pub exchange_timeout: Option<Duration>,
    /// UCI `ssl_capath`: a PEM bundle file or a directory of PEM files.
    pub ssl_capath: Option<PathBuf>,
    /// UCI `insecure_enable`: 1 means do not verify the server certificate (see `tls`).
    pub insecure_enable: bool,
    /// UCI `http_disable_100continue`.
    pub http_disable_100continue: bool,
    /// Request bodies at least this large are sent with `Expect: 100-continue`.
    pub expect_continue_min_body: u64,
    /// How long to wait for `100 Continue` before sending the body anyway.
    pub continue_timeout: Duration,
    /// Cap on a response body kept in memory.
    pub max_response_body: usize,
    pub max_redirects: u8,
    pub user_agent: String,
    /// ACS user name and password, answered to Basic or Digest challenges.
    pub credentials: Option<Credentials>,
    /// UCI `acs.compression`: in-memory request bodies go out compressed with
    /// this coding (`Content-Encoding`), and `Accept-Encoding` offers gzip and
    /// deflate. Compressed responses are decoded whatever this says.
    pub compression: Option<ContentCoding>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            ipv6_enable: false,
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            exchange_timeout: None,
            ssl_capath: None,
            insecure_enable: false,
            http_disable_100continue: false,
            expect_continue_min_body: 64 * 1024,
            continue_timeout: Duration::from_secs(1),
            max_response_body: 4 * 1024 * 1024,
            max_redirects: 5,
            user_agent: concat!("icwmp-rs/", env!("CARGO_PKG_VERSION")).to_string(),
            credentials: None,
            compression: None,
        }
    }
}

/// Request methods the CPE uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// Where a request body comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    Empty,
    /// SOAP envelopes.
    Memory(Vec<u8>),
    /// Uploads: read in chunks, re-read from the start if the request is resent.
    File(PathBuf),
}

/// Where a response body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodySink {
    /// Kept in memory up to `HttpConfig::max_response_body`.
    Memory,
    /// Streamed to this file (created or truncated), with bounded memory.
    File(PathBuf),
}

/// One request to run.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// Extra headers, e.g. `SOAPAction`.
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
    pub content_type: Option<String>,
    pub sink: BodySink,
}

impl Request {
    /// A POST of an in-memory body with the response kept in memory.
    pub fn post(url: &str, content_type: &str, body: Vec<u8>) -> Request {
        Request {
            method: Method::Post,
            url: url.to_string(),
            headers: Vec::new(),
            body: RequestBody::Memory(body),
            content_type: Some(content_type.to_string()),
            sink: BodySink::Memory,
        }
    }

    /// A GET with the response kept in memory.
    pub fn get(url: &str) -> Request {
        Request {
            method: Method::Get,
            url: url.to_string(),
            headers: Vec::new(),
            body: RequestBody::Empty,
            content_type: None,
            sink: BodySink::Memory,
        }
    }
}

/// A received response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    Memory(Vec<u8>),
    File { path: PathBuf, len: u64 },
}

/// The final response of an exchange (after auth and redirects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: ResponseBody,
    /// The URL that answered; differs from the request's after a redirect
    /// (TR-069 3.4.5: the rest of the session goes there).
    pub url: String,
}

impl Response {
    /// First value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What an exchange ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    Response(Response),
    Error(HttpError),
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    InvalidUrl(String),
    /// `start()` while an exchange is under way.
    Busy,
    Dns(String),
    Connect(String),
    /// Handshake or certificate failure, with rustls's detail.
    Tls(String),
    /// Which phase ran out of time.
    Timeout(&'static str),
    Protocol(String),
    /// 401 again after answering the challenge, or no credentials / usable challenge.
    AuthFailed,
    TooManyRedirects,
    ResponseTooLarge,
    /// A compressed response body that is corrupt or of an unknown coding.
    Coding(CodingError),
    Io(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl(url) => write!(f, "invalid URL: {url}"),
            HttpError::Busy => write!(f, "an HTTP exchange is already under way"),
            HttpError::Dns(detail) => write!(f, "name resolution failed: {detail}"),
            HttpError::Connect(detail) => write!(f, "connect failed: {detail}"),
            HttpError::Tls(detail) => write!(f, "TLS failed: {detail}"),
            HttpError::Timeout(phase) => write!(f, "timed out {phase}"),
            HttpError::Protocol(detail) => write!(f, "HTTP protocol error: {detail}"),
            HttpError::AuthFailed => write!(f, "authentication failed"),
            HttpError::TooManyRedirects => write!(f, "too many redirects"),
            HttpError::ResponseTooLarge => write!(f, "response body too large"),
            HttpError::Coding(err) => write!(f, "{err}"),
            HttpError::Io(detail) => write!(f, "I/O error: {detail}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HeadError> for HttpError {
    fn from(err: HeadError) -> Self {
        HttpError::Protocol(err.to_string())
    }
}

impl From<io::Error> for HttpError {
    fn from(err: io::Error) -> Self {
        // TLS failures travel through io::Error from `Connection::read`.
        match err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls_err) => HttpError::Tls(tls_err.to_string()),
            None => HttpError::Io(err.to_string()),
        }
    }
}

impl From<CodingError> for HttpError {
    fn from(err: CodingError) -> Self {
        match err {
            // Expanding past the cap is the same refusal as a plain body past it.
            CodingError::TooLarge => HttpError::ResponseTooLarge,
            other => HttpError::Coding(other),
        }
    }
}

impl From<tls::TlsConfigError> for HttpError {
    fn from(err: tls::TlsConfigError) -> Self {
        HttpError::Tls(err.to_string())
    }
}

/// Scheme, host and port: what a connection can be reused for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    https: bool,
    /// Without IPv6 brackets.
    host: String,
    port: u16,
}

/// A parsed request URL.
#[derive(Debug, Clone)]
struct Target {
    origin: Origin,
    url: Url,
}

impl Target {
    /// The path without the query (for cookies).
    fn cookie_path(&self) -> &str {
        self.url.path.split('?').next().unwrap_or("/")
    }
}

fn parse_url(url: &str) -> Result<Target, HttpError> {
    let url = Url::parse(url).ok_or_else(|| HttpError::InvalidUrl(url.to_string()))?;
    Ok(Target {
        origin: Origin {
            https: url.https,
            host: url.host.clone(),
            port: url.port,
        },
        url,
    })
}

/// Whether `url` is one this client can reach: `http://` or `https://`, a
/// host, an optional numeric port, and nothing a request line cannot carry
/// (spaces, control characters such as a newline).
pub fn check_url(url: &str) -> Result<(), HttpError> {
    parse_url(url).map(|_| ())
}

/// Resolve a `Location` header against the URL that answered.
fn join_location(base: &Target, location: &str) -> Result<Target, HttpError> {
    let location = location.trim();
    if location.contains("://") {
        return parse_url(location);
    }
    let origin = &base.origin;
    let scheme = if origin.https { "https" } else { "http" };
    if let Some(rest) = location.strip_prefix("//") {
        return parse_url(&format!("{scheme}://{rest}"));
    }
    let authority = &base.url.authority;
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let base_path = &base.url.path;
        let dir_end = base.cookie_path().rfind('/').unwrap_or(0);
        format!("{}/{location}", base_path.get(..dir_end).unwrap_or(""))
    };
    parse_url(&format!("{scheme}://{authority}{path}"))
}

/// Resolve `host:port` to the addresses to try, IPv4 first.
///
/// This is the one blocking call of the client: `ToSocketAddrs` runs
/// getaddrinfo() synchronously. IP literals are parsed without it, and names in
/// /etc/hosts answer at once; a name that needs DNS is looked up on a
/// short-lived worker thread ([`NameLookup`]) so the loop never waits for the
/// resolver.
pub(crate) fn resolve(
    host: &str,
    port: u16,
    ipv6_enable: bool,
) -> Result<Vec<SocketAddr>, HttpError> {
    let mut addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|err| HttpError::Dns(format!("{host}: {err}")))?
            .collect(),
    };
    if !ipv6_enable {
        addrs.retain(SocketAddr::is_ipv4);
    }
    addrs.sort_by_key(|addr| addr.is_ipv6());
    addrs.dedup();
    if addrs.is_empty() {
        return Err(HttpError::Dns(format!("{host}: no usable address")));
    }
    Ok(addrs)
}

/// How often a pending name lookup is checked for its answer.
pub(crate) const LOOKUP_POLL: Duration = Duration::from_millis(5);

/// What a name lookup found.
pub(crate) type LookupAnswer = Result<Vec<SocketAddr>, HttpError>;

/// A host name being resolved on a short-lived worker thread (the ACS, HTTP
/// transfer servers, the STUN and the XMPP servers are looked up this way); the loop
/// checks [`NameLookup::take`] every [`LOOKUP_POLL`] until it answers.
pub(crate) struct NameLookup {
    answer: Arc<Mutex<Option<LookupAnswer>>>,
}

impl NameLookup {
    /// Starts resolving `host`; `None` if no thread could be started.
    pub(crate) fn start(host: &str, port: u16, ipv6_enable: bool) -> Option<NameLookup> {
        let answer = Arc::new(Mutex::new(None));
        let (host, slot) = (host.to_owned(), answer.clone());
        std::thread::Builder::new()
            .name("icwmpd-dns".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let result = resolve(&host, port, ipv6_enable);
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(result);
                }
            })
            .ok()?;
        Some(NameLookup { answer })
    }

    /// The answer, once the worker has one.
    pub(crate) fn take(&self) -> Option<LookupAnswer> {
        self.answer.lock().ok()?.take()
    }
}

/// The ACS client's lookup: the origin it resolves for.
struct Lookup {
    origin: Origin,
    name: NameLookup,
}

impl Lookup {
    fn start(origin: &Origin, ipv6_enable: bool) -> Option<Lookup> {
        Some(Lookup {
            origin: origin.clone(),
            name: NameLookup::start(&origin.host, origin.port, ipv6_enable)?,
        })
    }

    fn take(&self) -> Option<LookupAnswer> {
        self.name.take()
    }
}

/// One TCP (and maybe TLS) connection registered with the loop.
struct Connection {
    origin: Origin,
    socket: TcpStream,
    tls: Option<Box<ClientConnection>>,
    /// Non-blocking connect still in progress.
    connecting: bool,
    /// Addresses left to try if this connect fails.
    spare_addrs: Vec<SocketAddr>,
    /// At least one exchange completed on it (so a failure may be a stale keep-alive).
    reused: bool,
    /// The peer closed its side.
    eof: bool,
    interest: Interest,
}

impl Connection {
    fn open(
        origin: Origin,
        mut addrs: Vec<SocketAddr>,
        tls_config: Option<&Arc<ClientConfig>>,
        registry: &Registry,
        token: Token,
    ) -> Result<Connection, HttpError> {
        let mut last_err = HttpError::Connect("no address".to_string());
        while !addrs.is_empty() {
            let addr = addrs.remove(0);
            match TcpStream::connect(addr) {
                Ok(mut socket) => {
                    let tls = match tls_config {
                        Some(config) => Some(Box::new(tls_session(config, &origin.host)?)),
                        None => None,
                    };
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    registry
                        .register(&mut socket, token, interest)
                        .map_err(|err| HttpError::Io(err.to_string()))?;
                    return Ok(Connection {
                        origin,
                        socket,
                        tls,
                        connecting: true,
                        spare_addrs: addrs,
                        reused: false,
                        eof: false,
                        interest,
                    });
                }
                Err(err) => last_err = HttpError::Connect(format!("{addr}: {err}")),
            }
        }
        Err(last_err)
    }

    /// `Ok(true)` once the non-blocking connect has completed.
    fn check_connected(&mut self) -> Result<bool, HttpError> {
        if !self.connecting {
            return Ok(true);
        }
        let connect_err = |err: io::Error| HttpError::Connect(err.to_string());
        if let Some(err) = self.socket.take_error().map_err(connect_err)? {
            return Err(connect_err(err));
        }
        match self.socket.peer_addr() {
            Ok(_) => {
                self.connecting = false;
                // Disable Nagle: SOAP requests are written in one piece and latency matters.
                let _ = self.socket.set_nodelay(true);
                Ok(true)
            }
            Err(err)
                if err.kind() == io::ErrorKind::NotConnected
                    || err.kind() == io::ErrorKind::WouldBlock =>
            {
                Ok(false)
            }
            Err(err) => Err(connect_err(err)),
        }
    }

    /// Write plaintext; `Ok(0)` means no room now.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.tls {
            None => loop {
                match self.socket.write(data) {
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                    other => return other,
                }
            },
            Some(tls) => {
                let written = tls.writer().write(data)?;
                self.flush_tls()?;
                Ok(written)
            }
        }
    }

    /// Push pending TLS records to the socket until it would block.
    fn flush_tls(&mut self) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) => flush_tls_records(tls, &mut self.socket),
            None => Ok(()),
        }
    }

    /// Read plaintext: `Ok(0)` is end of stream, `WouldBlock` means wait for an event.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return loop {
                match self.socket.read(buf) {
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                // A peer that closes TCP without close_notify: HTTP framing still
                // tells a complete body from a truncated one.
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(err) => return Err(err),
            }
            match tls.read_tls(&mut self.socket) {
                Ok(0) => {
                    // The reader now reports the close (or delivers what is left).
                    if let Err(err) = tls.process_new_packets() {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                    }
                    return match tls.reader().read(buf) {
                        Ok(n) => Ok(n),
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(0),
                        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                        Err(err) => Err(err),
                    };
                }
                Ok(_) => {
                    if let Err(err) = tls.process_new_packets() {
                        // Try to tell the peer (alert) before giving up.
                        let _ = tls.write_tls(&mut self.socket);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                    }
                    // Handshake messages may need an answer.
                    flush_tls_records(tls, &mut self.socket)?;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Register interest in writability only when something waits to be written.
    fn update_interest(&mut self, registry: &Registry, token: Token, want_write: bool) {
        let tls_wants_write = self.tls.as_ref().is_some_and(|tls| tls.wants_write());
        let interest = if self.connecting || want_write || tls_wants_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if interest != self.interest {
            if let Err(err) = registry.reregister(&mut self.socket, token, interest) {
                log::warn!("http: reregister failed: {err}");
            }
            self.interest = interest;
        }
    }

    fn close(mut self, registry: &Registry) {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
        }
        let _ = self.flush_tls();
        let _ = registry.deregister(&mut self.socket);
    }
}

fn flush_tls_records(tls: &mut ClientConnection, socket: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(socket) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

fn tls_session(config: &Arc<ClientConfig>, host: &str) -> Result<ClientConnection, HttpError> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| HttpError::InvalidUrl(format!("host {host}")))?;
    ClientConnection::new(config.clone(), name).map_err(|err| HttpError::Tls(err.to_string()))
}

/// The HTTP state of the exchange under way.
enum Phase {
    /// The request head (`Exchange::head`) is to be written.
    SendHead,
    /// The head went out with `Expect: 100-continue`: waiting for the interim
    /// response, or `continue_deadline`, before the body.
    Await100,
    SendBody,
    RecvHead,
    RecvBody(BodyReader),
}

/// What to do once the current response is fully read.
enum AfterResponse {
    Deliver,
    Authenticate(Challenge),
    Redirect(Target),
}

/// Where the body of the current response goes.
enum Sink {
    Memory(Vec<u8>),
    File { file: File, path: PathBuf, len: u64 },
    Discard(u64),
}

impl Sink {
    fn accept(&mut self, data: &[u8], memory_cap: usize) -> Result<(), HttpError> {
        match self {
            Sink::Memory(buf) => {
                if buf.len().saturating_add(data.len()) > memory_cap {
                    return Err(HttpError::ResponseTooLarge);
                }
                buf.extend_from_slice(data);
            }
            Sink::File { file, len, .. } => {
                file.write_all(data)?;
                *len += data.len() as u64;
            }
            Sink::Discard(len) => {
                *len += data.len() as u64;
                if *len > MAX_DISCARDED_BODY {
                    return Err(HttpError::ResponseTooLarge);
                }
            }
        }
        Ok(())
    }
}

/// Credentials answer remembered for the origin that challenged us.
enum AuthAnswer {
    Basic(String),
    Digest(DigestClient),
}

struct SessionAuth {
    origin: Origin,
    answer: AuthAnswer,
}

/// State of the exchange under way.
struct Exchange {
    request: Request,
    target: Target,
    redirects: u8,
    /// We already answered a 401 of this request with fresh credentials.
    answered_challenge: bool,
    /// Already resent once over a new connection after a stale keep-alive.
    reconnected: bool,
    /// Any response byte arrived in this attempt.
    got_response_bytes: bool,
    body_offset: u64,
    body_file: Option<File>,
    body_len: u64,
    /// The request head of this attempt, until it is written.
    head: Vec<u8>,
    /// The head asks for `100 Continue` before the body.
    expect_continue: bool,
    /// The server answered before the body was sent: the connection cannot be reused.
    body_skipped: bool,
    /// The response ends the connection (`Connection: close`, HTTP/1.0, close-delimited body).
    must_close: bool,
    phase: Option<Phase>,
    status: u16,
    headers: Vec<(String, String)>,
    after: AfterResponse,
    sink: Sink,
    /// Undoes the response's `Content-Encoding` before the sink.
    decoder: Option<Decoder>,
    io_deadline: Instant,
    continue_deadline: Option<Instant>,
    /// When the exchange as a whole must be over (`exchange_timeout`).
    overall_deadline: Option<Instant>,
    /// Interim (1xx) responses received so far.
    interim_responses: u32,
}

/// The non-blocking HTTP client; see the module documentation.
pub struct HttpClient {
    config: HttpConfig,
    /// Built once in `new()`: loading roots reads files.
    tls_config: Arc<ClientConfig>,
    token: Token,
    conn: Option<Connection>,
    exchange: Option<Exchange>,
    cookies: CookieJar,
    auth: Option<SessionAuth>,
    in_buf: Vec<u8>,
    out_buf: Vec<u8>,
    out_pos: usize,
    scratch: Vec<u8>,
    /// More work is ready without waiting for the socket (budget exhausted or just started).
    run_again: bool,
    last_now: Option<Instant>,
    /// A host name lookup in progress for the current exchange.
    lookup: Option<Lookup>,
    /// Addresses a finished lookup found, for the attempt it was made for.
    resolved: Option<(Origin, Vec<SocketAddr>)>,
}

impl HttpClient {
    /// Build the client; reads the CA roots (once) when TLS verification is on.
    pub fn new(config: HttpConfig) -> Result<HttpClient, HttpError> {
        let tls_config = tls::client_config(config.ssl_capath.as_deref(), config.insecure_enable)?;
        Ok(HttpClient {
            config,
            tls_config,
            token: Token(0),
            conn: None,
            exchange: None,
            cookies: CookieJar::new(),
            auth: None,
            in_buf: Vec::new(),
            out_buf: Vec::with_capacity(CHUNK),
            out_pos: 0,
            scratch: vec![0; CHUNK],
            run_again: false,
            last_now: None,
            lookup: None,
            resolved: None,
        })
    }

    /// Change the ACS credentials (e.g. after SetParameterValues on ManagementServer.Username).
    pub fn set_credentials(&mut self, credentials: Option<Credentials>) {
        self.config.credentials = credentials;
        self.auth = None;
    }

    /// Forget the session's cookies (end of a CWMP session).
    pub fn clear_cookies(&mut self) {
        self.cookies.clear();
    }

    /// An exchange is under way.
    pub fn is_busy(&self) -> bool {
        self.exchange.is_some()
    }

    /// The token the connection is registered with.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Begin an exchange. Its outcome comes from `handle_event` / `handle_timeout`;
    /// `poll_at()` is due at once so the loop drives the first step.
    pub fn start(
        &mut self,
        registry: &Registry,
        token: Token,
        request: Request,
        now: Instant,
    ) -> Result<(), HttpError> {
        if self.exchange.is_some() {
            return Err(HttpError::Busy);
        }
        let target = parse_url(&request.url)?;
        let request = compress_request(request, self.config.compression);
        if token != self.token {
            if let Some(conn) = self.conn.take() {
                conn.close(registry);
            }
            self.token = token;
        }
        self.exchange = Some(Exchange {
            request,
            target,
            redirects: 0,
            answered_challenge: false,
            reconnected: false,
            got_response_bytes: false,
            body_offset: 0,
            body_file: None,
            body_len: 0,
            head: Vec::new(),
            expect_continue: false,
            body_skipped: false,
            must_close: false,
            phase: None,
            status: 0,
            headers: Vec::new(),
            after: AfterResponse::Deliver,
            sink: Sink::Discard(0),
            decoder: None,
            io_deadline: now,
            continue_deadline: None,
            overall_deadline: self.config.exchange_timeout.map(|t| now + t),
            interim_responses: 0,
        });
        if let Err(err) = self.begin_attempt(registry, now) {
            self.exchange = None;
            return Err(err);
        }
        Ok(())
    }

    /// Next instant at which `handle_timeout` must run; `None` when idle.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.run_again {
            return self.last_now;
        }
        let exchange = self.exchange.as_ref()?;
        let io_deadline = exchange
            .overall_deadline
            .map_or(exchange.io_deadline, |t| t.min(exchange.io_deadline));
        if self.lookup.is_some() {
            let next_check = self.last_now.map(|t| t + LOOKUP_POLL);
            return Some(next_check.map_or(io_deadline, |t| t.min(io_deadline)));
        }
        Some(match exchange.continue_deadline {
            Some(deadline) => deadline.min(io_deadline),
            None => io_deadline,
        })
    }

    /// Handle a readiness event; `None` if it was not ours or the exchange goes on.
    pub fn handle_event(
        &mut self,
        registry: &Registry,
        event: &Event,
        now: Instant,
    ) -> Option<HttpOutcome> {
        if event.token() != self.token {
            return None;
        }
        self.drive(registry, now)
    }

    /// Run due timers (connect, idle, 100-continue) and pending work.
    pub fn handle_timeout(&mut self, registry: &Registry, now: Instant) -> Option<HttpOutcome> {
        self.last_now = Some(now);
        let within_overall = self
            .exchange
            .as_ref()
            .and_then(|e| e.overall_deadline)
            .is_none_or(|t| now < t);
        if self.lookup.is_some() && within_overall {
            return self.poll_lookup(registry, now);
        }
        let exchange = self.exchange.as_mut()?;
        if exchange.overall_deadline.is_some_and(|t| now >= t) {
            self.lookup = None;
            return self.fail(registry, now, HttpError::Timeout("completing the exchange"));
        }
        if let Some(deadline) = exchange.continue_deadline {
            if now >= deadline {
                exchange.continue_deadline = None;
                if let Some(Phase::Await100) = exchange.phase {
                    exchange.phase = Some(Phase::SendBody);
                    self.run_again = true;
                }
            }
        }
        let exchange = self.exchange.as_ref()?;
        if now >= exchange.io_deadline {
            let connecting = self.conn.as_ref().is_some_and(|conn| conn.connecting);
            let phase = if connecting {
                "connecting"
            } else {
                match exchange.phase {
                    Some(Phase::SendHead) | Some(Phase::SendBody) => "sending the request",
                    _ => "waiting for the response",
                }
            };
            if connecting && self.try_next_address(registry, now) {
                return None;
            }
            return self.fail(registry, now, HttpError::Timeout(phase));
        }
        if self.run_again {
            return self.drive(registry, now);
        }
        None
    }

    /// Drop the connection and any exchange (end of session); also forgets the
    /// cached authentication, whose nonce a new session would not reuse.
    pub fn close(&mut self, registry: &Registry) {
        if let Some(conn) = self.conn.take() {
            conn.close(registry);
        }
        self.lookup = None;
        self.resolved = None;
        self.exchange = None;
        self.auth = None;
        self.run_again = false;
        self.in_buf.clear();
        self.reset_output();
    }

    fn reset_output(&mut self) {
        self.out_buf.clear();
        self.out_pos = 0;
    }

    /// (Re)start the current exchange's request on a suitable connection.
    fn begin_attempt(&mut self, registry: &Registry, now: Instant) -> Result<(), HttpError> {
        self.in_buf.clear();
        self.reset_output();
        let Some(origin) = self.exchange.as_ref().map(|ex| ex.target.origin.clone()) else {
            return Ok(());
        };
        let reusable = self
            .conn
            .as_ref()
            .is_some_and(|conn| conn.origin == origin && !conn.eof);
        if !reusable {
            if let Some(conn) = self.conn.take() {
                conn.close(registry);
            }
            let cached = match self.resolved.take() {
                Some((resolved_for, addrs)) if resolved_for == origin => Some(addrs),
                _ => None,
            };
            let addrs = match cached {
                Some(addrs) => addrs,
                None if origin.host.parse::<IpAddr>().is_ok() => {
                    resolve(&origin.host, origin.port, self.config.ipv6_enable)?
                }
                None => match Lookup::start(&origin, self.config.ipv6_enable) {
                    Some(lookup) => {
                        // The attempt resumes in poll_lookup once the name is resolved.
                        self.lookup = Some(lookup);
                        if let Some(exchange) = self.exchange.as_mut() {
                            exchange.io_deadline = now + self.config.connect_timeout;
                        }
                        self.last_now = Some(now);
                        return Ok(());
                    }
                    None => resolve(&origin.host, origin.port, self.config.ipv6_enable)?,
                },
            };
            let tls_config = origin.https.then_some(&self.tls_config);
            self.conn = Some(Connection::open(
                origin, addrs, tls_config, registry, self.token,
            )?);
        }
        let Some(exchange) = self.exchange.as_mut() else {
            return Ok(());
        };

        // Body source, opened afresh for each attempt so a resend starts at byte 0.
        exchange.body_offset = 0;
        exchange.body_file = None;
        exchange.body_len = match &exchange.request.body {
            RequestBody::Empty => 0,
            RequestBody::Memory(data) => data.len() as u64,
            RequestBody::File(path) => {
                let file = File::open(path)?;
                let len = file.metadata()?.len();
                exchange.body_file = Some(file);
                len
            }
        };
        exchange.got_response_bytes = false;
        exchange.status = 0;
        exchange.headers.clear();
        exchange.after = AfterResponse::Deliver;
        exchange.sink = Sink::Discard(0);
        exchange.decoder = None;
        exchange.continue_deadline = None;
        exchange.body_skipped = false;
        exchange.must_close = false;

        let (head, expect_continue) =
            build_head(&self.config, exchange, &self.cookies, self.auth.as_mut())?;
        exchange.head = head;
        exchange.expect_continue = expect_continue;
        exchange.phase = Some(Phase::SendHead);
        let connecting = self.conn.as_ref().is_some_and(|conn| conn.connecting);
        exchange.io_deadline = now
            + if connecting {
                self.config.connect_timeout
            } else {
                self.config.idle_timeout
            };
        self.run_again = true;
        self.last_now = Some(now);
        Ok(())
    }

    /// Checks the pending lookup: on an answer the attempt goes on, on an
    /// error or past the connect timeout the exchange fails.
    fn poll_lookup(&mut self, registry: &Registry, now: Instant) -> Option<HttpOutcome> {
        let lookup = self.lookup.as_ref()?;
        let deadline = self.exchange.as_ref().map_or(now, |e| e.io_deadline);
        let error = match lookup.take() {
            Some(Ok(addrs)) => {
                self.resolved = Some((lookup.origin.clone(), addrs));
                self.lookup = None;
                match self.begin_attempt(registry, now) {
                    Ok(()) => return None,
                    Err(err) => err,
                }
            }
            Some(Err(err)) => err,
            None if now < deadline => return None,
            None => HttpError::Timeout("resolving the host name"),
        };
        self.lookup = None;
        self.exchange = None;
        Some(HttpOutcome::Error(error))
    }

    /// After a failed connect, try the next resolved address. `true` if one is under way.
    fn try_next_address(&mut self, registry: &Registry, now: Instant) -> bool {
        let Some(conn) = self.conn.take() else {
            return false;
        };
        if !conn.connecting || conn.spare_addrs.is_empty() {
            self.conn = Some(conn);
            return false;
        }
        let origin = conn.origin.clone();
        let spare = conn.spare_addrs.clone();
        conn.close(registry);
        let tls_config = origin.https.then_some(&self.tls_config);
        match Connection::open(origin, spare, tls_config, registry, self.token) {
            Ok(conn) => {
                self.conn = Some(conn);
                if let Some(exchange) = self.exchange.as_mut() {
                    exchange.io_deadline = now + self.config.connect_timeout;
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Drive until the socket would block, the budget is spent, or the exchange ends.
    fn drive(&mut self, registry: &Registry, now: Instant) -> Option<HttpOutcome> {
        self.last_now = Some(now);
        self.run_again = false;
        if self.exchange.is_none() {
            self.watch_idle_connection(registry);
            return None;
        }
        let result = self.step(registry, now);
        match result {
            Ok(Some(outcome)) => Some(outcome),
            Ok(None) => {
                let want_write = self.out_pos < self.out_buf.len();
                let token = self.token;
                if let Some(conn) = self.conn.as_mut() {
                    conn.update_interest(registry, token, want_write);
                }
                None
            }
            Err(err) => self.fail(registry, now, err),
        }
    }

    /// An idle keep-alive connection became readable: the server closed it (or sent junk).
    fn watch_idle_connection(&mut self, registry: &Registry) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        // End of stream, stray bytes outside any exchange (out of sync) or an error
        // all mean the connection is unusable; only "would block" keeps it.
        let closed = !matches!(
            conn.read(&mut self.scratch),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock
        );
        if closed {
            if let Some(conn) = self.conn.take() {
                conn.close(registry);
            }
        }
    }

    /// Handle an error: retry on a new connection or report it.
    fn fail(&mut self, registry: &Registry, now: Instant, err: HttpError) -> Option<HttpOutcome> {
        let exchange = self.exchange.as_ref()?;
        let may_resend = !exchange.got_response_bytes && !exchange.reconnected;
        let conn_reused = self.conn.as_ref().is_some_and(|conn| conn.reused);
        let connecting = self.conn.as_ref().is_some_and(|conn| conn.connecting);
        if connecting
            && matches!(err, HttpError::Connect(_))
            && self.try_next_address(registry, now)
        {
            return None;
        }
        // A keep-alive connection the server closed while idle shows up as a write
        // error or an early end of stream: resend once on a fresh connection.
        let stale_keep_alive = conn_reused && may_resend && matches!(err, HttpError::Io(_));
        if let Some(conn) = self.conn.take() {
            conn.close(registry);
        }
        if stale_keep_alive {
            if let Some(exchange) = self.exchange.as_mut() {
                exchange.reconnected = true;
            }
            match self.begin_attempt(registry, now) {
                Ok(()) => return None,
                Err(err) => {
                    self.exchange = None;
                    return Some(HttpOutcome::Error(err));
                }
            }
        }
        self.exchange = None;
        self.in_buf.clear();
        self.reset_output();
        Some(HttpOutcome::Error(err))
    }

    /// One drive: connect, write, read and parse until nothing moves.
    fn step(
        &mut self,
        registry: &Registry,
        now: Instant,
    ) -> Result<Option<HttpOutcome>, HttpError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(HttpError::Io("no connection".to_string()));
        };
        let was_connecting = conn.connecting;
        if !conn.check_connected()? {
            return Ok(None);
        }
        if was_connecting {
            // Connected: from now on the idle timeout applies instead of the connect timeout.
            if let Some(exchange) = self.exchange.as_mut() {
                exchange.io_deadline = now + self.config.idle_timeout;
            }
        }
        let mut read_total = 0usize;
        loop {
            let mut progressed = self.produce_output(now)?;
            progressed |= self.flush_output(now)?;
            let (read, eof) = self.read_input(now)?;
            read_total += read;
            progressed |= read > 0;
            // Input may have arrived while the request was still being sent: a phase
            // change or consumed input means another round is needed.
            let before = (self.phase_tag(), self.in_buf.len());
            if let Some(outcome) = self.consume_input(registry, now, eof)? {
                return Ok(Some(outcome));
            }
            progressed |= before != (self.phase_tag(), self.in_buf.len());
            if self.exchange.is_none() {
                return Ok(None);
            }
            if read_total >= READ_BUDGET {
                self.run_again = true;
                return Ok(None);
            }
            if !progressed {
                return Ok(None);
            }
        }
    }

    /// Which phase the exchange is in (to detect progress).
    fn phase_tag(&self) -> u8 {
        match self
            .exchange
            .as_ref()
            .and_then(|exchange| exchange.phase.as_ref())
        {
            None => 0,
            Some(Phase::SendHead) => 1,
            Some(Phase::Await100) => 2,
            Some(Phase::SendBody) => 3,
            Some(Phase::RecvHead) => 4,
            Some(Phase::RecvBody(_)) => 5,
        }
    }

    /// Fill the output buffer from the HTTP state when it is empty. `true` if bytes were added.
    fn produce_output(&mut self, now: Instant) -> Result<bool, HttpError> {
        if self.out_pos < self.out_buf.len() {
            return Ok(false);
        }
        self.reset_output();
        let Some(exchange) = self.exchange.as_mut() else {
            return Ok(false);
        };
        match exchange.phase {
            Some(Phase::SendHead) => {
                self.out_buf.append(&mut exchange.head);
                exchange.phase = Some(if exchange.body_len == 0 {
                    Phase::RecvHead
                } else if exchange.expect_continue {
                    exchange.continue_deadline = Some(now + self.config.continue_timeout);
                    Phase::Await100
                } else {
                    Phase::SendBody
                });
                Ok(!self.out_buf.is_empty())
            }
            Some(Phase::SendBody) => {
                if exchange.body_offset >= exchange.body_len {
                    exchange.phase = Some(Phase::RecvHead);
                    return Ok(false);
                }
                let chunk_len = next_body_chunk(exchange, &mut self.scratch)?;
                if chunk_len == 0 {
                    return Err(HttpError::Io("request body shorter than its length".into()));
                }
                let input = match &exchange.request.body {
                    RequestBody::Memory(data) => {
                        let start = usize::try_from(exchange.body_offset).unwrap_or(usize::MAX);
                        data.get(start..start.saturating_add(chunk_len))
                            .unwrap_or(&[])
                    }
                    _ => self.scratch.get(..chunk_len).unwrap_or(&[]),
                };
                self.out_buf.extend_from_slice(input);
                exchange.body_offset += input.len() as u64;
                Ok(!input.is_empty())
            }
            _ => Ok(false),
        }
    }

    /// Write pending output. `true` if any byte went out.
    fn flush_output(&mut self, now: Instant) -> Result<bool, HttpError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(false);
        };
        let mut progressed = false;
        while self.out_pos < self.out_buf.len() {
            let pending = self.out_buf.get(self.out_pos..).unwrap_or(&[]);
            let written = conn.write(pending)?;
            if written == 0 {
                break;
            }
            self.out_pos += written;
            progressed = true;
        }
        conn.flush_tls()?;
        if progressed {
            if let Some(exchange) = self.exchange.as_mut() {
                exchange.io_deadline = now + self.config.idle_timeout;
            }
        }
        Ok(progressed)
    }

    /// Read what the socket has (bounded by the input buffer). Returns (bytes, end of stream).
    fn read_input(&mut self, now: Instant) -> Result<(usize, bool), HttpError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok((0, true));
        };
        let mut total = 0;
        while !conn.eof && self.in_buf.len() < MAX_RESPONSE_HEAD && total < READ_BUDGET {
            crate::slices::pause_point();
            match conn.read(&mut self.scratch) {
                Ok(0) => conn.eof = true,
                Ok(n) => {
                    self.in_buf
                        .extend_from_slice(self.scratch.get(..n).unwrap_or(&[]));
                    total += n;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(err.into()),
            }
        }
        if total > 0 {
            if let Some(exchange) = self.exchange.as_mut() {
                exchange.got_response_bytes = true;
                exchange.io_deadline = now + self.config.idle_timeout;
            }
        }
        Ok((total, conn.eof))
    }

    /// Feed input to the HTTP state; returns the outcome when the exchange is over.
    fn consume_input(
        &mut self,
        registry: &Registry,
        now: Instant,
        eof: bool,
    ) -> Result<Option<HttpOutcome>, HttpError> {
        let Some(exchange) = self.exchange.as_mut() else {
            return Ok(None);
        };
        let Some(phase) = exchange.phase.take() else {
            return Ok(None);
        };
        let next = match phase {
            Phase::Await100 => match wire::parse_response_head(&self.in_buf, wire::MAX_HEADERS)? {
                Some((used, head)) if is_interim(&head) => {
                    self.in_buf.drain(..used.min(self.in_buf.len()));
                    if head.status == 100 {
                        exchange.continue_deadline = None;
                        Phase::SendBody
                    } else {
                        Phase::Await100
                    }
                }
                Some(_) => {
                    // A final answer before the body: the body is not sent.
                    exchange.continue_deadline = None;
                    exchange.body_skipped = true;
                    Phase::RecvHead
                }
                None if eof => {
                    exchange.continue_deadline = None;
                    Phase::SendBody
                }
                None => Phase::Await100,
            },
            Phase::RecvHead => {
                // Interim (1xx) responses are passed over: loop past a few of them.
                let head = loop {
                    let Some((used, head)) =
                        wire::parse_response_head(&self.in_buf, wire::MAX_HEADERS)?
                    else {
                        break None;
                    };
                    self.in_buf.drain(..used.min(self.in_buf.len()));
                    if !is_interim(&head) {
                        break Some(head);
                    }
                    exchange.interim_responses += 1;
                    if exchange.interim_responses > MAX_INTERIM_RESPONSES {
                        return Err(HttpError::Protocol(format!(
                            "more than {MAX_INTERIM_RESPONSES} interim (1xx) responses"
                        )));
                    }
                };
                let Some(head) = head else {
                    if self.in_buf.len() >= MAX_RESPONSE_HEAD {
                        return Err(HttpError::Protocol("response head too large".into()));
                    }
                    if eof {
                        return Err(HttpError::Io(
                            "connection closed before the response".into(),
                        ));
                    }
                    exchange.phase = Some(Phase::RecvHead);
                    return Ok(None);
                };
                // 101 Switching Protocols: nothing of HTTP follows on this connection.
                let reader = match head.status {
                    101 => BodyReader::Empty,
                    _ => BodyReader::for_response(&head).map_err(protocol_error)?,
                };
                let headers = &head.headers;
                exchange.must_close = exchange.body_skipped
                    || head.status == 101
                    || headers.has_token("connection", "close")
                    || (head.http10 && !headers.has_token("connection", "keep-alive"))
                    || reader == BodyReader::UntilClose;
                on_response_head(exchange, &head, &self.config, &mut self.cookies)?;
                if reader.is_done() {
                    let must_close = exchange.must_close;
                    return self.complete(registry, now, must_close);
                }
                if let (BodyReader::Length(len), Sink::Memory(buf)) = (&reader, &mut exchange.sink)
                {
                    if *len > self.config.max_response_body as u64 {
                        return Err(HttpError::ResponseTooLarge);
                    }
                    // One allocation up front: no copying regrowth mid-body.
                    buf.reserve_exact(usize::try_from(*len).unwrap_or(0));
                }
                Phase::RecvBody(reader)
            }
            Phase::RecvBody(mut reader) => {
                loop {
                    crate::slices::pause_point();
                    let (used, produced) = reader
                        .read(&self.in_buf, &mut self.scratch)
                        .map_err(protocol_error)?;
                    self.in_buf.drain(..used.min(self.in_buf.len()));
                    let data = self.scratch.get(..produced).unwrap_or(&[]);
                    accept_body(exchange, data, self.config.max_response_body)?;
                    if used == 0 && produced == 0 {
                        break;
                    }
                }
                let ended = match reader {
                    BodyReader::UntilClose => eof,
                    _ => reader.is_done(),
                };
                if ended {
                    if let Some(decoder) = &exchange.decoder {
                        decoder.finish()?;
                    }
                    let must_close = exchange.must_close;
                    return self.complete(registry, now, must_close);
                }
                if eof {
                    return Err(HttpError::Io(
                        "connection closed in the response body".into(),
                    ));
                }
                Phase::RecvBody(reader)
            }
            other => other,
        };
        exchange.phase = Some(next);
        Ok(None)
    }

    /// The response is fully read: deliver it or resend the request.
    fn complete(
        &mut self,
        registry: &Registry,
        now: Instant,
        must_close: bool,
    ) -> Result<Option<HttpOutcome>, HttpError> {
        if must_close || !self.in_buf.is_empty() {
            if let Some(conn) = self.conn.take() {
                conn.close(registry);
            }
        } else if let Some(conn) = self.conn.as_mut() {
            conn.reused = true;
        }
        let Some(mut exchange) = self.exchange.take() else {
            return Ok(None);
        };
        match std::mem::replace(&mut exchange.after, AfterResponse::Deliver) {
            AfterResponse::Deliver => {
                let body = match std::mem::replace(&mut exchange.sink, Sink::Discard(0)) {
                    Sink::Memory(data) => ResponseBody::Memory(data),
                    Sink::File { file, path, len } => {
                        file.sync_all()?;
                        ResponseBody::File { path, len }
                    }
                    Sink::Discard(_) => ResponseBody::Memory(Vec::new()),
                };
                self.in_buf.clear();
                Ok(Some(HttpOutcome::Response(Response {
                    status: exchange.status,
                    headers: exchange.headers,
                    body,
                    url: exchange.target.url.to_string(),
                })))
            }
            AfterResponse::Authenticate(challenge) => {
                let Some(credentials) = self.config.credentials.as_ref() else {
                    return Err(HttpError::AuthFailed);
                };
                let answer = match challenge {
                    Challenge::Basic { .. } => {
                        AuthAnswer::Basic(digest::basic_authorization(credentials))
                    }
                    Challenge::Digest(digest_challenge) => {
                        AuthAnswer::Digest(DigestClient::new(digest_challenge))
                    }
                };
                self.auth = Some(SessionAuth {
                    origin: exchange.target.origin.clone(),
                    answer,
                });
                exchange.answered_challenge = true;
                self.exchange = Some(exchange);
                self.begin_attempt(registry, now)?;
                Ok(None)
            }
            AfterResponse::Redirect(target) => {
                exchange.redirects += 1;
                exchange.target = target;
                exchange.answered_challenge = false;
                exchange.reconnected = false;
                self.exchange = Some(exchange);
                self.begin_attempt(registry, now)?;
                Ok(None)
            }
        }
    }
}

/// Whether a response is interim (1xx), to be passed over; 101 ends HTTP on the connection instead.
fn is_interim(head: &ResponseHead) -> bool {
    head.status < 200 && head.status != 101
}

fn protocol_error(detail: &str) -> HttpError {
    HttpError::Protocol(detail.to_string())
}

/// Decide from the status line and headers what the response is for.
fn on_response_head(
    exchange: &mut Exchange,
    head: &ResponseHead,
    config: &HttpConfig,
    cookies: &mut CookieJar,
) -> Result<(), HttpError> {
    exchange.status = head.status;
    let version = if head.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    log::debug!("{version} {} {}", head.status, head.reason);
    exchange.headers = head.headers.0.clone();
    // Fields this client interprets must be plain ASCII text.
    let text_values = |name| head.headers.all(name).filter(|value| value.is_ascii());
    let target = &exchange.target;
    for value in text_values("set-cookie") {
        cookies.store(value, &target.origin.host, target.cookie_path());
    }
    let status = exchange.status;
    if status == 401 {
        if exchange.answered_challenge || config.credentials.is_none() {
            return Err(HttpError::AuthFailed);
        }
        let challenges: Vec<Challenge> = text_values("www-authenticate")
            .flat_map(digest::parse_www_authenticate)
            .collect();
        let challenge = digest::choose_challenge(&challenges).ok_or(HttpError::AuthFailed)?;
        exchange.after = AfterResponse::Authenticate(challenge.clone());
        exchange.sink = Sink::Discard(0);
        return Ok(());
    }
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        if let Some(location) = text_values("location").next() {
            if exchange.redirects >= config.max_redirects {
                return Err(HttpError::TooManyRedirects);
            }
            exchange.after = AfterResponse::Redirect(join_location(&exchange.target, location)?);
            exchange.sink = Sink::Discard(0);
            return Ok(());
        }
    }
    exchange.after = AfterResponse::Deliver;
    let coding = match head.headers.get("content-encoding") {
        Some(value) => ContentCoding::from_header(value)?,
        None => None,
    };
    exchange.decoder = coding.map(|coding| {
        // A decoded body in memory obeys the same cap as a plain one.
        let limit = match exchange.request.sink {
            BodySink::Memory => config.max_response_body as u64,
            BodySink::File(_) => u64::MAX,
        };
        Decoder::new(coding, limit)
    });
    exchange.sink = match &exchange.request.sink {
        BodySink::Memory => Sink::Memory(Vec::new()),
        BodySink::File(path) => Sink::File {
            file: File::create(path)?,
            path: path.clone(),
            len: 0,
        },
    };
    Ok(())
}

/// The request head for the exchange's current target, and whether it asks
/// for `100 Continue`.
///
/// Redirects keep the method and body (TR-069 3.4.5: the CPE resends the
/// message to the new URL; icwmp sets curl's POSTREDIR_ALL), unlike browsers.
fn build_head(
    config: &HttpConfig,
    exchange: &Exchange,
    cookies: &CookieJar,
    auth: Option<&mut SessionAuth>,
) -> Result<(Vec<u8>, bool), HttpError> {
    let request = &exchange.request;
    let target = &exchange.target;
    let mut fields: Vec<(&str, String)> = vec![("user-agent", config.user_agent.clone())];
    let expect_continue = request.method != Method::Get
        && exchange.body_len > 0
        && !config.http_disable_100continue
        && exchange.body_len >= config.expect_continue_min_body;
    if request.method != Method::Get {
        fields.push(("content-length", exchange.body_len.to_string()));
        if let Some(content_type) = &request.content_type {
            fields.push(("content-type", content_type.clone()));
        }
        if expect_continue {
            fields.push(("expect", "100-continue".to_string()));
        }
    }
    if config.compression.is_some() {
        fields.push(("accept-encoding", "gzip, deflate".to_string()));
    }
    for (name, value) in &request.headers {
        fields.push((name.as_str(), value.clone()));
    }
    let origin = &target.origin;
    if let Some(cookie) = cookies.header_for(&origin.host, target.cookie_path(), origin.https) {
        fields.push(("cookie", cookie));
    }
    if let (Some(auth), Some(credentials)) = (auth, config.credentials.as_ref()) {
        if auth.origin == *origin {
            let value = match &mut auth.answer {
                AuthAnswer::Basic(value) => value.clone(),
                AuthAnswer::Digest(client) => {
                    let cnonce = random16()
                        .map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
                        .ok_or_else(|| HttpError::Io("no randomness for cnonce".into()))?;
                    client.authorization(
                        credentials,
                        request.method.as_str(),
                        &target.url.path,
                        &cnonce,
                    )
                }
            };
            fields.push(("authorization", value));
        }
    }
    if let Some((name, _)) = fields
        .iter()
        .find(|(name, value)| !wire::valid_field(name, value))
    {
        return Err(HttpError::Protocol(format!(
            "invalid request header {name}"
        )));
    }
    let method = request.method.as_str();
    let pairs = || fields.iter().map(|(name, value)| (*name, value.as_str()));
    let mut head = Vec::new();
    wire::write_request_head(&mut head, method, &target.url, pairs());
    if head.len() > CHUNK {
        return Err(HttpError::Protocol("request header too long".to_string()));
    }
    if log::log_enabled!(log::Level::Debug) {
        let host = [("host", target.url.host_header())];
        let line = redact::request_head(
            method,
            &target.url.to_string(),
            host.into_iter().chain(pairs()),
        );
        log::debug!("{line}");
    }
    Ok((head, expect_continue))
}

/// The request with its in-memory body compressed (and `Content-Encoding`
/// set) when a coding is configured; other requests as they are.
fn compress_request(mut request: Request, coding: Option<ContentCoding>) -> Request {
    if let (Some(coding), RequestBody::Memory(body)) = (coding, &request.body) {
        if !body.is_empty() {
            request.body = RequestBody::Memory(content_coding::compress(coding, body));
            request
                .headers
                .push(("Content-Encoding".to_string(), coding.token().to_string()));
        }
    }
    request
}

/// Passes received body bytes to the sink, through the decoder when the
/// response has a `Content-Encoding`.
fn accept_body(exchange: &mut Exchange, data: &[u8], memory_cap: usize) -> Result<(), HttpError> {
    let Some(decoder) = exchange.decoder.as_mut() else {
        return exchange.sink.accept(data, memory_cap);
    };
    let mut decoded = Vec::new();
    let mut used = 0;
    // Each turn takes input or yields output; a stalled decoder ends the loop.
    loop {
        let taken = decoder.feed(data.get(used..).unwrap_or(&[]), &mut decoded)?;
        used += taken;
        exchange.sink.accept(&decoded, memory_cap)?;
        let stalled = taken == 0 && decoded.is_empty();
        decoded.clear();
        if stalled {
            return Ok(());
        }
    }
}

/// Prepare the next piece of request body: for files, read it into `scratch`.
/// Returns how many body bytes are available at `body_offset`.
fn next_body_chunk(exchange: &mut Exchange, scratch: &mut [u8]) -> Result<usize, HttpError> {
    let left = exchange.body_len.saturating_sub(exchange.body_offset);
    let want = usize::try_from(left)
        .unwrap_or(usize::MAX)
        .min(scratch.len());
    match (&exchange.request.body, exchange.body_file.as_mut()) {
        (RequestBody::File(_), Some(file)) => {
            let buf = scratch.get_mut(..want).unwrap_or(&mut []);
            loop {
                match file.read(buf) {
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    other => return Ok(other?),
                }
            }
        }
        (RequestBody::Memory(_), _) => Ok(want),
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let target = parse_url("https://[::1]:8443/acs?x=1").unwrap();
        assert_eq!(
            target.origin,
            Origin {
                https: true,
                host: "::1".into(),
                port: 8443
            }
        );
        assert_eq!(target.url.path, "/acs?x=1");
        let target = parse_url("http://ACS.example").unwrap();
        assert_eq!(target.origin.port, 80);
        assert_eq!(target.origin.host, "acs.example");
        assert_eq!(target.url.path, "/");
        for bad in [
            "",
            "ftp://x/",
            "acs.example/path",
            "http://",
            "http://[/x",
            "gopher://[::1",
            "http://[::1",
            "http://acs.example/\nx",
            "http://acs.example\n/",
            "http://acs example/",
            "http://acs.example:99999/",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn joins_locations() {
        let base = parse_url("http://a.example:8080/acs/main?q").unwrap();
        let join = |loc: &str| join_location(&base, loc).unwrap().url.to_string();
        assert_eq!(join("https://b.example/x"), "https://b.example/x");
        assert_eq!(join("//c.example/y"), "http://c.example/y");
        assert_eq!(join("/root"), "http://a.example:8080/root");
        assert_eq!(join("other"), "http://a.example:8080/acs/other");
    }

    #[test]
    fn resolves_literals_without_dns_and_filters_ipv6() {
        assert_eq!(
            resolve("127.0.0.1", 80, false).unwrap(),
            vec!["127.0.0.1:80".parse::<SocketAddr>().unwrap()]
        );
        assert!(matches!(resolve("::1", 80, false), Err(HttpError::Dns(_))));
        assert_eq!(resolve("::1", 80, true).unwrap().len(), 1);
    }

    #[test]
    fn io_errors_carrying_tls_errors_map_to_tls() {
        let err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
        );
        assert!(
            matches!(HttpError::from(err), HttpError::Tls(detail) if detail.contains("NotValidForName"))
        );
        assert!(matches!(
            HttpError::from(io::Error::from(io::ErrorKind::ConnectionReset)),
            HttpError::Io(_)
        ));
    }
}
