//! The TWAMP-light reflector and the UDP echo server of the real `icwmpd`: RFC 5357 test packets and TR-143 echo-plus packets from this test, every answer field, the filters, the counters the ACS reads, and configuration changes without a restart.

#![cfg(all(feature = "twamp", feature = "udpecho"))]

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::soap::Rpc;
use icwmp::wire::twamp::{self, NtpTimestamp};
use icwmp::wire::udp_echo::{self, EchoPlusHeader};
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::conn_request::{digest_connection_request, port_of_first_inform};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(20);
const CR_USER: &str = "cr-user";
const CR_PASS: &str = "cr-pass";

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

/// A sender socket on `ip` with TTL `ttl` that waits up to 10 s for answers.
fn sender(ip: &str, ttl: u32) -> UdpSocket {
    let socket = UdpSocket::bind((ip, 0)).expect("bind sender");
    socket.set_ttl(ttl).expect("ttl");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    socket
}

fn test_packet(sequence: u32, len: usize) -> Vec<u8> {
    let mut packet = Vec::with_capacity(len);
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&NtpTimestamp::from_unix(1_700_000_000, 250_000_000).to_bytes());
    packet.extend_from_slice(&0x8001u16.to_be_bytes());
    packet.resize(len, 0xab);
    packet
}

