//! Scheduled work that runs beside the server: the daily league snapshot, the weekly digests to
//! staff and leaders, and the daily reconciliation with the province.

pub mod background;
pub mod leaders_digest;
pub mod reconcile;
pub mod schedule;
pub mod snapshots;
pub mod staff_digest;
