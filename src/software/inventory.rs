//! The installed deployment units: the package manager's list parsed, kept with stable instance numbers, UUIDs and URLs, and compared for changes.
//!
//! The package manager knows names and versions only; the UUID the ACS gave,
//! the URL a unit came from and its `DeploymentUnit.{i}` instance number live
//! here and are persisted in the state directory. Comparing a fresh list with
//! the recorded one yields what was installed, updated or removed since.

use super::uuid::Uuid;
use crate::records::{self, RecordError};

/// First line of the persisted inventory; the number is the format version.
const FILE_HEADER: &str = "icwmp-software 1";

/// One installed package as the list command reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// Parses `opkg list-installed` output: one `name - version` line per package
/// (anything after a further ` - ` is a description and ignored). Lines that
/// are not of that form are skipped.
pub fn parse_installed(text: &str) -> Vec<Package> {
    let mut packages: Vec<Package> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.trim().splitn(3, " - ");
            let name = parts.next()?.trim();
            let version = parts.next()?.trim();
            let valid = !name.is_empty() && !name.contains(char::is_whitespace);
            valid.then(|| Package {
                name: name.to_owned(),
                version: version.to_owned(),
            })
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    packages.dedup_by(|a, b| a.name == b.name);
    packages
}

/// An installed deployment unit (`Device.SoftwareModules.DeploymentUnit.{instance}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentUnit {
    pub instance: u32,
    pub uuid: String,
    /// The package name (also the DUID).
    pub name: String,
    pub version: String,
    /// The URL of the last Install/Update through CWMP; empty otherwise.
    pub url: String,
}

impl DeploymentUnit {
    /// Its data model path, `Device.SoftwareModules.DeploymentUnit.<i>`.
    pub fn path(&self) -> String {
        format!("Device.SoftwareModules.DeploymentUnit.{}", self.instance)
    }
}

/// What happened to a unit between two lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Install,
    Update,
    Uninstall,
}

impl ChangeKind {
    /// The `OperationPerformed` of AutonomousDUStateChangeComplete.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Install => "Install",
            ChangeKind::Update => "Update",
            ChangeKind::Uninstall => "Uninstall",
        }
    }
}

/// One difference found by [`Inventory::reconcile`]: the unit as it is now
/// (as it was, for an uninstall).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitChange {
    pub kind: ChangeKind,
    pub unit: DeploymentUnit,
}

/// The recorded units, by package name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inventory {
    units: Vec<DeploymentUnit>,
    next_instance: u32,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            units: Vec::new(),
            next_instance: 1,
        }
    }
}

impl Inventory {
    /// The units in instance order.
    pub fn units(&self) -> &[DeploymentUnit] {
        &self.units
    }

    pub fn by_uuid(&self, uuid: &str) -> Option<&DeploymentUnit> {
        self.units
            .iter()
            .find(|u| u.uuid.eq_ignore_ascii_case(uuid))
    }

    pub fn by_name(&self, name: &str) -> Option<&DeploymentUnit> {
        self.units.iter().find(|u| u.name == name)
    }

    pub fn by_instance(&self, instance: u32) -> Option<&DeploymentUnit> {
        self.units.iter().find(|u| u.instance == instance)
    }

    /// Makes the inventory match `packages` and returns the differences:
    /// new packages become units (UUID from [`Uuid::for_package`], next
    /// instance number), changed versions are updates, missing ones are
    /// removed.
    pub fn reconcile(&mut self, packages: &[Package]) -> Vec<UnitChange> {
        let mut changes = Vec::new();
        self.units.retain(|unit| {
            let kept = packages.iter().any(|p| p.name == unit.name);
            if !kept {
                changes.push(UnitChange {
                    kind: ChangeKind::Uninstall,
                    unit: unit.clone(),
                });
            }
            kept
        });
        for package in packages {
            if let Some(unit) = self.units.iter_mut().find(|u| u.name == package.name) {
                if unit.version != package.version {
                    unit.version.clone_from(&package.version);
                    changes.push(UnitChange {
                        kind: ChangeKind::Update,
                        unit: unit.clone(),
                    });
                }
                continue;
            }
            let unit = DeploymentUnit {
                instance: self.next_instance,
                uuid: Uuid::for_package(&package.name).to_string(),
                name: package.name.clone(),
                version: package.version.clone(),
                url: String::new(),
            };
            self.next_instance = self.next_instance.saturating_add(1);
            changes.push(UnitChange {
                kind: ChangeKind::Install,
                unit: unit.clone(),
            });
            self.units.push(unit);
        }
        changes
    }

    /// Records what the ACS said about a unit it installed or updated: its
    /// UUID (when given) and URL. Returns the updated unit.
    pub fn annotate(
        &mut self,
        name: &str,
        uuid: Option<&str>,
        url: &str,
    ) -> Option<DeploymentUnit> {
        let unit = self.units.iter_mut().find(|u| u.name == name)?;
        if let Some(uuid) = uuid {
            uuid.clone_into(&mut unit.uuid);
        }
        url.clone_into(&mut unit.url);
        Some(unit.clone())
    }

