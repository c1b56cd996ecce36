//! A string in double quotes with Rust's escapes, as `{:?}` shows it, for the messages that
//! ACSs and operators read (fault strings, log lines): they must not depend on `Debug`
//! formatting, which the size-optimised static builds compile out (`-Zfmt-debug=none`).

use std::fmt;

/// Displays `"text"` with `"`, `\` and control characters escaped as `{:?}` of a `str` does.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            // char::escape_debug also escapes `'`, which str's Debug leaves as it is.
            if c == '\'' {
                f.write_str("'")?;
            } else {
                write!(f, "{}", c.escape_debug())?;
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    #[test]
    fn quotes_as_debug_of_str_does() {
        for text in [
            "",
            "plain",
            "it's",
            "a\"b",
            "back\\slash",
            "line\nbreak\r\t",
            "\u{7f}\u{0}",
            "é€😀",
        ] {
            assert_eq!(Quoted(text).to_string(), format!("{text:?}"), "{text}");
        }
    }

    /// The daemon's own messages use no `Debug` formatting: under `-Zfmt-debug=none` (the
    /// static builds of `make static`) a `{:?}` prints nothing, and a fault string or log line
    /// would lose its value. Code before a file's `#[cfg(test)]` is what the daemon runs.
    #[test]
    fn messages_use_no_debug_formatting() {
        let mut found = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read source");
                for (n, line) in text.lines().enumerate() {
                    if line.trim_start().starts_with("#[cfg(test)]") {
                        break;
                    }
                    let code = line.trim_start();
                    if !code.starts_with("//") && (code.contains(":?}") || code.contains(":#?}")) {
                        found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "Debug formatting in daemon code (use Display, or Quoted for strings):\n{}",
            found.join("\n")
        );
    }
}
