//! A loopback test ACS: speaks CWMP over HTTP(S) on 127.0.0.1, runs scripted sessions and records every envelope.
//!
//! Each session starts with the CPE's Inform. The ACS answers it (with an
//! InformResponse, or the fault or HTTP status the script asks for), answers
//! the CPE's own requests, then sends the script's requests one per empty
//! POST or response, and ends the session with HTTP 204. Sessions beyond the
//! script get a plain InformResponse and 204. It can demand Basic or Digest
//! authentication, set and require a cookie, redirect, and serve TLS. Like a
//! real ACS it decodes a request's `Content-Encoding` (gzip, deflate) and
//! compresses its answers with the first coding the CPE's `Accept-Encoding` offers.
//! Blocking sockets on threads are fine here: this is the far end of the
//! tests, not part of the daemon.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use icwmp::cwmp::fault::{Fault, FaultCode};
use icwmp::wire::content_coding::{self, ContentCoding};
use icwmp::wire::digest::{basic_authorization, Credentials, DigestServer, Verdict};
use icwmp::wire::soap::{self, CwmpVersion, Envelope, Limits, Rpc};

/// What one session of the script does.
#[derive(Clone, Debug, Default)]
pub struct SessionScript {
    /// Requests the ACS sends after the CPE's empty POST, in order.
    pub requests: Vec<Rpc>,
    /// Answer the Inform with this fault instead of an InformResponse.
    pub inform_fault: Option<FaultCode>,
    /// Answer the Inform with this HTTP status and no body.
    pub inform_http_status: Option<u16>,
    /// Set HoldRequests on the InformResponse and on every request.
    pub hold_requests: bool,
    /// Never answer the Inform (the connection hangs until the ACS is dropped).
    pub stall: bool,
}

/// HTTP authentication the ACS demands.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    #[default]
    None,
    Basic {
        user: String,
        password: String,
    },
    /// RFC 7616 Digest (SHA-256 and MD5 challenges); a nonce is good for one request.
    Digest {
        user: String,
        password: String,
    },
}

/// How the test ACS behaves.
#[derive(Clone, Debug, Default)]
pub struct AcsOptions {
    pub sessions: Vec<SessionScript>,
    pub auth: Auth,
    /// Set a session cookie on the InformResponse and require it afterwards.
    pub cookie: bool,
    /// Print a line per message to stdout (the demo).
    pub verbose: bool,
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Answer POSTs to `/acs` with 307 to `/acs-moved` (TR-069 3.4.5).
    pub redirect: bool,
    /// Bodies larger than this are recorded but not parsed (benchmarks that
    /// measure the CPE's memory keep the ACS's parse tree out of the figure).
    pub parse_limit: Option<usize>,
    /// Makes the script of each session beyond `sessions` (its argument is
    /// the session's index), so a long run issues fresh work in every session.
    pub generator: Option<ScriptGenerator>,
}

/// Makes a session's script when it starts (see [`AcsOptions::generator`]).
#[derive(Clone)]
pub struct ScriptGenerator(pub Arc<dyn Fn(usize) -> SessionScript + Send + Sync>);

impl std::fmt::Debug for ScriptGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScriptGenerator")
    }
}

/// One HTTP request the ACS received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub body: Vec<u8>,
    pub envelope: Option<Envelope>,
    pub headers: Vec<(String, String)>,
}

/// Everything one session carried.
#[derive(Clone, Debug, Default)]
pub struct RecordedSession {
    pub posts: Vec<Received>,
    /// The script's requests the ACS sent, in order.
    pub requests: Vec<Rpc>,
    /// The responses to the script's requests, in order.
    pub responses: Vec<Rpc>,
    pub completed: bool,
}

impl RecordedSession {
    /// The Inform that opened the session.
    pub fn inform(&self) -> Option<&soap::Inform> {
        self.posts
            .iter()
            .find_map(|p| match p.envelope.as_ref()?.body.as_ref()? {
                Rpc::Inform(inform) => Some(inform),
                _ => None,
            })
    }

