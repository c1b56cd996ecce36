//! The interface through which a subsystem serves the parameters under a path prefix.
//!
//! All paths given to a provider are concrete and instance-numbered
//! (`Device.IP.Interface.2.Name`, tables as `Device.IP.Interface.`); aliases are
//! resolved by the engine. Values passed to `set` are already validated
//! against the schema and canonical (booleans `1`/`0`).

use crate::cwmp::fault::{Fault, FaultCode};

/// When a committed change takes effect (the `Status` of SetParameterValues,
/// AddObject and DeleteObject responses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ApplyStatus {
    /// Applied and in effect (status 0).
    #[default]
    Applied,
    /// Committed, but takes effect only after a reboot or a service reload (status 1).
    Pending,
}

impl ApplyStatus {
    /// Pending when configuration was written (its service applies it when
    /// reloaded after the session), else Applied.
    pub fn after_writing(written: bool) -> ApplyStatus {
        if written {
            ApplyStatus::Pending
        } else {
            ApplyStatus::Applied
        }
    }

    /// The status number of the RPC responses.
    pub fn code(self) -> u8 {
        match self {
            ApplyStatus::Applied => 0,
            ApplyStatus::Pending => 1,
        }
    }
}

/// A source of parameter values for one or more subtrees of the model.
pub trait Provider {
    /// The current value of a parameter, or `None` if this provider does not
    /// serve it (the engine then answers 9005, never a made-up value).
    fn get(&mut self, path: &str) -> Option<String>;

    /// Instance numbers, ascending, of the table at `table` (ending in `.`).
    fn instances(&mut self, _table: &str) -> Vec<u32> {
        Vec::new()
    }

    /// Whether this provider can write a parameter the schema marks readWrite.
    fn writable(&self, _path: &str) -> bool {
        false
    }

    /// Whether AddObject and DeleteObject work on the table at `table`
    /// (instance-numbered, ending in `.`) of a table the schema marks
    /// readWrite; GetParameterNames reports the table writable only then.
    fn creatable(&self, _table: &str) -> bool {
        false
    }

    /// Whether DeleteObject works on an instance (`Device.X.Table.3.`) of
    /// a creatable table; GetParameterNames reports the instance writable
    /// only then. Rows a provider adds beside the creatable ones say no.
    fn deletable(&self, _instance: &str) -> bool {
        true
    }

    /// Stages a new value; nothing changes until `commit`.
    fn set(&mut self, _path: &str, _value: &str) -> Result<(), FaultCode> {
        Err(FaultCode::NonWritableParameter)
    }

    /// Applies every staged value at once.
    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        Ok(ApplyStatus::Applied)
    }

    /// Drops every staged value.
    fn abort(&mut self) {}

    /// Creates instance `number` of `table`; `alias` is given when the
    /// instance has an Alias parameter (the ACS's or a `cpe-<n>` one).
    fn add_instance(
        &mut self,
        _table: &str,
        _number: u32,
        _alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        Err(FaultCode::RequestDenied)
    }

    /// Deletes the instance at `instance` (`Device.X.Table.3.`).
    fn delete_instance(&mut self, _instance: &str) -> Result<ApplyStatus, FaultCode> {
        Err(FaultCode::RequestDenied)
    }
}

/// A provider keeping its values in memory: static vendor values, tests, and
/// tables whose instances live only as long as the process. Added instances
/// get the schema's parameters with their default values.
pub struct MemoryProvider {
    schema: crate::datamodel::schema::Schema,
    values: crate::vecmap::VecMap<String, String>,
    read_only: crate::vecmap::VecSet<String>,
    staged: Vec<(String, String)>,
}

impl MemoryProvider {
    pub fn new(schema: crate::datamodel::schema::Schema) -> MemoryProvider {
        MemoryProvider {
            schema,
            values: crate::vecmap::VecMap::new(),
            read_only: crate::vecmap::VecSet::new(),
            staged: Vec::new(),
        }
    }

    /// Adds or replaces a value (an instance-numbered path).
    pub fn insert(&mut self, path: &str, value: &str) {
        self.values.insert(path.to_owned(), value.to_owned());
    }

    /// Makes a parameter unwritable even if the schema allows writing it.
    pub fn lock(&mut self, path: &str) {
        self.read_only.insert(path.to_owned());
    }

    /// Every committed value by path.
    pub fn values(&self) -> &crate::vecmap::VecMap<String, String> {
        &self.values
    }

    /// Puts back values taken with `values` (undoing a change that could not be persisted).
    pub fn replace_values(&mut self, values: crate::vecmap::VecMap<String, String>) {
        self.values = values;
    }

    /// The committed value of a path.
    pub fn value(&self, path: &str) -> Option<&str> {
        self.values.get(path).map(String::as_str)
    }
}

/// A parameter's schema default in canonical form (`false` is `0`, an
/// empty list `[]` is the empty string); the empty string without one.
pub fn default_of(
    schema: crate::datamodel::schema::Schema,
    node: crate::datamodel::schema::NodeId,
) -> String {
    match schema.constraints(node).default_value() {
        None | Some("[]") => String::new(),
        Some(value) => schema
            .validate(node, value)
            .unwrap_or_else(|_| value.to_owned()),
    }
}

impl Provider for MemoryProvider {
    fn get(&mut self, path: &str) -> Option<String> {
        self.values.get(path).cloned()
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        let mut numbers: Vec<u32> = self
            .values
            .range_from(table)
            .take_while(|(k, _)| k.starts_with(table))
            .filter_map(|(k, _)| k.get(table.len()..)?.split('.').next()?.parse().ok())
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }

    fn writable(&self, path: &str) -> bool {
        !self.read_only.contains(path)
    }

    fn creatable(&self, _table: &str) -> bool {
        true
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        self.staged.push((path.to_owned(), value.to_owned()));
        Ok(())
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        for (path, value) in self.staged.drain(..) {
            self.values.insert(path, value);
        }
        Ok(ApplyStatus::Applied)
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
        let schema = self.schema;
        let template = schema
            .lookup(&format!(
                "{}{{i}}.",
                crate::datamodel::path::schema_path(table)
            ))
            .ok_or(FaultCode::InvalidParameterName)?;
        let instance = format!("{table}{number}.");
        for child in schema.children(template) {
            if schema.is_parameter(child) {
                let name = schema.name(child);
                let value = match (name, alias) {
                    ("Alias", Some(alias)) => alias.to_owned(),
                    _ => default_of(schema, child),
                };
                self.values.insert(format!("{instance}{name}"), value);
            }
        }
        Ok(ApplyStatus::Applied)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        self.values.retain(|k, _| !k.starts_with(instance));
        Ok(ApplyStatus::Applied)
    }
}
