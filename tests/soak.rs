//! Soak: the real `icwmpd` killed with SIGKILL at random points and restarted, hundreds of times, while the loopback ACS issues fresh work in every session; all it acknowledged is delivered, nothing is invented, no state file is left corrupt.
//!
//! Each session the ACS runs gets a generated script: a ScheduleInform with a
//! short delay, a Download from the loopback file server, a ChangeDUState
//! through a fake package manager, now and then a SetParameterAttributes
//! (active notification on PeriodicInformInterval); every CommandKey is new.
//! Between and during the daemon's lives the value of that parameter is
//! changed outside CWMP (the config file, then SIGHUP), and connection
//! requests arrive. The daemon lives a random time (from a few milliseconds
//! to seconds) and is killed with SIGKILL.
//!
//! Owed: the work whose success response the ACS received (killed before
//! answering, the CPE owes nothing), and each value written once the
//! notification was acknowledged (a new one is written only after the last
//! was reported). Delivered: the events and RPCs of later sessions. After
//! the kills, one last daemon lives until everything owed arrived (bounded),
//! answers one more connection request, and stops with SIGTERM.
//!
//! `make soak` runs [`soak`] (SOAK_SECONDS, default 180; SOAK_KILLS, default
//! 2000; SOAK_SEED replays a run's decisions, though not its timing);
//! `make test` runs [`soak_briefly`].

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use icwmp::cwmp::params::SetParameterAttribute;
use icwmp::wire::digest::{parse_www_authenticate, Challenge, Credentials, DigestClient};
use icwmp::wire::soap::{ChangeDuState, Download, DuOperation, InstallOp, Rpc, Status};
use support::acs::{AcsOptions, RecordedSession, ScriptGenerator, SessionScript, TestAcs};
use support::conn_request::read_head;
use support::daemon::{temp_dir, wait_until, TestDaemon};
use support::files::{FileServer, FileServerOptions};
use support::opkg::FAKE_OPKG;

const INTERVAL: &str = "Device.ManagementServer.PeriodicInformInterval";
const CONFIG_TYPE: &str = "3 Vendor Configuration File";
const INITIAL_INTERVAL: u32 = 600;
const CR_USER: &str = "soak-user";
const CR_PASSWORD: &str = "soak-pass";
/// How long the last daemon gets to deliver what is owed.
const SETTLE: Duration = Duration::from_secs(60);

/// splitmix64: small, seedable, good enough to pick kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

/// Makes each session's script: fresh keys, random work.
struct Generator {
    rng: Rng,
    next_key: u64,
    stopped: bool,
    /// (URL, size) of the files a Download may fetch.
    files: Vec<(String, usize)>,
}

impl Generator {
    fn script(&mut self, index: usize) -> SessionScript {
        let mut requests = Vec::new();
        if self.stopped {
            return SessionScript::default();
        }
        if index == 0 || self.rng.chance(15) {
            requests.push(notify_actively(INTERVAL));
        }
        let n = self.next_key;
        self.next_key += 1;
        if self.rng.chance(80) {
            requests.push(Rpc::ScheduleInform {
                delay_seconds: 1 + self.rng.below(3) as u32,
                command_key: format!("si-{n}"),
            });
        }
        if self.rng.chance(30) {
            let (url, size) = self.files[self.rng.below(self.files.len() as u64) as usize].clone();
            requests.push(Rpc::Download(Download {
                command_key: format!("dl-{n}"),
                file_type: CONFIG_TYPE.into(),
                url,
                file_size: size as u32,
                ..Download::default()
            }));
        }
        if self.rng.chance(25) {
            let url = format!("http://packages.invalid/pkg{}_{n}_all.ipk", n % 4);
            requests.push(Rpc::ChangeDuState(ChangeDuState {
                operations: vec![DuOperation::Install(InstallOp {
                    url,
                    ..InstallOp::default()
                })],
                command_key: format!("du-{n}"),
            }));
        }
        SessionScript {
            requests,
            ..SessionScript::default()
        }
    }
}

