//! Benchmark: answer latency of the real icwmpd's TWAMP reflector and UDP echo server on loopback,
//! idle and under load (sessions with a 10,000-parameter GetParameterValues, 8 MiB downloads, a
//! connection-request flood), each side by side with a minimal reflector in this process (one
//! socket, nothing else) as the floor.

#[path = "../tests/support/acs.rs"]
mod acs;
#[path = "../tests/support/http_server.rs"]
mod http_server;
#[path = "../tests/support/http_wire.rs"]
mod http_wire;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use acs::{AcsOptions, SessionScript, TestAcs};
use http_server::{Reply, TestServer};
use icwmp::wire::digest::{parse_www_authenticate, Challenge, Credentials, DigestClient};
use icwmp::wire::soap::{Download, Rpc};
use icwmp::wire::twamp::{self, NtpTimestamp};
use icwmp::wire::udp_echo::{self, EchoPlusHeader};

/// Probes per reflector and scenario.
const PROBES: usize = 10_000;
/// Time between two probes of one prober.
const INTERVAL: Duration = Duration::from_micros(200);
/// A probe not answered within this is lost.
const LOSS_TIMEOUT: Duration = Duration::from_millis(100);
/// TWAMPReflector rows that make the GetParameterValues answer 10,010 values.
const GPV_ROWS: usize = 1_430;
/// GetParameterValues per session: enough to last the probing.
const GPVS_PER_SESSION: usize = 40;
const CR_USER: &str = "bench";
const CR_PASS: &str = "bench-pass";
const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Twamp,
    Echo,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Idle,
    Gpv,
    Downloads,
    Flood,
}

const TAGS: [&str; 4] = ["idle", "gpv", "downloads", "flood"];

impl Scenario {
    fn tag(self) -> &'static str {
        match self {
            Scenario::Idle => TAGS[0],
            Scenario::Gpv => TAGS[1],
            Scenario::Downloads => TAGS[2],
            Scenario::Flood => TAGS[3],
        }
    }

    fn label(self) -> &'static str {
        match self {
            Scenario::Idle => "idle",
            Scenario::Gpv => "sessions with 10,000-parameter GPVs",
            Scenario::Downloads => "8 MiB downloads",
            Scenario::Flood => "connection-request flood",
        }
    }
}

