//! The daemon's single-threaded mio loop: tokens, dispatch to components, and the earliest deadline.
//!
//! The CWMP core (ACS session, transfers, software modules, ubus) is driven
//! here directly; every other component is a `service::Service` (HTTP
//! connection requests, and the STUN, XMPP, TWAMP, UDP echo, diagnostics and
//! BulkData services as they join) with a token range of its own. Each one
//! owns its sockets, handles their readiness and says when it next needs to
//! run (`poll_at`); the loop sleeps exactly until the earliest of those
//! deadlines: idle means no wake-ups at all.
//!
//! This file holds the loop itself; what it calls lives beside it in
//! `daemon/`: `startup`, `reload`, `session` (ACS session and Inform),
//! `events`, `notifications`, `ubus_front`, `signals` and `device_actions`.

use std::cell::RefCell;
use std::io;
use std::process::Child;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{info, warn};
use mio::unix::pipe;
use mio::{Events, Poll};

use crate::clock;
use crate::config::backends::CwmpStore;
use crate::config::{Config, ConfigFile};
use crate::cwmp::agent::Agent;
use crate::cwmp::conn_request_limit::ConnRequestLimit;
use crate::cwmp::cpe_requests::CpeRequests;
use crate::cwmp::handlers::Deferred;
use crate::cwmp::params::ParameterValue;
use crate::datamodel::engine::DataModel;
use crate::datamodel::runtime::RuntimeRefresh;
use crate::service::{Context, Request, Service, Tokens};
use crate::software::manager::SoftwareManager;
use crate::store::Store;
use crate::timer::Timers;
use crate::transport::acs::AcsLink;
use crate::transport::transfer::Transfers;
use crate::transport::ubus::UbusClient;

mod device_actions;
mod events;
mod left_out;
mod notifications;
mod reload;
mod session;
mod signals;
mod startup;
mod ubus_front;

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
            self.serve(index, &mut |service, cx| service.configure(cx));
        }
    }

    /// Calls service `index` with a context, then carries out what it asked for.
    /// (`call` is a trait object so one copy of this serves every caller.)
    fn serve(&mut self, index: usize, call: &mut dyn FnMut(&mut dyn Service, &mut Context)) {
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
                        Some(index) => {
                            self.serve(index, &mut |service, cx| service.ready(cx, event))
                        }
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
                self.serve(index, &mut |service, cx| service.run_due(cx));
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
