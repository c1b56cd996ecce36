//! The software shell: runs the package manager's commands as child processes without blocking the loop, keeps the DU state files, and says what to report.
//!
//! One command runs at a time; it is polled for its exit on a short timer
//! ([`SoftwareManager::poll_at`]) and killed at its timeout. Its output goes
//! to files in the state directory, so a chatty command can never block on a
//! full pipe. State files (all written atomically):
//! - `software`: the inventory (units, UUIDs, URLs, instance numbers);
//! - `du_jobs`: ChangeDUState requests with their results, kept until the
//!   ACS acknowledges their DUStateChangeComplete;
//! - `du_autonomous`: changes made outside CWMP, kept until the ACS
//!   acknowledges their AutonomousDUStateChangeComplete;
//! - `vouchers`: the vouchers of SetVouchers.
//!
//! Changes made outside CWMP (`opkg` by hand, sysupgrade) are found by
//! comparing the installed list with the recorded inventory at start, before
//! each ChangeDUState and after each session. The very first list only
//! records a baseline: nothing is reported for it.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use log::{error, info, warn};

use crate::cwmp::events::{Event, EventCode};
use crate::cwmp::fault::{Fault, FaultCode};
use crate::fsutil::{atomic_write, create_private_file, set_aside};
use crate::wire::soap::{
    AutonomousOpResult, ChangeDuState, DateTime, DuState, DuStateChangeComplete, OpResult,
    OptionInfo, Rpc,
};

use super::changes::{self, Action, Job, Prepared};
use super::inventory::{parse_installed, ChangeKind, Inventory};
use super::vouchers::{DeviceIdentity, Vouchers};
use crate::records;

/// State file names inside the state directory.
pub mod names {
    pub const INVENTORY: &str = "software";
    pub const JOBS: &str = "du_jobs";
    pub const AUTONOMOUS: &str = "du_autonomous";
    pub const VOUCHERS: &str = "vouchers";
    /// Standard output of the running command.
    pub const OUTPUT: &str = "software.out";
    /// Standard error of the running command.
    pub const ERRORS: &str = "software.err";
}

/// How often a running command is checked for its exit.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// The most ChangeDUState requests waiting at once (9004 beyond).
const MAX_JOBS: usize = 16;

/// The most operations in one ChangeDUState (cwmp-1-2.xsd: 16).
const MAX_OPERATIONS: usize = 16;

/// The most autonomous changes kept for one report.
const MAX_AUTONOMOUS: usize = 256;

/// The package manager's commands (`cpe.du_*`). `{url}` and `{name}` are
/// replaced by the shell-quoted URL and package name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoftwareSettings {
    pub install_command: String,
    pub update_command: String,
    pub uninstall_command: String,
    pub list_command: String,
    pub command_timeout: Duration,
}

/// Something the daemon must announce to the ACS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoftwareEvent {
    /// A ChangeDUState finished: `M ChangeDUState` (and `11`) with its CommandKey.
    DuStateChangeComplete { command_key: String },
    /// Changes outside CWMP wait to be reported: `12 AUTONOMOUS DU STATE CHANGE COMPLETE`.
    AutonomousChange,
}

impl SoftwareEvent {
    /// The Inform event that announces it.
    pub fn event(&self) -> Event {
        match self {
            SoftwareEvent::DuStateChangeComplete { command_key } => {
                Event::with_key(EventCode::MChangeDuState, command_key)
            }
            SoftwareEvent::AutonomousChange => {
                Event::new(EventCode::AutonomousDuStateChangeComplete)
            }
        }
    }
}

/// `'…'` with embedded quotes closed and escaped: safe as one shell word.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

fn command_line(template: &str, url: &str, name: &str) -> String {
    template
        .replace("{url}", &shell_quote(url))
        .replace("{name}", &shell_quote(name))
}

