//! STUN with the real `icwmpd`, Debian's coturn and a NAT double: the binding's mapped address reaches the data model and the Inform, and a signed UDP connection request starts exactly one session while its replay (also after a restart), a bad signature, a stale timestamp and garbage start none; a binding that moves is announced with BINDING-CHANGE and reported as a value change.

#![cfg(feature = "stun")]

mod support;

use std::net::{SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use icwmp::wire::soap::Rpc;
use icwmp::wire::udp_conn_request::signature;
use support::acs::{AcsOptions, RecordedSession, SessionScript, TestAcs};
use support::coturn::Coturn;
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(30);
const ADDRESS: &str = "Device.ManagementServer.UDPConnectionRequestAddress";
const NAT: &str = "Device.ManagementServer.NATDetected";
const METHODS: &str = "Device.ManagementServer.SupportedConnReqMethods";

fn inform_value(session: &RecordedSession, name: &str) -> Option<String> {
    session
        .inform()?
        .parameter_list
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.clone())
}

/// A UDP connection request as the ACS sends it (TR-069 Annex G).
fn udp_request(ts: u64, id: &str, user: &str, password: &str) -> Vec<u8> {
    let cn = "c0ffee42";
    let sig: String = signature(&ts.to_string(), id, user, cn, password)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!(
        "GET http://127.0.0.1?ts={ts}&id={id}&un={user}&cn={cn}&sig={sig} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn binding_at_coturn_and_udp_connection_requests() {
    let dir = temp_dir("stun");
    let Some(coturn) = Coturn::start(&dir) else {
        return;
    };
    // The Binding Requests carry USERNAME and MESSAGE-INTEGRITY (coturn
    // answers them unsigned). Every session asks for the STUN parameters, so the connection-request
    // session shows what the data model holds.
    let gpv = SessionScript {
        requests: vec![Rpc::GetParameterValues {
            parameter_names: vec![ADDRESS.into(), NAT.into(), METHODS.into()],
        }],
        ..SessionScript::default()
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![gpv; 6],
        ..AcsOptions::default()
    });
    write_config(
        &dir,
        &acs.url(),
        "",
        "\toption userid 'udp-user'\n\toption passwd 'udp-pass'",
    );
    let stun = format!(
        "config cwmp 'stun'\n\toption enable '1'\n\toption server_address '127.0.0.1'\n\
         \toption server_port '{}'\n\toption client_port '0'\n\toption min_keepalive '30'\n\
         \toption username 'stun-user'\n\toption password 'stun-pass'\n",
        coturn.port
    );
    let mut config = std::fs::read_to_string(dir.join("cwmp")).expect("config");
    config.push_str(&stun);
    std::fs::write(dir.join("cwmp"), config).expect("config");
    let daemon = TestDaemon::start(&dir, &[]);

    // The mapped address arrives as a 4 VALUE CHANGE (in the BOOT session if
    // the binding was quicker than it, else in a session of its own).
    let bound = |s: &RecordedSession| {
        s.completed && inform_value(s, ADDRESS).is_some_and(|v| !v.is_empty())
    };
    assert!(
        wait_until(WAIT, || acs.sessions().iter().any(bound)),
        "no Inform with the mapped address; log:\n{}",
        daemon.log()
    );
    let sessions = acs.sessions();
    let session = sessions.iter().find(|s| bound(s)).expect("bound session");
    assert!(
        session.event_codes().iter().any(|e| e == "4 VALUE CHANGE"),
        "{:?}",
        session.event_codes()
    );
    let address = inform_value(session, ADDRESS).expect("address");
    let (host, port) = address.rsplit_once(':').expect("host:port");
    assert_eq!(host, "127.0.0.1");
    let port: u16 = port.parse().expect("a port");
    assert_ne!(port, 0);
    assert_eq!(inform_value(session, NAT).as_deref(), Some("0"));
    let before = sessions.len();

    // A correctly signed request: exactly one session.
    let acs_socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let good = udp_request(1_700_000_000, "1", "udp-user", "udp-pass");
    acs_socket
        .send_to(&good, ("127.0.0.1", port))
        .expect("send");
    assert!(acs.wait_sessions(before + 1, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    let cr = &sessions[before];
    assert_eq!(cr.event_codes(), ["6 CONNECTION REQUEST"]);
    let Some(Rpc::GetParameterValuesResponse { parameter_list }) = cr.responses.first() else {
        panic!("no GPV response: {:?}", cr.responses);
    };
    let value = |name: &str| {
        parameter_list
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.clone())
    };
    assert_eq!(value(ADDRESS), Some(address.clone()));
    assert_eq!(value(NAT).as_deref(), Some("0"));
    assert_eq!(value(METHODS).as_deref(), Some("HTTP,STUN,XMPP"));

    // The replay, a wrong password, an older timestamp, a stranger and garbage: none.
    let bad = [
        good.clone(),
        udp_request(1_700_000_001, "2", "udp-user", "guess"),
        udp_request(1_699_999_999, "3", "udp-user", "udp-pass"),
        udp_request(1_700_000_002, "4", "stranger", "udp-pass"),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ];
    for datagram in &bad {
        acs_socket
            .send_to(datagram, ("127.0.0.1", port))
            .expect("send");
    }
    // One line for the good request, one for each dropped one.
    let handled = || daemon.log().matches("UDP connection request from").count();
    assert!(
        wait_until(WAIT, || handled() == 1 + bad.len()),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    assert_eq!(log.matches(" dropped: ").count(), bad.len(), "{log}");
    assert!(log.contains("id already seen"), "{log}");
    assert!(log.contains("wrong signature"), "{log}");
    assert!(log.contains("stale timestamp"), "{log}");
    assert!(log.contains("unknown user name"), "{log}");
    // The requests were handled in order, and none of them asked for a session.
    assert_eq!(log.matches("Connection Request from").count(), 1, "{log}");
    assert_eq!(acs.sessions().len(), before + 1);
    assert!(daemon.stop().success());

    // After a restart (a new socket, a new port) the replay is still refused.
    let daemon = TestDaemon::start(&dir, &[]);
    let address_lines = || {
        daemon
            .log()
            .matches("UDP connection request address")
            .count()
    };
    assert!(
        wait_until(WAIT, || address_lines() == 2),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    let port: u16 = log
        .rsplit("UDP connection request address 127.0.0.1:")
        .next()
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the new port in the log");
    acs_socket
        .send_to(&good, ("127.0.0.1", port))
        .expect("send");
    assert!(
        wait_until(WAIT, || daemon.log().matches(" dropped: ").count()
            == bad.len() + 1),
        "{}",
        daemon.log()
    );
    assert_eq!(
        daemon.log().matches("Connection Request from").count(),
        1,
        "{}",
        daemon.log()
    );
    assert!(daemon.stop().success());
}

/// Each transaction id the NAT double saw, and whether it carried BINDING-CHANGE.
type Transactions = Arc<Mutex<Vec<([u8; 12], bool)>>>;

/// A STUN server double that maps the first transaction to one address and
/// every later one to another, as a NAT that dropped the binding would; it
/// answers only well-formed TR-111 Binding Requests and records, per
/// transaction, whether it carried BINDING-CHANGE.
struct MovingNat {
    port: u16,
    transactions: Transactions,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const FIRST: &str = "192.0.2.1:1000";
const SECOND: &str = "192.0.2.1:2000";

/// The attributes of a Binding Request: (type, value) pairs; `None` if malformed.
fn request_attributes(bytes: &[u8]) -> Option<Vec<(u16, Vec<u8>)>> {
    let length = usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]));
    if bytes.get(..2)? != [0, 1] || bytes.get(4..8)? != [0x21, 0x12, 0xA4, 0x42] {
        return None;
    }
    if bytes.len() != 20 + length {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 20;
    while at < bytes.len() {
        let kind = u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]);
        let len = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        out.push((kind, bytes.get(at + 4..at + 4 + len)?.to_vec()));
        at += 4 + len.div_ceil(4) * 4;
    }
    Some(out)
}

