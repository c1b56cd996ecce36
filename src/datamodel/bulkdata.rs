//! `Device.BulkData.`: serves the BulkData settings the collector runs from, and the capabilities and status it has.

use std::cell::RefCell;
use std::rc::Rc;

use crate::bulkdata::profile::{
    self, BulkStore, MAX_PARAMETER_REFERENCES, MAX_PROFILES, MIN_REPORTING_INTERVAL,
};
use crate::cwmp::fault::{Fault, FaultCode};
use crate::cwmp::params::XsdType;
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::schema::{Schema, INSTANCE};
use crate::wire::content_coding;

const ROOT: &str = "Device.BulkData.";

/// The BulkData provider; shares its store with the collector service.
pub struct BulkDataProvider {
    schema: Schema,
    store: Rc<RefCell<BulkStore>>,
    staged: Vec<(String, Option<String>)>,
}

impl BulkDataProvider {
    pub fn new(schema: Schema, store: Rc<RefCell<BulkStore>>) -> BulkDataProvider {
        BulkDataProvider {
            schema,
            store,
            staged: Vec::new(),
        }
    }

    fn computed(&self, key: &str) -> Option<String> {
        let store = self.store.borrow();
        let count = |table: &str| store.instances(table).len().to_string();
        Some(match key {
            "Status" => if !profile::globally_enabled(&store) {
                "Disabled"
            } else if store.error {
                "Error"
            } else {
                "Enabled"
            }
            .to_owned(),
            "MinReportingInterval" => MIN_REPORTING_INTERVAL.to_string(),
            "Protocols" => "HTTP".to_owned(),
            "EncodingTypes" => "CSV,JSON".to_owned(),
            "ParameterWildCardSupported" => "1".to_owned(),
            "MaxNumberOfProfiles" => MAX_PROFILES.to_string(),
            "MaxNumberOfParameterReferences" => MAX_PARAMETER_REFERENCES.to_string(),
            "ProfileNumberOfEntries" => count("Profile."),
            _ => {
                let rest = key.strip_prefix("Profile.")?;
                let (number, tail) = rest.split_once('.')?;
                let base = format!("Profile.{number}.");
                match tail {
                    "ParameterNumberOfEntries" => count(&format!("{base}Parameter.")),
                    "HTTP.RequestURIParameterNumberOfEntries" => {
                        count(&format!("{base}HTTP.RequestURIParameter."))
                    }
                    "HTTP.CompressionsSupported" => content_coding::SUPPORTED_NAMES.to_owned(),
                    "HTTP.MethodsSupported" => "POST,PUT".to_owned(),
                    // Hidden (TR-069 A.3.2.2): read as empty.
                    "HTTP.Password" | "FileTransferPassword" => {
                        store.get(key).map(|_| String::new())?
                    }
                    _ => return None,
                }
            }
        })
    }

    /// The schema path (`{i}` for instance numbers) of a relative key.
    fn schema_path(key: &str) -> String {
        format!("{ROOT}{}", crate::datamodel::path::schema_path(key))
    }

    /// Every parameter (and sub-object parameter) of a new instance with its default value.
    fn defaults(&self, instance: &str, node_path: &str, out: &mut Vec<(String, Option<String>)>) {
        let Some(node) = self.schema.lookup(node_path) else {
            return;
        };
        for child in self.schema.children(node) {
            let name = self.schema.name(child);
            if self.schema.is_parameter(child) {
                let value = match (node_path.ends_with(".CSVEncoding."), name) {
                    // The BBF default is `&#10;` (a line feed); the spec file as
                    // shipped here carries it as a space, which would make every
                    // report one line.
                    (true, "RowSeparator") => "\n",
                    _ => self.schema.constraints(child).default_value().unwrap_or(""),
                };
                // Booleans are kept canonical, as SetParameterValues stores them.
                let value = match (self.schema.xsd_type(child), value) {
                    (XsdType::Boolean, "true") => "1",
                    (XsdType::Boolean, "false") => "0",
                    (_, value) => value,
                };
                out.push((format!("{instance}{name}"), Some(value.to_owned())));
            } else if self.schema.child(child, INSTANCE).is_none() && name != INSTANCE {
                // A single-instance sub-object (CSVEncoding., HTTP., …).
                self.defaults(
                    &format!("{instance}{name}."),
                    &format!("{node_path}{name}."),
                    out,
                );
            }
        }
    }
}

