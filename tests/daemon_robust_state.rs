//! The real `icwmpd` and what it keeps: private state, crash leftovers, restarts, and hostile command lines.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use icwmp::cwmp::fault::FaultCode;
use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::soap::Rpc;
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(20);

fn script(requests: Vec<Rpc>) -> SessionScript {
    SessionScript {
        requests,
        ..SessionScript::default()
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Runs the `icwmpd` binary with `--config dir` and `args`; one that is
/// still running after [`WAIT`] (a daemon that should have refused to start)
/// is killed.
fn cli(dir: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_icwmpd"))
        .arg("--config")
        .arg(dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run icwmpd");
    if !wait_until(WAIT, || child.try_wait().is_ok_and(|s| s.is_some())) {
        let _ = child.kill();
    }
    child.wait_with_output().expect("icwmpd output")
}

#[test]
fn state_is_private_and_a_rewritten_config_keeps_its_mode() {
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![Rpc::SetParameterValues {
            parameter_list: vec![ParameterValue::new(
                "Device.ManagementServer.PeriodicInformInterval",
                "4321",
                XsdType::UnsignedInt,
            )],
            parameter_key: "k".into(),
        }])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("private-state");
    write_config(&dir, &acs.url(), "\toption passwd 'acs-secret'\n", "");
    let config = dir.join("cwmp");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // An older version left a world-readable state directory.
    let state = dir.join("icwmpd");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(
        text.contains("'4321'"),
        "the SPV rewrote the config: {text}"
    );
    assert_eq!(
        mode_of(&config),
        0o600,
        "the rewritten config keeps its mode"
    );
    assert_eq!(mode_of(&state), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&state).expect("state") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            files += 1;
            assert_eq!(mode_of(&path), 0o600, "{}", path.display());
        }
    }
    assert!(files > 0, "the daemon wrote state files");
}

#[test]
fn temporary_files_of_interrupted_writes_are_removed_at_start() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("orphan-tmp");
    write_config(&dir, &acs.url(), "", "");
    let state = dir.join("icwmpd");
    std::fs::create_dir_all(state.join("requests")).expect("state dir");
    // Process ids above the kernel's maximum (2^22): their writers are surely gone.
    let orphans = [
        state.join("transfers.9999999.tmp"),
        state.join("requests").join("kicked-1.9999998.tmp"),
        dir.join("cwmp.9999997.tmp"),
    ];
    for orphan in &orphans {
        std::fs::write(orphan, b"Password=secret\n").expect("orphan");
    }
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    for orphan in &orphans {
        assert!(!orphan.exists(), "{} removed", orphan.display());
    }
    assert!(daemon.stop().success());
}

