//! Integration tests of the connection-request server over loopback sockets.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use icwmp::cwmp::conn_request_limit::{Admission, ConnRequestLimit};
use icwmp::transport::conn_request::{ConnRequestConfig, ConnRequestServer, ConnectionRequest};
use icwmp::wire::digest::{parse_www_authenticate, Challenge, Credentials, DigestClient};
use mio::{Events, Poll, Token};

const LISTENER: Token = Token(10);
const FIRST_CLIENT: usize = 100;

struct ServerLoop {
    poll: Poll,
    server: ConnRequestServer,
    outcomes: Vec<ConnectionRequest>,
    /// The daemon's limit, and what it made of each honoured request.
    limit: Rc<RefCell<ConnRequestLimit>>,
    admissions: Vec<Admission>,
}

impl ServerLoop {
    fn new(config: ConnRequestConfig) -> ServerLoop {
        let poll = Poll::new().unwrap();
        let limit = Rc::new(RefCell::new(ConnRequestLimit::default()));
        let server = ConnRequestServer::bind(
            poll.registry(),
            &config,
            LISTENER,
            FIRST_CLIENT,
            limit.clone(),
        )
        .unwrap();
        ServerLoop {
            poll,
            server,
            outcomes: Vec::new(),
            limit,
            admissions: Vec::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr().unwrap()
    }

    /// Drive the loop until `done` holds (bounded by a 20 s guard).
    fn run_until(&mut self, mut done: impl FnMut(&ServerLoop) -> bool) {
        let guard = Instant::now() + Duration::from_secs(20);
        let mut events = Events::with_capacity(64);
        while !done(self) {
            assert!(Instant::now() < guard, "loop guard expired");
            let now = Instant::now();
            let wait = self
                .server
                .poll_at()
                .map(|at| at.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(20))
                .min(Duration::from_millis(20));
            self.poll.poll(&mut events, Some(wait)).unwrap();
            for event in events.iter() {
                assert!(self.server.owns(event.token()));
                if let Some(outcome) =
                    self.server
                        .handle_event(self.poll.registry(), event, Instant::now())
                {
                    self.outcomes.push(outcome);
                    // As the daemon does with `Request::ConnectionRequest`.
                    let admission = self.limit.borrow_mut().admit(Instant::now());
                    self.admissions.push(admission);
                }
            }
            self.server
                .handle_timeout(self.poll.registry(), Instant::now());
        }
    }

    fn run_clients<T>(&mut self, handles: Vec<JoinHandle<T>>) -> Vec<T> {
        self.run_until(|_| handles.iter().all(|h| h.is_finished()));
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }
}

fn config() -> ConnRequestConfig {
    ConnRequestConfig {
        bind_addr: "127.0.0.1".parse().unwrap(),
        port: 0,
        path: "/cr".into(),
        credentials: Credentials {
            username: "cpe".into(),
            password: "secret".into(),
        },
        ..ConnRequestConfig::default()
    }
}

/// Read one response head (bodies are empty); returns (status, head text).
fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Answer the challenge of `head` (picking the given algorithm) with `password`.
fn authorized_request(head: &str, algorithm: &str, password: &str) -> String {
    let challenge = head
        .lines()
        .filter_map(|line| line.strip_prefix("WWW-Authenticate: "))
        .flat_map(parse_www_authenticate)
        .find_map(|challenge| match challenge {
            Challenge::Digest(digest) if digest.algorithm.name() == algorithm => Some(digest),
            _ => None,
        })
        .unwrap();
    let creds = Credentials {
        username: "cpe".into(),
        password: password.into(),
    };
    let auth = DigestClient::new(challenge).authorization(&creds, "GET", "/cr", "0a4f113b");
    format!("GET /cr HTTP/1.1\r\nHost: cpe\r\nAuthorization: {auth}\r\n\r\n")
}

/// Full exchange on one connection: GET, 401, authorized GET. Returns (final status, authorized request).
fn digest_exchange(
    addr: SocketAddr,
    algorithm: &'static str,
    password: &'static str,
) -> (u16, String) {
    let mut stream = connect(addr);
    stream
        .write_all(b"GET /cr HTTP/1.1\r\nHost: cpe\r\n\r\n")
        .unwrap();
    let (status, head) = read_response(&mut stream).unwrap();
    assert_eq!(status, 401);
    let request = authorized_request(&head, algorithm, password);
    stream.write_all(request.as_bytes()).unwrap();
    let (status, _) = read_response(&mut stream).unwrap();
    (status, request)
}

#[test]
fn correct_credentials_give_200_and_one_connection_request() {
    for algorithm in ["MD5", "SHA-256"] {
        let mut lp = ServerLoop::new(config());
        let addr = lp.addr();
        let results = lp.run_clients(vec![thread::spawn(move || {
            digest_exchange(addr, algorithm, "secret")
        })]);
        assert_eq!(results[0].0, 200, "{algorithm}");
        assert_eq!(lp.outcomes.len(), 1);
        assert!(lp.outcomes[0].peer.ip().is_loopback());
    }
}

#[test]
fn wrong_credentials_give_401() {
    let mut lp = ServerLoop::new(config());
    let addr = lp.addr();
    let results = lp.run_clients(vec![thread::spawn(move || {
        digest_exchange(addr, "MD5", "guess")
    })]);
    assert_eq!(results[0].0, 401);
    assert!(lp.outcomes.is_empty());
}

#[test]
fn replayed_request_is_refused() {
    let mut lp = ServerLoop::new(config());
    let addr = lp.addr();
    let results = lp.run_clients(vec![thread::spawn(move || {
        digest_exchange(addr, "SHA-256", "secret")
    })]);
    let (status, captured) = results[0].clone();
    assert_eq!(status, 200);
    let replay = lp.run_clients(vec![thread::spawn(move || {
        let mut stream = connect(addr);
        stream.write_all(captured.as_bytes()).unwrap();
        read_response(&mut stream).unwrap().0
    })]);
    assert_eq!(replay[0], 401);
    assert_eq!(lp.outcomes.len(), 1);
}

#[test]
fn burst_of_ten_is_carried_by_one_session() {
    let mut lp = ServerLoop::new(ConnRequestConfig {
        max_clients_per_source: 10,
        ..config()
    });
    let addr = lp.addr();
    let handles = (0..10)
        .map(|_| thread::spawn(move || digest_exchange(addr, "MD5", "secret").0))
        .collect();
    let statuses = lp.run_clients(handles);
    assert_eq!(statuses, [200; 10]);
    let mut expected = vec![Admission::Folded; 10];
    expected[0] = Admission::NewSession;
    assert_eq!(lp.admissions, expected);
}

#[test]
fn a_spent_limit_answers_503() {
    let mut lp = ServerLoop::new(config());
    *lp.limit.borrow_mut() = ConnRequestLimit::new(1, Duration::from_secs(3600));
    let addr = lp.addr();
    let first = lp.run_clients(vec![thread::spawn(move || {
        digest_exchange(addr, "MD5", "secret").0
    })]);
    assert_eq!(first, [200]);
    lp.limit.borrow_mut().session_started();
    let second = lp.run_clients(vec![thread::spawn(move || {
        digest_exchange(addr, "MD5", "secret").0
    })]);
    assert_eq!(second, [503]);
    assert_eq!(lp.admissions, [Admission::NewSession]);
}

#[test]
fn oversized_head_gets_431_and_close() {
    let mut lp = ServerLoop::new(config());
    let addr = lp.addr();
    let results = lp.run_clients(vec![thread::spawn(move || {
        let mut stream = connect(addr);
        let filler = "a".repeat(9000);
        // The server may answer and close before all of this is written.
        let _ =
            stream.write_all(format!("GET /cr HTTP/1.1\r\nX-Filler: {filler}\r\n\r\n").as_bytes());
        let status = read_response(&mut stream).map(|(status, _)| status);
        let mut rest = [0u8; 16];
        let closed = matches!(stream.read(&mut rest), Ok(0) | Err(_));
        (status, closed)
    })]);
    assert_eq!(results[0], (Some(431), true));
}

#[test]
fn idle_client_is_dropped_without_blocking_others() {
    let mut lp = ServerLoop::new(ConnRequestConfig {
        client_timeout: Duration::from_millis(300),
        ..config()
    });
    let addr = lp.addr();
    let mut idle = connect(addr);
    idle.write_all(b"GET /cr HTTP/1.1\r\n").unwrap(); // never finishes its head
    lp.run_until(|lp| lp.server.client_count() == 1);
    // Another client is served while the slow one hangs on.
    let results = lp.run_clients(vec![thread::spawn(move || {
        digest_exchange(addr, "MD5", "secret").0
    })]);
    assert_eq!(results[0], 200);
    lp.run_until(|lp| lp.server.client_count() == 0);
    let mut rest = [0u8; 16];
    assert!(matches!(idle.read(&mut rest), Ok(0) | Err(_)));
}

#[test]
fn idle_connections_cannot_lock_out_the_acs() {
    let mut lp = ServerLoop::new(ConnRequestConfig {
        max_clients: 4,
        max_clients_per_source: 2,
        ..config()
    });
    let addr = lp.addr();
    // Far more idle connections than slots, all held open by this side.
    let idle: Vec<TcpStream> = (0..50).map(|_| connect(addr)).collect();
    lp.run_until(|lp| lp.server.client_count() == 2);
    let results = lp.run_clients(vec![thread::spawn(move || {
        digest_exchange(addr, "MD5", "secret").0
    })]);
    assert_eq!(results, [200]);
    drop(idle);
}

#[test]
fn answered_requests_do_not_extend_a_connections_deadline() {
    let mut lp = ServerLoop::new(ConnRequestConfig {
        client_timeout: Duration::from_millis(400),
        max_requests_per_connection: 1000,
        ..config()
    });
    let addr = lp.addr();
    // A complete request every 100 ms: each is answered 401 and kept alive.
    let answered = lp.run_clients(vec![thread::spawn(move || {
        let mut stream = connect(addr);
        let mut answered = 0;
        for _ in 0..200 {
            if stream
                .write_all(b"GET /cr HTTP/1.1\r\nHost: cpe\r\n\r\n")
                .is_err()
            {
                break;
            }
            match read_response(&mut stream) {
                Some((401, _)) => answered += 1,
                _ => break,
            }
            thread::sleep(Duration::from_millis(100));
        }
        answered
    })]);
    assert!(answered[0] < 200, "the connection outlived its deadline");
}

#[test]
fn a_pipelined_burst_past_the_head_cap_is_answered_in_full() {
    let mut lp = ServerLoop::new(config());
    let addr = lp.addr();
    let answers = lp.run_clients(vec![thread::spawn(move || {
        let mut stream = connect(addr);
        // Four requests of 3.5 KB each, more than the 8 KB head cap together.
        let filler = "f".repeat(3500);
        let one = format!("GET /cr HTTP/1.1\r\nHost: cpe\r\nX-Filler: {filler}\r\n\r\n");
        stream.write_all(one.repeat(4).as_bytes()).unwrap();
        let mut answers = Vec::new();
        while let Some((status, head)) = read_response(&mut stream) {
            answers.push((status, head.contains("Connection: close")));
        }
        answers
    })]);
    // Every request answered; the last one (the per-connection cap) closes.
    assert_eq!(
        answers[0],
        [(401, false), (401, false), (401, false), (401, true)]
    );
}

#[test]
fn a_source_that_keeps_failing_is_refused_without_a_check() {
    let mut lp = ServerLoop::new(ConnRequestConfig {
        failure_burst: 2,
        failure_refill: Duration::from_secs(3600),
        ..config()
    });
    let addr = lp.addr();
    let handles = vec![thread::spawn(move || {
        let mut statuses = Vec::new();
        for _ in 0..2 {
            statuses.push(digest_exchange(addr, "MD5", "guess").0);
        }
        // Locked out: closed at accept, or 503 for what was already accepted.
        let mut stream = connect(addr);
        let _ = stream.write_all(b"GET /cr HTTP/1.1\r\nHost: cpe\r\n\r\n");
        statuses.push(read_response(&mut stream).map_or(0, |(status, _)| status));
        statuses
    })];
    let statuses = lp.run_clients(handles);
    assert_eq!(statuses[0][..2], [401, 401]);
    assert!(matches!(statuses[0][2], 0 | 503), "{:?}", statuses[0]);
    assert!(lp.outcomes.is_empty());
}
