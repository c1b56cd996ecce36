//! Wire formats: pure codecs that turn bytes into typed messages and back, with no I/O (SOAP, digest, blobmsg, FTP replies, DNS, ICMP, …).

pub mod blobmsg;
pub mod digest;
pub mod dns;
pub mod ftp;
pub mod icmp;
pub mod lwn;
pub mod md5;
pub mod soap;
pub mod ubus;