#[test]
fn a_non_utf8_argument_is_refused_with_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let dir = temp_dir("non-utf8-arg");
    write_config(&dir, "http://127.0.0.1:9/acs", "", "");
    let bad = std::ffi::OsStr::from_bytes(b"Device.\xff");
    let output = cli(
        &dir,
        &["-m".as_ref(), "1".as_ref(), "get_value".as_ref(), bad],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not valid UTF-8"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_cli_sets_a_value_that_starts_with_a_dash() {
    let dir = temp_dir("cli-negative");
    write_config(&dir, "http://127.0.0.1:9/acs", "", "");
    let output = cli(
        &dir,
        &[
            "-m".as_ref(),
            "1".as_ref(),
            "set_value".as_ref(),
            "Device.DeviceInfo.ProvisioningCode".as_ref(),
            "-5".as_ref(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let output = cli(
        &dir,
        &[
            "-m".as_ref(),
            "1".as_ref(),
            "get_value".as_ref(),
            "Device.DeviceInfo.ProvisioningCode".as_ref(),
        ],
    );
    let got = String::from_utf8_lossy(&output.stdout);
    assert!(got.contains("\"value\": \"-5\""), "{stdout}\n{got}");
}

#[test]
fn periodic_inform_time_takes_both_forms_and_an_unset_one_is_logged() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("periodic-time-unset");
    write_config(
        &dir,
        &acs.url(),
        "\toption periodic_inform_enable '1'\n\toption periodic_inform_interval '86400'\n",
        "",
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
    let log = std::fs::read_to_string(dir.join("icwmpd.log")).expect("log");
    assert!(log.contains("[INFO]    Periodic time is Unknown"), "{log}");

    let gpv = Rpc::GetParameterValues {
        parameter_names: vec!["Device.ManagementServer.PeriodicInformTime".into()],
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![gpv])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("periodic-time-datetime");
    write_config(
        &dir,
        &acs.url(),
        "\toption periodic_inform_enable '1'\n\toption periodic_inform_time '2024-01-01T00:00:00Z'\n",
        "",
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
    match &acs.sessions()[0].responses[..] {
        [Rpc::GetParameterValuesResponse { parameter_list }] => {
            assert_eq!(parameter_list[0].value, "2024-01-01T00:00:00Z")
        }
        other => panic!("{other:?}"),
    }
    let log = std::fs::read_to_string(dir.join("icwmpd.log")).expect("log");
    assert!(
        log.contains("[INFO]    Periodic time is 2024-01-01T00:00:00Z"),
        "{log}"
    );
}

#[test]
fn a_fifo_in_place_of_the_event_queue_does_not_hang_the_start() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("events-fifo");
    write_config(&dir, &acs.url(), "", "");
    let state = dir.join("icwmpd");
    std::fs::create_dir_all(&state).expect("state dir");
    let made = Command::new("mkfifo").arg(state.join("events")).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
    let log = std::fs::read_to_string(dir.join("icwmpd.log")).expect("log");
    assert!(log.contains("not a regular file"), "{log}");
}

#[test]
fn an_unusable_acs_url_stops_the_start() {
    let dir = temp_dir("bad-acs-url");
    write_config(&dir, "gopher://[::1", "", "");
    let output = cli(&dir, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("cwmp:2: option acs.url: 'gopher://[::1' is not an http:// or https:// URL"),
        "{stderr}"
    );
}

#[test]
fn a_configuration_error_quotes_a_huge_token_briefly() {
    let dir = temp_dir("huge-token");
    let text = format!(
        "config cwmp 'acs'\n\toption url 'http://127.0.0.1:9/'\n\t{} x\n",
        "k".repeat(4 << 20)
    );
    std::fs::write(dir.join("cwmp"), text).expect("config");
    let output = cli(&dir, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.len() < 500, "{} bytes of error", stderr.len());
    assert!(stderr.contains("cwmp:3: unknown keyword 'kkk"), "{stderr}");
}

#[test]
fn a_newline_in_the_acs_url_is_refused() {
    let spv = |url: &str| Rpc::SetParameterValues {
        parameter_list: vec![ParameterValue::new(
            "Device.ManagementServer.URL",
            url,
            XsdType::String,
        )],
        parameter_key: "k".into(),
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![spv("http://127.0.0.1:9/acs\nx")])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("url-newline");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
    match &acs.sessions()[0].responses[..] {
        [Rpc::Fault(fault)] => {
            assert_eq!(fault.parameter_faults.len(), 1, "{fault:?}");
            assert_eq!(
                fault.parameter_faults[0].code,
                FaultCode::InvalidParameterValue
            );
        }
        other => panic!("{other:?}"),
    }
    let config = std::fs::read_to_string(dir.join("cwmp")).expect("config");
    assert!(!config.contains("\nx"), "{config}");
}

#[test]
fn a_huge_command_key_never_reaches_the_inform() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("huge-command-key");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
    // A damaged reboot record: a Reboot's CommandKey of 1 MB.
    std::fs::write(dir.join("icwmpd").join("reboot_key"), "k".repeat(1 << 20)).expect("key");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
    let inform = acs.sessions()[1].inform().cloned().expect("a valid Inform");
    let reboot = inform
        .events
        .iter()
        .find(|e| e.event_code == "M Reboot")
        .expect("M Reboot");
    assert_eq!(reboot.command_key, "k".repeat(32));
}

fn schedule_inform(delay_seconds: u32, key: &str) -> Rpc {
    Rpc::ScheduleInform {
        delay_seconds,
        command_key: key.into(),
    }
}

/// The `M ScheduleInform` CommandKeys of every session so far.
fn scheduled_keys(acs: &TestAcs) -> Vec<String> {
    acs.sessions()
        .iter()
        .filter_map(|s| s.inform().cloned())
        .flat_map(|i| i.events)
        .filter(|e| e.event_code == "M ScheduleInform")
        .map(|e| e.command_key)
        .collect()
}

#[test]
fn a_schedule_inform_survives_a_stop_and_a_kill() {
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![
            schedule_inform(1, "passed-while-down"),
            // Far enough ahead that a slow start on a loaded machine comes before it.
            schedule_inform(15, "after-a-kill"),
        ])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("schedule-inform-restart");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert_eq!(acs.sessions()[0].responses.len(), 2);
    assert!(daemon.stop().success());
    // The first one's time passes while the daemon is down: it comes at start.
    std::thread::sleep(Duration::from_millis(1500));
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    assert_eq!(
        acs.sessions()[1].event_codes(),
        ["3 SCHEDULED", "M ScheduleInform"]
    );
    assert_eq!(scheduled_keys(&acs), ["passed-while-down"]);
    // Killed before the second one is due: it comes at its time after the restart.
    daemon.kill9();
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(3, WAIT + WAIT), "{}", daemon.log());
    assert_eq!(scheduled_keys(&acs), ["passed-while-down", "after-a-kill"]);
    // Each is delivered once.
    std::thread::sleep(Duration::from_millis(500));
    daemon.kill9();
    let daemon = TestDaemon::start(&dir, &[]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.stop().success());
    assert_eq!(acs.sessions().len(), 3, "nothing more to report");
}

