//! The `Device.BulkData.` settings: the persisted parameter values, their validation, and the typed profiles the collector runs.
//!
//! Values are kept by path relative to `Device.BulkData.` (`Profile.1.HTTP.URL`)
//! in `<state_dir>/bulkdata`, written atomically after every commit:
//! ```text
//! icwmp-bulkdata 1
//! Enable 1
//! Profile.1.HTTP.URL http://collector.example/
//! ```
//! (a value's `\`, line feed and carriage return are written `\\`, `\n`, `\r`).
//! The HTTP password is stored in clear: the state directory must stay root-only.

use std::io;
use std::path::{Path, PathBuf};

use super::report::{CsvFormat, Encoding, JsonFormat, Timestamp};
use crate::cwmp::datetime;
use crate::cwmp::fault::FaultCode;
use crate::fsutil;
use crate::vecmap::VecMap;
use crate::wire::content_coding::ContentCoding;

const HEADER: &str = "icwmp-bulkdata 1";
/// `MaxNumberOfProfiles`.
pub const MAX_PROFILES: usize = 16;
/// `MaxNumberOfParameterReferences`: parameters one report may hold, partial
/// paths and wildcards expanded.
pub const MAX_PARAMETER_REFERENCES: usize = 20_000;
/// `MinReportingInterval`, seconds.
pub const MIN_REPORTING_INTERVAL: u32 = 1;

/// The persisted values, shared by the data model provider and the collector.
#[derive(Debug, Default)]
pub struct BulkStore {
    file: Option<PathBuf>,
    values: VecMap<String, String>,
    /// Bumped by every committed change, so the collector knows to reread.
    pub generation: u64,
    /// Set by the collector: a profile could not be collected or sent.
    pub error: bool,
    /// The file's text as last read or written (to notice edits by others).
    file_text: String,
}

impl BulkStore {
    /// Values kept in memory only (tests).
    pub fn in_memory() -> BulkStore {
        BulkStore::default()
    }

    /// Loads `file` (missing: empty). A file that does not parse is set aside
    /// and reported; the store then starts empty, bound to the same file.
    pub fn load(file: &Path) -> (BulkStore, Option<String>) {
        let mut store = BulkStore {
            file: Some(file.to_path_buf()),
            ..BulkStore::default()
        };
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (store, None),
            Err(e) => return (store, Some(format!("{}: {e}", file.display()))),
        };
        match parse(&text) {
            Ok(values) => {
                store.values = values;
                store.file_text = text;
                (store, None)
            }
            Err(line) => {
                let aside = fsutil::set_aside(file).ok();
                let note = format!(
                    "{} corrupt at line {line}, set aside as {}",
                    file.display(),
                    aside.map_or_else(|| "-".into(), |p| p.display().to_string())
                );
                (store, Some(note))
            }
        }
    }

    /// Rereads the file if someone else (the `icwmp` CLI) changed it since
    /// this store last read or wrote it; `true` if the values changed.
    pub fn reload_if_changed(&mut self) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        let Ok(text) = std::fs::read_to_string(file) else {
            return false;
        };
        if text == self.file_text {
            return false;
        }
        match parse(&text) {
            Ok(values) => {
                self.values = values;
                self.file_text = text;
                self.generation += 1;
                true
            }
            Err(line) => {
                log::error!(
                    "{}: line {line} does not parse; kept the running settings",
                    file.display()
                );
                false
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Every key under `prefix`, in order.
    pub fn keys_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values
            .range_from(prefix)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.as_str())
    }

    /// The instance numbers of `table` (`Profile.` or `Profile.1.Parameter.`).
    pub fn instances(&self, table: &str) -> Vec<u32> {
        let mut numbers: Vec<u32> = self
            .keys_under(table)
            .filter_map(|k| k.get(table.len()..)?.split('.').next()?.parse().ok())
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        numbers
    }

    /// Applies changes and saves; `None` values delete every key under the prefix.
    pub fn apply(&mut self, changes: Vec<(String, Option<String>)>) -> io::Result<()> {
        for (key, value) in changes {
            match value {
                Some(value) => {
                    self.values.insert(key, value);
                }
                None => self.values.retain(|k, _| !k.starts_with(&key)),
            }
        }
        self.generation += 1;
        self.save()
    }

    fn save(&mut self) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut text = String::from(HEADER);
        text.push('\n');
        for (key, value) in &self.values {
            text.push_str(key);
            text.push(' ');
            text.push_str(&escape(value));
            text.push('\n');
        }
        fsutil::atomic_write(file, text.as_bytes())?;
        self.file_text = text;
        Ok(())
    }
}

