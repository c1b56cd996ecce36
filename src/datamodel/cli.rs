//! The data model CLI core (`icwmpd -m …`, `-c`, `-f`): runs one command against the engine and prints icwmp's JSON lines.

use std::fmt;
use std::io::{self, Write};

use crate::cwmp::fault::Fault;
use crate::cwmp::params::{
    ParameterAttribute, ParameterInfo, ParameterValue, SetParameterAttribute,
};
use crate::datamodel::engine::{DataModel, InstanceMode, Options, SetValue};
use crate::quoted::Quoted;

/// The `-u` access level. Public and basic users may only read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UserAcl {
    Public,
    Basic,
    XxxAdmin,
    #[default]
    SuperAdmin,
}

impl UserAcl {
    pub fn from_name(name: &str) -> Option<UserAcl> {
        match name {
            "public" => Some(UserAcl::Public),
            "basic" => Some(UserAcl::Basic),
            "xxxadmin" => Some(UserAcl::XxxAdmin),
            "superadmin" => Some(UserAcl::SuperAdmin),
            _ => None,
        }
    }

    fn may_write(self) -> bool {
        matches!(self, UserAcl::XxxAdmin | UserAcl::SuperAdmin)
    }
}

/// The CLI switches that shape a data model session (`-a`, `-N`/`-A`, `-M`, `-u`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CliOptions {
    pub engine: Options,
    pub user_acl: UserAcl,
}

impl CliOptions {
    /// Options from the switch values; `amendment` and `user_acl` as given on
    /// the command line, `None` for defaults.
    pub fn new(
        alias_based_addressing: bool,
        instance_alias: bool,
        amendment: Option<&str>,
        user_acl: Option<&str>,
    ) -> Result<CliOptions, CliError> {
        let amendment = match amendment {
            Some(text) => text
                .parse::<u32>()
                .map_err(|_| CliError::Usage(format!("bad amendment {}", Quoted(text))))?,
            None => Options::default().amendment,
        };
        let user_acl = match user_acl {
            Some(name) => UserAcl::from_name(name).ok_or_else(|| {
                CliError::Usage(format!("bad user access level {}", Quoted(name)))
            })?,
            None => UserAcl::default(),
        };
        Ok(CliOptions {
            engine: Options {
                alias_based_addressing,
                instance_mode: if instance_alias {
                    InstanceMode::InstanceAlias
                } else {
                    InstanceMode::InstanceNumber
                },
                amendment,
            },
            user_acl,
        })
    }
}

/// Why a command could not run at all (a CWMP fault is printed, not returned).
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Io(io::Error),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(msg) => write!(f, "usage: {msg}"),
            CliError::Io(e) => write!(f, "output: {e}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> CliError {
        CliError::Io(e)
    }
}

/// The commands and their arguments, for the usage text.
pub const COMMANDS: &str = "\
get_value <path>
get_name <path> <nextlevel 0|1>
get_notification <path>
set_value <path> <value> [<path> <value>...]
set_notification <path> <notification 0-6> <change 0|1>
add_object <path> [parameter key]
delete_object <path> [parameter key]
inform";

