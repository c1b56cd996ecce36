//! `UDPEchoConfig.` (TR-181 `Device.IP.Diagnostics.`, TR-098 the root) over the UCI package `udpechoserver`.
//!
//! The UCI option names follow icwmp's: the named section
//! `udpechoserver.udpechoserver` with `enable`, `interface`, `address`,
//! `server_port` and `plus`. `interface` holds the IP interface's Name.

use std::net::IpAddr;

use super::{commit_package, flag, ip_interface_name, ip_interface_number, SharedReflectorState};
use crate::cwmp::datetime;
use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{SharedUci, UciBackend};
use crate::datamodel::engine::{DataModel, RegisterError};
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::schema::ModelKind;

pub const ECHO_PACKAGE: &str = "udpechoserver";
pub const ECHO_SECTION: &str = "udpechoserver";
/// The echo port of RFC 862, when `server_port` is not set.
pub const ECHO_DEFAULT_PORT: u16 = 7;

/// The `udpechoserver` section, as the echo service uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoSettings {
    pub enable: bool,
    /// The IP interface's Name; empty: every interface.
    pub interface: String,
    /// The only source answered; `None`: any.
    pub source: Option<IpAddr>,
    pub port: u16,
    pub echo_plus: bool,
}

/// The echo server's section: the one named `udpechoserver`, else the first of that type.
fn echo_section(uci: &dyn UciBackend) -> Option<String> {
    let sections = uci.sections(ECHO_PACKAGE);
    sections
        .iter()
        .find(|s| s.name == ECHO_SECTION)
        .or_else(|| sections.iter().find(|s| s.section_type == ECHO_SECTION))
        .map(|s| s.name.clone())
}

