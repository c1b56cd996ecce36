//! The real `icwmpd` managing software against the loopback test ACS: ChangeDUState through a fake package manager, SoftwareModules, autonomous changes, vouchers, Kicked and RequestDownload.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use icwmp::cwmp::fault::FaultCode;
use icwmp::wire::soap::{
    ChangeDuState, DuOperation, DuState, InstallOp, OpResult, Rpc, UninstallOp,
};
use support::acs::{AcsOptions, RecordedSession, SessionScript, TestAcs};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};
use support::opkg::FAKE_OPKG;

const WAIT: Duration = Duration::from_secs(20);

/// The daemon's config with the fake package manager in `dir`.
fn setup(dir: &Path, acs_url: &str, installed: &str) {
    std::fs::write(dir.join("fake-opkg"), FAKE_OPKG).expect("script");
    std::fs::write(dir.join("installed"), installed).expect("db");
    let opkg = format!("sh {}/fake-opkg", dir.display());
    let cpe = format!(
        "\toption amd_version '5'\n\
         \toption du_install_command '{opkg} install {{url}}'\n\
         \toption du_update_command '{opkg} install {{name}}'\n\
         \toption du_uninstall_command '{opkg} remove {{name}}'\n\
         \toption du_list_command '{opkg} list'\n"
    );
    write_config(dir, acs_url, "", &cpe);
}

fn script(requests: Vec<Rpc>) -> SessionScript {
    SessionScript {
        requests,
        ..SessionScript::default()
    }
}

/// The CPE requests of a session (what it POSTed besides the Inform).
fn cpe_requests(session: &RecordedSession) -> Vec<Rpc> {
    session
        .posts
        .iter()
        .filter_map(|p| p.envelope.as_ref()?.body.clone())
        .filter(|rpc| {
            matches!(
                rpc,
                Rpc::DuStateChangeComplete(_)
                    | Rpc::AutonomousDuStateChangeComplete { .. }
                    | Rpc::Kicked(_)
                    | Rpc::RequestDownload { .. }
            )
        })
        .collect()
}

fn du_results(sessions: &[RecordedSession]) -> Vec<(String, Vec<OpResult>)> {
    sessions
        .iter()
        .flat_map(cpe_requests)
        .filter_map(|rpc| match rpc {
            Rpc::DuStateChangeComplete(done) => Some((done.command_key, done.results)),
            _ => None,
        })
        .collect()
}

fn install(url: &str) -> DuOperation {
    DuOperation::Install(InstallOp {
        url: url.into(),
        ..InstallOp::default()
    })
}

