//! The TR-069 data model: generated schema, paths, providers and the RPC semantics engine.

pub mod config;
pub mod datetime;
pub mod engine;
#[cfg(test)]
mod engine_tests;
pub mod mgmt;
pub mod path;
pub mod provider;
pub mod schema;
pub mod state;
