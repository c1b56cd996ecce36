//! XMPP connection requests (TR-069 Annex K): a non-blocking XMPP client in the poll loop that answers connection-request IQs.
//!
//! The connection `ManagementServer.ConnReqXMPPConnection` names
//! (`Device.XMPP.Connection.{i}`, kept in the `xmpp` UCI package) is held
//! open: TCP, STARTTLS (rustls, verifying the server against
//! `cwmp.xmpp.ssl_capath` or the system roots, as the ACS client does), SASL
//! SCRAM-SHA-1 or PLAIN (PLAIN only over TLS unless `cwmp.xmpp.allow_plain`), resource binding and initial presence. A `connectionRequest` IQ
//! from an allowed JID with the connection-request credentials gets an empty
//! result and a `6 CONNECTION REQUEST` session (under the daemon's shared
//! limit; a request the limit would refuse gets `service-unavailable`), a
//! wrong password `not-authorized`, a JID outside ConnReqAllowedJabberIDs
//! `service-unavailable`. With KeepAliveInterval > 0 one whitespace goes to the
//! server per interval (RFC 6120 4.6.1): one wake-up per period, as no answer
//! comes back to read. A closed stream, a write the peer refuses or any error
//! reconnects after the TR-181 back-off (ServerRetryInitialInterval, IntervalMultiplier,
//! MaxInterval). Server addresses come from the enabled `Server.{i}` entries
//! (lowest Priority first; Weight is not used) or else from Domain on port
//! 5222; names are resolved on the ACS client's resolver worker. DNS SRV is
//! not queried (the system resolver has no SRV interface).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::http_client::{resolve, NameLookup, LOOKUP_POLL};
use super::random16;
use crate::config::backends::{CwmpStore, UciDir};
use crate::cwmp::conn_request_limit::ConnRequestLimit;
use crate::datamodel::config::{ConfigStore, UciBackend};
use crate::datamodel::schema::ModelKind;
use crate::datamodel::xmpp::{
    self as dm_xmpp, connection_section, connection_value, server_sections, server_value,
    SharedXmppStatus, XmppProvider,
};
use crate::service::{Context, Request, Service, Tokens};
use crate::wire::scram::{plain_response, ScramClient};
use crate::wire::xmpp::{
    emit, judge_connection_request, parse_stanza, ConnRequestVerdict, Features, Frame, IqKind,
    IqPayload, Stanza, StreamFramer,
};

/// How long connecting and logging in may take before the attempt counts as failed.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Reads per readiness event before the rest waits for the next turn.
const MAX_READS_PER_EVENT: usize = 64;
/// Most bytes waiting for a server that does not read (before TLS).
const MAX_UNSENT: usize = 64 * 1024;
/// The XMPP client port (RFC 6120 14.7) when a server entry or Domain gives none.
const DEFAULT_PORT: u16 = 5222;

/// One server to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerEntry {
    pub address: String,
    pub port: u16,
}

/// Everything the client needs, read from UCI (`xmpp` package and `cwmp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmppSettings {
    /// Instance number of the connection in `Device.XMPP.Connection.`.
    pub connection: u32,
    pub username: String,
    pub password: String,
    pub domain: String,
    pub resource: String,
    pub use_tls: bool,
    /// Seconds between keep-alive pings; 0 or less: none.
    pub keep_alive: i64,
    pub connect_attempts: u32,
    pub retry_initial: u32,
    pub retry_multiplier: u32,
    pub retry_max: u32,
    pub servers: Vec<ServerEntry>,
    pub ssl_capath: Option<PathBuf>,
    /// PLAIN without TLS (off: PLAIN only inside TLS).
    pub allow_plain: bool,
    /// ManagementServer.ConnReqAllowedJabberIDs.
    pub allowed_jids: Vec<String>,
    /// The connection-request credentials (`cpe.userid`, `cpe.passwd`).
    pub cr_username: String,
    pub cr_password: String,
}

/// Why no connection is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotRun {
    /// ConnReqXMPPConnection is empty or names no enabled connection.
    Disabled,
    /// The named connection lacks what a login needs.
    Misconfigured(String),
}

fn number<T: std::str::FromStr>(value: &str, default: T) -> T {
    value.trim().parse().unwrap_or(default)
}