/// Escapes `\`, LF and CR for a one-line record.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Undoes [`escape`]; `None` for a dangling or unknown escape.
pub fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(match chars.next()? {
                '\\' => '\\',
                'n' => '\n',
                'r' => '\r',
                _ => return None,
            });
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn parse(text: &str) -> Result<VecMap<String, String>, usize> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        None => return Ok(VecMap::new()),
        Some((_, HEADER)) => {}
        Some(_) => return Err(1),
    }
    let mut values = VecMap::new();
    for (index, line) in lines {
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let value = unescape(value).ok_or(index + 1)?;
        if key.is_empty() {
            return Err(index + 1);
        }
        values.insert(key.to_owned(), value);
    }
    Ok(values)
}

/// The part of a key after its profile instance (`Profile.1.HTTP.URL` → `HTTP.URL`).
fn profile_relative(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("Profile.")?;
    let (_, tail) = rest.split_once('.')?;
    Some(tail)
}

/// Checks a value the schema accepted against what this CPE supports
/// (enumerations by reference, paths, minimums): 9007 if not.
pub fn check_value(key: &str, value: &str) -> Result<(), FaultCode> {
    let invalid = Err(FaultCode::InvalidParameterValue);
    let Some(name) = profile_relative(key) else {
        return Ok(());
    };
    let name = if name.starts_with("Parameter.") || name.starts_with("HTTP.RequestURIParameter.") {
        // `Parameter.3.Reference` → `Parameter.Reference`.
        let mut parts = name.split('.');
        let table = parts.next().unwrap_or("");
        let table = if table == "HTTP" {
            parts.next();
            "HTTP.RequestURIParameter"
        } else {
            table
        };
        parts.next();
        &format!("{table}.{}", parts.collect::<Vec<_>>().join("."))
    } else {
        name
    };
    let ok = match name {
        "Protocol" => value == "HTTP",
        "EncodingType" => matches!(value, "JSON" | "CSV"),
        "ReportingInterval" => value
            .parse::<u32>()
            .is_ok_and(|v| v >= MIN_REPORTING_INTERVAL),
        "TimeReference" => datetime::parse(value).is_ok(),
        "CSVEncoding.ReportFormat" => matches!(value, "ParameterPerRow" | "ParameterPerColumn"),
        "CSVEncoding.RowTimestamp" | "JSONEncoding.ReportTimestamp" => {
            Timestamp::from_name(value).is_some()
        }
        "JSONEncoding.ReportFormat" => matches!(value, "ObjectHierarchy" | "NameValuePair"),
        "HTTP.Compression" => value == "None" || ContentCoding::from_name(value).is_some(),
        "HTTP.Method" => matches!(value, "POST" | "PUT"),
        "HTTP.URL" => {
            value.is_empty() || value.starts_with("http://") || value.starts_with("https://")
        }
        "Parameter.Reference" => value.is_empty() || is_reference(value, true),
        "HTTP.RequestURIParameter.Reference" => value.is_empty() || is_reference(value, false),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        invalid
    }
}

/// A `Device.` path of a parameter or (ending in `.`) an object; `*` may
/// stand for whole instance-number segments when `wildcards` is allowed.
fn is_reference(path: &str, wildcards: bool) -> bool {
    let body = path.strip_suffix('.').unwrap_or(path);
    let mut segments = body.split('.');
    if segments.next() != Some("Device") {
        return false;
    }
    segments.all(|s| {
        !s.is_empty()
            && ((wildcards && s == "*")
                || s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    })
}

/// One `Parameter.{i}` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterRef {
    pub name: String,
    pub reference: String,
    pub exclude: bool,
}

/// One `HTTP.RequestURIParameter.{i}` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriParameter {
    pub name: String,
    pub reference: String,
}

/// `HTTP.` of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    pub url: String,
    pub username: String,
    pub password: String,
    pub compression: Option<ContentCoding>,
    pub put: bool,
    pub use_date_header: bool,
    pub retry_enable: bool,
    pub retry_min_wait: u32,
    pub retry_multiplier: u32,
    pub uri_parameters: Vec<UriParameter>,
    pub persist_across_reboot: bool,
}

