//! `Device.IP.Interface.{i}.TWAMPReflector.{i}.` over the UCI package `twamp`.
//!
//! The UCI option names follow icwmp's: `config twamp_reflector` sections
//! with `enable`, `interface`, `port`, `max_ttl`, `ip_list`, `port_list`,
//! `twamp_inst` (instance number) and `twamp_alias`. `interface` holds the
//! IP interface's Name.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{commit_package, flag, ip_interface_name, RunState, SharedReflectorState};
use crate::config::backends::{stamp_of, FileStamp};
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
/// TR-390's default TWAMP port.
pub const TWAMP_DEFAULT_PORT: u16 = 862;

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

/// Registers the TWAMPReflector provider (TR-181 only).
pub(super) fn register(
    dm: &mut DataModel,
    uci: SharedUci,
    uci_dir: &std::path::Path,
    state: &SharedReflectorState,
) -> Result<(), RegisterError> {
    if dm.schema().kind() != ModelKind::Tr181 {
        return Ok(());
    }
    dm.register(
        &[
            "Device.IP.Interface.{i}.TWAMPReflector.",
            "Device.IP.Interface.{i}.TWAMPReflectorNumberOfEntries",
        ],
        Box::new(TwampProvider {
            uci,
            file: uci_dir.join(TWAMP_PACKAGE),
            rows: Vec::new(),
            stamp: None,
            interfaces: None,
            numbering: VecMap::new(),
            state: state.clone(),
            staged: Vec::new(),
        }),
    )
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
    }
}