impl XmppSettings {
    /// Reads the settings of the connection ConnReqXMPPConnection names.
    pub fn load(
        uci: &dyn UciBackend,
        cwmp: &dyn ConfigStore,
        cr_username: &str,
        cr_password: &str,
    ) -> Result<(u32, XmppSettings), (u32, NotRun)> {
        let reference = cwmp.get("xmpp", "connection").unwrap_or_default();
        let instance = reference
            .trim()
            .trim_end_matches('.')
            .strip_prefix("Device.XMPP.Connection.")
            .and_then(|n| n.parse::<u32>().ok());
        let Some(instance) = instance else {
            return Err((0, NotRun::Disabled));
        };
        let Some(section) = connection_section(uci, instance) else {
            return Err((0, NotRun::Disabled));
        };
        let value = |name: &str| connection_value(uci, &section, name);
        if value("Enable") != "1" {
            return Err((instance, NotRun::Disabled));
        }
        let mut servers: Vec<(u32, ServerEntry)> = server_sections(uci, instance)
            .into_iter()
            .filter(|s| server_value(uci, s, "Enable") == "1")
            .filter_map(|s| {
                let address = server_value(uci, &s, "ServerAddress");
                (!address.is_empty()).then(|| {
                    (
                        number(&server_value(uci, &s, "Priority"), 0),
                        ServerEntry {
                            address,
                            port: number(&server_value(uci, &s, "Port"), DEFAULT_PORT),
                        },
                    )
                })
            })
            .collect();
        servers.sort_by_key(|(priority, _)| *priority);
        let domain = value("Domain");
        let mut servers: Vec<ServerEntry> = servers.into_iter().map(|(_, s)| s).collect();
        if servers.is_empty() && !domain.is_empty() {
            servers.push(ServerEntry {
                address: domain.clone(),
                port: DEFAULT_PORT,
            });
        }
        let settings = XmppSettings {
            connection: instance,
            username: value("Username"),
            password: uci
                .get(dm_xmpp::PACKAGE, &section, "password")
                .unwrap_or_default(),
            domain,
            resource: value("Resource"),
            use_tls: value("UseTLS") == "1",
            keep_alive: number(&value("KeepAliveInterval"), -1),
            connect_attempts: number(&value("ServerConnectAttempts"), 16).max(1),
            retry_initial: number(&value("ServerRetryInitialInterval"), 60).max(1),
            retry_multiplier: number(&value("ServerRetryIntervalMultiplier"), 2000).max(1000),
            retry_max: number(&value("ServerRetryMaxInterval"), 30720).max(1),
            servers,
            ssl_capath: cwmp
                .get("xmpp", "ssl_capath")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            allow_plain: cwmp.get("xmpp", "allow_plain").is_some_and(|v| v == "1"),
            allowed_jids: cwmp
                .get("xmpp", "allowed_jid")
                .unwrap_or_default()
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            cr_username: cr_username.to_owned(),
            cr_password: cr_password.to_owned(),
        };
        if settings.username.is_empty() || settings.domain.is_empty() {
            return Err((
                instance,
                NotRun::Misconfigured("Username and Domain are required".into()),
            ));
        }
        Ok((instance, settings))
    }

    /// The wait before reconnection attempt `failures` (1 = the first):
    /// random in [0, min(initial · (multiplier/1000)^(failures-1), max)] seconds (TR-181).
    pub fn retry_wait(&self, failures: u32, random: u32) -> Duration {
        let mut bound = f64::from(self.retry_initial);
        let factor = f64::from(self.retry_multiplier) / 1000.0;
        for _ in 1..failures.min(64) {
            bound *= factor;
            if bound >= f64::from(self.retry_max) {
                break;
            }
        }
        let bound_ms = (bound.min(f64::from(self.retry_max)) * 1000.0) as u64;
        Duration::from_millis(u64::from(random) % bound_ms.saturating_add(1))
    }
}

/// Where the login is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Connecting,
    /// Stream opened; waiting for the server's header and features.
    Features,
    Proceed,
    /// SASL: SCRAM's first challenge, SCRAM's final message, or PLAIN's result.
    ScramChallenge,
    ScramFinal,
    PlainResult,
    Bind,
    Session,
    Ready,
}

impl Step {
    /// The step's name, for log lines.
    fn name(self) -> &'static str {
        match self {
            Step::Connecting => "Connecting",
            Step::Features => "Features",
            Step::Proceed => "Proceed",
            Step::ScramChallenge => "ScramChallenge",
            Step::ScramFinal => "ScramFinal",
            Step::PlainResult => "PlainResult",
            Step::Bind => "Bind",
            Step::Session => "Session",
            Step::Ready => "Ready",
        }
    }
}

/// One connection to a server.
struct Link {
    socket: TcpStream,
    tls: Option<Box<ClientConnection>>,
    interest: Interest,
    /// Plain bytes not yet written (before TLS).
    out: Vec<u8>,
    framer: StreamFramer,
    step: Step,
    authenticated: bool,
    /// The server wants RFC 3921 session establishment after binding.
    session: bool,
    scram: Option<ScramClient>,
    spare_addrs: Vec<SocketAddr>,
    /// The login deadline, then the next keep-alive.
    deadline: Option<Instant>,
    next_id: u32,
    /// More may be readable (the read budget ran out at this time): read on at once.
    read_again: Option<Instant>,
}

