//! The real `icwmpd` against the loopback test ACS: start events, RPCs, retries, crashes, reboots.

mod support;

use std::time::Duration;

use icwmp::cwmp::fault::FaultCode;
use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::soap::Rpc;
use support::acs::{AcsOptions, Auth, SessionScript, TestAcs};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(20);

fn script(requests: Vec<Rpc>) -> SessionScript {
    SessionScript {
        requests,
        ..SessionScript::default()
    }
}

#[test]
fn first_start_bootstraps_and_a_boot_is_reported_once() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("bootstrap");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "first session");
    let first = &acs.sessions()[0];
    assert!(
        first.event_codes().contains(&"0 BOOTSTRAP".to_owned()),
        "{:?}",
        first.event_codes()
    );
    let inform = first.inform().expect("Inform");
    assert_eq!(inform.max_envelopes, 1);
    assert!(!inform.device_id.oui.is_empty() && !inform.device_id.serial_number.is_empty());
    let names: Vec<&str> = inform
        .parameter_list
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert!(
        names.contains(&"Device.ManagementServer.ConnectionRequestURL"),
        "{names:?}"
    );
    assert!(
        names.contains(&"Device.DeviceInfo.SoftwareVersion"),
        "{names:?}"
    );
    assert!(daemon.stop().success());

    // A restart of the daemon alone: nothing to report, no session.
    let daemon = TestDaemon::start(&dir, &[]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(acs.sessions().len(), 1, "no session after a plain restart");
    assert!(daemon.stop().success());

    // -b: the system booted: 1 BOOT, and no second BOOTSTRAP.
    let daemon = TestDaemon::start(&dir, &["-b"]);
    assert!(acs.wait_sessions(2, WAIT), "boot session");
    assert_eq!(acs.sessions()[1].event_codes(), ["1 BOOT"]);
    assert!(daemon.stop().success());
    let log = std::fs::read_to_string(dir.join("icwmpd.log")).expect("log file");
    assert!(log.contains("[INFO]    Start session"), "{log}");
    assert!(log.contains("[INFO]    End session"), "{log}");
}

#[test]
fn acs_requests_are_answered_from_the_data_model() {
    let requests = vec![
        Rpc::GetParameterValues {
            parameter_names: vec!["Device.DeviceInfo.UpTime".into()],
        },
        Rpc::GetParameterNames {
            parameter_path: "Device.DeviceInfo.".into(),
            next_level: true,
        },
        Rpc::SetParameterValues {
            parameter_list: vec![ParameterValue::new(
                "Device.ManagementServer.PeriodicInformInterval",
                "1234",
                XsdType::UnsignedInt,
            )],
            parameter_key: "key-7".into(),
        },
        Rpc::GetParameterValues {
            parameter_names: vec!["Device.No.Such.Thing".into()],
        },
        Rpc::GetRpcMethods,
        Rpc::GetOptions {
            option_name: String::new(),
        },
    ];
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(requests)],
        ..AcsOptions::default()
    });
    let dir = temp_dir("rpcs");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT));
    let responses = acs.sessions()[0].responses.clone();
    assert_eq!(responses.len(), 6, "{responses:#?}");
    match &responses[0] {
        Rpc::GetParameterValuesResponse { parameter_list } => {
            assert_eq!(parameter_list[0].name, "Device.DeviceInfo.UpTime");
            assert!(parameter_list[0].value.parse::<u64>().is_ok_and(|v| v > 0));
        }
        other => panic!("GPV: {other:?}"),
    }
    match &responses[1] {
        Rpc::GetParameterNamesResponse { parameter_list } => {
            assert!(parameter_list
                .iter()
                .any(|p| p.name == "Device.DeviceInfo.SerialNumber" && !p.writable));
        }
        other => panic!("GPN: {other:?}"),
    }
    assert!(
        matches!(responses[2], Rpc::SetParameterValuesResponse { .. }),
        "{:?}",
        responses[2]
    );
    assert!(matches!(&responses[3], Rpc::Fault(f) if f.code == FaultCode::InvalidParameterName));
    assert!(
        matches!(&responses[4], Rpc::GetRpcMethodsResponse { method_list } if method_list.iter().any(|m| m == "SetParameterValues"))
    );
    // No voucher was ever set: GetOptions answers with no option.
    assert_eq!(
        responses[5],
        Rpc::GetOptionsResponse {
            option_list: Vec::new()
        }
    );
    assert!(daemon.stop().success());
    let config = std::fs::read_to_string(dir.join("cwmp")).expect("config");
    assert!(
        config.contains("option periodic_inform_interval '1234'"),
        "{config}"
    );
    assert!(config.contains("option ParameterKey 'key-7'"), "{config}");
}

