//! The CWMP protocol layer: faults, parameter structures, events and the session engine.

pub mod fault;
pub mod params;
