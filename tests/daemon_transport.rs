//! The real `icwmpd` over the transports an ACS may demand: Digest auth, redirects, HoldRequests, TLS with certificate checks.

mod support;

use std::time::Duration;

use icwmp::wire::soap::Rpc;
use support::acs::{AcsOptions, Auth, SessionScript, TestAcs};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};
use support::pki::TestPki;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn digest_authentication_with_the_acs() {
    let auth = Auth::Digest {
        user: "cpe".into(),
        password: "s3cret".into(),
    };
    let script = SessionScript {
        requests: vec![Rpc::GetRpcMethods],
        ..SessionScript::default()
    };
    let acs = TestAcs::start(AcsOptions {
        auth,
        sessions: vec![script],
        ..AcsOptions::default()
    });
    let dir = temp_dir("digest");
    write_config(
        &dir,
        &acs.url(),
        "\toption userid 'cpe'\n\toption passwd 's3cret'",
        "",
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    let session = &acs.sessions()[0];
    assert_eq!(session.responses.len(), 1, "the whole session went through");
    assert!(session.posts.iter().all(|p| p
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v.starts_with("Digest "))));
    assert!(daemon.stop().success());
}

#[test]
fn a_redirect_moves_the_session() {
    let acs = TestAcs::start(AcsOptions {
        redirect: true,
        ..AcsOptions::default()
    });
    let dir = temp_dir("redirect");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    let session = &acs.sessions()[0];
    assert!(
        session.posts.iter().all(|p| p.path == "/acs-moved"),
        "every POST of the session went to the new URL"
    );
    assert!(daemon.stop().success());
}

#[test]
fn held_requests_wait_for_the_next_session() {
    let held = SessionScript {
        hold_requests: true,
        ..SessionScript::default()
    };
    let acs = TestAcs::start(AcsOptions {
        sessions: vec![held],
        ..AcsOptions::default()
    });
    let dir = temp_dir("hold");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &["-g"]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    let sessions = acs.sessions();
    let asked = |i: usize| {
        sessions[i].posts.iter().any(|p| {
            matches!(
                p.envelope.as_ref().and_then(|e| e.body.as_ref()),
                Some(Rpc::GetRpcMethods)
            )
        })
    };
    assert!(!asked(0), "no CPE request while the ACS holds them");
    assert!(asked(1), "GetRPCMethods goes in the next session");
    assert!(daemon.stop().success());
}

#[test]
fn tls_verifies_the_acs_certificate_and_host_name() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipped: the openssl CLI is not installed");
        return;
    }
    let pki = TestPki::generate("acs", "DNS:localhost");
    let acs = TestAcs::start(AcsOptions {
        tls: Some(pki.server_config.clone()),
        ..AcsOptions::default()
    });
    let capath = format!("\toption ssl_capath '{}'", pki.ca_cert.display());

    let dir = temp_dir("tls-ok");
    write_config(&dir, &acs.https_url(), &capath, "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());

    // The certificate names localhost, not 127.0.0.1: refused.
    let dir = temp_dir("tls-wrong-host");
    let wrong_host = acs.https_url().replace("localhost", "127.0.0.1");
    write_config(&dir, &wrong_host, &capath, "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        wait_until(WAIT, || daemon.log().contains("CWMP session error")),
        "{}",
        daemon.log()
    );
    assert_eq!(
        acs.sessions().len(),
        1,
        "no session over an unverified connection"
    );
    assert!(daemon.stop().success());

    // insecure_enable=1 skips the checks.
    let dir = temp_dir("tls-insecure");
    write_config(&dir, &wrong_host, "\toption insecure_enable '1'", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(2, WAIT), "{}", daemon.log());
    assert!(daemon.stop().success());
}