fn xor_mapped_response(request: &[u8], mapped: SocketAddrV4) -> Vec<u8> {
    let mut out = vec![0x01, 0x01, 0x00, 12];
    out.extend_from_slice(&request[4..20]);
    out.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    out.extend_from_slice(&(mapped.port() ^ 0x2112).to_be_bytes());
    let cookie = [0x21, 0x12, 0xA4, 0x42];
    out.extend(mapped.ip().octets().iter().zip(cookie).map(|(a, b)| a ^ b));
    out
}

impl MovingNat {
    fn start() -> MovingNat {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let transactions = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (transactions.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stopping.load(Ordering::SeqCst) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(attributes) = request_attributes(&buf[..n]) else {
                    continue;
                };
                let crb = attributes
                    .iter()
                    .any(|(kind, value)| *kind == 0xC001 && value == b"dslforum.org/TR-111 ");
                if !crb {
                    continue;
                }
                let change = attributes.iter().any(|(kind, _)| *kind == 0xC002);
                let mut id = [0u8; 12];
                id.copy_from_slice(&buf[8..20]);
                let mut seen = seen.lock().expect("record");
                // A retransmission is the same transaction.
                if !seen.iter().any(|(known, _)| *known == id) {
                    seen.push((id, change));
                }
                let first = seen.first().is_some_and(|(known, _)| *known == id);
                let mapped = if first { FIRST } else { SECOND };
                let response = xor_mapped_response(&buf[..n], mapped.parse().expect("addr"));
                let _ = socket.send_to(&response, from);
            }
        });
        MovingNat {
            port,
            transactions,
            stop,
            thread: Some(thread),
        }
    }

    /// Whether each transaction so far carried BINDING-CHANGE.
    fn binding_changes(&self) -> Vec<bool> {
        let seen = self.transactions.lock().expect("record");
        seen.iter().map(|(_, change)| *change).collect()
    }
}

