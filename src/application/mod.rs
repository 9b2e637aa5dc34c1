//! Use cases shared by the web edge and the command line: they take parsed input, apply the
//! domain's rules, and write through the store (each change in one transaction; the roster
//! import in batches).

pub mod assignment;
pub mod registration;
pub mod roster_import;
