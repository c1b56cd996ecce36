//! A connection-request flood against the real `icwmpd`: bad credentials at full speed plus
//! idle and slow connections from many sources, while a real ACS makes its requests. Prints the
//! share of the ACS's requests honoured, the daemon's CPU and RSS, the ACS's round trip against
//! its idle floor, and the worst wait of a UDP echo socket sharing a mio loop with the server
//! under the same flood (against its idle floor).
//!
//! The sources need addresses of their own, so the whole run happens in a network namespace it
//! creates (needs root and `ip`); without them it prints a note and skips.

#[path = "../tests/support/acs.rs"]
mod acs;
#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/http_wire.rs"]
mod http_wire;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket as StdUdp};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use icwmp::cwmp::conn_request_limit::ConnRequestLimit;
use icwmp::transport::conn_request::{ConnRequestConfig, ConnRequestServer};
use icwmp::wire::digest::{parse_www_authenticate, Challenge, Credentials, DigestClient};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

const INSIDE: &str = "ICWMP_FLOOD_INSIDE";
const FLOOD: Duration = Duration::from_secs(4);
/// The source of the bad-credential flood.
const FLOODER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
/// Sources of idle connections (10.9.1.x) and slow ones (10.9.2.x).
const CROWD: u8 = 50;
const USER: &str = "cr-user";
const PASSWORD: &str = "cr-pass";

