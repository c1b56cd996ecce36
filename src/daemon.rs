//! The daemon's single-threaded mio loop: tokens, dispatch to components, and the earliest deadline.
//!
//! The CWMP core (ACS session, transfers, software modules, ubus) is driven
//! here directly; every other component is a `service::Service` (HTTP
//! connection requests, and the STUN, XMPP, TWAMP, UDP echo, diagnostics and
//! BulkData services as they join) with a token range of its own. Each one
//! owns its sockets, handles their readiness and says when it next needs to
//! run (`poll_at`); the loop sleeps exactly until the earliest of those
//! deadlines: idle means no wake-ups at all.

use std::cell::RefCell;
use std::io;
use std::process::{Child, Command};
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{error, info, warn};
use mio::unix::pipe;
use mio::{Events, Poll};

use crate::clock;
use crate::config::backends::CwmpStore;
use crate::config::{Config, ConfigFile};
use crate::cwmp::agent::{Agent, SessionResult};
use crate::cwmp::conn_request_limit::ConnRequestLimit;
use crate::cwmp::cpe_requests::CpeRequests;
use crate::cwmp::events::{Event, EventCode};
use crate::cwmp::handlers::Deferred;
use crate::cwmp::params::ParameterValue;
use crate::datamodel::engine::DataModel;
use crate::datamodel::runtime::RuntimeRefresh;
use crate::service::{Context, Request, Service, Tokens};
use crate::software::manager::SoftwareManager;
use crate::store::{names, Store};
use crate::sys;
use crate::timer::Timers;
use crate::transport::acs::AcsLink;
use crate::transport::transfer::Transfers;
use crate::transport::ubus::{self as ubus, Tr069Call, Tr069Command, UbusClient, UbusInput};
use crate::wire::blobmsg::Value;
use crate::wire::ubus::UbusStatus;

mod events;
mod notifications;
mod reload;
mod session;
mod startup;

/// Every token of the loop, in one place. Components that own many sockets
/// get a range starting at their base.
pub mod tokens {
    use mio::Token;

    /// The signal self-pipe.
    pub const SIGNAL: Token = Token(0);
    /// The ACS session's HTTP connection.
    pub const ACS: Token = Token(1);
    /// File transfers: their HTTP connection, FTP control and data connections.
    pub const TRANSFER_HTTP: Token = Token(10);
    pub const TRANSFER_FTP_CONTROL: Token = Token(11);
    pub const TRANSFER_FTP_DATA: Token = Token(12);
    /// The ubus socket.
    pub const UBUS: Token = Token(2);
    // Services get ranges of their own: `service::Tokens`.
}

/// How the daemon was started (the CLI's daemon flags).
#[derive(Clone, Debug, Default)]
pub struct DaemonOptions {
    /// `-b`: start with a `1 BOOT` session.
    pub boot_event: bool,
    /// `-g`: ask the ACS for its RPC methods in the first session.
    pub get_rpc_methods: bool,
}

/// The daemon's own timed work (components keep their deadlines themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum DaemonTimer {
    /// Compare the parameters with notifications on against their last values.
    ValueCheck,
    /// Collect the exit status of commands the daemon ran (reboot, factory reset).
    ReapChildren,
    /// Send the pending passive lightweight notifications (TR-069 Annex M trigger).
    LightweightTrigger,
}

/// How often spawned commands are checked for their exit.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

/// What the loop should do after handling a batch of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// The running daemon.
pub struct Daemon {
    poll: Poll,
    config_file: ConfigFile,
    config: Config,
    signals: pipe::Receiver,
    /// Kept open: the signal handler writes into it.
    _signal_sender: pipe::Sender,
    store: Store,
    cwmp_store: Rc<RefCell<CwmpStore>>,
    dm: DataModel,
    agent: Agent,
    acs: AcsLink,
    transfers: Transfers,
    ubus: UbusClient,
    /// The services of the loop, each with the token range of its index (`service::Tokens`).
    services: Vec<Box<dyn Service>>,
    /// The limit on honoured connection requests, from every source (shared with the services).
    conn_request_limit: Rc<RefCell<ConnRequestLimit>>,
    /// Where the UCI packages live, for the services' own packages.
    uci_dir: std::path::PathBuf,
    /// The run-time state (Wi-Fi, netifd) asked from ubus for the data model.
    runtime_refresh: RuntimeRefresh,
    /// The WAN address netifd reported over ubus, for ConnectionRequestURL.
    wan_address: Option<String>,
    /// The URL of the running session (for BOOTSTRAP bookkeeping).
    session_url: String,
    /// Value changes not yet in an Inform the ACS acknowledged (persisted).
    changed_values: Vec<ParameterValue>,
    /// The changes the running session's Inform carries.
    inform_changes: Vec<ParameterValue>,
    /// Passive lightweight changes waiting for the next lightweight notification.
    lwn_pending: Vec<ParameterValue>,
    deferred: Vec<Deferred>,
    children: Vec<Child>,
    timers: Timers<DaemonTimer>,
    flow: Flow,
    /// Deployment units (ChangeDUState), vouchers and options.
    software: SoftwareManager,
    /// Kicked and RequestDownload requests handed over by the command line.
    cpe_requests: CpeRequests,
}

