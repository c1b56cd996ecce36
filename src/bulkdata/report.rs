//! BulkData report encoders (TR-069 Annex N.3, TR-181 `BulkData.Profile.{i}.CSVEncoding.` / `JSONEncoding.`): collected values in, report bytes out.
//!
//! A report is encoded as one *item* — the JSON object that goes into the
//! `Report` array, or the CSV data rows — so a failed report can be retained
//! and sent again beside the next one: [`assemble`] wraps the retained items
//! and the current one into one message body (JSON: `{"Report":[…]}`; CSV: the
//! current report's header row, then every item's rows, oldest first).
//! Items are built parameter by parameter ([`ItemEncoder::push`]), so the
//! caller can spread a large report over several turns of the loop.

use crate::cwmp::datetime;
use crate::cwmp::params::XsdType;

/// `CSVEncoding.ReportFormat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvFormat {
    ParameterPerRow,
    ParameterPerColumn,
}

/// `RowTimestamp` / `ReportTimestamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timestamp {
    /// Milliseconds since 1970 (TR-181 2.19: "UNIX epoch time (milliseconds …)").
    UnixEpoch,
    /// `2026-01-02T03:04:05Z`.
    Iso8601,
    None,
}

impl Timestamp {
    pub fn from_name(name: &str) -> Option<Timestamp> {
        match name {
            "Unix-Epoch" => Some(Timestamp::UnixEpoch),
            "ISO-8601" => Some(Timestamp::Iso8601),
            "None" => Some(Timestamp::None),
            _ => None,
        }
    }

    /// The stamp's text for a collection at `unix_ms`; JSON quotes the ISO form.
    fn render(self, unix_ms: i64, quoted: bool) -> Option<String> {
        match self {
            Timestamp::UnixEpoch => Some(unix_ms.to_string()),
            Timestamp::Iso8601 => {
                let text = datetime::format_utc(unix_ms.div_euclid(1000));
                Some(if quoted { format!("\"{text}\"") } else { text })
            }
            Timestamp::None => None,
        }
    }
}

/// `JSONEncoding.ReportFormat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonFormat {
    ObjectHierarchy,
    NameValuePair,
}

/// How a profile's reports are encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encoding {
    Csv {
        field_separator: String,
        row_separator: String,
        escape_character: String,
        format: CsvFormat,
        timestamp: Timestamp,
    },
    Json {
        format: JsonFormat,
        timestamp: Timestamp,
    },
}

impl Encoding {
    /// The `BBF-Report-Format` header value.
    pub fn report_format(&self) -> &'static str {
        match self {
            Encoding::Csv { format, .. } => match format {
                CsvFormat::ParameterPerRow => "ParameterPerRow",
                CsvFormat::ParameterPerColumn => "ParameterPerColumn",
            },
            Encoding::Json { format, .. } => match format {
                JsonFormat::ObjectHierarchy => "ObjectHierarchy",
                JsonFormat::NameValuePair => "NameValuePair",
            },
        }
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> &'static str {
        match self {
            Encoding::Csv { .. } => "text/csv; charset=UTF-8",
            Encoding::Json { .. } => "application/json; charset=UTF-8",
        }
    }

    /// The `EncodingType` name (`CSV`/`JSON`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Encoding::Csv { .. } => "CSV",
            Encoding::Json { .. } => "JSON",
        }
    }
}

/// One encoded report, ready to be sent alone or with later ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// CSV: the header row of this report (empty for JSON).
    pub header: String,
    /// JSON: one object of the `Report` array; CSV: the data rows.
    pub body: String,
}

/// Builds one item, a parameter at a time.
pub struct ItemEncoder {
    encoding: Encoding,
    stamp: Option<String>,
    item: Item,
    /// ObjectHierarchy: the objects open around the last leaf.
    open: Vec<String>,
    first_member: bool,
}

