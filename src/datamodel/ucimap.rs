//! Declarative parameter-to-UCI mapping loaded from a text file, so a vendor adds parameters without recompiling.
//!
//! Format (`files/etc/icwmp/uci-map`), one mapping a line, `#` comments:
//! ```text
//! Device.WiFi.SSID.{i}.SSID = wireless.@wifi-iface[{i}].ssid
//! Device.X_VENDOR_Led.Brightness = system.led.brightness
//! ```
//! The left side is a schema path (one `{i}` level at most); the right side is
//! `package.section.option` or, for a table, `package.@type[{i}].option`: the
//! table's instances are the sections of that type. Each such section keeps
//! its instance number in option `cwmp_instance` and its Alias in
//! `cwmp_alias`, so numbers stay stable across deletions and restarts.

use std::collections::BTreeMap;
use std::fmt;

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::config::SharedUci;
use crate::datamodel::engine::{DataModel, RegisterError};
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::schema::{NodeKind, Schema, INSTANCE};

const INSTANCE_OPTION: &str = "cwmp_instance";
const ALIAS_OPTION: &str = "cwmp_alias";

/// Where a parameter's value lives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Section {
    Named(String),
    /// The table instance's section of this type.
    Typed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    package: String,
    section: Section,
    option: String,
}

/// A bad line of the mapping file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uci-map line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for MapError {}

/// The parsed mapping: schema path → UCI location.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UciMap {
    params: BTreeMap<String, Target>,
    /// Table schema path (`Device.WiFi.SSID.`) → (package, section type).
    tables: BTreeMap<String, (String, String)>,
}

fn is_uci_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl UciMap {
    /// Parses the file text, checking every path against the schema.
    pub fn parse(text: &str, schema: Schema) -> Result<UciMap, MapError> {
        let mut map = UciMap::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| MapError {
                line: index + 1,
                reason,
            };
            let (path, location) = line
                .split_once('=')
                .map(|(p, l)| (p.trim(), l.trim()))
                .ok_or_else(|| err("expected `path = package.section.option`".into()))?;
            if !schema.lookup(path).is_some_and(|n| schema.is_parameter(n)) {
                return Err(err(format!("{path} is not a parameter of the schema")));
            }
            let levels = path.matches(INSTANCE).count();
            if levels > 1 {
                return Err(err("only one {i} level is supported".into()));
            }
            let mut parts = location.splitn(3, '.');
            let (package, section, option) = match (parts.next(), parts.next(), parts.next()) {
                (Some(p), Some(s), Some(o)) => (p, s, o),
                _ => return Err(err(format!("{location}: expected package.section.option"))),
            };
            let section = match section
                .strip_prefix('@')
                .and_then(|s| s.strip_suffix("[{i}]"))
            {
                Some(stype) if levels == 1 && is_uci_name(stype) => {
                    Section::Typed(stype.to_owned())
                }
                None if levels == 0 && is_uci_name(section) => Section::Named(section.to_owned()),
                _ => {
                    return Err(err(format!(
                        "{location}: section does not match the path's instances"
                    )))
                }
            };
            if !is_uci_name(package) || !is_uci_name(option) {
                return Err(err(format!("{location}: bad UCI name")));
            }
            if let Section::Typed(stype) = &section {
                let table = path
                    .split_once("{i}.")
                    .map(|(t, _)| t.to_owned())
                    .unwrap_or_default();
                let entry = (package.to_owned(), stype.clone());
                if map.tables.get(&table).is_some_and(|e| *e != entry) {
                    return Err(err(format!("{table} is mapped to two section types")));
                }
                if schema.lookup(&table).map(|t| schema.node_kind(t)) != Some(NodeKind::Table) {
                    return Err(err(format!("{table} is not a table")));
                }
                map.tables.insert(table, entry);
            }
            map.params.insert(
                path.to_owned(),
                Target {
                    package: package.to_owned(),
                    section,
                    option: option.to_owned(),
                },
            );
        }
        Ok(map)
    }

    /// The schema prefixes to register: each table and each plain parameter.
    pub fn prefixes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.tables.keys().cloned().collect();
        out.extend(
            self.params
                .iter()
                .filter(|(_, t)| matches!(t.section, Section::Named(_)))
                .map(|(p, _)| p.clone()),
        );
        out
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

