//! Protection of secrets at rest: password hashing with the officials' and owners' rules, and
//! the vault that encrypts ID numbers.

pub mod id_vault;
pub mod password;
