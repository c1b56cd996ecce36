//! XMPP connection requests against the real `icwmpd` and a real prosody on loopback: the time
//! from a connection-request IQ to the Inform at the ACS (against the IQ's round trip through
//! prosody, measured in the same run), and the daemon's idle wake-ups with the XMPP keep-alive
//! on (against the same daemon with it off). Skips with a note without prosody.

#[path = "../tests/support/acs.rs"]
mod acs;
#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/pki.rs"]
#[allow(dead_code)]
mod pki;
#[path = "../tests/support/prosody.rs"]
mod prosody;

use std::time::{Duration, Instant};

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
    let mut client = XmppTestClient::login(&prosody, "acs", "acs-secret", "acs");
    let mut to_inform = Vec::new();
    let mut round_trips = Vec::new();
    for round in 0..ROUNDS {
        // Floor: an IQ the CPE answers without a session (a wrong password).
        let start = Instant::now();
        client.connection_request(CPE_JID, &format!("floor{round}"), "cr-user", "wrong");
        round_trips.push(start.elapsed());

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
    let floor = median(&mut round_trips);
    println!(
        "xmpp: connection-request IQ to Inform at the ACS, loopback: {:.2} ms median of {ROUNDS} ({:.1}x the IQ round trip through prosody, {:.2} ms)",
        ms(inform),
        inform.as_secs_f64() / floor.as_secs_f64().max(1e-9),
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
