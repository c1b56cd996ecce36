//! The log an operator reads: the real `icwmpd`'s session lines against the loopback ACS, and no secret at DEBUG.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use icwmp::cwmp::fault::FaultCode;
use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::digest::{basic_authorization, Credentials};
use icwmp::wire::soap::{Download, Rpc};
use support::acs::{AcsOptions, Auth, SessionScript, TestAcs};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(20);

/// The messages of the log's lines: the timestamp cut off, `[LEVEL]` kept,
/// the random retry wait replaced by `N`.
fn messages(log: &str) -> Vec<String> {
    log.lines()
        .map(|line| {
            let line = line.find(" [").map_or(line, |at| &line[at + 1..]);
            let tag_end = line.find(']').map_or(0, |at| at + 1);
            let (tag, message) = line.split_at(tag_end);
            let message = message.trim_start();
            let message = match message.split_once(", retry in ") {
                Some((head, _)) => format!("{head}, retry in Ns"),
                None => message.to_owned(),
            };
            format!("{tag} {message}")
        })
        .collect()
}

#[test]
fn a_session_with_requests_a_fault_a_failure_and_a_retry_logs_icwmps_lines() {
    let first = SessionScript {
        requests: vec![
            Rpc::GetParameterValues {
                parameter_names: vec!["Device.DeviceInfo.UpTime".into()],
            },
            Rpc::GetParameterValues {
                parameter_names: vec!["Device.No.Such.Thing".into()],
            },
            Rpc::SetParameterValues {
                parameter_list: vec![ParameterValue::new(
                    "Device.ManagementServer.PeriodicInformInterval",
                    "4321",
                    XsdType::UnsignedInt,
                )],
                parameter_key: "log-1".into(),
            },
            Rpc::ScheduleInform {
                delay_seconds: 1,
                command_key: "soon".into(),
            },
            Rpc::Reboot {
                command_key: "rb".into(),
            },
        ],
        ..SessionScript::default()
    };
    let failing = SessionScript {
        inform_http_status: Some(500),
        ..SessionScript::default()
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![first, failing],
        ..AcsOptions::default()
    });
    let dir = temp_dir("log-sequence");
    write_config(&dir, &acs.url(), "", "\toption log_severity 'INFO'");
    // -g: the CPE sends its own GetRPCMethods in the first session.
    let daemon = TestDaemon::start(&dir, &["-g"]);
    // The scheduled session fails; its retry succeeds.
    assert!(acs.wait_sessions(3, WAIT), "three sessions");
    assert!(wait_until(WAIT, || daemon
        .log()
        .matches("Waiting the next session")
        .count()
        >= 3));
    assert!(daemon.stop().success());
    let log = std::fs::read_to_string(dir.join("icwmpd.log")).expect("log");
    // Warnings depend on the machine (no opkg here): the sequence is INFO and ERROR.
    let lines: Vec<String> = messages(&log)
        .into_iter()
        .filter(|l| !l.starts_with("[WARNING]"))
        .collect();
    let start = lines
        .iter()
        .position(|l| l == "[INFO] Start session")
        .expect("a session started");
    let end = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| *l == "[INFO] Waiting the next session")
        .nth(2)
        .map(|(at, _)| at)
        .expect("three sessions ended");
    let acs_url = format!("[INFO] ACS url: {}", acs.url());
    let opening = [
        "[INFO] Start session",
        &acs_url,
        "[INFO] Preparing the Inform RPC message to send to the ACS",
        "[INFO] Send the Inform RPC message to the ACS",
    ];
    let mut expected: Vec<&str> = Vec::new();
    expected.extend(opening);
    expected.extend([
        "[INFO] Get the InformResponse message from the ACS",
        "[INFO] Preparing the GetRPCMethods RPC message to send to the ACS",
        "[INFO] Send the GetRPCMethods RPC message to the ACS",
        "[INFO] Get the GetRPCMethodsResponse message from the ACS",
        "[INFO] Send empty message to the ACS",
        "[INFO] Receive request from the ACS",
        "[INFO] Preparing the GetParameterValuesResponse message",
        "[INFO] Send the GetParameterValuesResponse message to the ACS",
        "[INFO] Receive request from the ACS",
        "[INFO] Preparing the Fault message",
        "[INFO] Send the Fault message to the ACS",
        "[INFO] Receive request from the ACS",
        "[INFO] Preparing the SetParameterValuesResponse message",
        "[INFO] Send the SetParameterValuesResponse message to the ACS",
        "[INFO] Receive request from the ACS",
        "[INFO] Preparing the ScheduleInformResponse message",
        "[INFO] Send the ScheduleInformResponse message to the ACS",
        "[INFO] Receive request from the ACS",
        "[INFO] Preparing the RebootResponse message",
        "[INFO] Send the RebootResponse message to the ACS",
        "[INFO] Receive HTTP 204 No Content",
        "[INFO] End session",
        "[INFO] Config reload: end session request",
        "[INFO] icwmpd config reloaded",
        "[INFO] Executing Reboot: end session request",
        "[INFO] Waiting the next session",
    ]);
    expected.extend(opening);
    expected.extend([
        "[INFO] RPC Failed",
        "[ERROR] CWMP session error: ACS answered HTTP 500",
        "[INFO] End session",
        "[INFO] Retry session, retry count = 1, retry in Ns",
        "[INFO] Waiting the next session",
    ]);
    expected.extend(opening);
    expected.extend([
        "[INFO] Get the InformResponse message from the ACS",
        "[INFO] Send empty message to the ACS",
        "[INFO] Receive HTTP 204 No Content",
        "[INFO] End session",
        "[INFO] Waiting the next session",
    ]);
    assert_eq!(lines[start..=end], expected, "{log}");
    // The responses really were what the log says.
    let responses = &acs.sessions()[0].responses;
    assert!(matches!(&responses[1], Rpc::Fault(f) if f.code == FaultCode::InvalidParameterName));
}

