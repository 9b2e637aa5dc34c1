//! League tables: departments (bureaus, townships, financial institutions — each its own table
//! and rank), the townships of the roster, and for a city the counties, built from the read model
//! of one day: today's live counts, or a past day's snapshot, never recomputed.
//!
//! Entities whose roster status is 注销 (`cancelled`) no longer exist as market entities: they are
//! left out of every count, the denominator and the numerator alike, so a department is neither
//! blamed for nor credited with them.

use std::collections::HashMap;

use time::{Date, Duration};

use crate::domain::assignment_rule::TargetAmount;
use crate::domain::calendar;
use crate::domain::division::{DivisionTree, Level};
use crate::store::league::{self, CountRow};
use crate::store::progress::{self, PACE_WINDOW_DAYS, Projection, Stage, StageCounts};
use crate::store::{Db, StoreError, assignments, departments};

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

impl TableKind {
    /// The table's heading.
    pub fn title(self) -> &'static str {
        match self {
            TableKind::Bureaus => "县直部门",
            TableKind::TownshipDepartments => "乡镇（街道）责任部门",
            TableKind::Financial => "金融机构",
            TableKind::Townships => "各乡镇（街道）",
            TableKind::Counties => "各县（市、区）",
        }
    }

    /// A stable name for ids, links and sheet keys.
    pub fn slug(self) -> &'static str {
        match self {
            TableKind::Bureaus => "bureaus",
            TableKind::TownshipDepartments => "township-departments",
            TableKind::Financial => "financial",
            TableKind::Townships => "townships",
            TableKind::Counties => "counties",
        }
    }

    /// Whether the rows are departments (which have targets).
    pub fn is_departments(self) -> bool {
        matches!(
            self,
            TableKind::Bureaus | TableKind::TownshipDepartments | TableKind::Financial
        )
    }
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

// ---------------------------------------------------------------------------------------------
// The maths (pure)

/// `onboarded / assigned`, 0 when nothing is assigned.
pub fn rate(onboarded: i64, assigned: i64) -> f64 {
    if assigned <= 0 {
        0.0
    } else {
        onboarded as f64 / assigned as f64
    }
}

/// A target in entities: a count as it is, a share of `assigned` rounded up.
pub fn target_entities(amount: TargetAmount, assigned: i64) -> i64 {
    match amount {
        TargetAmount::Count(n) => n,
        // The small slack keeps 0.8 × 10 = 8.000000000000002 from becoming 9.
        TargetAmount::Share(s) => (s * assigned as f64 - 1e-9).ceil().max(0.0) as i64,
    }
}

/// The rate's change in percentage points since an earlier (onboarded, assigned); `None` when
/// there is nothing to compare with (no snapshot, or nothing counted then).
pub fn change_pp(now: (i64, i64), then: Option<(i64, i64)>) -> Option<f64> {
    let (onboarded, assigned) = then.filter(|(_, assigned)| *assigned > 0)?;
    Some((rate(now.0, now.1) - rate(onboarded, assigned)) * 100.0)
}

/// When `target` is reached at the pace since `onboarded_before` ([`PACE_WINDOW_DAYS`] earlier;
/// `None` without that snapshot, which leaves no pace: stalled unless already reached).
pub fn projection(
    target: Option<i64>,
    onboarded: i64,
    onboarded_before: Option<i64>,
    day: Date,
) -> Projection {
    let Some(target) = target else {
        return Projection::NoTarget;
    };
    let per_day = onboarded_before.map_or(0.0, |before| {
        (onboarded - before) as f64 / PACE_WINDOW_DAYS as f64
    });
    progress::project(target - onboarded, per_day, day)
}

/// Orders rows by rate (highest first, then by name) and numbers them; equal rates share a rank
/// and the next rank skips (1, 1, 3). Rates are compared as exact fractions, not floats.
pub fn rank(rows: &mut [LeagueRow]) {
    // a/b against c/d as a·d against c·b; an empty row has rate 0 (0/1).
    let frac = |r: &LeagueRow| (i128::from(r.onboarded), i128::from(r.assigned.max(1)));
    let higher = |a: &LeagueRow, b: &LeagueRow| {
        let ((an, ad), (bn, bd)) = (frac(a), frac(b));
        (bn * ad).cmp(&(an * bd))
    };
    rows.sort_by(|a, b| higher(a, b).then_with(|| a.name.cmp(&b.name)));
    for i in 0..rows.len() {
        rows[i].rank = match i.checked_sub(1) {
            Some(prev) if higher(&rows[prev], &rows[i]).is_eq() => rows[prev].rank,
            _ => i + 1,
        };
    }
}

