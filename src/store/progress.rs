//! Where each roster entity stands on its way onto the provincial platform, and a department's
//! progress towards its target. The staff workspace, the weekly digest and the leaders' tables
//! all count with [`STAGE_SQL`], so the same entity is never counted two ways.

use time::{Date, Duration};

use crate::domain::assignment_rule::TargetAmount;
use crate::domain::calendar;
use crate::on_pool;

use super::{Context, Db, StoreError};

/// One entity's stage, from the roster row `e` and its registration `r` (LEFT JOINed on
/// `r.entity_id = e.id`; a USCC has at most one registration). Onboarded means `synced`:
/// verified, signed and accepted by the province.
pub const STAGE_SQL: &str = "CASE
    WHEN r.id IS NULL THEN 'not_started'
    WHEN r.verification = 'rejected' OR r.sync_state = 'rejected' THEN 'rejected'
    WHEN r.sync_state = 'accepted' THEN 'synced'
    WHEN r.verification IN ('matched', 'approved')
         AND EXISTS (SELECT 1 FROM signatures s WHERE s.registration_id = r.id) THEN 'signed'
    WHEN r.verification IN ('matched', 'approved') THEN 'verified'
    ELSE 'started'
END";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    NotStarted,
    Started,
    Verified,
    Signed,
    Synced,
    Rejected,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::NotStarted,
        Stage::Started,
        Stage::Verified,
        Stage::Signed,
        Stage::Synced,
        Stage::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::NotStarted => "not_started",
            Stage::Started => "started",
            Stage::Verified => "verified",
            Stage::Signed => "signed",
            Stage::Synced => "synced",
            Stage::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.as_str() == s)
    }

    /// The stage in the staff's words.
    pub fn label(self) -> &'static str {
        match self {
            Stage::NotStarted => "未开始",
            Stage::Started => "已开始登记",
            Stage::Verified => "已核验",
            Stage::Signed => "已签协议",
            Stage::Synced => "已入驻省平台",
            Stage::Rejected => "被驳回",
        }
    }
}

/// How many entities are at each stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageCounts {
    counts: [i64; 6],
}

impl StageCounts {
    /// Adds `n` entities at `stage`.
    pub fn add(&mut self, stage: Stage, n: i64) {
        self.counts[stage as usize] += n;
    }

    pub fn get(&self, stage: Stage) -> i64 {
        self.counts[stage as usize]
    }

    pub fn total(&self) -> i64 {
        self.counts.iter().sum()
    }

    /// Onboarded: verified, signed and accepted by the province.
    pub fn onboarded(&self) -> i64 {
        self.get(Stage::Synced)
    }

    /// Every stage with its count, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Stage, i64)> + '_ {
        Stage::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

/// Entities per stage for one department, or the whole county when `department_id` is `None`.
pub async fn stage_counts(
    db: &Db,
    county: &str,
    department_id: Option<i64>,
) -> Result<StageCounts, StoreError> {
    let sql = format!(
        "SELECT stage, COUNT(*) FROM (
             SELECT {STAGE_SQL} AS stage
             FROM entities e LEFT JOIN registrations r ON r.entity_id = e.id
             WHERE e.county_code = $1 AND ($2 IS NULL OR e.department_id = $2)
         ) staged GROUP BY stage"
    );
    let rows: Vec<(String, i64)> = on_pool!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(county)
            .bind(department_id)
            .fetch_all(pool)
            .await
            .context("counting entities per stage")?
    });
    let mut counts = StageCounts::default();
    for (stage, n) in rows {
        if let Some(stage) = Stage::parse(&stage) {
            counts.counts[stage as usize] = n;
        }
    }
    Ok(counts)
}

/// The county's township department with the most entities: id and name.
pub async fn busiest_department(
    db: &Db,
    county: &str,
) -> Result<Option<(i64, String)>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT d.id, d.name FROM departments d JOIN entities e ON e.department_id = d.id
             WHERE d.county_code = $1 AND d.kind = 'township'
             GROUP BY d.id, d.name ORDER BY COUNT(*) DESC, d.id LIMIT 1",
        )
        .bind(county)
        .fetch_optional(pool)
        .await
        .context("finding the busiest department")?
    }))
}

/// Entities of the department the province accepted at or after `since`.
async fn accepted_since(
    db: &Db,
    department_id: i64,
    since: time::OffsetDateTime,
) -> Result<i64, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM registrations r JOIN entities e ON e.id = r.entity_id
             WHERE e.department_id = $1 AND r.sync_state = 'accepted' AND r.accepted_at >= $2",
        )
        .bind(department_id)
        .bind(since)
        .fetch_one(pool)
        .await
        .context("counting recent acceptances")?
    }))
}

