//! icwmp-rs: a TR-069/CWMP client (CPE agent) for OpenWrt-class routers.
//!
//! Pure cores (codecs, state machines, data model semantics) live beside the
//! thin I/O shells that drive them from one mio poll loop; see README.md.
#![deny(unsafe_code)]

#[cfg(feature = "bulkdata")]
pub mod bulkdata;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cwmp;
pub mod daemon;
pub mod datamodel;
#[cfg(feature = "diagnostics")]
pub mod diagnostics;
pub mod fsutil;
pub mod logging;
pub mod quoted;
pub mod records;
pub mod redact;
pub mod service;
pub mod slices;
pub mod software;
pub mod store;
pub mod sys;
pub mod timer;
pub mod transport;
pub mod vecmap;
pub mod wire;
