//! Shared support of the integration tests: the loopback test ACS and the daemon runner.

pub mod acs;
pub mod daemon;