struct Figures {
    p50: Duration,
    p99: Duration,
    worst: Duration,
    lost: usize,
    sent: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn figures(mut rtts: Vec<Duration>, sent: usize) -> Figures {
    rtts.sort_unstable();
    let at = |q: f64| {
        rtts.get(((rtts.len() as f64 * q) as usize).min(rtts.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Figures {
        p50: at(0.50),
        p99: at(0.99),
        worst: rtts.last().copied().unwrap_or_default(),
        lost: sent - rtts.len(),
        sent,
    }
}

fn probe_bytes(kind: Kind, n: u32) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    match kind {
        Kind::Twamp => {
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            bytes[4..12].copy_from_slice(&NtpTimestamp::from_unix(0, 0).to_bytes());
        }
        Kind::Echo => {
            udp_echo::write_echo_plus(
                &EchoPlusHeader {
                    test_gen_sn: n,
                    ..EchoPlusHeader::default()
                },
                &mut bytes,
            );
        }
    }
    bytes
}

fn answer_number(kind: Kind, bytes: &[u8]) -> Option<u32> {
    match kind {
        Kind::Twamp => twamp::parse_reflector_packet(bytes)
            .ok()
            .map(|p| p.sender.sequence),
        Kind::Echo => udp_echo::parse_echo_plus(bytes).map(|h| h.test_gen_sn),
    }
}

/// How long a TWAMP answer says the reflector held the packet: transmit minus receive timestamp.
fn held(answer: &[u8]) -> Option<Duration> {
    let packet = twamp::parse_reflector_packet(answer).ok()?;
    let (rs, rn) = packet.reflection.receive.to_unix();
    let (ts, tn) = packet.reflection.transmit.to_unix();
    let nanos = (ts - rs) * 1_000_000_000 + i64::from(tn) - i64::from(rn);
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// Sends `PROBES` probes one at a time to `target`, each waiting for its
/// answer; also the reflector's own holding times (TWAMP answers of the daemon).
fn probe(kind: Kind, target: SocketAddr) -> (Figures, Vec<Duration>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("prober");
    socket.set_ttl(255).expect("ttl");
    let mut rtts = Vec::with_capacity(PROBES);
    let mut holds = Vec::new();
    let mut buf = [0u8; 2048];
    let mut next = Instant::now();
    for n in 0..PROBES as u32 {
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        }
        next += INTERVAL;
        let sent = Instant::now();
        if socket.send_to(&probe_bytes(kind, n), target).is_err() {
            continue;
        }
        loop {
            let left = LOSS_TIMEOUT.saturating_sub(sent.elapsed());
            if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match socket.recv(&mut buf) {
                Ok(len) if answer_number(kind, &buf[..len]) == Some(n) => {
                    rtts.push(sent.elapsed());
                    if kind == Kind::Twamp {
                        holds.extend(held(&buf[..len]));
                    }
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        // Late answers are skipped by the number check; keep the pace after a loss.
        next = next.max(Instant::now());
    }
    (figures(rtts, PROBES), holds)
}

/// The floor: a minimal reflector of `kind` on its own socket and thread.
fn floor_reflector(kind: Kind, stop: Arc<AtomicBool>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("floor");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let addr = socket.local_addr().expect("addr");
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let _ = match kind {
                // Sender's sequence, timestamp and error estimate at their 4.2.1 offsets.
                Kind::Twamp => {
                    let mut out = [0u8; 64];
                    out[24..38].copy_from_slice(&buf[..14]);
                    socket.send_to(&out[..len.clamp(41, 64)], from)
                }
                Kind::Echo => socket.send_to(&buf[..len], from),
            };
        }
    });
    addr
}

fn free_port(tcp: bool) -> u16 {
    if tcp {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("tcp port")
            .port()
    } else {
        UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("udp port")
            .port()
    }
}

/// A private directory on tmpfs (as OpenWrt's /tmp): file writes are not disk waits.
fn bench_dir(tag: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("icwmp-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_daemon(tag: &str, acs_url: &str, cr_port: u16, twamp_port: u16, echo_port: u16) -> Daemon {
    let dir = bench_dir(tag);
    let cwmp = format!(
        "config cwmp 'acs'\n\toption url '{acs_url}'\n\toption periodic_inform_enable '0'\n\
         config cwmp 'cpe'\n\toption port '{cr_port}'\n\toption userid '{CR_USER}'\n\toption passwd '{CR_PASS}'\n\
         \toption log_to_file '0'\n\toption log_severity 'WARNING'\n\toption ubus_socket '{dir}/no-ubus.sock'\n\
         \toption download_dir '{dir}/downloads'\n\toption session_timeout '60'\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("cwmp"), cwmp).expect("cwmp");
    let mut twamp = format!(
        "config twamp_reflector\n\toption enable '1'\n\toption interface 'lo'\n\toption port '{twamp_port}'\n\toption max_ttl '255'\n"
    );
    for i in 0..GPV_ROWS {
        twamp.push_str(&format!(
            "config twamp_reflector\n\toption enable '0'\n\toption interface 'lo'\n\toption port '{}'\n",
            20_000 + i
        ));
    }
    std::fs::write(dir.join("twamp"), twamp).expect("twamp");
    std::fs::write(
        dir.join("udpechoserver"),
        format!("config udpechoserver 'udpechoserver'\n\toption enable '1'\n\toption server_port '{echo_port}'\n\toption plus '1'\n"),
    )
    .expect("udpechoserver");
    let child = Command::new(env!("CARGO_BIN_EXE_icwmpd"))
        .arg("--config")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start icwmpd");
    Daemon { child, dir }
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

/// A connection request with `password`; the final status.
fn connection_request(port: u16, password: &str) -> u16 {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n")
        .is_err()
    {
        return 0;
    }
    let Some((401, head)) = read_head(&mut stream) else {
        return 0;
    };
    let Some(challenge) = head
        .lines()
        .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .flat_map(parse_www_authenticate)
        .find_map(|c| match c {
            Challenge::Digest(d) => Some(d),
            Challenge::Basic { .. } => None,
        })
    else {
        return 0;
    };
    let creds = Credentials {
        username: CR_USER.into(),
        password: password.into(),
    };
    let auth = DigestClient::new(challenge).authorization(&creds, "GET", "/", "0a0b0c");
    let request = format!("GET / HTTP/1.1\r\nHost: cpe\r\nAuthorization: {auth}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    read_head(&mut stream).map_or(0, |(status, _)| status)
}

/// Opens a session by connection request (the daemon honours one per 5 s).
fn open_session(cr_port: u16) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if connection_request(cr_port, CR_PASS) == 200 {
            return;
        }
        thread::sleep(Duration::from_millis(200));
    }
    eprintln!("no session opened by connection request");
}

fn scripts(scenario: Scenario, file_url: &str) -> Vec<SessionScript> {
    let gpv = Rpc::GetParameterValues {
        parameter_names: vec!["Device.IP.Interface.1.TWAMPReflector.".into()],
    };
    let download = |i: usize| {
        Rpc::Download(Download {
            command_key: format!("bench-{i}"),
            file_type: "3 Vendor Configuration File".into(),
            url: file_url.to_owned(),
            file_size: 8 * 1024 * 1024,
            target_file_name: "bench.bin".into(),
            ..Download::default()
        })
    };
    let mut sessions = vec![SessionScript::default()];
    match scenario {
        Scenario::Gpv => sessions.extend((0..20).map(|_| SessionScript {
            requests: vec![gpv.clone(); GPVS_PER_SESSION],
            ..SessionScript::default()
        })),
        Scenario::Downloads => sessions.extend((0..40).map(|s| SessionScript {
            requests: (0..16).map(|i| download(s * 16 + i)).collect(),
            ..SessionScript::default()
        })),
        Scenario::Idle | Scenario::Flood => {}
    }
    sessions
}

/// Connection requests with a wrong password, as fast as they go, until `stop`.
fn flood(cr_port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            connection_request(cr_port, "wrong");
            sent += 1;
        }
        sent
    })
}

fn run(scenario: Scenario) {
    let payload = Arc::new(vec![0x5au8; 8 * 1024 * 1024]);
    let served = payload.clone();
    let files = TestServer::start(move |_| Reply::ok(&served));
    let acs = TestAcs::start(AcsOptions {
        sessions: scripts(scenario, &files.url("/bench.bin")),
        parse_limit: Some(64 * 1024),
        ..AcsOptions::default()
    });
    let (cr_port, twamp_port, echo_port) = (free_port(true), free_port(false), free_port(false));
    let tag = scenario.tag();
    let _daemon = start_daemon(tag, &acs.url(), cr_port, twamp_port, echo_port);
    if !acs.wait_sessions(1, WAIT) {
        eprintln!("{tag}: the daemon did not reach the ACS");
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut flooders = Vec::new();
    match scenario {
        Scenario::Idle => {}
        Scenario::Gpv | Scenario::Downloads => {
            open_session(cr_port);
            // Let the load start before probing.
            acs.wait_started(2, WAIT);
            thread::sleep(Duration::from_millis(300));
        }
        Scenario::Flood => flooders = (0..4).map(|_| flood(cr_port, stop.clone())).collect(),
    }
    let floor_twamp = floor_reflector(Kind::Twamp, stop.clone());
    let floor_echo = floor_reflector(Kind::Echo, stop.clone());
    let targets = [
        (
            "twamp",
            Kind::Twamp,
            SocketAddr::from(([127, 0, 0, 1], twamp_port)),
            floor_twamp,
        ),
        (
            "udp echo",
            Kind::Echo,
            SocketAddr::from(([127, 0, 0, 1], echo_port)),
            floor_echo,
        ),
    ];
    let probers: Vec<_> = targets
        .iter()
        .flat_map(|&(_, kind, daemon, floor)| {
            [
                thread::spawn(move || probe(kind, daemon)),
                thread::spawn(move || probe(kind, floor)),
            ]
        })
        .collect();
    let (results, holds): (Vec<Figures>, Vec<Vec<Duration>>) = probers
        .into_iter()
        .map(|p| p.join().expect("prober"))
        .unzip();
    stop.store(true, Ordering::Relaxed);
    let flood_requests: usize = flooders.into_iter().map(|f| f.join().unwrap_or(0)).sum();
    for (i, (name, _, _, _)) in targets.iter().enumerate() {
        let (d, f) = (&results[2 * i], &results[2 * i + 1]);
        println!(
            "{name} reflector, {}: p50 {:.3} ms, p99 {:.3} ms, worst {:.3} ms, lost {}/{} | floor p50 {:.3}, p99 {:.3}, worst {:.3} ms, lost {}/{} | p99 {:+.3} ms and worst {:+.3} ms over the floor (p99 ×{:.1})",
            scenario.label(),
            ms(d.p50),
            ms(d.p99),
            ms(d.worst),
            d.lost,
            d.sent,
            ms(f.p50),
            ms(f.p99),
            ms(f.worst),
            f.lost,
            f.sent,
            ms(d.p99) - ms(f.p99),
            ms(d.worst) - ms(f.worst),
            d.p99.as_secs_f64() / f.p99.as_secs_f64().max(1e-9),
        );
    }
    if let Some(held) = holds.first().filter(|h| !h.is_empty()) {
        let h = figures(held.clone(), held.len());
        println!(
            "  twamp, {}: the daemon held packets (kernel receive time to transmit timestamp) p50 {:.3} ms, p99 {:.3} ms, worst {:.3} ms",
            scenario.label(),
            ms(h.p50),
            ms(h.p99),
            ms(h.worst)
        );
    }
    match scenario {
        Scenario::Gpv => println!(
            "  load: {} sessions of {GPVS_PER_SESSION} GetParameterValues of 10,010 values each were under way",
            acs.sessions().len().saturating_sub(1)
        ),
        Scenario::Downloads => println!(
            "  load: {} downloads of 8 MiB were served",
            files.recorded().len()
        ),
        Scenario::Flood => println!(
            "  load: {flood_requests} connection requests with a wrong password were answered"
        ),
        Scenario::Idle => {}
    }
}

fn main() {
    // `cargo bench --bench reflectors -- gpv flood` runs only those scenarios.
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    for scenario in [
        Scenario::Idle,
        Scenario::Gpv,
        Scenario::Downloads,
        Scenario::Flood,
    ] {
        let tag = scenario.tag();
        if chosen.iter().any(|c| c == tag) || !chosen.iter().any(|c| TAGS.contains(&c.as_str())) {
            run(scenario);
        }
    }
}