impl ItemEncoder {
    /// Starts the item of a collection made at `unix_ms`. For JSON
    /// ObjectHierarchy the parameters must come sorted by name.
    pub fn new(encoding: &Encoding, unix_ms: i64) -> ItemEncoder {
        let mut encoder = ItemEncoder {
            encoding: encoding.clone(),
            stamp: None,
            item: Item::default(),
            open: Vec::new(),
            first_member: true,
        };
        match encoding {
            Encoding::Json { timestamp, .. } => {
                encoder.item.body.push('{');
                if let Some(stamp) = timestamp.render(unix_ms, true) {
                    encoder.item.body.push_str("\"CollectionTime\":");
                    encoder.item.body.push_str(&stamp);
                    encoder.first_member = false;
                }
            }
            Encoding::Csv {
                field_separator: fs,
                row_separator: rs,
                escape_character: esc,
                format,
                timestamp,
            } => {
                encoder.stamp = timestamp.render(unix_ms, false);
                let mut header = Vec::new();
                if encoder.stamp.is_some() {
                    header.push("ReportTimestamp");
                }
                if *format == CsvFormat::ParameterPerRow {
                    header.extend(["ParameterName", "ParameterValue", "ParameterType"]);
                    for (n, field) in header.iter().enumerate() {
                        if n > 0 {
                            encoder.item.header.push_str(fs);
                        }
                        push_csv_field(&mut encoder.item.header, field, fs, rs, esc);
                    }
                    encoder.item.header.push_str(rs);
                } else {
                    if let Some(stamp) = &encoder.stamp {
                        encoder.item.header.push_str("ReportTimestamp");
                        push_csv_field(&mut encoder.item.body, stamp, fs, rs, esc);
                    }
                }
            }
        }
        encoder
    }

    /// Adds one parameter under its report name.
    pub fn push(&mut self, name: &str, value: &str, xsd_type: XsdType) {
        match &self.encoding {
            Encoding::Json { format, .. } => match format {
                JsonFormat::NameValuePair => {
                    self.member_separator();
                    push_json_string(&mut self.item.body, name);
                    self.item.body.push(':');
                    push_json_value(&mut self.item.body, value, xsd_type);
                }
                JsonFormat::ObjectHierarchy => self.push_hierarchical(name, value, xsd_type),
            },
            Encoding::Csv {
                field_separator: fs,
                row_separator: rs,
                escape_character: esc,
                format,
                ..
            } => match format {
                CsvFormat::ParameterPerRow => {
                    let body = &mut self.item.body;
                    if let Some(stamp) = &self.stamp {
                        push_csv_field(body, stamp, fs, rs, esc);
                        body.push_str(fs);
                    }
                    push_csv_field(body, name, fs, rs, esc);
                    body.push_str(fs);
                    push_csv_field(body, value, fs, rs, esc);
                    body.push_str(fs);
                    push_csv_field(body, xsd_type.local_name(), fs, rs, esc);
                    body.push_str(rs);
                }
                CsvFormat::ParameterPerColumn => {
                    let first = self.item.header.is_empty();
                    if !first {
                        self.item.header.push_str(fs);
                        self.item.body.push_str(fs);
                    }
                    push_csv_field(&mut self.item.header, name, fs, rs, esc);
                    push_csv_field(&mut self.item.body, value, fs, rs, esc);
                }
            },
        }
    }

    /// Ends the item.
    pub fn finish(mut self) -> Item {
        match &self.encoding {
            Encoding::Json { .. } => {
                for _ in 0..self.open.len() {
                    self.item.body.push('}');
                }
                self.item.body.push('}');
            }
            Encoding::Csv {
                row_separator: rs,
                format: CsvFormat::ParameterPerColumn,
                ..
            } => {
                if !self.item.header.is_empty() {
                    self.item.header.push_str(rs);
                    self.item.body.push_str(rs);
                }
            }
            Encoding::Csv { .. } => {}
        }
        self.item
    }

    fn member_separator(&mut self) {
        if !self.first_member {
            self.item.body.push(',');
        }
        self.first_member = false;
    }

