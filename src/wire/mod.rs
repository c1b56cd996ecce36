//! Wire formats: pure codecs that turn bytes into typed messages and back, with no I/O (SOAP, digest, blobmsg, FTP replies, DNS, ICMP, …).

pub mod allowed_list;
pub mod blobmsg;
pub mod content_coding;
pub mod digest;
pub mod dns;
pub mod ftp;
pub mod http;
pub mod icmp;
pub mod lwn;
pub mod md5;
#[cfg(test)]
pub(crate) mod mutate;
pub mod scram;
pub mod soap;
pub mod stun;
pub mod stun_binding;
pub mod twamp;
pub mod ubus;
pub mod udp_conn_request;
pub mod udp_echo;
pub mod xmpp;
