//! The daemon's single-threaded mio loop: tokens, dispatch to components, and the earliest deadline.
//!
//! Every component (ACS session, connection-request server, ubus, and later
//! STUN, XMPP, TWAMP, UDP echo, BulkData) is a state machine that owns its
//! sockets, registers them under its tokens, handles their readiness and says
//! when it next needs to run (`poll_at`). The loop sleeps exactly until the
//! earliest of those deadlines: idle means no wake-ups at all.

use std::cell::RefCell;
use std::io;
use std::process::{Child, Command};
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{error, info, warn};
use mio::unix::pipe;
use mio::{Events, Interest, Poll};

use crate::clock;
use crate::config::backends::CwmpStore;
use crate::config::{Config, ConfigFile};
use crate::cwmp::agent::{Agent, SessionResult};
use crate::cwmp::cpe_requests::{self, CpeRequests};
use crate::cwmp::events::{start_events, CompletionRpc, Event, EventCode, StartFacts};
use crate::cwmp::handlers::{Deferred, RequestHandler};
use crate::cwmp::params::ParameterValue;
use crate::cwmp::retry::RetryPolicy;
use crate::cwmp::schedule::PeriodicInform;
use crate::cwmp::session::Acknowledged;
use crate::datamodel::engine::DataModel;
use crate::datamodel::setup;
use crate::logging::{self, LogSettings};
use crate::software::manager::{SoftwareEvent, SoftwareManager, SoftwareSettings};
use crate::software::vouchers::DeviceIdentity;
use crate::store::{names, Store};
use crate::sys;
use crate::timer::Timers;
use crate::transport::acs::{AcsLink, SessionOpening};
use crate::transport::conn_request::{ConnRequestConfig, ConnRequestServer};
use crate::transport::http_client::HttpConfig;
use crate::transport::transfer::{TransferSettings, TransferTokens, Transfers};
use crate::transport::ubus::{
    self as ubus, Tr069Call, Tr069Command, UbusClient, UbusConfig, UbusInput,
};
use crate::wire::blobmsg::Value;
use crate::wire::digest::Credentials;
use crate::wire::soap::{self, CwmpVersion, DateTime, Rpc};
use crate::wire::ubus::UbusStatus;

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
    /// The connection-request listener.
    pub const CR_LISTENER: Token = Token(3);
    /// Connection-request clients: `CR_CLIENTS..CR_CLIENTS + max_clients`.
    pub const CR_CLIENTS: usize = 16;
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
    /// The connection-request server; `None` without credentials (no stranger gets in).
    conn_request: Option<ConnRequestServer>,
    /// The settings it was bound with, to rebind only when they change.
    conn_request_settings: Option<(u16, String, String)>,
    /// The WAN address netifd reported over ubus, for ConnectionRequestURL.
    wan_address: Option<String>,
    /// The URL of the running session (for BOOTSTRAP bookkeeping).
    session_url: String,
    /// Passive value changes waiting for the next Inform.
    changed_values: Vec<ParameterValue>,
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

fn periodic_of(config: &Config) -> PeriodicInform {
    PeriodicInform {
        enable: config.acs.periodic_inform_enable,
        interval_secs: config.acs.periodic_inform_interval,
        reference: PeriodicInform::reference_from_unix(config.acs.periodic_inform_time),
    }
}

fn retry_policy_of(config: &Config) -> RetryPolicy {
    RetryPolicy {
        min_wait_secs: config.acs.retry_min_wait_interval,
        interval_multiplier: config.acs.retry_interval_multiplier,
    }
}

fn http_config_of(config: &Config) -> HttpConfig {
    let acs = &config.acs;
    HttpConfig {
        ipv6_enable: acs.ipv6_enable,
        ssl_capath: (!acs.ssl_capath.is_empty()).then(|| acs.ssl_capath.clone().into()),
        insecure_enable: acs.insecure_enable,
        http_disable_100continue: acs.http_disable_100continue,
        idle_timeout: Duration::from_secs(u64::from(config.cpe.session_timeout)),
        credentials: (!acs.userid.is_empty()).then(|| Credentials {
            username: acs.userid.clone(),
            password: acs.passwd.as_str().to_owned(),
        }),
        ..HttpConfig::default()
    }
}

