//! XMPP connection requests (TR-069 Annex K) through a real prosody: login with SCRAM over STARTTLS, connection-request IQs from the ACS's account, the Annex K errors, and reconnection after the server restarts.

#![cfg(feature = "xmpp")]

mod support;

use std::time::Duration;

use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::soap::Rpc;
use icwmp::wire::xmpp::IqKind;
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};
use support::prosody::{Prosody, XmppTestClient};

const WAIT: Duration = Duration::from_secs(30);
const CPE_JID: &str = "cpe@localhost/icwmp";

/// The daemon's config directory: `cwmp` with its `xmpp` section (CA of
/// `prosody`'s certificate, acs@localhost allowed) and, with `connection`, the
/// `xmpp` package whose Connection.1 logs into `prosody` as cpe@localhost/icwmp.
fn config_dir(tag: &str, prosody: &Prosody, acs: &TestAcs, connection: bool) -> std::path::PathBuf {
    let dir = temp_dir(tag);
    write_config(
        &dir,
        &acs.url(),
        "",
        "\toption userid 'cr-user'\n\toption passwd 'cr-pass'\n",
    );
    let mut cwmp = std::fs::read_to_string(dir.join("cwmp")).expect("cwmp");
    cwmp.push_str(&format!(
        "config cwmp 'xmpp'\n\toption allowed_jid 'acs@localhost'\n\toption ssl_capath '{}'\n",
        prosody.ca_cert().display()
    ));
    if connection {
        cwmp.push_str("\toption connection 'Device.XMPP.Connection.1'\n");
        let xmpp = format!(
            "config connection\n\toption instance '1'\n\toption enable '1'\n\
             \toption username 'cpe'\n\toption password 'cpe-secret'\n\
             \toption domain 'localhost'\n\toption resource 'icwmp'\n\toption usetls '1'\n\
             \toption initial_retry_interval '1'\n\toption retry_max_interval '2'\n\n\
             config server\n\toption connection '1'\n\toption instance '1'\n\toption enable '1'\n\
             \toption server_address '127.0.0.1'\n\toption port '{}'\n",
            prosody.port
        );
        std::fs::write(dir.join("xmpp"), xmpp).expect("xmpp package");
    }
    std::fs::write(dir.join("cwmp"), cwmp).expect("cwmp");
    dir
}

/// Replaces `from` by `to` in the directory's `xmpp` package.
fn edit_package(dir: &std::path::Path, from: &str, to: &str) {
    let package = std::fs::read_to_string(dir.join("xmpp")).expect("xmpp package");
    assert!(package.contains(from));
    std::fs::write(dir.join("xmpp"), package.replace(from, to)).expect("xmpp package");
}

fn start_daemon(tag: &str, prosody: &Prosody, acs: &TestAcs) -> TestDaemon {
    TestDaemon::start(&config_dir(tag, prosody, acs, true), &[])
}

fn logins(daemon: &TestDaemon) -> usize {
    daemon
        .log()
        .matches(&format!("XMPP connected as {CPE_JID}"))
        .count()
}

fn connection_request_sessions(acs: &TestAcs) -> usize {
    acs.sessions()
        .iter()
        .filter(|s| s.event_codes().iter().any(|c| c == "6 CONNECTION REQUEST"))
        .count()
}

fn start_prosody(tag: &str) -> Option<Prosody> {
    let prosody = Prosody::start(
        tag,
        &[
            ("cpe", "cpe-secret"),
            ("acs", "acs-secret"),
            ("stranger", "stranger-secret"),
        ],
    );
    if prosody.is_none() {
        eprintln!("prosody is not installed (apt-get install prosody lua-unbound): test skipped");
    }
    prosody
}

#[test]
fn scram_login_over_starttls_and_annex_k_connection_requests() {
    let Some(prosody) = start_prosody("cr") else {
        return;
    };
    let acs = TestAcs::start(AcsOptions::default());
    let daemon = start_daemon("xmpp-cr", &prosody, &acs);
    assert!(
        wait_until(WAIT, || logins(&daemon) == 1),
        "no XMPP login: {}\n{}",
        daemon.log(),
        prosody.log()
    );
    let log = daemon.log();
    assert!(log.contains("XMPP: SASL SCRAM-SHA-1 inside TLS"), "{log}");

    // ConnReqJabberID goes to the ACS (active notification forced) and is in every Inform.
    assert!(wait_until(WAIT, || acs.sessions().iter().any(|s| {
        s.inform().is_some_and(|i| {
            i.parameter_list
                .iter()
                .any(|p| p.name == "Device.ManagementServer.ConnReqJabberID" && p.value == CPE_JID)
        })
    })));
    let mut acs_xmpp = XmppTestClient::login(&prosody, "acs", "acs-secret", "acs");
    let mut stranger = XmppTestClient::login(&prosody, "stranger", "stranger-secret", "s");
    let before = acs.sessions().len();

    let (kind, answer) = acs_xmpp.connection_request(CPE_JID, "wrong1", "cr-user", "nope");
    assert_eq!(kind, IqKind::Error, "{answer}");
    assert!(answer.contains("not-authorized"), "{answer}");
    let (kind, answer) = stranger.connection_request(CPE_JID, "str1", "cr-user", "cr-pass");
    assert_eq!(kind, IqKind::Error, "{answer}");
    assert!(answer.contains("service-unavailable"), "{answer}");
    // Neither starts a session.
    assert!(!wait_until(Duration::from_secs(2), || acs.sessions().len() > before));
    assert_eq!(connection_request_sessions(&acs), 0);

    let (kind, answer) = acs_xmpp.connection_request(CPE_JID, "good1", "cr-user", "cr-pass");
    assert_eq!(kind, IqKind::Result, "{answer}");
    assert!(
        wait_until(WAIT, || connection_request_sessions(&acs) == 1),
        "{}",
        daemon.log()
    );
    assert!(daemon
        .log()
        .contains("Connection Request from XMPP acs@localhost/acs"));
    daemon.stop();
}

