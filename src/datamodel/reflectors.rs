//! The reflectors' data model and UCI mapping: `Device.IP.Interface.{i}.TWAMPReflector.{i}.` (UCI package `twamp`) and `UDPEchoConfig.` (UCI package `udpechoserver`), with the run-time state their services share.
//!
//! The UCI option names follow icwmp's: `config twamp_reflector` sections
//! with `enable`, `interface`, `port`, `max_ttl`, `ip_list`, `port_list`,
//! `twamp_inst` (instance number) and `twamp_alias`; the named section
//! `udpechoserver.udpechoserver` with `enable`, `interface`, `address`,
//! `server_port` and `plus`. `interface` holds the IP interface's Name.
//! Writes are committed to the package at once; the services pick them up
//! after the session (or a reload).

use std::cell::RefCell;
use std::net::IpAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::backends::{stamp_of, FileStamp, UciDir};
use crate::cwmp::datetime;
use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{SharedUci, UciBackend};
use crate::datamodel::engine::{DataModel, RegisterError};
use crate::datamodel::host;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::schema::ModelKind;
use crate::vecmap::VecMap;
use crate::wire::allowed_list::AllowedSources;

pub const TWAMP_PACKAGE: &str = "twamp";
pub const TWAMP_SECTION_TYPE: &str = "twamp_reflector";
pub const ECHO_PACKAGE: &str = "udpechoserver";
pub const ECHO_SECTION: &str = "udpechoserver";
/// TR-390's default TWAMP port.
pub const TWAMP_DEFAULT_PORT: u16 = 862;
/// The echo port of RFC 862, when `server_port` is not set.
pub const ECHO_DEFAULT_PORT: u16 = 7;

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

/// One `twamp_reflector` section, as the reflector service uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwampSettings {
    pub section: String,
    pub enable: bool,
    /// The IP interface's Name.
    pub interface: String,
    pub port: u16,
    pub maximum_ttl: u8,
    /// The allowed lists, or why they do not parse.
    pub allowed: Result<AllowedSources, String>,
}

fn flag(value: Option<String>, default: bool) -> bool {
    match value.as_deref() {
        Some("1" | "true" | "on" | "yes" | "enabled") => true,
        Some("0" | "false" | "off" | "no" | "disabled") => false,
        _ => default,
    }
}

/// Every `twamp_reflector` section of the `twamp` package.
pub fn twamp_settings(uci: &dyn UciBackend) -> Vec<TwampSettings> {
    uci.sections(TWAMP_PACKAGE)
        .into_iter()
        .filter(|s| s.section_type == TWAMP_SECTION_TYPE)
        .map(|s| {
            crate::slices::pause_point();
            let get = |option: &str| uci.get(TWAMP_PACKAGE, &s.name, option);
            TwampSettings {
                enable: flag(get("enable"), true),
                interface: get("interface").unwrap_or_default(),
                port: get("port")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(TWAMP_DEFAULT_PORT),
                maximum_ttl: get("max_ttl")
                    .and_then(|t| t.parse().ok())
                    .filter(|t| *t >= 1)
                    .unwrap_or(1),
                allowed: AllowedSources::parse(
                    &get("ip_list").unwrap_or_default(),
                    &get("port_list").unwrap_or_default(),
                )
                .map_err(|e| e.to_string()),
                section: s.name,
            }
        })
        .collect()
}

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

/// Registers the TWAMPReflector (TR-181) and UDPEchoConfig providers over
/// the UCI packages in `uci_dir`; returns the state the services update.
pub fn register(
    dm: &mut DataModel,
    uci_dir: &std::path::Path,
) -> Result<SharedReflectorState, RegisterError> {
    let state = SharedReflectorState::default();
    let uci: SharedUci = Rc::new(RefCell::new(UciDir::new(uci_dir)));
    match dm.schema().kind() {
        ModelKind::Tr181 => {
            dm.register(
                &[
                    "Device.IP.Interface.{i}.TWAMPReflector.",
                    "Device.IP.Interface.{i}.TWAMPReflectorNumberOfEntries",
                ],
                Box::new(TwampProvider {
                    uci: uci.clone(),
                    file: uci_dir.join(TWAMP_PACKAGE),
                    rows: Vec::new(),
                    stamp: None,
                    interfaces: None,
                    numbering: VecMap::new(),
                    state: state.clone(),
                    staged: Vec::new(),
                }),
            )?;
            dm.register(
                &["Device.IP.Diagnostics.UDPEchoConfig."],
                Box::new(EchoProvider {
                    uci,
                    state: state.clone(),
                    staged: Vec::new(),
                    tr181: true,
                }),
            )?;
        }
        ModelKind::Tr098 => dm.register(
            &["InternetGatewayDevice.UDPEchoConfig."],
            Box::new(EchoProvider {
                uci,
                state: state.clone(),
                staged: Vec::new(),
                tr181: false,
            }),
        )?,
    }
    Ok(state)
}

