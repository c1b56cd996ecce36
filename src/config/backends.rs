//! The UCI files behind the data model's configuration interfaces: `cwmp` for ManagementServer, any package for the UCI mapping.
//!
//! Sets are buffered and written on commit, atomically and keeping the rest
//! of each file as it was; a set of the `cwmp` package marks the daemon's
//! configuration as changed so it reloads after the session.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::uci::UciFile;
use super::ConfigFile;
use crate::datamodel::config::{ConfigStore, UciBackend, UciSection};
use crate::fsutil::atomic_write;
use crate::vecmap::VecMap;

/// `ConfigStore` over `/etc/config/cwmp` (or `--config DIR`).
#[derive(Debug)]
pub struct CwmpStore {
    file: ConfigFile,
    current: UciFile,
    pending: Vec<(String, String, String)>,
    /// Values the daemon learned at run time (bound port, WAN address): read like options, never written.
    runtime: Vec<(String, String, String)>,
    changed: bool,
}

impl CwmpStore {
    /// A store reading `file` as it is now (an unreadable file reads as empty).
    pub fn new(file: ConfigFile) -> CwmpStore {
        let current = read_uci(&file.path).unwrap_or_default();
        CwmpStore {
            file,
            current,
            pending: Vec::new(),
            runtime: Vec::new(),
            changed: false,
        }
    }

    /// Re-reads the file (after a reload).
    pub fn refresh(&mut self) {
        if let Some(uci) = read_uci(&self.file.path) {
            self.current = uci;
        }
    }

    /// Sets (or with `None` clears) a run-time value that reads take over the file's.
    pub fn set_runtime(&mut self, section: &str, option: &str, value: Option<&str>) {
        self.runtime
            .retain(|(s, o, _)| !(s == section && o == option));
        if let Some(v) = value {
            self.runtime
                .push((section.to_owned(), option.to_owned(), v.to_owned()));
        }
    }

    /// Whether a commit changed the file since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

fn read_uci(path: &Path) -> Option<UciFile> {
    let text = crate::fsutil::read_text(path).ok()?;
    UciFile::parse(&path.display().to_string(), &text).ok()
}

impl ConfigStore for CwmpStore {
    fn get(&self, section: &str, option: &str) -> Option<String> {
        let matching = |(s, o, _): &&(String, String, String)| s == section && o == option;
        let overlay = self.pending.iter().rev().find(matching);
        if let Some((_, _, v)) = overlay.or_else(|| self.runtime.iter().find(matching)) {
            return Some(v.clone());
        }
        self.current.get(section, option).map(str::to_owned)
    }

    fn set(&mut self, section: &str, option: &str, value: &str) -> Result<(), String> {
        self.pending
            .push((section.to_owned(), option.to_owned(), value.to_owned()));
        Ok(())
    }

