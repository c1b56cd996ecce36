//! A loopback test ACS: speaks CWMP over HTTP on 127.0.0.1, runs scripted sessions and records every envelope.
//!
//! Each session starts with the CPE's Inform. The ACS answers it (with an
//! InformResponse, or the fault or HTTP status the script asks for), answers
//! the CPE's own requests, then sends the script's requests one per empty
//! POST or response, and ends the session with HTTP 204. Sessions beyond the
//! script get a plain InformResponse and 204. Blocking sockets on threads are
//! fine here: this is the far end of the tests, not part of the daemon.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use icwmp::cwmp::fault::{Fault, FaultCode};
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
}

/// One HTTP request the ACS received.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Vec<u8>,
    pub envelope: Option<Envelope>,
    pub headers: Vec<(String, String)>,
}

/// Everything one session carried.
#[derive(Clone, Debug, Default)]
pub struct RecordedSession {
    pub posts: Vec<Received>,
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
    current: Option<SessionScript>,
    pending: VecDeque<Rpc>,
}

/// The running test ACS.
pub struct TestAcs {
    addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl TestAcs {
    /// Starts the ACS on 127.0.0.1 with an ephemeral port (or `port`).
    pub fn start(options: AcsOptions) -> TestAcs {
        Self::start_on(0, options)
    }

    pub fn start_on(port: u16, options: AcsOptions) -> TestAcs {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind test ACS");
        let addr = listener.local_addr().expect("ACS address");
        let state = Arc::new((
            Mutex::new(State {
                script: options.sessions.clone().into(),
                ..State::default()
            }),
            Condvar::new(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let options = Arc::new(options);
        let accept_thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (state, options, stop) = (state.clone(), options.clone(), stop.clone());
                    std::thread::spawn(move || serve(conn, &state, &options, &stop));
                }
            })
        };
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
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = header("content-length") {
        body = vec![0; len.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
    }
    Some(HttpRequest { headers, body })
}

fn respond(stream: &mut TcpStream, status: u16, extra: &[String], body: &[u8]) -> bool {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
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
    stream.write_all(&message).is_ok()
}

fn emit(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::new();
    soap::emit(envelope, CwmpVersion::V1_2, &mut out).expect("ACS envelope encodes");
    out
}

fn authorized(options: &AcsOptions, req: &HttpRequest) -> bool {
    match &options.auth {
        Auth::None => true,
        Auth::Basic { user, password } => {
            let expected = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
            req.headers
                .iter()
                .any(|(k, v)| k == "authorization" && *v == expected)
        }
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn serve(
    stream: TcpStream,
    shared: &Arc<(Mutex<State>, Condvar)>,
    options: &AcsOptions,
    stop: &AtomicBool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if !authorized(options, &req) {
            let challenge = "WWW-Authenticate: Basic realm=\"test-acs\"".to_owned();
            if !respond(&mut writer, 401, &[challenge], b"") {
                break;
            }
            continue;
        }
        let envelope = if req.body.is_empty() {
            None
        } else {
            soap::parse(&req.body, &Limits::default()).ok()
        };
        let (lock, cvar) = &**shared;
        let mut state = lock.lock().expect("ACS state");
        let is_inform = matches!(
            envelope.as_ref().and_then(|e| e.body.as_ref()),
            Some(Rpc::Inform(_))
        );
        if is_inform {
            let script = state.script.pop_front().unwrap_or_default();
            state.pending = script.requests.clone().into();
            state.current = Some(script);
            state.sessions.push(RecordedSession::default());
        }
        let received = Received {
            body: req.body.clone(),
            envelope: envelope.clone(),
            headers: req.headers.clone(),
        };
        let Some(session) = state.sessions.last_mut() else {
            drop(state);
            respond(&mut writer, 400, &[], b"");
            break;
        };
        session.posts.push(received);
        if options.verbose {
            println!("ACS: received {}", describe(envelope.as_ref()));
        }
        let script = state.current.clone().unwrap_or_default();
        let hold = script.hold_requests;
        let mut extra = Vec::new();
        let reply: Option<Envelope> = match envelope.as_ref().and_then(|e| e.body.clone()) {
            Some(Rpc::Inform(_)) => {
                if script.stall {
                    cvar.notify_all();
                    drop(state);
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    break;
                }
                if let Some(status) = script.inform_http_status {
                    if let Some(s) = state.sessions.last_mut() {
                        s.completed = true;
                    }
                    cvar.notify_all();
                    drop(state);
                    respond(&mut writer, status, &[], b"");
                    continue;
                }
                if options.cookie {
                    extra.push("Set-Cookie: session=abc123; Path=/".to_owned());
                }
                let id = envelope
                    .as_ref()
                    .and_then(|e| e.header.id.clone())
                    .unwrap_or_default();
                Some(match script.inform_fault {
                    Some(code) => Envelope::new(id, Rpc::Fault(Fault::new(code))),
                    None => {
                        let mut e = Envelope::new(id, Rpc::InformResponse { max_envelopes: 1 });
                        e.header.hold_requests = hold.then_some(true);
                        e
                    }
                })
            }
            Some(Rpc::TransferComplete(_)) => Some(ack(&envelope, Rpc::TransferCompleteResponse)),
            Some(Rpc::AutonomousTransferComplete(_)) => {
                Some(ack(&envelope, Rpc::AutonomousTransferCompleteResponse))
            }
            Some(Rpc::DuStateChangeComplete(_)) => {
                Some(ack(&envelope, Rpc::DuStateChangeCompleteResponse))
            }
            Some(Rpc::AutonomousDuStateChangeComplete { .. }) => {
                Some(ack(&envelope, Rpc::AutonomousDuStateChangeCompleteResponse))
            }
            Some(Rpc::GetRpcMethods) => Some(ack(
                &envelope,
                Rpc::GetRpcMethodsResponse {
                    method_list: ["Inform", "GetRPCMethods", "TransferComplete"]
                        .map(String::from)
                        .to_vec(),
                },
            )),
            Some(Rpc::RequestDownload { .. }) => Some(ack(&envelope, Rpc::RequestDownloadResponse)),
            Some(Rpc::Kicked(_)) => Some(ack(
                &envelope,
                Rpc::KickedResponse {
                    next_url: String::new(),
                },
            )),
            other => {
                if let (Some(rpc), Some(s)) = (other, state.sessions.last_mut()) {
                    s.responses.push(rpc);
                }
                state.pending.pop_front().map(|rpc| {
                    let mut e = Envelope::new(format!("acs-{}", state.sessions.len()), rpc);
                    e.header.hold_requests = hold.then_some(true);
                    e
                })
            }
        };
        if options.cookie && !is_inform {
            let has_cookie = req
                .headers
                .iter()
                .any(|(k, v)| k == "cookie" && v.contains("session=abc123"));
            if !has_cookie {
                if let Some(s) = state.sessions.last_mut() {
                    s.completed = true;
                }
                cvar.notify_all();
                drop(state);
                respond(&mut writer, 403, &[], b"");
                continue;
            }
        }
        let ok = match reply {
            Some(envelope) => {
                if options.verbose {
                    println!("ACS: sending {}", describe(Some(&envelope)));
                }
                respond(&mut writer, 200, &extra, &emit(&envelope))
            }
            None => {
                if let Some(s) = state.sessions.last_mut() {
                    s.completed = true;
                }
                if options.verbose {
                    println!("ACS: sending HTTP 204, session complete");
                }
                respond(&mut writer, 204, &extra, b"")
            }
        };
        cvar.notify_all();
        drop(state);
        if !ok {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn ack(request: &Option<Envelope>, response: Rpc) -> Envelope {
    Envelope::new(
        request
            .as_ref()
            .and_then(|e| e.header.id.clone())
            .unwrap_or_default(),
        response,
    )
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
