//! Persisted data model state: notification and access-list attributes and the last instance number of each table.
//!
//! File format (text, one record per line, versioned by its first line):
//! ```text
//! icwmp-datamodel-state 1
//! notification Device.Time.Enable 2
//! subscriber Device.Time.Enable
//! instance Device.IP.Interface. 4
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::cwmp::params::Notification;
use crate::fsutil;
use crate::vecmap::{VecMap, VecSet};

const HEADER: &str = "icwmp-datamodel-state 1";

/// Why the state file could not be used.
#[derive(Debug)]
pub enum StateError {
    Io(io::Error),
    /// The file exists but does not parse; it has been moved to `set_aside`.
    Corrupt {
        line: usize,
        set_aside: Option<PathBuf>,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io(e) => write!(f, "data model state: {e}"),
            StateError::Corrupt { line, set_aside } => {
                write!(f, "data model state corrupt at line {line}")?;
                if let Some(p) = set_aside {
                    write!(f, ", moved to {}", p.display())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for StateError {}

impl From<io::Error> for StateError {
    fn from(e: io::Error) -> StateError {
        StateError::Io(e)
    }
}

/// Attributes and instance counters, optionally backed by a file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DmState {
    file: Option<PathBuf>,
    /// Notification values that differ from the parameter's default.
    pub notifications: VecMap<String, Notification>,
    /// Parameters whose AccessList is `Subscriber`.
    pub subscriber: VecSet<String>,
    /// Highest instance number ever given out per table path.
    pub counters: VecMap<String, u32>,
}

impl DmState {
    /// State kept in memory only (tests, the one-shot CLI without a state dir).
    pub fn in_memory() -> DmState {
        DmState::default()
    }

    /// Loads `file`; a missing file is an empty state. A corrupt file is set
    /// aside (kept for inspection) and reported; the caller may go on with an
    /// empty state bound to the same file.
    pub fn load(file: &Path) -> Result<DmState, StateError> {
        let text = match crate::fsutil::read_text(file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let set_aside = fsutil::set_aside(file).ok();
                return Err(StateError::Corrupt { line: 0, set_aside });
            }
            Err(e) => return Err(e.into()),
        };
        match DmState::parse(&text) {
            Ok(mut state) => {
                state.file = Some(file.to_path_buf());
                Ok(state)
            }
            Err(line) => {
                let set_aside = fsutil::set_aside(file).ok();
                Err(StateError::Corrupt { line, set_aside })
            }
        }
    }

    /// An empty state that will be saved to `file`.
    pub fn empty_at(file: &Path) -> DmState {
        DmState {
            file: Some(file.to_path_buf()),
            ..DmState::default()
        }
    }

    /// Parses the file text; the error is the 1-based bad line.
    pub fn parse(text: &str) -> Result<DmState, usize> {
        let mut state = DmState::default();
        let mut lines = text.lines().enumerate();
        match lines.next() {
            None => return Ok(state),
            Some((_, HEADER)) => {}
            Some(_) => return Err(1),
        }
        for (index, line) in lines {
            let fields: Vec<&str> = line.split(' ').collect();
            let ok = match fields.as_slice() {
                [] | [""] => true,
                ["notification", path, value] => match value.parse::<u8>() {
                    Ok(n) if n <= 6 => state.notifications.insert((*path).to_owned(), n).is_none(),
                    _ => false,
                },
                ["subscriber", path] => state.subscriber.insert((*path).to_owned()),
                ["instance", path, value] => match value.parse::<u32>() {
                    Ok(n) => state.counters.insert((*path).to_owned(), n).is_none(),
                    Err(_) => false,
                },
                _ => false,
            };
            if !ok {
                return Err(index + 1);
            }
        }
        Ok(state)
    }

    /// The file text.
    pub fn render(&self) -> String {
        let mut text = String::from(HEADER);
        text.push('\n');
        for (path, n) in &self.notifications {
            text.push_str(&format!("notification {path} {n}\n"));
        }
        for path in &self.subscriber {
            text.push_str(&format!("subscriber {path}\n"));
        }
        for (path, n) in &self.counters {
            text.push_str(&format!("instance {path} {n}\n"));
        }
        text
    }

    /// Writes the state to its file, if it has one.
    pub fn save(&self) -> io::Result<()> {
        match &self.file {
            Some(file) => fsutil::atomic_write(file, self.render().as_bytes()),
            None => Ok(()),
        }
    }

    /// Forgets the attributes of every parameter below a deleted instance.
    pub fn forget_below(&mut self, prefix: &str) {
        self.notifications.retain(|p, _| !p.starts_with(prefix));
        self.subscriber.retain(|p| !p.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let mut state = DmState::in_memory();
        state.notifications.insert("Device.Time.Enable".into(), 2);
        state.subscriber.insert("Device.Time.Enable".into());
        state.counters.insert("Device.IP.Interface.".into(), 7);
        let text = state.render();
        assert_eq!(DmState::parse(&text), Ok(state));
        assert_eq!(DmState::parse("garbage\n"), Err(1));
        assert_eq!(
            DmState::parse(&format!("{HEADER}\nnotification X 9\n")),
            Err(2)
        );
    }

    #[test]
    fn corrupt_file_is_set_aside() {
        let dir = std::env::temp_dir().join(format!("icwmp-dmstate-{}", std::process::id()));
        let file = dir.join("dm.state");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(&file, "nonsense").expect("write");
        match DmState::load(&file) {
            Err(StateError::Corrupt {
                line: 1,
                set_aside: Some(p),
            }) => assert!(p.exists()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!file.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
