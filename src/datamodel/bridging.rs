//! `Device.Bridging.Bridge.{i}.Port.{i}`: the management port and the devices of a bridge's `list ports`, added and removed by AddObject, SetParameterValues of LowerLayers and DeleteObject.
//!
//! Bridges are the `network.device` sections of type bridge, numbered as
//! the uci-map numbers them. Port 1 is the management port (the bridge
//! device itself, never deleted); the others are the entries of `ports`,
//! whose numbers `cwmp_ports` (`device=N` pairs) keeps stable. A port made
//! by AddObject has no device until the ACS sets its LowerLayers to an
//! Ethernet interface or an SSID; only then is the device added to `ports`.

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{commit_or_revert, SharedUci, UciBackend};
use crate::datamodel::host::ethernet_ifname;
use crate::datamodel::lan::sysfs;
use crate::datamodel::path::instance_of;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::runtime::SharedRuntime;
use crate::datamodel::ucimap::{list_entry_numbers, list_entry_pairs, section_numbers_where};
use crate::datamodel::wifi::{ssid_ifname, ssid_of_ifname};

/// The option beside `ports` that keeps the ports' instance numbers.
const PORT_NUMBERS_OPTION: &str = "cwmp_ports";
/// The management port's instance number.
const MANAGEMENT: u32 = 1;
/// At most this many ports AddObject made may wait for their LowerLayers.
const MAX_PENDING: usize = 64;

/// One bridge as UCI configures it.
struct Bridge {
    section: String,
    name: String,
    /// (instance number, device) of each `ports` entry.
    ports: Vec<(u32, String)>,
}

pub struct BridgePortsProvider {
    uci: SharedUci,
    state: SharedRuntime,
    /// (bridge number, port number) of ports AddObject made that have no device yet.
    pending: Vec<(u32, u32)>,
    /// (bridge number, port number, device) staged by SetParameterValues.
    staged: Vec<(u32, u32, String)>,
}

/// (bridge number, rest) of a path below `.Bridging.Bridge.`.
fn bridge_rest(path: &str) -> Option<(u32, &str)> {
    let (_, tail) = path.split_once(".Bridging.Bridge.")?;
    let (n, rest) = tail.split_once('.')?;
    Some((n.parse().ok()?, rest))
}

/// (bridge number, port number, field) of a path below `.Port.`.
fn port_field(path: &str) -> Option<(u32, u32, &str)> {
    let (bridge, rest) = bridge_rest(path)?;
    let (port, field) = rest.strip_prefix("Port.")?.split_once('.')?;
    Some((bridge, port.parse().ok()?, field))
}

/// Writes a bridge's `ports` and the numbers beside them (not committed).
fn write_ports(uci: &mut dyn UciBackend, bridge: &Bridge) -> Result<(), String> {
    let ports: Vec<&str> = bridge.ports.iter().map(|(_, d)| d.as_str()).collect();
    let pairs = list_entry_pairs(&bridge.ports);
    let pairs: Vec<&str> = pairs.iter().map(String::as_str).collect();
    uci.set_list("network", &bridge.section, "ports", &ports)?;
    uci.set_list("network", &bridge.section, PORT_NUMBERS_OPTION, &pairs)
}

impl BridgePortsProvider {
    pub fn new(uci: SharedUci, state: SharedRuntime) -> BridgePortsProvider {
        BridgePortsProvider {
            uci,
            state,
            pending: Vec::new(),
            staged: Vec::new(),
        }
    }

    fn bridge(&self, number: u32) -> Option<Bridge> {
        let uci = self.uci.borrow();
        let section = section_numbers_where(&*uci, "network", "device", "type", &["bridge"])
            .into_iter()
            .find(|(n, _)| *n == number)?
            .1;
        let name = uci.get("network", &section, "name")?;
        let entries: Vec<String> = uci
            .get("network", &section, "ports")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let stored = uci
            .get("network", &section, PORT_NUMBERS_OPTION)
            .unwrap_or_default();
        // Numbers of ports waiting for their device are not handed to
        // devices added meanwhile (with `uci` or LuCI).
        let reserved: Vec<u32> = std::iter::once(MANAGEMENT)
            .chain(self.pending_ports(number))
            .collect();
        let ports = list_entry_numbers(&entries, &stored, &reserved);
        Some(Bridge {
            section,
            name,
            ports,
        })
    }