fn receive(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer");
    buf.truncate(n);
    buf
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn write_twamp(dir: &Path, sections: &[&str]) {
    let text: String = sections
        .iter()
        .map(|options| format!("config twamp_reflector\n{options}\n"))
        .collect();
    std::fs::write(dir.join("twamp"), text).expect("write twamp");
}

fn reflector(port: u16, max_ttl: u8, extra: &str) -> String {
    format!(
        "\toption enable '1'\n\toption interface 'lo'\n\toption port '{port}'\n\toption max_ttl '{max_ttl}'\n{extra}"
    )
}

/// Reloads the daemon and waits until its log shows the `count`th listening reflector.
fn reload_and_wait(daemon: &TestDaemon, what: &str, count: usize) {
    daemon.signal("HUP");
    assert!(
        wait_until(WAIT, || daemon.log().matches(what).count() >= count),
        "{what} #{count} in the log:\n{}",
        daemon.log()
    );
}

/// A Digest-authenticated connection request; the status of the answer.
fn connection_request(port: u16) -> u16 {
    digest_connection_request(port, CR_USER, CR_PASS).1
}

/// Runs session `number` (1-based) by connection request; returns its responses.
fn run_session(acs: &TestAcs, number: usize) -> Vec<Rpc> {
    let port = port_of_first_inform(acs);
    // The daemon honours one connection request per 5 s: ask until it does.
    assert!(wait_until(WAIT, || connection_request(port) == 200));
    assert!(acs.wait_sessions(number, WAIT), "session {number}");
    acs.sessions()[number - 1].responses.clone()
}

fn values(responses: &[Rpc]) -> Vec<ParameterValue> {
    responses
        .iter()
        .filter_map(|r| match r {
            Rpc::GetParameterValuesResponse { parameter_list } => Some(parameter_list.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn value<'a>(values: &'a [ParameterValue], name: &str) -> &'a str {
    values
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.value.as_str())
        .unwrap_or_else(|| panic!("{name} in {values:?}"))
}

fn gpv(names: &[&str]) -> Rpc {
    Rpc::GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    }
}

fn start(dir: &Path, acs: &TestAcs) -> TestDaemon {
    write_config(
        dir,
        &acs.url(),
        "",
        &format!("\toption userid '{CR_USER}'\n\toption passwd '{CR_PASS}'"),
    );
    let daemon = TestDaemon::start(dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "bootstrap session");
    daemon
}

#[test]
fn twamp_reflector_answers_with_every_rfc_5357_field() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("twamp-fields");
    let port = free_udp_port();
    write_twamp(&dir, &[&reflector(port, 1, "")]);
    let daemon = start(&dir, &acs);
    assert!(wait_until(WAIT, || daemon
        .log()
        .contains("listening on 127.0.0.1")));

    let socket = sender("127.0.0.1", 255);
    let before = unix_now();
    socket
        .send_to(&test_packet(41, 60), ("127.0.0.1", port))
        .expect("send");
    let answer = receive(&socket);
    let after = unix_now();
    assert_eq!(answer.len(), 60, "padded to the sender's length");
    let parsed = twamp::parse_reflector_packet(&answer).expect("reflector packet");
    assert_eq!(parsed.reflection.sequence, 0, "the reflector counts from 0");
    assert_eq!(parsed.sender.sequence, 41);
    assert_eq!(
        parsed.sender.timestamp,
        NtpTimestamp::from_unix(1_700_000_000, 250_000_000)
    );
    assert_eq!(parsed.sender.error_estimate, 0x8001);
    assert_eq!(parsed.reflection.sender_ttl, 255);
    assert_eq!(&answer[14..16], &[0, 0], "MBZ");
    assert_eq!(&answer[38..40], &[0, 0], "MBZ");
    assert!(answer[41..].iter().all(|b| *b == 0), "zero padding");
    let (rx, _) = parsed.reflection.receive.to_unix();
    let (tx, _) = parsed.reflection.transmit.to_unix();
    assert!(
        before <= rx && rx <= after,
        "receive time {rx} in [{before}, {after}]"
    );
    assert!(
        parsed.reflection.receive.to_bytes() <= parsed.reflection.transmit.to_bytes(),
        "received before sent back"
    );
    assert!(tx <= after);
    let estimate = parsed.reflection.error_estimate;
    assert_ne!(estimate & 0xff, 0, "the multiplier is never 0");
    let synchronized = icwmp::sys::clock_state().is_some_and(|c| c.synchronized);
    assert_eq!(estimate & 0x8000 != 0, synchronized, "S bit");

    // A short test packet still gets the whole 41-byte layout; numbering goes on.
    socket
        .send_to(&test_packet(42, 14), ("127.0.0.1", port))
        .expect("send");
    let answer = receive(&socket);
    assert_eq!(answer.len(), twamp::REFLECTOR_PACKET_MIN);
    let parsed = twamp::parse_reflector_packet(&answer).expect("parse");
    assert_eq!(
        (parsed.reflection.sequence, parsed.sender.sequence),
        (1, 42)
    );

    // Dropped: shorter than a test packet, larger than 9216 bytes, one hop too far.
    socket
        .send_to(&test_packet(43, 13), ("127.0.0.1", port))
        .expect("send");
    socket
        .send_to(&test_packet(44, 9217), ("127.0.0.1", port))
        .expect("send");
    let far = sender("127.0.0.1", 254);
    far.send_to(&test_packet(45, 20), ("127.0.0.1", port))
        .expect("send");
    // The largest answered size comes back whole.
    socket
        .send_to(&test_packet(46, 9216), ("127.0.0.1", port))
        .expect("send");
    let answer = receive(&socket);
    assert_eq!(answer.len(), 9216);
    let parsed = twamp::parse_reflector_packet(&answer).expect("parse");
    assert_eq!(
        (parsed.reflection.sequence, parsed.sender.sequence),
        (2, 46)
    );

    // Each sender has its own reflector sequence.
    let other = sender("127.0.0.1", 255);
    other
        .send_to(&test_packet(7, 41), ("127.0.0.1", port))
        .expect("send");
    let parsed = twamp::parse_reflector_packet(&receive(&other)).expect("parse");
    assert_eq!((parsed.reflection.sequence, parsed.sender.sequence), (0, 7));
    daemon.stop();
}

