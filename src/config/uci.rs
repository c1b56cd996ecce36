//! The UCI file format of OpenWrt: a parser and an editor that keeps the file's own text.
//!
//! The grammar is the one `libuci` reads: `package NAME`, `config TYPE ['NAME']`,
//! `option NAME VALUE`, `list NAME VALUE`, `#` comments and blank lines. A token is
//! a run of unquoted characters, `'single quoted'` text (no escapes inside) and
//! `"double quoted"` text (backslash escapes), glued together when adjacent; a
//! backslash outside single quotes escapes the next character, and a backslash
//! before a line break continues the statement on the next line.
//!
//! Edits (`set`, `add_list`, `delete_option`, `add_section`, `delete_section`)
//! rewrite only the statements they touch, so comments, blank lines and the
//! layout of everything else survive a write-back.

use std::fmt;

/// Why a UCI text could not be read; carries the file name and the 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UciError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for UciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for UciError {}

/// The most characters of a file's text an error message quotes.
const SHOWN_CHARS: usize = 64;

/// `text` quoted for an error message: at most [`SHOWN_CHARS`] characters
/// (a hostile file's 4 MB token must not become a 4 MB log line), with
/// control characters escaped.
pub fn shown(text: &str) -> String {
    let mut out = String::from("'");
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push_str(&format!("…' ({} bytes)", text.len()));
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Why an edit was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditError {
    NoSuchSection(String),
    InvalidName(String),
    InvalidValue(String),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::NoSuchSection(s) => write!(f, "no section {}", shown(s)),
            EditError::InvalidName(s) => write!(f, "invalid UCI name {}", shown(s)),
            EditError::InvalidValue(s) => {
                write!(f, "value of {} cannot be stored in UCI", shown(s))
            }
        }
    }
}

impl std::error::Error for EditError {}

/// One statement of the file, with the exact text it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stmt {
    /// Blank line, comment, or `package` line: kept verbatim.
    Other,
    Config,
    Option {
        name: String,
        value: String,
    },
    List {
        name: String,
        value: String,
    },
}

#[derive(Clone, Debug)]
struct Line {
    text: String,
    stmt: Stmt,
    /// Index of the section a statement belongs to (the section itself for `config`).
    section: Option<usize>,
    /// 1-based line the statement started on when read; 0 for statements added since.
    line_no: usize,
}

/// A section as the rest of the daemon sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub section_type: String,
    pub name: Option<String>,
    deleted: bool,
}

