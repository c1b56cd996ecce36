//! The daemon's persistent state directory: pending events, the last bootstrapped ACS, boot identity, pending reboot.
//!
//! Every write is atomic (temp, fsync, rename). A file that cannot be read
//! back is set aside as `<name>.corrupt` and reported, never silently reset.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::cwmp::events::{EventError, EventQueue};
use crate::cwmp::notified_values::NotifiedValues;
use crate::cwmp::schedule::{scheduled_informs_from_bytes, scheduled_informs_to_bytes};
use crate::fsutil::{atomic_write, secure_state_dir, set_aside};
use crate::records::RecordError;

/// File names inside the state directory.
pub mod names {
    /// The pending event queue.
    pub const EVENTS: &str = "events";
    /// The ACS URL that last acknowledged a `0 BOOTSTRAP`.
    pub const BOOTSTRAP_URL: &str = "bootstrap_url";
    /// The kernel boot id seen at the previous start (tells a reboot from a restart).
    pub const BOOT_ID: &str = "boot_id";
    /// The CommandKey of an accepted Reboot not yet reported.
    pub const REBOOT_KEY: &str = "reboot_key";
    /// Data model attributes and instance counters.
    pub const DATAMODEL: &str = "datamodel";
    /// The newest accepted UDP connection request and recent ids (replays stay refused).
    pub const UDP_CONN_REQUESTS: &str = "udp_conn_requests";
    /// The values notifications compare against, and changes not yet reported.
    pub const NOTIFIED_VALUES: &str = "notified_values";
    /// Acknowledged ScheduleInforms not yet due.
    pub const SCHEDULED_INFORMS: &str = "scheduled_informs";
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

/// A state file that could not be read and was set aside.
#[derive(Debug)]
pub struct CorruptFile {
    pub path: PathBuf,
    pub moved_to: Option<PathBuf>,
    pub reason: String,
}

impl std::fmt::Display for CorruptFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)?;
        if let Some(to) = &self.moved_to {
            write!(f, " (kept as {})", to.display())?;
        }
        Ok(())
    }
}

impl Store {
    /// The store in `dir`, created if missing; the directory is made 0700
    /// (its files hold credentials).
    pub fn open(dir: &Path) -> io::Result<Store> {
        secure_state_dir(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The path of a state file.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A small text value, trimmed; `None` if absent or unreadable.
    pub fn read_text(&self, name: &str) -> Option<String> {
        crate::fsutil::read_text(&self.path(name))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Replaces a file atomically.
    pub fn write(&self, name: &str, contents: &[u8]) -> io::Result<()> {
        atomic_write(&self.path(name), contents)
    }

    /// Removes a file; absent is fine.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes every file of the state directory (factory reset); the directory stays.
    pub fn clear(&self) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// The persisted event queue. A corrupt file is set aside and reported;
    /// the queue then starts empty (the caller logs the loss loudly).
    pub fn load_events(&self) -> (EventQueue, Option<CorruptFile>) {
        let path = self.path(names::EVENTS);
        let bytes = match crate::fsutil::read_file(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (EventQueue::new(), None),
            Err(e) => {
                let corrupt = CorruptFile {
                    path,
                    moved_to: None,
                    reason: e.to_string(),
                };
                return (EventQueue::new(), Some(corrupt));
            }
        };
        match EventQueue::from_bytes(&bytes) {
            Ok(queue) => (queue, None),
            Err(e) => (EventQueue::new(), Some(self.set_aside(path, &e))),
        }
    }

    fn set_aside(&self, path: PathBuf, error: &EventError) -> CorruptFile {
        let moved_to = set_aside(&path).ok();
        CorruptFile {
            path,
            moved_to,
            reason: error.to_string(),
        }
    }

    /// The persisted ScheduleInforms (due time, CommandKey). A file that
    /// cannot be read is set aside and reported; the list then starts empty.
    pub fn load_scheduled_informs(&self) -> (Vec<(i64, String)>, Option<CorruptFile>) {
        self.load_record(names::SCHEDULED_INFORMS, scheduled_informs_from_bytes)
    }

    /// Reads a record file with `parse`: absent gives the default, and a file
    /// that cannot be read or parsed is set aside and reported.
    fn load_record<T: Default>(
        &self,
        name: &str,
        parse: impl Fn(&[u8]) -> Result<T, RecordError>,
    ) -> (T, Option<CorruptFile>) {
        let path = self.path(name);
        let parsed = match crate::fsutil::read_file(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (T::default(), None),
            Err(e) => Err(e.to_string()),
            Ok(bytes) => parse(&bytes).map_err(|e| e.to_string()),
        };
        match parsed {
            Ok(record) => (record, None),
            Err(reason) => {
                let moved_to = set_aside(&path).ok();
                let corrupt = CorruptFile {
                    path,
                    moved_to,
                    reason,
                };
                (T::default(), Some(corrupt))
            }
        }
    }

    /// The persisted notification baseline and unreported changes. A file
    /// that cannot be read is set aside and reported; the record then starts empty.
    pub fn load_notified_values(&self) -> (NotifiedValues, Option<CorruptFile>) {
        self.load_record(names::NOTIFIED_VALUES, NotifiedValues::from_bytes)
    }

    /// Persists the notification baseline and unreported changes.
    pub fn save_notified_values(&self, record: &NotifiedValues) -> io::Result<()> {
        self.write(names::NOTIFIED_VALUES, &record.to_bytes())
    }

    /// Persists the pending ScheduleInforms.
    pub fn save_scheduled_informs<'a>(
        &self,
        informs: impl Iterator<Item = (i64, &'a str)>,
    ) -> io::Result<()> {
        self.write(
            names::SCHEDULED_INFORMS,
            &scheduled_informs_to_bytes(informs),
        )
    }

    /// Persists the event queue.
    pub fn save_events(&self, queue: &EventQueue) -> io::Result<()> {
        self.write(names::EVENTS, &queue.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::events::{Event, EventCode};

    #[test]
    fn events_round_trip_and_corruption_is_set_aside() {
        let dir = std::env::temp_dir().join(format!("icwmp-store-{}", std::process::id()));
        let store = Store::open(&dir).expect("store");
        let (empty, none) = store.load_events();
        assert!(empty.is_empty() && none.is_none());
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::Boot));
        queue.add(Event::with_key(EventCode::MReboot, "key"));
        store.save_events(&queue).expect("save");
        let (loaded, none) = store.load_events();
        assert!(none.is_none());
        assert_eq!(
            loaded.events().collect::<Vec<_>>(),
            queue.events().collect::<Vec<_>>()
        );
        fs::write(store.path(names::EVENTS), b"garbage\n").expect("corrupt it");
        let (after, corrupt) = store.load_events();
        assert!(after.is_empty());
        let corrupt = corrupt.expect("reported");
        assert!(corrupt.moved_to.as_ref().is_some_and(|p| p.exists()));
        store
            .write(names::BOOTSTRAP_URL, b"http://acs/\n")
            .expect("write");
        assert_eq!(
            store.read_text(names::BOOTSTRAP_URL).as_deref(),
            Some("http://acs/")
        );
        store.remove(names::BOOTSTRAP_URL).expect("remove");
        store.remove(names::BOOTSTRAP_URL).expect("remove again");
        assert_eq!(store.read_text(names::BOOTSTRAP_URL), None);
        store.write("x", b"1").expect("write");
        fs::create_dir_all(store.path("sub")).expect("subdir");
        store.clear().expect("clear");
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 0);
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
