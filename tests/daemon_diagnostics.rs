//! Diagnostics driven from the loopback ACS through the real `icwmpd`: SPV, the test at session end, `8 DIAGNOSTICS COMPLETE`, GPV of the results, restarts.

#![cfg(feature = "diagnostics")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::soap::Rpc;
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::daemon::{temp_dir, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(30);
const PING: &str = "Device.IP.Diagnostics.IPPing.";
const TRACE: &str = "Device.IP.Diagnostics.TraceRoute.";

fn script(requests: Vec<Rpc>) -> SessionScript {
    SessionScript {
        requests,
        ..SessionScript::default()
    }
}

fn spv(values: &[(&str, &str)]) -> Rpc {
    Rpc::SetParameterValues {
        parameter_list: values
            .iter()
            .map(|(n, v)| {
                let xsd = if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
                    XsdType::UnsignedInt
                } else {
                    XsdType::String
                };
                ParameterValue::new(*n, *v, xsd)
            })
            .collect(),
        parameter_key: String::new(),
    }
}

fn gpv(names: &[&str]) -> Rpc {
    Rpc::GetParameterValues {
        parameter_names: names.iter().map(|n| n.to_string()).collect(),
    }
}

fn values(rpc: &Rpc) -> BTreeMap<String, String> {
    match rpc {
        Rpc::GetParameterValuesResponse { parameter_list } => parameter_list
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect(),
        other => panic!("expected a GetParameterValuesResponse, got {other:?}"),
    }
}

fn root() -> bool {
    if icwmp::sys::raw_icmp_socket(false).is_err() {
        eprintln!("skipped: raw ICMP sockets need root");
        return false;
    }
    true
}

#[test]
fn ping_requested_by_the_acs_completes_and_its_results_survive_a_restart() {
    if !root() {
        return;
    }
    let first = vec![
        spv(&[
            (&format!("{PING}Host"), "127.0.0.1"),
            (&format!("{PING}NumberOfRepetitions"), "3"),
            (&format!("{PING}DiagnosticsState"), "Requested"),
        ]),
        // A trace requested, then one of its inputs written: cancelled, state None.
        spv(&[
            (&format!("{TRACE}Host"), "127.0.0.1"),
            (&format!("{TRACE}DiagnosticsState"), "Requested"),
        ]),
        spv(&[(&format!("{TRACE}MaxHopCount"), "5")]),
        // Only Requested and Canceled may be written.
        spv(&[(&format!("{PING}DiagnosticsState"), "Complete")]),
        gpv(&[
            &format!("{PING}DiagnosticsState"),
            &format!("{TRACE}DiagnosticsState"),
        ]),
    ];
    let after = vec![gpv(&[
        PING,
        TRACE,
        "Device.IP.Diagnostics.IPv4PingSupported",
    ])];
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(first), script(after.clone()), script(after)],
        ..AcsOptions::default()
    });
    let dir = temp_dir("diag-ping");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    let responses = &sessions[0].responses;
    assert!(matches!(responses[3], Rpc::Fault(_)), "{:?}", responses[3]);
    let during = values(&responses[4]);
    assert_eq!(during[&format!("{PING}DiagnosticsState")], "Requested");
    assert_eq!(during[&format!("{TRACE}DiagnosticsState")], "None");

    assert_eq!(sessions[1].event_codes(), ["8 DIAGNOSTICS COMPLETE"]);
    let results = values(&sessions[1].responses[0]);
    assert_eq!(results[&format!("{PING}DiagnosticsState")], "Complete");
    assert_eq!(results[&format!("{PING}SuccessCount")], "3");
    assert_eq!(results[&format!("{PING}FailureCount")], "0");
    assert_eq!(results[&format!("{PING}IPAddressUsed")], "127.0.0.1");
    assert_eq!(results[&format!("{TRACE}DiagnosticsState")], "None");
    assert_eq!(results[&format!("{TRACE}MaxHopCount")], "5");
    assert_eq!(results["Device.IP.Diagnostics.IPv4PingSupported"], "1");
    let log = daemon.log();
    assert!(
        log.contains("Executing ippingdiagnostic: end session request"),
        "{log}"
    );
    assert!(!log.contains("Executing traceroutediagnostic"), "{log}");
    assert!(daemon.stop().success());

    // After a restart the results are still there.
    let daemon = TestDaemon::start(&dir, &["-b"]);
    assert!(acs.wait_sessions(3, WAIT), "{}", daemon.log());
    let results = values(&acs.sessions()[2].responses[0]);
    assert_eq!(results[&format!("{PING}DiagnosticsState")], "Complete");
    assert_eq!(results[&format!("{PING}SuccessCount")], "3");
    assert!(daemon.stop().success());
}

#[test]
fn a_test_interrupted_by_a_restart_is_reported_failed() {
    const ECHO: &str = "Device.IP.Diagnostics.UDPEchoDiagnostics.";
    // A UDP port that never answers keeps the test running until its 60 s timeout.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let first = vec![spv(&[
        (&format!("{ECHO}Host"), "127.0.0.1"),
        (&format!("{ECHO}Port"), &port),
        (&format!("{ECHO}Timeout"), "60000"),
        (&format!("{ECHO}DiagnosticsState"), "Requested"),
    ])];
    let after = vec![gpv(&[ECHO])];
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(first), script(after)],
        ..AcsOptions::default()
    });
    let dir = temp_dir("diag-interrupted");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT));
    assert!(
        support::daemon::wait_until(WAIT, || daemon
            .log()
            .contains("Executing udpechodiagnostic: end session request")),
        "{}",
        daemon.log()
    );
    // The echo test is waiting for its datagram: the daemon dies.
    daemon.kill9();
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let session = &acs.sessions()[1];
    assert_eq!(session.event_codes(), ["8 DIAGNOSTICS COMPLETE"]);
    let results = values(&session.responses[0]);
    assert_eq!(
        results[&format!("{ECHO}DiagnosticsState")],
        "Error_Internal"
    );
    assert_eq!(results[&format!("{ECHO}Port")], port);
    assert!(daemon.stop().success());
    drop(silent);
}

