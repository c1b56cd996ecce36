//! Start-up: loads the configuration and state, builds every component and
//! queues the start events (BOOTSTRAP, BOOT, M Reboot).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use log::{error, info, warn};
use mio::unix::pipe;
use mio::{Interest, Poll};

#[cfg(feature = "bulkdata")]
use crate::bulkdata::collector::BulkDataCollector;
use crate::clock;
use crate::config::backends::CwmpStore;
use crate::config::{Compression, Config, ConfigFile};
use crate::cwmp::agent::Agent;
use crate::cwmp::conn_request_limit::ConnRequestLimit;
use crate::cwmp::cpe_requests::{self, CpeRequests};
use crate::cwmp::events::{start_events, Event, StartFacts};
use crate::cwmp::retry::RetryPolicy;
use crate::cwmp::schedule::PeriodicInform;
use crate::datamodel::engine::DataModel;
use crate::datamodel::runtime::RuntimeRefresh;
use crate::datamodel::setup;
#[cfg(feature = "diagnostics")]
use crate::diagnostics::{self, Diagnostics};
use crate::fsutil;
use crate::logging::{self, LogSettings};
use crate::service::{Service, Tokens};
use crate::slices;
use crate::software::manager::{SoftwareManager, SoftwareSettings};
use crate::software::vouchers::DeviceIdentity;
use crate::store::{names, Store};
use crate::sys;
use crate::timer::Timers;
use crate::transport::acs::AcsLink;
use crate::transport::conn_request::HttpConnRequests;
use crate::transport::http_client::HttpConfig;
#[cfg(feature = "stun")]
use crate::transport::stun::StunService;
use crate::transport::transfer::{TransferSettings, TransferTokens, Transfers};
#[cfg(feature = "twamp")]
use crate::transport::twamp::TwampReflectors;
use crate::transport::ubus::{UbusClient, UbusConfig};
#[cfg(feature = "udpecho")]
use crate::transport::udp_echo::UdpEchoServer;
#[cfg(feature = "xmpp")]
use crate::transport::xmpp::XmppConnRequests;
use crate::wire::content_coding::ContentCoding;
use crate::wire::digest::Credentials;

use super::{tokens, Daemon, DaemonOptions, Flow, StartError};

pub(super) fn periodic_of(config: &Config) -> PeriodicInform {
    PeriodicInform {
        enable: config.acs.periodic_inform_enable,
        interval_secs: config.acs.periodic_inform_interval,
        reference: PeriodicInform::reference_from_unix(config.acs.periodic_inform_time),
    }
}

pub(super) fn retry_policy_of(config: &Config) -> RetryPolicy {
    RetryPolicy {
        min_wait_secs: config.acs.retry_min_wait_interval,
        interval_multiplier: config.acs.retry_interval_multiplier,
    }
}

pub(super) fn http_config_of(config: &Config) -> HttpConfig {
    let acs = &config.acs;
    HttpConfig {
        ipv6_enable: acs.ipv6_enable,
        ssl_capath: (!acs.ssl_capath.is_empty()).then(|| acs.ssl_capath.clone().into()),
        insecure_enable: acs.insecure_enable,
        http_disable_100continue: acs.http_disable_100continue,
        idle_timeout: Duration::from_secs(u64::from(config.cpe.session_timeout)),
        // session_timeout bounds each exchange with the ACS as a whole, not
        // only the silences: a server dripping bytes cannot hold a session.
        exchange_timeout: Some(Duration::from_secs(u64::from(config.cpe.session_timeout))),
        credentials: (!acs.userid.is_empty()).then(|| Credentials {
            username: acs.userid.clone(),
            password: acs.passwd.as_str().to_owned(),
        }),
        // Without the `compression` feature no name maps to a coding.
        compression: match acs.compression {
            Compression::Disabled => None,
            Compression::Gzip => ContentCoding::from_name("GZIP"),
            Compression::Deflate => ContentCoding::from_name("Deflate"),
        },
        ..HttpConfig::default()
    }
}

pub(super) fn software_settings_of(config: &Config) -> SoftwareSettings {
    let cpe = &config.cpe;
    SoftwareSettings {
        install_command: cpe.du_install_command.clone(),
        update_command: cpe.du_update_command.clone(),
        uninstall_command: cpe.du_uninstall_command.clone(),
        list_command: cpe.du_list_command.clone(),
        command_timeout: Duration::from_secs(u64::from(cpe.du_command_timeout)),
    }
}

/// Appends the service `make` builds with the token range of its place in `services`.
pub(super) fn add_service(
    services: &mut Vec<Box<dyn Service>>,
    make: impl FnOnce(Tokens) -> Box<dyn Service>,
) {
    let tokens = Tokens::of_service(services.len());
    services.push(make(tokens));
}

/// The kernel's identity of this boot: a change means the system rebooted.
pub(super) fn kernel_boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The SoftwareVersion the data model reports, if it has one.
pub(super) fn software_version(dm: &mut DataModel) -> Option<String> {
    dm.inform_parameters()
        .into_iter()
        .find(|p| p.name.ends_with(".DeviceInfo.SoftwareVersion"))
        .map(|p| p.value)
}