pub fn echo_settings(uci: &dyn UciBackend) -> EchoSettings {
    let section = echo_section(uci);
    let get = |option: &str| uci.get(ECHO_PACKAGE, section.as_deref()?, option);
    EchoSettings {
        enable: flag(get("enable"), false),
        interface: get("interface").unwrap_or_default(),
        source: get("address").and_then(|a| a.parse().ok()),
        port: get("server_port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(ECHO_DEFAULT_PORT),
        echo_plus: flag(get("plus"), false),
    }
}

/// Registers the UDPEchoConfig provider of either model.
pub(super) fn register(
    dm: &mut DataModel,
    uci: SharedUci,
    state: &SharedReflectorState,
) -> Result<(), RegisterError> {
    let (prefix, tr181) = match dm.schema().kind() {
        ModelKind::Tr181 => ("Device.IP.Diagnostics.UDPEchoConfig.", true),
        ModelKind::Tr098 => ("InternetGatewayDevice.UDPEchoConfig.", false),
    };
    dm.register(
        &[prefix],
        Box::new(EchoProvider {
            uci,
            state: state.clone(),
            staged: Vec::new(),
            tr181,
        }),
    )
}

/// Serves `UDPEchoConfig.` (TR-181 `Device.IP.Diagnostics.`, TR-098 the root) from UCI `udpechoserver`.
struct EchoProvider {
    uci: SharedUci,
    state: SharedReflectorState,
    staged: Vec<(&'static str, String)>,
    tr181: bool,
}

/// `YYYY-MM-DDThh:mm:ss.uuuuuuZ`, or the Unknown Time.
fn micro_datetime(time: Option<(i64, u32)>) -> String {
    match time {
        None => datetime::format_utc(0).replace("1970-01-01", "0001-01-01"),
        Some((secs, nanos)) => {
            let whole = datetime::format_utc(secs);
            let stem = whole.strip_suffix('Z').unwrap_or(&whole);
            format!("{stem}.{:06}Z", nanos / 1_000)
        }
    }
}

const ECHO_OPTIONS: [(&str, &str); 5] = [
    ("Enable", "enable"),
    ("Interface", "interface"),
    ("SourceIPAddress", "address"),
    ("UDPPort", "server_port"),
    ("EchoPlusEnabled", "plus"),
];

impl Provider for EchoProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (_, param) = path.split_once(".UDPEchoConfig.")?;
        let settings = echo_settings(&*self.uci.borrow());
        let bool_text = |b: bool| if b { "1" } else { "0" }.to_owned();
        let counters = self.state.borrow().echo;
        Some(match param {
            "Enable" => bool_text(settings.enable),
            "Interface" => {
                if settings.interface.is_empty() || !self.tr181 {
                    settings.interface
                } else {
                    ip_interface_number(&settings.interface)
                        .map(|n| format!("Device.IP.Interface.{n}"))
                        .unwrap_or_default()
                }
            }
            "SourceIPAddress" => settings.source.map(|a| a.to_string()).unwrap_or_default(),
            "UDPPort" => settings.port.to_string(),
            "EchoPlusEnabled" => bool_text(settings.echo_plus),
            "EchoPlusSupported" => bool_text(true),
            "PacketsReceived" => counters.packets_received.to_string(),
            "PacketsResponded" => counters.packets_responded.to_string(),
            "BytesReceived" => counters.bytes_received.to_string(),
            "BytesResponded" => counters.bytes_responded.to_string(),
            "TimeFirstPacketReceived" => micro_datetime(counters.first_received),
            "TimeLastPacketReceived" => micro_datetime(counters.last_received),
            _ => return None,
        })
    }

    fn writable(&self, path: &str) -> bool {
        path.split_once(".UDPEchoConfig.")
            .is_some_and(|(_, p)| ECHO_OPTIONS.iter().any(|(name, _)| *name == p))
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (_, param) = path
            .split_once(".UDPEchoConfig.")
            .ok_or(FaultCode::InvalidParameterName)?;
        let option = ECHO_OPTIONS
            .iter()
            .find(|(name, _)| *name == param)
            .map(|(_, option)| *option)
            .ok_or(FaultCode::NonWritableParameter)?;
        let stored = match param {
            // A reference to an IP interface (TR-181 only), stored as its Name.
            "Interface" if value.is_empty() => String::new(),
            "Interface" if self.tr181 => value
                .trim_end_matches('.')
                .strip_prefix("Device.IP.Interface.")
                .and_then(|n| n.parse().ok())
                .and_then(ip_interface_name)
                .ok_or(FaultCode::InvalidParameterValue)?,
            "Interface" => return Err(FaultCode::InvalidParameterValue),
            "SourceIPAddress" if !value.is_empty() && value.parse::<IpAddr>().is_err() => {
                return Err(FaultCode::InvalidParameterValue)
            }
            "UDPPort" if value.parse::<u16>().map_or(true, |p| p == 0) => {
                return Err(FaultCode::InvalidParameterValue)
            }
            _ => value.to_owned(),
        };
        self.staged.push((option, stored));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        if self.staged.is_empty() {
            return Ok(ApplyStatus::Applied);
        }
        {
            let mut uci = self.uci.borrow_mut();
            let section = match echo_section(&*uci) {
                Some(section) => section,
                None => uci
                    .add_section(ECHO_PACKAGE, ECHO_SECTION)
                    .map_err(|e| Fault::with_text(FaultCode::InternalError, e))?,
            };
            for (option, value) in std::mem::take(&mut self.staged) {
                uci.set(ECHO_PACKAGE, &section, option, &value)
                    .map_err(|e| Fault::with_text(FaultCode::InternalError, e))?;
            }
        }
        commit_package(&self.uci, ECHO_PACKAGE)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::config::MemoryUci;

    #[test]
    fn settings_read_icwmp_options_with_defaults() {
        let mut uci = MemoryUci::default();
        assert_eq!(echo_settings(&uci).port, ECHO_DEFAULT_PORT);
        assert!(!echo_settings(&uci).enable);
        uci.add(
            ECHO_PACKAGE,
            ECHO_SECTION,
            ECHO_SECTION,
            &[
                ("enable", "1"),
                ("address", "127.0.0.1"),
                ("server_port", "7007"),
                ("plus", "1"),
            ],
        );
        let echo = echo_settings(&uci);
        assert!(echo.enable && echo.echo_plus);
        assert_eq!(echo.port, 7007);
        assert_eq!(echo.source, Some("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn times_have_microseconds_and_an_unknown_form() {
        assert_eq!(micro_datetime(None), "0001-01-01T00:00:00Z");
        assert_eq!(
            micro_datetime(Some((1_207_753_265, 123_456_789))),
            "2008-04-09T15:01:05.123456Z"
        );
    }
}