/// A parsed UCI file that can be queried, edited and written back.
#[derive(Clone, Debug)]
pub struct UciFile {
    lines: Vec<Line>,
    sections: Vec<Section>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_type(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits one statement into tokens. Returns the tokens and the number of
/// bytes consumed (the statement may span lines through continuations).
fn tokenize(text: &str) -> Result<(Vec<String>, usize, usize), String> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut pos = 0;
    let mut extra_lines = 0;
    while pos < bytes.len() {
        let b = bytes[pos];
        match b {
            b'\n' => {
                pos += 1;
                break;
            }
            b' ' | b'\t' | b'\r' => {
                if let Some(tok) = current.take() {
                    tokens.push(tok);
                }
                pos += 1;
            }
            b'#' if current.is_none() => {
                while pos < bytes.len() && bytes[pos] != b'\n' {
                    pos += 1;
                }
            }
            b'\'' => {
                let tok = current.get_or_insert_with(Vec::new);
                pos += 1;
                loop {
                    match bytes.get(pos) {
                        None => return Err("unterminated single quote".into()),
                        Some(b'\'') => break,
                        Some(&c) => {
                            if c == b'\n' {
                                extra_lines += 1;
                            }
                            tok.push(c);
                        }
                    }
                    pos += 1;
                }
                pos += 1;
            }
            b'"' => {
                let tok = current.get_or_insert_with(Vec::new);
                pos += 1;
                loop {
                    match bytes.get(pos) {
                        None => return Err("unterminated double quote".into()),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            pos += 1;
                            match bytes.get(pos) {
                                None => return Err("unterminated double quote".into()),
                                Some(b'\n') => extra_lines += 1,
                                Some(&c) => tok.push(c),
                            }
                        }
                        Some(&c) => {
                            if c == b'\n' {
                                extra_lines += 1;
                            }
                            tok.push(c);
                        }
                    }
                    pos += 1;
                }
                pos += 1;
            }
            b'\\' => {
                pos += 1;
                match bytes.get(pos) {
                    Some(b'\n') => extra_lines += 1,
                    // CRLF, or a CR that ends the text: written back, the
                    // text gets its final newline and that is a continuation.
                    Some(b'\r') if matches!(bytes.get(pos + 1), Some(&b'\n') | None) => {
                        pos += 1;
                        extra_lines += 1;
                    }
                    Some(&c) => current.get_or_insert_with(Vec::new).push(c),
                    None => return Err("backslash at end of file".into()),
                }
                pos += 1;
            }
            _ => {
                current.get_or_insert_with(Vec::new).push(b);
                pos += 1;
            }
        }
    }
    if let Some(tok) = current.take() {
        tokens.push(tok);
    }
    let tokens = tokens
        .into_iter()
        .map(|t| String::from_utf8(t).map_err(|_| "invalid UTF-8".to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((tokens, pos, extra_lines))
}

/// Quotes a value the way `uci export` does: single quotes, `'` as `'\''`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// How a section is named in queries: its name, or `@type[index]` for the
/// index-th section of that type (negative indexes count from the end).
fn parse_anonymous_ref(reference: &str) -> Option<(&str, i64)> {
    let rest = reference.strip_prefix('@')?;
    let (stype, idx) = rest.split_once('[')?;
    let idx = idx.strip_suffix(']')?.parse().ok()?;
    Some((stype, idx))
}

impl UciFile {
    /// An empty file.
    pub fn new() -> UciFile {
        UciFile {
            lines: Vec::new(),
            sections: Vec::new(),
        }
    }

    /// Parses `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<UciFile, UciError> {
        let mut uci = UciFile::new();
        let mut rest = text;
        let mut line_no = 1;
        let mut current_section: Option<usize> = None;
        while !rest.is_empty() {
            // Parsing is pure; a large package lets the reflectors answer between lines.
            crate::slices::pause_point();
            let err = |message: String| UciError {
                file: file.to_owned(),
                line: line_no,
                message,
            };
            let (tokens, used, extra_lines) = tokenize(rest).map_err(err)?;
            let raw = rest.get(..used).unwrap_or(rest);
            let raw = raw.strip_suffix('\n').unwrap_or(raw).to_owned();
            rest = rest.get(used..).unwrap_or("");
            let stmt = match tokens.first().map(String::as_str) {
                None => Stmt::Other,
                Some("package") => {
                    if tokens.len() != 2 {
                        return Err(err("'package' takes one name".into()));
                    }
                    Stmt::Other
                }
                Some("config") => {
                    let (stype, name) = match tokens.as_slice() {
                        [_, t] => (t.clone(), None),
                        [_, t, n] => (t.clone(), Some(n.clone())),
                        _ => return Err(err("'config' takes a type and an optional name".into())),
                    };
                    if !valid_type(&stype) {
                        return Err(err(format!("invalid section type {}", shown(&stype))));
                    }
                    if let Some(n) = &name {
                        if !valid_name(n) {
                            return Err(err(format!("invalid section name {}", shown(n))));
                        }
                    }
                    // A named section that appears twice is merged into the first, as libuci does.
                    let existing = name.as_ref().and_then(|n| {
                        uci.sections
                            .iter()
                            .position(|s| s.name.as_deref() == Some(n.as_str()))
                    });
                    current_section = Some(existing.unwrap_or_else(|| {
                        uci.sections.push(Section {
                            section_type: stype,
                            name,
                            deleted: false,
                        });
                        uci.sections.len() - 1
                    }));
                    Stmt::Config
                }
                Some(kw @ ("option" | "list")) => {
                    let (name, value) = match tokens.as_slice() {
                        [_, n, v] => (n.clone(), v.clone()),
                        [_, n] => (n.clone(), String::new()),
                        _ => return Err(err(format!("'{kw}' takes a name and one value"))),
                    };
                    if current_section.is_none() {
                        return Err(err(format!("'{kw}' outside of a 'config' section")));
                    }
                    if !valid_name(&name) {
                        return Err(err(format!("invalid option name {}", shown(&name))));
                    }
                    if kw == "option" {
                        Stmt::Option { name, value }
                    } else {
                        Stmt::List { name, value }
                    }
                }
                Some(other) => return Err(err(format!("unknown keyword {}", shown(other)))),
            };
            let section = if stmt == Stmt::Other {
                None
            } else {
                current_section
            };
            uci.lines.push(Line {
                text: raw,
                stmt,
                section,
                line_no,
            });
            line_no += 1 + extra_lines;
        }
        Ok(uci)
    }

    /// The file as text, with every untouched statement as it was read.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(&line.text);
            out.push('\n');
        }
        out
    }

    fn find_section(&self, reference: &str) -> Option<usize> {
        if let Some((stype, idx)) = parse_anonymous_ref(reference) {
            let of_type: Vec<usize> = (0..self.sections.len())
                .filter(|&i| self.sections[i].section_type == stype && !self.sections[i].deleted)
                .collect();
            let pos = if idx < 0 {
                of_type.len() as i64 + idx
            } else {
                idx
            };
            return usize::try_from(pos)
                .ok()
                .and_then(|p| of_type.get(p).copied());
        }
        self.sections
            .iter()
            .position(|s| !s.deleted && s.name.as_deref() == Some(reference))
    }

    /// The live sections in file order.
    pub fn sections(&self) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(|s| !s.deleted)
    }

    /// The sections of one type, in file order, with the reference that reaches each.
    pub fn sections_of_type(&self, stype: &str) -> Vec<String> {
        self.sections()
            .filter(|s| s.section_type == stype)
            .enumerate()
            .map(|(i, s)| s.name.clone().unwrap_or_else(|| format!("@{stype}[{i}]")))
            .collect()
    }

    /// Whether a section exists.
    pub fn has_section(&self, reference: &str) -> bool {
        self.find_section(reference).is_some()
    }

    /// The value of a single option (the last one wins, as in libuci).
    pub fn get(&self, section: &str, option: &str) -> Option<&str> {
        let idx = self.find_section(section)?;
        self.lines.iter().rev().find_map(|l| match &l.stmt {
            Stmt::Option { name, value } if l.section == Some(idx) && name == option => {
                Some(value.as_str())
            }
            _ => None,
        })
    }

    /// The values of a list option, in order.
    pub fn get_list(&self, section: &str, option: &str) -> Vec<&str> {
        let Some(idx) = self.find_section(section) else {
            return Vec::new();
        };
        self.lines
            .iter()
            .filter_map(|l| match &l.stmt {
                Stmt::List { name, value } if l.section == Some(idx) && name == option => {
                    Some(value.as_str())
                }
                _ => None,
            })
            .collect()
    }

    /// The options of a section, in file order, lists flattened to their values.
    pub fn options(&self, section: &str) -> Vec<(&str, &str)> {
        let Some(idx) = self.find_section(section) else {
            return Vec::new();
        };
        self.lines
            .iter()
            .filter(|l| l.section == Some(idx))
            .filter_map(|l| match &l.stmt {
                Stmt::Option { name, value } | Stmt::List { name, value } => {
                    Some((name.as_str(), value.as_str()))
                }
                _ => None,
            })
            .collect()
    }

    /// The line an option was read from, for error messages (0 if unknown).
    pub fn line_of(&self, section: &str, option: &str) -> usize {
        let Some(idx) = self.find_section(section) else {
            return 0;
        };
        self.lines
            .iter()
            .rev()
            .find(|l| {
                l.section == Some(idx)
                    && matches!(&l.stmt, Stmt::Option { name, .. } | Stmt::List { name, .. } if name == option)
            })
            .map_or(0, |l| l.line_no)
    }

    /// Index just past the last statement of a section (where new options go).
    fn section_end(&self, idx: usize) -> usize {
        self.lines
            .iter()
            .rposition(|l| l.section == Some(idx))
            .map_or(self.lines.len(), |p| p + 1)
    }

    fn check_value(option: &str, value: &str) -> Result<(), EditError> {
        if value.contains('\0') {
            return Err(EditError::InvalidValue(option.to_owned()));
        }
        Ok(())
    }

    /// Sets a single option, replacing its statement in place or adding one at
    /// the end of the section. Returns whether the value changed.
    pub fn set(&mut self, section: &str, option: &str, value: &str) -> Result<bool, EditError> {
        if !valid_name(option) {
            return Err(EditError::InvalidName(option.to_owned()));
        }
        Self::check_value(option, value)?;
        let idx = self
            .find_section(section)
            .ok_or_else(|| EditError::NoSuchSection(section.to_owned()))?;
        if self.get(section, option) == Some(value) {
            return Ok(false);
        }
        let text = format!("\toption {option} {}", quote(value));
        let stmt = Stmt::Option {
            name: option.to_owned(),
            value: value.to_owned(),
        };
        // A list becomes a single option: drop its items first.
        self.lines.retain(|l| {
            !(l.section == Some(idx)
                && matches!(&l.stmt, Stmt::List { name, .. } if name == option))
        });
        let existing_option = self.lines.iter().rposition(|l| {
            l.section == Some(idx) && matches!(&l.stmt, Stmt::Option { name, .. } if name == option)
        });
        match existing_option {
            Some(pos) => {
                if let Some(line) = self.lines.get_mut(pos) {
                    line.text = text;
                    line.stmt = stmt;
                }
            }
            None => {
                let at = self.section_end(idx);
                self.lines.insert(
                    at,
                    Line {
                        text,
                        stmt,
                        section: Some(idx),
                        line_no: 0,
                    },
                );
            }
        }
        Ok(true)
    }

    /// Appends one item to a list option.
    pub fn add_list(&mut self, section: &str, option: &str, value: &str) -> Result<(), EditError> {
        if !valid_name(option) {
            return Err(EditError::InvalidName(option.to_owned()));
        }
        Self::check_value(option, value)?;
        let idx = self
            .find_section(section)
            .ok_or_else(|| EditError::NoSuchSection(section.to_owned()))?;
        let at = self.section_end(idx);
        let line = Line {
            text: format!("\tlist {option} {}", quote(value)),
            stmt: Stmt::List {
                name: option.to_owned(),
                value: value.to_owned(),
            },
            section: Some(idx),
            line_no: 0,
        };
        self.lines.insert(at, line);
        Ok(())
    }

    /// Removes an option or a whole list. Returns whether anything was removed.
    pub fn delete_option(&mut self, section: &str, option: &str) -> bool {
        let Some(idx) = self.find_section(section) else {
            return false;
        };
        let before = self.lines.len();
        self.lines.retain(|l| {
            !(l.section == Some(idx)
                && matches!(&l.stmt, Stmt::Option { name, .. } | Stmt::List { name, .. } if name == option))
        });
        before != self.lines.len()
    }

    /// Adds a section at the end of the file and returns its reference.
    pub fn add_section(&mut self, stype: &str, name: Option<&str>) -> Result<String, EditError> {
        if !valid_type(stype) {
            return Err(EditError::InvalidName(stype.to_owned()));
        }
        if let Some(n) = name {
            if !valid_name(n) {
                return Err(EditError::InvalidName(n.to_owned()));
            }
            if self.has_section(n) {
                return Ok(n.to_owned());
            }
        }
        self.sections.push(Section {
            section_type: stype.to_owned(),
            name: name.map(str::to_owned),
            deleted: false,
        });
        let idx = self.sections.len() - 1;
        if self.lines.last().is_some_and(|l| !l.text.trim().is_empty()) {
            self.lines.push(Line {
                text: String::new(),
                stmt: Stmt::Other,
                section: None,
                line_no: 0,
            });
        }
        let text = match name {
            Some(n) => format!("config {stype} {}", quote(n)),
            None => format!("config {stype}"),
        };
        self.lines.push(Line {
            text,
            stmt: Stmt::Config,
            section: Some(idx),
            line_no: 0,
        });
        Ok(match name {
            Some(n) => n.to_owned(),
            None => {
                let count = self.sections().filter(|s| s.section_type == stype).count();
                format!("@{stype}[{}]", count.saturating_sub(1))
            }
        })
    }

    /// Removes a section and all its statements. Returns whether it existed.
    pub fn delete_section(&mut self, reference: &str) -> bool {
        let Some(idx) = self.find_section(reference) else {
            return false;
        };
        self.lines.retain(|l| l.section != Some(idx));
        if let Some(s) = self.sections.get_mut(idx) {
            s.deleted = true;
        }
        true
    }
}