/// A profile as the collector runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub number: u32,
    pub enable: bool,
    pub name: String,
    /// `NumberOfRetainedFailedReports`: -1 as many as possible.
    pub retained: i32,
    /// Only `HTTP` is supported; anything else leaves the profile idle.
    pub protocol: String,
    pub encoding: Encoding,
    pub reporting_interval: u32,
    /// `None` for the Unknown Time.
    pub time_reference: Option<i64>,
    pub parameters: Vec<ParameterRef>,
    pub http: HttpSettings,
}

impl Profile {
    /// Reads profile `number` from the store.
    pub fn read(store: &BulkStore, number: u32) -> Profile {
        let base = format!("Profile.{number}.");
        let get = |name: &str| store.get(&format!("{base}{name}")).unwrap_or("");
        let flag = |name: &str, default: bool| match store.get(&format!("{base}{name}")) {
            Some(v) => matches!(v, "1" | "true"),
            None => default,
        };
        let number_or = |name: &str, default: u32| get(name).parse().unwrap_or(default);
        // An absent key has the default; a present one, even empty, is its value.
        let text_or = |name: &str, default: &str| {
            store
                .get(&format!("{base}{name}"))
                .unwrap_or(default)
                .to_owned()
        };
        let timestamp =
            |name: &str| Timestamp::from_name(get(name)).unwrap_or(Timestamp::UnixEpoch);
        let encoding = if get("EncodingType") == "CSV" {
            Encoding::Csv {
                field_separator: text_or("CSVEncoding.FieldSeparator", ","),
                row_separator: text_or("CSVEncoding.RowSeparator", "\n"),
                escape_character: text_or("CSVEncoding.EscapeCharacter", "\""),
                format: if get("CSVEncoding.ReportFormat") == "ParameterPerRow" {
                    CsvFormat::ParameterPerRow
                } else {
                    CsvFormat::ParameterPerColumn
                },
                timestamp: timestamp("CSVEncoding.RowTimestamp"),
            }
        } else {
            Encoding::Json {
                format: if get("JSONEncoding.ReportFormat") == "NameValuePair" {
                    JsonFormat::NameValuePair
                } else {
                    JsonFormat::ObjectHierarchy
                },
                timestamp: timestamp("JSONEncoding.ReportTimestamp"),
            }
        };
        let parameters = store
            .instances(&format!("{base}Parameter."))
            .into_iter()
            .map(|n| {
                let at = format!("Parameter.{n}.");
                ParameterRef {
                    name: get(&format!("{at}Name")).to_owned(),
                    reference: get(&format!("{at}Reference")).to_owned(),
                    exclude: flag(&format!("{at}Exclude"), false),
                }
            })
            .filter(|p| !p.reference.is_empty())
            .collect();
        let uri_parameters = store
            .instances(&format!("{base}HTTP.RequestURIParameter."))
            .into_iter()
            .map(|n| {
                let at = format!("HTTP.RequestURIParameter.{n}.");
                UriParameter {
                    name: get(&format!("{at}Name")).to_owned(),
                    reference: get(&format!("{at}Reference")).to_owned(),
                }
            })
            .filter(|p| !p.reference.is_empty())
            .collect();
        let time_reference = datetime::parse(get("TimeReference"))
            .ok()
            .filter(|t| !t.is_unknown())
            .map(|t| t.unix_secs);
        Profile {
            number,
            enable: flag("Enable", false),
            name: get("Name").to_owned(),
            retained: get("NumberOfRetainedFailedReports").parse().unwrap_or(0),
            protocol: get("Protocol").to_owned(),
            encoding,
            reporting_interval: number_or("ReportingInterval", 86_400).max(MIN_REPORTING_INTERVAL),
            time_reference,
            parameters,
            http: HttpSettings {
                url: get("HTTP.URL").to_owned(),
                username: get("HTTP.Username").to_owned(),
                password: get("HTTP.Password").to_owned(),
                compression: ContentCoding::from_name(get("HTTP.Compression")),
                put: get("HTTP.Method") == "PUT",
                use_date_header: flag("HTTP.UseDateHeader", true),
                retry_enable: flag("HTTP.RetryEnable", false),
                retry_min_wait: number_or("HTTP.RetryMinimumWaitInterval", 5),
                retry_multiplier: number_or("HTTP.RetryIntervalMultiplier", 2000),
                uri_parameters,
                persist_across_reboot: flag("HTTP.PersistAcrossReboot", false),
            },
        }
    }