impl Drop for MovingNat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_moved_binding_is_announced_and_reported_as_a_value_change() {
    let nat = MovingNat::start();
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("stun-moved");
    write_config(&dir, &acs.url(), "", "");
    // A host name: looked up on the worker thread, as the ACS's is.
    let stun = format!(
        "config cwmp 'stun'\n\toption enable '1'\n\toption server_address 'localhost'\n\
         \toption server_port '{}'\n\toption client_port '0'\n\toption min_keepalive '1'\n",
        nat.port
    );
    let mut config = std::fs::read_to_string(dir.join("cwmp")).expect("config");
    config.push_str(&stun);
    std::fs::write(dir.join("cwmp"), config).expect("config");
    let daemon = TestDaemon::start(&dir, &[]);

    let informed = |address: &str| {
        acs.sessions().iter().any(|s| {
            s.completed
                && inform_value(s, ADDRESS).as_deref() == Some(address)
                && s.event_codes().iter().any(|e| e == "4 VALUE CHANGE")
        })
    };
    assert!(
        wait_until(WAIT, || informed(FIRST) && informed(SECOND)),
        "{}",
        daemon.log()
    );
    let sessions = acs.sessions();
    let moved = sessions
        .iter()
        .find(|s| inform_value(s, ADDRESS).as_deref() == Some(SECOND))
        .expect("a session with the new address");
    assert_eq!(inform_value(moved, NAT).as_deref(), Some("1"));
    // First binding, keep-alive (which found the new mapping), then the announcement.
    assert!(wait_until(WAIT, || nat.binding_changes().len() >= 3));
    let requests = nat.binding_changes();
    assert_eq!(requests[..3], [false, false, true], "{requests:?}");
    assert!(daemon.stop().success());
}