/// What the running command is for.
enum Step {
    /// The installed list, for the inventory and autonomous changes.
    Refresh,
    /// An operation's command.
    Operation { prepared: Prepared, started: i64 },
    /// The installed list after an operation (`ran`: the command's outcome).
    AfterOperation {
        prepared: Prepared,
        ran: Result<(), String>,
        started: i64,
    },
}

struct Running {
    child: Child,
    step: Step,
    deadline: Instant,
    next_check: Instant,
}

/// The deployment units, their pending reports and the vouchers.
pub struct SoftwareManager {
    dir: PathBuf,
    settings: SoftwareSettings,
    inventory: Inventory,
    /// Whether a list was ever recorded (the first one is a baseline, not a change).
    baseline: bool,
    jobs: Vec<Job>,
    autonomous: Vec<AutonomousOpResult>,
    vouchers: Vouchers,
    device: DeviceIdentity,
    running: Option<Running>,
    refresh_wanted: bool,
}

fn load<T>(path: &Path, parse: impl FnOnce(&[u8]) -> Result<T, String>) -> Option<T> {
    let bytes = match crate::fsutil::read_file(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            error!("{}: {e}", path.display());
            return None;
        }
    };
    match parse(&bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            let kept = set_aside(path)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            error!("{}: unreadable ({e}), set aside as {kept}", path.display());
            None
        }
    }
}

const AUTONOMOUS_HEADER: &str = "icwmp-du-autonomous 1";

fn autonomous_to_bytes(results: &[AutonomousOpResult]) -> Vec<u8> {
    let mut text = format!("{AUTONOMOUS_HEADER}\n");
    for r in results {
        let o = &r.result;
        records::push_line(
            &mut text,
            &[
                &r.operation_performed,
                &o.uuid,
                &o.deployment_unit_ref,
                &o.version,
                o.current_state.as_str(),
                o.start_time.as_str(),
                o.complete_time.as_str(),
            ],
        );
    }
    text.into_bytes()
}

fn autonomous_from_bytes(bytes: &[u8]) -> Result<Vec<AutonomousOpResult>, String> {
    records::parse_lines(bytes, AUTONOMOUS_HEADER)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(line, fields)| match fields.as_slice() {
            [op, uuid, du_ref, version, state, start, complete] => Ok(AutonomousOpResult {
                operation_performed: op.clone(),
                result: OpResult {
                    uuid: uuid.clone(),
                    deployment_unit_ref: du_ref.clone(),
                    version: version.clone(),
                    current_state: DuState::from_name(state)
                        .ok_or(format!("line {line}: bad state"))?,
                    resolved: true,
                    start_time: DateTime::parse(start).ok_or(format!("line {line}: bad time"))?,
                    complete_time: DateTime::parse(complete)
                        .ok_or(format!("line {line}: bad time"))?,
                    ..OpResult::default()
                },
            }),
            _ => Err(format!("line {line}: bad record")),
        })
        .collect()
}

/// The last non-empty line of a command's output file, for a fault text.
fn last_line(path: &Path) -> String {
    let text = crate::fsutil::read_text(path).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    line.trim().chars().take(200).collect()
}

impl SoftwareManager {
    /// Loads the state files of `dir` (a corrupt one is set aside and
    /// reported) and asks for a first look at the installed list.
    pub fn open(dir: &Path, settings: SoftwareSettings, device: DeviceIdentity) -> SoftwareManager {
        let inventory = load(&dir.join(names::INVENTORY), |b| {
            Inventory::from_bytes(b).map_err(|e| e.to_string())
        });
        let jobs = load(&dir.join(names::JOBS), |b| {
            changes::jobs_from_bytes(b).map_err(|e| e.to_string())
        });
        let autonomous = load(&dir.join(names::AUTONOMOUS), autonomous_from_bytes);
        let vouchers = load(&dir.join(names::VOUCHERS), |b| {
            Vouchers::from_bytes(b, &device).map_err(|e| e.to_string())
        });
        SoftwareManager {
            dir: dir.to_path_buf(),
            settings,
            baseline: inventory.is_some(),
            inventory: inventory.unwrap_or_default(),
            jobs: jobs.unwrap_or_default(),
            autonomous: autonomous.unwrap_or_default(),
            vouchers: vouchers.unwrap_or_default(),
            device,
            running: None,
            refresh_wanted: true,
        }
    }

