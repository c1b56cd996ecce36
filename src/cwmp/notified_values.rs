//! What value-change notification remembers across restarts: the last values of notified parameters and the changes not yet reported.
//!
//! Without it the comparison values were retaken at every start, so a
//! change made while the daemon was down (or restarting) was never
//! reported, and a change detected but not yet in an acknowledged Inform
//! died with the process. The daemon writes this record at once whenever
//! either part changes.
//!
//! File format (versioned text, `%XX` escapes of [`crate::records`]):
//! ```text
//! icwmp-notified-values 1
//! value<TAB><internal parameter path><TAB><value>
//! changed<TAB><parameter name><TAB><value><TAB><xsd type>
//! ```

use std::collections::HashMap;

use crate::cwmp::params::{ParameterValue, XsdType};
use crate::records::{parse_lines, push_line, RecordError};

const HEADER: &str = "icwmp-notified-values 1";

/// The persisted notification state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifiedValues {
    /// The value last seen of each parameter with notification on (the data
    /// model's comparison baseline, by internal path).
    pub baseline: HashMap<String, String>,
    /// Changes detected but not yet in an Inform the ACS acknowledged.
    pub pending: Vec<ParameterValue>,
}

impl NotifiedValues {
    /// The record as file text; baseline lines are sorted so that equal
    /// records give equal files.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = String::from(HEADER);
        text.push('\n');
        let mut baseline: Vec<(&String, &String)> = self.baseline.iter().collect();
        baseline.sort();
        for (path, value) in baseline {
            push_line(&mut text, &["value", path, value]);
        }
        for change in &self.pending {
            push_line(
                &mut text,
                &[
                    "changed",
                    &change.name,
                    &change.value,
                    change.xsd_type.qualified(),
                ],
            );
        }
        text.into_bytes()
    }

    /// Reads [`NotifiedValues::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Result<NotifiedValues, RecordError> {
        let mut record = NotifiedValues::default();
        for (line, fields) in parse_lines(bytes, HEADER)? {
            let bad = |reason| RecordError::BadLine { line, reason };
            match <[String; 3]>::try_from(fields) {
                Ok([kind, path, value]) if kind == "value" => {
                    record.baseline.insert(path, value);
                }
                Ok(_) => return Err(bad("unknown record")),
                Err(fields) => match <[String; 4]>::try_from(fields) {
                    Ok([kind, name, value, xsd]) if kind == "changed" => {
                        let xsd_type = XsdType::from_name(&xsd).ok_or(bad("unknown type"))?;
                        record.pending.push(ParameterValue {
                            name,
                            value,
                            xsd_type,
                        });
                    }
                    _ => return Err(bad("unknown record")),
                },
            }
        }
        Ok(record)
    }

    /// Adds changes to report, a newer value of a parameter replacing the older.
    pub fn add_pending(&mut self, changes: impl IntoIterator<Item = ParameterValue>) {
        for change in changes {
            self.pending.retain(|p| p.name != change.name);
            self.pending.push(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let mut record = NotifiedValues::default();
        record.baseline.insert(
            "Device.IP.Interface.1.IPv4Address.1.IPAddress".into(),
            "10.0.0.1".into(),
        );
        record
            .baseline
            .insert("Device.X".into(), "tab\there\nnewline".into());
        record.add_pending([
            ParameterValue::new("Device.X", "old", XsdType::String),
            ParameterValue::new("Device.Y", "1", XsdType::UnsignedInt),
            ParameterValue::new("Device.X", "new", XsdType::String),
        ]);
        assert_eq!(record.pending.len(), 2, "a newer value replaces the older");
        let back = NotifiedValues::from_bytes(&record.to_bytes()).expect("round trip");
        assert_eq!(back, record);
        for bad in [
            "icwmp-notified-values 1\nvalue\tonly-path\n",
            "icwmp-notified-values 1\nchanged\tDevice.X\t1\txsd:nothing\n",
            "icwmp-notified-values 1\nother\ta\tb\n",
            "icwmp-notified-values 2\n",
        ] {
            assert!(
                NotifiedValues::from_bytes(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
    }
}