/// Why the daemon could not start.
#[derive(Debug)]
pub enum StartError {
    Config(crate::config::ConfigError),
    Io(&'static str, io::Error),
    Setup(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "configuration: {e}"),
            StartError::Io(what, e) => write!(f, "{what}: {e}"),
            StartError::Setup(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl Daemon {
    /// Hands every service the running configuration (at start and after a reload).
    fn configure_services(&mut self) {
        for index in 0..self.services.len() {
            self.serve(index, |service, cx| service.configure(cx));
        }
    }

    /// Calls service `index` with a context, then carries out what it asked for.
    fn serve(&mut self, index: usize, call: impl FnOnce(&mut dyn Service, &mut Context)) {
        let mut requests = Vec::new();
        if let Some(service) = self.services.get_mut(index) {
            let mut cx = Context::new(
                self.poll.registry(),
                clock::now(),
                clock::unix_now(),
                &self.config,
                &self.uci_dir,
                &mut self.dm,
                &mut requests,
            );
            call(service.as_mut(), &mut cx);
        }
        for request in requests {
            match request {
                Request::Event(event) => self.queue_event(event),
                Request::ConnectionRequest { source } => self.on_connection_request(&source),
                Request::CheckValueChanges => self.check_value_changes(clock::unix_now()),
            }
        }
    }

    /// Runs until SIGTERM/SIGINT or an `exit` command.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        while self.flow == Flow::Continue || self.ubus.is_shutting_down() {
            let timeout = self
                .next_deadline()
                .map(|at| at.saturating_duration_since(clock::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout.map(round_up_to_ms)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = clock::now();
            for event in events.iter() {
                match event.token() {
                    tokens::SIGNAL => self.drain_signals(),
                    tokens::ACS => self.drive_acs(Some(event), now),
                    tokens::UBUS => {
                        let inputs = self.ubus.handle_event(self.poll.registry(), event, now);
                        self.on_ubus(inputs);
                    }
                    token if self.transfers.owns(token) => self.drive_transfers(Some(event), now),
                    token => match Tokens::service_of(token) {
                        Some(index) => self.serve(index, |service, cx| service.ready(cx, event)),
                        None => warn!("event for unknown token {}", token.0),
                    },
                }
            }
            self.run_due(now);
        }
        info!("icwmpd stopped");
        Ok(())
    }

    /// The earliest deadline of every component.
    fn next_deadline(&mut self) -> Option<Instant> {
        let now = clock::now();
        let unix = clock::unix_now();
        let agent = if self.config.acs.effective_url().is_empty() {
            None
        } else {
            self.agent
                .poll_at(unix)
                .map(|t| now + Duration::from_secs(t.saturating_sub(unix).max(0) as u64))
        };
        let transfers = self.transfers.poll_at(now, unix, !self.acs.busy());
        let services = self.services.iter().filter_map(|s| s.poll_at()).min();
        let own = self.timers.next_deadline();
        [
            agent,
            self.acs.poll_at(),
            self.ubus.poll_at(),
            self.software.poll_at(now),
            transfers,
            services,
            own,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn run_due(&mut self, now: Instant) {
        if self.acs.poll_at().is_some_and(|t| t <= now) {
            self.drive_acs(None, now);
        }
        if self
            .transfers
            .poll_at(now, clock::unix_now(), !self.acs.busy())
            .is_some_and(|t| t <= now)
        {
            self.drive_transfers(None, now);
        }
        for index in 0..self.services.len() {
            let due = self
                .services
                .get(index)
                .and_then(|s| s.poll_at())
                .is_some_and(|t| t <= now);
            if due {
                self.serve(index, |service, cx| service.run_due(cx));
            }
        }
        if self.ubus.poll_at().is_some_and(|t| t <= now) {
            let inputs = self.ubus.handle_timeout(self.poll.registry(), now);
            self.on_ubus(inputs);
        }
        if self.software.poll_at(now).is_some_and(|t| t <= now) {
            let events = self.software.run(now, clock::unix_now());
            self.announce(events);
        }
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                DaemonTimer::ValueCheck => {
                    self.refresh_runtime();
                    self.check_value_changes(clock::unix_now());
                    self.arm_value_check(now);
                }
                DaemonTimer::ReapChildren => self.reap_children(now),
                DaemonTimer::LightweightTrigger => {
                    let unix = clock::unix_now();
                    if !self.lwn_pending.is_empty() {
                        self.send_lightweight_notification(unix);
                    }
                    self.arm_lightweight_trigger(now, unix);
                }
            }
        }
        if self.flow == Flow::Stop || self.config.acs.effective_url().is_empty() {
            return;
        }
        let unix = clock::unix_now();
        let due = self.agent.take_due(unix);
        self.persist_schedule();
        if due.check_notifications {
            self.check_value_changes(unix);
        }
        if due.start_session && !self.acs.busy() {
            self.start_session(now, unix);
        }
    }

    fn run_deferred(&mut self, work: Deferred) {
        match work {
            Deferred::Reboot { command_key } => {
                if let Err(e) = self.store.write(names::REBOOT_KEY, command_key.as_bytes()) {
                    error!("cannot record the Reboot before rebooting: {e}");
                    return;
                }
                info!("Executing Reboot: end session request");
                let command = self.config.cpe.reboot_command.clone();
                self.spawn_shell(&command);
            }
            Deferred::FactoryReset => {
                info!("Executing factory reset: end session request");
                // Everything the daemon remembers goes: the next start is a first start (0 BOOTSTRAP).
                if let Err(e) = self.store.clear() {
                    error!("factory reset: cannot clear the state directory: {e}");
                }
                let command = self.config.cpe.factory_reset_command.clone();
                self.spawn_shell(&command);
            }
        }
    }

    fn spawn_shell(&mut self, command: &str) {
        match Command::new("/bin/sh").arg("-c").arg(command).spawn() {
            Ok(child) => {
                self.children.push(child);
                self.timers
                    .set(DaemonTimer::ReapChildren, clock::now() + REAP_INTERVAL);
            }
            Err(e) => error!("cannot run '{command}': {e}"),
        }
    }

    fn reap_children(&mut self, now: Instant) {
        self.children.retain_mut(|child| match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    warn!("command exited with {status}");
                }
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
        if !self.children.is_empty() {
            self.timers
                .set(DaemonTimer::ReapChildren, now + REAP_INTERVAL);
        }
    }

    fn on_ubus(&mut self, inputs: Vec<UbusInput>) {
        for input in inputs {
            match input {
                UbusInput::Registered => {
                    info!("ubus: tr069 object registered");
                    self.refresh_runtime();
                    let wan = self.config.cpe.default_wan_interface.clone();
                    if !wan.is_empty() {
                        if let Err(e) = self.ubus.request_interface_status(&wan, clock::now()) {
                            warn!("ubus: cannot ask for network.interface.{wan}: {e:?}");
                        }
                    }
                }
                UbusInput::Disconnected => {
                    warn!("ubus: connection lost, reconnecting");
                    self.runtime_refresh.reset();
                }
                UbusInput::CallResult {
                    request,
                    object,
                    result,
                    ..
                } => {
                    if let Some(state) = self.dm.runtime_state() {
                        let ubus = &mut self.ubus;
                        let now = clock::now();
                        self.runtime_refresh
                            .on_result(ubus, &state, request, &object, result, now);
                    }
                }
                UbusInput::Call { handle, call } => {
                    let reply = self.on_tr069_call(call);
                    if let Err(e) = self.ubus.reply(handle, UbusStatus::Ok, reply) {
                        warn!("ubus: reply not sent: {e:?}");
                    }
                    if self.flow == Flow::Stop {
                        // The loop runs on until ubusd has taken the reply.
                        self.ubus.shut_down(self.poll.registry(), clock::now());
                    }
                }
                UbusInput::InterfaceStatus {
                    interface, result, ..
                } => match result {
                    Ok(status) => self.set_wan_address(status.ipv4_address),
                    Err(e) => warn!("ubus: network.interface.{interface} status: {e:?}"),
                },
                UbusInput::InterfaceEvent { interface, action } => {
                    if interface == self.config.cpe.default_wan_interface {
                        info!("ubus: interface {interface} {action}");
                        if let Err(e) = self.ubus.request_interface_status(&interface, clock::now())
                        {
                            warn!("ubus: cannot ask for network.interface.{interface}: {e:?}");
                        }
                    }
                }
            }
        }
    }

    /// Asks ubus for the run-time state the data model serves (when it serves any).
    fn refresh_runtime(&mut self) {
        if self.dm.runtime_state().is_some() && self.ubus.is_registered() {
            self.runtime_refresh.start(&mut self.ubus, clock::now());
        }
    }

    /// A new WAN address changes ConnectionRequestURL, which the ACS must learn (4 VALUE CHANGE).
    fn set_wan_address(&mut self, address: Option<String>) {
        if address == self.wan_address {
            return;
        }
        info!("WAN address: {}", address.as_deref().unwrap_or("none"));
        self.cwmp_store.borrow_mut().set_runtime(
            "cpe",
            "connection_request_host",
            address.as_deref(),
        );
        self.wan_address = address;
        self.check_value_changes(clock::unix_now());
    }

    /// Answers one call on the `tr069` ubus object.
    fn on_tr069_call(&mut self, call: Tr069Call) -> Value {
        let unix = clock::unix_now();
        match call {
            Tr069Call::Status => ubus::status_reply(&self.status_report(unix)),
            Tr069Call::Notify => {
                self.check_value_changes(unix);
                ubus::notify_reply()
            }
            Tr069Call::Inform {
                event,
                get_rpc_methods,
            } => {
                if get_rpc_methods {
                    self.agent.request_rpc_methods();
                }
                let code = match event.as_deref().map(EventCode::parse) {
                    Some(Ok(code)) => code,
                    Some(Err(_)) => return ubus::inform_unknown_event_reply(),
                    None if get_rpc_methods => return self.inform_accepted(),
                    // No event named: icwmp's default is a connection-request session.
                    None => EventCode::ConnectionRequest,
                };
                if !self.agent.trigger(Event::new(code)) {
                    warn!("event queue full, ubus inform event dropped");
                }
                if let Err(e) = self.store.save_events(self.agent.queue()) {
                    error!("cannot persist events: {e}");
                }
                self.inform_accepted()
            }
            Tr069Call::Command(Tr069Command::Reload) => {
                self.reload();
                ubus::reload_reply()
            }
            Tr069Call::Command(Tr069Command::Exit) => {
                info!("exit requested over ubus");
                self.flow = Flow::Stop;
                ubus::exit_reply()
            }
        }
    }

    fn inform_accepted(&self) -> Value {
        if self.acs.busy() {
            ubus::inform_queued_reply()
        } else {
            ubus::inform_reply()
        }
    }

    /// The `status` ubus method's figures.
    pub fn status_report(&self, unix: i64) -> ubus::StatusReport {
        let offset = sys::local_time(unix).utc_offset;
        let time = |t: i64| crate::cwmp::datetime::format_with_offset(t, offset);
        let stats = self.agent.stats();
        let (last_status, last_start, last_end) = match &stats.last {
            None => (
                ubus::NOT_AVAILABLE.to_owned(),
                ubus::NOT_AVAILABLE.to_owned(),
                ubus::NOT_AVAILABLE.to_owned(),
            ),
            Some(last) => (
                match last.result {
                    None => "running",
                    Some(SessionResult::Success) => "success",
                    Some(SessionResult::Failure) => "failure",
                }
                .to_owned(),
                time(last.start),
                last.end
                    .map_or_else(|| ubus::NOT_AVAILABLE.to_owned(), time),
            ),
        };
        ubus::StatusReport {
            start_time: time(stats.started_at),
            acs_url: self.config.acs.effective_url().to_owned(),
            last_session_status: last_status,
            last_session_start: last_start,
            last_session_end: last_end,
            next_session_start: self
                .agent
                .next_session_at(unix)
                .map_or_else(|| ubus::NOT_AVAILABLE.to_owned(), time),
            success_sessions: u32::try_from(stats.success).unwrap_or(u32::MAX),
            failure_sessions: u32::try_from(stats.failure).unwrap_or(u32::MAX),
        }
    }

    fn drain_signals(&mut self) {
        let mut buf = [0u8; 32];
        loop {
            match io::Read::read(&mut self.signals, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &signal in buf.iter().take(n) {
                        self.on_signal(i32::from(signal));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    }

    fn on_signal(&mut self, signal: i32) {
        match signal {
            libc::SIGHUP => self.reload(),
            libc::SIGUSR1 => self.pick_up_cpe_requests(),
            libc::SIGTERM | libc::SIGINT => {
                info!("signal {signal} received, stopping");
                self.flow = Flow::Stop;
            }
            other => warn!("unexpected signal {other}"),
        }
    }
}

/// mio rounds sub-millisecond timeouts down to 0, which would spin; wait at least until the deadline.
fn round_up_to_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up() {
        assert_eq!(
            round_up_to_ms(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        assert_eq!(round_up_to_ms(Duration::ZERO), Duration::ZERO);
    }
}