/// Serves the mapped parameters from a `UciBackend`.
pub struct UciMapProvider {
    map: UciMap,
    uci: SharedUci,
    staged: Vec<(String, String, String, String)>,
}

/// A concrete path split into its schema pattern and its instance number.
fn pattern_of(path: &str) -> (String, Option<u32>) {
    let mut number = None;
    let pattern = path
        .split('.')
        .map(|s| match s.parse::<u32>() {
            Ok(n) if !s.is_empty() => {
                number = Some(n);
                INSTANCE
            }
            _ => s,
        })
        .collect::<Vec<_>>()
        .join(".");
    (pattern, number)
}

impl UciMapProvider {
    pub fn new(map: UciMap, uci: SharedUci) -> UciMapProvider {
        UciMapProvider {
            map,
            uci,
            staged: Vec::new(),
        }
    }

    /// (instance number, section name) of every section of a table's type.
    fn numbered_sections(&self, package: &str, stype: &str) -> Vec<(u32, String)> {
        let uci = self.uci.borrow();
        let sections: Vec<_> = uci
            .sections(package)
            .into_iter()
            .filter(|s| s.section_type == stype)
            .collect();
        let stored: Vec<Option<u32>> = sections
            .iter()
            .map(|s| {
                uci.get(package, &s.name, INSTANCE_OPTION)
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
            })
            .collect();
        // Sections not created through AddObject take the lowest free numbers
        // in file order; `materialize` stores them before any add or delete.
        let used: Vec<u32> = stored.iter().flatten().copied().collect();
        let mut next = 0;
        let mut out: Vec<(u32, String)> = sections
            .into_iter()
            .zip(stored)
            .map(|(s, n)| {
                let n = n.unwrap_or_else(|| {
                    next += 1;
                    while used.contains(&next) {
                        next += 1;
                    }
                    next
                });
                (n, s.name)
            })
            .collect();
        out.sort();
        out
    }

    /// Stores the computed instance number in every section lacking one, so
    /// that adding or deleting a section does not renumber the others.
    fn materialize(&self, package: &str, stype: &str) -> Result<(), FaultCode> {
        let numbered = self.numbered_sections(package, stype);
        let mut uci = self.uci.borrow_mut();
        for (n, section) in numbered {
            if uci.get(package, &section, INSTANCE_OPTION).is_none() {
                uci.set(package, &section, INSTANCE_OPTION, &n.to_string())
                    .map_err(|_| FaultCode::InternalError)?;
            }
        }
        Ok(())
    }

    fn section_of(&self, target: &Target, number: Option<u32>) -> Option<String> {
        match &target.section {
            Section::Named(name) => Some(name.clone()),
            Section::Typed(stype) => {
                let number = number?;
                self.numbered_sections(&target.package, stype)
                    .into_iter()
                    .find(|(n, _)| *n == number)
                    .map(|(_, s)| s)
            }
        }
    }

    fn table_entry(&self, table: &str) -> Option<(String, String)> {
        let (pattern, _) = pattern_of(table);
        self.map.tables.get(&pattern).cloned()
    }
}

