//! The real `icwmpd` on a test ubus broker: the `tr069` object's four methods as the seed shows them.

mod support;

use std::time::Duration;

use icwmp::wire::blobmsg::{parse_json, Value};
use support::acs::{AcsOptions, TestAcs};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};
use support::ubus_broker::{Broker, CliClient, Fields};

const WAIT: Duration = Duration::from_secs(20);

fn args(json: &str) -> Fields {
    match parse_json(json).expect("test JSON") {
        Value::Table(fields) => fields,
        other => panic!("not an object: {other:?}"),
    }
}

fn call(client: &mut CliClient, method: &str, json: &str) -> Value {
    match client.call("tr069", method, args(json)).expect("ubus I/O") {
        Ok(Some(reply)) => reply,
        other => panic!("tr069 {method}: {other:?}"),
    }
}

#[test]
fn tr069_object_answers_like_the_seed() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("ubus");
    write_config(&dir, &acs.url(), "", "");
    let broker = Broker::start(&dir.join("no-ubus.sock"));
    let mut daemon = TestDaemon::start(&dir, &[]);
    assert!(acs.wait_sessions(1, WAIT), "bootstrap session");
    let mut client = CliClient::connect(&dir.join("no-ubus.sock")).expect("ubus client");
    assert!(
        wait_until(
            WAIT,
            || matches!(client.list("tr069"), Ok(Ok(found)) if !found.is_empty())
        ),
        "tr069 registered"
    );

    // The ACS counts its session complete when it answers 204; the daemon
    // ends it once it has read that answer, which may come a moment later.
    let last_status = |client: &mut CliClient| {
        let status = call(client, "status", "{}");
        let last = status.get("last_session").and_then(|l| l.get("status"));
        last.and_then(Value::as_str).map(str::to_owned)
    };
    assert!(
        wait_until(WAIT, || last_status(&mut client).as_deref()
            != Some("running")),
        "the session ended"
    );
    let status = call(&mut client, "status", "{}");
    let cwmp = status.get("cwmp").expect("cwmp");
    assert_eq!(cwmp.get("status").and_then(Value::as_str), Some("up"));
    assert_eq!(
        cwmp.get("acs_url").and_then(Value::as_str),
        Some(acs.url().as_str())
    );
    let last = status.get("last_session").expect("last_session");
    assert_eq!(last.get("status").and_then(Value::as_str), Some("success"));
    let stats = status.get("statistics").expect("statistics");
    assert_eq!(stats.get("success_sessions"), Some(&Value::Int(1)));
    assert_eq!(stats.get("total_sessions"), Some(&Value::Int(1)));
    assert!(status.get("next_session").is_some());

    let inform = call(&mut client, "inform", r#"{"event":"6 CONNECTION REQUEST"}"#);
    assert_eq!(inform.get("status"), Some(&Value::Int(1)));
    assert_eq!(
        inform.get("info").and_then(Value::as_str),
        Some("Session started")
    );
    assert!(acs.wait_sessions(2, WAIT), "the ubus-triggered session");
    assert_eq!(acs.sessions()[1].event_codes(), ["6 CONNECTION REQUEST"]);

    let bad = call(&mut client, "inform", r#"{"event":"99 NONSENSE"}"#);
    assert_eq!(bad.get("status"), Some(&Value::Int(-1)));

    let notify = call(&mut client, "notify", "{}");
    assert_eq!(notify.get("status"), Some(&Value::Int(1)));

    let reload = call(&mut client, "command", r#"{"command":"reload"}"#);
    assert_eq!(
        reload.get("info").and_then(Value::as_str),
        Some("icwmpd config reloaded")
    );

    let exit = call(&mut client, "command", r#"{"command":"exit"}"#);
    assert_eq!(
        exit.get("info").and_then(Value::as_str),
        Some("icwmpd daemon stopped")
    );
    let status = daemon
        .wait(WAIT)
        .expect("the daemon exits after the exit command");
    assert!(status.success());
    broker.stop();
}

/// netifd's `network.interface.wan status`, with a documentation-range address.
fn netifd_wan(
    method: &str,
    _args: &[(String, Value)],
) -> (icwmp::wire::ubus::UbusStatus, Option<Fields>) {
    match method {
        "status" => (
            icwmp::wire::ubus::UbusStatus::Ok,
            Some(args(
                r#"{"up": true, "l3_device": "eth0", "ipv4-address": [{"address": "198.51.100.7", "mask": 24}]}"#,
            )),
        ),
        _ => (icwmp::wire::ubus::UbusStatus::MethodNotFound, None),
    }
}

#[test]
fn the_wan_address_from_netifd_reaches_the_acs_as_a_value_change() {
    let acs = TestAcs::start(AcsOptions::default());
    let dir = temp_dir("ubus-wan");
    write_config(
        &dir,
        &acs.url(),
        "",
        "\toption userid 'cr'\n\toption passwd 'cr'",
    );
    let broker = Broker::start(&dir.join("no-ubus.sock"));
    broker.add_fake_object(
        "network.interface.wan",
        args(r#"{"status": {}}"#),
        std::sync::Arc::new(netifd_wan),
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        acs.wait_sessions(2, WAIT),
        "bootstrap, then the value change: {}",
        daemon.log()
    );
    let sessions = acs.sessions();
    let announced = sessions
        .iter()
        .find(|s| s.event_codes().contains(&"4 VALUE CHANGE".to_owned()));
    let inform = announced
        .and_then(|s| s.inform())
        .expect("a 4 VALUE CHANGE session");
    let url = inform
        .parameter_list
        .iter()
        .find(|p| p.name == "Device.ManagementServer.ConnectionRequestURL")
        .map(|p| p.value.clone());
    assert!(
        url.is_some_and(|u| u.starts_with("http://198.51.100.7:")),
        "{inform:?}"
    );
    assert!(daemon.stop().success());
    broker.stop();
}