    fn commit(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.file
            .update(|uci| {
                for (section, option, value) in &pending {
                    if !uci.has_section(section) {
                        uci.add_section("cwmp", Some(section))?;
                    }
                    uci.set(section, option, value)?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        self.refresh();
        self.changed = true;
        Ok(())
    }
}

/// The identity of a file's contents as the file system tells it:
/// modification time, length and inode (an atomic rewrite changes the inode).
pub type FileStamp = (std::time::SystemTime, u64, u64);

/// The stamp of the file at `path`; `None` if it cannot be read.
pub fn stamp_of(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// `UciBackend` over a directory of UCI packages (`/etc/config`).
///
/// A package is parsed once per change of its file, not once per read: a
/// GetParameterValues of a large mapped table reads it thousands of times.
#[derive(Debug)]
pub struct UciDir {
    dir: PathBuf,
    /// Packages with uncommitted edits.
    edited: VecMap<String, UciFile>,
    /// Packages committed and not yet taken for reloading.
    committed: Vec<String>,
    /// Parsed packages and the file stamp they were read at.
    parsed: RefCell<VecMap<String, (FileStamp, Rc<UciFile>)>>,
}

impl UciDir {
    pub fn new(dir: &Path) -> UciDir {
        UciDir {
            dir: dir.to_path_buf(),
            edited: VecMap::new(),
            committed: Vec::new(),
            parsed: RefCell::new(VecMap::new()),
        }
    }

    fn path(&self, package: &str) -> Option<PathBuf> {
        let valid = !package.is_empty()
            && package
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid.then(|| self.dir.join(package))
    }

    /// The package as it is now: with this session's edits, else the file
    /// (parsed again only when its stamp changed, so a change made with
    /// `uci` or LuCI is seen at the next read).
    fn load(&self, package: &str) -> Option<Rc<UciFile>> {
        if let Some(uci) = self.edited.get(package) {
            return Some(Rc::new(uci.clone()));
        }
        let path = self.path(package)?;
        let stamp = stamp_of(&path)?;
        if let Some((seen, uci)) = self.parsed.borrow().get(package) {
            if *seen == stamp {
                return Some(uci.clone());
            }
        }
        let uci = Rc::new(read_uci(&path)?);
        self.parsed
            .borrow_mut()
            .insert(package.to_owned(), (stamp, uci.clone()));
        Some(uci)
    }

    /// The package to edit: this session's copy, read from its file (or
    /// empty) on the first edit.
    fn editable(&mut self, package: &str) -> Result<&mut UciFile, String> {
        if !self.edited.contains_key(package) {
            let path = self
                .path(package)
                .ok_or_else(|| format!("invalid package '{package}'"))?;
            let uci = if path.exists() {
                read_uci(&path).ok_or_else(|| format!("{} does not parse", path.display()))?
            } else {
                UciFile::new()
            };
            self.edited.insert(package.to_owned(), uci);
        }
        self.edited
            .get_mut(package)
            .ok_or_else(|| "package vanished".to_owned())
    }
}

impl UciBackend for UciDir {
    fn sections(&self, package: &str) -> Vec<UciSection> {
        let Some(uci) = self.load(package) else {
            return Vec::new();
        };
        let mut counts: VecMap<String, usize> = VecMap::new();
        uci.sections()
            .map(|s| {
                let index = counts.get_or_insert_with(s.section_type.clone(), || 0);
                let name = s
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("@{}[{index}]", s.section_type));
                *index += 1;
                UciSection {
                    name,
                    section_type: s.section_type.clone(),
                }
            })
            .collect()
    }

    fn get(&self, package: &str, section: &str, option: &str) -> Option<String> {
        let uci = self.load(package)?;
        if let Some(v) = uci.get(section, option) {
            return Some(v.to_owned());
        }
        let list = uci.get_list(section, option);
        (!list.is_empty()).then(|| list.join(" "))
    }

    fn set(
        &mut self,
        package: &str,
        section: &str,
        option: &str,
        value: &str,
    ) -> Result<(), String> {
        let uci = self.editable(package)?;
        uci.set(section, option, value)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn add_section(&mut self, package: &str, section_type: &str) -> Result<String, String> {
        let uci = self.editable(package)?;
        uci.add_section(section_type, None)
            .map_err(|e| e.to_string())
    }

    fn delete_section(&mut self, package: &str, section: &str) -> Result<(), String> {
        let uci = self.editable(package)?;
        if uci.delete_section(section) {
            Ok(())
        } else {
            Err(format!("no section '{section}'"))
        }
    }

    fn set_list(
        &mut self,
        package: &str,
        section: &str,
        option: &str,
        values: &[&str],
    ) -> Result<(), String> {
        let uci = self.editable(package)?;
        if !uci.has_section(section) {
            return Err(format!("no section '{section}'"));
        }
        uci.delete_option(section, option);
        for value in values {
            uci.add_list(section, option, value)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn delete_option(&mut self, package: &str, section: &str, option: &str) -> Result<(), String> {
        let uci = self.editable(package)?;
        if !uci.has_section(section) {
            return Err(format!("no section '{section}'"));
        }
        uci.delete_option(section, option);
        Ok(())
    }

    fn commit(&mut self, package: &str) -> Result<(), String> {
        let Some(uci) = self.edited.remove(package) else {
            return Ok(());
        };
        let path = self
            .path(package)
            .ok_or_else(|| format!("invalid package '{package}'"))?;
        // A file holding credentials (wireless keys, PPP passwords) keeps its mode.
        let mode = std::fs::metadata(&path)
            .ok()
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        atomic_write(&path, uci.to_text().as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(mode) = mode {
            let permissions = std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777);
            std::fs::set_permissions(&path, permissions)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if !self.committed.iter().any(|p| p == package) {
            self.committed.push(package.to_owned());
        }
        Ok(())
    }

    fn revert(&mut self, package: &str) {
        self.edited.remove(package);
    }

    fn take_committed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("icwmp-backends-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn cwmp_store_commits_atomically_and_flags_change() {
        let dir = temp_dir("cwmp");
        let file = ConfigFile::in_dir(Some(&dir));
        std::fs::write(
            &file.path,
            "# comment\nconfig cwmp 'acs'\n\toption url 'http://a/'\n",
        )
        .expect("write");
        let mut store = CwmpStore::new(file.clone());
        assert_eq!(store.get("acs", "url").as_deref(), Some("http://a/"));
        store
            .set("acs", "periodic_inform_interval", "600")
            .expect("set");
        assert_eq!(
            store.get("acs", "periodic_inform_interval").as_deref(),
            Some("600")
        );
        assert!(!store.take_changed());
        store.set_runtime("cpe", "port", Some("40000"));
        assert_eq!(store.get("cpe", "port").as_deref(), Some("40000"));
        store.set_runtime("cpe", "port", None);
        assert_eq!(store.get("cpe", "port"), None);
        store.commit().expect("commit");
        assert!(store.take_changed());
        let text = std::fs::read_to_string(&file.path).expect("read");
        assert!(text.starts_with("# comment\n"));
        assert_eq!(file.load().expect("load").acs.periodic_inform_interval, 600);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn uci_dir_maps_packages() {
        let dir = temp_dir("dir");
        std::fs::write(
            dir.join("wireless"),
            "config wifi-iface\n\toption ssid 'one'\nconfig wifi-iface\n\toption ssid 'two'\n",
        )
        .expect("write");
        let mut uci = UciDir::new(&dir);
        let sections = uci.sections("wireless");
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[1].name, "@wifi-iface[1]");
        assert_eq!(
            uci.get("wireless", "@wifi-iface[1]", "ssid").as_deref(),
            Some("two")
        );
        uci.set("wireless", "@wifi-iface[0]", "ssid", "uno")
            .expect("set");
        let added = uci.add_section("wireless", "wifi-iface").expect("add");
        uci.set("wireless", &added, "ssid", "tres")
            .expect("set new");
        assert_eq!(
            uci.get("wireless", "@wifi-iface[0]", "ssid").as_deref(),
            Some("uno")
        );
        uci.commit("wireless").expect("commit");
        let reread = UciDir::new(&dir);
        assert_eq!(
            reread.get("wireless", "@wifi-iface[0]", "ssid").as_deref(),
            Some("uno")
        );
        assert_eq!(
            reread.get("wireless", "@wifi-iface[2]", "ssid").as_deref(),
            Some("tres")
        );
        assert!(uci.set("../etc", "x", "y", "z").is_err());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