#[test]
fn no_secret_reaches_the_debug_log() {
    const ACS_PASSWORD: &str = "acs-Pa55-word";
    const SECRETS: [&str; 6] = [
        ACS_PASSWORD,
        "cr-Pa55-word",
        "stun-Pa55-word",
        "url-Pa55",
        "dl-Pa55-word",
        "dl-Us3r",
    ];
    let set_passwords = Rpc::SetParameterValues {
        parameter_list: vec![
            ParameterValue::new(
                "Device.ManagementServer.Password",
                ACS_PASSWORD,
                XsdType::String,
            ),
            ParameterValue::new(
                "Device.ManagementServer.ConnectionRequestPassword",
                "cr-Pa55-word",
                XsdType::String,
            ),
            ParameterValue::new(
                "Device.ManagementServer.STUNPassword",
                "stun-Pa55-word",
                XsdType::String,
            ),
        ],
        parameter_key: "pw".into(),
    };
    // Port 9 on loopback: nothing listens, the download fails at once.
    let download = Rpc::Download(Download {
        command_key: "dl".into(),
        file_type: "3 Vendor Configuration File".into(),
        url: "http://url-user:url-Pa55@127.0.0.1:9/config.bin".into(),
        username: "dl-Us3r".into(),
        password: "dl-Pa55-word".into(),
        ..Download::default()
    });
    // A large response: its dump is cut.
    let whole_tree = Rpc::GetParameterNames {
        parameter_path: "Device.".into(),
        next_level: false,
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![SessionScript {
            requests: vec![set_passwords, download, whole_tree],
            ..SessionScript::default()
        }],
        auth: Auth::Basic {
            user: "cpe".into(),
            password: ACS_PASSWORD.into(),
        },
        ..AcsOptions::default()
    });
    let dir = temp_dir("log-secrets");
    write_config(
        &dir,
        &acs.url(),
        &format!("\toption userid 'cpe'\n\toption passwd '{ACS_PASSWORD}'"),
        "",
    );
    let daemon = TestDaemon::start(&dir, &[]);
    // The failed download is reported in a second session.
    assert!(acs.wait_sessions(2, WAIT), "two sessions");
    assert!(wait_until(WAIT, || daemon
        .log()
        .matches("Waiting the next session")
        .count()
        >= 2));
    assert!(daemon.stop().success());
    let log = std::fs::read_to_string(dir.join("icwmpd.log")).expect("log");
    let basic = basic_authorization(&Credentials {
        username: "cpe".into(),
        password: ACS_PASSWORD.into(),
    });
    let encoded = basic.trim_start_matches("Basic ");
    for secret in SECRETS.iter().copied().chain([encoded]) {
        assert!(!log.contains(secret), "'{secret}' in the log:\n{log}");
    }
    // What was masked was logged: the envelopes, the heads and the transfer.
    for shown in [
        "IN: <",
        "OUT: <",
        "<Name>Device.ManagementServer.Password</Name><Value xsi:type=\"xsd:string\">***</Value>",
        "<URL>http://***@127.0.0.1:9/config.bin</URL>",
        "<Username>***</Username>",
        "<Password>***</Password>",
        "; authorization: Basic ***",
        "HTTP/1.1 401 Unauthorized",
        "HTTP/1.1 200 OK",
        "Truncated message at ",
        "[INFO]    Launch download file http://***@127.0.0.1:9/config.bin",
    ] {
        assert!(log.contains(shown), "'{shown}' missing:\n{log}");
    }
    // One event, one line: every line starts with a timestamp.
    assert!(log
        .lines()
        .all(|l| l.len() > 21 && l.as_bytes()[2] == b'-' && l.contains(" [")));
}