/// Splits `….Interface.<n>.TWAMPReflector<rest>` into n and rest.
fn twamp_path(path: &str) -> Option<(u32, &str)> {
    let (_, tail) = path.split_once(".IP.Interface.")?;
    let (number, rest) = tail.split_once('.')?;
    Some((number.parse().ok()?, rest.strip_prefix("TWAMPReflector")?))
}

/// Options of a `twamp_reflector` section the provider reads.
const TWAMP_READ_OPTIONS: [&str; 8] = [
    "enable",
    "interface",
    "port",
    "max_ttl",
    "ip_list",
    "port_list",
    "twamp_inst",
    "twamp_alias",
];

/// How long the list of IP interfaces is reused between reads of /sys.
const INTERFACE_LIST_LIFETIME: Duration = Duration::from_secs(1);

/// One `twamp_reflector` section as last read.
struct Row {
    section: String,
    /// Values of [`TWAMP_READ_OPTIONS`], in that order.
    options: [Option<String>; 8],
}

impl Row {
    fn get(&self, option: &str) -> Option<String> {
        let index = TWAMP_READ_OPTIONS.iter().position(|o| *o == option)?;
        self.options.get(index)?.clone()
    }
}

/// Serves `Device.IP.Interface.{i}.TWAMPReflector.{i}.` from UCI `twamp`.
///
/// The package is read once per change of its file (a GetParameterValues of
/// many reflectors must not parse it once per value).
struct TwampProvider {
    uci: SharedUci,
    file: PathBuf,
    rows: Vec<Row>,
    stamp: Option<FileStamp>,
    interfaces: Option<(Instant, Vec<host::NetInterface>)>,
    /// `numbered` per IP interface, for the rows and interfaces as read now.
    numbering: VecMap<u32, Vec<(u32, usize)>>,
    state: SharedReflectorState,
    /// (section, option, value) to write on commit.
    staged: Vec<(String, String, String)>,
}

impl TwampProvider {
    fn refresh(&mut self) {
        let stamp = stamp_of(&self.file);
        if stamp.is_some() && stamp == self.stamp {
            return;
        }
        let uci = self.uci.borrow();
        self.rows = uci
            .sections(TWAMP_PACKAGE)
            .into_iter()
            .filter(|s| s.section_type == TWAMP_SECTION_TYPE)
            .inspect(|_| crate::slices::pause_point())
            .map(|s| Row {
                options: TWAMP_READ_OPTIONS.map(|o| uci.get(TWAMP_PACKAGE, &s.name, o)),
                section: s.name,
            })
            .collect();
        self.stamp = stamp;
        self.numbering.clear();
    }

    fn interface_name(&mut self, number: u32) -> Option<String> {
        let now = Instant::now();
        let fresh = self
            .interfaces
            .as_ref()
            .is_some_and(|(at, _)| now.duration_since(*at) < INTERFACE_LIST_LIFETIME);
        if !fresh {
            self.interfaces = Some((now, host::net_interfaces()));
            self.numbering.clear();
        }
        let (_, list) = self.interfaces.as_ref()?;
        list.iter()
            .find(|i| i.ifindex == number)
            .map(|i| i.name.clone())
    }

    /// The reflector rows of IP interface `interface`, with their instance
    /// numbers: `twamp_inst` where set, else numbers after the highest, in file order.
    fn numbered(&mut self, interface: u32) -> Vec<(u32, usize)> {
        self.number_rows(interface);
        self.numbering.get(&interface).cloned().unwrap_or_default()
    }

