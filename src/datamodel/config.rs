//! The configuration interfaces providers read and write through: the cwmp settings (`ConfigStore`) and UCI packages (`UciBackend`), with in-memory versions.

use std::cell::RefCell;
use std::rc::Rc;

use crate::cwmp::fault::{Fault, FaultCode};
use crate::vecmap::VecMap;

/// Options of `/etc/config/cwmp` by section and option name (`acs`, `url`).
pub trait ConfigStore {
    fn get(&self, section: &str, option: &str) -> Option<String>;
    fn set(&mut self, section: &str, option: &str, value: &str) -> Result<(), String>;
    /// Makes the sets so far durable (writes the file); called once per commit.
    fn commit(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// The store shared by the providers and the daemon (single-threaded).
pub type SharedConfig = Rc<RefCell<dyn ConfigStore>>;

/// A `ConfigStore` in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryConfig {
    pub options: VecMap<(String, String), String>,
    /// How many times `commit` was called.
    pub commits: usize,
}

impl MemoryConfig {
    /// A store holding `section.option = value` entries.
    pub fn with(entries: &[(&str, &str, &str)]) -> MemoryConfig {
        let mut store = MemoryConfig::default();
        for (s, o, v) in entries {
            store
                .options
                .insert(((*s).to_owned(), (*o).to_owned()), (*v).to_owned());
        }
        store
    }

    /// Wraps the store for sharing between providers.
    pub fn shared(self) -> SharedConfig {
        Rc::new(RefCell::new(self))
    }
}

impl ConfigStore for MemoryConfig {
    fn get(&self, section: &str, option: &str) -> Option<String> {
        self.options
            .get(&(section.to_owned(), option.to_owned()))
            .cloned()
    }

    fn set(&mut self, section: &str, option: &str, value: &str) -> Result<(), String> {
        self.options
            .insert((section.to_owned(), option.to_owned()), value.to_owned());
        Ok(())
    }

    fn commit(&mut self) -> Result<(), String> {
        self.commits += 1;
        Ok(())
    }
}

/// A section of a UCI package: its name (`cfg0a1b2c` style for anonymous
/// ones) and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UciSection {
    pub name: String,
    pub section_type: String,
}

/// Commits `package` once `written` (the changes made to it) succeeded;
/// otherwise, or when the commit fails, reverts it and denies the request
/// (9001) with the reason.
pub fn commit_or_revert(
    uci: &mut dyn UciBackend,
    package: &str,
    written: Result<(), String>,
) -> Result<(), Fault> {
    if let Err(e) = written.and_then(|()| uci.commit(package)) {
        uci.revert(package);
        return Err(Fault::with_text(FaultCode::RequestDenied, e));
    }
    Ok(())
}

/// Read and write access to UCI packages (`/etc/config/<package>`).
pub trait UciBackend {
    /// The sections of a package in file order.
    fn sections(&self, package: &str) -> Vec<UciSection>;
    /// An option's value; list options are joined with spaces.
    fn get(&self, package: &str, section: &str, option: &str) -> Option<String>;
    fn set(
        &mut self,
        package: &str,
        section: &str,
        option: &str,
        value: &str,
    ) -> Result<(), String>;
    /// Adds a section of a type; returns its name.
    fn add_section(&mut self, package: &str, section_type: &str) -> Result<String, String>;
    fn delete_section(&mut self, package: &str, section: &str) -> Result<(), String>;
    /// Replaces an option by a list of `values` (no option when empty).
    fn set_list(
        &mut self,
        package: &str,
        section: &str,
        option: &str,
        values: &[&str],
    ) -> Result<(), String>;
    /// Removes an option or list; removing an absent one is not an error.
    fn delete_option(&mut self, package: &str, section: &str, option: &str) -> Result<(), String>;
    /// Writes the package's pending changes to its file.
    fn commit(&mut self, package: &str) -> Result<(), String>;
    /// Drops the package's pending changes.
    fn revert(&mut self, package: &str);
    /// The packages committed since the last call, each once, in commit
    /// order: the services to reload after the session.
    fn take_committed(&mut self) -> Vec<String>;
}