#[test]
fn install_is_reported_and_visible_and_an_unknown_uninstall_faults() {
    let unknown = "5d1e6a8b-8c3e-5b2a-9f00-0123456789ab";
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![
            script(vec![Rpc::ChangeDuState(ChangeDuState {
                operations: vec![
                    install("http://packages.invalid/hello_1.0-1_all.ipk"),
                    DuOperation::Uninstall(UninstallOp {
                        uuid: unknown.into(),
                        ..UninstallOp::default()
                    }),
                ],
                command_key: "cdus-1".into(),
            })]),
            script(vec![Rpc::GetParameterValues {
                parameter_names: vec!["Device.SoftwareModules.DeploymentUnit.".into()],
            }]),
        ],
        ..AcsOptions::default()
    });
    let dir = temp_dir("du-install");
    setup(&dir, &acs.url(), "base-files - 1\n");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    assert_eq!(sessions[0].responses, [Rpc::ChangeDuStateResponse]);
    let codes = sessions[1].event_codes();
    assert!(
        codes.contains(&"11 DU STATE CHANGE COMPLETE".to_owned()),
        "{codes:?}"
    );
    assert!(codes.contains(&"M ChangeDUState".to_owned()), "{codes:?}");
    let results = du_results(&sessions);
    assert_eq!(results.len(), 1, "{results:?}");
    let (key, ops) = &results[0];
    assert_eq!(key, "cdus-1");
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0].current_state, DuState::Installed);
    assert_eq!(ops[0].fault.code, None, "{:?}", ops[0].fault);
    assert_eq!(ops[0].version, "1.0-1");
    assert!(
        ops[0].uuid.len() == 36 && ops[0].uuid.as_bytes()[14] == b'5',
        "{}",
        ops[0].uuid
    );
    assert!(ops[0]
        .deployment_unit_ref
        .starts_with("Device.SoftwareModules.DeploymentUnit."));
    assert!(!ops[0].start_time.is_unknown() && !ops[0].complete_time.is_unknown());
    assert_eq!(ops[1].fault.code, Some(FaultCode::UnknownDeploymentUnit));
    assert_eq!(ops[1].uuid, unknown);

    let Rpc::GetParameterValuesResponse { parameter_list } = &sessions[1].responses[0] else {
        panic!("{:?}", sessions[1].responses);
    };
    let value = |suffix: &str| {
        parameter_list
            .iter()
            .find(|p| p.name == format!("{}.{suffix}", ops[0].deployment_unit_ref))
            .map(|p| p.value.clone())
    };
    assert_eq!(
        value("Name").as_deref(),
        Some("hello"),
        "{parameter_list:?}"
    );
    assert_eq!(value("UUID").as_deref(), Some(ops[0].uuid.as_str()));
    assert_eq!(
        value("URL").as_deref(),
        Some("http://packages.invalid/hello_1.0-1_all.ipk")
    );
    assert_eq!(
        value("ExecutionEnvRef").as_deref(),
        Some("Device.SoftwareModules.ExecEnv.1")
    );
    assert!(std::fs::read_to_string(dir.join("installed"))
        .expect("db")
        .contains("hello - 1.0-1"));
    assert!(daemon.stop().success());
}

#[test]
fn a_restart_before_the_acknowledgement_sends_one_du_state_change_complete() {
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![
            script(vec![Rpc::ChangeDuState(ChangeDuState {
                operations: vec![install("http://packages.invalid/tool_2_all.ipk")],
                command_key: "restart-key".into(),
            })]),
            // The session that would report the result hangs: the daemon dies in it.
            SessionScript {
                stall: true,
                ..SessionScript::default()
            },
        ],
        ..AcsOptions::default()
    });
    let dir = temp_dir("du-restart");
    setup(&dir, &acs.url(), "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_started(2, WAIT), "{}", daemon.log());
    daemon.kill9();
    assert!(du_results(&acs.sessions()).is_empty());

    let daemon = TestDaemon::start(&dir, &[]);
    // Completed sessions: the first and the one after the restart (the stalled one never ends).
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    assert_eq!(sessions.len(), 3);
    let results = du_results(&sessions);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].0, "restart-key");
    assert_eq!(results[0].1[0].current_state, DuState::Installed);
    assert!(sessions[2]
        .event_codes()
        .contains(&"M ChangeDUState".to_owned()));
    assert!(daemon.stop().success());

    // Acknowledged: nothing is owed any more, so a restart opens no session.
    let daemon = TestDaemon::start(&dir, &[]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(acs.sessions().len(), 3, "{:?}", du_results(&acs.sessions()));
    assert!(daemon.stop().success());
}