#[test]
fn failed_sessions_retry_with_back_off_and_keep_events() {
    let failing = SessionScript {
        inform_http_status: Some(500),
        ..SessionScript::default()
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![failing],
        ..AcsOptions::default()
    });
    let dir = temp_dir("retry");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "a retry after the failure");
    let sessions = acs.sessions();
    assert_eq!(
        sessions[0].event_codes(),
        sessions[1].event_codes(),
        "the same events are retried"
    );
    assert_eq!(sessions[0].inform().map(|i| i.retry_count), Some(0));
    assert_eq!(sessions[1].inform().map(|i| i.retry_count), Some(1));
    assert!(daemon.stop().success());
    assert!(std::fs::read_to_string(dir.join("icwmpd.log"))
        .expect("log")
        .contains("Retry session, retry count = 1, retry in "));
}

#[test]
fn a_crash_mid_session_loses_no_event() {
    let stalled = SessionScript {
        stall: true,
        ..SessionScript::default()
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![stalled],
        ..AcsOptions::default()
    });
    let dir = temp_dir("crash");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_started(1, WAIT), "the first Inform arrived");
    daemon.kill9();
    let daemon = TestDaemon::start(&dir, &[]);
    // The stalled first session never completes; the second one does.
    assert!(acs.wait_sessions(1, WAIT), "the restarted daemon delivers");
    let codes = acs.sessions()[1].event_codes();
    assert!(codes.contains(&"0 BOOTSTRAP".to_owned()), "{codes:?}");
    assert!(daemon.stop().success());
}

#[test]
fn reboot_is_reported_with_its_command_key_after_restart() {
    let reboot = script(vec![Rpc::Reboot {
        command_key: "rb-1".into(),
    }]);
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![reboot],
        ..AcsOptions::default()
    });
    let dir = temp_dir("reboot");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT));
    assert!(
        wait_until(WAIT, || dir.join("rebooted").exists()),
        "the reboot command ran"
    );
    daemon.kill9();
    let daemon = TestDaemon::start(&dir, &["-b"]);
    assert!(acs.wait_sessions(2, WAIT));
    let second = acs.sessions()[1].clone();
    assert_eq!(second.event_codes(), ["1 BOOT", "M Reboot"]);
    let inform = second.inform().expect("Inform");
    assert!(inform
        .events
        .iter()
        .any(|e| e.event_code == "M Reboot" && e.command_key == "rb-1"));
    assert!(daemon.stop().success());
}

#[test]
fn schedule_inform_opens_a_scheduled_session() {
    let schedule = script(vec![Rpc::ScheduleInform {
        delay_seconds: 1,
        command_key: "si".into(),
    }]);
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![schedule],
        ..AcsOptions::default()
    });
    let dir = temp_dir("schedule");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "the scheduled session");
    assert_eq!(
        acs.sessions()[1].event_codes(),
        ["3 SCHEDULED", "M ScheduleInform"]
    );
    assert!(daemon.stop().success());
}