impl Provider for UciMapProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let (pattern, number) = pattern_of(path);
        if let Some(target) = self.map.params.get(&pattern) {
            let section = self.section_of(target, number)?;
            return Some(
                self.uci
                    .borrow()
                    .get(&target.package, &section, &target.option)
                    .unwrap_or_default(),
            );
        }
        // An unmapped Alias of a mapped table lives in the section itself.
        let table = pattern.strip_suffix("{i}.Alias")?;
        let (package, stype) = self.map.tables.get(table)?.clone();
        let number = number?;
        let section = self
            .numbered_sections(&package, &stype)
            .into_iter()
            .find(|(n, _)| *n == number)?
            .1;
        let alias = self.uci.borrow().get(&package, &section, ALIAS_OPTION);
        Some(alias.unwrap_or_else(|| format!("cpe-{number}")))
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        match self.table_entry(table) {
            Some((package, stype)) => self
                .numbered_sections(&package, &stype)
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            None => Vec::new(),
        }
    }

    fn writable(&self, path: &str) -> bool {
        let (pattern, _) = pattern_of(path);
        self.map.params.contains_key(&pattern) || pattern.ends_with("{i}.Alias")
    }

    fn creatable(&self, table: &str) -> bool {
        self.table_entry(table).is_some()
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let (pattern, number) = pattern_of(path);
        let (package, section, option) = match self.map.params.get(&pattern) {
            Some(target) => (
                target.package.clone(),
                self.section_of(target, number),
                target.option.clone(),
            ),
            None => {
                let table = pattern
                    .strip_suffix("{i}.Alias")
                    .ok_or(FaultCode::NonWritableParameter)?;
                let (package, stype) = self
                    .map
                    .tables
                    .get(table)
                    .cloned()
                    .ok_or(FaultCode::NonWritableParameter)?;
                let section = number.and_then(|n| {
                    self.numbered_sections(&package, &stype)
                        .into_iter()
                        .find(|(m, _)| *m == n)
                        .map(|(_, s)| s)
                });
                (package, section, ALIAS_OPTION.to_owned())
            }
        };
        let section = section.ok_or(FaultCode::InvalidParameterName)?;
        self.staged
            .push((package, section, option, value.to_owned()));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        let mut packages: Vec<String> = Vec::new();
        let mut uci = self.uci.borrow_mut();
        let fail = |e: String| Fault::with_text(FaultCode::InternalError, e);
        for (package, section, option, value) in staged {
            uci.set(&package, &section, &option, &value).map_err(fail)?;
            if !packages.contains(&package) {
                packages.push(package);
            }
        }
        for package in &packages {
            uci.commit(package).map_err(fail)?;
        }
        // The owning service applies UCI changes on its reload.
        Ok(if packages.is_empty() {
            ApplyStatus::Applied
        } else {
            ApplyStatus::Pending
        })
    }

    fn abort(&mut self) {
        self.staged.clear();
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        let (package, stype) = self
            .table_entry(table)
            .ok_or(FaultCode::InvalidParameterName)?;
        self.materialize(&package, &stype)?;
        let mut uci = self.uci.borrow_mut();
        let section = uci
            .add_section(&package, &stype)
            .map_err(|_| FaultCode::InternalError)?;
        let mut result = uci.set(&package, &section, INSTANCE_OPTION, &number.to_string());
        if let Some(alias) = alias {
            result = result.and_then(|()| uci.set(&package, &section, ALIAS_OPTION, alias));
        }
        result
            .and_then(|()| uci.commit(&package))
            .map_err(|_| FaultCode::InternalError)?;
        Ok(ApplyStatus::Pending)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let body = instance.strip_suffix('.').unwrap_or(instance);
        let (table, number) = body
            .rsplit_once('.')
            .ok_or(FaultCode::InvalidParameterName)?;
        let number: u32 = number
            .parse()
            .map_err(|_| FaultCode::InvalidParameterName)?;
        let (package, stype) = self
            .table_entry(&format!("{table}."))
            .ok_or(FaultCode::InvalidParameterName)?;
        self.materialize(&package, &stype)?;
        let section = self
            .numbered_sections(&package, &stype)
            .into_iter()
            .find(|(n, _)| *n == number)
            .ok_or(FaultCode::InvalidParameterName)?
            .1;
        let mut uci = self.uci.borrow_mut();
        uci.delete_section(&package, &section)
            .and_then(|()| uci.commit(&package))
            .map_err(|_| FaultCode::InternalError)?;
        Ok(ApplyStatus::Pending)
    }
}