fn main() {
    if std::env::var_os(INSIDE).is_some() {
        inside();
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !root {
        println!("connection-request flood: skipped (needs root for a network namespace)");
        return;
    }
    let ns = format!("icwmp-flood-{}", std::process::id());
    let ip = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ip(&["netns", "add", &ns]) {
        println!("connection-request flood: skipped (cannot create a network namespace)");
        return;
    }
    let mut batch = String::from("link set lo up\n");
    batch.push_str(&format!("addr add {FLOODER}/32 dev lo\n"));
    for i in 1..=CROWD {
        batch.push_str(&format!(
            "addr add 10.9.1.{i}/32 dev lo\naddr add 10.9.2.{i}/32 dev lo\n"
        ));
    }
    let configured = Command::new("ip")
        .args(["-n", &ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(stdin) = child.stdin.as_mut() {
                stdin.write_all(batch.as_bytes())?;
            }
            child.wait()
        })
        .is_ok_and(|s| s.success());
    let exe = std::env::current_exe().expect("own path");
    if configured {
        let _ = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(exe)
            .env(INSIDE, "1")
            .status();
    } else {
        println!("connection-request flood: skipped (cannot set up the namespace)");
    }
    ip(&["netns", "del", &ns]);
}

/// Connects to `port` on `dest` (whose local address is also the source).
fn connect(dest: Ipv4Addr, port: u16) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(
        &SocketAddr::new(IpAddr::V4(dest), port),
        Duration::from_secs(1),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(stream)
}

fn read_head(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some((text.split(' ').nth(1)?.parse().ok()?, text))
}

/// One connection request as an ACS makes it from 127.0.0.1: the final status (0: no answer)
/// and the round trip of the first exchange.
fn acs_request(port: u16) -> (u16, Duration) {
    let Some(mut stream) = connect(Ipv4Addr::LOCALHOST, port) else {
        return (0, Duration::ZERO);
    };
    let start = Instant::now();
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n")
        .is_err()
    {
        return (0, Duration::ZERO);
    }
    let Some((401, head)) = read_head(&mut stream) else {
        return (0, Duration::ZERO);
    };
    let round_trip = start.elapsed();
    let Some(challenge) = head
        .lines()
        .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .flat_map(parse_www_authenticate)
        .find_map(|c| match c {
            Challenge::Digest(d) => Some(d),
            Challenge::Basic { .. } => None,
        })
    else {
        return (0, round_trip);
    };
    let creds = Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let auth = DigestClient::new(challenge).authorization(&creds, "GET", "/", "c0ffee");
    let request = format!("GET / HTTP/1.1\r\nHost: cpe\r\nAuthorization: {auth}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, round_trip);
    }
    (read_head(&mut stream).map_or(0, |(s, _)| s), round_trip)
}

/// The attackers, running until `stop`: counts of bad requests sent and connections opened.
struct Flood {
    stop: Arc<AtomicBool>,
    bad_requests: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Flood {
    fn start(port: u16) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let bad_requests = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        // Bad credentials at full speed, kept alive as long as the server keeps answering.
        for _ in 0..2 {
            let (stop, bad, conns) = (stop.clone(), bad_requests.clone(), connections.clone());
            threads.push(thread::spawn(move || {
                let request = format!(
                    "GET / HTTP/1.1\r\nHost: cpe\r\nAuthorization: Digest username=\"{USER}\", \
                     realm=\"authenticate@cwmp\", nonce=\"00\", uri=\"/\", qop=auth, \
                     nc=00000001, cnonce=\"c\", response=\"00000000000000000000000000000000\"\r\n\r\n"
                );
                while !stop.load(Ordering::Relaxed) {
                    let Some(mut stream) = connect(FLOODER, port) else {
                        continue;
                    };
                    conns.fetch_add(1, Ordering::Relaxed);
                    while stream.write_all(request.as_bytes()).is_ok() {
                        bad.fetch_add(1, Ordering::Relaxed);
                        if read_head(&mut stream).is_none() || stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
            }));
        }
        // Idle connections from many sources, new ones all the time, up to 1,000 held.
        {
            let (stop, conns) = (stop.clone(), connections.clone());
            threads.push(thread::spawn(move || {
                let mut held = std::collections::VecDeque::new();
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let source = Ipv4Addr::new(10, 9, 1, (n % u32::from(CROWD)) as u8 + 1);
                    if let Some(stream) = connect(source, port) {
                        conns.fetch_add(1, Ordering::Relaxed);
                        held.push_back(stream);
                    }
                    if held.len() > 1000 {
                        held.pop_front();
                    }
                    thread::sleep(Duration::from_millis(1));
                }
            }));
        }
        // Slow connections: a byte of a request every 100 ms, reconnecting when dropped.
        {
            let (stop, conns) = (stop.clone(), connections.clone());
            threads.push(thread::spawn(move || {
                let mut slow: Vec<Option<(TcpStream, usize)>> = (0..CROWD).map(|_| None).collect();
                let request = b"GET / HTTP/1.1\r\nHost: cpe\r\nX-Slow: yes\r\n\r\n";
                while !stop.load(Ordering::Relaxed) {
                    for (i, slot) in slow.iter_mut().enumerate() {
                        let alive = match slot {
                            Some((stream, sent)) => {
                                let byte = request.get(*sent % request.len()..).unwrap_or(&[]);
                                *sent += 1;
                                stream.write_all(byte.get(..1).unwrap_or(&[])).is_ok()
                            }
                            None => false,
                        };
                        if !alive {
                            let source = Ipv4Addr::new(10, 9, 2, i as u8 + 1);
                            *slot = connect(source, port).map(|s| (s, 0));
                            conns.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    thread::sleep(Duration::from_millis(100));
                }
            }));
        }
        Flood {
            stop,
            bad_requests,
            connections,
            threads,
        }
    }

    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        (
            self.bad_requests.load(Ordering::Relaxed),
            self.connections.load(Ordering::Relaxed),
        )
    }
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat; after the name, the state is the first.
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    samples
        .get((samples.len() * p / 100).min(samples.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn inside() {
    let server = acs::TestAcs::start(acs::AcsOptions::default());
    let dir = daemon::temp_dir("flood");
    daemon::write_config(
        &dir,
        &server.url(),
        "",
        &format!("\toption userid '{USER}'\n\toption passwd '{PASSWORD}'\n\toption log_severity 'WARNING'"),
    );
    let icwmpd = daemon::TestDaemon::start(&dir, &[]);
    if !server.wait_sessions(1, Duration::from_secs(20)) {
        println!("connection-request flood: skipped (no first session)");
        return;
    }
    let port: u16 = server.sessions()[0]
        .inform()
        .and_then(|i| {
            i.parameter_list
                .iter()
                .find(|p| p.name.ends_with("ManagementServer.ConnectionRequestURL"))
        })
        .and_then(|p| {
            p.value
                .rsplit(':')
                .next()?
                .trim_end_matches('/')
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let pid = icwmpd.pid();

    // The floor: the ACS's round trip with nobody else around.
    let mut idle_trips: Vec<Duration> = (0..20).map(|_| acs_request_challenge_only(port)).collect();
    let idle_rss = status_kib(pid, "VmRSS:");

    let flood = Flood::start(port);
    thread::sleep(Duration::from_millis(300));
    let ticks_before = cpu_ticks(pid);
    let started = Instant::now();
    let (mut asked, mut honoured) = (0, 0);
    let mut trips = Vec::new();
    while started.elapsed() < FLOOD {
        let (status, trip) = acs_request(port);
        asked += 1;
        if status == 200 {
            honoured += 1;
            trips.push(trip);
        }
        thread::sleep(Duration::from_millis(200));
    }
    let wall = started.elapsed();
    let ticks = cpu_ticks(pid).saturating_sub(ticks_before);
    let rss = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    let (bad, conns) = flood.stop();
    drop(icwmpd);

    let hz = 100.0; // USER_HZ on Linux
    let cpu = ticks as f64 / hz / wall.as_secs_f64() * 100.0;
    println!(
        "cr flood: real ACS requests honoured during the flood: {honoured}/{asked} ({:.0}%)",
        honoured as f64 * 100.0 / f64::from(asked.max(1))
    );
    println!(
        "cr flood: attack: {bad} bad-credential requests ({:.0}/s), {conns} idle/slow/flood connections",
        bad as f64 / wall.as_secs_f64()
    );
    println!("cr flood: daemon CPU during the flood: {cpu:.0}% of one core");
    println!(
        "cr flood: daemon RSS during the flood: {rss} KiB, peak {hwm} KiB ({:.2}x idle {idle_rss} KiB)",
        rss as f64 / idle_rss.max(1) as f64
    );
    let idle_p50 = percentile(&mut idle_trips, 50);
    let flood_p50 = percentile(&mut trips, 50);
    println!(
        "cr flood: ACS challenge round trip: idle p50 {:.2} ms, flood p50 {:.2} ms ({:.1}x the idle floor)",
        ms(idle_p50),
        ms(flood_p50),
        ms(flood_p50) / ms(idle_p50).max(0.001)
    );
    udp_echo_in_the_server_loop();
}

/// The first exchange only (GET, 401): the ACS's round trip without creating a session.
fn acs_request_challenge_only(port: u16) -> Duration {
    let Some(mut stream) = connect(Ipv4Addr::LOCALHOST, port) else {
        return Duration::ZERO;
    };
    let start = Instant::now();
    let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n");
    let _ = read_head(&mut stream);
    start.elapsed()
}

const LISTENER: Token = Token(1);
const UDP: Token = Token(2);
const FIRST_CLIENT: usize = 100;

/// The server in a mio loop with a UDP echo socket, as the daemon's loop holds both: the worst
/// wait of an echo, idle and under the flood.
fn udp_echo_in_the_server_loop() {
    let poll = Poll::new().expect("poll");
    let config = ConnRequestConfig {
        port: 0,
        credentials: Credentials {
            username: USER.into(),
            password: PASSWORD.into(),
        },
        ..ConnRequestConfig::default()
    };
    let limit = Rc::new(RefCell::new(ConnRequestLimit::default()));
    let mut server = ConnRequestServer::bind(
        poll.registry(),
        &config,
        LISTENER,
        FIRST_CLIENT,
        limit.clone(),
    )
    .expect("bind");
    let port = server.local_addr().expect("addr").port();
    let mut udp = UdpSocket::bind("127.0.0.1:0".parse().expect("addr")).expect("udp");
    poll.registry()
        .register(&mut udp, UDP, Interest::READABLE)
        .expect("register udp");
    let udp_addr = udp.local_addr().expect("udp addr");
    let mut poll = poll;

    let measure = |poll: &mut Poll, server: &mut ConnRequestServer, udp: &mut UdpSocket| {
        let stop = Arc::new(AtomicBool::new(false));
        let pinger = {
            let stop = stop.clone();
            thread::spawn(move || {
                let socket = StdUdp::bind("127.0.0.1:0").expect("pinger");
                socket
                    .set_read_timeout(Some(Duration::from_millis(500)))
                    .expect("timeout");
                let mut waits = Vec::new();
                let mut buf = [0u8; 16];
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let _ = socket.send_to(b"echo", udp_addr);
                    if socket.recv_from(&mut buf).is_ok() {
                        waits.push(sent.elapsed());
                    }
                    thread::sleep(Duration::from_millis(2));
                }
                waits
            })
        };
        // As many events per turn as the daemon's loop takes.
        let mut events = Events::with_capacity(64);
        let until = Instant::now() + Duration::from_secs(2);
        let mut longest_turn = Duration::ZERO;
        while Instant::now() < until {
            let _ = poll.poll(&mut events, Some(Duration::from_millis(10)));
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == UDP {
                    let mut buf = [0u8; 64];
                    while let Ok((n, from)) = udp.recv_from(&mut buf) {
                        let _ = udp.send_to(buf.get(..n).unwrap_or(&[]), from);
                    }
                } else if server.handle_event(poll.registry(), event, now).is_some() {
                    limit.borrow_mut().admit(now);
                    limit.borrow_mut().session_started();
                }
            }
            server.handle_timeout(poll.registry(), Instant::now());
            longest_turn = longest_turn.max(now.elapsed());
        }
        stop.store(true, Ordering::Relaxed);
        (pinger.join().unwrap_or_default(), longest_turn)
    };
    let (mut idle, _) = measure(&mut poll, &mut server, &mut udp);
    let flood = Flood::start(port);
    let (mut flooded, longest_turn) = measure(&mut poll, &mut server, &mut udp);
    flood.stop();
    let (idle_p99, flood_p99) = (percentile(&mut idle, 99), percentile(&mut flooded, 99));
    let flood_max = flooded.last().copied().unwrap_or_default();
    println!(
        "cr flood: UDP echo sharing the server's loop: idle p99 {:.2} ms, flood p99 {:.2} ms ({:.1}x the idle floor), flood max {:.2} ms",
        ms(idle_p99),
        ms(flood_p99),
        ms(flood_p99) / ms(idle_p99).max(0.001),
        ms(flood_max)
    );
    println!(
        "cr flood: longest turn (64 events) of that loop during the flood, wall time: {:.2} ms",
        ms(longest_turn)
    );
}
