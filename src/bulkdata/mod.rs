//! BulkData collection (TR-069 Annex N, TR-181 `Device.BulkData.`): profiles, report encoders, schedule and the collector service.

pub mod collector;
pub mod profile;
pub mod report;
pub mod schedule;