    /// The ports of a bridge that wait for their device.
    fn pending_ports(&self, bridge: u32) -> impl Iterator<Item = u32> + '_ {
        self.pending
            .iter()
            .filter(move |(b, _)| *b == bridge)
            .map(|(_, p)| *p)
    }

    fn is_pending(&self, bridge: u32, port: u32) -> bool {
        self.pending.contains(&(bridge, port))
    }

    /// What a member port's LowerLayers names: its SSID, else its Ethernet interface.
    fn lower_layer(&self, device: &str) -> String {
        if let Some(n) = ssid_of_ifname(&self.uci, &self.state, device) {
            return format!("Device.WiFi.SSID.{n}");
        }
        sysfs(device, "ifindex")
            .map(|i| format!("Device.Ethernet.Interface.{i}"))
            .unwrap_or_default()
    }

    /// The device a LowerLayers value names: one Ethernet interface or SSID.
    fn device_of(&self, value: &str) -> Option<String> {
        let value = value.trim().trim_end_matches('.');
        if let Some(n) = value.strip_prefix("Device.Ethernet.Interface.") {
            return ethernet_ifname(n.parse().ok()?);
        }
        let n = value.strip_prefix("Device.WiFi.SSID.")?.parse().ok()?;
        ssid_ifname(&self.uci, &self.state, n)
    }
}

