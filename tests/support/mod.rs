//! Shared support of the integration tests: the loopback test ACS, a BulkData collector, coturn as STUN server, the daemon runner, the ubus test broker, an HTTP(S) test server and test PKI, file servers for transfers, a DNS responder and network namespaces for the diagnostics.
#![allow(dead_code)]

pub mod acs;
pub mod collector;
pub mod conn_request;
#[cfg(feature = "stun")]
pub mod coturn;
pub mod daemon;
pub mod dns;
pub mod files;
pub mod http_server;
pub mod http_wire;
pub mod netns;
pub mod opkg;
pub mod pki;
#[cfg(feature = "xmpp")]
pub mod prosody;
pub mod ubus_broker;