fn notify(name: &str, notification: u8) -> Rpc {
    Rpc::SetParameterAttributes {
        parameter_list: vec![icwmp::cwmp::params::SetParameterAttribute {
            name: name.into(),
            notification_change: true,
            notification,
            access_list_change: false,
            access_list: Vec::new(),
        }],
    }
}

const INTERVAL: &str = "Device.ManagementServer.PeriodicInformInterval";

/// Rewrites `periodic_inform_interval` in the config, as an operator would.
fn set_interval_in_config(dir: &Path, value: &str) {
    let path = dir.join("cwmp");
    let text = std::fs::read_to_string(&path).expect("config");
    let text: String = text
        .lines()
        .filter(|l| !l.contains("periodic_inform_interval"))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = text.replacen(
        "config cwmp 'acs'\n",
        &format!("config cwmp 'acs'\n\toption periodic_inform_interval '{value}'\n"),
        1,
    );
    std::fs::write(&path, text).expect("config");
}

fn reported(session: &support::acs::RecordedSession, name: &str) -> Option<String> {
    session
        .inform()?
        .parameter_list
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.clone())
}

#[test]
fn a_change_made_while_the_daemon_was_down_is_reported() {
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![notify(INTERVAL, 2)])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("value-change-while-down");
    write_config(&dir, &acs.url(), "", "");
    set_interval_in_config(&dir, "600");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
    set_interval_in_config(&dir, "777");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let second = &acs.sessions()[1];
    assert_eq!(second.event_codes(), ["4 VALUE CHANGE"]);
    assert_eq!(reported(second, INTERVAL).as_deref(), Some("777"));
    // Reported once: a further restart has nothing to say.
    assert!(daemon.stop().success());
    let daemon = TestDaemon::start(&dir, &[]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.stop().success());
    assert_eq!(acs.sessions().len(), 2);
}

#[test]
fn a_detected_change_survives_a_kill_before_its_inform() {
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![notify(INTERVAL, 1)])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("value-change-kill");
    write_config(&dir, &acs.url(), "", "\toption value_check_interval '1'\n");
    set_interval_in_config(&dir, "600");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    set_interval_in_config(&dir, "888");
    daemon.signal("HUP");
    // A passive change waits for the next Inform; it is on disk at once.
    let record = dir.join("icwmpd").join("notified_values");
    let detected = || {
        std::fs::read_to_string(&record)
            .is_ok_and(|t| t.contains(&format!("changed\t{INTERVAL}\t888")))
    };
    assert!(wait_until(WAIT, detected), "{}", daemon.log());
    daemon.kill9();
    let daemon = TestDaemon::start(&dir, &["-b"]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let second = &acs.sessions()[1];
    assert_eq!(second.event_codes(), ["1 BOOT", "4 VALUE CHANGE"]);
    assert_eq!(reported(second, INTERVAL).as_deref(), Some("888"));
    assert!(daemon.stop().success());
}

#[test]
fn a_change_made_outside_cwmp_during_a_session_is_reported() {
    let dir = temp_dir("value-change-in-session");
    let in_session = dir.clone();
    // The second session's Inform: the operator changes the value and the
    // daemon reloads while the session runs (no periodic check comes first).
    let change_during_session = move |_index: usize| {
        set_interval_in_config(&in_session, "999");
        let pid = std::fs::read_to_string(in_session.join("icwmpd").join("icwmpd.pid"))
            .expect("pid file");
        let sent = Command::new("kill").args(["-HUP", pid.trim()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -HUP");
        let log = in_session.join("icwmpd.log");
        let reloaded =
            || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("icwmpd config reloaded"));
        assert!(wait_until(WAIT, reloaded), "the daemon reloaded");
        SessionScript::default()
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![
            notify(INTERVAL, 2),
            schedule_inform(1, "next"),
        ])],
        generator: Some(support::acs::ScriptGenerator(std::sync::Arc::new(
            move |index| match index {
                1 => change_during_session(index),
                _ => SessionScript::default(),
            },
        ))),
        ..AcsOptions::default()
    });
    write_config(&dir, &acs.url(), "", "");
    set_interval_in_config(&dir, "600");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(3, WAIT), "{}", daemon.log());
    let third = &acs.sessions()[2];
    assert_eq!(third.event_codes(), ["4 VALUE CHANGE"]);
    assert_eq!(reported(third, INTERVAL).as_deref(), Some("999"));
    assert!(daemon.stop().success());
}