/// Parses a mapping file's text and registers its provider.
pub fn register_uci_map(
    dm: &mut DataModel,
    text: &str,
    uci: SharedUci,
) -> Result<(), Box<dyn std::error::Error>> {
    let map = UciMap::parse(text, dm.schema())?;
    if map.is_empty() {
        return Ok(());
    }
    let prefixes = map.prefixes();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    dm.register(&refs, Box::new(UciMapProvider::new(map, uci)))
        .map_err(|e: RegisterError| Box::new(e) as Box<dyn std::error::Error>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::config::MemoryUci;
    use crate::datamodel::engine::{Options, SetValue};
    use crate::datamodel::schema::ModelKind;
    use crate::datamodel::state::DmState;

    const MAP: &str = "\
# SSIDs of the wireless package
Device.WiFi.SSID.{i}.SSID = wireless.@wifi-iface[{i}].ssid
Device.WiFi.SSID.{i}.Enable = wireless.@wifi-iface[{i}].enabled
Device.Users.User.{i}.Username = users.@user[{i}].name
";

    fn setup() -> (DataModel, SharedUci) {
        let mut uci = MemoryUci::default();
        uci.add("wireless", "wifi-device", "radio0", &[("channel", "1")]);
        uci.add(
            "wireless",
            "wifi-iface",
            "",
            &[("ssid", "home"), ("enabled", "1")],
        );
        uci.add(
            "wireless",
            "wifi-iface",
            "",
            &[("ssid", "guest"), ("enabled", "0")],
        );
        let uci = uci.shared();
        let schema = Schema::new(ModelKind::Tr181);
        let mut dm = DataModel::new(schema, Options::default(), DmState::in_memory());
        register_uci_map(&mut dm, MAP, uci.clone()).expect("map");
        (dm, uci)
    }

    #[test]
    fn rejects_bad_lines() {
        let schema = Schema::new(ModelKind::Tr181);
        for (text, line) in [
            ("Device.Nope = a.b.c", 1),
            ("\nDevice.WiFi.SSID.{i}.SSID = wireless.main.ssid", 2),
            ("Device.Time.Enable = system.@timeserver[{i}].enabled", 1),
            ("Device.Time.Enable system.ntp.enabled", 1),
            ("Device.Time.Enable = system.ntp", 1),
            ("Device.Time. = system.ntp.enabled", 1),
        ] {
            assert_eq!(
                UciMap::parse(text, schema).map_err(|e| e.line),
                Err(line),
                "{text}"
            );
        }
    }

    #[test]
    fn reads_writes_adds_and_deletes_through_uci() {
        let (mut dm, uci) = setup();
        let values = dm.get_values(&["Device.WiFi.SSID."]).expect("gpv");
        let pairs: Vec<_> = values
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("Device.WiFi.SSID.1.Enable", "1"),
                ("Device.WiFi.SSID.1.Alias", "cpe-1"),
                ("Device.WiFi.SSID.1.SSID", "home"),
                ("Device.WiFi.SSID.2.Enable", "0"),
                ("Device.WiFi.SSID.2.Alias", "cpe-2"),
                ("Device.WiFi.SSID.2.SSID", "guest"),
            ]
        );
        // Schema validation happens before UCI is touched: SSID is string(32).
        let long = "x".repeat(33);
        let bad = [SetValue {
            name: "Device.WiFi.SSID.2.SSID",
            value: &long,
            xsd_type: None,
        }];
        assert!(dm.set_values(&bad, "k").is_err());
        let good = [
            SetValue {
                name: "Device.WiFi.SSID.2.SSID",
                value: "visitors",
                xsd_type: None,
            },
            SetValue {
                name: "Device.WiFi.SSID.2.Enable",
                value: "true",
                xsd_type: None,
            },
        ];
        assert_eq!(dm.set_values(&good, "k").expect("spv").code(), 1);
        let sections = uci.borrow().sections("wireless");
        let guest = &sections[2].name;
        assert_eq!(
            uci.borrow().get("wireless", guest, "ssid").as_deref(),
            Some("visitors")
        );
        assert_eq!(
            uci.borrow().get("wireless", guest, "enabled").as_deref(),
            Some("1")
        );

        let (n, _) = dm.add_object("Device.WiFi.SSID.", "k").expect("add");
        assert_eq!(n, 3);
        dm.delete_object("Device.WiFi.SSID.1.", "k")
            .expect("delete");
        let names: Vec<_> = dm
            .get_names("Device.WiFi.SSID.", true)
            .expect("gpn")
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["Device.WiFi.SSID.2.", "Device.WiFi.SSID.3."]);
        let alias = dm.get_values(&["Device.WiFi.SSID.3.Alias"]).expect("alias");
        assert_eq!(alias[0].value, "cpe-3");
        assert_eq!(
            dm.get_values(&["Device.WiFi.SSID.3.SSID"]).expect("ssid")[0].value,
            ""
        );
        assert_eq!(
            dm.get_values(&["Device.WiFi.Radio."])
                .map_err(|f| f.code.code()),
            Err(9005)
        );
    }
}
