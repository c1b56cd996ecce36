//! Software module management: deployment units through the package manager (ChangeDUState, SoftwareModules), vouchers and options.
//!
//! The pure parts ([`uuid`], [`inventory`], [`changes`], [`vouchers`], over
//! the state file format of [`crate::records`]) decide; [`manager`] is the shell that runs the package
//! manager's commands as child processes, keeps the state files and tells the
//! daemon what to report.

pub mod changes;
pub mod inventory;
pub mod manager;
pub mod uuid;
pub mod vouchers;