/// What a row's line is counted over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Scope {
    Department(i64),
    Township(String),
    County(String),
    Total,
}

/// Stage counts per scope of one day's read model, cancelled entities left out.
#[derive(Debug, Default)]
struct Tally(HashMap<Scope, StageCounts>);

impl Tally {
    fn of(rows: &[CountRow]) -> Tally {
        let mut tally = Tally::default();
        for row in rows {
            // 注销: no longer a market entity (see the module comment).
            if row.status == "cancelled" {
                continue;
            }
            let Some(stage) = Stage::parse(&row.stage) else {
                continue;
            };
            let mut scopes = vec![Scope::Total, Scope::County(row.county_code.clone())];
            if row.department_id != 0 {
                scopes.push(Scope::Department(row.department_id));
            }
            if !row.township_code.is_empty() {
                scopes.push(Scope::Township(row.township_code.clone()));
            }
            for scope in scopes {
                tally.0.entry(scope).or_default().add(stage, row.n);
            }
        }
        tally
    }

    fn get(&self, scope: &Scope) -> StageCounts {
        self.0.get(scope).copied().unwrap_or_default()
    }

    /// (onboarded, assigned), `None` when nothing was counted there.
    fn pair(&self, scope: &Scope) -> Option<(i64, i64)> {
        self.0.get(scope).map(|s| (s.onboarded(), s.total()))
    }
}

/// The day's tally and the ones 7 and 14 days earlier (when snapshots exist).
struct Days {
    day: Date,
    now: Tally,
    week_ago: Option<Tally>,
    fortnight_ago: Option<Tally>,
}

impl Days {
    fn row(
        &self,
        scope: Scope,
        key: String,
        name: String,
        target: Option<TargetAmount>,
    ) -> LeagueRow {
        let stages = self.now.get(&scope);
        let assigned = stages.total();
        let onboarded = stages.onboarded();
        let target = target.map(|t| target_entities(t, assigned));
        LeagueRow {
            key,
            name,
            rank: 1,
            assigned,
            stages,
            onboarded,
            rate: rate(onboarded, assigned),
            target,
            change_pp: change_pp(
                (onboarded, assigned),
                self.week_ago.as_ref().and_then(|t| t.pair(&scope)),
            ),
            projection: projection(
                target,
                onboarded,
                self.fortnight_ago
                    .as_ref()
                    .map(|t| t.pair(&scope).map_or(0, |(o, _)| o)),
                self.day,
            ),
        }
    }
}

/// A department as the table needs it (live, or as a snapshot recorded it).
struct DepartmentLine {
    id: i64,
    county_code: String,
    name: String,
    kind: String,
    target: Option<TargetAmount>,
}

/// The counties a jurisdiction covers: itself, or a city's counties.
pub fn counties_of(tree: &DivisionTree, jurisdiction: &str) -> Vec<String> {
    match tree.get(jurisdiction).map(|d| d.level) {
        Some(Level::City) => tree
            .children(jurisdiction)
            .filter(|d| d.level == Level::County)
            .map(|d| d.code.clone())
            .collect(),
        _ => vec![jurisdiction.to_owned()],
    }
}

async fn live_departments(
    db: &Db,
    counties: &[String],
    day: Date,
) -> Result<Vec<DepartmentLine>, StoreError> {
    let period = calendar::period_of(day);
    let mut out = Vec::new();
    for county in counties {
        let targets: HashMap<i64, TargetAmount> = assignments::targets_for(db, county, &period)
            .await?
            .into_iter()
            .map(|t| (t.department_id, t.amount))
            .collect();
        out.extend(
            departments::list(db, county)
                .await?
                .into_iter()
                .map(|d| DepartmentLine {
                    target: targets.get(&d.id).copied(),
                    id: d.id,
                    county_code: d.county_code,
                    name: d.name,
                    kind: d.kind,
                }),
        );
    }
    Ok(out)
}