fn relative(path: &str) -> Option<&str> {
    path.strip_prefix(ROOT)
}

impl Provider for BulkDataProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        let key = relative(path)?;
        if let Some(value) = self.computed(key) {
            return Some(value);
        }
        let store = self.store.borrow();
        match store.get(key) {
            Some(value) => Some(value.to_owned()),
            // The global Enable before anything was ever set.
            None if key == "Enable" => Some("0".to_owned()),
            None => None,
        }
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        relative(table).map_or_else(Vec::new, |t| self.store.borrow().instances(t))
    }

    fn writable(&self, path: &str) -> bool {
        relative(path).is_some_and(|key| self.computed(key).is_none() || key.ends_with("Password"))
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        let key = relative(path).ok_or(FaultCode::InvalidParameterName)?;
        profile::check_value(key, value)?;
        let store = self.store.borrow();
        if key != "Enable" && store.get(key).is_none() {
            return Err(FaultCode::InvalidParameterName);
        }
        drop(store);
        self.staged.push((key.to_owned(), Some(value.to_owned())));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let staged = std::mem::take(&mut self.staged);
        if staged.is_empty() {
            return Ok(ApplyStatus::Applied);
        }
        self.store
            .borrow_mut()
            .apply(staged)
            .map_err(|e| Fault::with_text(FaultCode::InternalError, e.to_string()))?;
        Ok(ApplyStatus::Applied)
    }

    fn abort(&mut self) {
        self.staged.clear();
    }

    /// Every table of `Device.BulkData.` the schema lets the ACS create is kept here.
    fn creatable(&self, table: &str) -> bool {
        relative(table).is_some()
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        let key = relative(table).ok_or(FaultCode::InvalidParameterName)?;
        if key == "Profile." && self.store.borrow().instances(key).len() >= MAX_PROFILES {
            return Err(FaultCode::ResourcesExceeded);
        }
        let instance = format!("{key}{number}.");
        let mut values = Vec::new();
        self.defaults(
            &instance,
            &Self::schema_path(&format!("{key}{{i}}.")),
            &mut values,
        );
        if values.is_empty() {
            return Err(FaultCode::InvalidParameterName);
        }
        if let Some(alias) = alias {
            values.push((format!("{instance}Alias"), Some(alias.to_owned())));
        }
        self.store
            .borrow_mut()
            .apply(values)
            .map_err(|_| FaultCode::InternalError)?;
        Ok(ApplyStatus::Applied)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let key = relative(instance).ok_or(FaultCode::InvalidParameterName)?;
        self.store
            .borrow_mut()
            .apply(vec![(key.to_owned(), None)])
            .map_err(|_| FaultCode::InternalError)?;
        Ok(ApplyStatus::Applied)
    }
}

