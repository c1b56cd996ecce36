//! `Device.SoftwareModules.` (TR-181): the package manager as the one execution environment and its installed packages as deployment units.
//!
//! The daemon's software manager keeps the inventory file in the state
//! directory current (installed list, UUIDs, URLs, instance numbers); this
//! provider only reads that file, re-reading it when it changed, so a GPV
//! never waits for the package manager. Packages have no execution units.

use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::datamodel::provider::Provider;
use crate::software::changes::EXEC_ENV_PATH;
use crate::software::inventory::Inventory;
use crate::software::manager::names;

const ROOT: &str = "Device.SoftwareModules.";

/// The provider of `Device.SoftwareModules.`.
pub struct SoftwareModulesProvider {
    file: PathBuf,
    /// The file's (modification time, length) when it was read.
    seen: Option<(SystemTime, u64)>,
    inventory: Inventory,
}

impl SoftwareModulesProvider {
    /// Serves the inventory kept in `state_dir`.
    pub fn new(state_dir: &std::path::Path) -> SoftwareModulesProvider {
        SoftwareModulesProvider {
            file: state_dir.join(names::INVENTORY),
            seen: None,
            inventory: Inventory::default(),
        }
    }

    fn refresh(&mut self) {
        let stamp = fs::metadata(&self.file)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp.is_some() && stamp == self.seen {
            return;
        }
        self.seen = stamp;
        // An unreadable file shows no units; the daemon reports and sets it aside.
        self.inventory = crate::fsutil::read_file(&self.file)
            .ok()
            .and_then(|bytes| Inventory::from_bytes(&bytes).ok())
            .unwrap_or_default();
    }

    fn exec_env(parameter: &str) -> Option<String> {
        let value = match parameter {
            "Enable" => "1",
            "Status" => "Up",
            "Alias" => "cpe-1",
            "Name" => "opkg",
            "Type" => "Package Manager",
            "Vendor" => "OpenWrt",
            "Version" => "",
            "ParentExecEnv" => "",
            "ActiveExecutionUnits" => "",
            _ => return None,
        };
        Some(value.to_owned())
    }

    fn unit(&self, instance: u32, parameter: &str) -> Option<String> {
        let unit = self.inventory.by_instance(instance)?;
        let value = match parameter {
            "UUID" => unit.uuid.clone(),
            "DUID" | "Name" => unit.name.clone(),
            "Alias" => format!("cpe-{instance}"),
            "Status" => "Installed".to_owned(),
            "Resolved" => "1".to_owned(),
            "URL" => unit.url.clone(),
            "Version" => unit.version.clone(),
            "Description" | "Vendor" | "VendorLogList" | "VendorConfigList"
            | "ExecutionUnitList" => String::new(),
            "ExecutionEnvRef" => EXEC_ENV_PATH.to_owned(),
            _ => return None,
        };
        Some(value)
    }
}

impl Provider for SoftwareModulesProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        self.refresh();
        let rest = path.strip_prefix(ROOT)?;
        match rest.split('.').collect::<Vec<_>>().as_slice() {
            ["ExecEnvNumberOfEntries"] => Some("1".into()),
            ["DeploymentUnitNumberOfEntries"] => Some(self.inventory.units().len().to_string()),
            ["ExecutionUnitNumberOfEntries" | "ExecEnvClassNumberOfEntries"] => Some("0".into()),
            ["ExecEnv", "1", parameter] => Self::exec_env(parameter),
            ["DeploymentUnit", instance, parameter] => self.unit(instance.parse().ok()?, parameter),
            _ => None,
        }
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        self.refresh();
        match table.strip_prefix(ROOT) {
            Some("ExecEnv.") => vec![1],
            Some("DeploymentUnit.") => {
                let mut numbers: Vec<u32> =
                    self.inventory.units().iter().map(|u| u.instance).collect();
                numbers.sort_unstable();
                numbers
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::software::inventory::Package;

    #[test]
    fn units_follow_the_inventory_file() {
        let dir = std::env::temp_dir().join(format!("icwmp-swmod-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let mut provider = SoftwareModulesProvider::new(&dir);
        assert_eq!(
            provider.instances("Device.SoftwareModules.DeploymentUnit."),
            Vec::<u32>::new()
        );
        assert_eq!(
            provider
                .get("Device.SoftwareModules.ExecEnv.1.Name")
                .as_deref(),
            Some("opkg")
        );
        let mut inventory = Inventory::default();
        inventory.reconcile(&[Package {
            name: "tcpdump".into(),
            version: "4.99".into(),
        }]);
        fs::write(dir.join(names::INVENTORY), inventory.to_bytes()).expect("write");
        assert_eq!(
            provider.instances("Device.SoftwareModules.DeploymentUnit."),
            vec![1]
        );
        assert_eq!(
            provider
                .get("Device.SoftwareModules.DeploymentUnit.1.Version")
                .as_deref(),
            Some("4.99")
        );
        assert_eq!(
            provider
                .get("Device.SoftwareModules.DeploymentUnitNumberOfEntries")
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            provider.get("Device.SoftwareModules.DeploymentUnit.2.Name"),
            None
        );
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
