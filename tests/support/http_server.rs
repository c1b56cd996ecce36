//! Scripted loopback HTTP/1.1 (and HTTPS) server on threads, plus a mio driving loop, for HTTP client tests.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use icwmp::transport::http_client::{HttpClient, HttpOutcome, Request};
use mio::net::UdpSocket as MioUdpSocket;
use mio::{Events, Interest, Poll, Token};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub connection: usize,
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What the server answers.
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// Close the connection after this response.
        close: bool,
        /// When closing, leave out `Connection: close` (a server dropping an idle keep-alive).
        silent_close: bool,
    },
    /// Never answer; keep the connection open until the client goes away.
    Hang,
}

impl Reply {
    pub fn ok(body: &[u8]) -> Reply {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: &[u8]) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
            close: false,
            silent_close: false,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn closing(mut self) -> Reply {
        if let Reply::Respond { close, .. } = &mut self {
            *close = true;
        }
        self
    }

    /// Close after the response without announcing it.
    pub fn closing_silently(mut self) -> Reply {
        if let Reply::Respond {
            close,
            silent_close,
            ..
        } = &mut self
        {
            *close = true;
            *silent_close = true;
        }
        self
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// Server-side TLS material: a rustls server config.
pub type TlsServerConfig = Arc<rustls::ServerConfig>;

pub struct TestServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

impl TestServer {
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> TestServer {
        TestServer::start_inner(Arc::new(handler), None, false)
    }

    /// Send `100 Continue` when a request asks for it.
    pub fn start_with_continue(
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start_inner(Arc::new(handler), None, true)
    }

    pub fn start_tls(
        tls: TlsServerConfig,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start_inner(Arc::new(handler), Some(tls), false)
    }

    fn start_inner(
        handler: Arc<Handler>,
        tls: Option<TlsServerConfig>,
        send_continue: bool,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (requests2, connections2, stop2) =
            (requests.clone(), connections.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let id = connections2.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let requests = requests2.clone();
                let tls = tls.clone();
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
                    let stream: Box<dyn Stream> = match tls {
                        Some(config) => {
                            let Ok(conn) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            Box::new(rustls::StreamOwned::new(conn, stream))
                        }
                        None => Box::new(stream),
                    };
                    serve_connection(stream, id, &*handler, &requests, send_continue);
                });
            }
        });
        TestServer {
            addr,
            requests,
            connections,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_connection(
    mut stream: Box<dyn Stream>,
    id: usize,
    handler: &Handler,
    requests: &Mutex<Vec<Recorded>>,
    send_continue: bool,
) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_until_head(&mut stream, &mut buf) else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let len: usize = find("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if send_continue && find("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            if stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                return;
            }
            let _ = stream.flush();
        }
        while buf.len() < len {
            let mut chunk = [0u8; 65536];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        let recorded = Recorded {
            connection: id,
            method,
            path,
            headers,
            body,
        };
        requests.lock().unwrap().push(recorded.clone());
        match handler(&recorded) {
            Reply::Hang => {
                // Wait for the client to give up and close.
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
            Reply::Respond {
                status,
                headers,
                body,
                close,
                silent_close,
            } => {
                let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (name, value) in headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                if close && !silent_close {
                    out.push_str("connection: close\r\n");
                }
                out.push_str("\r\n");
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(&body);
                if stream.write_all(&bytes).is_err() || stream.flush().is_err() {
                    return;
                }
                if close {
                    return;
                }
            }
        }
    }
}

fn read_until_head(stream: &mut Box<dyn Stream>, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

pub const CLIENT: Token = Token(1);
pub const UDP: Token = Token(2);

/// A mio loop around one `HttpClient`, optionally echoing UDP datagrams on the side.
pub struct Loop {
    pub poll: Poll,
    pub client: HttpClient,
    pub udp: Option<MioUdpSocket>,
    pub udp_echoed: usize,
}

impl Loop {
    pub fn new(client: HttpClient) -> Loop {
        Loop {
            poll: Poll::new().unwrap(),
            client,
            udp: None,
            udp_echoed: 0,
        }
    }

    /// Bind a UDP echo socket in the same poll; returns its address.
    pub fn add_udp_echo(&mut self) -> SocketAddr {
        let mut socket = MioUdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        self.poll
            .registry()
            .register(&mut socket, UDP, Interest::READABLE)
            .unwrap();
        let addr = socket.local_addr().unwrap();
        self.udp = Some(socket);
        addr
    }

    /// Start `request` and drive the loop until its outcome (bounded by a 30 s guard).
    pub fn run(&mut self, request: Request) -> HttpOutcome {
        let now = Instant::now();
        self.client
            .start(self.poll.registry(), CLIENT, request, now)
            .unwrap();
        self.until_outcome()
    }

    pub fn until_outcome(&mut self) -> HttpOutcome {
        let guard = Instant::now() + Duration::from_secs(30);
        let mut events = Events::with_capacity(64);
        while Instant::now() < guard {
            let now = Instant::now();
            let wait = self
                .client
                .poll_at()
                .map(|at| at.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(200))
                .min(Duration::from_millis(200));
            self.poll.poll(&mut events, Some(wait)).unwrap();
            // Handle the whole batch even after an outcome: edge-triggered events
            // (the UDP socket's) that are skipped would never come again.
            let mut outcome = None;
            for event in events.iter() {
                if event.token() == UDP {
                    self.echo_udp();
                    continue;
                }
                if let Some(done) =
                    self.client
                        .handle_event(self.poll.registry(), event, Instant::now())
                {
                    outcome = Some(done);
                }
            }
            if let Some(outcome) = outcome {
                return outcome;
            }
            if self.client.poll_at().is_some_and(|at| at <= Instant::now()) {
                if let Some(outcome) = self
                    .client
                    .handle_timeout(self.poll.registry(), Instant::now())
                {
                    return outcome;
                }
            }
        }
        panic!("no outcome within 30 s");
    }

    fn echo_udp(&mut self) {
        let Some(socket) = &self.udp else { return };
        let mut buf = [0u8; 1500];
        loop {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let _ = socket.send_to(&buf[..n], from);
                    self.udp_echoed += 1;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
    }
}

/// Pings a UDP echo address every millisecond on a thread; reports the worst round trip.
pub struct UdpPinger {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<(Duration, usize, usize)>>,
}

impl UdpPinger {
    pub fn start(target: SocketAddr) -> UdpPinger {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let (mut worst, mut sent, mut answered) = (Duration::ZERO, 0usize, 0usize);
            let mut buf = [0u8; 64];
            while !stop2.load(Ordering::SeqCst) {
                let started = Instant::now();
                socket.send_to(&sent.to_be_bytes(), target).unwrap();
                sent += 1;
                // Wait for this ping's echo (stale echoes from lost pings are skipped).
                loop {
                    match socket.recv_from(&mut buf) {
                        Ok((8, _)) if buf[..8] == (sent - 1).to_be_bytes() => {
                            answered += 1;
                            worst = worst.max(started.elapsed());
                            break;
                        }
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
                thread::sleep(Duration::from_millis(1));
            }
            (worst, sent, answered)
        });
        UdpPinger {
            stop,
            handle: Some(handle),
        }
    }

    /// Stop and return (worst round trip, pings sent, pings answered).
    pub fn finish(mut self) -> (Duration, usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap()
    }
}