/// The department's target for a period, if one is set.
pub async fn target_of(
    db: &Db,
    department_id: i64,
    period: &str,
) -> Result<Option<(TargetAmount, Date)>, StoreError> {
    let row: Option<(Option<i64>, Option<f64>, Date)> = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT target_count, target_share, deadline FROM department_targets
             WHERE department_id = $1 AND period = $2",
        )
        .bind(department_id)
        .bind(period)
        .fetch_optional(pool)
        .await
        .context("reading a department's target")?
    });
    Ok(row.and_then(|(count, share, deadline)| {
        TargetAmount::new(count, share)
            .ok()
            .map(|amount| (amount, deadline))
    }))
}

/// The pace is measured over this many days before today.
pub const PACE_WINDOW_DAYS: i64 = 14;

/// A target in entities, with its deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub amount: TargetAmount,
    /// The target in entities (a share is rounded up).
    pub entities: i64,
    pub deadline: Date,
    /// Days from today to the deadline; negative once it has passed.
    pub days_left: i64,
}

/// A department's progress as the workspace and the digest show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub today: Date,
    pub period: String,
    pub stages: StageCounts,
    pub goal: Option<Goal>,
    /// Entities accepted per day over the last [`PACE_WINDOW_DAYS`] days.
    pub pace_per_day: f64,
    pub projection: Projection,
}

impl Progress {
    pub fn assigned(&self) -> i64 {
        self.stages.total()
    }

    pub fn onboarded(&self) -> i64 {
        self.stages.onboarded()
    }

    /// Onboarded as a share of the target (0–100, may exceed 100), or of all assigned entities
    /// when there is no target.
    pub fn percent(&self) -> i64 {
        let whole = self
            .goal
            .as_ref()
            .map_or(self.assigned(), |goal| goal.entities);
        if whole <= 0 {
            return 0;
        }
        (self.onboarded() * 100) / whole
    }
}

/// When the target will be reached at the current pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// No target set for this period.
    NoTarget,
    Reached,
    /// At the current pace, on this day.
    On(Date),
    /// Nothing was accepted in the pace window: at this pace, never.
    Stalled,
}

/// The day `remaining` more entities are onboarded at `per_day`, counting from `today`.
pub fn project(remaining: i64, per_day: f64, today: Date) -> Projection {
    if remaining <= 0 {
        return Projection::Reached;
    }
    if per_day <= 0.0 || !per_day.is_finite() {
        return Projection::Stalled;
    }
    // Ceil: the target is reached at the end of the day the last one is accepted.
    let days = (remaining as f64 / per_day).ceil();
    // Beyond ten years is "stalled" in any practical sense (and keeps the date in range).
    if days > 3650.0 {
        return Projection::Stalled;
    }
    today
        .checked_add(Duration::days(days as i64))
        .map_or(Projection::Stalled, Projection::On)
}

/// A department's progress today (Beijing): its stages, the target of this month, the pace and
/// the projected day of reaching the target.
pub async fn department_progress(
    db: &Db,
    county: &str,
    department_id: i64,
    today: Date,
) -> Result<Progress, StoreError> {
    let stages = stage_counts(db, county, Some(department_id)).await?;
    let period = calendar::period_of(today);
    let since = calendar::start_of(today - Duration::days(PACE_WINDOW_DAYS));
    let recent = accepted_since(db, department_id, since).await?;
    let pace_per_day = recent as f64 / PACE_WINDOW_DAYS as f64;
    let goal = target_of(db, department_id, &period)
        .await?
        .map(|(amount, deadline)| Goal {
            entities: match amount {
                TargetAmount::Count(n) => n,
                TargetAmount::Share(s) => (s * stages.total() as f64).ceil() as i64,
            },
            amount,
            deadline,
            days_left: (deadline - today).whole_days(),
        });
    let projection = match &goal {
        None => Projection::NoTarget,
        Some(goal) => project(goal.entities - stages.onboarded(), pace_per_day, today),
    };
    Ok(Progress {
        today,
        period,
        stages,
        goal,
        pace_per_day,
        projection,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn stages_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
        assert_eq!(Stage::parse("onboarded"), None);
    }

    #[test]
    fn projection_rounds_up_to_whole_days() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(
            project(10, 2.0, today),
            Projection::On(date!(2026 - 12 - 05))
        );
        assert_eq!(
            project(11, 2.0, today),
            Projection::On(date!(2026 - 12 - 06))
        );
        assert_eq!(
            project(1, 0.5, today),
            Projection::On(date!(2026 - 12 - 02))
        );
    }

    #[test]
    fn projection_when_done_or_stalled() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(project(0, 0.0, today), Projection::Reached);
        assert_eq!(project(-3, 1.0, today), Projection::Reached);
        assert_eq!(project(5, 0.0, today), Projection::Stalled);
        assert_eq!(project(1_000_000, 0.01, today), Projection::Stalled);
    }

    #[test]
    fn counts_sum_and_name_the_onboarded() {
        let mut counts = StageCounts::default();
        counts.counts[Stage::Synced as usize] = 4;
        counts.counts[Stage::NotStarted as usize] = 6;
        assert_eq!(counts.total(), 10);
        assert_eq!(counts.onboarded(), 4);
        assert_eq!(counts.iter().count(), 6);
    }
}