fn notify_actively(name: &str) -> Rpc {
    Rpc::SetParameterAttributes {
        parameter_list: vec![SetParameterAttribute {
            name: name.into(),
            notification_change: true,
            notification: 2,
            access_list_change: false,
            access_list: Vec::new(),
        }],
    }
}

/// The daemon's config: connection requests on `cr_port`, transfers and
/// software through shell commands in `dir`.
fn write_soak_config(dir: &Path, acs_url: &str, cr_port: u16, interval: u32) {
    let d = dir.display();
    let opkg = format!("sh {d}/fake-opkg");
    let text = format!(
        "config cwmp 'acs'\n\toption url '{acs_url}'\n\toption periodic_inform_enable '0'\n\
         \toption periodic_inform_interval '{interval}'\n\toption retry_min_wait_interval '1'\n\n\
         config cwmp 'cpe'\n\toption port '{cr_port}'\n\toption userid '{CR_USER}'\n\
         \toption passwd '{CR_PASSWORD}'\n\toption log_to_console '0'\n\toption log_to_file '1'\n\
         \toption log_severity 'INFO'\n\toption log_max_size '104857600'\n\
         \toption ubus_socket '{d}/no-ubus.sock'\n\toption amd_version '5'\n\
         \toption value_check_interval '1'\n\toption exec_download '1'\n\
         \toption vendor_config_apply_command 'cp {{file}} {d}/config-applied'\n\
         \toption transfer_timeout '5'\n\
         \toption du_install_command '{opkg} install {{url}}'\n\
         \toption du_update_command '{opkg} install {{name}}'\n\
         \toption du_uninstall_command '{opkg} remove {{name}}'\n\
         \toption du_list_command '{opkg} list'\n\n\
         config cwmp 'lwn'\n\toption enable '0'\n"
    );
    // Replaced whole, as an operator's tool would: the daemon never reads half a file.
    let tmp = dir.join("cwmp.soak-new");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, dir.join("cwmp")).expect("replace config");
}

/// GET, 401 challenge, GET with Digest credentials: the final status, or
/// `None` if the daemon was not there to answer.
fn connection_request(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: cpe\r\n\r\n")
        .ok()?;
    let (status, head) = read_head(&mut stream)?;
    if status != 401 {
        return Some(status);
    }
    let challenge = head
        .lines()
        .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .flat_map(parse_www_authenticate)
        .find_map(|c| match c {
            Challenge::Digest(d) => Some(d),
            Challenge::Basic { .. } => None,
        })?;
    let creds = Credentials {
        username: CR_USER.into(),
        password: CR_PASSWORD.into(),
    };
    let auth = DigestClient::new(challenge).authorization(&creds, "GET", "/", "5eed");
    stream
        .write_all(
            format!("GET / HTTP/1.1\r\nHost: cpe\r\nAuthorization: {auth}\r\n\r\n").as_bytes(),
        )
        .ok()?;
    read_head(&mut stream).map(|(status, _)| status)
}

/// A port free on 127.0.0.1 for the connection-request listener.
fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("address").port()
}

/// Whether the daemon `pid` is up far enough to take signals (its pid file is written).
fn is_up(dir: &Path, pid: u32) -> bool {
    std::fs::read_to_string(dir.join("icwmpd").join("icwmpd.pid"))
        .is_ok_and(|t| t.trim() == pid.to_string())
}