    fn push_hierarchical(&mut self, name: &str, value: &str, xsd_type: XsdType) {
        let segments: Vec<&str> = name.split('.').filter(|s| !s.is_empty()).collect();
        let Some((leaf, objects)) = segments.split_last() else {
            return;
        };
        let common = self
            .open
            .iter()
            .zip(objects.iter())
            .take_while(|(open, wanted)| open.as_str() == **wanted)
            .count();
        while self.open.len() > common {
            self.open.pop();
            self.item.body.push('}');
            self.first_member = false;
        }
        for object in objects.iter().skip(common) {
            self.member_separator();
            push_json_string(&mut self.item.body, object);
            self.item.body.push_str(":{");
            self.open.push((*object).to_owned());
            self.first_member = true;
        }
        self.member_separator();
        push_json_string(&mut self.item.body, leaf);
        self.item.body.push(':');
        push_json_value(&mut self.item.body, value, xsd_type);
    }
}

/// The message body for `items` (oldest first; the last one is the current report).
pub fn assemble(encoding: &Encoding, items: &[Item]) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.body.len() + 1).sum();
    let mut out = String::with_capacity(size + 16);
    match encoding {
        Encoding::Json { .. } => {
            out.push_str("{\"Report\":[");
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&item.body);
            }
            out.push_str("]}");
        }
        Encoding::Csv { .. } => {
            if let Some(current) = items.last() {
                out.push_str(&current.header);
            }
            for item in items {
                out.push_str(&item.body);
            }
        }
    }
    out.into_bytes()
}

