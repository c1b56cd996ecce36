//! XMPP connection requests against the real `icwmpd` and a real prosody on loopback: the time
//! from a connection-request IQ to the Inform at the ACS (against an HTTP connection request's
//! time to the Inform, and the IQ's round trip through prosody, measured in the same run), and
//! the daemon's idle wake-ups with the XMPP keep-alive on (against the same daemon with it off).
//! Skips with a note without prosody.

#[path = "../tests/support/acs.rs"]
mod acs;
#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/http_wire.rs"]
mod http_wire;
#[path = "../tests/support/pki.rs"]
#[allow(dead_code)]
mod pki;
#[path = "../tests/support/prosody.rs"]
mod prosody;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use icwmp::wire::digest::{parse_www_authenticate, Challenge, Credentials, DigestClient};

use acs::{AcsOptions, TestAcs};
use daemon::{temp_dir, wait_until, write_config, TestDaemon};
use prosody::{Prosody, XmppTestClient};

const CPE_JID: &str = "cpe@localhost/icwmp";
const WAIT: Duration = Duration::from_secs(30);
const ROUNDS: usize = 10;
const IDLE: Duration = Duration::from_secs(4);
const KEEP_ALIVE_SECS: u64 = 1;

fn start_daemon(tag: &str, prosody: &Prosody, acs: &TestAcs, keep_alive: i64) -> TestDaemon {
    let dir = temp_dir(tag);
    write_config(
        &dir,
        &acs.url(),
        "",
        "\toption userid 'cr-user'\n\toption passwd 'cr-pass'\n\toption log_severity 'INFO'\n",
    );
    let mut cwmp = std::fs::read_to_string(dir.join("cwmp")).expect("cwmp");
    cwmp.push_str(&format!(
        "config cwmp 'xmpp'\n\toption connection 'Device.XMPP.Connection.1'\n\toption ssl_capath '{}'\n",
        prosody.ca_cert().display()
    ));
    std::fs::write(dir.join("cwmp"), cwmp).expect("cwmp");
    let xmpp = format!(
        "config connection\n\toption instance '1'\n\toption enable '1'\n\
         \toption username 'cpe'\n\toption password 'cpe-secret'\n\
         \toption domain 'localhost'\n\toption resource 'icwmp'\n\toption usetls '1'\n\
         \toption interval '{keep_alive}'\n\n\
         config server\n\toption connection '1'\n\toption instance '1'\n\toption enable '1'\n\
         \toption server_address '127.0.0.1'\n\toption port '{}'\n",
        prosody.port
    );
    std::fs::write(dir.join("xmpp"), xmpp).expect("xmpp package");
    TestDaemon::start(&dir, &[])
}

