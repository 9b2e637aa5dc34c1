//! Pure domain rules: no I/O, no database, no clock unless passed in.

pub mod agreement;
pub mod calendar;
pub mod division;
pub mod email;
pub mod entity_kind;
pub mod mobile;
pub mod person_name;
pub mod resident_id;
pub mod uscc;
