//! The line format of the daemon's state files: tab-separated fields with `%XX` escapes, under a versioned header.

use std::fmt;

/// Why a state file could not be read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The first line is not the expected header (another file, or another version).
    BadHeader,
    /// A line does not have the expected fields.
    BadLine { line: usize, reason: &'static str },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::BadHeader => f.write_str("unknown header or version"),
            RecordError::BadLine { line, reason } => write!(f, "line {line}: {reason}"),
        }
    }
}

impl std::error::Error for RecordError {}

/// Appends `value` with `%`, tab, control characters and DEL written as `%XX`.
pub fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        if c == '%' || c.is_ascii_control() {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
}

/// Undoes [`escape_into`]; `None` on a malformed escape.
pub fn unescape(field: &str) -> Option<String> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = field.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One line of escaped fields, tab-separated, newline-terminated.
pub fn push_line(out: &mut String, fields: &[&str]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        escape_into(out, field);
    }
    out.push('\n');
}

/// The lines after `header` split into unescaped fields, with their line numbers (from 2).
pub fn parse_lines(bytes: &[u8], header: &str) -> Result<Vec<(usize, Vec<String>)>, RecordError> {
    let text = std::str::from_utf8(bytes).map_err(|_| RecordError::BadHeader)?;
    let mut lines = text.split_terminator('\n');
    if lines.next() != Some(header) {
        return Err(RecordError::BadHeader);
    }
    lines
        .enumerate()
        .map(|(index, line)| {
            let fields = line
                .split('\t')
                .map(unescape)
                .collect::<Option<Vec<String>>>()
                .ok_or(RecordError::BadLine {
                    line: index + 2,
                    reason: "bad escape",
                })?;
            Ok((index + 2, fields))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_through_escapes() {
        let mut text = String::from("h 1\n");
        push_line(&mut text, &["a\tb", "100%", "line\nbreak", ""]);
        let lines = parse_lines(text.as_bytes(), "h 1").expect("parse");
        assert_eq!(
            lines,
            vec![(
                2,
                vec![
                    "a\tb".into(),
                    "100%".into(),
                    "line\nbreak".into(),
                    String::new()
                ]
            )]
        );
        assert_eq!(parse_lines(b"other\n", "h 1"), Err(RecordError::BadHeader));
        assert!(matches!(
            parse_lines(b"h 1\n%G0\n", "h 1"),
            Err(RecordError::BadLine { line: 2, .. })
        ));
    }
}