    /// Whether the profile can run: enabled, HTTP, with a URL.
    pub fn runnable(&self) -> bool {
        self.enable && self.protocol == "HTTP" && !self.http.url.is_empty()
    }
}

/// Whether collection is on (`Device.BulkData.Enable`).
pub fn globally_enabled(store: &BulkStore) -> bool {
    matches!(store.get("Enable"), Some("1" | "true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_values_the_schema_cannot() {
        let ok = |k: &str, v: &str| check_value(k, v).is_ok();
        assert!(ok("Profile.1.Protocol", "HTTP"));
        assert!(!ok("Profile.1.Protocol", "Streaming"));
        assert!(ok("Profile.1.EncodingType", "CSV"));
        assert!(!ok("Profile.1.EncodingType", "XML"));
        assert!(!ok("Profile.2.HTTP.Compression", "Compress"));
        assert!(ok("Profile.2.HTTP.Compression", "None"));
        // GZIP only where the build has the codings.
        assert_eq!(
            ok("Profile.2.HTTP.Compression", "GZIP"),
            cfg!(feature = "compression")
        );
        assert!(!ok("Profile.2.HTTP.Method", "GET"));
        assert!(!ok("Profile.2.HTTP.URL", "ftp://x/"));
        assert!(ok(
            "Profile.1.Parameter.4.Reference",
            "Device.WiFi.Radio.*.Stats."
        ));
        assert!(!ok("Profile.1.Parameter.4.Reference", "Device.WiFi..Radio"));
        assert!(!ok(
            "Profile.1.Parameter.4.Reference",
            "InternetGatewayDevice.X"
        ));
        assert!(!ok(
            "Profile.1.HTTP.RequestURIParameter.1.Reference",
            "Device.A.*.B"
        ));
        assert!(ok(
            "Profile.1.HTTP.RequestURIParameter.1.Reference",
            "Device.DeviceInfo.SerialNumber"
        ));
        assert!(!ok("Profile.1.CSVEncoding.RowTimestamp", "Unix"));
        assert!(!ok("Profile.1.JSONEncoding.ReportFormat", "Flat"));
        assert!(!ok("Profile.1.TimeReference", "yesterday"));
        assert!(ok("Enable", "1"));
    }

    #[test]
    fn store_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("icwmp-bulkstore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bulkdata");
        let (mut store, note) = BulkStore::load(&file);
        assert!(note.is_none());
        store
            .apply(vec![
                ("Profile.1.Enable".into(), Some("1".into())),
                (
                    "Profile.1.CSVEncoding.RowSeparator".into(),
                    Some("\r\n".into()),
                ),
                (
                    "Profile.1.Parameter.2.Reference".into(),
                    Some("Device.A.".into()),
                ),
                ("Profile.3.Enable".into(), Some("0".into())),
            ])
            .unwrap();
        store.apply(vec![("Profile.3.".into(), None)]).unwrap();
        let (mut again, note) = BulkStore::load(&file);
        assert!(note.is_none());
        assert!(!again.reload_if_changed(), "nothing changed");
        // Another writer (the CLI) changes the file: the store notices.
        let edited = std::fs::read_to_string(&file).unwrap() + "Enable 1\n";
        std::fs::write(&file, edited).unwrap();
        let generation = again.generation;
        assert!(again.reload_if_changed());
        assert_eq!(
            (again.get("Enable"), again.generation),
            (Some("1"), generation + 1)
        );
        assert_eq!(again.instances("Profile."), vec![1]);
        assert_eq!(
            again.get("Profile.1.CSVEncoding.RowSeparator"),
            Some("\r\n")
        );
        let profile = Profile::read(&again, 1);
        assert!(profile.enable);
        assert_eq!(profile.parameters.len(), 1);
        std::fs::write(&file, "garbage\n").unwrap();
        let (empty, note) = BulkStore::load(&file);
        assert!(note.is_some() && empty.instances("Profile.").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