/// Registers `Device.BulkData.` (TR-181 only) with its settings loaded from
/// `<state_dir>/bulkdata`; returns the store the collector shares.
pub fn register(
    dm: &mut crate::datamodel::engine::DataModel,
    state_dir: &std::path::Path,
) -> Result<Option<Rc<RefCell<BulkStore>>>, crate::datamodel::engine::RegisterError> {
    let schema = dm.schema();
    if schema.kind() != crate::datamodel::schema::ModelKind::Tr181 {
        return Ok(None);
    }
    let (store, note) = BulkStore::load(&state_dir.join("bulkdata"));
    if let Some(note) = note {
        log::error!("BulkData settings: {note}");
    }
    let store = Rc::new(RefCell::new(store));
    dm.register(
        &[ROOT],
        Box::new(BulkDataProvider::new(schema, store.clone())),
    )?;
    Ok(Some(store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::engine::{DataModel, Options};
    use crate::datamodel::schema::ModelKind;
    use crate::datamodel::state::DmState;

    fn model() -> (DataModel, Rc<RefCell<BulkStore>>) {
        let schema = Schema::new(ModelKind::Tr181);
        let mut dm = DataModel::new(schema, Options::default(), DmState::in_memory());
        let store = Rc::new(RefCell::new(BulkStore::in_memory()));
        dm.register(
            &[ROOT],
            Box::new(BulkDataProvider::new(schema, store.clone())),
        )
        .unwrap();
        (dm, store)
    }

    fn get(dm: &mut DataModel, name: &str) -> String {
        let path = format!("{ROOT}{name}");
        dm.get_values(&[path.as_str()]).unwrap()[0].value.clone()
    }

    #[test]
    fn add_object_fills_defaults_and_limits_profiles() {
        let (mut dm, store) = model();
        assert_eq!(get(&mut dm, "Status"), "Disabled");
        assert_eq!(get(&mut dm, "EncodingTypes"), "CSV,JSON");
        let (number, _) = dm.add_object("Device.BulkData.Profile.", "k").unwrap();
        assert_eq!(number, 1);
        assert_eq!(get(&mut dm, "Profile.1.CSVEncoding.RowSeparator"), "\n");
        assert_eq!(get(&mut dm, "Profile.1.CSVEncoding.FieldSeparator"), ",");
        assert_eq!(get(&mut dm, "Profile.1.ReportingInterval"), "86400");
        assert_eq!(get(&mut dm, "Profile.1.HTTP.Method"), "POST");
        assert_eq!(get(&mut dm, "Profile.1.HTTP.MethodsSupported"), "POST,PUT");
        assert_eq!(get(&mut dm, "ProfileNumberOfEntries"), "1");
        dm.add_object("Device.BulkData.Profile.1.Parameter.", "k")
            .unwrap();
        assert_eq!(get(&mut dm, "Profile.1.ParameterNumberOfEntries"), "1");
        assert_eq!(get(&mut dm, "Profile.1.Parameter.1.Exclude"), "0");
        for _ in 1..MAX_PROFILES {
            dm.add_object("Device.BulkData.Profile.", "k").unwrap();
        }
        let refused = dm.add_object("Device.BulkData.Profile.", "k").unwrap_err();
        assert_eq!(refused.code, FaultCode::ResourcesExceeded);
        dm.delete_object("Device.BulkData.Profile.2.", "k").unwrap();
        assert_eq!(
            get(&mut dm, "ProfileNumberOfEntries"),
            MAX_PROFILES.saturating_sub(1).to_string()
        );
        assert!(store.borrow().generation > 0);
    }

    #[test]
    fn hides_the_password_and_refuses_unsupported_values() {
        use crate::datamodel::engine::SetValue;
        let (mut dm, store) = model();
        dm.add_object("Device.BulkData.Profile.", "k").unwrap();
        let set = |dm: &mut DataModel, name: &str, value: &str| {
            let path = format!("{ROOT}{name}");
            dm.set_values(
                &[SetValue {
                    name: &path,
                    value,
                    xsd_type: None,
                }],
                "k",
            )
        };
        set(&mut dm, "Profile.1.HTTP.Password", "secret").unwrap();
        assert_eq!(get(&mut dm, "Profile.1.HTTP.Password"), "");
        assert_eq!(
            store.borrow().get("Profile.1.HTTP.Password"),
            Some("secret")
        );
        for (name, value) in [
            ("Profile.1.Protocol", "MQTT"),
            ("Profile.1.EncodingType", "XDR"),
            ("Profile.1.HTTP.Compression", "Compress"),
            ("Profile.1.HTTP.URL", "ftp://collector/"),
        ] {
            let fault = set(&mut dm, name, value).unwrap_err();
            assert_eq!(
                fault.parameter_faults[0].code,
                FaultCode::InvalidParameterValue,
                "{name}"
            );
        }
        set(&mut dm, "Enable", "1").unwrap();
        assert_eq!(get(&mut dm, "Status"), "Enabled");
    }
}
