//! Benchmark: a Download diagnostic on loopback — its measured throughput against a plain
//! `curl` of the same file, and the worst UDP answer latency of the loop running it with four
//! connections, as a ratio to the same loop's latency when idle; and an Upload diagnostic's
//! throughput against `curl -T` of a file of the same size.

#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/files.rs"]
mod files;
#[path = "../tests/support/http_server.rs"]
mod http_server;
#[path = "../tests/support/http_wire.rs"]
mod http_wire;

use std::collections::BTreeMap;
use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use files::{FileServer, FileServerOptions};
use http_server::UdpPinger;
use icwmp::diagnostics::state::Test;
use icwmp::diagnostics::throughput::{Direction, Throughput, ThroughputSettings};
use icwmp::diagnostics::{Engine, WallClock};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

const UDP: Token = Token(1000);
/// The test file; the file server copies it per GET, so keep four copies affordable.
const FILE_SIZE: usize = 64 << 20;
/// The upload size (the file server keeps every body it receives).
const UPLOAD_SIZE: usize = 32 << 20;
/// Upload diagnostics averaged.
const UPLOAD_RUNS: usize = 3;
/// 4-connection downloads run while the latency is sampled.
const BUSY_RUNS: usize = 4;

/// A loop with a UDP echo socket and, optionally, a download diagnostic.
struct BenchLoop {
    poll: Poll,
    udp: UdpSocket,
}

impl BenchLoop {
    fn new() -> BenchLoop {
        let poll = Poll::new().unwrap();
        let mut udp = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        poll.registry()
            .register(&mut udp, UDP, Interest::READABLE)
            .unwrap();
        BenchLoop { poll, udp }
    }