/// Every state file parses and none was set aside: the problems found.
fn state_problems(dir: &Path) -> Vec<String> {
    use icwmp::cwmp::events::EventQueue;
    use icwmp::cwmp::notified_values::NotifiedValues;
    use icwmp::cwmp::schedule::scheduled_informs_from_bytes;
    use icwmp::cwmp::transfers::TransferQueue;
    use icwmp::datamodel::state::DmState;
    use icwmp::software::changes::jobs_from_bytes;
    use icwmp::software::inventory::Inventory;

    let state = dir.join("icwmpd");
    let mut problems = Vec::new();
    let mut paths: Vec<std::path::PathBuf> = Vec::new();
    for sub in [state.clone(), state.join("requests")] {
        if let Ok(entries) = std::fs::read_dir(&sub) {
            paths.extend(entries.flatten().map(|e| e.path()));
        }
    }
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        if name.ends_with(".corrupt") {
            problems.push(format!("set aside: {}", path.display()));
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let parsed = match name.as_str() {
            "events" => EventQueue::from_bytes(&bytes)
                .map(drop)
                .map_err(|e| e.to_string()),
            "scheduled_informs" => scheduled_informs_from_bytes(&bytes)
                .map(drop)
                .map_err(|e| e.to_string()),
            "notified_values" => NotifiedValues::from_bytes(&bytes)
                .map(drop)
                .map_err(|e| e.to_string()),
            "transfers" => TransferQueue::from_bytes(&bytes)
                .map(drop)
                .map_err(|e| e.to_string()),
            "datamodel" => DmState::parse(&String::from_utf8_lossy(&bytes))
                .map(drop)
                .map_err(|line| format!("line {line}")),
            "software" => Inventory::from_bytes(&bytes)
                .map(drop)
                .map_err(|e| e.to_string()),
            "du_jobs" => jobs_from_bytes(&bytes).map(drop).map_err(|e| e.to_string()),
            _ => Ok(()),
        };
        if let Err(e) = parsed {
            problems.push(format!("{}: {e}", path.display()));
        }
    }
    problems
}

/// What one work item is, by CommandKey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    ScheduleInform,
    Download,
    ChangeDuState,
}

/// The work the ACS issued and the CPE acknowledged, and what later sessions delivered.
#[derive(Default)]
struct Ledger {
    issued: HashMap<String, Kind>,
    owed: BTreeSet<(Kind, String)>,
    /// How often each (kind, key) was delivered.
    delivered: HashMap<(Kind, String), usize>,
    /// Values of the notified parameter the CPE reported in a `4 VALUE CHANGE` Inform.
    reported_values: Vec<u32>,
    invented: Vec<String>,
    informs_with_connection_request: usize,
    /// Results of AutonomousDUStateChangeComplete: a package manager command a
    /// kill orphaned may finish after the next daemon concluded its operation.
    autonomous_du_results: usize,
}

fn post_rpcs(session: &RecordedSession) -> impl Iterator<Item = Rpc> + '_ {
    session
        .posts
        .iter()
        .filter_map(|p| p.envelope.as_ref()?.body.clone())
}

/// Whether the session's SetParameterAttributes on the notified value was acknowledged.
fn notification_acknowledged(sessions: &[RecordedSession]) -> bool {
    sessions.iter().any(|s| {
        s.requests.iter().zip(&s.responses).any(|(q, r)| {
            matches!(q, Rpc::SetParameterAttributes { .. })
                && matches!(r, Rpc::SetParameterAttributesResponse)
        })
    })
}

/// The values of the notified parameter reported with `4 VALUE CHANGE`.
fn reported_values(sessions: &[RecordedSession]) -> Vec<u32> {
    sessions
        .iter()
        .filter(|s| s.event_codes().iter().any(|c| c == "4 VALUE CHANGE"))
        .filter_map(|s| {
            s.inform()?
                .parameter_list
                .iter()
                .find(|p| p.name == INTERVAL)
                .and_then(|p| p.value.parse().ok())
        })
        .collect()
}