    /// Fills `numbering` for `interface` unless it is current.
    fn number_rows(&mut self, interface: u32) {
        let Some(name) = self.interface_name(interface) else {
            self.numbering.remove(&interface);
            return;
        };
        self.refresh();
        if self.numbering.contains_key(&interface) {
            return;
        }
        let rows: Vec<(Option<u32>, usize)> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.get("interface").as_deref() == Some(name.as_str()))
            .map(|(i, r)| {
                let number = r
                    .get("twamp_inst")
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0);
                (number, i)
            })
            .collect();
        let mut next = rows.iter().filter_map(|(n, _)| *n).max().unwrap_or(0);
        let mut taken = std::collections::HashSet::with_capacity(rows.len());
        let mut out: Vec<(u32, usize)> = Vec::with_capacity(rows.len());
        for (number, row) in rows {
            let number = match number {
                Some(n) if taken.insert(n) => n,
                _ => {
                    next += 1;
                    taken.insert(next);
                    next
                }
            };
            out.push((number, row));
        }
        out.sort_unstable();
        self.numbering.insert(interface, out);
    }

    fn row_of(&mut self, interface: u32, instance: u32) -> Option<&Row> {
        self.number_rows(interface);
        let numbered = self.numbering.get(&interface)?;
        let at = numbered.binary_search_by_key(&instance, |(n, _)| *n).ok()?;
        let index = numbered.get(at)?.1;
        self.rows.get(index)
    }

    fn section_of(&mut self, interface: u32, instance: u32) -> Option<String> {
        self.row_of(interface, instance).map(|r| r.section.clone())
    }

    /// (interface, instance, parameter) of a parameter path.
    fn parts(path: &str) -> Option<(u32, u32, &str)> {
        let (interface, rest) = twamp_path(path)?;
        let (instance, param) = rest.strip_prefix('.')?.split_once('.')?;
        Some((interface, instance.parse().ok()?, param))
    }
}

const TWAMP_OPTIONS: [(&str, &str); 6] = [
    ("Enable", "enable"),
    ("Alias", "twamp_alias"),
    ("Port", "port"),
    ("MaximumTTL", "max_ttl"),
    ("IPAllowedList", "ip_list"),
    ("PortAllowedList", "port_list"),
];

fn commit_package(uci: &SharedUci, package: &str) -> Result<ApplyStatus, Fault> {
    uci.borrow_mut().commit(package).map_err(|e| {
        log::error!("{package}: {e}");
        Fault::new(FaultCode::InternalError)
    })?;
    Ok(ApplyStatus::Applied)
}