#[test]
fn tr098_objects_run_the_same_diagnostics() {
    if !root() {
        return;
    }
    const PING98: &str = "InternetGatewayDevice.IPPingDiagnostics.";
    const TRACE98: &str = "InternetGatewayDevice.TraceRouteDiagnostics.";
    const DOWNLOAD98: &str = "InternetGatewayDevice.DownloadDiagnostics.";
    let server = support::files::FileServer::start(support::files::FileServerOptions::default());
    server.add("/f.bin", vec![0u8; 100_000]);
    let first = vec![spv(&[
        (&format!("{PING98}Host"), "127.0.0.1"),
        (&format!("{PING98}NumberOfRepetitions"), "2"),
        (&format!("{PING98}DiagnosticsState"), "Requested"),
        (&format!("{TRACE98}Host"), "127.0.0.1"),
        (&format!("{TRACE98}DiagnosticsState"), "Requested"),
        (&format!("{DOWNLOAD98}DownloadURL"), &server.url("/f.bin")),
        (&format!("{DOWNLOAD98}DiagnosticsState"), "Requested"),
    ])];
    let after = script(vec![gpv(&[PING98, TRACE98, DOWNLOAD98])]);
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(first), after.clone(), after.clone(), after],
        ..AcsOptions::default()
    });
    let dir = temp_dir("diag-tr098");
    write_config(&dir, &acs.url(), "", "\toption datamodel 'tr098'");
    let daemon = TestDaemon::start(&dir, &[]);
    let finished = |s: &support::acs::RecordedSession| {
        let v = values(s.responses.first()?);
        let done = [PING98, TRACE98, DOWNLOAD98].iter().all(|o| {
            v.get(&format!("{o}DiagnosticsState"))
                .is_some_and(|s| s != "Requested")
        });
        done.then_some(v)
    };
    let mut results = None;
    assert!(
        support::daemon::wait_until(WAIT, || {
            results = acs.sessions().iter().skip(1).find_map(finished);
            results.is_some()
        }),
        "{}",
        daemon.log()
    );
    let results = results.expect("results");
    assert_eq!(results[&format!("{PING98}DiagnosticsState")], "Complete");
    assert_eq!(results[&format!("{PING98}SuccessCount")], "2");
    assert!(results.contains_key(&format!("{PING98}MinimumResponseTime")));
    assert_eq!(results[&format!("{TRACE98}DiagnosticsState")], "Complete");
    assert_eq!(results[&format!("{TRACE98}RouteHopsNumberOfEntries")], "1");
    assert_eq!(
        results[&format!("{TRACE98}RouteHops.1.HopHostAddress")],
        "127.0.0.1"
    );
    assert_eq!(
        results[&format!("{DOWNLOAD98}DiagnosticsState")],
        "Completed"
    );
    let received: u64 = results[&format!("{DOWNLOAD98}TestBytesReceived")]
        .parse()
        .expect("bytes");
    assert!(received > 100_000);
    assert!(acs.sessions()[1]
        .event_codes()
        .contains(&"8 DIAGNOSTICS COMPLETE".to_owned()));
    assert!(daemon.stop().success());
}

#[test]
fn writing_an_input_cancels_a_running_test() {
    const ECHO: &str = "Device.IP.Diagnostics.UDPEchoDiagnostics.";
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let request = vec![spv(&[
        (&format!("{ECHO}Host"), "127.0.0.1"),
        (&format!("{ECHO}Port"), &port),
        (&format!("{ECHO}Timeout"), "60000"),
        (&format!("{ECHO}DiagnosticsState"), "Requested"),
    ])];
    // The next (periodic) session writes an input while the test waits for its echo.
    let cancel = vec![spv(&[(&format!("{ECHO}Timeout"), "100")])];
    let check = vec![gpv(&[&format!("{ECHO}DiagnosticsState")])];
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(request), script(cancel), script(check)],
        ..AcsOptions::default()
    });
    let dir = temp_dir("diag-cancel");
    write_config(
        &dir,
        &acs.url(),
        "\toption periodic_inform_enable '1'\n\toption periodic_inform_interval '1'",
        "",
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(3, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    assert_eq!(
        values(&sessions[2].responses[0])[&format!("{ECHO}DiagnosticsState")],
        "None"
    );
    let log = daemon.log();
    assert!(
        log.contains("Executing udpechodiagnostic: end session request"),
        "{log}"
    );
    assert!(log.contains("udpechodiagnostic cancelled"), "{log}");
    assert!(
        sessions.iter().all(|s| !s
            .event_codes()
            .contains(&"8 DIAGNOSTICS COMPLETE".to_owned())),
        "a cancelled test completes nothing"
    );
    assert!(daemon.stop().success());
    drop(silent);
}