impl Ledger {
    fn of(sessions: &[RecordedSession]) -> Ledger {
        let mut ledger = Ledger::default();
        for session in sessions {
            for (i, request) in session.requests.iter().enumerate() {
                let (kind, key) = match request {
                    Rpc::ScheduleInform { command_key, .. } => (Kind::ScheduleInform, command_key),
                    Rpc::Download(d) => (Kind::Download, &d.command_key),
                    Rpc::ChangeDuState(c) => (Kind::ChangeDuState, &c.command_key),
                    _ => continue,
                };
                ledger.issued.insert(key.clone(), kind);
                let acknowledged = match (kind, session.responses.get(i)) {
                    (Kind::ScheduleInform, Some(Rpc::ScheduleInformResponse)) => true,
                    (Kind::Download, Some(Rpc::DownloadResponse(r))) => r.status == Status::Pending,
                    (Kind::ChangeDuState, Some(Rpc::ChangeDuStateResponse)) => true,
                    _ => false,
                };
                if acknowledged {
                    ledger.owed.insert((kind, key.clone()));
                }
            }
        }
        for session in sessions {
            let Some(inform) = session.inform() else {
                continue;
            };
            let codes = session.event_codes();
            for event in &inform.events {
                let expected = match event.event_code.as_str() {
                    "M ScheduleInform" => Some(Kind::ScheduleInform),
                    "M Download" => Some(Kind::Download),
                    "M ChangeDUState" => Some(Kind::ChangeDuState),
                    "1 BOOT"
                    | "4 VALUE CHANGE"
                    | "7 TRANSFER COMPLETE"
                    | "11 DU STATE CHANGE COMPLETE"
                    | "12 AUTONOMOUS DU STATE CHANGE COMPLETE" => None,
                    "0 BOOTSTRAP" if std::ptr::eq(session, &sessions[0]) => None,
                    "3 SCHEDULED" if codes.iter().any(|c| c == "M ScheduleInform") => None,
                    "6 CONNECTION REQUEST" => {
                        ledger.informs_with_connection_request += 1;
                        None
                    }
                    other => {
                        ledger.invented.push(format!("event {other}"));
                        None
                    }
                };
                if let Some(kind) = expected {
                    ledger.deliver(kind, &event.command_key, &event.event_code);
                }
            }
            for rpc in post_rpcs(session) {
                match rpc {
                    Rpc::TransferComplete(tc) => {
                        ledger.deliver(Kind::Download, &tc.command_key, "TransferComplete")
                    }
                    Rpc::AutonomousDuStateChangeComplete { results } => {
                        ledger.autonomous_du_results += results.len();
                    }
                    Rpc::DuStateChangeComplete(done) => ledger.deliver(
                        Kind::ChangeDuState,
                        &done.command_key,
                        "DUStateChangeComplete",
                    ),
                    _ => {}
                }
            }
        }
        ledger.reported_values = reported_values(sessions);
        ledger
    }

    fn deliver(&mut self, kind: Kind, key: &str, what: &str) {
        if self.issued.get(key) != Some(&kind) {
            self.invented
                .push(format!("{what} with CommandKey '{key}'"));
            return;
        }
        *self.delivered.entry((kind, key.to_owned())).or_default() += 1;
    }

    /// Owed work never delivered.
    fn missing(&self) -> Vec<(Kind, String)> {
        self.owed
            .iter()
            .filter(|item| !self.delivered.contains_key(item))
            .cloned()
            .collect()
    }
}

/// The outside changes of the notified value.
struct ValueChanges {
    /// Each written once the notification was acknowledged and the previous
    /// one reported, and left in place: each is owed.
    written: Vec<u32>,
    next: u32,
}

impl ValueChanges {
    /// A new value may be written once the last owed one was reported.
    fn may_write(&self, acs: &TestAcs) -> bool {
        let sessions = acs.sessions();
        if !notification_acknowledged(&sessions) {
            return false;
        }
        let reported = reported_values(&sessions);
        self.written.last().is_none_or(|v| reported.contains(v))
    }

    fn write(&mut self, dir: &Path, acs_url: &str, cr_port: u16) {
        let value = self.next;
        self.next += 1;
        write_soak_config(dir, acs_url, cr_port, value);
        self.written.push(value);
    }
}