impl Provider for TwampProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (interface, rest) = twamp_path(path)?;
        if rest == "NumberOfEntries" {
            return Some(self.numbered(interface).len().to_string());
        }
        let (_, instance, param) = Self::parts(path)?;
        let state = self.state.clone();
        let row = self.row_of(interface, instance)?;
        let get = |option: &str| row.get(option);
        Some(match param {
            "Enable" => if flag(get("enable"), true) { "1" } else { "0" }.to_owned(),
            "Status" => {
                if !flag(get("enable"), true) {
                    "Disabled".to_owned()
                } else {
                    match state.borrow().twamp.get(&row.section) {
                        Some(RunState::Active) => "Active",
                        Some(RunState::Error(_)) => "Error",
                        None => "Disabled",
                    }
                    .to_owned()
                }
            }
            "Alias" => get("twamp_alias")
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| format!("cpe-{instance}")),
            "Port" => get("port")
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(TWAMP_DEFAULT_PORT)
                .to_string(),
            "MaximumTTL" => get("max_ttl")
                .and_then(|t| t.parse::<u8>().ok())
                .filter(|t| *t >= 1)
                .unwrap_or(1)
                .to_string(),
            "IPAllowedList" => get("ip_list").unwrap_or_default().replace(' ', ","),
            "PortAllowedList" => get("port_list").unwrap_or_default().replace(' ', ","),
            _ => return None,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        match twamp_path(table) {
            Some((interface, ".")) => self
                .numbered(interface)
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            _ => Vec::new(),
        }
    }

    fn writable(&self, path: &str) -> bool {
        Self::parts(path).is_some_and(|(_, _, p)| TWAMP_OPTIONS.iter().any(|(name, _)| *name == p))
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (interface, instance, param) =
            Self::parts(path).ok_or(FaultCode::InvalidParameterName)?;
        let option = TWAMP_OPTIONS
            .iter()
            .find(|(name, _)| *name == param)
            .map(|(_, option)| *option)
            .ok_or(FaultCode::NonWritableParameter)?;
        let valid = match param {
            "IPAllowedList" => AllowedSources::parse(value, "").is_ok(),
            "PortAllowedList" => AllowedSources::parse("", value).is_ok(),
            _ => true,
        };
        if !valid {
            return Err(FaultCode::InvalidParameterValue);
        }
        let section = self
            .section_of(interface, instance)
            .ok_or(FaultCode::InvalidParameterName)?;
        self.staged
            .push((section, option.to_owned(), value.to_owned()));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        if self.staged.is_empty() {
            return Ok(ApplyStatus::Applied);
        }
        for (section, option, value) in std::mem::take(&mut self.staged) {
            self.uci
                .borrow_mut()
                .set(TWAMP_PACKAGE, &section, &option, &value)
                .map_err(|e| Fault::with_text(FaultCode::InternalError, e))?;
        }
        commit_package(&self.uci, TWAMP_PACKAGE)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }

    /// A reflector can be added on any IP interface that exists.
    fn creatable(&self, table: &str) -> bool {
        twamp_path(table).is_some_and(|(interface, _)| ip_interface_name(interface).is_some())
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        let (interface, _) = twamp_path(table).ok_or(FaultCode::InvalidParameterName)?;
        let name = ip_interface_name(interface).ok_or(FaultCode::InvalidParameterName)?;
        let number = number.to_string();
        let mut options = vec![
            ("twamp_inst", number.as_str()),
            ("enable", "0"),
            ("interface", name.as_str()),
            ("port", "862"),
            ("max_ttl", "1"),
        ];
        if let Some(alias) = alias {
            options.push(("twamp_alias", alias));
        }
        {
            let mut uci = self.uci.borrow_mut();
            let section = uci
                .add_section(TWAMP_PACKAGE, TWAMP_SECTION_TYPE)
                .map_err(|_| FaultCode::InternalError)?;
            for (option, value) in options {
                uci.set(TWAMP_PACKAGE, &section, option, value)
                    .map_err(|_| FaultCode::InternalError)?;
            }
        }
        commit_package(&self.uci, TWAMP_PACKAGE).map_err(|f| f.code)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let (interface, number, _) =
            Self::parts(&format!("{instance}x")).ok_or(FaultCode::InvalidParameterName)?;
        let section = self
            .section_of(interface, number)
            .ok_or(FaultCode::InvalidParameterName)?;
        self.uci
            .borrow_mut()
            .delete_section(TWAMP_PACKAGE, &section)
            .map_err(|_| FaultCode::InternalError)?;
        commit_package(&self.uci, TWAMP_PACKAGE).map_err(|f| f.code)
    }
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
        uci.add(
            TWAMP_PACKAGE,
            TWAMP_SECTION_TYPE,
            "",
            &[
                ("interface", "lo"),
                ("port", "20000"),
                ("max_ttl", "2"),
                ("ip_list", "127.0.0.1 10.0.0.0/8"),
                ("port_list", "1-2"),
            ],
        );
        uci.add(
            TWAMP_PACKAGE,
            TWAMP_SECTION_TYPE,
            "",
            &[("enable", "0"), ("ip_list", "x")],
        );
        let all = twamp_settings(&uci);
        assert_eq!(all.len(), 2);
        assert!(all[0].enable);
        assert_eq!((all[0].port, all[0].maximum_ttl), (20000, 2));
        assert_eq!(all[0].allowed.as_ref().map(|a| a.addresses.len()), Ok(2));
        assert!(!all[1].enable);
        assert_eq!(all[1].port, TWAMP_DEFAULT_PORT);
        assert!(all[1].allowed.is_err());

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
