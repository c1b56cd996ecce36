//! The TR-069 data model: generated schema, paths, providers and the RPC semantics engine.

pub mod path;
pub mod schema;
