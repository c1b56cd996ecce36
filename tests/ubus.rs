//! The ubus client against a test broker over real Unix sockets: registration, the four
//! `tr069` methods and their reply shapes, argument errors, reconnects, interface status and
//! events, and a peer that stops reading.

mod support;

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use icwmp::transport::ubus::{
    exit_reply, inform_reply, notify_reply, reload_reply, status_reply, InterfaceStatus, RequestId,
    StatusReport, Tr069Call, Tr069Command, UbusClient, UbusConfig, UbusError, UbusInput,
    INTERFACE_EVENT,
};
use icwmp::wire::blobmsg::{parse_json, Value};
use icwmp::wire::ubus::UbusStatus;
use mio::{Events, Poll, Token};
use support::ubus_broker::{Broker, CliClient, Fields};

const UBUS: Token = Token(7);
/// Upper bound on any wait in these tests; the loop is also bounded in iterations.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// A fresh directory for one test's socket.
fn socket_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icwmp-ubus-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("ubus.sock")
}

fn json_fields(text: &str) -> Fields {
    match parse_json(text).unwrap() {
        Value::Table(fields) => fields,
        other => panic!("not an object: {other:?}"),
    }
}

fn seed_report() -> StatusReport {
    StatusReport {
        start_time: "2019-12-24T10:21:18+01:00".into(),
        acs_url: "http://genieacs:7547".into(),
        last_session_status: "success".into(),
        last_session_start: "2019-12-24T10:21:18+01:00".into(),
        last_session_end: "2019-12-24T10:21:19+01:00".into(),
        next_session_start: "2019-12-26T12:21:18+01:00".into(),
        success_sessions: 1,
        failure_sessions: 0,
    }
}

/// Plays the daemon: a mio loop around the client that answers every call with the builders.
struct Daemon {
    poll: Poll,
    events: Events,
    client: UbusClient,
    report: StatusReport,
    /// Every input seen, calls included (after they were answered).
    seen: Vec<UbusInput>,
    calls: Vec<Tr069Call>,
}

impl Daemon {
    fn start(config: UbusConfig) -> Daemon {
        let poll = Poll::new().unwrap();
        let mut client = UbusClient::new(config);
        client.register(poll.registry(), UBUS, Instant::now());
        Daemon {
            poll,
            events: Events::with_capacity(16),
            client,
            report: seed_report(),
            seen: Vec::new(),
            calls: Vec::new(),
        }
    }

    fn fast(path: &Path) -> UbusConfig {
        UbusConfig {
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(200),
            ..UbusConfig::with_socket(path)
        }
    }

    /// One loop iteration: wait for the socket or the client's deadline (at most 20 ms).
    fn turn(&mut self) {
        let now = Instant::now();
        let until_deadline = self
            .client
            .poll_at()
            .map_or(Duration::MAX, |at| at.saturating_duration_since(now));
        self.poll
            .poll(
                &mut self.events,
                Some(until_deadline.min(Duration::from_millis(20))),
            )
            .unwrap();
        let now = Instant::now();
        let mut inputs = Vec::new();
        for event in self.events.iter() {
            assert_eq!(event.token(), UBUS);
            inputs.extend(self.client.handle_event(self.poll.registry(), event, now));
        }
        if self.client.poll_at().is_some_and(|at| at <= now) {
            inputs.extend(self.client.handle_timeout(self.poll.registry(), now));
        }
        for input in inputs {
            self.answer(input);
        }
    }

    fn answer(&mut self, input: UbusInput) {
        if let UbusInput::Call { handle, call } = input {
            let body = match &call {
                Tr069Call::Status => status_reply(&self.report),
                Tr069Call::Notify => notify_reply(),
                Tr069Call::Inform { .. } => inform_reply(),
                Tr069Call::Command(Tr069Command::Reload) => reload_reply(),
                Tr069Call::Command(Tr069Command::Exit) => exit_reply(),
            };
            self.client.reply(handle, UbusStatus::Ok, body).unwrap();
            self.calls.push(call);
        } else {
            self.seen.push(input);
        }
    }

    /// Turns the loop until `done` holds; false if it never did within the bounds.
    fn run_until(&mut self, mut done: impl FnMut(&Daemon) -> bool) -> bool {
        let limit = Instant::now() + WAIT_LIMIT;
        for _ in 0..10_000 {
            if done(self) {
                return true;
            }
            if Instant::now() > limit {
                break;
            }
            self.turn();
        }
        false
    }

    fn count(&self, wanted: &UbusInput) -> usize {
        self.seen.iter().filter(|input| *input == wanted).count()
    }

    /// Runs a CLI session on another thread while this loop serves it.
    fn serve<T: Send + 'static>(&mut self, job: JoinHandle<T>) -> T {
        assert!(self.run_until(|_| job.is_finished()), "CLI did not finish");
        job.join().unwrap()
    }
}