    fn echo(&self) {
        let mut buf = [0u8; 1500];
        loop {
            match self.udp.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let _ = self.udp.send_to(&buf[..n], from);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
    }

    /// Runs `engine` (or nothing, for `idle`) until it finishes.
    fn run(
        &mut self,
        mut engine: Option<&mut dyn Engine>,
        idle: Duration,
    ) -> BTreeMap<String, String> {
        let mut events = Events::with_capacity(64);
        let until = Instant::now() + idle;
        loop {
            let timeout = match engine.as_ref() {
                Some(e) => e
                    .poll_at()
                    .map(|t| t.saturating_duration_since(Instant::now())),
                None => Some(until.saturating_duration_since(Instant::now())),
            };
            self.poll.poll(&mut events, timeout).unwrap();
            let mut drive = false;
            for event in events.iter() {
                if event.token() == UDP {
                    self.echo();
                } else {
                    drive = true;
                }
            }
            match engine.as_mut() {
                Some(e) => {
                    let now = Instant::now();
                    if drive || e.poll_at().is_some_and(|t| t <= now) {
                        e.drive(self.poll.registry(), now);
                    }
                    if let Some(outcome) = e.outcome() {
                        e.close(self.poll.registry());
                        assert_eq!(outcome.state, "Complete");
                        return outcome.results.into_iter().collect();
                    }
                }
                None if Instant::now() >= until => return BTreeMap::new(),
                None => {}
            }
        }
    }
}

/// A throughput test in `direction` with these inputs, started now.
fn start(direction: Direction, inputs: [(&str, String); 2]) -> Throughput {
    let mut test = Test::default();
    for (name, value) in inputs {
        test.inputs.insert(name.into(), value);
    }
    let settings = ThroughputSettings::from_test(direction, &test, None);
    let now = Instant::now();
    Throughput::start(
        settings,
        Token(0),
        now,
        WallClock::new(now, icwmp::clock::unix_micros()),
    )
}

fn download(url: &str, connections: u32) -> Throughput {
    start(
        Direction::Download,
        [
            ("DownloadURL", url.into()),
            ("NumberOfConnections", connections.to_string()),
        ],
    )
}

fn upload(url: &str) -> Throughput {
    start(
        Direction::Upload,
        [
            ("UploadURL", url.into()),
            ("TestFileLength", UPLOAD_SIZE.to_string()),
        ],
    )
}

/// Seconds of the day of a TR-143 timestamp (`…Thh:mm:ss.uuuuuuZ`).
fn seconds_of_day(stamp: &str) -> f64 {
    let time = stamp.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

/// Bytes per second the diagnostic itself reports (TestBytesReceived or TestBytesSent over EOM − BOM).
fn measured_rate(results: &BTreeMap<String, String>) -> f64 {
    let bytes: f64 = results
        .get("TestBytesReceived")
        .or_else(|| results.get("TestBytesSent"))
        .unwrap()
        .parse()
        .unwrap();
    let mut seconds = seconds_of_day(&results["EOMTime"]) - seconds_of_day(&results["BOMTime"]);
    if seconds <= 0.0 {
        seconds += 86_400.0;
    }
    bytes / seconds
}

/// Prints our 1-connection `direction` rate against curl's (its `-w`
/// printing its own rate in bytes/s).
fn print_against_curl(
    direction: &str,
    theirs_name: &str,
    ours: f64,
    curl: io::Result<std::process::Output>,
) {
    match curl {
        Ok(out) if out.status.success() => {
            let theirs: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0.0);
            println!(
                "diagnostics: 1-connection {direction} diagnostic throughput {:.0} MB/s, {:.2}x {theirs_name} {:.0} MB/s of the same size",
                ours / 1e6,
                ours / theirs.max(1.0),
                theirs / 1e6
            );
        }
        _ => println!("diagnostics: {direction} throughput vs curl: skipped (install curl)"),
    }
}

fn main() {
    let server = FileServer::start(FileServerOptions::default());
    server.add("/big.bin", vec![0x5a; FILE_SIZE]);
    let url = server.url("/big.bin");

    let mut lp = BenchLoop::new();
    let target = lp.udp.local_addr().unwrap();

    // Floor: the same loop answering UDP while idle.
    let pinger = UdpPinger::start(target);
    lp.run(None, Duration::from_secs(1));
    let (idle_worst, _, _) = pinger.finish();

    let pinger = UdpPinger::start(target);
    let mut rates = Vec::new();
    for _ in 0..BUSY_RUNS {
        let mut engine = download(&url, 4);
        rates.push(measured_rate(&lp.run(Some(&mut engine), Duration::ZERO)));
    }
    let (busy_worst, sent, answered) = pinger.finish();
    let idle_ms = idle_worst.as_secs_f64() * 1e3;
    let busy_ms = busy_worst.as_secs_f64() * 1e3;
    println!(
        "diagnostics: worst UDP answer latency during a 4-connection download diagnostic: {busy_ms:.3} ms, {:.1}x the idle loop's {idle_ms:.3} ms ({answered}/{sent} answered)",
        busy_ms / idle_ms.max(0.001)
    );
    println!(
        "diagnostics: 4-connection download diagnostic throughput: {:.0} MB/s",
        rates.iter().sum::<f64>() / rates.len() as f64 / 1e6
    );

    let mut engine = download(&url, 1);
    let results = lp.run(Some(&mut engine), Duration::ZERO);
    let ours = measured_rate(&results);
    let curl = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{speed_download}", &url])
        .output();
    print_against_curl("download", "curl's", ours, curl);

    let up_url = server.url("/up.bin");
    let rates: Vec<f64> = (0..UPLOAD_RUNS)
        .map(|_| {
            let mut engine = upload(&up_url);
            measured_rate(&lp.run(Some(&mut engine), Duration::ZERO))
        })
        .collect();
    let ours = rates.iter().sum::<f64>() / rates.len() as f64;
    let file = std::env::temp_dir().join(format!("icwmp-bench-upload-{}", std::process::id()));
    std::fs::write(&file, vec![0u8; UPLOAD_SIZE]).unwrap();
    let mut curl = Command::new("curl");
    curl.args(["-s", "-o", "/dev/null", "-w", "%{speed_upload}", "-T"])
        .arg(&file)
        .arg(&up_url);
    let curl_ran = curl.output();
    let _ = std::fs::remove_file(&file);
    print_against_curl("upload", "curl -T's", ours, curl_ran);
}
