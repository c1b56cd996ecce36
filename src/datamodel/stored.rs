//! Tables the ACS fills that have no home in the system configuration (ManagementServer.InformParameter, DeviceInfo.Location), kept in a state file.
//!
//! File format (text, versioned by its first line; values escaped so one
//! record is one line):
//! ```text
//! icwmp-tables 1
//! Device.ManagementServer.InformParameter.1.ParameterName\tDevice.WiFi.SSID.*.SSID
//! ```
//! A file that does not parse is set aside as `*.corrupt` and the tables
//! start empty. Every commit, AddObject and DeleteObject rewrites the file
//! atomically before it is acknowledged.

use std::path::{Path, PathBuf};

use crate::cwmp::fault::{Fault, FaultCode};
use crate::datamodel::path::schema_path;
use crate::datamodel::provider::{ApplyStatus, MemoryProvider, Provider};
use crate::datamodel::schema::{NodeKind, Schema};
use crate::fsutil;
use crate::vecmap::VecMap;

const HEADER: &str = "icwmp-tables 1";
/// Instances one table may hold: the ACS cannot grow the file and the Inform without bound.
pub const MAX_ROWS: usize = 256;

/// Checks a value before it is staged (beyond the schema's own checks).
pub type ValueCheck = fn(Schema, &str, &str) -> Result<(), FaultCode>;

/// The persisted tables: values in memory, mirrored to `file`.
pub struct StoredTables {
    schema: Schema,
    memory: MemoryProvider,
    file: Option<PathBuf>,
    /// Table schema paths (`Device.DeviceInfo.Location.`) served.
    tables: Vec<String>,
    check: Option<ValueCheck>,
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

/// Parses the file text; `Err(line)` names the first bad line.
fn parse(text: &str) -> Result<VecMap<String, String>, usize> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(1);
    }
    let mut values = VecMap::new();
    for (i, line) in lines.enumerate() {
        let (path, value) = line.split_once('\t').ok_or(i + 2)?;
        values.insert(path.to_owned(), unescape(value).ok_or(i + 2)?);
    }
    Ok(values)
}

fn render(values: &VecMap<String, String>) -> String {
    let mut text = format!("{HEADER}\n");
    for (path, value) in values {
        text.push_str(path);
        text.push('\t');
        text.push_str(&escape(value));
        text.push('\n');
    }
    text
}

impl StoredTables {
    /// Tables at `tables` (schema paths ending in `.`), kept in `file` (in
    /// memory only with `None`). Returns the provider and, if the file was
    /// corrupt, where it was set aside.
    pub fn open(
        schema: Schema,
        tables: &[&str],
        file: Option<&Path>,
        check: Option<ValueCheck>,
    ) -> (StoredTables, Option<String>) {
        let mut memory = MemoryProvider::new(schema);
        let mut problem = None;
        if let Some(file) = file {
            match std::fs::read_to_string(file) {
                Ok(text) => match parse(&text) {
                    Ok(values) => {
                        for (path, value) in values {
                            memory.insert(&path, &value);
                        }
                    }
                    Err(line) => {
                        let aside = file.with_extension("corrupt");
                        let moved = std::fs::rename(file, &aside).is_ok();
                        problem = Some(format!(
                            "{} corrupt at line {line}{}",
                            file.display(),
                            if moved { ", set aside" } else { "" }
                        ));
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problem = Some(format!("{}: {e}", file.display())),
            }
        }
        let stored = StoredTables {
            schema,
            memory,
            file: file.map(Path::to_path_buf),
            tables: tables.iter().map(|t| (*t).to_owned()).collect(),
            check,
        };
        (stored, problem)
    }

    /// The prefixes to register: each table and its `…NumberOfEntries` counter.
    pub fn prefixes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for table in &self.tables {
            out.push(table.clone());
            let counter = format!("{}NumberOfEntries", table.trim_end_matches('.'));
            if self
                .schema
                .lookup(&counter)
                .is_some_and(|n| self.schema.node_kind(n) == NodeKind::Parameter)
            {
                out.push(counter);
            }
        }
        out
    }

    fn serves_table(&self, table: &str) -> bool {
        let pattern = schema_path(table);
        self.tables.contains(&pattern)
    }

    fn save(&self) -> Result<(), String> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        fsutil::atomic_write(file, render(self.memory.values()).as_bytes())
            .map_err(|e| format!("{}: {e}", file.display()))
    }
}