/// Loads the transfer queue, notices firmware flashed outside CWMP, and
/// makes the event queue agree with the transfer results.
pub(super) fn open_transfers(
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
        // Writes a crash cut short leave temporary files, some holding credentials.
        let config_dir = config_file
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        let orphans = fsutil::remove_orphan_tmp_files(&config.cpe.state_dir, true)
            .into_iter()
            .chain(config_dir.map_or_else(Vec::new, |d| fsutil::remove_orphan_tmp_files(d, false)));
        for orphan in orphans {
            info!(
                "removed the temporary file of an interrupted write: {}",
                orphan.display()
            );
        }
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
        } else {
            let (informs, corrupt) = store.load_scheduled_informs();
            if let Some(e) = corrupt {
                error!("scheduled informs unreadable, set aside: {e}");
            }
            agent.restore_scheduled_informs(informs);
        }
        if options.get_rpc_methods {
            agent.request_rpc_methods();
        }
        if config.acs.periodic_inform_enable {
            info!(
                "Periodic event is enabled. Interval period = {}s",
                config.acs.periodic_inform_interval
            );
            match PeriodicInform::reference_from_unix(config.acs.periodic_inform_time) {
                Some(at) => info!("Periodic time is {}", crate::cwmp::datetime::format_utc(at)),
                None => info!("Periodic time is Unknown"),
            }
        } else {
            info!("Periodic event is disabled");
        }
        let cwmp_store = Rc::new(RefCell::new(CwmpStore::new(config_file.clone())));
        let uci_dir = config_file
            .path
            .parent()
            .unwrap_or(std::path::Path::new("/etc/config"));
        // The shares go to the services that use them (none in a minimal build).
        #[cfg_attr(
            not(any(feature = "bulkdata", feature = "twamp", feature = "udpecho")),
            allow(unused_variables)
        )]
        let (mut dm, shares) = setup::open(
            &config,
            setup::options_of(&config),
            &store.path(names::DATAMODEL),
            cwmp_store.clone(),
            uci_dir,
        )
        .map_err(StartError::Setup)?;
        super::left_out::log_ignored_settings(&config, &cwmp_store.borrow(), uci_dir);
        #[cfg(feature = "diagnostics")]
        let diagnostics = {
            let (board, interrupted) = diagnostics::Shared::open(&config.cpe.state_dir);
            crate::datamodel::diagnostics::register(&mut dm, board.clone())
                .map_err(|e| StartError::Setup(format!("diagnostics provider: {e}")))?;
            (board, interrupted)
        };
        // Notifications compare against the values of before the restart, so a
        // change made while the daemon was down is reported.
        let (notified, corrupt) = store.load_notified_values();
        if let Some(e) = corrupt {
            error!("notified values unreadable, set aside: {e}");
        }
        dm.restore_notification_baseline(notified.baseline);
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
        let conn_request_limit = Rc::new(RefCell::new(ConnRequestLimit::default()));
        let mut services: Vec<Box<dyn Service>> = Vec::new();
        add_service(&mut services, |tokens| {
            Box::new(HttpConnRequests::new(
                tokens,
                cwmp_store.clone(),
                conn_request_limit.clone(),
            ))
        });
        #[cfg(feature = "stun")]
        add_service(&mut services, |tokens| {
            Box::new(StunService::new(tokens, cwmp_store.clone()))
        });
        #[cfg(feature = "xmpp")]
        add_service(&mut services, |tokens| {
            Box::new(XmppConnRequests::new(
                tokens,
                cwmp_store.clone(),
                conn_request_limit.clone(),
            ))
        });
        #[cfg(feature = "twamp")]
        add_service(&mut services, |tokens| {
            Box::new(TwampReflectors::new(tokens, shares.reflectors.clone()))
        });
        #[cfg(feature = "udpecho")]
        add_service(&mut services, |tokens| {
            Box::new(UdpEchoServer::new(tokens, shares.reflectors.clone()))
        });
        #[cfg(feature = "diagnostics")]
        add_service(&mut services, |tokens| {
            let (board, interrupted) = diagnostics;
            Box::new(Diagnostics::new(tokens, board, interrupted))
        });
        #[cfg(feature = "bulkdata")]
        if let Some(store) = shares.bulkdata {
            add_service(&mut services, |tokens| {
                Box::new(BulkDataCollector::new(tokens, store))
            });
        }
        slices::install(services.iter().filter_map(|s| s.urgent()).collect());
        let uci_dir = uci_dir.to_path_buf();
        let mut daemon = Daemon {
            services,
            conn_request_limit,
            uci_dir,
            ubus,
            runtime_refresh: RuntimeRefresh::default(),
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
            changed_values: notified.pending,
            inform_changes: Vec::new(),
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
        daemon.configure_services();
        // Compared once the services run: the connection-request port is bound
        // (an ephemeral one is part of ConnectionRequestURL).
        let initial_changes = daemon.dm.check_changes();
        daemon.arm_value_check(clock::now());
        daemon.arm_lightweight_trigger(clock::now(), clock::unix_now());
        daemon.persist_schedule();
        if !daemon.changed_values.is_empty() {
            // Changes detected before the restart ride on the next Inform.
            daemon.agent.passive_value_changed();
        }
        if daemon.config.cpe.notification {
            daemon.on_value_changes(initial_changes, clock::unix_now());
        }
        daemon.persist_notified_values();
        Ok(daemon)
    }
}