#[test]
fn twamp_filters_apply_and_reconfigure_without_restart() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("twamp-filters");
    let port = free_udp_port();
    let socket = sender("127.0.0.1", 64);
    let own_port = socket.local_addr().expect("addr").port();
    // Only 10/8 may test: our packet is dropped.
    write_twamp(
        &dir,
        &[&reflector(port, 255, "\toption ip_list '10.0.0.0/8'\n")],
    );
    let daemon = start(&dir, &acs);
    assert!(wait_until(WAIT, || daemon.log().contains("listening on")));
    socket
        .send_to(&test_packet(1, 20), ("127.0.0.1", port))
        .expect("send");

    // Our address and a port range holding our port: answered.
    write_twamp(
        &dir,
        &[&reflector(
            port,
            255,
            &format!(
                "\toption ip_list '10.0.0.0/8,127.0.0.0/8'\n\toption port_list '1-3,{}-{}'\n",
                own_port.saturating_sub(1),
                own_port.saturating_add(1)
            ),
        )],
    );
    reload_and_wait(&daemon, "listening on", 2);
    socket
        .send_to(&test_packet(2, 20), ("127.0.0.1", port))
        .expect("send");
    let parsed = twamp::parse_reflector_packet(&receive(&socket)).expect("parse");
    assert_eq!(
        parsed.sender.sequence, 2,
        "packet 1 was dropped by the IP list"
    );
    assert_eq!(parsed.reflection.sender_ttl, 64);

    // A port list without our port: dropped; a TTL rule of 2 hops with our TTL 64: dropped.
    write_twamp(&dir, &[&reflector(port, 255, "\toption port_list '1-3'\n")]);
    reload_and_wait(&daemon, "listening on", 3);
    socket
        .send_to(&test_packet(3, 20), ("127.0.0.1", port))
        .expect("send");
    write_twamp(&dir, &[&reflector(port, 2, "")]);
    reload_and_wait(&daemon, "listening on", 4);
    socket
        .send_to(&test_packet(4, 20), ("127.0.0.1", port))
        .expect("send");
    write_twamp(&dir, &[&reflector(port, 255, "")]);
    reload_and_wait(&daemon, "listening on", 5);
    socket
        .send_to(&test_packet(5, 20), ("127.0.0.1", port))
        .expect("send");
    let parsed = twamp::parse_reflector_packet(&receive(&socket)).expect("parse");
    assert_eq!(parsed.sender.sequence, 5, "packets 3 and 4 were dropped");
    daemon.stop();
}

