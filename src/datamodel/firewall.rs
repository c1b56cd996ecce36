//! The derived parameters of `Device.Firewall.Chain.{i}.Rule.{i}` the uci-map cannot express: Order, and the source and destination zones as IP interfaces.
//!
//! A fw4 rule names zones (`src`, `dest`; `*` for any); a zone lists the
//! network interfaces it holds (`list network`). TR-181 names interfaces:
//! a zone is shown as the `Device.IP.Interface.{ifindex}` of the first of
//! its networks that has a kernel device (netifd's `l3_device`, else the
//! UCI `device`), and writing an interface picks the zone holding a network
//! on that device. Rules are numbered as the uci-map numbers `firewall.rule`
//! sections; Order is a rule's place among them in the file (read only:
//! moving a section would reorder the file the operator wrote).

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::{commit_or_revert, SharedUci, UciBackend};
use crate::datamodel::ipconfig::{device_of_path, device_path};
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::runtime::SharedRuntime;
use crate::datamodel::ucimap::section_numbers;

pub struct FirewallRulesProvider {
    uci: SharedUci,
    state: SharedRuntime,
    /// (rule section, option, value; empty deletes) staged by SetParameterValues.
    staged: Vec<(String, &'static str, String)>,
}

/// (rule number, field) of a path below `.Rule.`.
fn rule_field(path: &str) -> Option<(u32, &str)> {
    let (_, tail) = path.split_once(".Rule.")?;
    let (n, field) = tail.split_once('.')?;
    Some((n.parse().ok()?, field))
}

/// The zone option and whether the field is the `…AllInterfaces` one.
fn zone_option(field: &str) -> Option<(&'static str, bool)> {
    Some(match field {
        "SourceInterface" => ("src", false),
        "SourceAllInterfaces" => ("src", true),
        "DestInterface" => ("dest", false),
        "DestAllInterfaces" => ("dest", true),
        _ => return None,
    })
}

/// The zone sections of the firewall package: (name, its networks).
fn zones(uci: &dyn UciBackend) -> Vec<(String, Vec<String>)> {
    uci.sections("firewall")
        .into_iter()
        .filter(|s| s.section_type == "zone")
        .filter_map(|s| {
            let name = uci.get("firewall", &s.name, "name")?;
            let networks = uci
                .get("firewall", &s.name, "network")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            Some((name, networks))
        })
        .collect()
}

impl FirewallRulesProvider {
    pub fn new(uci: SharedUci, state: SharedRuntime) -> FirewallRulesProvider {
        FirewallRulesProvider {
            uci,
            state,
            staged: Vec::new(),
        }
    }

    fn rule_section(&self, number: u32) -> Option<String> {
        section_numbers(&*self.uci.borrow(), "firewall", "rule")
            .into_iter()
            .find(|(n, _)| *n == number)
            .map(|(_, s)| s)
    }

    /// The kernel device of a network interface: netifd's, else UCI's.
    fn device_of_network(&self, network: &str) -> Option<String> {
        let reported = self
            .state
            .borrow()
            .net
            .interface(network)
            .and_then(|i| i.l3_device.clone());
        reported.or_else(|| self.uci.borrow().get("network", network, "device"))
    }

    /// `Device.IP.Interface.{ifindex}` of a zone ("" when none of its networks has a device).
    fn zone_interface(&self, zone: &str) -> String {
        let networks = zones(&*self.uci.borrow())
            .into_iter()
            .find(|(name, _)| name == zone)
            .map(|(_, networks)| networks)
            .unwrap_or_default();
        networks
            .iter()
            .filter_map(|n| self.device_of_network(n))
            .find_map(|device| device_path(&device))
            .unwrap_or_default()
    }

    /// The zone holding a network on the device of `Device.IP.Interface.{ifindex}`.
    fn zone_of_interface(&self, value: &str) -> Option<String> {
        let device = device_of_path(value)?;
        let zones = zones(&*self.uci.borrow());
        zones.into_iter().find_map(|(name, networks)| {
            networks
                .iter()
                .any(|n| self.device_of_network(n).as_deref() == Some(device.as_str()))
                .then_some(name)
        })
    }
}

impl Provider for FirewallRulesProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (number, field) = rule_field(path)?;
        let section = self.rule_section(number)?;
        if field == "Order" {
            let uci = self.uci.borrow();
            let position = uci
                .sections("firewall")
                .into_iter()
                .filter(|s| s.section_type == "rule")
                .position(|s| s.name == section)?;
            return Some((position + 1).to_string());
        }
        let (option, all) = zone_option(field)?;
        let zone = self.uci.borrow().get("firewall", &section, option);
        Some(match (zone.as_deref(), all) {
            (Some("*"), true) => "1".to_owned(),
            (_, true) => "0".to_owned(),
            (Some("*") | None, false) => String::new(),
            (Some(zone), false) => self.zone_interface(zone),
        })
    }

    fn writable(&self, path: &str) -> bool {
        rule_field(path).is_some_and(|(_, field)| zone_option(field).is_some())
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (number, field) = rule_field(path).ok_or(FaultCode::NonWritableParameter)?;
        let (option, all) = zone_option(field).ok_or(FaultCode::NonWritableParameter)?;
        let section = self
            .rule_section(number)
            .ok_or(FaultCode::InvalidParameterName)?;
        let current = self.uci.borrow().get("firewall", &section, option);
        let zone = match (all, value) {
            (true, "1") => "*".to_owned(),
            // Not every interface: a rule that said `*` then names none.
            (true, _) if current.as_deref() == Some("*") => String::new(),
            (true, _) => return Ok(()),
            (false, "") => String::new(),
            (false, _) => self
                .zone_of_interface(value)
                .ok_or(FaultCode::InvalidParameterValue)?,
        };
        self.staged.push((section, option, zone));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        if staged.is_empty() {
            return Ok(ApplyStatus::Applied);
        }
        let mut uci = self.uci.borrow_mut();
        let mut result = Ok(());
        for (section, option, zone) in &staged {
            result = result.and_then(|()| match zone.as_str() {
                "" => uci.delete_option("firewall", section, option),
                zone => uci.set("firewall", section, option, zone),
            });
        }
        commit_or_revert(&mut *uci, "firewall", result)?;
        Ok(ApplyStatus::Pending)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }
}

/// The paths the provider serves, inside the uci-map's rule table.
pub const PATHS: [&str; 5] = [
    "Device.Firewall.Chain.{i}.Rule.{i}.Order",
    "Device.Firewall.Chain.{i}.Rule.{i}.SourceInterface",
    "Device.Firewall.Chain.{i}.Rule.{i}.SourceAllInterfaces",
    "Device.Firewall.Chain.{i}.Rule.{i}.DestInterface",
    "Device.Firewall.Chain.{i}.Rule.{i}.DestAllInterfaces",
];