fn cli_call(
    path: &Path,
    object: &str,
    method: &str,
    args: &str,
) -> JoinHandle<Result<Option<Value>, UbusStatus>> {
    let (path, object, method, args) = (
        path.to_path_buf(),
        object.to_string(),
        method.to_string(),
        json_fields(args),
    );
    thread::spawn(move || {
        CliClient::connect(&path)
            .unwrap()
            .call(&object, &method, args)
            .unwrap()
    })
}

fn registered(path: &Path) -> (Broker, Daemon) {
    let broker = Broker::start(path);
    let mut daemon = Daemon::start(Daemon::fast(path));
    assert!(
        daemon.run_until(|d| d.client.is_registered()),
        "tr069 never registered"
    );
    assert_eq!(daemon.count(&UbusInput::Registered), 1);
    (broker, daemon)
}

#[test]
fn registers_tr069_with_the_seed_signature() {
    let path = socket_path("signature");
    let (broker, _daemon) = registered(&path);
    let listed = CliClient::connect(&path)
        .unwrap()
        .list("tr069")
        .unwrap()
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(Some(listed[0].id), broker.object_id("tr069"));
    // `ubus -v list tr069` in the seed: notify {}, command {command: String},
    // status {}, inform {GetRPCMethods: Boolean, event: String}; type ids 3 = string, 7 = bool.
    let expected = json_fields(
        r#"{"notify": {}, "command": {"command": 3}, "status": {}, "inform": {"GetRPCMethods": 7, "event": 3}}"#,
    );
    assert_eq!(listed[0].signature, expected);
}