impl Provider for BridgePortsProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (number, rest) = bridge_rest(path)?;
        let bridge = self.bridge(number)?;
        if rest == "PortNumberOfEntries" {
            let pending = self.pending_ports(number).count();
            return Some((bridge.ports.len() + 1 + pending).to_string());
        }
        let (_, n, field) = port_field(path)?;
        let management = n == MANAGEMENT;
        let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
        let device = if management {
            bridge.name.clone()
        } else if self.is_pending(number, n) {
            return Some(match field {
                "Enable" | "ManagementPort" => flag(false),
                "Alias" => format!("cpe-{n}"),
                "Status" => "NotPresent".to_owned(),
                "Name" | "LowerLayers" => String::new(),
                _ => return None,
            });
        } else {
            bridge.ports.iter().find(|(k, _)| *k == n)?.1.clone()
        };
        Some(match field {
            "Enable" => flag(true),
            "Alias" => format!("cpe-{n}"),
            "ManagementPort" => flag(management),
            "Status" => match sysfs(&device, "operstate").as_deref() {
                Some("up") => "Up",
                Some("down") => "Down",
                Some("dormant") => "Dormant",
                Some("lowerlayerdown") => "LowerLayerDown",
                Some(_) => "Unknown",
                None => "NotPresent",
            }
            .to_owned(),
            "LowerLayers" if management => bridge
                .ports
                .iter()
                .map(|(k, _)| format!("Device.Bridging.Bridge.{number}.Port.{k}"))
                .collect::<Vec<_>>()
                .join(","),
            "LowerLayers" => self.lower_layer(&device),
            "Name" => device,
            _ => return None,
        })
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        let Some((number, "Port.")) = bridge_rest(table) else {
            return Vec::new();
        };
        let Some(bridge) = self.bridge(number) else {
            return Vec::new();
        };
        let mut numbers: Vec<u32> = std::iter::once(MANAGEMENT)
            .chain(bridge.ports.iter().map(|(n, _)| *n))
            .chain(self.pending_ports(number))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }

    fn writable(&self, path: &str) -> bool {
        matches!(port_field(path), Some((_, n, "LowerLayers")) if n != MANAGEMENT)
    }

    fn creatable(&self, table: &str) -> bool {
        matches!(bridge_rest(table), Some((n, "Port.")) if self.bridge(n).is_some())
    }

    fn deletable(&self, instance: &str) -> bool {
        !matches!(bridge_rest(instance), Some((_, "Port.1.")))
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (bridge, port, field) = port_field(path).ok_or(FaultCode::NonWritableParameter)?;
        if field != "LowerLayers" || port == MANAGEMENT {
            return Err(FaultCode::NonWritableParameter);
        }
        let device = self
            .device_of(value)
            .ok_or(FaultCode::InvalidParameterValue)?;
        let current = self.bridge(bridge).ok_or(FaultCode::InvalidParameterName)?;
        // A device is a port of a bridge once.
        let elsewhere = current
            .ports
            .iter()
            .any(|(n, d)| *d == device && *n != port)
            || current.name == device;
        if elsewhere {
            return Err(FaultCode::InvalidParameterValue);
        }
        self.staged.push((bridge, port, device));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        if staged.is_empty() {
            return Ok(ApplyStatus::Applied);
        }
        let mut changed: Vec<(u32, Bridge)> = Vec::new();
        let mut done: Vec<(u32, u32)> = Vec::new();
        for (number, port, device) in staged {
            if !changed.iter().any(|(b, _)| *b == number) {
                let bridge = self.bridge(number).ok_or_else(|| {
                    Fault::with_text(FaultCode::RequestDenied, "the bridge is gone")
                })?;
                changed.push((number, bridge));
            }
            if let Some((_, bridge)) = changed.iter_mut().find(|(b, _)| *b == number) {
                match bridge.ports.iter_mut().find(|(n, _)| *n == port) {
                    Some(entry) => entry.1 = device,
                    None => bridge.ports.push((port, device)),
                }
            }
            done.push((number, port));
        }
        let mut uci = self.uci.borrow_mut();
        let mut result = Ok(());
        for (_, bridge) in &changed {
            result = result.and_then(|()| write_ports(&mut *uci, bridge));
        }
        commit_or_revert(&mut *uci, "network", result)?;
        self.pending.retain(|p| !done.contains(p));
        Ok(ApplyStatus::Pending)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        _alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        let bridge = match bridge_rest(table) {
            Some((n, "Port.")) if self.bridge(n).is_some() => n,
            _ => return Err(FaultCode::InvalidParameterName),
        };
        if self.pending.len() >= MAX_PENDING {
            return Err(FaultCode::ResourcesExceeded);
        }
        // Nothing to write until LowerLayers names the device.
        self.pending.push((bridge, number));
        Ok(ApplyStatus::Applied)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let (number, rest) = bridge_rest(instance).ok_or(FaultCode::InvalidParameterName)?;
        let port = instance_of(rest, "Port").ok_or(FaultCode::InvalidParameterName)?;
        if port == MANAGEMENT {
            return Err(FaultCode::RequestDenied);
        }
        if self.is_pending(number, port) {
            self.pending.retain(|p| *p != (number, port));
            return Ok(ApplyStatus::Applied);
        }
        let mut bridge = self.bridge(number).ok_or(FaultCode::InvalidParameterName)?;
        let before = bridge.ports.len();
        bridge.ports.retain(|(n, _)| *n != port);
        if bridge.ports.len() == before {
            return Err(FaultCode::InvalidParameterName);
        }
        let mut uci = self.uci.borrow_mut();
        let written = write_ports(&mut *uci, &bridge);
        commit_or_revert(&mut *uci, "network", written).map_err(|f| f.code)?;
        Ok(ApplyStatus::Pending)
    }
}

/// The paths `BridgePortsProvider` serves, inside the uci-map's bridge table.
pub const PATHS: [&str; 2] = [
    "Device.Bridging.Bridge.{i}.Port.",
    "Device.Bridging.Bridge.{i}.PortNumberOfEntries",
];
