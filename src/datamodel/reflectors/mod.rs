//! The reflectors' data model and UCI mapping: `Device.IP.Interface.{i}.TWAMPReflector.{i}.` (UCI package `twamp`, `twamp` feature) and `UDPEchoConfig.` (UCI package `udpechoserver`, `udpecho` feature), with the run-time state their services share.
//!
//! Writes are committed to the package at once; the services pick them up
//! after the session (or a reload).

use std::cell::RefCell;
use std::rc::Rc;

use crate::config::backends::UciDir;
use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::SharedUci;
use crate::datamodel::engine::{DataModel, RegisterError};
use crate::datamodel::host;
use crate::datamodel::provider::ApplyStatus;
use crate::vecmap::VecMap;

#[cfg(feature = "udpecho")]
mod echo;
#[cfg(feature = "twamp")]
mod twamp;

#[cfg(feature = "udpecho")]
pub use echo::{echo_settings, EchoSettings, ECHO_DEFAULT_PORT, ECHO_PACKAGE, ECHO_SECTION};
#[cfg(feature = "twamp")]
pub use twamp::{
    twamp_settings, TwampSettings, TWAMP_DEFAULT_PORT, TWAMP_PACKAGE, TWAMP_SECTION_TYPE,
};

/// The Name of IP interface instance `number`: the IP.Interface provider
/// numbers kernel interfaces by ifindex (`host::IpProvider`), and this
/// follows it.
pub fn ip_interface_name(number: u32) -> Option<String> {
    host::net_interfaces()
        .into_iter()
        .find(|i| i.ifindex == number)
        .map(|i| i.name)
}

/// The IP interface instance number of an interface Name.
pub fn ip_interface_number(name: &str) -> Option<u32> {
    host::net_interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .map(|i| i.ifindex)
}

/// What a reflector is doing, for its Status parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    Active,
    /// Enabled but not running: the reason (port in use, no address, bad list).
    Error(String),
}

/// UDP echo counters (TR-143 UDPEchoConfig), cleared when the server is enabled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EchoCounters {
    pub packets_received: u32,
    pub packets_responded: u32,
    pub bytes_received: u32,
    pub bytes_responded: u32,
    /// Kernel receive times (unix seconds, nanoseconds).
    pub first_received: Option<(i64, u32)>,
    pub last_received: Option<(i64, u32)>,
}

/// Run-time state the services publish and the providers read.
#[derive(Debug, Default)]
pub struct ReflectorState {
    /// TWAMP reflectors by UCI section name; absent: not running (Disabled).
    pub twamp: VecMap<String, RunState>,
    pub echo: EchoCounters,
}

pub type SharedReflectorState = Rc<RefCell<ReflectorState>>;

fn flag(value: Option<String>, default: bool) -> bool {
    match value.as_deref() {
        Some("1" | "true" | "on" | "yes" | "enabled") => true,
        Some("0" | "false" | "off" | "no" | "disabled") => false,
        _ => default,
    }
}

fn commit_package(uci: &SharedUci, package: &str) -> Result<ApplyStatus, Fault> {
    uci.borrow_mut().commit(package).map_err(|e| {
        log::error!("{package}: {e}");
        Fault::new(FaultCode::InternalError)
    })?;
    Ok(ApplyStatus::Applied)
}

/// Registers the TWAMPReflector (TR-181) and UDPEchoConfig providers this
/// build has over the UCI packages in `uci_dir`; returns the state the services update.
pub fn register(
    dm: &mut DataModel,
    uci_dir: &std::path::Path,
) -> Result<SharedReflectorState, RegisterError> {
    let state = SharedReflectorState::default();
    let uci: SharedUci = Rc::new(RefCell::new(UciDir::new(uci_dir)));
    #[cfg(feature = "twamp")]
    twamp::register(dm, uci.clone(), uci_dir, &state)?;
    #[cfg(feature = "udpecho")]
    echo::register(dm, uci, &state)?;
    Ok(state)
}