impl Provider for StoredTables {
    fn get(&mut self, path: &str) -> Option<String> {
        if let Some(table) = path.strip_suffix("NumberOfEntries") {
            let table = format!("{table}.");
            if self.serves_table(&table) {
                return Some(self.memory.instances(&table).len().to_string());
            }
        }
        self.memory.get(path)
    }

    fn instances(&mut self, table: &str) -> Vec<u32> {
        self.memory.instances(table)
    }

    fn writable(&self, path: &str) -> bool {
        !path.ends_with("NumberOfEntries")
    }

    fn creatable(&self, table: &str) -> bool {
        self.serves_table(table)
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), FaultCode> {
        if let Some(check) = self.check {
            check(self.schema, path, value)?;
        }
        self.memory.set(path, value)
    }

    fn commit(&mut self) -> Result<ApplyStatus, Fault> {
        let before = self.memory.values().clone();
        self.memory.commit()?;
        if let Err(e) = self.save() {
            self.memory.replace_values(before);
            return Err(Fault::with_text(FaultCode::InternalError, e));
        }
        Ok(ApplyStatus::Applied)
    }

    fn abort(&mut self) {
        self.memory.abort();
    }

    fn add_instance(
        &mut self,
        table: &str,
        number: u32,
        alias: Option<&str>,
    ) -> Result<ApplyStatus, FaultCode> {
        if !self.serves_table(table) {
            return Err(FaultCode::RequestDenied);
        }
        if self.memory.instances(table).len() >= MAX_ROWS {
            return Err(FaultCode::ResourcesExceeded);
        }
        let before = self.memory.values().clone();
        self.memory.add_instance(table, number, alias)?;
        if self.save().is_err() {
            self.memory.replace_values(before);
            return Err(FaultCode::InternalError);
        }
        Ok(ApplyStatus::Applied)
    }