/// `icwmpd --config dir` in a private mount namespace whose `/dev` is a
/// tmpfs with the device nodes it uses and `/dev/log` a link to `socket`:
/// the test reads what the daemon sends to syslog without touching the
/// host's. `None` when the namespace cannot be made (not root, no unshare).
fn start_with_syslog_at(dir: &Path, socket: &Path) -> Option<Child> {
    let script = format!(
        "mount -t tmpfs tmpfs /dev && \
         mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 && \
         mknod -m 666 /dev/random c 1 8 && mknod -m 666 /dev/urandom c 1 9 && \
         ln -s '{}' /dev/log && exec '{}' --config '{}'",
        socket.display(),
        env!("CARGO_BIN_EXE_icwmpd"),
        dir.display()
    );
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

#[test]
fn the_session_lines_reach_syslog_as_icwmpd_with_their_priorities() {
    let failing = SessionScript {
        inform_http_status: Some(500),
        ..SessionScript::default()
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![failing],
        ..AcsOptions::default()
    });
    let dir = temp_dir("log-syslog");
    write_config(&dir, &acs.url(), "", "");
    let socket = dir.join("log");
    let receiver = UnixDatagram::bind(&socket).expect("syslog socket");
    receiver
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let Some(mut daemon) = start_with_syslog_at(&dir, &socket) else {
        eprintln!("skipped: cannot make a mount namespace (needs root and unshare)");
        return;
    };
    let pid = daemon.id();
    let mut datagrams = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline
        && datagrams
            .iter()
            .filter(|d: &&String| d.ends_with(": Waiting the next session"))
            .count()
            < 2
    {
        if let Ok(n) = receiver.recv(&mut buf) {
            datagrams.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = daemon.wait();
    let ident = format!(" icwmpd[{pid}]: ");
    let find = |priority: &str, message: &str| {
        datagrams.iter().any(|d| {
            d.starts_with(priority) && d.contains(&ident) && d.ends_with(&format!(": {message}"))
        })
    };
    let all = datagrams.join("\n");
    // daemon.info = 30, daemon.err = 27, daemon.debug = 31 (RFC 3164).
    assert!(find("<30>", "Start session"), "{all}");
    assert!(
        find("<30>", "Send the Inform RPC message to the ACS"),
        "{all}"
    );
    assert!(find("<30>", "RPC Failed"), "{all}");
    assert!(
        find("<27>", "CWMP session error: ACS answered HTTP 500"),
        "{all}"
    );
    assert!(find("<30>", "Receive HTTP 204 No Content"), "{all}");
    assert!(
        datagrams
            .iter()
            .any(|d| d.starts_with("<31>") && d.contains(&format!("{ident}OUT: <"))),
        "{all}"
    );
}
