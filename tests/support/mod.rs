//! Shared support of the integration tests: the loopback test ACS, the daemon runner, the ubus test broker, an HTTP(S) test server and test PKI, file servers for transfers.
#![allow(dead_code)]

pub mod acs;
pub mod daemon;
pub mod files;
pub mod http_server;
pub mod pki;
pub mod prosody;
pub mod ubus_broker;