    fn delete_instance(&mut self, instance: &str) -> Result<ApplyStatus, FaultCode> {
        let before = self.memory.values().clone();
        self.memory.delete_instance(instance)?;
        if self.save().is_err() {
            self.memory.replace_values(before);
            return Err(FaultCode::InternalError);
        }
        Ok(ApplyStatus::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip_and_bad_files_are_refused() {
        for v in ["", "a\tb\nc\\d\re", "plain"] {
            assert_eq!(unescape(&escape(v)).as_deref(), Some(v));
        }
        let mut values = VecMap::new();
        values.insert("Device.X.1.A".to_owned(), "a\tb".to_owned());
        assert_eq!(parse(&render(&values)), Ok(values));
        assert_eq!(parse("nope\n"), Err(1));
        assert_eq!(parse(&format!("{HEADER}\nno-tab\n")), Err(2));
        assert_eq!(parse(&format!("{HEADER}\nA\tbad\\q\n")), Err(2));
    }

    use crate::datamodel::config::{MemoryConfig, MemoryUci};
    use crate::datamodel::engine::{DataModel, Options, SetValue};
    use crate::datamodel::register_standard_providers;
    use crate::datamodel::schema::ModelKind;
    use crate::datamodel::state::DmState;

    fn host_model(state_dir: &Path) -> DataModel {
        let mut dm = DataModel::new(
            Schema::new(ModelKind::Tr181),
            Options::default(),
            DmState::in_memory(),
        );
        register_standard_providers(
            &mut dm,
            MemoryConfig::default().shared(),
            MemoryUci::default().shared(),
            state_dir,
        )
        .expect("register");
        dm
    }

    fn set(dm: &mut DataModel, name: &str, value: &str) -> Result<u8, u32> {
        dm.set_values(
            &[SetValue {
                name,
                value,
                xsd_type: None,
            }],
            "",
        )
        .map(|s| s.code())
        .map_err(|f| {
            f.parameter_faults
                .first()
                .map_or(f.code.code(), |p| p.code.code())
        })
    }

    #[test]
    fn every_table_gpn_calls_writable_accepts_add_object() {
        let dir = std::env::temp_dir().join(format!("icwmp-stored-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut dm = host_model(&dir);
        let writable_tables: Vec<String> = dm
            .get_names("Device.", false)
            .expect("gpn")
            .into_iter()
            .filter(|i| i.writable && i.name.ends_with('.'))
            .filter(|i| {
                !i.name
                    .trim_end_matches('.')
                    .rsplit('.')
                    .next()
                    .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|i| i.name)
            .collect();
        assert!(
            writable_tables.contains(&"Device.ManagementServer.InformParameter.".to_owned()),
            "{writable_tables:?}"
        );
        assert!(!writable_tables.contains(&"Device.IP.Interface.".to_owned()));
        for table in &writable_tables {
            let added = dm.add_object(table, "");
            assert!(added.is_ok(), "{table}: {added:?}");
        }
        assert_eq!(
            dm.add_object("Device.DNS.Client.Server.", "")
                .map_err(|f| f.code.code()),
            Err(9003)
        );

        let base = "Device.ManagementServer.InformParameter.1.";
        assert_eq!(
            set(
                &mut dm,
                &format!("{base}ParameterName"),
                "Device.Time.Status"
            ),
            Ok(0)
        );
        assert_eq!(set(&mut dm, &format!("{base}Enable"), "true"), Ok(0));
        // Forced Inform parameters, `4 VALUE CHANGE` and unknown names are 9007.
        for (name, value) in [
            ("ParameterName", "Device.DeviceInfo.SoftwareVersion"),
            ("ParameterName", "Device.ManagementServer.ParameterKey"),
            ("ParameterName", "Device.No.Such"),
            ("ParameterName", "Device.Time.Sta*"),
            ("EventList", "1 BOOT,4 VALUE CHANGE"),
        ] {
            assert_eq!(
                set(&mut dm, &format!("{base}{name}"), value),
                Err(9007),
                "{value}"
            );
        }
        let names = |dm: &mut DataModel, events: &[&str]| -> Vec<String> {
            dm.inform_parameters_for(events)
                .into_iter()
                .map(|v| v.name)
                .collect()
        };
        assert!(names(&mut dm, &["1 BOOT"]).contains(&"Device.Time.Status".to_owned()));
        assert!(!names(&mut dm, &["4 VALUE CHANGE"]).contains(&"Device.Time.Status".to_owned()));
        assert_eq!(
            set(&mut dm, &format!("{base}EventList"), "2 PERIODIC"),
            Ok(0)
        );
        assert!(!names(&mut dm, &["1 BOOT"]).contains(&"Device.Time.Status".to_owned()));
        assert!(
            names(&mut dm, &["1 BOOT", "2 PERIODIC"]).contains(&"Device.Time.Status".to_owned())
        );

        // A wildcard pattern names every instance.
        assert_eq!(
            set(
                &mut dm,
                &format!("{base}ParameterName"),
                "Device.DeviceInfo.Location.*.Source"
            ),
            Ok(0)
        );
        let located: Vec<String> = names(&mut dm, &["2 PERIODIC"])
            .into_iter()
            .filter(|n| n.contains("Location"))
            .collect();
        assert_eq!(located, ["Device.DeviceInfo.Location.1.Source"]);
        assert_eq!(
            set(
                &mut dm,
                "Device.DeviceInfo.Location.1.DataObject",
                "{\"lat\":1}"
            ),
            Ok(0)
        );

        // Everything survives a restart.
        let mut again = host_model(&dir);
        let value = |dm: &mut DataModel, p: &str| dm.get_values(&[p]).expect(p).remove(0).value;
        assert_eq!(value(&mut again, &format!("{base}EventList")), "2 PERIODIC");
        assert_eq!(
            value(&mut again, "Device.DeviceInfo.Location.1.DataObject"),
            "{\"lat\":1}"
        );
        assert_eq!(
            value(
                &mut again,
                "Device.ManagementServer.InformParameterNumberOfEntries"
            ),
            "1"
        );
        again.delete_object(base, "").expect("delete");
        for _ in 1..MAX_ROWS {
            again
                .add_object("Device.DeviceInfo.Location.", "")
                .expect("add");
        }
        assert_eq!(
            again
                .add_object("Device.DeviceInfo.Location.", "")
                .map_err(|f| f.code.code()),
            Err(9004)
        );
        let mut third = host_model(&dir);
        assert_eq!(
            value(
                &mut third,
                "Device.ManagementServer.InformParameterNumberOfEntries"
            ),
            "0"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
