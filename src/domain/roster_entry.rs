//! A market entity as the roster (名录) from 市场监管局 describes it, once every rule has passed.

use time::Date;

use super::entity_kind::EntityKind;
use super::entity_status::EntityStatus;
use super::uscc::Uscc;

/// A roster row that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub uscc: Uscc,
    /// Normalised with [`super::entity_name::normalize_entity_name`].
    pub name: String,
    pub kind: EntityKind,
    /// Normalised with [`super::entity_name::normalize_person_name`].
    pub legal_rep: String,
    /// The county-level unit (6 digits) the entity counts toward.
    pub county_code: String,
    pub township_code: Option<String>,
    /// GB/T 4754-2017 section letter, `A`–`T`.
    pub industry: Option<char>,
    pub address: Option<String>,
    pub founded: Option<Date>,
    pub status: EntityStatus,
}