/// The departments exactly as `day`'s snapshot recorded them (never today's names or targets).
async fn snapshot_departments(
    db: &Db,
    counties: &[String],
    day: Date,
) -> Result<Vec<DepartmentLine>, StoreError> {
    Ok(league::snapshot_departments(db, day)
        .await?
        .into_iter()
        .filter(|d| counties.contains(&d.county_code))
        .map(|d| DepartmentLine {
            target: TargetAmount::new(d.target_count, d.target_share).ok(),
            id: d.department_id,
            county_code: d.county_code,
            name: d.name,
            kind: d.kind,
        })
        .collect())
}

async fn tally_of(db: &Db, day: Date, counties: &[String]) -> Result<Option<Tally>, StoreError> {
    Ok(league::snapshot_table_counts(db, day, counties)
        .await?
        .map(|rows| Tally::of(&rows)))
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
    let counties = counties_of(tree, jurisdiction);
    let live = day == today;
    let (rows, departments) = if live {
        (
            league::table_counts(db, &counties).await?,
            live_departments(db, &counties, day).await?,
        )
    } else {
        match league::snapshot_table_counts(db, day, &counties).await? {
            None => return Ok(None),
            Some(rows) => (rows, snapshot_departments(db, &counties, day).await?),
        }
    };
    let days = Days {
        day,
        now: Tally::of(&rows),
        week_ago: tally_of(db, day - Duration::days(7), &counties).await?,
        fortnight_ago: tally_of(db, day - Duration::days(PACE_WINDOW_DAYS), &counties).await?,
    };
    let city = tree
        .get(jurisdiction)
        .is_some_and(|d| d.level == Level::City);
    let name_of = |code: &str| {
        tree.get(code)
            .map_or_else(|| code.to_owned(), |d| d.name.clone())
    };
    let mut tables = Vec::new();
    for (kind, code) in [
        (TableKind::Bureaus, "bureau"),
        (TableKind::TownshipDepartments, "township"),
        (TableKind::Financial, "financial"),
    ] {
        let rows: Vec<LeagueRow> = departments
            .iter()
            .filter(|d| d.kind == code)
            .map(|d| {
                // In a city, every county has a 发改局: say whose.
                let name = if city {
                    format!("{} · {}", name_of(&d.county_code), d.name)
                } else {
                    d.name.clone()
                };
                days.row(Scope::Department(d.id), d.id.to_string(), name, d.target)
            })
            .collect();
        if !rows.is_empty() {
            tables.push(LeagueTable { kind, rows });
        }
    }
    // The roster's townships: those with counted entities that day.
    let mut townships: Vec<&String> = days
        .now
        .0
        .keys()
        .filter_map(|s| match s {
            Scope::Township(code) => Some(code),
            _ => None,
        })
        .collect();
    townships.sort();
    let township_rows: Vec<LeagueRow> = townships
        .into_iter()
        .map(|code| {
            let name = if city {
                tree.display_path(code)
            } else {
                name_of(code)
            };
            days.row(Scope::Township(code.clone()), code.clone(), name, None)
        })
        .collect();
    if !township_rows.is_empty() {
        tables.push(LeagueTable {
            kind: TableKind::Townships,
            rows: township_rows,
        });
    }
    if city {
        tables.push(LeagueTable {
            kind: TableKind::Counties,
            rows: counties
                .iter()
                .map(|c| days.row(Scope::County(c.clone()), c.clone(), name_of(c), None))
                .collect(),
        });
    }
    for table in &mut tables {
        rank(&mut table.rows);
    }
    // The jurisdiction's target: the departments' targets added up, when any is set.
    let targets: Vec<i64> = tables
        .iter()
        .filter(|t| t.kind.is_departments())
        .flat_map(|t| t.rows.iter().filter_map(|r| r.target))
        .collect();
    let mut total = days.row(
        Scope::Total,
        jurisdiction.to_owned(),
        name_of(jurisdiction),
        None,
    );
    if !targets.is_empty() {
        let target = targets.iter().sum::<i64>();
        total.target = Some(target);
        total.projection = projection(
            Some(target),
            total.onboarded,
            days.fortnight_ago
                .as_ref()
                .map(|t| t.pair(&Scope::Total).map_or(0, |(o, _)| o)),
            day,
        );
    }
    Ok(Some(League {
        day,
        live,
        tables,
        total,
    }))
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn row(name: &str, onboarded: i64, assigned: i64) -> LeagueRow {
        let mut stages = StageCounts::default();
        stages.add(Stage::Synced, onboarded);
        stages.add(Stage::NotStarted, assigned - onboarded);
        LeagueRow {
            key: name.to_owned(),
            name: name.to_owned(),
            rank: 0,
            assigned,
            stages,
            onboarded,
            rate: rate(onboarded, assigned),
            target: None,
            change_pp: None,
            projection: Projection::NoTarget,
        }
    }

    fn ranked(rows: &[LeagueRow]) -> Vec<(String, usize)> {
        rows.iter().map(|r| (r.name.clone(), r.rank)).collect()
    }

    #[test]
    fn equal_rates_share_a_rank_and_the_next_skips() {
        // 1/3 and 2/6 are equal as fractions though not always as floats.
        let mut rows = vec![
            row("丙", 2, 6),
            row("甲", 1, 3),
            row("乙", 9, 10),
            row("丁", 0, 5),
            row("戊", 0, 0),
        ];
        rank(&mut rows);
        let names: Vec<_> = ranked(&rows);
        assert_eq!(
            names,
            [
                ("乙".to_owned(), 1),
                ("丙".to_owned(), 2),
                ("甲".to_owned(), 2),
                ("丁".to_owned(), 4),
                ("戊".to_owned(), 4),
            ]
        );
    }

    #[test]
    fn rates_and_targets() {
        assert_eq!(rate(0, 0), 0.0);
        assert!((rate(1, 4) - 0.25).abs() < 1e-12);
        assert_eq!(target_entities(TargetAmount::Count(7), 100), 7);
        assert_eq!(target_entities(TargetAmount::Share(0.8), 10), 8);
        assert_eq!(target_entities(TargetAmount::Share(0.5), 7), 4);
        assert_eq!(target_entities(TargetAmount::Share(1.0), 0), 0);
    }

    #[test]
    fn change_in_percentage_points() {
        let pp = change_pp((5, 10), Some((2, 10))).unwrap();
        assert!((pp - 30.0).abs() < 1e-9, "{pp}");
        let pp = change_pp((1, 10), Some((1, 5))).unwrap();
        assert!((pp + 10.0).abs() < 1e-9, "{pp}");
        assert_eq!(change_pp((5, 10), None), None);
        assert_eq!(change_pp((5, 10), Some((0, 0))), None);
    }

    #[test]
    fn projection_from_the_fortnight_pace() {
        let day = date!(2026 - 11 - 30);
        // 14 more in 14 days: one a day; 5 to go.
        assert_eq!(
            projection(Some(25), 20, Some(6), day),
            Projection::On(date!(2026 - 12 - 05))
        );
        assert_eq!(projection(None, 20, Some(6), day), Projection::NoTarget);
        assert_eq!(projection(Some(25), 20, None, day), Projection::Stalled);
        assert_eq!(projection(Some(20), 20, None, day), Projection::Reached);
        assert_eq!(projection(Some(25), 20, Some(20), day), Projection::Stalled);
    }

    #[test]
    fn cancelled_entities_count_nowhere() {
        let count = |status: &str, stage: &str, n| CountRow {
            county_code: "220322".into(),
            township_code: "220322100".into(),
            department_id: 3,
            kind: "enterprise".into(),
            status: status.into(),
            stage: stage.into(),
            n,
        };
        let tally = Tally::of(&[
            count("active", "synced", 2),
            count("active", "not_started", 3),
            count("cancelled", "synced", 4),
            count("suspended", "started", 1),
        ]);
        for scope in [
            Scope::Total,
            Scope::Department(3),
            Scope::Township("220322100".into()),
            Scope::County("220322".into()),
        ] {
            assert_eq!(tally.pair(&scope), Some((2, 6)), "{scope:?}");
        }
    }

    #[test]
    fn a_city_covers_its_counties() {
        let tree = DivisionTree::seed();
        let counties = counties_of(&tree, "220300");
        assert!(counties.len() >= 2 && counties.contains(&"220322".to_owned()));
        assert_eq!(counties_of(&tree, "220322"), ["220322"]);
    }
}