    /// New commands (config reload); a running command finishes as it started.
    pub fn set_settings(&mut self, settings: SoftwareSettings) {
        self.settings = settings;
    }

    /// Asks for a look at the installed list (after a session: autonomous changes).
    pub fn refresh(&mut self) {
        self.refresh_wanted = true;
    }

    /// The events the persisted state owes the ACS that `queued` (the event
    /// queue) lacks: after a crash between saving a result and its event.
    pub fn missing_events(&self, queued: &[Event]) -> Vec<SoftwareEvent> {
        let mut missing = Vec::new();
        for job in self.jobs.iter().filter(|j| j.is_complete()) {
            let announced = queued
                .iter()
                .any(|e| e.code == EventCode::MChangeDuState && e.command_key == job.command_key);
            if !announced {
                missing.push(SoftwareEvent::DuStateChangeComplete {
                    command_key: job.command_key.clone(),
                });
            }
        }
        if !self.autonomous.is_empty()
            && !queued
                .iter()
                .any(|e| e.code == EventCode::AutonomousDuStateChangeComplete)
        {
            missing.push(SoftwareEvent::AutonomousChange);
        }
        missing
    }

    /// ChangeDUState: queues the request (persisted before the response goes out).
    pub fn accept(&mut self, request: ChangeDuState) -> Result<(), Fault> {
        if request.operations.is_empty() {
            return Err(Fault::with_text(
                FaultCode::InvalidArguments,
                "no operation",
            ));
        }
        if request.operations.len() > MAX_OPERATIONS || self.jobs.len() >= MAX_JOBS {
            return Err(Fault::new(FaultCode::ResourcesExceeded));
        }
        info!(
            "ChangeDUState '{}': {} operation(s) queued",
            request.command_key,
            request.operations.len()
        );
        self.jobs.push(Job {
            command_key: request.command_key,
            operations: request.operations,
            ..Job::default()
        });
        if let Err(e) = self.save_jobs() {
            self.jobs.pop();
            error!("cannot persist the ChangeDUState request: {e}");
            return Err(Fault::new(FaultCode::InternalError));
        }
        self.refresh_wanted = true;
        Ok(())
    }

    /// SetVouchers: checks and keeps the vouchers (9003 for a bad one).
    pub fn set_vouchers(&mut self, list: &[String]) -> Result<(), Fault> {
        let mut vouchers = self.vouchers.clone();
        vouchers
            .add(list, &self.device)
            .map_err(|e| Fault::with_text(FaultCode::InvalidArguments, e.to_string()))?;
        atomic_write(&self.dir.join(names::VOUCHERS), &vouchers.to_bytes()).map_err(|e| {
            error!("cannot persist vouchers: {e}");
            Fault::new(FaultCode::InternalError)
        })?;
        self.vouchers = vouchers;
        Ok(())
    }

    /// GetOptions at `now` (unix seconds).
    pub fn options(&self, name: &str, now: i64) -> Vec<OptionInfo> {
        self.vouchers.options(name, now)
    }

    /// The CPE requests to send in the next session: a DUStateChangeComplete
    /// per finished job and one AutonomousDUStateChangeComplete.
    pub fn cpe_requests(&self) -> Vec<Rpc> {
        let mut requests: Vec<Rpc> = self
            .jobs
            .iter()
            .filter(|j| j.is_complete())
            .map(|j| {
                Rpc::DuStateChangeComplete(DuStateChangeComplete {
                    results: j.results.clone(),
                    command_key: j.command_key.clone(),
                })
            })
            .collect();
        if !self.autonomous.is_empty() {
            requests.push(Rpc::AutonomousDuStateChangeComplete {
                results: self.autonomous.clone(),
            });
        }
        requests
    }