fn software_settings_of(config: &Config) -> SoftwareSettings {
    let cpe = &config.cpe;
    SoftwareSettings {
        install_command: cpe.du_install_command.clone(),
        update_command: cpe.du_update_command.clone(),
        uninstall_command: cpe.du_uninstall_command.clone(),
        list_command: cpe.du_list_command.clone(),
        command_timeout: Duration::from_secs(u64::from(cpe.du_command_timeout)),
    }
}

/// The highest CWMP version an amendment speaks (`cpe.amd_version`).
fn version_of_amendment(amendment: u32) -> CwmpVersion {
    match amendment {
        0 | 1 => CwmpVersion::V1_0,
        2 => CwmpVersion::V1_1,
        3 => CwmpVersion::V1_2,
        4 => CwmpVersion::V1_3,
        _ => CwmpVersion::V1_4,
    }
}

/// The kernel's identity of this boot: a change means the system rebooted.
fn kernel_boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// A random u32 for the retry back-off (0 if the OS has no randomness).
fn random_u32() -> u32 {
    crate::transport::random16().map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The SoftwareVersion the data model reports, if it has one.
fn software_version(dm: &mut DataModel) -> Option<String> {
    dm.inform_parameters()
        .into_iter()
        .find(|p| p.name.ends_with(".DeviceInfo.SoftwareVersion"))
        .map(|p| p.value)
}

/// Loads the transfer queue, notices firmware flashed outside CWMP, and
/// makes the event queue agree with the transfer results.
fn open_transfers(
    config: &Config,
    store: &Store,
    dm: &mut DataModel,
    agent: &mut Agent,
    acs_changed: bool,
    system_boot: bool,
) -> Result<Transfers, StartError> {
    let tokens = TransferTokens {
        http: tokens::TRANSFER_HTTP,
        ftp_control: tokens::TRANSFER_FTP_CONTROL,
        ftp_data: tokens::TRANSFER_FTP_DATA,
    };
    let (mut transfers, corrupt) = Transfers::open(
        TransferSettings::from_config(config),
        tokens,
        &config.cpe.state_dir,
        system_boot,
        clock::unix_now(),
    )
    .map_err(|e| StartError::Setup(format!("transfer client: {e}")))?;
    if let Some(e) = corrupt {
        error!("transfer queue unreadable, set aside and started empty: {e}");
    }
    if acs_changed {
        transfers.forget_acs_requests();
    }
    if let Some(version) = software_version(dm) {
        transfers.note_software_version(&version, system_boot);
    }
    let plan = transfers.reconcile(agent.queue());
    for event in plan.add {
        agent.trigger(event);
    }
    for (rpc, key) in plan.drop {
        agent.on_rpc_acknowledged(rpc, &key);
    }
    store
        .save_events(agent.queue())
        .map_err(|e| StartError::Io("saving events", e))?;
    Ok(transfers)
}

impl Daemon {
    /// Loads the configuration and state, sets up logging and signals, and
    /// queues the start events (BOOTSTRAP, BOOT, M Reboot).
    pub fn start(config_file: ConfigFile, options: DaemonOptions) -> Result<Daemon, StartError> {
        let config = config_file.load().map_err(StartError::Config)?;
        logging::apply(LogSettings::from_config(&config.cpe));
        let poll = Poll::new().map_err(|e| StartError::Io("poll", e))?;
        let (sender, mut signals) = pipe::new().map_err(|e| StartError::Io("signal pipe", e))?;
        sys::route_signals_to_pipe(
            std::os::fd::AsRawFd::as_raw_fd(&sender),
            &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1],
        )
        .map_err(|e| StartError::Io("signal handlers", e))?;
        poll.registry()
            .register(&mut signals, tokens::SIGNAL, Interest::READABLE)
            .map_err(|e| StartError::Io("signal pipe", e))?;
        info!("STARTING ICWMP with PID :{}", std::process::id());

        let store =
            Store::open(&config.cpe.state_dir).map_err(|e| StartError::Io("state directory", e))?;
        let (mut queue, corrupt) = store.load_events();
        if let Some(e) = corrupt {
            error!("pending events unreadable, started with none: {e}");
        }
        let boot_id = kernel_boot_id();
        let system_boot =
            options.boot_event || boot_id.is_none() || boot_id != store.read_text(names::BOOT_ID);
        if system_boot {
            queue.on_reboot();
        }
        let reboot_key = store.read_text(names::REBOOT_KEY);
        let last_bootstrap = store.read_text(names::BOOTSTRAP_URL);
        let url = config.acs.effective_url().to_owned();
        let start = start_events(&StartFacts {
            last_bootstrap_url: last_bootstrap.as_deref(),
            acs_url: &url,
            system_boot,
            reboot_command_key: reboot_key.as_deref(),
        });
        for event in start.events {
            queue.add(event);
        }
        store
            .save_events(&queue)
            .map_err(|e| StartError::Io("saving events", e))?;
        if let Some(id) = boot_id {
            store
                .write(names::BOOT_ID, id.as_bytes())
                .map_err(|e| StartError::Io("saving boot id", e))?;
        }
        store
            .remove(names::REBOOT_KEY)
            .map_err(|e| StartError::Io("clearing reboot key", e))?;

        let now = clock::unix_now();
        let mut agent = Agent::new(queue, periodic_of(&config), retry_policy_of(&config), now);
        if start.acs_changed {
            agent.forget_acs_requests();
        }
        if options.get_rpc_methods {
            agent.request_rpc_methods();
        }
        if config.acs.periodic_inform_enable {
            info!(
                "Periodic event is enabled. Interval period = {}s",
                config.acs.periodic_inform_interval
            );
        } else {
            info!("Periodic event is disabled");
        }
        let cwmp_store = Rc::new(RefCell::new(CwmpStore::new(config_file.clone())));
        let uci_dir = config_file
            .path
            .parent()
            .unwrap_or(std::path::Path::new("/etc/config"));
        let mut dm = setup::open(
            &config,
            setup::options_of(&config),
            &store.path(names::DATAMODEL),
            cwmp_store.clone(),
            uci_dir,
        )
        .map_err(StartError::Setup)?;
        // The first check records the values notifications compare against.
        dm.check_changes();
        let acs = AcsLink::new(http_config_of(&config), tokens::ACS)
            .map_err(|e| StartError::Setup(format!("ACS client: {e}")))?;
        let id = dm.device_id();
        let software = SoftwareManager::open(
            &config.cpe.state_dir,
            software_settings_of(&config),
            DeviceIdentity {
                oui: id.oui,
                serial_number: id.serial_number,
            },
        );
        let cpe_requests = CpeRequests::open(&config.cpe.state_dir);
        if let Err(e) = cpe_requests::write_pid(&config.cpe.state_dir) {
            warn!("cannot write the pid file: {e}");
        }
        let transfers = open_transfers(
            &config,
            &store,
            &mut dm,
            &mut agent,
            start.acs_changed,
            system_boot,
        )?;
        let mut ubus = UbusClient::new(UbusConfig::with_socket(&config.cpe.ubus_socket));
        ubus.register(poll.registry(), tokens::UBUS, clock::now());
        let mut daemon = Daemon {
            conn_request: None,
            conn_request_settings: None,
            ubus,
            wan_address: None,
            poll,
            config_file,
            config,
            signals,
            _signal_sender: sender,
            store,
            cwmp_store,
            dm,
            agent,
            acs,
            transfers,
            session_url: String::new(),
            changed_values: Vec::new(),
            lwn_pending: Vec::new(),
            deferred: Vec::new(),
            children: Vec::new(),
            timers: Timers::default(),
            flow: Flow::Continue,
            software,
            cpe_requests,
        };
        let queued: Vec<Event> = daemon.agent.queue().events().cloned().collect();
        let missing = daemon.software.missing_events(&queued);
        daemon.announce(missing);
        daemon.pick_up_cpe_requests();
        daemon.setup_conn_request();
        daemon.arm_value_check(clock::now());
        Ok(daemon)
    }

    /// (Re)binds the connection-request server when its settings changed.
    /// Without `cpe.userid` no request could be authenticated, so none is accepted.
    fn setup_conn_request(&mut self) {
        let cpe = &self.config.cpe;
        let settings = (cpe.port, cpe.userid.clone(), cpe.passwd.as_str().to_owned());
        if self.conn_request_settings.as_ref() == Some(&settings) {
            return;
        }
        self.conn_request = None;
        self.conn_request_settings = Some(settings.clone());
        let (port, username, password) = settings;
        if username.is_empty() {
            warn!("Connection requests disabled: cpe.userid is not set");
            return;
        }
        let config = ConnRequestConfig {
            port,
            credentials: Credentials { username, password },
            ..ConnRequestConfig::default()
        };
        match ConnRequestServer::bind(
            self.poll.registry(),
            &config,
            tokens::CR_LISTENER,
            tokens::CR_CLIENTS,
        ) {
            Ok(server) => {
                let bound = server.local_addr().map(|a| a.port()).unwrap_or(port);
                info!("Connection Request server initiated with the port: {bound}");
                self.cwmp_store
                    .borrow_mut()
                    .set_runtime("cpe", "port", Some(&bound.to_string()));
                self.conn_request = Some(server);
            }
            Err(e) => error!("Connection Request server on port {port}: {e}"),
        }
    }

    /// Runs until SIGTERM/SIGINT or an `exit` command.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        while self.flow == Flow::Continue {
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
                    token if self.conn_request.as_ref().is_some_and(|s| s.owns(token)) => {
                        let request = self.conn_request.as_mut().and_then(|server| {
                            server.handle_event(self.poll.registry(), event, now)
                        });
                        if let Some(request) = request {
                            self.on_connection_request(request.peer);
                        }
                    }
                    token if self.transfers.owns(token) => self.drive_transfers(Some(event), now),
                    other => warn!("event for unknown token {}", other.0),
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
        let conn_request = self
            .conn_request
            .as_ref()
            .and_then(ConnRequestServer::poll_at);
        let own = self.timers.next_deadline();
        [
            agent,
            self.acs.poll_at(),
            self.ubus.poll_at(),
            self.software.poll_at(now),
            transfers,
            conn_request,
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
        if let Some(server) = self
            .conn_request
            .as_mut()
            .filter(|s| s.poll_at().is_some_and(|t| t <= now))
        {
            server.handle_timeout(self.poll.registry(), now);
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
                    self.check_value_changes(clock::unix_now());
                    self.arm_value_check(now);
                }
                DaemonTimer::ReapChildren => self.reap_children(now),
            }
        }
        if self.flow == Flow::Stop || self.config.acs.effective_url().is_empty() {
            return;
        }
        let unix = clock::unix_now();
        let due = self.agent.take_due(unix);
        if due.check_notifications {
            self.check_value_changes(unix);
        }
        if due.start_session && !self.acs.busy() {
            self.start_session(now, unix);
        }
    }

    fn start_session(&mut self, now: Instant, unix: i64) {
        let url = self.config.acs.effective_url().to_owned();
        info!("Start session");
        info!("ACS url: {url}");
        let events = self.agent.begin_session(unix);
        if let Err(e) = self.store.save_events(self.agent.queue()) {
            error!("cannot persist events before the session: {e}");
        }
        info!("Preparing the Inform RPC message to send to the ACS");
        let mut parameter_list = self.dm.inform_parameters();
        for changed in std::mem::take(&mut self.changed_values) {
            if !parameter_list.iter().any(|p| p.name == changed.name) {
                parameter_list.push(changed);
            }
        }
        let id = self.dm.device_id();
        let inform = soap::Inform {
            device_id: soap::DeviceId {
                manufacturer: id.manufacturer,
                oui: id.oui,
                product_class: id.product_class,
                serial_number: id.serial_number,
            },
            events: events
                .iter()
                .map(|e| soap::Event {
                    event_code: e.code.as_str().to_owned(),
                    command_key: e.command_key.clone(),
                })
                .collect(),
            max_envelopes: 1,
            current_time: DateTime::from_unix(unix),
            retry_count: self.agent.retry_count(),
            parameter_list,
        };
        let mut cpe_requests = Vec::new();
        if self.agent.take_rpc_methods_request() {
            cpe_requests.push(Rpc::GetRpcMethods);
        }
        cpe_requests.extend(self.software.cpe_requests());
        cpe_requests.extend(self.cpe_requests.pending());
        cpe_requests.extend(self.transfers.reports());
        let opening = SessionOpening {
            url: url.clone(),
            inform,
            cpe_requests,
            version: version_of_amendment(self.config.cpe.amd_version),
            session_timeout: self.config.cpe.session_timeout,
        };
        self.session_url = url;
        if let Err(e) = self.acs.start(self.poll.registry(), opening, now) {
            self.end_session(Err(e.to_string()), unix);
        }
    }

    /// Drives the ACS link on readiness (`event`) or its timer.
    fn drive_acs(&mut self, event: Option<&mio::event::Event>, now: Instant) {
        let unix = clock::unix_now();
        let mut acks = Vec::new();
        let transfer_policy = self.transfers.policy();
        let mut handler = RequestHandler {
            dm: &mut self.dm,
            agent: &mut self.agent,
            now: unix,
            deferred: &mut self.deferred,
            acs_changed: false,
            software: &mut self.software,
            transfers: self.transfers.queue_mut(),
            transfer_policy,
        };
        let registry = self.poll.registry();
        let ended = match event {
            Some(event) => self
                .acs
                .handle_event(registry, event, now, &mut handler, &mut acks),
            None => self
                .acs
                .handle_timeout(registry, now, &mut handler, &mut acks),
        };
        // Accepted transfer requests are persisted at once.
        self.transfers.save();
        for ack in acks {
            self.acknowledged(ack);
        }
        if let Some(result) = ended {
            self.end_session(result.map_err(|e| e.to_string()), clock::unix_now());
        }
    }

    /// Drives the file transfers on readiness (`event`) or their timers;
    /// a finished transfer's events ask for a session.
    fn drive_transfers(&mut self, event: Option<&mio::event::Event>, now: Instant) {
        let unix = clock::unix_now();
        let registry = self.poll.registry();
        let events = match event {
            Some(event) => self.transfers.handle_event(registry, event, now, unix),
            None => self
                .transfers
                .handle_timeout(registry, now, unix, !self.acs.busy()),
        };
        if events.is_empty() {
            return;
        }
        for event in events {
            if !self.agent.trigger(event) {
                error!("event queue full: a transfer event was dropped");
            }
        }
        if let Err(e) = self.store.save_events(self.agent.queue()) {
            error!("cannot persist events after a transfer: {e}");
        }
    }

    fn acknowledged(&mut self, ack: Acknowledged) {
        match ack {
            Acknowledged::Inform => {
                let delivered = self.agent.on_inform_acknowledged();
                if delivered.iter().any(|e| e.code == EventCode::Bootstrap) {
                    if let Err(e) = self
                        .store
                        .write(names::BOOTSTRAP_URL, self.session_url.as_bytes())
                    {
                        error!("cannot record the bootstrapped ACS: {e}");
                    }
                }
            }
            Acknowledged::Request { request, .. } => {
                let owed = self.software.acknowledged(&request);
                self.cpe_requests.acknowledged(&request);
                self.transfers.acknowledged(&request);
                let completed = match *request {
                    Rpc::TransferComplete(tc) => {
                        Some((CompletionRpc::TransferComplete, tc.command_key))
                    }
                    Rpc::AutonomousTransferComplete(_) => {
                        Some((CompletionRpc::AutonomousTransferComplete, String::new()))
                    }
                    Rpc::DuStateChangeComplete(du) => {
                        Some((CompletionRpc::DuStateChangeComplete, du.command_key))
                    }
                    Rpc::AutonomousDuStateChangeComplete { .. } => Some((
                        CompletionRpc::AutonomousDuStateChangeComplete,
                        String::new(),
                    )),
                    Rpc::RequestDownload { .. } => {
                        Some((CompletionRpc::RequestDownload, String::new()))
                    }
                    Rpc::Kicked(_) => Some((CompletionRpc::Kicked, String::new())),
                    _ => None,
                };
                if let Some((rpc, key)) = completed {
                    self.agent.on_rpc_acknowledged(rpc, &key);
                }
                self.announce(owed);
            }
        }
        if let Err(e) = self.store.save_events(self.agent.queue()) {
            error!("cannot persist events after an acknowledgement: {e}");
        }
    }

    fn end_session(&mut self, result: Result<(), String>, unix: i64) {
        for request in self.acs.take_unsent() {
            if matches!(request, Rpc::GetRpcMethods) {
                self.agent.request_rpc_methods();
            }
        }
        match result {
            Ok(()) => {
                self.agent.end_session(SessionResult::Success, unix, 0);
                info!("End session");
            }
            Err(e) => {
                error!("Session failed: {e}");
                let wait = self
                    .agent
                    .end_session(SessionResult::Failure, unix, random_u32());
                if let Some(wait) = wait {
                    info!(
                        "Retry session in {wait}s (retry count {})",
                        self.agent.retry_count()
                    );
                }
            }
        }
        if let Err(e) = self.store.save_events(self.agent.queue()) {
            error!("cannot persist events after the session: {e}");
        }
        // Values the ACS set in this session are the new baseline, not changes to report.
        self.dm.check_changes();
        if self.cwmp_store.borrow_mut().take_changed() {
            self.reload();
        }
        for work in std::mem::take(&mut self.deferred) {
            self.run_deferred(work);
        }
        // Packages changed outside CWMP show up against the recorded inventory.
        self.software.refresh();
        info!("Waiting the next session");
    }

    fn run_deferred(&mut self, work: Deferred) {
        match work {
            Deferred::Reboot { command_key } => {
                if let Err(e) = self.store.write(names::REBOOT_KEY, command_key.as_bytes()) {
                    error!("cannot record the Reboot before rebooting: {e}");
                    return;
                }
                info!("Rebooting the device");
                let command = self.config.cpe.reboot_command.clone();
                self.spawn_shell(&command);
            }
            Deferred::FactoryReset => {
                info!("Resetting the device to factory defaults");
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

    /// Arms the periodic value-change check (`cpe.notification`, `cpe.value_check_interval`).
    fn arm_value_check(&mut self, now: Instant) {
        let interval = self.config.cpe.value_check_interval;
        if self.config.cpe.notification && interval > 0 {
            self.timers.set(
                DaemonTimer::ValueCheck,
                now + Duration::from_secs(u64::from(interval)),
            );
        } else {
            self.timers.cancel(DaemonTimer::ValueCheck);
        }
    }

    fn check_value_changes(&mut self, unix: i64) {
        if !self.config.cpe.notification {
            return;
        }
        let changes = self.dm.check_changes();
        if !changes.passive.is_empty() {
            self.agent.passive_value_changed();
        }
        if !changes.active.is_empty() {
            self.agent.value_changed(unix);
        }
        for changed in changes.passive.into_iter().chain(changes.active) {
            self.changed_values.retain(|p| p.name != changed.name);
            self.changed_values.push(changed);
        }
        for changed in changes
            .lightweight_passive
            .into_iter()
            .chain(changes.lightweight_active.iter().cloned())
        {
            self.lwn_pending.retain(|p| p.name != changed.name);
            self.lwn_pending.push(changed);
        }
        if !changes.lightweight_active.is_empty() {
            self.send_lightweight_notification(unix);
        }
    }

    /// Sends the pending lightweight changes to `lwn.hostname:lwn.port` (TR-069 Annex M).
    fn send_lightweight_notification(&mut self, unix: i64) {
        let lwn = &self.config.lwn;
        if !lwn.enable || lwn.hostname.is_empty() || lwn.port == 0 {
            return;
        }
        let id = self.dm.device_id();
        let cnonce = crate::transport::random16()
            .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            .unwrap_or_default();
        let header = crate::wire::lwn::Header {
            timestamp: unix,
            username: &self.config.acs.userid,
            cnonce: &cnonce,
            oui: &id.oui,
            product_class: &id.product_class,
            serial_number: &id.serial_number,
        };
        let datagram = match crate::wire::lwn::emit(&header, &self.lwn_pending) {
            Ok(d) => d,
            Err(e) => {
                error!("lightweight notification not sent: {e}");
                return;
            }
        };
        // Name resolution here blocks like the ACS client's (see http_client::resolve).
        let sent = std::net::ToSocketAddrs::to_socket_addrs(&(lwn.hostname.as_str(), lwn.port))
            .ok()
            .and_then(|mut addrs| addrs.next())
            .and_then(|addr| {
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = std::net::UdpSocket::bind(local).ok()?;
                socket.set_nonblocking(true).ok()?;
                socket.send_to(&datagram, addr).ok()
            });
        match sent {
            Some(_) => {
                info!(
                    "Lightweight notification sent to {}:{} ({} parameters)",
                    lwn.hostname,
                    lwn.port,
                    self.lwn_pending.len()
                );
                self.lwn_pending.clear();
            }
            None => warn!(
                "lightweight notification to {}:{} failed",
                lwn.hostname, lwn.port
            ),
        }
    }

    /// Queues the Inform events of software results and autonomous changes.
    fn announce(&mut self, events: Vec<SoftwareEvent>) {
        if events.is_empty() {
            return;
        }
        for event in events {
            if !self.agent.trigger(event.event()) {
                warn!("event queue full, software event dropped");
            }
        }
        if let Err(e) = self.store.save_events(self.agent.queue()) {
            error!("cannot persist events: {e}");
        }
    }

    /// Takes up Kicked/RequestDownload files the command line left (SIGUSR1, start).
    fn pick_up_cpe_requests(&mut self) {
        for code in self.cpe_requests.pick_up() {
            if !self.agent.trigger(Event::new(code)) {
                warn!("event queue full, CPE request event dropped");
            }
        }
        if let Err(e) = self.store.save_events(self.agent.queue()) {
            error!("cannot persist events: {e}");
        }
    }

    fn on_connection_request(&mut self, peer: std::net::SocketAddr) {
        info!("Connection Request from {peer}");
        if !self.agent.trigger(Event::new(EventCode::ConnectionRequest)) {
            warn!("event queue full, connection request dropped");
        }
    }

    fn on_ubus(&mut self, inputs: Vec<UbusInput>) {
        for input in inputs {
            match input {
                UbusInput::Registered => {
                    info!("ubus: tr069 object registered");
                    let wan = self.config.cpe.default_wan_interface.clone();
                    if !wan.is_empty() {
                        if let Err(e) = self.ubus.request_interface_status(&wan, clock::now()) {
                            warn!("ubus: cannot ask for network.interface.{wan}: {e}");
                        }
                    }
                }
                UbusInput::Disconnected => warn!("ubus: connection lost, reconnecting"),
                UbusInput::Call { handle, call } => {
                    let reply = self.on_tr069_call(call);
                    if let Err(e) = self.ubus.reply(handle, UbusStatus::Ok, reply) {
                        warn!("ubus: reply not sent: {e}");
                    }
                    if self.flow == Flow::Stop {
                        self.ubus.close(self.poll.registry());
                    }
                }
                UbusInput::InterfaceStatus {
                    interface, result, ..
                } => match result {
                    Ok(status) => self.set_wan_address(status.ipv4_address),
                    Err(e) => warn!("ubus: network.interface.{interface} status: {e}"),
                },
                UbusInput::InterfaceEvent { interface, action } => {
                    if interface == self.config.cpe.default_wan_interface {
                        info!("ubus: interface {interface} {action}");
                        if let Err(e) = self.ubus.request_interface_status(&interface, clock::now())
                        {
                            warn!("ubus: cannot ask for network.interface.{interface}: {e}");
                        }
                    }
                }
            }
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

    /// Re-reads the configuration file. A file that no longer parses is
    /// reported and the running configuration kept, so nothing is lost.
    pub fn reload(&mut self) {
        let config = match self.config_file.load() {
            Ok(config) => config,
            Err(e) => {
                error!("config reload failed, keeping the running configuration: {e}");
                return;
            }
        };
        logging::apply(LogSettings::from_config(&config.cpe));
        let unix = clock::unix_now();
        if config.acs.effective_url() != self.config.acs.effective_url() {
            // TR-069 3.2.1: a new ACS gets a BOOTSTRAP.
            self.agent.forget_acs_requests();
            self.transfers.forget_acs_requests();
            self.agent.trigger(Event::new(EventCode::Bootstrap));
        }
        self.agent
            .reconfigure(periodic_of(&config), retry_policy_of(&config), unix);
        self.dm.set_options(setup::options_of(&config));
        self.software.set_settings(software_settings_of(&config));
        self.cwmp_store.borrow_mut().refresh();
        self.transfers
            .reconfigure(TransferSettings::from_config(&config));
        if !self.acs.busy() {
            match AcsLink::new(http_config_of(&config), tokens::ACS) {
                Ok(link) => self.acs = link,
                Err(e) => error!("ACS client settings rejected, keeping the previous ones: {e}"),
            }
        }
        self.config = config;
        self.setup_conn_request();
        self.arm_value_check(clock::now());
        if let Err(e) = self.store.save_events(self.agent.queue()) {
            error!("cannot persist events: {e}");
        }
        info!("icwmpd config reloaded");
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

    #[test]
    fn amendments_map_to_versions() {
        assert_eq!(version_of_amendment(1), CwmpVersion::V1_0);
        assert_eq!(version_of_amendment(2), CwmpVersion::V1_1);
        assert_eq!(version_of_amendment(6), CwmpVersion::V1_4);
    }
}