#[test]
fn an_install_cut_short_by_a_kill_is_reported_as_done_not_as_autonomous() {
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![Rpc::ChangeDuState(ChangeDuState {
            operations: vec![install("http://packages.invalid/slow_3_all.ipk")],
            command_key: "cut-short".into(),
        })])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("du-cut-short");
    setup(&dir, &acs.url(), "base-files - 1\n");
    // The package manager installs, then hangs until released: the daemon is
    // killed after the package is in but before it saw the command end.
    let hanging = FAKE_OPKG.replace(
        "mv \"$db.new.$$\" \"$db\" ;;\nremove)",
        "mv \"$db.new.$$\" \"$db\"\n    while [ ! -e \"$db.release\" ]; do sleep 0.05; done ;;\nremove)",
    );
    assert_ne!(hanging, FAKE_OPKG);
    std::fs::write(dir.join("fake-opkg"), hanging).expect("script");
    let daemon = TestDaemon::start(&dir, &[]);
    let installed =
        || std::fs::read_to_string(dir.join("installed")).is_ok_and(|t| t.contains("slow - 3"));
    assert!(wait_until(WAIT, installed), "{}", daemon.log());
    daemon.kill9();
    std::fs::write(dir.join("installed.release"), "").expect("release");

    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        wait_until(WAIT, || !du_results(&acs.sessions()).is_empty()),
        "{}",
        daemon.log()
    );
    assert!(acs.wait_sessions(acs.sessions().len(), WAIT));
    let sessions = acs.sessions();
    let results = du_results(&sessions);
    assert_eq!(results.len(), 1, "{results:?}");
    let op = &results[0].1[0];
    assert_eq!(op.current_state, DuState::Installed, "{op:?}");
    assert_eq!(op.fault.code, None, "{op:?}");
    assert_eq!(op.version, "3");
    let autonomous = sessions
        .iter()
        .flat_map(cpe_requests)
        .filter(|r| matches!(r, Rpc::AutonomousDuStateChangeComplete { .. }))
        .count();
    assert_eq!(autonomous, 0, "the ACS's own install is not autonomous");
    assert!(daemon.stop().success());
}

#[test]
fn packages_changed_outside_cwmp_are_reported_autonomously() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("du-autonomous");
    setup(&dir, &acs.url(), "base-files - 1\nold - 1\n");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    let inventory = dir.join("icwmpd").join("software");
    assert!(wait_until(WAIT, || inventory.exists()), "{}", daemon.log());
    assert!(daemon.stop().success());
    assert!(acs
        .sessions()
        .iter()
        .all(|s| !s.event_codes().iter().any(|c| c.starts_with("12"))));

    // opkg by hand while the daemon was down.
    std::fs::write(dir.join("installed"), "base-files - 2\nnew - 1\n").expect("db");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    assert!(
        sessions[1]
            .event_codes()
            .contains(&"12 AUTONOMOUS DU STATE CHANGE COMPLETE".to_owned()),
        "{:?}",
        sessions[1].event_codes()
    );
    let reported: Vec<(String, String, DuState)> = cpe_requests(&sessions[1])
        .into_iter()
        .flat_map(|rpc| match rpc {
            Rpc::AutonomousDuStateChangeComplete { results } => results,
            _ => Vec::new(),
        })
        .map(|r| {
            (
                r.operation_performed,
                r.result.version,
                r.result.current_state,
            )
        })
        .collect();
    assert_eq!(reported.len(), 3, "{reported:?}");
    assert!(reported.contains(&("Uninstall".into(), "1".into(), DuState::Uninstalled)));
    assert!(reported.contains(&("Update".into(), "2".into(), DuState::Installed)));
    assert!(reported.contains(&("Install".into(), "1".into(), DuState::Installed)));
    assert!(daemon.stop().success());
}

/// Base64 of `text`.
fn base64(text: &str) -> String {
    icwmp::wire::digest::base64_encode(text.as_bytes())
}