/// A CSV field, enclosed in the escape character (and that character doubled
/// inside) when it holds a separator, the escape character or a line break
/// (RFC 4180 with the profile's characters).
fn push_csv_field(out: &mut String, field: &str, fs: &str, rs: &str, esc: &str) {
    let needs = !esc.is_empty()
        && ((!fs.is_empty() && field.contains(fs))
            || (!rs.is_empty() && field.contains(rs))
            || field.contains(esc)
            || field.contains(['\r', '\n']));
    if !needs {
        out.push_str(field);
        return;
    }
    out.push_str(esc);
    let doubled = format!("{esc}{esc}");
    out.push_str(&field.replace(esc, &doubled));
    out.push_str(esc);
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Numbers and booleans as JSON numbers and literals (TR-069 N.3.5), the rest as strings.
fn push_json_value(out: &mut String, value: &str, xsd_type: XsdType) {
    let numeric = match xsd_type {
        XsdType::Int | XsdType::Long => value.parse::<i64>().is_ok(),
        XsdType::UnsignedInt | XsdType::UnsignedLong => value.parse::<u64>().is_ok(),
        _ => false,
    };
    if numeric {
        out.push_str(value);
        return;
    }
    if xsd_type == XsdType::Boolean {
        match value {
            "1" | "true" => return out.push_str("true"),
            "0" | "false" => return out.push_str("false"),
            _ => {}
        }
    }
    push_json_string(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT_MS: i64 = 1_364_529_149_000;

    fn params() -> Vec<(&'static str, &'static str, XsdType)> {
        vec![
            ("Device.DeviceInfo.UpTime", "3600", XsdType::UnsignedInt),
            ("Device.Ethernet.Interface.1.Enable", "1", XsdType::Boolean),
            (
                "Device.Ethernet.Interface.1.Name",
                "eth\"0",
                XsdType::String,
            ),
            ("Device.Ethernet.Interface.2.Name", "a,b", XsdType::String),
        ]
    }

    fn encode(encoding: &Encoding) -> Item {
        let mut encoder = ItemEncoder::new(encoding, AT_MS);
        for (name, value, t) in params() {
            encoder.push(name, value, t);
        }
        encoder.finish()
    }

    fn csv(format: CsvFormat, timestamp: Timestamp) -> Encoding {
        Encoding::Csv {
            field_separator: ",".into(),
            row_separator: "\n".into(),
            escape_character: "\"".into(),
            format,
            timestamp,
        }
    }

    #[test]
    fn json_name_value_pair() {
        let encoding = Encoding::Json {
            format: JsonFormat::NameValuePair,
            timestamp: Timestamp::UnixEpoch,
        };
        let body = assemble(&encoding, &[encode(&encoding)]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "{\"Report\":[{\"CollectionTime\":1364529149000,\
             \"Device.DeviceInfo.UpTime\":3600,\
             \"Device.Ethernet.Interface.1.Enable\":true,\
             \"Device.Ethernet.Interface.1.Name\":\"eth\\\"0\",\
             \"Device.Ethernet.Interface.2.Name\":\"a,b\"}]}"
        );
    }

    #[test]
    fn json_object_hierarchy_with_retained_reports() {
        let encoding = Encoding::Json {
            format: JsonFormat::ObjectHierarchy,
            timestamp: Timestamp::Iso8601,
        };
        let item = encode(&encoding);
        assert_eq!(
            item.body,
            "{\"CollectionTime\":\"2013-03-29T03:52:29Z\",\
             \"Device\":{\"DeviceInfo\":{\"UpTime\":3600},\
             \"Ethernet\":{\"Interface\":{\"1\":{\"Enable\":true,\"Name\":\"eth\\\"0\"},\
             \"2\":{\"Name\":\"a,b\"}}}}}"
        );
        let body = assemble(&encoding, &[item.clone(), item.clone()]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!("{{\"Report\":[{},{}]}}", item.body, item.body)
        );
        let none = Encoding::Json {
            format: JsonFormat::ObjectHierarchy,
            timestamp: Timestamp::None,
        };
        let mut encoder = ItemEncoder::new(&none, AT_MS);
        encoder.push("A.B", "x", XsdType::String);
        assert_eq!(encoder.finish().body, "{\"A\":{\"B\":\"x\"}}");
    }

    #[test]
    fn csv_parameter_per_row() {
        let encoding = csv(CsvFormat::ParameterPerRow, Timestamp::UnixEpoch);
        let body = assemble(&encoding, &[encode(&encoding)]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "ReportTimestamp,ParameterName,ParameterValue,ParameterType\n\
             1364529149000,Device.DeviceInfo.UpTime,3600,unsignedInt\n\
             1364529149000,Device.Ethernet.Interface.1.Enable,1,boolean\n\
             1364529149000,Device.Ethernet.Interface.1.Name,\"eth\"\"0\",string\n\
             1364529149000,Device.Ethernet.Interface.2.Name,\"a,b\",string\n"
        );
    }

    #[test]
    fn csv_parameter_per_column_with_a_retained_row() {
        let encoding = csv(CsvFormat::ParameterPerColumn, Timestamp::Iso8601);
        let item = encode(&encoding);
        let body = assemble(&encoding, &[item.clone(), item]);
        let row = "2013-03-29T03:52:29Z,3600,1,\"eth\"\"0\",\"a,b\"\n";
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!(
                "ReportTimestamp,Device.DeviceInfo.UpTime,Device.Ethernet.Interface.1.Enable,\
                 Device.Ethernet.Interface.1.Name,Device.Ethernet.Interface.2.Name\n{row}{row}"
            )
        );
    }

    #[test]
    fn csv_custom_separators_and_no_timestamp() {
        let encoding = Encoding::Csv {
            field_separator: ";".into(),
            row_separator: "\r\n".into(),
            escape_character: "'".into(),
            format: CsvFormat::ParameterPerRow,
            timestamp: Timestamp::None,
        };
        let mut encoder = ItemEncoder::new(&encoding, AT_MS);
        encoder.push("A.B", "x;y", XsdType::String);
        encoder.push("A.C", "it's", XsdType::String);
        encoder.push("A.D", "a,b", XsdType::Int);
        let body = assemble(&encoding, &[encoder.finish()]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "ParameterName;ParameterValue;ParameterType\r\n\
             A.B;'x;y';string\r\nA.C;'it''s';string\r\nA.D;a,b;int\r\n"
        );
    }

    #[test]
    fn json_escapes_controls_and_keeps_bad_numbers_as_strings() {
        let encoding = Encoding::Json {
            format: JsonFormat::NameValuePair,
            timestamp: Timestamp::None,
        };
        let mut encoder = ItemEncoder::new(&encoding, 0);
        encoder.push("A", "x\u{1}\\", XsdType::String);
        encoder.push("B", "", XsdType::UnsignedInt);
        encoder.push("C", "-5", XsdType::Int);
        assert_eq!(
            encoder.finish().body,
            "{\"A\":\"x\\u0001\\\\\",\"B\":\"\",\"C\":-5}"
        );
    }
}
