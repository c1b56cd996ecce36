//! Wire formats: pure codecs that turn bytes into typed messages and back, with no I/O.

pub mod blobmsg;
pub mod digest;
pub mod ftp;
pub mod lwn;
pub mod md5;
pub mod scram;
pub mod soap;
pub mod ubus;
pub mod xmpp;
