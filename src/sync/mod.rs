//! Synchronisation with the provincial Xinyidai (信易贷) platform.
//!
//! Everything that depends on the province's wire format lives here, so that mapping onto the
//! real (non-public) specification touches only this module tree: the outbox worker and its
//! circuit breaker, the provincial HTTP client, request signing, the daily reconciliation, and
//! the simulator that serves the assumed interface documented in `docs/provincial-api.md`.

pub mod client;
pub mod metrics;
pub mod reconcile;
pub mod signing;
pub mod simulator;
pub mod worker;