#[test]
fn the_four_methods_answer_with_the_seed_shapes() {
    let path = socket_path("methods");
    let (_broker, mut daemon) = registered(&path);

    let status = daemon
        .serve(cli_call(&path, "tr069", "status", "{}"))
        .unwrap()
        .unwrap();
    let seed_status = r#"{
	"cwmp": {
		"status": "up",
		"start_time": "2019-12-24T10:21:18+01:00",
		"acs_url": "http:\/\/genieacs:7547"
	},
	"last_session": {
		"status": "success",
		"start_time": "2019-12-24T10:21:18+01:00",
		"end_time": "2019-12-24T10:21:19+01:00"
	},
	"next_session": {
		"status": "waiting",
		"start_time": "2019-12-26T12:21:18+01:00",
		"end_time": "N\/A"
	},
	"statistics": {
		"success_sessions": 1,
		"failure_sessions": 0,
		"total_sessions": 1
	}
}"#;
    assert_eq!(status, parse_json(seed_status).unwrap());
    // Today's libubox no longer escapes '/', otherwise the CLI prints exactly the seed's text.
    assert_eq!(status.to_json_pretty(), seed_status.replace("\\/", "/"));

    let notify = daemon
        .serve(cli_call(&path, "tr069", "notify", "{}"))
        .unwrap()
        .unwrap();
    assert_eq!(notify.to_json_pretty(), "{\n\t\"status\": 1\n}");

    let started = "{\n\t\"status\": 1,\n\t\"info\": \"Session started\"\n}";
    for args in [
        r#"{"event":"6 CONNECTION REQUEST"}"#,
        r#"{"event":"8 DIAGNOSTICS COMPLETE"}"#,
        r#"{"GetRPCMethods":"1"}"#,
    ] {
        let inform = daemon
            .serve(cli_call(&path, "tr069", "inform", args))
            .unwrap()
            .unwrap();
        assert_eq!(inform.to_json_pretty(), started, "{args}");
    }

    let reload = daemon
        .serve(cli_call(
            &path,
            "tr069",
            "command",
            r#"{"command":"reload"}"#,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(
        reload.to_json_pretty(),
        "{\n\t\"status\": 1,\n\t\"info\": \"icwmpd config reloaded\"\n}"
    );
    let exit = daemon
        .serve(cli_call(&path, "tr069", "command", r#"{"command":"exit"}"#))
        .unwrap()
        .unwrap();
    assert_eq!(
        exit.to_json_pretty(),
        "{\n\t\"status\": 1,\n\t\"info\": \"icwmpd daemon stopped\"\n}"
    );

    let inform = |event: Option<&str>, get_rpc_methods| Tr069Call::Inform {
        event: event.map(str::to_string),
        get_rpc_methods,
    };
    assert_eq!(
        daemon.calls,
        vec![
            Tr069Call::Status,
            Tr069Call::Notify,
            inform(Some("6 CONNECTION REQUEST"), false),
            inform(Some("8 DIAGNOSTICS COMPLETE"), false),
            inform(None, true),
            Tr069Call::Command(Tr069Command::Reload),
            Tr069Call::Command(Tr069Command::Exit),
        ]
    );
}

#[test]
fn bad_arguments_and_unknown_methods_are_answered_by_the_module() {
    let path = socket_path("errors");
    let (_broker, mut daemon) = registered(&path);
    let cases = [
        ("command", "{}", Err(UbusStatus::InvalidArgument)),
        (
            "command",
            r#"{"command": 5}"#,
            Err(UbusStatus::InvalidArgument),
        ),
        (
            "inform",
            r#"{"event": 6}"#,
            Err(UbusStatus::InvalidArgument),
        ),
        (
            "inform",
            r#"{"GetRPCMethods": "maybe"}"#,
            Err(UbusStatus::InvalidArgument),
        ),
        ("frobnicate", "{}", Err(UbusStatus::MethodNotFound)),
        (
            "command",
            r#"{"command": "dance"}"#,
            Ok(Some(
                parse_json(r#"{"status": -1, "info": "dance command is not supported"}"#).unwrap(),
            )),
        ),
    ];
    for (method, args, expected) in cases {
        assert_eq!(
            daemon.serve(cli_call(&path, "tr069", method, args)),
            expected,
            "{method} {args}"
        );
    }
    assert!(
        daemon.calls.is_empty(),
        "rejected calls must not reach the daemon: {:?}",
        daemon.calls
    );
}

#[test]
fn reconnects_and_registers_again_after_ubusd_restarts() {
    let path = socket_path("restart");
    let (broker, mut daemon) = registered(&path);
    broker.stop();
    assert!(
        daemon.run_until(|d| d.count(&UbusInput::Disconnected) == 1),
        "loss not noticed"
    );
    assert!(!daemon.client.is_registered());
    assert!(matches!(
        daemon
            .client
            .request_interface_status("wan", Instant::now()),
        Err(UbusError::NotConnected)
    ));
    // Let a few attempts fail against the missing socket before ubusd comes back.
    let first_retry = daemon.client.poll_at().unwrap();
    assert!(daemon.run_until(|d| d.client.poll_at().is_some_and(|at| at > first_retry)));
    let _broker = Broker::start(&path);
    assert!(
        daemon.run_until(|d| d.client.is_registered()),
        "never registered again"
    );
    assert_eq!(daemon.count(&UbusInput::Registered), 2);
    let notify = daemon
        .serve(cli_call(&path, "tr069", "notify", "{}"))
        .unwrap()
        .unwrap();
    assert_eq!(notify, notify_reply());
}

#[test]
fn starts_without_ubusd_and_connects_when_it_appears() {
    let path = socket_path("late");
    let mut daemon = Daemon::start(Daemon::fast(&path));
    assert!(!daemon.client.is_registered());
    assert!(
        daemon.client.poll_at().is_some(),
        "a retry must be scheduled"
    );
    let _broker = Broker::start(&path);
    assert!(daemon.run_until(|d| d.client.is_registered()));
}

fn netifd_wan(method: &str, _args: &[(String, Value)]) -> (UbusStatus, Option<Fields>) {
    match method {
        "status" => (
            UbusStatus::Ok,
            Some(json_fields(
                r#"{"up": true, "pending": false, "l3_device": "eth0",
                    "ipv4-address": [{"address": "192.0.2.10", "mask": 24}],
                    "ipv6-address": [{"address": "2001:db8::10", "mask": 64}],
                    "route": [], "dns-server": ["192.0.2.1"]}"#,
            )),
        ),
        _ => (UbusStatus::MethodNotFound, None),
    }
}

#[test]
fn interface_status_comes_back_from_netifd() {
    let path = socket_path("iface");
    let (broker, mut daemon) = registered(&path);
    broker.add_fake_object(
        "network.interface.wan",
        json_fields(r#"{"status": {}}"#),
        Arc::new(netifd_wan),
    );
    let wan = daemon
        .client
        .request_interface_status("wan", Instant::now())
        .unwrap();
    let lan = daemon
        .client
        .request_interface_status("lan", Instant::now())
        .unwrap();
    let answered = |d: &Daemon| {
        d.seen
            .iter()
            .filter(|i| matches!(i, UbusInput::InterfaceStatus { .. }))
            .count()
            == 2
    };
    assert!(daemon.run_until(answered));
    let expected_wan = UbusInput::InterfaceStatus {
        request: wan,
        interface: "wan".into(),
        result: Ok(InterfaceStatus {
            up: Some(true),
            device: Some("eth0".into()),
            ipv4_address: Some("192.0.2.10".into()),
            ipv6_address: Some("2001:db8::10".into()),
        }),
    };
    let expected_lan = UbusInput::InterfaceStatus {
        request: lan,
        interface: "lan".into(),
        result: Err(UbusStatus::NotFound),
    };
    assert_eq!(daemon.count(&expected_wan), 1);
    assert_eq!(daemon.count(&expected_lan), 1);
}

#[test]
fn interface_events_reach_the_daemon() {
    let path = socket_path("events");
    let (broker, mut daemon) = registered(&path);
    assert!(
        daemon.run_until(|_| broker.has_listener(INTERFACE_EVENT)),
        "event listener never registered"
    );
    let sender = {
        let path = path.clone();
        thread::spawn(move || {
            let mut cli = CliClient::connect(&path).unwrap();
            let other = cli
                .send_event("network.device", json_fields(r#"{"device": "eth0"}"#))
                .unwrap();
            let ifup = cli
                .send_event(
                    INTERFACE_EVENT,
                    json_fields(r#"{"action": "ifup", "interface": "wan"}"#),
                )
                .unwrap();
            (other, ifup)
        })
    };
    assert_eq!(daemon.serve(sender), (UbusStatus::Ok, UbusStatus::Ok));
    let ifup = UbusInput::InterfaceEvent {
        interface: "wan".into(),
        action: "ifup".into(),
    };
    assert!(daemon.run_until(|d| d.count(&ifup) == 1));
    assert!(daemon
        .seen
        .iter()
        .all(|i| !matches!(i, UbusInput::InterfaceEvent { interface, .. } if interface != "wan")));
}

/// A "ubusd" that greets and then neither reads nor answers, until the test says so.
fn stuck_ubusd(path: &Path) -> (JoinHandle<()>, mpsc::Sender<()>) {
    let listener = UnixListener::bind(path).unwrap();
    let (release, released) = mpsc::channel();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // HELLO: client id 0x1001, empty body.
        stream
            .write_all(&[0, 0, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 4])
            .unwrap();
        let _ = released.recv_timeout(WAIT_LIMIT);
    });
    (server, release)
}

/// Turns the loop until the HELLO is read, which is when the client takes requests.
fn first_accepted_request(daemon: &mut Daemon, now: Instant) -> RequestId {
    let limit = Instant::now() + WAIT_LIMIT;
    loop {
        if let Ok(request) = daemon.client.request_interface_status("wan", now) {
            return request;
        }
        assert!(Instant::now() < limit, "HELLO never arrived");
        daemon.turn();
    }
}

#[test]
fn a_peer_that_stops_reading_never_blocks_the_loop() {
    let path = socket_path("stuck");
    let (server, release) = stuck_ubusd(&path);
    let mut daemon = Daemon::start(Daemon::fast(&path));
    first_accepted_request(&mut daemon, Instant::now());
    let mut accepted = 1;
    let mut refused = false;
    for _ in 0..100_000 {
        match daemon
            .client
            .request_interface_status("wan", Instant::now())
        {
            Ok(_) => accepted += 1,
            Err(UbusError::NotConnected) => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        refused,
        "the outbound cap never tripped after {accepted} requests"
    );
    // Each LOOKUP of network.interface.wan is 40 bytes; the cap alone holds more than this many.
    assert!(
        accepted > UbusConfig::default().outbound_limit / 40,
        "the cap tripped early, after {accepted}"
    );
    assert!(daemon.run_until(|d| d.count(&UbusInput::Disconnected) == 1));
    let failed = daemon
        .seen
        .iter()
        .filter(|i| {
            matches!(
                i,
                UbusInput::InterfaceStatus {
                    result: Err(UbusStatus::ConnectionFailed),
                    ..
                }
            )
        })
        .count();
    assert_eq!(failed, accepted);
    release.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn requests_time_out_on_the_given_clock() {
    let path = socket_path("timeout");
    let (server, release) = stuck_ubusd(&path);
    let mut daemon = Daemon::start(UbusConfig::with_socket(&path));
    let start = Instant::now();
    let request = first_accepted_request(&mut daemon, start);
    // No reply ever comes. Five seconds later on the client's clock the request has expired;
    // a little after that the tr069 registration has too, and the connection is given up.
    let later = start + Duration::from_secs(5);
    let mut inputs = daemon.client.handle_timeout(daemon.poll.registry(), later);
    assert!(inputs.contains(&UbusInput::InterfaceStatus {
        request,
        interface: "wan".into(),
        result: Err(UbusStatus::Timeout)
    }));
    let much_later = Instant::now() + Duration::from_secs(5);
    inputs.extend(
        daemon
            .client
            .handle_timeout(daemon.poll.registry(), much_later),
    );
    assert_eq!(
        inputs
            .iter()
            .filter(|i| **i == UbusInput::Disconnected)
            .count(),
        1
    );
    let retry = daemon.client.poll_at().unwrap();
    assert!(
        retry == later + Duration::from_secs(1) || retry == much_later + Duration::from_secs(1),
        "first back-off step is 1 s"
    );
    release.send(()).unwrap();
    server.join().unwrap();
}
