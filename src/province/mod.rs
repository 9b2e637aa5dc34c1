//! The provincial Xinyidai (信易贷) platform as an adapter: the HTTP client behind the
//! [`client::Province`] trait, request signing, and the simulator that serves the assumed
//! interface documented in `docs/provincial-api.md`. Everything that depends on the province's
//! wire format lives here, so mapping onto the real specification touches only this tree.

pub mod client;
pub mod signing;
pub mod simulator;