#[test]
fn vouchers_set_are_options_got() {
    let voucher = base64(
        "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><Object>\
         <Option><VSerialNum>42</VSerialNum><OptionIdent>Gold</OptionIdent>\
         <StartDate>2024-01-01T00:00:00Z</StartDate><Mode>Enable without expiration</Mode>\
         <Transferable>1</Transferable></Option></Object></Signature>",
    );
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![script(vec![
            Rpc::SetVouchers {
                voucher_list: vec![voucher],
            },
            Rpc::GetOptions {
                option_name: String::new(),
            },
            Rpc::GetOptions {
                option_name: "Platinum".into(),
            },
            Rpc::SetVouchers {
                voucher_list: vec!["not base64!".into()],
            },
            Rpc::GetRpcMethods,
        ])],
        ..AcsOptions::default()
    });
    let dir = temp_dir("du-vouchers");
    setup(&dir, &acs.url(), "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    let responses = acs.sessions()[0].responses.clone();
    assert_eq!(responses[0], Rpc::SetVouchersResponse);
    let Rpc::GetOptionsResponse { option_list } = &responses[1] else {
        panic!("{responses:?}");
    };
    assert_eq!(option_list.len(), 1);
    let gold = &option_list[0];
    assert_eq!(
        (
            gold.option_name.as_str(),
            gold.voucher_sn,
            gold.mode,
            gold.state
        ),
        ("Gold", 42, 2, 3)
    );
    assert!(gold.is_transferable && gold.expiration_date.is_none());
    assert_eq!(
        responses[2],
        Rpc::GetOptionsResponse {
            option_list: Vec::new()
        }
    );
    assert!(
        matches!(&responses[3], Rpc::Fault(f) if f.code == FaultCode::InvalidArguments),
        "{responses:?}"
    );
    let Rpc::GetRpcMethodsResponse { method_list } = &responses[4] else {
        panic!("{responses:?}");
    };
    for method in ["ChangeDUState", "SetVouchers", "GetOptions"] {
        assert!(method_list.iter().any(|m| m == method), "{method_list:?}");
    }
    assert!(dir.join("icwmpd").join("vouchers").exists());
    assert!(daemon.stop().success());
}

#[test]
fn kicked_and_request_download_from_the_command_line_reach_the_acs() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("du-cpe-requests");
    setup(&dir, &acs.url(), "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    let pid_file = dir.join("icwmpd").join("icwmpd.pid");
    assert!(wait_until(WAIT, || pid_file.exists()));
    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_icwmpd"))
            .arg("--config")
            .arg(&dir)
            .args(args)
            .output()
            .expect("icwmpd CLI");
        assert!(output.status.success(), "{output:?}");
    };
    cli(&[
        "--request-download",
        "1 Firmware Upgrade Image",
        "Version=2.0",
    ]);
    cli(&[
        "--kicked",
        "buy",
        "http://portal/",
        "item=7",
        "http://portal/done",
    ]);
    let both = || {
        let all: Vec<Rpc> = acs.sessions().iter().flat_map(cpe_requests).collect();
        all.iter().any(|r| matches!(r, Rpc::Kicked(_)))
            && all.iter().any(|r| matches!(r, Rpc::RequestDownload { .. }))
    };
    assert!(wait_until(WAIT, both), "{}", daemon.log());
    assert!(wait_until(WAIT, || acs
        .sessions()
        .iter()
        .all(|s| s.completed)));
    let sessions = acs.sessions();
    let all: Vec<Rpc> = sessions.iter().flat_map(cpe_requests).collect();
    assert!(all.contains(&Rpc::RequestDownload {
        file_type: "1 Firmware Upgrade Image".into(),
        file_type_args: vec![icwmp::wire::soap::FileTypeArg {
            name: "Version".into(),
            value: "2.0".into(),
        }],
    }));
    assert!(all.contains(&Rpc::Kicked(icwmp::wire::soap::Kicked {
        command: "buy".into(),
        referer: "http://portal/".into(),
        arg: "item=7".into(),
        next: "http://portal/done".into(),
    })));
    assert_eq!(all.len(), 2, "each request sent once: {all:?}");
    let codes: Vec<String> = sessions.iter().flat_map(|s| s.event_codes()).collect();
    assert!(codes.contains(&"5 KICKED".to_owned()), "{codes:?}");
    assert!(
        codes.contains(&"9 REQUEST DOWNLOAD".to_owned()),
        "{codes:?}"
    );
    let requests_dir = dir.join("icwmpd").join("requests");
    assert!(wait_until(WAIT, || std::fs::read_dir(&requests_dir)
        .map(|d| d.count() == 0)
        .unwrap_or(false)));
    assert!(daemon.stop().success());
}