    /// The ACS acknowledged a CPE request: drops what it reported. Returns
    /// the events still owed (autonomous changes that came in meanwhile).
    pub fn acknowledged(&mut self, request: &Rpc) -> Vec<SoftwareEvent> {
        match request {
            Rpc::DuStateChangeComplete(done) => {
                let position = self
                    .jobs
                    .iter()
                    .position(|j| j.is_complete() && j.command_key == done.command_key);
                if let Some(index) = position {
                    self.jobs.remove(index);
                    if let Err(e) = self.save_jobs() {
                        error!("cannot persist DU jobs after an acknowledgement: {e}");
                    }
                }
                Vec::new()
            }
            Rpc::AutonomousDuStateChangeComplete { results } => {
                let sent = results.len().min(self.autonomous.len());
                self.autonomous.drain(..sent);
                if let Err(e) = self.save_autonomous() {
                    error!("cannot persist autonomous DU changes: {e}");
                }
                if self.autonomous.is_empty() {
                    Vec::new()
                } else {
                    vec![SoftwareEvent::AutonomousChange]
                }
            }
            _ => Vec::new(),
        }
    }

    /// When [`run`](Self::run) must next be called (`now` when work waits).
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        match &self.running {
            Some(running) => Some(running.next_check.min(running.deadline)),
            None if self.refresh_wanted || self.jobs.iter().any(|j| !j.is_complete()) => Some(now),
            None => None,
        }
    }

    /// Checks the running command and starts the next one; returns what must
    /// be announced. `unix` stamps the results.
    pub fn run(&mut self, now: Instant, unix: i64) -> Vec<SoftwareEvent> {
        let mut events = Vec::new();
        if let Some(mut running) = self.running.take() {
            let status = match running.child.try_wait() {
                Ok(Some(status)) => Some(Ok(status)),
                Ok(None) if now >= running.deadline => {
                    let _ = running.child.kill();
                    let _ = running.child.wait();
                    Some(Err("timed out".to_owned()))
                }
                Ok(None) => None,
                Err(e) => Some(Err(e.to_string())),
            };
            match status {
                None => {
                    running.next_check = now + CHECK_INTERVAL;
                    self.running = Some(running);
                    return events;
                }
                Some(status) => {
                    let outcome = match status {
                        Ok(s) if s.success() => Ok(()),
                        Ok(s) => Err(format!("{s}: {}", self.command_output())),
                        Err(e) => Err(e),
                    };
                    self.finished(running.step, outcome, now, unix, &mut events);
                }
            }
        }
        while self.running.is_none() {
            if !self.start_next(now, unix, &mut events) {
                break;
            }
        }
        events
    }

    fn command_output(&self) -> String {
        let err = last_line(&self.dir.join(names::ERRORS));
        if err.is_empty() {
            last_line(&self.dir.join(names::OUTPUT))
        } else {
            err
        }
    }

    /// Starts the next command, or records the next refused operation;
    /// false when there is nothing left to do. Every true return made
    /// progress (a refresh taken, a command running or a result recorded).
    fn start_next(&mut self, now: Instant, unix: i64, events: &mut Vec<SoftwareEvent>) -> bool {
        // An operation a restart cut short is concluded first, against the
        // inventory of before it ran: a refresh first would take its effect
        // for an autonomous change and then refuse the operation as done.
        let resume_first = self
            .jobs
            .iter()
            .find(|j| !j.is_complete())
            .is_some_and(|j| j.running);
        if self.refresh_wanted && !resume_first {
            self.refresh_wanted = false;
            let list = self.settings.list_command.clone();
            self.spawn(&list, Step::Refresh, now, unix, events);
            return true;
        }
        let Some(job_index) = self.jobs.iter().position(|j| !j.is_complete()) else {
            return false;
        };
        let Some(job) = self.jobs.get(job_index) else {
            return false;
        };
        let Some(op) = job.next_operation().cloned() else {
            return false;
        };
        let interrupted = job.running;
        let stamp = DateTime::from_unix(unix);
        match changes::prepare(&op, &self.inventory) {
            Err(fault) => {
                warn!("DU operation refused: {}", fault.text);
                self.record(job_index, changes::refused(&op, fault, &stamp), events);
                true
            }
            Ok(prepared) if interrupted => {
                // The daemon stopped while this command ran: read its effect from the list.
                let list = self.settings.list_command.clone();
                let step = Step::AfterOperation {
                    prepared,
                    ran: Err("interrupted by a restart of the CPE agent".into()),
                    started: unix,
                };
                self.spawn(&list, step, now, unix, events);
                true
            }
            Ok(prepared) => {
                let line = match &prepared.action {
                    Action::Install { url } => {
                        command_line(&self.settings.install_command, url, "")
                    }
                    Action::Upgrade { name } => {
                        command_line(&self.settings.update_command, "", name)
                    }
                    Action::Uninstall { name } => {
                        command_line(&self.settings.uninstall_command, "", name)
                    }
                };
                if let Some(job) = self.jobs.get_mut(job_index) {
                    job.running = true;
                }
                if let Err(e) = self.save_jobs() {
                    error!("cannot persist DU jobs: {e}");
                }
                info!("DU operation: {line}");
                let step = Step::Operation {
                    prepared,
                    started: unix,
                };
                self.spawn(&line, step, now, unix, events);
                true
            }
        }
    }

    /// Runs `line` for `step`; if it cannot even start, the step fails at once.
    fn spawn(
        &mut self,
        line: &str,
        step: Step,
        now: Instant,
        unix: i64,
        events: &mut Vec<SoftwareEvent>,
    ) {
        let files = create_private_file(&self.dir.join(names::OUTPUT))
            .and_then(|out| Ok((out, create_private_file(&self.dir.join(names::ERRORS))?)));
        let spawned = files.and_then(|(out, err)| {
            Command::new("/bin/sh")
                .arg("-c")
                .arg(line)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .spawn()
        });
        match spawned {
            Ok(child) => {
                self.running = Some(Running {
                    child,
                    step,
                    deadline: now + self.settings.command_timeout,
                    next_check: now + CHECK_INTERVAL,
                });
            }
            Err(e) => {
                error!("cannot run '{line}': {e}");
                let outcome = Err(format!("cannot run the command: {e}"));
                self.finished(step, outcome, now, unix, events);
            }
        }
    }

    fn finished(
        &mut self,
        step: Step,
        outcome: Result<(), String>,
        now: Instant,
        unix: i64,
        events: &mut Vec<SoftwareEvent>,
    ) {
        match step {
            Step::Refresh => {
                let Some(list) = self.read_list(&outcome) else {
                    return;
                };
                let changes = self.inventory.reconcile(&list);
                self.save_inventory();
                if !self.baseline {
                    self.baseline = true;
                    return;
                }
                if changes.is_empty() {
                    return;
                }
                let announce = self.autonomous.is_empty();
                let stamp = DateTime::from_unix(unix);
                for change in changes {
                    info!(
                        "autonomous DU change: {} {} {}",
                        change.kind.as_str(),
                        change.unit.name,
                        change.unit.version
                    );
                    if self.autonomous.len() >= MAX_AUTONOMOUS {
                        self.autonomous.remove(0);
                    }
                    let state = if change.kind == ChangeKind::Uninstall {
                        DuState::Uninstalled
                    } else {
                        DuState::Installed
                    };
                    self.autonomous.push(AutonomousOpResult {
                        operation_performed: change.kind.as_str().to_owned(),
                        result: OpResult {
                            uuid: change.unit.uuid.clone(),
                            deployment_unit_ref: change.unit.path(),
                            version: change.unit.version.clone(),
                            current_state: state,
                            resolved: true,
                            start_time: stamp.clone(),
                            complete_time: stamp.clone(),
                            ..OpResult::default()
                        },
                    });
                }
                if let Err(e) = self.save_autonomous() {
                    error!("cannot persist autonomous DU changes: {e}");
                }
                if announce {
                    events.push(SoftwareEvent::AutonomousChange);
                }
            }
            Step::Operation { prepared, started } => {
                let list = self.settings.list_command.clone();
                let step = Step::AfterOperation {
                    prepared,
                    ran: outcome,
                    started,
                };
                self.spawn(&list, step, now, unix, events);
            }
            Step::AfterOperation {
                prepared,
                ran,
                started,
            } => {
                let changes = match self.read_list(&outcome) {
                    Some(list) => self.inventory.reconcile(&list),
                    None => Vec::new(),
                };
                self.save_inventory();
                let result = changes::conclude(
                    &prepared,
                    ran,
                    &changes,
                    &mut self.inventory,
                    DateTime::from_unix(started),
                    DateTime::from_unix(unix),
                );
                self.save_inventory();
                if let Some(index) = self.jobs.iter().position(|j| !j.is_complete()) {
                    self.record(index, result, events);
                }
            }
        }
    }

    fn read_list(&self, outcome: &Result<(), String>) -> Option<Vec<super::inventory::Package>> {
        if let Err(e) = outcome {
            // An empty list from a failed command would read as "everything removed".
            warn!("installed list unavailable: {e}");
            return None;
        }
        match crate::fsutil::read_text(&self.dir.join(names::OUTPUT)) {
            Ok(text) => Some(parse_installed(&text)),
            Err(e) => {
                warn!("installed list unreadable: {e}");
                None
            }
        }
    }

    fn record(&mut self, job_index: usize, result: OpResult, events: &mut Vec<SoftwareEvent>) {
        let Some(job) = self.jobs.get_mut(job_index) else {
            return;
        };
        info!(
            "DU operation done: {} {} {}{}",
            result.uuid,
            result.version,
            result.current_state.as_str(),
            result.fault.code.map_or(String::new(), |c| format!(
                " (fault {}: {})",
                c.code(),
                result.fault.text
            ))
        );
        job.results.push(result);
        job.running = false;
        let done = job.is_complete().then(|| job.command_key.clone());
        if let Err(e) = self.save_jobs() {
            error!("cannot persist DU jobs: {e}");
        }
        if let Some(command_key) = done {
            info!("ChangeDUState '{command_key}' complete");
            events.push(SoftwareEvent::DuStateChangeComplete { command_key });
        }
    }

    fn save_jobs(&self) -> io::Result<()> {
        atomic_write(
            &self.dir.join(names::JOBS),
            &changes::jobs_to_bytes(&self.jobs),
        )
    }

    fn save_autonomous(&self) -> io::Result<()> {
        atomic_write(
            &self.dir.join(names::AUTONOMOUS),
            &autonomous_to_bytes(&self.autonomous),
        )
    }

    fn save_inventory(&self) {
        if let Err(e) = atomic_write(&self.dir.join(names::INVENTORY), &self.inventory.to_bytes()) {
            error!("cannot persist the software inventory: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_their_arguments() {
        assert_eq!(
            command_line("opkg install {url}", "http://h/a'b.ipk", ""),
            "opkg install 'http://h/a'\\''b.ipk'"
        );
        assert_eq!(
            command_line("opkg remove {name}", "", "foo"),
            "opkg remove 'foo'"
        );
    }

    #[test]
    fn autonomous_results_round_trip() {
        let results = vec![AutonomousOpResult {
            operation_performed: "Uninstall".into(),
            result: OpResult {
                uuid: "u".into(),
                deployment_unit_ref: "Device.SoftwareModules.DeploymentUnit.3".into(),
                version: "1\t2".into(),
                current_state: DuState::Uninstalled,
                resolved: true,
                start_time: DateTime::from_unix(5),
                complete_time: DateTime::from_unix(6),
                ..OpResult::default()
            },
        }];
        assert_eq!(
            autonomous_from_bytes(&autonomous_to_bytes(&results)),
            Ok(results)
        );
        assert!(autonomous_from_bytes(b"icwmp-du-autonomous 1\nx\n").is_err());
    }
}