    /// The inventory as versioned text.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = format!("{FILE_HEADER}\n");
        records::push_line(&mut text, &["next", &self.next_instance.to_string()]);
        for unit in &self.units {
            let instance = unit.instance.to_string();
            records::push_line(
                &mut text,
                &[
                    "unit",
                    &instance,
                    &unit.uuid,
                    &unit.name,
                    &unit.version,
                    &unit.url,
                ],
            );
        }
        text.into_bytes()
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Inventory, RecordError> {
        let mut inventory = Inventory::default();
        for (line, fields) in records::parse_lines(bytes, FILE_HEADER)? {
            let bad = |reason| RecordError::BadLine { line, reason };
            match fields.as_slice() {
                [tag, next] if tag == "next" => {
                    inventory.next_instance = next.parse().map_err(|_| bad("bad number"))?;
                }
                [tag, instance, uuid, name, version, url] if tag == "unit" => {
                    inventory.units.push(DeploymentUnit {
                        instance: instance.parse().map_err(|_| bad("bad instance"))?,
                        uuid: uuid.clone(),
                        name: name.clone(),
                        version: version.clone(),
                        url: url.clone(),
                    });
                }
                _ => return Err(bad("unknown record")),
            }
        }
        let highest = inventory
            .units
            .iter()
            .map(|u| u.instance)
            .max()
            .unwrap_or(0);
        inventory.next_instance = inventory.next_instance.max(highest.saturating_add(1));
        Ok(inventory)
    }
}

/// Compares two package versions the way opkg roughly does: runs of digits
/// numerically, other runs as text, `~` before anything.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn tokens(v: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = v.as_bytes();
        while start < bytes.len() {
            let digit = bytes.get(start).is_some_and(u8::is_ascii_digit);
            let len = bytes
                .get(start..)
                .unwrap_or(&[])
                .iter()
                .take_while(|b| b.is_ascii_digit() == digit)
                .count();
            out.push((digit, v.get(start..start + len).unwrap_or("")));
            start += len;
        }
        out
    }
    let (ta, tb) = (tokens(a), tokens(b));
    for (x, y) in ta.iter().zip(tb.iter()) {
        let order = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if order.is_ne() {
            return order;
        }
    }
    ta.len().cmp(&tb.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn opkg_list_is_parsed() {
        let text =
            "base-files - 1565-r23630\nlibc - 1.2.4-4 - the C library\n\nbroken line\nzlib - 1.3\n";
        assert_eq!(
            parse_installed(text),
            vec![
                pkg("base-files", "1565-r23630"),
                pkg("libc", "1.2.4-4"),
                pkg("zlib", "1.3")
            ]
        );
    }

    #[test]
    fn reconcile_reports_installs_updates_and_removals_with_stable_instances() {
        let mut inventory = Inventory::default();
        let first = inventory.reconcile(&[pkg("a", "1"), pkg("b", "1")]);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|c| c.kind == ChangeKind::Install));
        assert_eq!(inventory.by_name("b").map(|u| u.instance), Some(2));
        let changes = inventory.reconcile(&[pkg("b", "2"), pkg("c", "1")]);
        let kinds: Vec<_> = changes
            .iter()
            .map(|c| (c.kind, c.unit.name.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (ChangeKind::Uninstall, "a"),
                (ChangeKind::Update, "b"),
                (ChangeKind::Install, "c")
            ]
        );
        assert_eq!(inventory.by_name("c").map(|u| u.instance), Some(3));
        assert!(inventory
            .reconcile(&[pkg("b", "2"), pkg("c", "1")])
            .is_empty());
        let uuid = Uuid::for_package("c").to_string();
        assert_eq!(
            inventory.by_uuid(&uuid.to_uppercase()).map(|u| u.instance),
            Some(3)
        );
    }

    #[test]
    fn inventory_round_trips_and_keeps_numbering() {
        let mut inventory = Inventory::default();
        inventory.reconcile(&[pkg("a", "1"), pkg("b\tx", "2")]);
        inventory.annotate("a", Some("given-uuid"), "http://h/a_1.ipk");
        inventory.reconcile(&[pkg("a", "1")]);
        let back = Inventory::from_bytes(&inventory.to_bytes()).expect("parse");
        assert_eq!(back, inventory);
        let mut back = back;
        back.reconcile(&[pkg("a", "1"), pkg("n", "1")]);
        assert_eq!(back.by_name("n").map(|u| u.instance), Some(3));
        assert!(Inventory::from_bytes(b"icwmp-software 1\nunit\tx\n").is_err());
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.2-1", "1.2-1"), Ordering::Equal);
        assert_eq!(compare_versions("1.2", "1.2.1"), Ordering::Less);
        assert_eq!(compare_versions("2.0a", "2.0b"), Ordering::Less);
    }
}
