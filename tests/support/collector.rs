//! A loopback BulkData collection server (TR-069 Annex N.2): records every report with its headers, decodes its Content-Encoding, can demand Digest and answer scripted statuses.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use icwmp::wire::content_coding::{self, ContentCoding};
use icwmp::wire::digest::{Credentials, DigestServer, Verdict};

/// One report as the collector received it.
#[derive(Clone, Debug)]
pub struct Report {
    pub method: String,
    /// Path and query of the request line.
    pub target: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body as sent (maybe compressed).
    pub raw: Vec<u8>,
    /// The body with its Content-Encoding undone.
    pub body: Vec<u8>,
    /// The status the collector answered.
    pub status: u16,
}

impl Report {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct State {
    reports: Vec<Report>,
    /// Statuses to answer, in order; 200 once empty.
    script: VecDeque<u16>,
}

/// The running collector.
pub struct Collector {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Collector {
    /// Starts on 127.0.0.1:`port` (0: ephemeral); with `digest`, every request
    /// must carry valid Digest credentials (one use per nonce, like the ACS).
    pub fn start(port: u16, digest: Option<Credentials>, script: &[u16]) -> Collector {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind collector");
        let addr = listener.local_addr().expect("collector address");
        let state = Arc::new(Mutex::new(State {
            reports: Vec::new(),
            script: script.iter().copied().collect(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let server = Arc::new(Server {
            state: state.clone(),
            digest: digest.map(|c| {
                (
                    c,
                    Mutex::new(DigestServer::new(
                        "collector",
                        Duration::from_secs(300),
                        64,
                        false,
                        *b"collector-opaque",
                    )),
                )
            }),
        });
        let stop_flag = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let server = server.clone();
                std::thread::spawn(move || server.serve(conn));
            }
        });
        Collector { addr, state, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn reports(&self) -> Vec<Report> {
        self.state.lock().expect("collector").reports.clone()
    }

    /// Waits until `count` reports whose target starts with `path` arrived.
    pub fn wait_reports(&self, path: &str, count: usize, timeout: Duration) -> Vec<Report> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<Report> = self
                .reports()
                .into_iter()
                .filter(|r| r.target.starts_with(path))
                .collect();
            if found.len() >= count || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

struct Server {
    state: Arc<Mutex<State>>,
    digest: Option<(Credentials, Mutex<DigestServer>)>,
}

impl Server {
    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
        let mut writer = match conn.try_clone() {
            Ok(w) => w,
            Err(_) => return,
        };
        let mut reader = BufReader::new(conn);
        loop {
            let Some(super::http_wire::RequestHead {
                method,
                target,
                headers,
            }) = super::http_wire::read_request_head(&mut reader)
            else {
                return;
            };
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            // Like a strict server: a body needs its length (the CPE never sends chunked).
            let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) else {
                let _ = writer.write_all(b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                return;
            };
            if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let mut raw = vec![0; len];
            if reader.read_exact(&mut raw).is_err() {
                return;
            }
            if let Some((creds, digest)) = &self.digest {
                let mut digest = digest.lock().expect("digest");
                let now = Instant::now();
                let verdict = header("authorization").map_or(Verdict::Denied, |a| {
                    digest.verify(&a, &method, &target, creds, now)
                });
                if verdict != Verdict::Accepted {
                    let mut answer =
                        String::from("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n");
                    for challenge in
                        digest.challenge(*b"collector-random", now, verdict == Verdict::Stale)
                    {
                        answer.push_str(&format!("WWW-Authenticate: {challenge}\r\n"));
                    }
                    answer.push_str("\r\n");
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                    continue;
                }
            }
            let body = match header("content-encoding") {
                None => raw.clone(),
                Some(value) => match ContentCoding::from_header(&value) {
                    Ok(Some(coding)) => content_coding::decompress(coding, &raw, 64 << 20)
                        .unwrap_or_else(|_| b"<undecodable>".to_vec()),
                    _ => b"<unknown coding>".to_vec(),
                },
            };
            let status = {
                let mut state = self.state.lock().expect("collector");
                let status = state.script.pop_front().unwrap_or(200);
                state.reports.push(Report {
                    method,
                    target,
                    headers: headers.clone(),
                    raw,
                    body,
                    status,
                });
                status
            };
            let reason = if status == 200 { "OK" } else { "Error" };
            let answer = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n");
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }
}
