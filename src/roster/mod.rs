//! The market-entity roster: reading roster files and validating their rows.

pub mod import;
pub mod rejects;
pub mod row;
pub mod source;