impl Default for UciFile {
    fn default() -> Self {
        UciFile::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# managed by icwmp
package cwmp

config cwmp 'acs'
\toption userid 'iopsys'   # trailing comment
\toption url \"http://acs.example:7547/\"
\toption passwd 'it'\\''s \"secret\"'
\tlist servers one
\tlist servers 'two words'

config cwmp cpe
\toption interface eth0.1
\toption empty ''

config wifi-iface
\toption ssid first
config wifi-iface
\toption ssid \"sec\\\"ond\"
";

    fn sample() -> UciFile {
        UciFile::parse("cwmp", SAMPLE).expect("sample parses")
    }

    #[test]
    fn reads_options_lists_and_quoting() {
        let uci = sample();
        assert_eq!(uci.get("acs", "userid"), Some("iopsys"));
        assert_eq!(uci.get("acs", "url"), Some("http://acs.example:7547/"));
        assert_eq!(uci.get("acs", "passwd"), Some("it's \"secret\""));
        assert_eq!(uci.get_list("acs", "servers"), vec!["one", "two words"]);
        assert_eq!(uci.get("cpe", "interface"), Some("eth0.1"));
        assert_eq!(uci.get("cpe", "empty"), Some(""));
        assert_eq!(uci.get("cpe", "missing"), None);
        assert_eq!(uci.get("@wifi-iface[0]", "ssid"), Some("first"));
        assert_eq!(uci.get("@wifi-iface[1]", "ssid"), Some("sec\"ond"));
        assert_eq!(uci.get("@wifi-iface[-1]", "ssid"), Some("sec\"ond"));
        assert_eq!(uci.get("@wifi-iface[2]", "ssid"), None);
        assert_eq!(
            uci.sections_of_type("wifi-iface"),
            vec!["@wifi-iface[0]", "@wifi-iface[1]"]
        );
    }

    #[test]
    fn escapes_and_concatenation() {
        let uci = UciFile::parse(
            "t",
            "config a b\n\toption x foo\\ bar\n\toption y 'a'\"b\"c\n\toption z \"tab\\\\n\"\n",
        )
        .expect("parses");
        assert_eq!(uci.get("b", "x"), Some("foo bar"));
        assert_eq!(uci.get("b", "y"), Some("abc"));
        assert_eq!(uci.get("b", "z"), Some("tab\\n"));
    }

    #[test]
    fn what_is_written_back_reads_again() {
        // Found by the uci_file fuzz target: a backslash and CR ending the
        // text were read as an escaped CR, but once written back (with the
        // final newline) they are a CRLF continuation.
        for text in ["\\package\r \\\r", "config a 'b'\n\toption x y\\\r"] {
            if let Ok(file) = UciFile::parse("fuzz", text) {
                let written = file.to_text();
                assert!(UciFile::parse("written", &written).is_ok(), "{written:?}");
            }
        }
    }

    #[test]
    fn continuation_lines_keep_line_numbers() {
        let text = "config a b\n\toption x 'one\ntwo'\n\toption y \\\n  three\n\tbogus here\n";
        let err = UciFile::parse("f", text).expect_err("bogus keyword");
        assert_eq!(err.line, 6);
        let ok = UciFile::parse(
            "f",
            "config a b\n\toption x 'one\ntwo'\n\toption y \\\n  three\n",
        )
        .expect("parses");
        assert_eq!(ok.get("b", "x"), Some("one\ntwo"));
        assert_eq!(ok.get("b", "y"), Some("three"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                "config a b\n\toption x 'open\n",
                2,
                "unterminated single quote",
            ),
            ("\n\noption x y\n", 3, "outside of a 'config' section"),
            (
                "config a b\n\toption x y z\n",
                2,
                "takes a name and one value",
            ),
            ("config a 'b c'\n", 1, "invalid section name"),
            ("config a b\n\toption x-y z\n", 2, "invalid option name"),
            ("config\n", 1, "takes a type"),
            ("frobnicate\n", 1, "unknown keyword"),
        ];
        let huge = format!("config cwmp acs\n\t{} x\n", "k".repeat(4 << 20));
        let err = UciFile::parse("/etc/config/cwmp", &huge).expect_err("huge keyword");
        assert!(
            err.to_string().len() < 200,
            "{} bytes",
            err.to_string().len()
        );
        assert!(
            err.message.ends_with("…' (4194304 bytes)"),
            "{}",
            err.message
        );
        assert_eq!(shown("a\nb"), "'a\\nb'");
        for (text, line, what) in cases {
            let err = UciFile::parse("/etc/config/cwmp", text).expect_err(text);
            assert_eq!(err.line, line, "{text:?}");
            assert!(err.message.contains(what), "{err}");
            assert!(err
                .to_string()
                .starts_with(&format!("/etc/config/cwmp:{line}: ")));
        }
    }

    #[test]
    fn set_preserves_comments_and_layout() {
        let mut uci = sample();
        assert!(uci.set("acs", "userid", "new user").expect("set"));
        assert!(!uci.set("acs", "userid", "new user").expect("set again"));
        assert!(uci.set("acs", "dhcp_url", "http://x/").expect("add"));
        let text = uci.to_text();
        assert!(text.starts_with("# managed by icwmp\npackage cwmp\n"));
        assert!(text.contains("\toption userid 'new user'\n"));
        assert!(text.contains("\toption url \"http://acs.example:7547/\"\n"));
        let dhcp = text.find("dhcp_url").expect("added");
        let cpe = text.find("config cwmp cpe").expect("cpe");
        assert!(dhcp < cpe, "new option goes into its own section:\n{text}");
        let reread = UciFile::parse("cwmp", &text).expect("re-parses");
        assert_eq!(reread.get("acs", "userid"), Some("new user"));
        assert_eq!(reread.get("acs", "dhcp_url"), Some("http://x/"));
        assert_eq!(reread.get("acs", "passwd"), Some("it's \"secret\""));
    }

    #[test]
    fn round_trip_of_awkward_values() {
        let mut uci = UciFile::new();
        let sec = uci.add_section("cwmp", Some("acs")).expect("section");
        let values = [
            "",
            "plain",
            "it's",
            "a\"b",
            "back\\slash",
            "new\nline",
            "#hash",
            "  sp  ",
        ];
        for (i, v) in values.iter().enumerate() {
            uci.set(&sec, &format!("o{i}"), v).expect("set");
        }
        uci.add_list(&sec, "l", "x'y").expect("list");
        let reread = UciFile::parse("t", &uci.to_text()).expect("re-parses");
        for (i, v) in values.iter().enumerate() {
            assert_eq!(reread.get("acs", &format!("o{i}")), Some(*v));
        }
        assert_eq!(reread.get_list("acs", "l"), vec!["x'y"]);
        assert!(uci.set(&sec, "bad-name", "x").is_err());
        assert!(uci.set(&sec, "nul", "a\0b").is_err());
        assert!(uci.set("nosuch", "x", "y").is_err());
    }

    #[test]
    fn sections_add_and_delete() {
        let mut uci = sample();
        let anon = uci.add_section("wifi-iface", None).expect("anon");
        assert_eq!(anon, "@wifi-iface[2]");
        uci.set(&anon, "ssid", "third").expect("set");
        assert!(uci.delete_section("@wifi-iface[0]"));
        assert_eq!(uci.get("@wifi-iface[0]", "ssid"), Some("sec\"ond"));
        assert_eq!(uci.get("@wifi-iface[1]", "ssid"), Some("third"));
        assert!(uci.delete_option("acs", "servers"));
        assert!(uci.get_list("acs", "servers").is_empty());
        let reread = UciFile::parse("t", &uci.to_text()).expect("re-parses");
        assert_eq!(reread.sections_of_type("wifi-iface").len(), 2);
        assert_eq!(reread.get("@wifi-iface[1]", "ssid"), Some("third"));
        assert!(reread.get_list("acs", "servers").is_empty());
    }

    #[test]
    fn set_replaces_a_list() {
        let mut uci = sample();
        uci.set("acs", "servers", "only").expect("set");
        assert_eq!(uci.get("acs", "servers"), Some("only"));
        assert!(uci.get_list("acs", "servers").is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x1234_5678_u32;
        let alphabet = b"config option list package '\"\\#\n\t abc_-@[]";
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..(seed % 64) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                text.push(alphabet[(seed as usize) % alphabet.len()] as char);
            }
            let _ = UciFile::parse("fuzz", &text);
        }
    }
}