/// An ACS that reads each request and answers with `respond`, which writes
/// until the daemon hangs up (a write fails) or it is done.
fn hostile_acs(respond: fn(&mut std::net::TcpStream) -> std::io::Result<()>) -> String {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/acs", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                // The request head, then its Content-Length body.
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && request.len() < 65_536 {
                    match conn.read(&mut byte) {
                        Ok(1) => request.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                if conn.read_exact(&mut body).is_ok() {
                    let _ = respond(&mut conn);
                }
            });
        }
    });
    url
}

#[test]
fn session_timeout_bounds_an_exchange_that_drips() {
    use std::io::Write;
    let url = hostile_acs(|conn| {
        conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 600\r\n\r\n",
        )?;
        // One byte every 100 ms: never silent for a second, 60 s in all.
        for _ in 0..600 {
            conn.write_all(b" ")?;
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    });
    let dir = temp_dir("dripping-acs");
    write_config(&dir, &url, "", "\toption session_timeout '2'\n");
    let daemon = TestDaemon::start(&dir, &[]);
    let cut = || {
        daemon
            .log()
            .contains("CWMP session error: HTTP: timed out completing the exchange")
    };
    assert!(wait_until(WAIT, cut), "{}", daemon.log());
    assert!(daemon.stop().success());
}

#[test]
fn an_endless_stream_of_interim_responses_is_refused() {
    use std::io::Write;
    let url = hostile_acs(|conn| loop {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    });
    let dir = temp_dir("continue-flood");
    write_config(&dir, &url, "", "\toption session_timeout '600'\n");
    let daemon = TestDaemon::start(&dir, &[]);
    let refused = || daemon.log().contains("more than 8 interim (1xx) responses");
    assert!(wait_until(WAIT, refused), "{}", daemon.log());
    assert!(daemon.stop().success());
}

#[test]
fn passive_lightweight_notifications_go_out_at_the_trigger_interval() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
    udp.set_read_timeout(Some(WAIT)).expect("timeout");
    let port = udp.local_addr().expect("address").port();
    let get = Rpc::GetParameterValues {
        parameter_names: vec![
            "Device.ManagementServer.LightweightNotificationTriggerInterval".into(),
            "Device.ManagementServer.LightweightNotificationTriggerTime".into(),
        ],
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![notify(INTERVAL, 3), get])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("lwn-trigger");
    // Lightweight notifications (3 to 6) exist from amendment 5 on.
    let cpe = "\toption value_check_interval '1'\n\toption amd_version '5'\n";
    write_config(&dir, &acs.url(), "", cpe);
    let lwn = format!(
        "config cwmp 'lwn'\n\toption enable '1'\n\toption hostname '127.0.0.1'\n\
         \toption port '{port}'\n\toption trigger_interval '1'\n\
         \toption trigger_time '2024-01-01T00:00:00Z'\n"
    );
    let mut text = std::fs::read_to_string(dir.join("cwmp")).expect("config");
    text.push_str(&lwn);
    std::fs::write(dir.join("cwmp"), text).expect("config");
    set_interval_in_config(&dir, "600");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    match &acs.sessions()[0].responses[..] {
        [Rpc::SetParameterAttributesResponse, Rpc::GetParameterValuesResponse { parameter_list }] =>
        {
            let values: Vec<&str> = parameter_list.iter().map(|p| p.value.as_str()).collect();
            assert_eq!(values, ["1", "2024-01-01T00:00:00Z"]);
        }
        other => panic!("{other:?}"),
    }
    // A passive lightweight change (notification 3) waits for the trigger.
    set_interval_in_config(&dir, "999");
    daemon.signal("HUP");
    let mut datagram = [0u8; 4096];
    let (len, _) = udp
        .recv_from(&mut datagram)
        .expect("a lightweight notification");
    let text = String::from_utf8_lossy(&datagram[..len]).into_owned();
    assert!(text.contains(INTERVAL) && text.contains("999"), "{text}");
    assert!(daemon.stop().success());
}