#[test]
fn reconnects_after_prosody_restarts() {
    let Some(mut prosody) = start_prosody("restart") else {
        return;
    };
    let acs = TestAcs::start(AcsOptions::default());
    // A server named by a host name: resolved on the resolver worker.
    let dir = config_dir("xmpp-restart", &prosody, &acs, true);
    edit_package(&dir, "'127.0.0.1'", "'localhost'");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        wait_until(WAIT, || logins(&daemon) == 1),
        "no XMPP login: {}",
        daemon.log()
    );
    prosody.stop();
    assert!(wait_until(WAIT, || daemon
        .log()
        .contains("XMPP connection failed")));
    prosody.run();
    assert!(
        wait_until(WAIT, || logins(&daemon) == 2),
        "no second login: {}",
        daemon.log()
    );
    let mut acs_xmpp = XmppTestClient::login(&prosody, "acs", "acs-secret", "acs");
    let (kind, answer) = acs_xmpp.connection_request(CPE_JID, "after1", "cr-user", "cr-pass");
    assert_eq!(kind, IqKind::Result, "{answer}");
    assert!(wait_until(WAIT, || connection_request_sessions(&acs) == 1));
    daemon.stop();
}

/// The ACS sets XMPP up itself (AddObject and SetParameterValues on
/// `Device.XMPP.` and ManagementServer.ConnReqXMPPConnection): the
/// `xmpp` package is written and the client logs in when the session ends.
#[test]
fn acs_configures_the_connection_through_the_data_model() {
    let Some(prosody) = start_prosody("acs-set") else {
        return;
    };
    let text = |name: &str, value: &str| ParameterValue::new(name, value, XsdType::String);
    let flag = |name: &str| ParameterValue::new(name, "1", XsdType::Boolean);
    let c = "Device.XMPP.Connection.1.";
    let setup = vec![
        Rpc::AddObject {
            object_name: "Device.XMPP.Connection.".into(),
            parameter_key: String::new(),
        },
        Rpc::AddObject {
            object_name: format!("{c}Server."),
            parameter_key: String::new(),
        },
        Rpc::SetParameterValues {
            parameter_list: vec![
                flag(&format!("{c}Enable")),
                text(&format!("{c}Username"), "cpe"),
                text(&format!("{c}Password"), "cpe-secret"),
                text(&format!("{c}Domain"), "localhost"),
                text(&format!("{c}Resource"), "icwmp"),
                flag(&format!("{c}UseTLS")),
                flag(&format!("{c}Server.1.Enable")),
                text(&format!("{c}Server.1.ServerAddress"), "127.0.0.1"),
                ParameterValue::new(
                    format!("{c}Server.1.Port"),
                    prosody.port.to_string(),
                    XsdType::UnsignedInt,
                ),
                text(
                    "Device.ManagementServer.ConnReqXMPPConnection",
                    "Device.XMPP.Connection.1",
                ),
            ],
            parameter_key: "xmpp-1".into(),
        },
    ];
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![SessionScript {
            requests: setup,
            ..SessionScript::default()
        }],
        ..AcsOptions::default()
    });
    let dir = config_dir("xmpp-acs-set", &prosody, &acs, false);
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT));
    let responses = acs.sessions()[0].responses.clone();
    assert!(
        matches!(
            responses.get(2),
            Some(Rpc::SetParameterValuesResponse { .. })
        ),
        "{responses:#?}"
    );
    assert!(
        wait_until(WAIT, || logins(&daemon) == 1),
        "no XMPP login: {}",
        daemon.log()
    );
    let package = std::fs::read_to_string(dir.join("xmpp")).expect("xmpp package written");
    assert!(
        package.contains("cpe-secret") && package.contains("server_address"),
        "{package}"
    );
    let mut acs_xmpp = XmppTestClient::login(&prosody, "acs", "acs-secret", "acs");
    let (kind, answer) = acs_xmpp.connection_request(CPE_JID, "set1", "cr-user", "cr-pass");
    assert_eq!(kind, IqKind::Result, "{answer}");
    assert!(wait_until(WAIT, || connection_request_sessions(&acs) == 1));
    daemon.stop();
}

#[test]
fn a_wrong_account_password_is_an_authentication_failure() {
    let Some(prosody) = start_prosody("badpw") else {
        return;
    };
    let acs = TestAcs::start(AcsOptions::default());
    let dir = config_dir("xmpp-badpw", &prosody, &acs, true);
    edit_package(&dir, "'cpe-secret'", "'not-the-password'");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        wait_until(WAIT, || daemon
            .log()
            .matches("XMPP connection failed (SASL not-authorized)")
            .count()
            >= 2),
        "no failed login and retry: {}",
        daemon.log()
    );
    let log = daemon.log();
    assert!(
        log.contains("XMPP connection status: Error_AuthenticationFailure"),
        "{log}"
    );
    assert_eq!(logins(&daemon), 0);
    daemon.stop();
}
