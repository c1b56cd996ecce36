//! Connection requests to the real `icwmpd`: Digest-authenticated requests open a `6 CONNECTION REQUEST` session, others do not.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use icwmp::wire::soap::Rpc;
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::conn_request::{digest_connection_request, port_of_first_inform};
use support::daemon::{temp_dir, write_config, TestDaemon};

const WAIT: Duration = Duration::from_secs(20);

/// GET, 401 challenge, GET with Digest credentials: the final status.
fn connection_request(port: u16, user: &str, password: &str) -> u16 {
    let (challenge, status) = digest_connection_request(port, user, password);
    assert_eq!(challenge, 401);
    status
}

fn start_with_credentials(acs: &TestAcs, tag: &str) -> TestDaemon {
    let dir = temp_dir(tag);
    write_config(
        &dir,
        &acs.url(),
        "",
        "\toption userid 'cr-user'\n\toption passwd 'cr-pass'",
    );
    TestDaemon::start(&dir, &[])
}

#[test]
fn authenticated_connection_request_opens_a_session() {
    let acs = TestAcs::start(AcsOptions::default());
    let daemon = start_with_credentials(&acs, "cr");
    assert!(acs.wait_sessions(1, WAIT));
    let port = port_of_first_inform(&acs);

    assert_eq!(connection_request(port, "cr-user", "wrong"), 401);
    assert_eq!(connection_request(port, "cr-user", "cr-pass"), 200);
    assert!(acs.wait_sessions(2, WAIT), "a session follows the request");
    assert_eq!(acs.sessions()[1].event_codes(), ["6 CONNECTION REQUEST"]);
    assert!(daemon.stop().success());
}

#[test]
fn without_credentials_no_connection_request_is_accepted() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("cr-none");
    write_config(&dir, &acs.url(), "", "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT));
    assert!(
        daemon.log().contains("Connection requests disabled"),
        "{}",
        daemon.log()
    );
    assert!(daemon.stop().success());
}

/// GenieACS queues an operator's tasks one after another, each with a connection request
/// right after the previous task's session ended: every one must be honoured.
#[test]
fn back_to_back_tasks_each_get_their_session() {
    const TASKS: usize = 15;
    let task = SessionScript {
        requests: vec![Rpc::GetParameterValues {
            parameter_names: vec!["Device.DeviceInfo.UpTime".into()],
        }],
        ..SessionScript::default()
    };
    let mut sessions = vec![SessionScript::default()];
    sessions.extend(std::iter::repeat_n(task, TASKS));
    let acs = TestAcs::start(AcsOptions {
        sessions,
        ..AcsOptions::default()
    });
    let daemon = start_with_credentials(&acs, "cr-tasks");
    assert!(acs.wait_sessions(1, WAIT));
    let port = port_of_first_inform(&acs);
    for done in 1..=TASKS {
        assert_eq!(
            connection_request(port, "cr-user", "cr-pass"),
            200,
            "task {done}"
        );
        assert!(
            acs.wait_sessions(done + 1, WAIT),
            "the session of task {done}"
        );
    }
    let sessions = acs.sessions();
    for session in &sessions[1..] {
        assert_eq!(session.event_codes(), ["6 CONNECTION REQUEST"]);
        assert_eq!(session.responses.len(), 1, "the task's RPC was answered");
    }
    assert!(daemon.stop().success());
}

/// Slow and idle connections, far more than the server has slots, are held open while the
/// ACS makes its request: it still gets through.
#[test]
fn an_acs_gets_through_while_a_thousand_idle_connections_are_held() {
    let acs = TestAcs::start(AcsOptions::default());
    let daemon = start_with_credentials(&acs, "cr-idle");
    assert!(acs.wait_sessions(1, WAIT));
    let port = port_of_first_inform(&acs);
    let mut held = Vec::new();
    for n in 0..1000 {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        // Every other one is slow: it starts a request and never finishes it.
        if n % 2 == 1 {
            let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: cpe\r\n");
        }
        held.push(stream);
    }
    assert!(held.len() >= 900, "{} connections opened", held.len());
    assert_eq!(connection_request(port, "cr-user", "cr-pass"), 200);
    assert!(acs.wait_sessions(2, WAIT), "a session follows the request");
    drop(held);
    assert!(daemon.stop().success());
}
