//! The CWMP protocol layer: faults, parameter structures, events and the session engine.

pub mod agent;
pub mod conn_request_limit;
pub mod cpe_requests;
pub mod datetime;
pub mod dhcp;
pub mod events;
pub mod fault;
pub mod handlers;
pub mod notified_values;
pub mod params;
pub mod retry;
pub mod schedule;
pub mod session;
pub mod transfers;
