//! Wire formats: pure codecs that turn bytes into typed messages and back, with no I/O (SOAP, digest, blobmsg, FTP replies, DNS, ICMP, …).

#[cfg(any(feature = "twamp", feature = "udpecho"))]
pub mod allowed_list;
pub mod blobmsg;
pub mod coding_error;
#[cfg(feature = "compression")]
pub mod content_coding;
#[cfg(not(feature = "compression"))]
#[path = "content_coding_absent.rs"]
pub mod content_coding;
pub mod digest;
#[cfg(feature = "diagnostics")]
pub mod dns;
pub mod ftp;
pub mod http;
#[cfg(feature = "diagnostics")]
pub mod icmp;
pub mod lwn;
pub mod md5;
#[cfg(all(test, feature = "stun"))]
pub(crate) mod mutate;
pub mod rtnetlink;
#[cfg(feature = "xmpp")]
pub mod scram;
pub mod soap;
#[cfg(feature = "stun")]
pub mod stun;
#[cfg(feature = "stun")]
pub mod stun_binding;
#[cfg(feature = "twamp")]
pub mod twamp;
pub mod ubus;
#[cfg(feature = "stun")]
pub mod udp_conn_request;
#[cfg(feature = "udpecho")]
pub mod udp_echo;
#[cfg(feature = "xmpp")]
pub mod xmpp;