#[test]
fn twamp_reflectors_are_managed_through_the_data_model() {
    let busy = UdpSocket::bind("127.0.0.1:0").expect("occupy a port");
    let busy_port = busy.local_addr().expect("addr").port();
    let port = free_udp_port();
    let table = "Device.IP.Interface.1.TWAMPReflector.";
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![
            SessionScript::default(),
            SessionScript {
                requests: vec![
                    Rpc::AddObject {
                        object_name: table.into(),
                        parameter_key: "k1".into(),
                    },
                    Rpc::SetParameterValues {
                        parameter_list: vec![
                            ParameterValue::new(format!("{table}2.Enable"), "1", XsdType::Boolean),
                            ParameterValue::new(
                                format!("{table}2.Port"),
                                port.to_string(),
                                XsdType::UnsignedInt,
                            ),
                            ParameterValue::new(
                                format!("{table}2.MaximumTTL"),
                                "255",
                                XsdType::UnsignedInt,
                            ),
                            ParameterValue::new(
                                format!("{table}2.IPAllowedList"),
                                "127.0.0.1,::1",
                                XsdType::String,
                            ),
                        ],
                        parameter_key: "k2".into(),
                    },
                    Rpc::SetParameterValues {
                        parameter_list: vec![ParameterValue::new(
                            format!("{table}2.PortAllowedList"),
                            "1-x",
                            XsdType::String,
                        )],
                        parameter_key: "k3".into(),
                    },
                ],
                ..Default::default()
            },
            SessionScript {
                requests: vec![gpv(&[table])],
                ..Default::default()
            },
            SessionScript {
                requests: vec![
                    Rpc::DeleteObject {
                        object_name: format!("{table}2."),
                        parameter_key: "k4".into(),
                    },
                    gpv(&["Device.IP.Interface.1.TWAMPReflectorNumberOfEntries"]),
                ],
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    let dir = temp_dir("twamp-dm");
    // Instance 1 wants a port that is taken: Status Error, and no crash.
    write_twamp(
        &dir,
        &[&format!(
            "{}\toption twamp_inst '1'\n",
            reflector(busy_port, 255, "")
        )],
    );
    let daemon = start(&dir, &acs);
    let responses = run_session(&acs, 2);
    assert!(
        matches!(
            responses.first(),
            Some(Rpc::AddObjectResponse {
                instance_number: 2,
                ..
            })
        ),
        "{responses:?}"
    );
    assert!(matches!(
        responses.get(1),
        Some(Rpc::SetParameterValuesResponse { .. })
    ));
    assert!(
        matches!(responses.get(2), Some(Rpc::Fault(_))),
        "a bad PortAllowedList is refused: {responses:?}"
    );
    // The new reflector runs after the session, without a restart.
    let socket = sender("127.0.0.1", 255);
    assert!(wait_until(WAIT, || daemon
        .log()
        .contains(&format!("listening on 127.0.0.1:{port}"))));
    socket
        .send_to(&test_packet(9, 30), ("127.0.0.1", port))
        .expect("send");
    let parsed = twamp::parse_reflector_packet(&receive(&socket)).expect("parse");
    assert_eq!(parsed.sender.sequence, 9);

    let got = values(&run_session(&acs, 3));
    assert_eq!(value(&got, &format!("{table}1.Status")), "Error");
    assert_eq!(
        value(&got, &format!("{table}1.Port")),
        busy_port.to_string()
    );
    assert_eq!(value(&got, &format!("{table}2.Status")), "Active");
    assert_eq!(value(&got, &format!("{table}2.Enable")), "1");
    assert_eq!(value(&got, &format!("{table}2.Alias")), "cpe-2");
    assert_eq!(value(&got, &format!("{table}2.MaximumTTL")), "255");
    assert_eq!(
        value(&got, &format!("{table}2.IPAllowedList")),
        "127.0.0.1,::1"
    );
    assert_eq!(value(&got, &format!("{table}2.PortAllowedList")), "");
    let twamp = std::fs::read_to_string(dir.join("twamp")).expect("twamp package");
    assert!(twamp.contains("option twamp_inst '2'"), "{twamp}");
    assert!(twamp.contains("option interface 'lo'"), "{twamp}");

    // DeleteObject stops the reflector after the session.
    let got = values(&run_session(&acs, 4));
    assert_eq!(
        value(&got, "Device.IP.Interface.1.TWAMPReflectorNumberOfEntries"),
        "1"
    );
    assert!(wait_until(WAIT, || daemon
        .log()
        .contains("TWAMP reflector @twamp_reflector[1] stopped")));
    let twamp = std::fs::read_to_string(dir.join("twamp")).expect("twamp package");
    assert!(!twamp.contains("option twamp_inst '2'"), "{twamp}");
    drop(busy);
    daemon.stop();
}

#[test]
fn udp_echo_plus_fills_the_header_and_counts() {
    let port = free_udp_port();
    let config = "Device.IP.Diagnostics.UDPEchoConfig.";
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![
            SessionScript::default(),
            SessionScript {
                requests: vec![gpv(&[config])],
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    let dir = temp_dir("udp-echo");
    std::fs::write(
        dir.join("udpechoserver"),
        format!(
            "config udpechoserver 'udpechoserver'\n\toption enable '1'\n\toption server_port '{port}'\n\toption plus '1'\n\toption address '127.0.0.2'\n"
        ),
    )
    .expect("write udpechoserver");
    let daemon = start(&dir, &acs);
    assert!(wait_until(WAIT, || daemon.log().contains(&format!(
        "UDP echo server listening on 0.0.0.0:{port}"
    ))));

    // Not from SourceIPAddress: neither answered nor counted.
    let stranger = sender("127.0.0.1", 64);
    stranger
        .send_to(&[0u8; 40], ("127.0.0.1", port))
        .expect("send");

    let socket = sender("127.0.0.2", 64);
    let mut sent_bytes = 0;
    let mut payload = vec![0u8; 28];
    udp_echo::write_echo_plus(
        &EchoPlusHeader {
            test_gen_sn: 77,
            ..EchoPlusHeader::default()
        },
        &mut payload,
    );
    payload[20..].copy_from_slice(b"payload!");
    for round in 1..=2u32 {
        socket.send_to(&payload, ("127.0.0.1", port)).expect("send");
        sent_bytes += payload.len() + 8;
        let answer = receive(&socket);
        assert_eq!(answer.len(), payload.len());
        assert_eq!(&answer[20..], b"payload!", "the payload comes back");
        let header = udp_echo::parse_echo_plus(&answer).expect("header");
        assert_eq!(header.test_gen_sn, 77);
        assert_eq!(header.test_resp_sn, round);
        assert_eq!(header.test_resp_reply_failure_count, 0);
        let held = header
            .test_resp_reply_time_stamp
            .wrapping_sub(header.test_resp_recv_time_stamp);
        assert!(held < 1_000_000, "reply {held} µs after receipt");
    }
    // Too short for the header: a plain echo.
    socket.send_to(b"short", ("127.0.0.1", port)).expect("send");
    sent_bytes += 5 + 8;
    assert_eq!(receive(&socket), b"short");
    // Over 9216 bytes: dropped, not counted.
    socket
        .send_to(&vec![1u8; 9217], ("127.0.0.1", port))
        .expect("send");

    let got = values(&run_session(&acs, 2));
    assert_eq!(value(&got, &format!("{config}Enable")), "1");
    assert_eq!(value(&got, &format!("{config}UDPPort")), port.to_string());
    assert_eq!(
        value(&got, &format!("{config}SourceIPAddress")),
        "127.0.0.2"
    );
    assert_eq!(value(&got, &format!("{config}EchoPlusEnabled")), "1");
    assert_eq!(value(&got, &format!("{config}EchoPlusSupported")), "1");
    assert_eq!(value(&got, &format!("{config}PacketsReceived")), "3");
    assert_eq!(value(&got, &format!("{config}PacketsResponded")), "3");
    assert_eq!(
        value(&got, &format!("{config}BytesReceived")),
        sent_bytes.to_string()
    );
    assert_eq!(
        value(&got, &format!("{config}BytesResponded")),
        sent_bytes.to_string()
    );
    for name in ["TimeFirstPacketReceived", "TimeLastPacketReceived"] {
        let time = value(&got, &format!("{config}{name}"));
        assert_eq!(
            time.len(),
            "2008-04-09T15:01:05.123456Z".len(),
            "{name} {time}"
        );
        assert!(
            time.ends_with('Z') && time.as_bytes()[19] == b'.',
            "{name} {time}"
        );
    }
    assert!(
        value(&got, &format!("{config}TimeFirstPacketReceived"))
            <= value(&got, &format!("{config}TimeLastPacketReceived"))
    );
    daemon.stop();
}

#[test]
fn tr098_has_udp_echo_config_at_the_root() {
    let config = "InternetGatewayDevice.UDPEchoConfig.";
    let port = free_udp_port().to_string();
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![
            SessionScript::default(),
            SessionScript {
                requests: vec![
                    Rpc::SetParameterValues {
                        parameter_list: vec![ParameterValue::new(
                            format!("{config}Interface"),
                            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1",
                            XsdType::String,
                        )],
                        parameter_key: "k1".into(),
                    },
                    Rpc::SetParameterValues {
                        parameter_list: vec![
                            ParameterValue::new(format!("{config}Enable"), "1", XsdType::Boolean),
                            ParameterValue::new(format!("{config}UDPPort"), port.clone(), XsdType::UnsignedInt),
                        ],
                        parameter_key: "k2".into(),
                    },
                    gpv(&[config]),
                ],
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    let dir = temp_dir("udp-echo-tr098");
    write_config(
        &dir,
        &acs.url(),
        "",
        &format!(
            "\toption userid '{CR_USER}'\n\toption passwd '{CR_PASS}'\n\toption datamodel 'tr098'"
        ),
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "bootstrap session");
    let url = acs.sessions()[0]
        .inform()
        .and_then(|i| {
            i.parameter_list
                .iter()
                .find(|p| p.name == "InternetGatewayDevice.ManagementServer.ConnectionRequestURL")
        })
        .map(|p| p.value.clone())
        .expect("ConnectionRequestURL");
    let cr_port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("port");
    assert!(wait_until(WAIT, || connection_request(cr_port) == 200));
    assert!(acs.wait_sessions(2, WAIT));
    let responses = acs.sessions()[1].responses.clone();
    assert!(
        matches!(responses.first(), Some(Rpc::Fault(_))),
        "TR-098 echoes on every interface: {responses:?}"
    );
    let got = values(&responses);
    assert_eq!(value(&got, &format!("{config}Enable")), "1");
    assert_eq!(value(&got, &format!("{config}Interface")), "");
    assert_eq!(value(&got, &format!("{config}UDPPort")), port);
    assert_eq!(value(&got, &format!("{config}PacketsReceived")), "0");
    let package = std::fs::read_to_string(dir.join("udpechoserver")).expect("package written");
    assert!(
        package.contains(&format!("option server_port '{port}'")),
        "{package}"
    );
    assert!(wait_until(WAIT, || daemon.log().contains(&format!(
        "UDP echo server listening on 0.0.0.0:{port}"
    ))));
    daemon.stop();
}
