//! Pure domain rules: no I/O, no database, no clock unless passed in.

pub mod agreement;
pub mod assignment_rule;
pub mod calendar;
pub mod delivery;
pub mod division;
pub mod email;
pub mod entity_kind;
pub mod entity_name;
pub mod entity_status;
pub mod industry;
pub mod mobile;
pub mod person_name;
pub mod quote;
pub mod resident_id;
pub mod roster_entry;
pub mod uscc;