enum Stage {
    Idle,
    Backoff(Instant),
    Resolving {
        lookup: NameLookup,
        port: u16,
        deadline: Instant,
        check_at: Instant,
    },
    Open(Box<Link>),
}

/// Why a connection ended.
enum Failure {
    /// Cannot reach the server (connect, DNS).
    NotPresent(String),
    Auth(String),
    Other(String),
}

/// The XMPP client as a service of the loop.
pub struct XmppConnRequests {
    tokens: Tokens,
    cwmp_store: Rc<RefCell<CwmpStore>>,
    limit: Rc<RefCell<ConnRequestLimit>>,
    status: SharedXmppStatus,
    registered: bool,
    settings: Option<XmppSettings>,
    tls_config: Option<Arc<ClientConfig>>,
    stage: Stage,
    failures: u32,
    /// Index into `settings.servers` and attempts made on it.
    server: usize,
    attempts_on_server: u32,
}

impl XmppConnRequests {
    pub fn new(
        tokens: Tokens,
        cwmp_store: Rc<RefCell<CwmpStore>>,
        limit: Rc<RefCell<ConnRequestLimit>>,
    ) -> XmppConnRequests {
        XmppConnRequests {
            tokens,
            cwmp_store,
            limit,
            status: SharedXmppStatus::default(),
            registered: false,
            settings: None,
            tls_config: None,
            stage: Stage::Idle,
            failures: 0,
            server: 0,
            attempts_on_server: 0,
        }
    }

    fn set_status(&mut self, cx: &Context, status: &'static str) {
        let mut s = self.status.borrow_mut();
        if s.status != status {
            info!("XMPP connection status: {status}");
            s.status = status;
            s.last_change = cx.unix;
        }
    }

    fn close(&mut self, registry: &Registry) {
        if let Stage::Open(link) = std::mem::replace(&mut self.stage, Stage::Idle) {
            let mut link = *link;
            if link.step == Step::Ready {
                let _ = link.send(emit::stream_close().as_bytes());
            }
            if let Some(tls) = &mut link.tls {
                tls.send_close_notify();
                let _ = link.flush();
            }
            let _ = registry.deregister(&mut link.socket);
        }
        self.status.borrow_mut().tls_established = false;
    }

    /// Ends the connection and waits the back-off before the next attempt.
    fn fail(&mut self, cx: &mut Context, failure: Failure) {
        self.close(cx.registry);
        let Some(settings) = &self.settings else {
            return;
        };
        let (status, reason) = match failure {
            Failure::NotPresent(r) => ("ServerNotPresent", r),
            Failure::Auth(r) => ("Error_AuthenticationFailure", r),
            Failure::Other(r) => ("Error", r),
        };
        self.failures = self.failures.saturating_add(1);
        self.attempts_on_server += 1;
        if self.attempts_on_server >= settings.connect_attempts {
            self.attempts_on_server = 0;
            self.server = (self.server + 1) % settings.servers.len().max(1);
        }
        let random = random16().map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let wait = settings.retry_wait(self.failures, random);
        warn!(
            "XMPP connection failed ({reason}); retry {} in {:.1}s",
            self.failures,
            wait.as_secs_f64()
        );
        self.set_status(cx, status);
        self.stage = Stage::Backoff(cx.now + wait);
    }

    /// Starts an attempt on the current server.
    fn connect(&mut self, cx: &mut Context) {
        let Some(settings) = &self.settings else {
            return;
        };
        let Some(server) = settings.servers.get(self.server).cloned() else {
            return;
        };
        self.set_status(cx, "Connecting");
        if server.address.parse::<std::net::IpAddr>().is_ok() {
            match resolve(&server.address, server.port, true) {
                Ok(addrs) => self.open(cx, addrs),
                Err(e) => self.fail(cx, Failure::NotPresent(e.to_string())),
            }
            return;
        }
        match NameLookup::start(&server.address, server.port, true) {
            Some(lookup) => {
                self.stage = Stage::Resolving {
                    lookup,
                    port: server.port,
                    deadline: cx.now + LOGIN_TIMEOUT,
                    check_at: cx.now + LOOKUP_POLL,
                }
            }
            None => self.fail(cx, Failure::NotPresent("no resolver thread".into())),
        }
    }

