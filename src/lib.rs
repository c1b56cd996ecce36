//! icwmp-rs: a TR-069/CWMP client (CPE agent) for OpenWrt-class routers.
//!
//! Pure cores (codecs, state machines, data model semantics) live beside the
//! thin I/O shells that drive them from one mio poll loop; see README.md.
#![deny(unsafe_code)]

pub mod cwmp;
pub mod fsutil;
pub mod transport;
pub mod wire;
