//! Shared support of the integration tests: the loopback test ACS, the daemon runner, the ubus test broker.
#![allow(dead_code)]

pub mod acs;
pub mod daemon;
pub mod files;
pub mod ubus_broker;