    fn open(&mut self, cx: &mut Context, mut addrs: Vec<SocketAddr>) {
        addrs.sort_by_key(SocketAddr::is_ipv6);
        let mut last = String::from("no address");
        while !addrs.is_empty() {
            let addr = addrs.remove(0);
            match TcpStream::connect(addr) {
                Ok(mut socket) => {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) =
                        cx.registry
                            .register(&mut socket, self.tokens.token(0), interest)
                    {
                        last = e.to_string();
                        continue;
                    }
                    debug!("XMPP: connecting to {addr}");
                    self.stage = Stage::Open(Box::new(Link {
                        socket,
                        tls: None,
                        interest,
                        out: Vec::new(),
                        framer: StreamFramer::new(),
                        step: Step::Connecting,
                        authenticated: false,
                        session: false,
                        scram: None,
                        spare_addrs: addrs,
                        deadline: Some(cx.now + LOGIN_TIMEOUT),
                        next_id: 0,
                        read_again: None,
                    }));
                    return;
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        self.fail(cx, Failure::NotPresent(last));
    }

    /// Drives the open link after readiness or a deadline.
    fn drive(&mut self, cx: &mut Context) {
        let Stage::Open(link) = &mut self.stage else {
            return;
        };
        if link.step == Step::Connecting {
            match link.connected() {
                Ok(false) => return,
                Ok(true) => {
                    let Some(settings) = &self.settings else {
                        return;
                    };
                    link.step = Step::Features;
                    if let Err(e) = link.send(emit::stream_open(&settings.domain).as_bytes()) {
                        return self.fail(cx, Failure::Other(e.to_string()));
                    }
                }
                Err(e) => {
                    let spare = std::mem::take(&mut link.spare_addrs);
                    if spare.is_empty() {
                        return self.fail(cx, Failure::NotPresent(e.to_string()));
                    }
                    self.close(cx.registry);
                    return self.open(cx, spare);
                }
            }
        }
        let mut reads = 0;
        loop {
            let Stage::Open(link) = &mut self.stage else {
                return;
            };
            if reads >= MAX_READS_PER_EVENT {
                link.read_again = Some(cx.now);
                break;
            }
            reads += 1;
            let read = match link.read() {
                Ok(read) => read,
                Err(e) => return self.fail(cx, Failure::Other(format!("read: {e}"))),
            };
            if let Err(failure) = self.process_frames(cx) {
                return self.fail(cx, failure);
            }
            match read {
                Read_::Data => continue,
                Read_::WouldBlock => break,
                Read_::Eof => {
                    return self.fail(cx, Failure::Other("server closed the connection".into()))
                }
            }
        }
        if let Stage::Open(link) = &mut self.stage {
            if let Err(e) = link.flush() {
                return self.fail(cx, Failure::Other(format!("write: {e}")));
            }
            link.update_interest(cx.registry, self.tokens);
        }
    }

    /// Handles every complete frame received so far.
    fn process_frames(&mut self, cx: &mut Context) -> Result<(), Failure> {
        loop {
            let Stage::Open(link) = &mut self.stage else {
                return Ok(());
            };
            let frame = link
                .framer
                .next_frame()
                .map_err(|e| Failure::Other(e.to_string()))?;
            match frame {
                None => return Ok(()),
                Some(Frame::StreamOpen(header)) => {
                    debug!("XMPP: stream {} from {}", header.id, header.from)
                }
                Some(Frame::StreamClose) => {
                    return Err(Failure::Other("server closed the stream".into()))
                }
                Some(Frame::Stanza(bytes)) => {
                    self.status.borrow_mut().received += 1;
                    let stanza = parse_stanza(&bytes).map_err(|e| Failure::Other(e.to_string()))?;
                    self.on_stanza(cx, stanza)?;
                }
            }
        }
    }

    fn on_stanza(&mut self, cx: &mut Context, stanza: Stanza) -> Result<(), Failure> {
        let Some(settings) = self.settings.clone() else {
            return Ok(());
        };
        let Stage::Open(link) = &mut self.stage else {
            return Ok(());
        };
        let io = |e: io::Error| Failure::Other(format!("write: {e}"));
        match (link.step, stanza) {
            (_, Stanza::StreamError(condition)) => {
                Err(Failure::Other(format!("stream error {condition}")))
            }
            (Step::Features, Stanza::Features(features)) => self.on_features(&settings, features),
            (Step::Proceed, Stanza::TlsProceed) => {
                let Some(config) = self.tls_config.clone() else {
                    return Err(Failure::Other("no TLS configuration".into()));
                };
                let name = ServerName::try_from(settings.domain.clone())
                    .map_err(|_| Failure::Other(format!("domain {}", settings.domain)))?;
                let tls = ClientConnection::new(config, name)
                    .map_err(|e| Failure::Other(format!("TLS: {e}")))?;
                link.tls = Some(Box::new(tls));
                link.framer.restart();
                link.step = Step::Features;
                link.send(emit::stream_open(&settings.domain).as_bytes())
                    .map_err(io)
            }
            (Step::Proceed, Stanza::TlsFailure) => Err(Failure::Other("STARTTLS refused".into())),
            (Step::ScramChallenge, Stanza::SaslChallenge(data)) => {
                let scram = link
                    .scram
                    .as_mut()
                    .ok_or(Failure::Other("no SCRAM".into()))?;
                let answer = scram
                    .client_final(&data)
                    .map_err(|e| Failure::Auth(e.to_string()))?;
                link.step = Step::ScramFinal;
                self.status.borrow_mut().transmitted += 1;
                link.send(emit::sasl_response(answer.as_bytes()).as_bytes())
                    .map_err(io)
            }
            (Step::ScramFinal, Stanza::SaslSuccess(data)) => {
                let scram = link.scram.take().ok_or(Failure::Other("no SCRAM".into()))?;
                scram
                    .verify_server_final(&data)
                    .map_err(|e| Failure::Auth(e.to_string()))?;
                link.restart_authenticated(&settings.domain).map_err(io)
            }
            (Step::PlainResult, Stanza::SaslSuccess(_)) => {
                link.restart_authenticated(&settings.domain).map_err(io)
            }
            (
                Step::ScramChallenge | Step::ScramFinal | Step::PlainResult,
                Stanza::SaslFailure(condition),
            ) => Err(Failure::Auth(format!("SASL {condition}"))),
            (Step::Bind, Stanza::Iq(iq)) if iq.kind == IqKind::Result => {
                let IqPayload::Bound(jid) = iq.payload else {
                    return Err(Failure::Other("bind result without a JID".into()));
                };
                if link.session {
                    link.step = Step::Session;
                    let id = link.id("sess");
                    self.status.borrow_mut().transmitted += 1;
                    link.send(emit::session(&id).as_bytes()).map_err(io)?;
                    self.status.borrow_mut().jabber_id = jid;
                    Ok(())
                } else {
                    self.status.borrow_mut().jabber_id = jid;
                    self.ready(cx, &settings)
                }
            }
            (Step::Session, Stanza::Iq(iq)) if iq.kind == IqKind::Result => {
                self.ready(cx, &settings)
            }
            (Step::Bind | Step::Session, Stanza::Iq(iq)) if iq.kind == IqKind::Error => {
                Err(Failure::Other("resource binding refused".into()))
            }
            (Step::Ready, Stanza::Iq(iq)) => {
                match (iq.kind, iq.payload) {
                    (IqKind::Get, IqPayload::ConnectionRequest(element)) => {
                        let mut verdict = judge_connection_request(
                            &iq.from,
                            &element,
                            &settings.allowed_jids,
                            &settings.cr_username,
                            &settings.cr_password,
                        );
                        if verdict == ConnRequestVerdict::Accept
                            && !self.limit.borrow().would_honour(cx.now)
                        {
                            verdict = ConnRequestVerdict::ServiceUnavailable;
                        }
                        let answer = verdict.answer(&iq.id, &iq.from);
                        {
                            let mut status = self.status.borrow_mut();
                            status.transmitted += 1;
                            if verdict != ConnRequestVerdict::Accept {
                                status.transmitted_errors += 1;
                            }
                        }
                        link.send(answer.as_bytes()).map_err(io)?;
                        if verdict == ConnRequestVerdict::Accept {
                            cx.request(Request::ConnectionRequest {
                                source: format!("XMPP {}", iq.from),
                            });
                        } else {
                            warn!(
                                "XMPP connection request from {} refused: {}",
                                iq.from,
                                verdict.name()
                            );
                        }
                        Ok(())
                    }
                    (IqKind::Get | IqKind::Set, IqPayload::Ping) => {
                        self.status.borrow_mut().transmitted += 1;
                        link.send(emit::iq_result(&iq.id, &iq.from).as_bytes())
                            .map_err(io)
                    }
                    (IqKind::Get | IqKind::Set, _) => {
                        // RFC 6120 8.2.3: every get/set is answered.
                        let mut status = self.status.borrow_mut();
                        status.transmitted += 1;
                        status.transmitted_errors += 1;
                        let error =
                            emit::iq_error(&iq.id, &iq.from, "cancel", "service-unavailable");
                        link.send(error.as_bytes()).map_err(io)
                    }
                    (IqKind::Result, _) => Ok(()),
                    (IqKind::Error, _) => {
                        self.status.borrow_mut().received_errors += 1;
                        Ok(())
                    }
                }
            }
            (Step::Ready, Stanza::Other(_)) => Ok(()),
            (step, stanza) => Err(Failure::Other(format!(
                "unexpected {} while in {}",
                stanza.name(),
                step.name()
            ))),
        }
    }

    fn on_features(&mut self, settings: &XmppSettings, features: Features) -> Result<(), Failure> {
        let Stage::Open(link) = &mut self.stage else {
            return Ok(());
        };
        let io = |e: io::Error| Failure::Other(format!("write: {e}"));
        let in_tls = link.tls.is_some();
        self.status.borrow_mut().tls_established = in_tls;
        if !link.authenticated {
            if !in_tls && features.starttls && (settings.use_tls || features.starttls_required) {
                link.step = Step::Proceed;
                return link.send(emit::starttls().as_bytes()).map_err(io);
            }
            if !in_tls && settings.use_tls {
                return Err(Failure::Other(
                    "UseTLS is on and the server offers no STARTTLS".into(),
                ));
            }
            let offers = |m: &str| features.mechanisms.iter().any(|x| x == m);
            if offers("SCRAM-SHA-1") {
                let nonce = random16()
                    .map(|b| crate::wire::digest::base64_encode(&b))
                    .ok_or(Failure::Other("no randomness".into()))?;
                let scram = ScramClient::new(&settings.username, &settings.password, &nonce);
                let auth = emit::sasl_auth("SCRAM-SHA-1", scram.client_first().as_bytes());
                link.scram = Some(scram);
                link.step = Step::ScramChallenge;
                info!(
                    "XMPP: SASL SCRAM-SHA-1{}",
                    if in_tls { " inside TLS" } else { "" }
                );
                self.status.borrow_mut().transmitted += 1;
                return link.send(auth.as_bytes()).map_err(io);
            }
            if offers("PLAIN") && (in_tls || settings.allow_plain) {
                let auth = emit::sasl_auth(
                    "PLAIN",
                    &plain_response(&settings.username, &settings.password),
                );
                link.step = Step::PlainResult;
                info!(
                    "XMPP: SASL PLAIN{}",
                    if in_tls { " inside TLS" } else { "" }
                );
                self.status.borrow_mut().transmitted += 1;
                return link.send(auth.as_bytes()).map_err(io);
            }
            return Err(Failure::Auth(format!(
                "no usable SASL mechanism in [{}]",
                features.mechanisms.join(" ")
            )));
        }
        if !features.bind {
            return Err(Failure::Other("server offers no resource binding".into()));
        }
        link.step = Step::Bind;
        link.session = features.session_required;
        let id = link.id("bind");
        self.status.borrow_mut().transmitted += 1;
        link.send(emit::bind(&id, &settings.resource).as_bytes())
            .map_err(io)
    }

    /// Logged in and bound: presence, status, ConnReqJabberID.
    fn ready(&mut self, cx: &mut Context, settings: &XmppSettings) -> Result<(), Failure> {
        let Stage::Open(link) = &mut self.stage else {
            return Ok(());
        };
        link.step = Step::Ready;
        link.send(emit::presence().as_bytes())
            .map_err(|e| Failure::Other(format!("write: {e}")))?;
        link.deadline = (settings.keep_alive > 0)
            .then(|| cx.now + Duration::from_secs(settings.keep_alive.unsigned_abs()));
        self.failures = 0;
        self.attempts_on_server = 0;
        let jid = {
            let mut status = self.status.borrow_mut();
            status.transmitted += 1;
            status.jabber_id.clone()
        };
        info!("XMPP connected as {jid}");
        self.set_status(cx, "Enabled");
        let previous = self.cwmp_store.borrow().get("xmpp", "jabber_id");
        if previous.as_deref() != Some(jid.as_str()) {
            self.cwmp_store
                .borrow_mut()
                .set_runtime("xmpp", "jabber_id", Some(&jid));
            cx.request(Request::CheckValueChanges);
        }
        Ok(())
    }

    /// The keep-alive deadline: one whitespace to the server (RFC 6120 4.6.1).
    fn keep_alive(&mut self, cx: &mut Context) {
        let Some(settings) = &self.settings else {
            return;
        };
        let interval = Duration::from_secs(settings.keep_alive.unsigned_abs());
        let Stage::Open(link) = &mut self.stage else {
            return;
        };
        link.deadline = Some(cx.now + interval);
        if let Err(e) = link.send(b" ") {
            return self.fail(cx, Failure::Other(format!("write: {e}")));
        }
        link.update_interest(cx.registry, self.tokens);
    }

    /// Reads the settings again and restarts the client if they changed.
    fn reconfigure(&mut self, cx: &mut Context) {
        if !self.registered && cx.dm.schema().kind() == ModelKind::Tr181 {
            let uci = Rc::new(RefCell::new(UciDir::new(cx.uci_dir)));
            let provider = XmppProvider::new(uci, self.status.clone());
            match cx.dm.register(&["Device.XMPP."], Box::new(provider)) {
                Ok(()) => self.registered = true,
                Err(e) => warn!("Device.XMPP. not served: {e}"),
            }
        }
        let uci = UciDir::new(cx.uci_dir);
        let cpe = &cx.config.cpe;
        let loaded = XmppSettings::load(
            &uci,
            &*self.cwmp_store.borrow(),
            &cpe.userid,
            cpe.passwd.as_str(),
        );
        let (instance, settings, not_run) = match loaded {
            Ok((instance, settings)) => (instance, Some(settings), None),
            Err((instance, not_run)) => (instance, None, Some(not_run)),
        };
        if settings == self.settings && settings.is_some() {
            return;
        }
        self.close(cx.registry);
        self.stage = Stage::Idle;
        self.failures = 0;
        self.server = 0;
        self.attempts_on_server = 0;
        self.status.borrow_mut().connection = instance;
        self.settings = None;
        match not_run {
            Some(NotRun::Misconfigured(why)) => {
                warn!("XMPP connection {instance} not started: {why}");
                self.set_status(cx, "Error_Misconfigured");
                return;
            }
            Some(NotRun::Disabled) => {
                self.set_status(cx, "Disabled");
                if self.cwmp_store.borrow().get("xmpp", "jabber_id").is_some() {
                    self.cwmp_store
                        .borrow_mut()
                        .set_runtime("xmpp", "jabber_id", None);
                    cx.request(Request::CheckValueChanges);
                }
                return;
            }
            None => {}
        }
        let Some(settings) = settings else {
            return;
        };
        match super::tls::client_config(settings.ssl_capath.as_deref(), false) {
            Ok(config) => self.tls_config = Some(config),
            Err(e) => {
                warn!("XMPP connection {instance}: {e}");
                self.set_status(cx, "Error_Misconfigured");
                return;
            }
        }
        info!(
            "XMPP connection {instance}: {}@{} via {}",
            settings.username,
            settings.domain,
            settings
                .servers
                .iter()
                .map(|s| format!("{}:{}", s.address, s.port))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.settings = Some(settings);
        self.connect(cx);
    }
}

/// What one read found.
enum Read_ {
    Data,
    WouldBlock,
    Eof,
}

impl Link {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id = self.next_id.wrapping_add(1);
        format!("{prefix}{}", self.next_id)
    }

    /// After SASL success: a new stream on the same connection (RFC 6120 6.4.6).
    fn restart_authenticated(&mut self, domain: &str) -> io::Result<()> {
        self.authenticated = true;
        self.framer.restart();
        self.step = Step::Features;
        self.send(emit::stream_open(domain).as_bytes())
    }

    /// `Ok(true)` once the non-blocking connect has completed.
    fn connected(&mut self) -> io::Result<bool> {
        if let Some(e) = self.socket.take_error()? {
            return Err(e);
        }
        match self.socket.peer_addr() {
            Ok(_) => {
                let _ = self.socket.set_nodelay(true);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Queues `data` (through TLS when it is on) and writes what the socket takes.
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.tls {
            // rustls bounds what it buffers: a full buffer fails write_all.
            Some(tls) => tls.writer().write_all(data)?,
            None if self.out.len() + data.len() > MAX_UNSENT => {
                return Err(io::Error::other("the server does not read"))
            }
            None => self.out.extend_from_slice(data),
        }
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            while tls.wants_write() {
                match tls.write_tls(&mut self.socket) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        while !self.out.is_empty() {
            match self.socket.write(&self.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads one chunk from the socket into the framer.
    fn read(&mut self) -> io::Result<Read_> {
        let mut buf = [0u8; 16 * 1024];
        let n = loop {
            let result = match &mut self.tls {
                Some(tls) => tls.read_tls(&mut self.socket),
                None => self.socket.read(&mut buf),
            };
            match result {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Read_::WouldBlock),
                Err(e) => return Err(e),
            }
        };
        let Some(tls) = &mut self.tls else {
            if n == 0 {
                return Ok(Read_::Eof);
            }
            self.framer.push(buf.get(..n).unwrap_or_default());
            return Ok(Read_::Data);
        };
        let state = tls
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut plain = state.plaintext_bytes_to_read();
        while plain > 0 {
            let got = tls.reader().read(&mut buf)?;
            if got == 0 {
                break;
            }
            self.framer.push(buf.get(..got).unwrap_or_default());
            plain = plain.saturating_sub(got);
        }
        if n == 0 || state.peer_has_closed() {
            return Ok(Read_::Eof);
        }
        Ok(Read_::Data)
    }

    fn update_interest(&mut self, registry: &Registry, tokens: Tokens) {
        let wants_write = !self.out.is_empty()
            || self.step == Step::Connecting
            || self.tls.as_ref().is_some_and(|t| t.wants_write());
        let interest = if wants_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if interest != self.interest
            && registry
                .reregister(&mut self.socket, tokens.token(0), interest)
                .is_ok()
        {
            self.interest = interest;
        }
    }
}

impl Service for XmppConnRequests {
    fn name(&self) -> &'static str {
        "xmpp"
    }

    fn configure(&mut self, cx: &mut Context) {
        self.reconfigure(cx);
    }

    fn ready(&mut self, cx: &mut Context, event: &Event) {
        if self.tokens.index_of(event.token()) != Some(0) {
            return;
        }
        self.drive(cx);
    }

    fn poll_at(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Idle => None,
            Stage::Backoff(at) => Some(*at),
            Stage::Resolving { check_at, .. } => Some(*check_at),
            Stage::Open(link) => link.read_again.or(link.deadline),
        }
    }

    fn run_due(&mut self, cx: &mut Context) {
        match &mut self.stage {
            Stage::Idle => {}
            Stage::Backoff(at) => {
                if *at <= cx.now {
                    self.stage = Stage::Idle;
                    self.connect(cx);
                }
            }
            Stage::Resolving {
                lookup,
                port,
                deadline,
                check_at,
            } => match lookup.take() {
                Some(Ok(addrs)) => {
                    let addrs = addrs
                        .into_iter()
                        .map(|a| SocketAddr::new(a.ip(), *port))
                        .collect();
                    self.open(cx, addrs)
                }
                Some(Err(e)) => self.fail(cx, Failure::NotPresent(e.to_string())),
                None if cx.now >= *deadline => {
                    self.fail(cx, Failure::NotPresent("name lookup timed out".into()))
                }
                None => *check_at = cx.now + LOOKUP_POLL,
            },
            Stage::Open(link) => {
                if link.read_again.take().is_some() {
                    self.drive(cx);
                } else if link.deadline.is_some_and(|d| d <= cx.now) {
                    if link.step == Step::Ready {
                        self.keep_alive(cx);
                    } else {
                        self.fail(cx, Failure::Other("login timed out".into()));
                    }
                }
            }
        }
    }

    fn session_ended(&mut self, cx: &mut Context) {
        // The ACS may have changed Device.XMPP. (the `xmpp` package) in the session.
        self.reconfigure(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::config::{MemoryConfig, MemoryUci};

    fn uci() -> MemoryUci {
        let mut uci = MemoryUci::default();
        uci.add(
            dm_xmpp::PACKAGE,
            dm_xmpp::CONNECTION,
            "",
            &[
                ("instance", "2"),
                ("enable", "1"),
                ("username", "cpe"),
                ("password", "pw"),
                ("domain", "localhost"),
                ("initial_retry_interval", "10"),
                ("retry_max_interval", "35"),
            ],
        );
        for (instance, priority, address) in [("1", "5", "b.example"), ("2", "1", "a.example")] {
            uci.add(
                dm_xmpp::PACKAGE,
                dm_xmpp::SERVER,
                "",
                &[
                    ("connection", "2"),
                    ("instance", instance),
                    ("enable", "1"),
                    ("priority", priority),
                    ("server_address", address),
                ],
            );
        }
        uci
    }

    #[test]
    fn loads_the_connection_conn_req_xmpp_connection_names() {
        let uci = uci();
        let cwmp = MemoryConfig::with(&[
            ("xmpp", "connection", "Device.XMPP.Connection.2"),
            ("xmpp", "allowed_jid", "acs@localhost, ops@x/y"),
        ]);
        let (instance, settings) = XmppSettings::load(&uci, &cwmp, "cr", "crpw").expect("load");
        assert_eq!(instance, 2);
        assert_eq!(settings.username, "cpe");
        assert_eq!(settings.password, "pw");
        assert_eq!(settings.keep_alive, -1);
        assert_eq!(settings.allowed_jids, ["acs@localhost", "ops@x/y"]);
        let addresses: Vec<&str> = settings
            .servers
            .iter()
            .map(|s| s.address.as_str())
            .collect();
        assert_eq!(addresses, ["a.example", "b.example"]);
        assert_eq!(settings.servers[0].port, 5222);

        let none = MemoryConfig::with(&[]);
        assert_eq!(
            XmppSettings::load(&uci, &none, "", "").map(|_| ()),
            Err((0, NotRun::Disabled))
        );
        let wrong = MemoryConfig::with(&[("xmpp", "connection", "Device.XMPP.Connection.7.")]);
        assert!(XmppSettings::load(&uci, &wrong, "", "").is_err());
    }

    #[test]
    fn retry_waits_grow_to_the_maximum() {
        let uci = uci();
        let cwmp = MemoryConfig::with(&[("xmpp", "connection", "Device.XMPP.Connection.2")]);
        let (_, settings) = XmppSettings::load(&uci, &cwmp, "", "").expect("load");
        let most = |failures| settings.retry_wait(failures, u32::MAX - 1);
        // 10 s, then ×2 (the default multiplier 2000), capped at 35 s.
        assert!(most(1) <= Duration::from_secs(10));
        assert!(most(2) <= Duration::from_secs(20));
        assert!(most(9) <= Duration::from_secs(35));
        assert_eq!(settings.retry_wait(3, 0), Duration::ZERO);
        assert_eq!(settings.retry_wait(1, 5_000), Duration::from_secs(5));
    }
}