    /// The event codes of the Inform.
    pub fn event_codes(&self) -> Vec<String> {
        self.inform()
            .map(|i| i.events.iter().map(|e| e.event_code.clone()).collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    sessions: Vec<RecordedSession>,
    script: VecDeque<SessionScript>,
    current: SessionScript,
    pending: VecDeque<Rpc>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// The running test ACS.
pub struct TestAcs {
    addr: SocketAddr,
    state: Shared,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

impl TestAcs {
    /// Starts the ACS on 127.0.0.1 with an ephemeral port.
    pub fn start(options: AcsOptions) -> TestAcs {
        Self::start_on(0, options)
    }

    /// Starts the ACS on 127.0.0.1 and `port` (0: ephemeral).
    pub fn start_on(port: u16, options: AcsOptions) -> TestAcs {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind test ACS");
        let addr = listener.local_addr().expect("ACS address");
        let state = State {
            script: options.sessions.clone().into(),
            ..State::default()
        };
        let state: Shared = Arc::new((Mutex::new(state), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let digest = DigestServer::new(
            "test-acs",
            Duration::from_secs(300),
            64,
            false,
            *b"test-acs-opaque!",
        );
        let server = Arc::new(Server {
            options,
            shared: state.clone(),
            digest: Mutex::new(digest),
            stop: stop.clone(),
        });
        let accept_thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if server.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let server = server.clone();
                std::thread::spawn(move || server.serve(conn));
            }
        });
        TestAcs {
            addr,
            state,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    /// The URL to put in `acs.url`.
    pub fn url(&self) -> String {
        format!("http://{}/acs", self.addr)
    }

    /// The HTTPS URL, naming the host of the test certificate (`localhost`).
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}/acs", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until `count` sessions have completed, at most `timeout`.
    pub fn wait_sessions(&self, count: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |sessions| {
            sessions.iter().filter(|s| s.completed).count() >= count
        })
    }

    /// Waits until `count` sessions have at least started (an Inform arrived).
    pub fn wait_started(&self, count: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |sessions| sessions.len() >= count)
    }

    fn wait_for(&self, timeout: Duration, done: impl Fn(&[RecordedSession]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.state;
        let mut state = lock.lock().expect("ACS state");
        loop {
            if done(&state.sessions) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = cvar
                .wait_timeout(state, deadline - now)
                .expect("ACS state")
                .0;
        }
    }

    /// A copy of every session so far.
    pub fn sessions(&self) -> Vec<RecordedSession> {
        self.state.0.lock().expect("ACS state").sessions.clone()
    }
}

impl Drop for TestAcs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<HttpRequest> {
    let head = super::http_wire::read_request_head(reader)?;
    let mut request = HttpRequest {
        method: head.method,
        path: head.target,
        headers: head.headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        request.body = super::http_wire::read_chunked(reader)?;
    } else if let Some(len) = request.header("content-length") {
        request.body = vec![0; len.parse().ok()?];
        reader.read_exact(&mut request.body).ok()?;
    }
    Some(request)
}

/// The coding to answer with: the first of gzip/deflate that `Accept-Encoding` lists.
fn response_coding(request: &HttpRequest) -> Option<ContentCoding> {
    let offered = request.header("accept-encoding")?;
    offered.split(',').find_map(|item| {
        let token = item.split(';').next().unwrap_or("").trim();
        ContentCoding::from_header(token).ok().flatten()
    })
}

/// Undoes the request's `Content-Encoding`; `false` if the body does not decode.
fn decode_request(request: &mut HttpRequest) -> bool {
    let Some(value) = request.header("content-encoding") else {
        return true;
    };
    match ContentCoding::from_header(value) {
        Ok(None) => true,
        Ok(Some(coding)) => match content_coding::decompress(coding, &request.body, 64 << 20) {
            Ok(body) => {
                request.body = body;
                true
            }
            Err(_) => false,
        },
        Err(_) => false,
    }
}

fn respond_coded(
    stream: &mut dyn Write,
    status: u16,
    extra: &[String],
    body: &[u8],
    coding: Option<ContentCoding>,
) -> bool {
    match coding.filter(|_| !body.is_empty()) {
        Some(coding) => {
            let mut extra = extra.to_vec();
            extra.push(format!("Content-Encoding: {}", coding.token()));
            respond(
                stream,
                status,
                &extra,
                &content_coding::compress(coding, body),
            )
        }
        None => respond(stream, status, extra, body),
    }
}

fn respond(stream: &mut dyn Write, status: u16, extra: &[String], body: &[u8]) -> bool {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: text/xml; charset=\"utf-8\"\r\n");
    }
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    // One write: a head and body in separate small segments meet Nagle and
    // delayed ACKs and cost 40 ms an exchange.
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message).is_ok() && stream.flush().is_ok()
}

fn ack(request: &Envelope, response: Rpc) -> Envelope {
    Envelope::new(request.header.id.clone().unwrap_or_default(), response)
}