/// Writes `s` as a JSON string literal.
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One `{ "k": v, … }` line; values are strings unless given as numbers.
fn line(out: &mut dyn Write, fields: &[(&str, Field<'_>)]) -> io::Result<()> {
    let mut text = String::from("{ ");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        json_string(&mut text, key);
        text.push_str(": ");
        match value {
            Field::Text(s) => json_string(&mut text, s),
            Field::Number(n) => text.push_str(&n.to_string()),
        }
    }
    text.push_str(" }\n");
    out.write_all(text.as_bytes())
}

enum Field<'a> {
    Text(&'a str),
    Number(u32),
}

fn print_values(out: &mut dyn Write, values: &[ParameterValue]) -> io::Result<()> {
    for v in values {
        line(
            out,
            &[
                ("parameter", Field::Text(&v.name)),
                ("value", Field::Text(&v.value)),
                ("type", Field::Text(v.xsd_type.qualified())),
            ],
        )?;
    }
    Ok(())
}

/// Prints a fault: one line per parameter fault, else one for the path.
fn print_fault(out: &mut dyn Write, path: &str, fault: &Fault) -> io::Result<()> {
    if fault.parameter_faults.is_empty() {
        return line(
            out,
            &[
                ("parameter", Field::Text(path)),
                ("fault", Field::Number(fault.code.code())),
            ],
        );
    }
    for pf in &fault.parameter_faults {
        line(
            out,
            &[
                ("parameter", Field::Text(&pf.name)),
                ("fault", Field::Number(pf.code.code())),
            ],
        )?;
    }
    Ok(())
}

fn flag(arg: Option<&&str>, what: &str) -> Result<bool, CliError> {
    match arg.copied() {
        Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        _ => Err(CliError::Usage(format!("{what} must be 0 or 1"))),
    }
}

fn current_key(dm: &mut DataModel) -> String {
    let path = format!("{}.ManagementServer.ParameterKey", dm.schema().root_name());
    dm.get_values(&[&path])
        .ok()
        .and_then(|mut v| v.pop())
        .map(|v| v.value)
        .unwrap_or_default()
}

/// Runs one command (`args[0]` is its name). Returns whether it succeeded
/// without a CWMP fault; faults are printed as JSON lines.
pub fn run_command(
    dm: &mut DataModel,
    options: &CliOptions,
    args: &[&str],
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    let usage = || CliError::Usage(COMMANDS.to_owned());
    let (&command, rest) = args.split_first().ok_or_else(usage)?;
    let writes = matches!(
        command,
        "set_value" | "set_notification" | "add_object" | "delete_object"
    );
    if writes && !options.user_acl.may_write() {
        let path = rest.first().copied().unwrap_or("");
        let fault = Fault::new(crate::cwmp::fault::FaultCode::RequestDenied);
        print_fault(out, path, &fault)?;
        return Ok(false);
    }
    let path = rest.first().copied();
    let result: Result<Outcome, Fault> = match command {
        "get_value" => dm
            .get_values(&[path.ok_or_else(usage)?])
            .map(Outcome::Values),
        "get_name" => {
            let path = path.ok_or_else(usage)?;
            let next_level = flag(rest.get(1), "nextlevel")?;
            dm.get_names(path, next_level).map(Outcome::Names)
        }
        "get_notification" => dm
            .get_attributes(&[path.ok_or_else(usage)?])
            .map(Outcome::Attributes),
        "set_value" => {
            if rest.is_empty() || rest.len() % 2 != 0 {
                return Err(usage());
            }
            let entries: Vec<SetValue<'_>> = rest
                .chunks(2)
                .filter_map(|pair| match pair {
                    [name, value] => Some(SetValue {
                        name,
                        value,
                        xsd_type: None,
                    }),
                    _ => None,
                })
                .collect();
            let key = current_key(dm);
            dm.set_values(&entries, &key)
                .map(|status| Outcome::Status(status.code()))
        }
        "set_notification" => {
            let path = path.ok_or_else(usage)?;
            let notification = rest
                .get(1)
                .and_then(|n| n.parse::<u8>().ok())
                .ok_or_else(|| CliError::Usage("notification must be 0-6".into()))?;
            let change = flag(rest.get(2), "change")?;
            let attr = SetParameterAttribute {
                name: path.to_owned(),
                notification_change: change,
                notification,
                access_list_change: false,
                access_list: Vec::new(),
            };
            dm.set_attributes(&[attr]).map(|()| Outcome::Status(0))
        }
        "add_object" | "delete_object" => {
            let path = path.ok_or_else(usage)?;
            let key = match rest.get(1) {
                Some(k) => (*k).to_owned(),
                None => current_key(dm),
            };
            if command == "add_object" {
                dm.add_object(path, &key)
                    .map(|(number, status)| Outcome::Added(number, status.code()))
            } else {
                dm.delete_object(path, &key)
                    .map(|status| Outcome::Status(status.code()))
            }
        }
        "inform" => Ok(Outcome::Values(dm.inform_parameters())),
        _ => return Err(usage()),
    };
    match result {
        Ok(outcome) => {
            print_outcome(out, outcome)?;
            Ok(true)
        }
        Err(fault) => {
            print_fault(out, path.unwrap_or(""), &fault)?;
            Ok(false)
        }
    }
}

/// What a successful command prints.
enum Outcome {
    Values(Vec<ParameterValue>),
    Names(Vec<ParameterInfo>),
    Attributes(Vec<ParameterAttribute>),
    Status(u8),
    Added(u32, u8),
}

fn print_outcome(out: &mut dyn Write, outcome: Outcome) -> io::Result<()> {
    match outcome {
        Outcome::Values(values) => print_values(out, &values),
        Outcome::Names(infos) => {
            for info in infos {
                let writable = if info.writable { "1" } else { "0" };
                line(
                    out,
                    &[
                        ("parameter", Field::Text(&info.name)),
                        ("writable", Field::Text(writable)),
                    ],
                )?;
            }
            Ok(())
        }
        Outcome::Attributes(attrs) => {
            for a in attrs {
                let n = a.notification.to_string();
                line(
                    out,
                    &[
                        ("parameter", Field::Text(&a.name)),
                        ("notification", Field::Text(&n)),
                    ],
                )?;
            }
            Ok(())
        }
        Outcome::Status(code) => line(out, &[("status", Field::Text(&code.to_string()))]),
        Outcome::Added(number, code) => line(
            out,
            &[
                ("status", Field::Text(&code.to_string())),
                ("instance", Field::Text(&number.to_string())),
            ],
        ),
    }
}

/// Splits a command line into words; double quotes group words and `\"`,
/// `\\` escape inside them (for values holding spaces in `-c`/`-f` input).
pub fn split_words(text: &str) -> Result<Vec<String>, CliError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => match chars.next() {
                Some(e) => word.push(e),
                None => return Err(CliError::Usage("dangling backslash".into())),
            },
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(CliError::Usage("unterminated quote".into()));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Runs every non-empty, non-`#` line of a command script (`-c` stdin, `-f`
/// file); returns how many commands faulted.
pub fn run_script(
    dm: &mut DataModel,
    options: &CliOptions,
    text: &str,
    out: &mut dyn Write,
) -> Result<usize, CliError> {
    let mut faulted = 0;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words = split_words(trimmed)?;
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        if !run_command(dm, options, &args, out)? {
            faulted += 1;
        }
    }
    Ok(faulted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::provider::MemoryProvider;
    use crate::datamodel::schema::{ModelKind, Schema};
    use crate::datamodel::state::DmState;

    fn model() -> DataModel {
        let schema = Schema::new(ModelKind::Tr181);
        let mut p = MemoryProvider::new(schema);
        p.insert("Device.Time.Enable", "1");
        p.insert("Device.Time.LocalTimeZone", "CET-1CEST,M3.5.0,M10.5.0/3");
        p.insert("Device.ManagementServer.ParameterKey", "k0");
        p.insert("Device.ManagementServer.URL", "http://a\"b\\c\n");
        p.insert("Device.DeviceInfo.SoftwareVersion", "1.0");
        let mut dm = DataModel::new(schema, Options::default(), DmState::in_memory());
        dm.register(
            &[
                "Device.Time.",
                "Device.ManagementServer.",
                "Device.DeviceInfo.",
            ],
            Box::new(p),
        )
        .expect("register");
        dm.register(
            &["Device.IP.Interface."],
            Box::new(MemoryProvider::new(schema)),
        )
        .expect("register");
        dm
    }

    fn run(dm: &mut DataModel, args: &[&str]) -> String {
        let mut out = Vec::new();
        run_command(dm, &CliOptions::default(), args, &mut out).expect("runs");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn prints_icwmp_json_lines() {
        let mut dm = model();
        assert_eq!(
            run(&mut dm, &["get_value", "Device.Time.Enable"]),
            "{ \"parameter\": \"Device.Time.Enable\", \"value\": \"1\", \"type\": \"xsd:boolean\" }\n"
        );
        assert_eq!(
            run(&mut dm, &["get_value", "Device.ManagementServer.URL"]),
            "{ \"parameter\": \"Device.ManagementServer.URL\", \"value\": \"http://a\\\"b\\\\c\\n\", \"type\": \"xsd:string\" }\n"
        );
        assert_eq!(
            run(&mut dm, &["get_value", "Device.Nope"]),
            "{ \"parameter\": \"Device.Nope\", \"fault\": 9005 }\n"
        );
        assert_eq!(
            run(&mut dm, &["get_name", "Device.Time.", "1"])
                .lines()
                .next(),
            Some("{ \"parameter\": \"Device.Time.Enable\", \"writable\": \"1\" }")
        );
        assert_eq!(
            run(
                &mut dm,
                &["get_notification", "Device.DeviceInfo.SoftwareVersion"]
            ),
            "{ \"parameter\": \"Device.DeviceInfo.SoftwareVersion\", \"notification\": \"2\" }\n"
        );
        assert_eq!(
            run(
                &mut dm,
                &["set_notification", "Device.Time.Enable", "2", "1"]
            ),
            "{ \"status\": \"0\" }\n"
        );
        assert_eq!(
            run(
                &mut dm,
                &[
                    "set_value",
                    "Device.Time.Enable",
                    "0",
                    "Device.Time.LocalTimeZone",
                    "UTC0"
                ]
            ),
            "{ \"status\": \"0\" }\n"
        );
        let key = run(
            &mut dm,
            &["get_value", "Device.ManagementServer.ParameterKey"],
        );
        assert!(
            key.contains("\"k0\""),
            "the CLI keeps the ParameterKey: {key}"
        );
        assert_eq!(
            run(&mut dm, &["set_value", "Device.Time.Enable", "maybe"]),
            "{ \"parameter\": \"Device.Time.Enable\", \"fault\": 9007 }\n"
        );
        assert_eq!(
            run(&mut dm, &["add_object", "Device.IP.Interface."]),
            "{ \"status\": \"0\", \"instance\": \"1\" }\n"
        );
        assert_eq!(
            run(&mut dm, &["delete_object", "Device.IP.Interface.1."]),
            "{ \"status\": \"0\" }\n"
        );
        assert!(run(&mut dm, &["inform"]).contains("Device.DeviceInfo.SoftwareVersion"));
    }

    #[test]
    fn usage_acl_and_scripts() {
        let mut dm = model();
        let mut out = Vec::new();
        let defaults = CliOptions::default();
        assert!(matches!(
            run_command(&mut dm, &defaults, &["frobnicate"], &mut out),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            run_command(
                &mut dm,
                &defaults,
                &["set_value", "Device.Time.Enable"],
                &mut out
            ),
            Err(CliError::Usage(_))
        ));
        let public = CliOptions::new(false, false, None, Some("public")).expect("options");
        assert!(!run_command(
            &mut dm,
            &public,
            &["set_value", "Device.Time.Enable", "0"],
            &mut out
        )
        .expect("runs"));
        assert!(String::from_utf8_lossy(&out).contains("9001"));
        assert!(CliOptions::new(true, true, Some("x"), None).is_err());
        let alias = CliOptions::new(true, true, Some("5"), None).expect("options");
        assert_eq!(alias.engine.instance_mode, InstanceMode::InstanceAlias);

        assert_eq!(
            split_words(r#"set_value Device.Time.LocalTimeZone "a b \"c\"""#).expect("words"),
            ["set_value", "Device.Time.LocalTimeZone", "a b \"c\""]
        );
        let mut out = Vec::new();
        let script = "# comment\nget_value Device.Time.Enable\n\nget_value Device.Bad\n";
        assert_eq!(
            run_script(&mut dm, &defaults, script, &mut out).expect("script"),
            1
        );
        assert_eq!(String::from_utf8_lossy(&out).lines().count(), 2);
    }
}
