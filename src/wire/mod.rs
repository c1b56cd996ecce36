//! Wire formats: bytes to typed values and back, with no I/O.

pub mod blobmsg;
pub mod ubus;
