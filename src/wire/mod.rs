//! Wire formats: pure codecs that turn bytes into typed messages and back, with no I/O.

pub mod soap;