fn describe(envelope: Option<&Envelope>) -> String {
    match envelope.and_then(|e| e.body.as_ref()) {
        None => "empty message".to_owned(),
        Some(Rpc::Inform(inform)) => {
            let events: Vec<&str> = inform
                .events
                .iter()
                .map(|e| e.event_code.as_str())
                .collect();
            format!(
                "Inform [{}] from {} {}",
                events.join(", "),
                inform.device_id.oui,
                inform.device_id.serial_number
            )
        }
        Some(rpc) => rpc.method_name().to_owned(),
    }
}

/// What the ACS answers one POST with.
enum Answer {
    Envelope(Box<Envelope>, Vec<String>),
    /// HTTP 204: the ACS has nothing more; the session is complete.
    Done,
    /// A bare status (an Inform refused by HTTP status, a missing cookie); ends the session.
    Status(u16),
    /// Never answer (the stall script).
    Stall,
}

struct Server {
    options: AcsOptions,
    shared: Shared,
    digest: Mutex<DigestServer>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = conn.set_nodelay(true);
        let stream: Box<dyn Stream> = match &self.options.tls {
            Some(config) => match rustls::ServerConnection::new(config.clone()) {
                Ok(tls) => Box::new(rustls::StreamOwned::new(tls, conn)),
                Err(_) => return,
            },
            None => Box::new(conn),
        };
        let mut reader = BufReader::new(stream);
        while let Some(mut request) = read_request(&mut reader) {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let writer = reader.get_mut();
            if !decode_request(&mut request) {
                if !respond(writer, 400, &[], b"") {
                    break;
                }
                continue;
            }
            let coding = response_coding(&request);
            if let Err(challenge) = self.authorize(&request) {
                if !respond(writer, 401, &challenge, b"") {
                    break;
                }
                continue;
            }
            if self.options.redirect && request.path == "/acs" {
                if !respond(
                    writer,
                    307,
                    &[format!("Location: {}-moved", request.path)],
                    b"",
                ) {
                    break;
                }
                continue;
            }
            let sent = match self.answer(request) {
                Answer::Envelope(envelope, headers) => {
                    let mut body = Vec::new();
                    soap::emit(&envelope, CwmpVersion::V1_2, &mut body)
                        .expect("ACS envelope encodes");
                    respond_coded(writer, 200, &headers, &body, coding)
                }
                Answer::Done => respond(writer, 204, &[], b""),
                Answer::Status(status) => respond(writer, status, &[], b""),
                Answer::Stall => {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !self.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    false
                }
            };
            if !sent {
                break;
            }
        }
    }

    /// Checks the request's credentials; a refusal carries the challenge headers.
    fn authorize(&self, request: &HttpRequest) -> Result<(), Vec<String>> {
        let authorization = request.header("authorization");
        match &self.options.auth {
            Auth::None => Ok(()),
            Auth::Basic { user, password } => {
                let creds = Credentials {
                    username: user.clone(),
                    password: password.clone(),
                };
                let expected = basic_authorization(&creds);
                if authorization == Some(expected.as_str()) {
                    Ok(())
                } else {
                    Err(vec!["WWW-Authenticate: Basic realm=\"test-acs\"".to_owned()])
                }
            }
            Auth::Digest { user, password } => {
                let creds = Credentials {
                    username: user.clone(),
                    password: password.clone(),
                };
                let mut digest = self.digest.lock().expect("digest state");
                let now = Instant::now();
                let verdict = authorization.map_or(Verdict::Denied, |a| {
                    digest.verify(a, &request.method, &request.path, &creds, now)
                });
                if verdict == Verdict::Accepted {
                    return Ok(());
                }
                let challenges =
                    digest.challenge(*b"test-acs-random!", now, verdict == Verdict::Stale);
                Err(challenges
                    .into_iter()
                    .map(|c| format!("WWW-Authenticate: {c}"))
                    .collect())
            }
        }
    }

    /// Records the request in its session and decides the answer.
    fn answer(&self, request: HttpRequest) -> Answer {
        let too_large = self
            .options
            .parse_limit
            .is_some_and(|limit| request.body.len() > limit);
        let envelope = if request.body.is_empty() || too_large {
            None
        } else {
            soap::parse(&request.body, &Limits::default()).ok()
        };
        let (lock, cvar) = &*self.shared;
        let mut state = lock.lock().expect("ACS state");
        let rpc = envelope.as_ref().and_then(|e| e.body.clone());
        if matches!(rpc, Some(Rpc::Inform(_))) {
            let index = state.sessions.len();
            state.current = state
                .script
                .pop_front()
                .or_else(|| self.options.generator.as_ref().map(|g| (g.0)(index)))
                .unwrap_or_default();
            state.pending = state.current.requests.clone().into();
            state.sessions.push(RecordedSession::default());
        }
        if self.options.verbose {
            println!("ACS: received {}", describe(envelope.as_ref()));
        }
        let received = Received {
            path: request.path.clone(),
            body: request.body,
            envelope: envelope.clone(),
            headers: request.headers,
        };
        let answer = match state.sessions.last_mut() {
            None => Answer::Status(400),
            Some(session) => {
                session.posts.push(received);
                self.reply(&mut state, envelope, rpc)
            }
        };
        if !matches!(answer, Answer::Envelope(..)) {
            if let Some(session) = state.sessions.last_mut() {
                session.completed = !matches!(answer, Answer::Stall);
            }
            if self.options.verbose && matches!(answer, Answer::Done) {
                println!("ACS: sending HTTP 204, session complete");
            }
        } else if let (Answer::Envelope(e, _), true) = (&answer, self.options.verbose) {
            println!("ACS: sending {}", describe(Some(e)));
        }
        cvar.notify_all();
        answer
    }

    fn reply(
        &self,
        state: &mut MutexGuard<'_, State>,
        envelope: Option<Envelope>,
        rpc: Option<Rpc>,
    ) -> Answer {
        let script = state.current.clone();
        let hold = script.hold_requests.then_some(true);
        let is_inform = matches!(rpc, Some(Rpc::Inform(_)));
        if self.options.cookie && !is_inform {
            let has_cookie = state
                .sessions
                .last()
                .and_then(|s| s.posts.last())
                .is_some_and(|p| {
                    p.headers
                        .iter()
                        .any(|(k, v)| k == "cookie" && v.contains("session=abc123"))
                });
            if !has_cookie {
                return Answer::Status(403);
            }
        }
        let (Some(envelope), Some(rpc)) = (envelope, rpc) else {
            return self.next_request(state, hold);
        };
        let response = match rpc {
            Rpc::Inform(_) => {
                if script.stall {
                    return Answer::Stall;
                }
                if let Some(status) = script.inform_http_status {
                    return Answer::Status(status);
                }
                let cookie = self
                    .options
                    .cookie
                    .then(|| "Set-Cookie: session=abc123; Path=/".to_owned());
                let mut reply = match script.inform_fault {
                    Some(code) => ack(&envelope, Rpc::Fault(Fault::new(code))),
                    None => ack(&envelope, Rpc::InformResponse { max_envelopes: 1 }),
                };
                reply.header.hold_requests = hold;
                return Answer::Envelope(Box::new(reply), cookie.into_iter().collect());
            }
            Rpc::TransferComplete(_) => Rpc::TransferCompleteResponse,
            Rpc::AutonomousTransferComplete(_) => Rpc::AutonomousTransferCompleteResponse,
            Rpc::DuStateChangeComplete(_) => Rpc::DuStateChangeCompleteResponse,
            Rpc::AutonomousDuStateChangeComplete { .. } => {
                Rpc::AutonomousDuStateChangeCompleteResponse
            }
            Rpc::GetRpcMethods => Rpc::GetRpcMethodsResponse {
                method_list: ["Inform", "GetRPCMethods", "TransferComplete"]
                    .map(String::from)
                    .to_vec(),
            },
            Rpc::RequestDownload { .. } => Rpc::RequestDownloadResponse,
            Rpc::Kicked(_) => Rpc::KickedResponse {
                next_url: String::new(),
            },
            response_to_acs => {
                if let Some(session) = state.sessions.last_mut() {
                    session.responses.push(response_to_acs);
                }
                return self.next_request(state, hold);
            }
        };
        Answer::Envelope(Box::new(ack(&envelope, response)), Vec::new())
    }

    /// The script's next request, or 204 when it has none left.
    fn next_request(&self, state: &mut MutexGuard<'_, State>, hold: Option<bool>) -> Answer {
        let id = format!("acs-{}", state.sessions.len());
        match state.pending.pop_front() {
            Some(rpc) => {
                if let Some(session) = state.sessions.last_mut() {
                    session.requests.push(rpc.clone());
                }
                let mut envelope = Envelope::new(id, rpc);
                envelope.header.hold_requests = hold;
                Answer::Envelope(Box::new(envelope), Vec::new())
            }
            None => Answer::Done,
        }
    }
}