/// The backend shared between the providers that map UCI.
pub type SharedUci = Rc<RefCell<dyn UciBackend>>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct MemorySection {
    name: String,
    section_type: String,
    options: VecMap<String, String>,
}

/// A `UciBackend` in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryUci {
    packages: VecMap<String, Vec<MemorySection>>,
    next_anonymous: u32,
    /// Packages committed so far, in order.
    pub commits: Vec<String>,
}

impl MemoryUci {
    /// Adds a section with options (a named one when `name` is not empty).
    pub fn add(&mut self, package: &str, section_type: &str, name: &str, options: &[(&str, &str)]) {
        let name = if name.is_empty() {
            self.anonymous_name()
        } else {
            name.to_owned()
        };
        self.packages
            .get_or_insert_with(package.to_owned(), Vec::new)
            .push(MemorySection {
                name,
                section_type: section_type.to_owned(),
                options: options
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            });
    }

    pub fn shared(self) -> SharedUci {
        Rc::new(RefCell::new(self))
    }

    fn anonymous_name(&mut self) -> String {
        self.next_anonymous += 1;
        format!("cfg{:06x}", self.next_anonymous)
    }

    fn section_mut(&mut self, package: &str, section: &str) -> Option<&mut MemorySection> {
        self.packages
            .get_mut(package)?
            .iter_mut()
            .find(|s| s.name == section)
    }
}

impl UciBackend for MemoryUci {
    fn sections(&self, package: &str) -> Vec<UciSection> {
        self.packages
            .get(package)
            .map(|list| {
                list.iter()
                    .map(|s| UciSection {
                        name: s.name.clone(),
                        section_type: s.section_type.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn get(&self, package: &str, section: &str, option: &str) -> Option<String> {
        self.packages
            .get(package)?
            .iter()
            .find(|s| s.name == section)?
            .options
            .get(option)
            .cloned()
    }

    fn set(
        &mut self,
        package: &str,
        section: &str,
        option: &str,
        value: &str,
    ) -> Result<(), String> {
        let s = self
            .section_mut(package, section)
            .ok_or_else(|| format!("{package}.{section}: no such section"))?;
        s.options.insert(option.to_owned(), value.to_owned());
        Ok(())
    }

    fn add_section(&mut self, package: &str, section_type: &str) -> Result<String, String> {
        self.add(package, section_type, "", &[]);
        self.packages
            .get(package)
            .and_then(|l| l.last())
            .map(|s| s.name.clone())
            .ok_or_else(|| "section not added".to_owned())
    }

    fn delete_section(&mut self, package: &str, section: &str) -> Result<(), String> {
        let list = self
            .packages
            .get_mut(package)
            .ok_or_else(|| format!("{package}: no such package"))?;
        let before = list.len();
        list.retain(|s| s.name != section);
        if list.len() == before {
            return Err(format!("{package}.{section}: no such section"));
        }
        Ok(())
    }

    fn set_list(
        &mut self,
        package: &str,
        section: &str,
        option: &str,
        values: &[&str],
    ) -> Result<(), String> {
        if values.is_empty() {
            return self.delete_option(package, section, option);
        }
        self.set(package, section, option, &values.join(" "))
    }

    fn delete_option(&mut self, package: &str, section: &str, option: &str) -> Result<(), String> {
        let s = self
            .section_mut(package, section)
            .ok_or_else(|| format!("{package}.{section}: no such section"))?;
        s.options.remove(option);
        Ok(())
    }

    fn commit(&mut self, package: &str) -> Result<(), String> {
        self.commits.push(package.to_owned());
        Ok(())
    }

    fn revert(&mut self, _package: &str) {}

    fn take_committed(&mut self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for package in self.commits.drain(..) {
            if !out.contains(&package) {
                out.push(package);
            }
        }
        out
    }
}