#[test]
fn basic_auth_and_cookies() {
    let auth = Auth::Basic {
        user: "cpe".into(),
        password: "secret".into(),
    };
    let acs = TestAcs::start(AcsOptions {
        auth,
        cookie: true,
        sessions: vec![script(vec![Rpc::GetRpcMethods])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("auth");
    write_config(
        &dir,
        &acs.url(),
        "\toption userid 'cpe'\n\toption passwd 'secret'",
        "",
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT));
    let session = &acs.sessions()[0];
    assert_eq!(
        session.responses.len(),
        1,
        "the session went on with the cookie"
    );
    assert!(daemon.stop().success());
}

#[test]
fn wrong_credentials_fail_the_session() {
    let auth = Auth::Basic {
        user: "cpe".into(),
        password: "secret".into(),
    };
    let acs = TestAcs::start(AcsOptions {
        auth,
        ..AcsOptions::default()
    });
    let dir = temp_dir("badauth");
    write_config(
        &dir,
        &acs.url(),
        "\toption userid 'cpe'\n\toption passwd 'wrong'",
        "",
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        wait_until(WAIT, || daemon.log().contains("CWMP session error")),
        "{}",
        daemon.log()
    );
    assert!(acs.sessions().is_empty());
    assert!(daemon.stop().success());
}

#[test]
fn sighup_reload_to_a_new_acs_bootstraps_it() {
    let first = TestAcs::start(AcsOptions::default());
    let second = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("reload");
    write_config(&dir, &first.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(first.wait_sessions(1, WAIT));
    write_config(&dir, &second.url(), "", "");
    daemon.signal("HUP");
    assert!(second.wait_sessions(1, WAIT), "the new ACS gets a session");
    assert!(second.sessions()[0]
        .event_codes()
        .contains(&"0 BOOTSTRAP".to_owned()));
    // A broken file on reload keeps the running configuration.
    std::fs::write(
        dir.join("cwmp"),
        "config cwmp acs\n\toption url 'unterminated\n",
    )
    .expect("write");
    daemon.signal("HUP");
    assert!(wait_until(WAIT, || daemon
        .log()
        .contains("config reload failed")));
    assert!(daemon.stop().success());
}

#[test]
fn active_notification_opens_a_value_change_session() {
    use icwmp::cwmp::params::SetParameterAttribute;
    let spa = Rpc::SetParameterAttributes {
        parameter_list: vec![SetParameterAttribute {
            name: "Device.DeviceInfo.UpTime".into(),
            notification_change: true,
            notification: 2,
            access_list_change: false,
            access_list: Vec::new(),
        }],
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![spa])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("notify");
    write_config(&dir, &acs.url(), "", "\toption value_check_interval '1'");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "a value-change session follows");
    let second = acs.sessions()[1].clone();
    assert!(
        second.event_codes().contains(&"4 VALUE CHANGE".to_owned()),
        "{:?}",
        second.event_codes()
    );
    let inform = second.inform().expect("Inform");
    assert!(inform
        .parameter_list
        .iter()
        .any(|p| p.name == "Device.DeviceInfo.UpTime"));
    assert!(daemon.stop().success());
}

#[test]
fn active_lightweight_notification_goes_out_over_udp() {
    use icwmp::cwmp::params::SetParameterAttribute;
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp receiver");
    receiver.set_read_timeout(Some(WAIT)).expect("timeout");
    let port = receiver.local_addr().expect("addr").port();
    let spa = Rpc::SetParameterAttributes {
        parameter_list: vec![SetParameterAttribute {
            name: "Device.DeviceInfo.UpTime".into(),
            notification_change: true,
            notification: 5,
            access_list_change: false,
            access_list: Vec::new(),
        }],
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![spa])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("lwn");
    write_config(
        &dir,
        &acs.url(),
        "",
        "\toption value_check_interval '1'\n\toption amd_version '5'",
    );
    let lwn = format!("\nconfig cwmp 'lwn'\n\toption enable '1'\n\toption hostname '127.0.0.1'\n\toption port '{port}'\n");
    let config = std::fs::read_to_string(dir.join("cwmp")).expect("config");
    let config = config.replace("config cwmp 'lwn'\n\toption enable '0'\n", &lwn);
    std::fs::write(dir.join("cwmp"), config).expect("config");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT));
    let mut buf = [0u8; 4096];
    let n = receiver.recv(&mut buf).expect("a lightweight notification");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(text.starts_with("<lwn:Notification"), "{text}");
    assert!(
        text.contains("<lwn:Name>Device.DeviceInfo.UpTime</lwn:Name>"),
        "{text}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn factory_reset_makes_the_next_start_a_bootstrap() {
    let reset = script(vec![Rpc::FactoryReset]);
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![reset],
        ..AcsOptions::default()
    });
    let dir = temp_dir("factory");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT));
    assert!(matches!(
        acs.sessions()[0].responses.first(),
        Some(Rpc::FactoryResetResponse)
    ));
    assert!(
        wait_until(WAIT, || dir.join("factory-reset").exists()),
        "the reset command ran"
    );
    daemon.kill9();
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT));
    assert!(acs.sessions()[1]
        .event_codes()
        .contains(&"0 BOOTSTRAP".to_owned()));
    assert!(daemon.stop().success());
}

#[test]
fn a_malformed_configuration_refuses_to_start_with_its_line() {
    let dir = temp_dir("badconfig");
    std::fs::write(
        dir.join("cwmp"),
        "config cwmp 'acs'\n\toption url 'http://x/'\n\toption periodic_inform_enable 'maybe'\n",
    )
    .expect("config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_icwmpd"))
        .arg("--config")
        .arg(&dir)
        .output()
        .expect("run icwmpd");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cwmp:3: option acs.periodic_inform_enable: 'maybe' is not a boolean"),
        "{stderr}"
    );
}

#[test]
fn dhcp_option43_moves_the_daemon_to_the_announced_acs() {
    let first = TestAcs::start(AcsOptions::default());
    let announced = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("dhcp43");
    write_config(&dir, &first.url(), "\toption dhcp_discovery '1'", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(first.wait_sessions(1, WAIT));
    let url = announced.url();
    let mut option = vec![1u8, url.len() as u8];
    option.extend_from_slice(url.as_bytes());
    let hex: String = option.iter().map(|b| format!("{b:02x}")).collect();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_icwmpd"))
        .args([
            "--config",
            &dir.display().to_string(),
            "--dhcp-option43",
            &hex,
        ])
        .output()
        .expect("run icwmpd --dhcp-option43");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(announced.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(announced.sessions()[0]
        .event_codes()
        .contains(&"0 BOOTSTRAP".to_owned()));
    assert!(daemon.stop().success());
}
