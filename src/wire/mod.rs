//! Wire formats: bytes <-> typed values, no I/O.

pub mod digest;
pub mod md5;