struct Settings {
    seconds: u64,
    kills: usize,
    seed: u64,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn run(settings: &Settings) {
    println!("soak seed: {}", settings.seed);
    let files = FileServer::start(FileServerOptions::default());
    let mut downloads = Vec::new();
    for (i, size) in [512usize, 4096, 65_536].into_iter().enumerate() {
        let path = format!("/cfg{i}");
        files.add(&path, vec![b'a' + i as u8; size]);
        downloads.push((files.url(&path), size));
    }
    let generator = Arc::new(Mutex::new(Generator {
        rng: Rng(settings.seed ^ 0x5eed_0fac),
        next_key: 1,
        stopped: false,
        files: downloads,
    }));
    let make = generator.clone();
    let acs = TestAcs::start(AcsOptions {
        generator: Some(ScriptGenerator(Arc::new(move |index| {
            make.lock().expect("generator").script(index)
        }))),
        ..AcsOptions::default()
    });
    let dir = temp_dir("soak");
    std::fs::write(dir.join("fake-opkg"), FAKE_OPKG).expect("script");
    std::fs::write(dir.join("installed"), "base-files - 1\n").expect("db");
    let cr_port = free_port();
    let url = acs.url();
    write_soak_config(&dir, &url, cr_port, INITIAL_INTERVAL);

    let mut rng = Rng(settings.seed);
    let mut values = ValueChanges {
        written: Vec::new(),
        next: 1000,
    };
    let started = Instant::now();
    let end = started + Duration::from_secs(settings.seconds);
    let (mut kills, mut starts, mut hups) = (0usize, 0usize, 0usize);
    let (mut cr_sent, mut cr_honoured) = (0usize, 0usize);
    let mut problems: Vec<String> = Vec::new();
    // The first daemon bootstraps; the others are restarts of the same process.
    while Instant::now() < end && kills < settings.kills && problems.is_empty() {
        if rng.chance(30) && values.may_write(&acs) {
            values.write(&dir, &url, cr_port);
        }
        let mut daemon = TestDaemon::start(&dir, &[]);
        starts += 1;
        let pid = daemon.pid();
        // Some die in their start, most in or between sessions, some live long
        // enough for a Download or a ChangeDUState to finish.
        let life = match rng.below(20) {
            0..=2 => rng.millis(0, 60),
            3..=15 => rng.millis(60, 900),
            _ => rng.millis(900, 2500),
        };
        let death = Instant::now() + life;
        loop {
            let now = Instant::now();
            if now >= death {
                break;
            }
            std::thread::sleep((death - now).min(rng.millis(20, 300)));
            if Instant::now() >= death || !is_up(&dir, pid) {
                continue;
            }
            if rng.chance(15) {
                cr_sent += 1;
                if connection_request(cr_port) == Some(200) {
                    cr_honoured += 1;
                }
            }
            if rng.chance(10) && values.may_write(&acs) {
                values.write(&dir, &url, cr_port);
                daemon.signal("HUP");
                hups += 1;
            }
        }
        if let Some(status) = daemon.wait(Duration::from_millis(1)) {
            problems.push(format!("the daemon exited by itself: {status}"));
            break;
        }
        daemon.kill9();
        kills += 1;
        problems.extend(state_problems(&dir));
    }

    // No more work; one last daemon delivers what is owed.
    generator.lock().expect("generator").stopped = true;
    // Sessions a kill cut short never complete; the last daemon's must.
    let first_of_last = acs.sessions().len();
    let daemon = TestDaemon::start(&dir, &[]);
    starts += 1;
    let pid = daemon.pid();
    let up = wait_until(Duration::from_secs(20), || is_up(&dir, pid));
    // A connection request now must open a session.
    let before = Ledger::of(&acs.sessions()).informs_with_connection_request;
    // The pid file comes before the listener: the first tries may be refused.
    let mut final_cr = up
        && wait_until(Duration::from_secs(10), || {
            connection_request(cr_port) == Some(200)
        });
    if final_cr {
        cr_sent += 1;
        cr_honoured += 1;
        final_cr = wait_until(SETTLE, || {
            std::thread::sleep(Duration::from_millis(100));
            Ledger::of(&acs.sessions()).informs_with_connection_request > before
        });
    }
    let settle_end = Instant::now() + SETTLE;
    let settled = loop {
        let sessions = acs.sessions();
        let ledger = Ledger::of(&sessions);
        let reported = reported_values(&sessions);
        let done = ledger.missing().is_empty()
            && values.written.iter().all(|v| reported.contains(v))
            && sessions[first_of_last.min(sessions.len())..]
                .iter()
                .all(|s| s.completed);
        if done || Instant::now() >= settle_end {
            break done;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    // Settled: the last acknowledgement reached the daemon before it stops.
    std::thread::sleep(Duration::from_millis(300));
    let log = daemon.log();
    let stopped = daemon.stop();
    problems.extend(state_problems(&dir));
    if !stopped.success() {
        problems.push(format!("the last daemon did not stop cleanly: {stopped}"));
    }
    if !up {
        problems.push("the last daemon never came up".into());
    }
    if !final_cr {
        problems.push("the last connection request opened no session".into());
    }
    let full_log = std::fs::read_to_string(dir.join("icwmpd.log")).unwrap_or(log);
    let unreadable = full_log
        .lines()
        .filter(|l| l.contains("unreadable") || l.contains(".corrupt"))
        .count();

    let sessions = acs.sessions();
    let ledger = Ledger::of(&sessions);
    let missing = ledger.missing();
    let missing_values: Vec<u32> = values
        .written
        .iter()
        .filter(|v| !ledger.reported_values.contains(v))
        .copied()
        .collect();
    let mut invented = ledger.invented.clone();
    for value in &ledger.reported_values {
        if *value != INITIAL_INTERVAL && !values.written.contains(value) {
            invented.push(format!("value {value} reported, never written"));
        }
    }
    // A request the daemon honoured just before a kill may miss its answer:
    // the sessions are bounded by the requests sent, not those seen honoured.
    if ledger.informs_with_connection_request > cr_sent {
        invented.push(format!(
            "{} sessions for {cr_sent} connection requests",
            ledger.informs_with_connection_request
        ));
    }
    let corrupt = problems.iter().filter(|p| !p.starts_with("the ")).count() + unreadable;
    let owed = ledger.owed.len() + values.written.len();
    let delivered = owed - missing.len() - missing_values.len();
    let deliveries: usize = ledger.delivered.values().sum();
    let owed_of = |kind: Kind| ledger.owed.iter().filter(|(k, _)| *k == kind).count();

    println!("soak seconds: {}", started.elapsed().as_secs());
    println!("soak kills: {kills}");
    println!("soak starts: {starts}");
    println!("soak sessions: {}", sessions.len());
    println!(
        "soak sessions completed: {}",
        sessions.iter().filter(|s| s.completed).count()
    );
    println!("soak connection requests sent: {cr_sent}");
    println!("soak connection requests honoured: {cr_honoured}");
    println!("soak reloads (SIGHUP): {hups}");
    println!("soak issued: {}", ledger.issued.len());
    println!(
        "soak owed ScheduleInform: {}",
        owed_of(Kind::ScheduleInform)
    );
    println!("soak owed Download: {}", owed_of(Kind::Download));
    println!("soak owed ChangeDUState: {}", owed_of(Kind::ChangeDuState));
    println!("soak owed value changes: {}", values.written.len());
    println!("soak owed: {owed}");
    println!("soak delivered: {delivered}");
    println!(
        "soak delivered more than once: {}",
        ledger.delivered.values().filter(|n| **n > 1).count()
    );
    println!("soak deliveries: {deliveries}");
    println!(
        "soak autonomous DU results: {}",
        ledger.autonomous_du_results
    );
    println!("soak missing: {}", missing.len() + missing_values.len());
    println!("soak invented: {}", invented.len());
    println!("soak corrupt: {corrupt}");

    let failed = !settled
        || !missing.is_empty()
        || !missing_values.is_empty()
        || !invented.is_empty()
        || !problems.is_empty()
        || unreadable > 0;
    if failed {
        let tail: Vec<&str> = full_log.lines().rev().take(80).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "soak failed (replay with SOAK_SEED={}): settled {settled}; missing {missing:?} values {missing_values:?}; \
             invented {invented:?}; problems {problems:?}; {unreadable} unreadable-state log lines; \
             state dir {}\nlog tail:\n{}",
            settings.seed,
            dir.display(),
            tail.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn seed() -> u64 {
    env_number("SOAK_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        now.as_nanos() as u64 ^ u64::from(std::process::id())
    })
}

/// The standing soak check (`make soak`).
#[test]
#[ignore = "minutes long: make soak"]
fn soak() {
    run(&Settings {
        seconds: env_number("SOAK_SECONDS").unwrap_or(180),
        kills: env_number("SOAK_KILLS").map_or(2000, |k| k as usize),
        seed: seed(),
    });
}

/// A few kills, so `make test` keeps the soak machinery working.
#[test]
fn soak_briefly() {
    run(&Settings {
        seconds: 8,
        kills: 8,
        seed: seed(),
    });
}
