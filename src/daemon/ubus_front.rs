//! The ubus front: the `tr069` object's calls and status report, and the WAN
//! address and run-time state asked from ubus.

use log::{info, warn};

use crate::clock;
use crate::cwmp::agent::SessionResult;
use crate::cwmp::events::{Event, EventCode};
use crate::sys;
use crate::transport::ubus::{self as ubus, Tr069Call, Tr069Command, UbusInput};
use crate::wire::blobmsg::Value;
use crate::wire::ubus::UbusStatus;

use super::{Daemon, Flow};

impl Daemon {
    pub(super) fn on_ubus(&mut self, inputs: Vec<UbusInput>) {
        for input in inputs {
            match input {
                UbusInput::Registered => {
                    info!("ubus: tr069 object registered");
                    self.refresh_runtime();
                    let wan = self.config.cpe.default_wan_interface.clone();
                    if !wan.is_empty() {
                        if let Err(e) = self.ubus.request_interface_status(&wan, clock::now()) {
                            warn!("ubus: cannot ask for network.interface.{wan}: {e}");
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
                        warn!("ubus: reply not sent: {e}");
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

    /// Asks ubus for the run-time state the data model serves (when it serves any).
    pub(super) fn refresh_runtime(&mut self) {
        if self.dm.runtime_state().is_some() && self.ubus.is_registered() {
            self.runtime_refresh.start(&mut self.ubus, clock::now());
        }
    }

    /// A new WAN address changes ConnectionRequestURL, which the ACS must learn (4 VALUE CHANGE).
    pub(super) fn set_wan_address(&mut self, address: Option<String>) {
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
    pub(super) fn on_tr069_call(&mut self, call: Tr069Call) -> Value {
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
                self.persist_events("");
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

    pub(super) fn inform_accepted(&self) -> Value {
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
}
