//! Benchmark: the real `icwmpd` with STUN on, against Debian's coturn and the loopback test ACS:
//! time from a signed UDP connection request to the Inform (against a loopback UDP round trip
//! measured in the same run), and the idle daemon's wake-ups with STUN keep-alive on (against the
//! same daemon with STUN off).

#[path = "../tests/support/acs.rs"]
mod acs;
#[path = "../tests/support/coturn.rs"]
mod coturn;
#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/http_wire.rs"]
mod http_wire;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use acs::{AcsOptions, TestAcs};
use coturn::Coturn;
use daemon::{temp_dir, wait_until, write_config, TestDaemon};
use icwmp::wire::udp_conn_request::signature;

const WAIT: Duration = Duration::from_secs(30);
/// How long the idle daemons are watched.
const IDLE_WINDOW: Duration = Duration::from_secs(5);

/// Median loopback UDP round trip (a thread echoes), the floor of the connection-request figure.
fn udp_round_trip() -> Duration {
    let echo = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let echo_addr = echo.local_addr().expect("addr");
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok((n, from)) = echo.recv_from(&mut buf) {
            if n == 1 && buf[0] == 0 {
                break;
            }
            let _ = echo.send_to(&buf[..n], from);
        }
    });
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let mut times = Vec::new();
    let mut buf = [0u8; 256];
    for _ in 0..200 {
        let start = Instant::now();
        socket.send_to(&[1; 200], echo_addr).expect("send");
        socket.recv(&mut buf).expect("echo");
        times.push(start.elapsed());
    }
    socket.send_to(&[0], echo_addr).expect("stop");
    let _ = thread.join();
    times.sort();
    times[times.len() / 2]
}

fn stun_section(server_port: u16, enable: bool, min_keepalive: u32) -> String {
    format!(
        "config cwmp 'stun'\n\toption enable '{}'\n\toption server_address '127.0.0.1'\n\
         \toption server_port '{server_port}'\n\toption client_port '0'\n\
         \toption min_keepalive '{min_keepalive}'\n",
        u8::from(enable)
    )
}

fn append(dir: &Path, text: &str) {
    let mut config = std::fs::read_to_string(dir.join("cwmp")).expect("config");
    config.push_str(text);
    std::fs::write(dir.join("cwmp"), config).expect("config");
}

/// The UDP port the daemon's Informs name as UDPConnectionRequestAddress.
fn udp_port(acs: &TestAcs) -> Option<u16> {
    acs.sessions().iter().filter(|s| s.completed).find_map(|s| {
        let value = &s
            .inform()?
            .parameter_list
            .iter()
            .find(|p| p.name == "Device.ManagementServer.UDPConnectionRequestAddress")?
            .value;
        value.rsplit_once(':')?.1.parse().ok()
    })
}

fn connection_request_to_inform(coturn: &Coturn) -> Option<Duration> {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("bench-stun-cr");
    write_config(
        &dir,
        &acs.url(),
        "",
        "\toption userid 'bench'\n\toption passwd 'bench-pass'\n\toption log_severity 'INFO'",
    );
    append(&dir, &stun_section(coturn.port, true, 30));
    let daemon = TestDaemon::start(&dir, &[]);
    if !wait_until(WAIT, || udp_port(&acs).is_some()) {
        eprintln!("no UDP connection request address; log:\n{}", daemon.log());
        return None;
    }
    let port = udp_port(&acs)?;
    // Let every session so far finish before the request.
    std::thread::sleep(Duration::from_millis(300));
    let before = acs.sessions().len();
    let sig: String = signature("1700000000", "bench-1", "bench", "cn", "bench-pass")
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let request = format!(
        "GET http://127.0.0.1:{port}?ts=1700000000&id=bench-1&un=bench&cn=cn&sig={sig} HTTP/1.1\r\n\r\n"
    );
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let start = Instant::now();
    socket
        .send_to(request.as_bytes(), ("127.0.0.1", port))
        .expect("send");
    let started = acs.wait_started(before + 1, WAIT);
    let elapsed = start.elapsed();
    daemon.stop();
    started.then_some(elapsed)
}

/// Context switches of `pid` (each sleep in the poll loop is one).
fn switches(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Wake-ups of an idle daemon (no ACS URL) over [`IDLE_WINDOW`].
fn idle_wake_ups(coturn: &Coturn, stun: bool) -> u64 {
    let dir = temp_dir(if stun {
        "bench-stun-on"
    } else {
        "bench-stun-off"
    });
    write_config(&dir, "", "", "\toption log_severity 'ERROR'");
    append(&dir, &stun_section(coturn.port, stun, 1));
    let daemon = TestDaemon::start(&dir, &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let before = switches(daemon.pid());
    std::thread::sleep(IDLE_WINDOW);
    let after = switches(daemon.pid());
    daemon.stop();
    after.saturating_sub(before)
}

fn main() {
    let dir = temp_dir("bench-coturn");
    let Some(coturn) = Coturn::start(&dir) else {
        println!("STUN figures: skipped (coturn is not installed)");
        return;
    };
    let floor = udp_round_trip();
    match connection_request_to_inform(&coturn) {
        Some(time) => println!(
            "UDP connection request -> Inform on loopback: {:.2} ms ({:.0}x a loopback UDP round trip of {:.1} us)",
            time.as_secs_f64() * 1000.0,
            time.as_secs_f64() / floor.as_secs_f64().max(1e-9),
            floor.as_secs_f64() * 1e6
        ),
        None => println!("UDP connection request -> Inform on loopback: FAILED"),
    }
    let off = idle_wake_ups(&coturn, false);
    let on = idle_wake_ups(&coturn, true);
    let periods = IDLE_WINDOW.as_secs();
    println!(
        "idle wake-ups in {periods} s with STUN keep-alive every 1 s: {on} ({off} with STUN off; +{} for {periods} keep-alives, each a timer and a response)",
        on.saturating_sub(off)
    );
}