/// Voluntary context switches of the daemon's main thread: each is one sleep in
/// poll, so one wake-up (involuntary ones come from other load on the machine).
fn switches(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("voluntary_ctxt_switches"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// Wake-ups of a daemon logged in to prosody, over `IDLE` once every session is over.
fn idle_wakeups(prosody: &Prosody, keep_alive: i64) -> Option<u64> {
    let acs = TestAcs::start(AcsOptions::default());
    let daemon = start_daemon(
        &format!("xmpp-idle-{keep_alive}"),
        prosody,
        &acs,
        keep_alive,
    );
    let connected = wait_until(WAIT, || daemon.log().contains("XMPP connected as"));
    // The BOOTSTRAP session and the ConnReqJabberID value change are over.
    let quiet = wait_until(WAIT, || {
        acs.sessions().len() >= 2 && acs.wait_sessions(2, WAIT)
    });
    if !connected || !quiet {
        return None;
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = switches(daemon.pid());
    std::thread::sleep(IDLE);
    let after = switches(daemon.pid());
    daemon.stop();
    Some(after.saturating_sub(before))
}

fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// An HTTP connection request (GET, 401, GET with Digest credentials); `false` if it failed.
fn http_connection_request(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let Some(head) = read_head(&mut stream) else {
        return false;
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
        return false;
    };
    let creds = Credentials {
        username: "cr-user".into(),
        password: "cr-pass".into(),
    };
    let auth = DigestClient::new(challenge).authorization(&creds, "GET", "/", "c0ffee");
    let request = format!("GET / HTTP/1.1\r\nHost: cpe\r\nAuthorization: {auth}\r\n\r\n");
    stream.write_all(request.as_bytes()).is_ok()
        && read_head(&mut stream).is_some_and(|h| h.starts_with("HTTP/1.1 200"))
}

/// The connection-request port from the ConnectionRequestURL of the first Inform.
fn http_port(acs: &TestAcs) -> Option<u16> {
    let session = acs.sessions().into_iter().next()?;
    let url = session
        .inform()?
        .parameter_list
        .iter()
        .find(|p| p.name == "Device.ManagementServer.ConnectionRequestURL")?
        .value
        .clone();
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let accounts = [("cpe", "cpe-secret"), ("acs", "acs-secret")];
    let Some(prosody) = Prosody::start("bench", &accounts) else {
        println!("xmpp connection requests: skipped (prosody is not installed)");
        return;
    };
    let acs = TestAcs::start(AcsOptions::default());
    let daemon = start_daemon("xmpp-bench", &prosody, &acs, -1);
    if !wait_until(WAIT, || daemon.log().contains("XMPP connected as"))
        || !acs.wait_sessions(2, WAIT)
    {
        println!("xmpp connection requests: skipped (the daemon did not log in)");
        return;
    }
    let Some(port) = http_port(&acs) else {
        println!("xmpp connection requests: skipped (no ConnectionRequestURL)");
        return;
    };
    let mut client = XmppTestClient::login(&prosody, "acs", "acs-secret", "acs");
    let mut to_inform = Vec::new();
    let mut http_to_inform = Vec::new();
    let mut round_trips = Vec::new();
    for round in 0..ROUNDS {
        // Floors: an IQ the CPE answers without a session (a wrong password), and
        // an HTTP connection request's time to the Inform.
        let start = Instant::now();
        client.connection_request(CPE_JID, &format!("floor{round}"), "cr-user", "wrong");
        round_trips.push(start.elapsed());

        let sessions = acs.sessions().len();
        let start = Instant::now();
        if !http_connection_request(port) || !acs.wait_started(sessions + 1, WAIT) {
            println!("xmpp connection requests: HTTP request {round} made no session");
            return;
        }
        http_to_inform.push(start.elapsed());
        acs.wait_sessions(sessions + 1, WAIT);

        let sessions = acs.sessions().len();
        let start = Instant::now();
        client.send(&format!(
            "<iq type='get' id='cr{round}' to='{CPE_JID}'><connectionRequest xmlns='urn:broadband-forum-org:cwmp:xmppConnReq-1-0'><username>cr-user</username><password>cr-pass</password></connectionRequest></iq>"
        ));
        if !acs.wait_started(sessions + 1, WAIT) {
            println!("xmpp connection requests: no session after request {round}");
            return;
        }
        to_inform.push(start.elapsed());
        let _ = client.next_raw();
        acs.wait_sessions(sessions + 1, WAIT);
    }
    daemon.stop();
    let inform = median(&mut to_inform);
    let http = median(&mut http_to_inform);
    let floor = median(&mut round_trips);
    println!(
        "xmpp: connection-request IQ to Inform at the ACS, loopback: {:.2} ms median of {ROUNDS} ({:.2}x an HTTP connection request's {:.2} ms; the IQ round trip through prosody alone {:.2} ms)",
        ms(inform),
        inform.as_secs_f64() / http.as_secs_f64().max(1e-9),
        ms(http),
        ms(floor)
    );

    let (Some(off), Some(on)) = (
        idle_wakeups(&prosody, -1),
        idle_wakeups(&prosody, KEEP_ALIVE_SECS as i64),
    ) else {
        println!("xmpp idle wake-ups: skipped (the daemon did not log in)");
        return;
    };
    let periods = IDLE.as_secs() / KEEP_ALIVE_SECS;
    println!(
        "xmpp: idle daemon wake-ups in {}s with KeepAliveInterval {KEEP_ALIVE_SECS}s: {on}, {} more than with the keep-alive off ({off}); goal one per period: {periods}",
        IDLE.as_secs(),
        on.saturating_sub(off)
    );
}
