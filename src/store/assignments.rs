//! Responsible departments of roster entities: assignment rules, applying them, manual
//! reassignment (one by one or from a CSV), and department targets. The rule order is
//! explained in [`crate::domain::assignment_rule`].
//!
//! Everything is scoped to one county (`county`, a 6-digit code): departments belong to a
//! county, rules point at departments, and a rule only ever assigns entities of its
//! department's county. Every change is audited in the same transaction.

use serde_json::json;
use sqlx::Row as _;
use time::{Date, OffsetDateTime};

use crate::domain::assignment_rule::{
    self as assignment, AssignmentRow, MatchKind, Rule, TargetAmount,
};

use super::assignment_sql::{any_rule_condition, winning_condition};
use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::connection::for_each_connection;
use super::departments::Department;
use super::{Context, Db, StoreError, WritePool};

/// What assignment writes need inside an open transaction (`&mut *tx`).
trait AssignmentConnection {
    /// Whether department `id` is one of `county`'s.
    fn department_in_county(
        &mut self,
        county: &str,
        id: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Makes `uscc`'s department `to`, by hand, recounts the league and audits it (ids only,
    /// no personal data).
    fn set_manual(
        &mut self,
        uscc: &str,
        from: Option<i64>,
        to: i64,
        actor: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

for_each_connection! {
    impl AssignmentConnection for Conn {
        async fn department_in_county(&mut self, county: &str, id: i64) -> Result<bool, StoreError> {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT id FROM departments WHERE id = $1 AND county_code = $2")
                    .bind(id)
                    .bind(county)
                    .fetch_optional(&mut *self)
                    .await
                    .context("checking a department")?;
            Ok(found.is_some())
        }

        async fn set_manual(
            &mut self,
            uscc: &str,
            from: Option<i64>,
            to: i64,
            actor: &str,
            now: OffsetDateTime,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE entities SET department_id = $1, assigned_by = 'manual' WHERE uscc = $2",
            )
            .bind(to)
            .bind(uscc)
            .execute(&mut *self)
            .await
            .context("reassigning an entity")?;
            super::league::recount_in(&mut *self, super::league::Which::Usccs(&[uscc])).await?;
            audit::append(
                &mut *self,
                &AuditEntry {
                    actor,
                    action: "assignment.reassigned",
                    subject: &format!("entity:{uscc}"),
                    detail: json!({ "from": from, "to": to }),
                },
                now,
            )
            .await
        }
    }
}

/// Refuses a department that is not `county`'s.
async fn check_department<C: AssignmentConnection>(
    conn: &mut C,
    county: &str,
    id: i64,
) -> Result<(), AssignError> {
    if conn.department_in_county(county, id).await? {
        Ok(())
    } else {
        Err(AssignError::UnknownDepartment(id.to_string()))
    }
}

/// Why an assignment command was refused; messages are shown to the admin as they are.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error("本县没有名为（或编号为）“{0}”的部门")]
    UnknownDepartment(String),
    #[error("本县名录中没有统一社会信用代码为 {0} 的市场主体")]
    UnknownEntity(String),
    #[error("已有一条{}规则匹配“{}”，请先删除它（assign rule remove ID）", .0.label_zh(), .1)]
    DuplicateRule(MatchKind, String),
    #[error("本县没有编号为 {0} 的分配规则")]
    UnknownRule(i64),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A rule as listed, with its department's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRule {
    pub rule: Rule,
    pub department_name: String,
}

/// What [`apply_rules`] did, counted over the county's entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyReport {
    /// Entities that have a department after the run (by rule or by hand).
    pub assigned: u64,
    /// Entities whose department this run changed.
    pub changed: u64,
    /// Entities no rule matches and nobody assigned: they have no department.
    pub unassigned: u64,
}

/// The county's department named `name_or_id` (its exact name, or its numeric id).
pub async fn find_department(
    db: &Db,
    county: &str,
    name_or_id: &str,
) -> Result<Option<Department>, StoreError> {
    let key = name_or_id.trim();
    let id: i64 = key.parse().unwrap_or(-1);
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Department>(
            "SELECT id, county_code, name, kind, township_code FROM departments
             WHERE county_code = $1 AND (name = $2 OR id = $3)
             ORDER BY CASE WHEN name = $2 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(county)
        .bind(key)
        .bind(id)
        .fetch_optional(pool)
        .await
        .context("finding a department")?
    }))
}

type RuleRow = (i64, i64, String, Option<String>, i64, String);

const RULES_SQL: &str =
    "SELECT r.id, r.priority, r.match_kind, r.match_value, r.department_id, d.name
     FROM assignment_rules r JOIN departments d ON d.id = r.department_id
     WHERE d.county_code = $1";

/// The county's rules in the order they are tried.
pub async fn list_rules(db: &Db, county: &str) -> Result<Vec<ListedRule>, StoreError> {
    let rows: Vec<RuleRow> = on_pool!(db, |pool| {
        sqlx::query_as(RULES_SQL)
            .bind(county)
            .fetch_all(pool)
            .await
            .context("listing assignment rules")?
    });
    Ok(to_rules(rows))
}

fn to_rules(rows: Vec<RuleRow>) -> Vec<ListedRule> {
    let mut listed: Vec<ListedRule> = rows
        .into_iter()
        .filter_map(|(id, priority, kind, value, department_id, name)| {
            // The CHECK constraint admits only known kinds.
            Some(ListedRule {
                rule: Rule {
                    id,
                    priority,
                    kind: MatchKind::parse(&kind)?,
                    value,
                    department_id,
                },
                department_name: name,
            })
        })
        .collect();
    listed.sort_by(|a, b| a.rule.precedence(&b.rule));
    listed
}

/// Adds a rule for one of the county's departments; `value` is checked and normalised
/// ([`MatchKind::normalise_value`]). Returns the new rule's id. Takes effect at the next
/// [`apply_rules`].
pub async fn add_rule(
    db: &Db,
    county: &str,
    kind: MatchKind,
    value: Option<&str>,
    department_id: i64,
    priority: i64,
    actor: &str,
) -> Result<i64, AssignError> {
    let value = kind.normalise_value(value).map_err(AssignError::Invalid)?;
    if priority < 0 {
        return Err(AssignError::Invalid(format!(
            "优先级应为不小于 0 的整数（数字越小越先匹配），实际为 {priority}"
        )));
    }
    let now = OffsetDateTime::now_utc();
    let id = on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.context("starting to add a rule")?;
        check_department(&mut *tx, county, department_id).await?;
        if kind == MatchKind::Township
            && let Some(code) = &value
        {
            let township: Option<String> = sqlx::query_scalar(
                "SELECT code FROM divisions
                 WHERE code = $1 AND parent_code = $2 AND level = 'township'",
            )
            .bind(code)
            .bind(county)
            .fetch_optional(&mut *tx)
            .await
            .context("checking a township code")?;
            if township.is_none() {
                return Err(AssignError::Invalid(format!(
                    "乡镇代码 {code} 不属于本县（{county}）的乡镇"
                )));
            }
        }
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM assignment_rules
             WHERE match_kind = $1 AND COALESCE(match_value, '') = $2",
        )
        .bind(kind.as_str())
        .bind(value.as_deref().unwrap_or(""))
        .fetch_optional(&mut *tx)
        .await
        .context("checking for a duplicate rule")?;
        if taken.is_some() {
            return Err(AssignError::DuplicateRule(
                kind,
                value.clone().unwrap_or_else(|| "全部".to_owned()),
            ));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO assignment_rules
                 (priority, match_kind, match_value, department_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(priority)
        .bind(kind.as_str())
        .bind(value.as_deref())
        .bind(department_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("adding an assignment rule")?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor,
                action: "assignment.rule_added",
                subject: &format!("assignment_rule:{id}"),
                detail: json!({
                    "priority": priority,
                    "match_kind": kind.as_str(),
                    "match_value": value,
                    "department": department_id,
                }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing the new rule")?;
        id
    });
    Ok(id)
}

/// Removes one of the county's rules. Entities it assigned keep their department until the
/// next [`apply_rules`], which gives them to the next matching rule or none.
pub async fn remove_rule(db: &Db, county: &str, id: i64, actor: &str) -> Result<(), AssignError> {
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to remove a rule")?;
        let removed: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "DELETE FROM assignment_rules
             WHERE id = $1
               AND department_id IN (SELECT id FROM departments WHERE county_code = $2)
             RETURNING match_kind, match_value, department_id",
        )
        .bind(id)
        .bind(county)
        .fetch_optional(&mut *tx)
        .await
        .context("removing an assignment rule")?;
        let Some((kind, value, department)) = removed else {
            return Err(AssignError::UnknownRule(id));
        };
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor,
                action: "assignment.rule_removed",
                subject: &format!("assignment_rule:{id}"),
                detail: json!({ "match_kind": kind, "match_value": value, "department": department }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing the rule removal")?;
    });
    Ok(())
}

/// Gives every entity of `county` the department of the first rule that matches it
/// ([`crate::domain::assignment_rule`]), leaving manual assignments alone, and takes a rule-given department
/// away from entities no rule matches any more (a removed rule). Set-based: one UPDATE per rule,
/// most important first, each touching only the rows it wins whose department differs, all in
/// one write transaction with one summary audit row. Running it twice changes nothing.
pub async fn apply_rules(db: &Db, county: &str, actor: &str) -> Result<ApplyReport, StoreError> {
    let now = OffsetDateTime::now_utc();
    let report = on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to apply the rules")?;
        // Read inside the transaction (under SQLite's write lock), not before it.
        let rows: Vec<RuleRow> = sqlx::query_as(RULES_SQL)
            .bind(county)
            .fetch_all(&mut *tx)
            .await
            .context("reading assignment rules")?;
        let mut rules: Vec<Rule> = to_rules(rows).into_iter().map(|l| l.rule).collect();
        assignment::sort_rules(&mut rules);
        let mut changed = 0;
        for (index, rule) in rules.iter().enumerate() {
            let Some((condition, params)) = winning_condition(&rules, index, 3) else {
                continue;
            };
            let sql = format!(
                "UPDATE entities SET department_id = $1, assigned_by = 'rule'
                 WHERE county_code = $2
                   AND (assigned_by IS NULL OR assigned_by <> 'manual')
                   AND department_id IS DISTINCT FROM $1
                   AND {condition}"
            );
            let mut query = sqlx::query(&sql).bind(rule.department_id).bind(county);
            for p in &params {
                query = query.bind(p);
            }
            changed += query
                .execute(&mut *tx)
                .await
                .context("applying an assignment rule")?
                .rows_affected();
        }
        let (condition, params) = any_rule_condition(&rules, 2);
        let sql = format!(
            "UPDATE entities SET department_id = NULL, assigned_by = NULL
             WHERE county_code = $1 AND assigned_by = 'rule' AND NOT {condition}"
        );
        let mut query = sqlx::query(&sql).bind(county);
        for p in &params {
            query = query.bind(p);
        }
        changed += query
            .execute(&mut *tx)
            .await
            .context("clearing stale rule assignments")?
            .rows_affected();
        if changed > 0 {
            super::league::recount_in(&mut *tx, super::league::Which::County(county)).await?;
        }
        let row = sqlx::query(
            "SELECT COUNT(department_id) AS assigned, COUNT(*) AS total
             FROM entities WHERE county_code = $1",
        )
        .bind(county)
        .fetch_one(&mut *tx)
        .await
        .context("counting assigned entities")?;
        let assigned: i64 = row.try_get("assigned").context("reading the count")?;
        let total: i64 = row.try_get("total").context("reading the count")?;
        let report = ApplyReport {
            assigned: u64::try_from(assigned).unwrap_or(0),
            changed,
            unassigned: u64::try_from(total - assigned).unwrap_or(0),
        };
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor,
                action: "assignment.rules_applied",
                subject: &format!("county:{county}"),
                detail: json!({
                    "rules": rules.len(),
                    "assigned": report.assigned,
                    "changed": report.changed,
                    "unassigned": report.unassigned,
                }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing the rule run")?;
        report
    });
    Ok(report)
}

/// What a manual reassignment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassigned {
    pub from: Option<i64>,
    pub to: i64,
    /// `false` when the entity already had this department by hand: nothing was written.
    pub changed: bool,
}

/// Gives the entity `uscc` of `county` to `department_id` by hand; rules never undo it.
pub async fn reassign(
    db: &Db,
    county: &str,
    uscc: &str,
    department_id: i64,
    actor: &str,
) -> Result<Reassigned, AssignError> {
    let now = OffsetDateTime::now_utc();
    let done = on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a reassignment")?;
        check_department(&mut *tx, county, department_id).await?;
        let current: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT department_id, assigned_by FROM entities WHERE uscc = $1 AND county_code = $2",
        )
        .bind(uscc)
        .bind(county)
        .fetch_optional(&mut *tx)
        .await
        .context("reading an entity's department")?;
        let Some((from, by)) = current else {
            return Err(AssignError::UnknownEntity(uscc.to_owned()));
        };
        let changed = from != Some(department_id) || by.as_deref() != Some("manual");
        if changed {
            tx.set_manual(uscc, from, department_id, actor, now).await?;
        }
        tx.commit().await.context("committing a reassignment")?;
        Reassigned {
            from,
            to: department_id,
            changed,
        }
    });
    Ok(done)
}

/// One refused row of an assignment CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub line: u64,
    pub original: Vec<String>,
    /// In Chinese, for the rejects file.
    pub reason: String,
}

/// What [`import_assignments`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub accepted: u64,
    /// Accepted rows that changed an entity's department (or made it manual).
    pub changed: u64,
    pub rejected: Vec<RejectedRow>,
}

/// Manual assignments from a CSV ((`application::assignment::read_assignment_csv`)). Every row is checked
/// first (USCC in the county's roster, department of the county, the same USCC twice); the good
/// rows are then written in one transaction, each audited, and the bad ones returned with their
/// reasons.
pub async fn import_assignments(
    db: &Db,
    county: &str,
    rows: &[AssignmentRow],
    actor: &str,
) -> Result<ImportReport, StoreError> {
    let departments = super::departments::list(db, county).await?;
    let mut report = ImportReport::default();
    let mut good: Vec<(&str, i64)> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for row in rows {
        let reject = |reason: String| RejectedRow {
            line: row.line,
            original: row.original.clone(),
            reason,
        };
        if row.uscc.is_empty() {
            report
                .rejected
                .push(reject(format!("第{}行：统一社会信用代码为空", row.line)));
            continue;
        }
        let key = row.department.trim();
        let department = departments
            .iter()
            .find(|d| d.name == key)
            .or_else(|| departments.iter().find(|d| d.id.to_string() == key));
        let Some(department) = department else {
            report.rejected.push(reject(if key.is_empty() {
                format!("第{}行：部门为空", row.line)
            } else {
                format!("第{}行：本县没有名为（或编号为）“{key}”的部门", row.line)
            }));
            continue;
        };
        if let Some(first) = seen.insert(row.uscc.as_str(), row.line) {
            report.rejected.push(reject(format!(
                "第{}行：统一社会信用代码 {} 与第{first}行重复",
                row.line, row.uscc
            )));
            continue;
        }
        good.push((row.uscc.as_str(), department.id));
    }
    let now = OffsetDateTime::now_utc();
    let mut unknown = Vec::new();
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting an assignment import")?;
        for (index, (uscc, department_id)) in good.iter().enumerate() {
            let current: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
                "SELECT department_id, assigned_by FROM entities
                 WHERE uscc = $1 AND county_code = $2",
            )
            .bind(*uscc)
            .bind(county)
            .fetch_optional(&mut *tx)
            .await
            .context("reading an entity's department")?;
            let Some((from, by)) = current else {
                unknown.push(index);
                continue;
            };
            report.accepted += 1;
            if from != Some(*department_id) || by.as_deref() != Some("manual") {
                tx.set_manual(uscc, from, *department_id, actor, now)
                    .await?;
                report.changed += 1;
            }
        }
        tx.commit()
            .await
            .context("committing an assignment import")?;
    });
    for index in unknown {
        let (uscc, _) = good[index];
        if let Some(row) = rows.iter().find(|r| r.uscc == uscc) {
            report.rejected.push(RejectedRow {
                line: row.line,
                original: row.original.clone(),
                reason: format!(
                    "第{}行：本县名录中没有统一社会信用代码为 {uscc} 的市场主体",
                    row.line
                ),
            });
        }
    }
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

/// A department's target for one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub department_id: i64,
    pub department_name: String,
    pub period: String,
    pub amount: TargetAmount,
    pub deadline: Date,
}

/// Sets (or replaces) a department's target for `period` (`YYYY-MM`, checked).
pub async fn set_target(
    db: &Db,
    county: &str,
    department_id: i64,
    period: &str,
    amount: TargetAmount,
    deadline: Date,
    actor: &str,
) -> Result<(), AssignError> {
    let period = assignment::parse_period(period).map_err(AssignError::Invalid)?;
    // Re-checked here so a library caller cannot skip what the CLI checks.
    let amount = match amount {
        TargetAmount::Count(n) => TargetAmount::new(Some(n), None),
        TargetAmount::Share(s) => TargetAmount::new(None, Some(s)),
    }
    .map_err(AssignError::Invalid)?;
    let (count, share) = match amount {
        TargetAmount::Count(n) => (Some(n), None),
        TargetAmount::Share(s) => (None, Some(s)),
    };
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to set a target")?;
        check_department(&mut *tx, county, department_id).await?;
        sqlx::query(
            "INSERT INTO department_targets
                 (department_id, period, target_count, target_share, deadline, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (department_id, period) DO UPDATE SET
                 target_count = excluded.target_count, target_share = excluded.target_share,
                 deadline = excluded.deadline, updated_at = excluded.updated_at",
        )
        .bind(department_id)
        .bind(&period)
        .bind(count)
        .bind(share)
        .bind(deadline)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("setting a department target")?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor,
                action: "assignment.target_set",
                subject: &format!("department:{department_id}"),
                detail: json!({
                    "period": period,
                    "count": count,
                    "share": share,
                    "deadline": deadline.to_string(),
                }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing the target")?;
    });
    Ok(())
}

/// A `department_targets` row with its department's name.
#[derive(sqlx::FromRow)]
struct TargetRow {
    department_id: i64,
    name: String,
    period: String,
    target_count: Option<i64>,
    target_share: Option<f64>,
    deadline: Date,
}

/// The county's targets for `period`, by department id.
pub async fn targets_for(db: &Db, county: &str, period: &str) -> Result<Vec<Target>, StoreError> {
    let rows: Vec<TargetRow> = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT t.department_id, d.name, t.period, t.target_count, t.target_share, t.deadline
             FROM department_targets t JOIN departments d ON d.id = t.department_id
             WHERE d.county_code = $1 AND t.period = $2
             ORDER BY t.department_id",
        )
        .bind(county)
        .bind(period)
        .fetch_all(pool)
        .await
        .context("listing department targets")?
    });
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            // The CHECK constraint guarantees exactly one of the two.
            let amount = match (row.target_count, row.target_share) {
                (Some(n), _) => TargetAmount::Count(n),
                (None, Some(s)) => TargetAmount::Share(s),
                (None, None) => return None,
            };
            Some(Target {
                department_id: row.department_id,
                department_name: row.name,
                period: row.period,
                amount,
                deadline: row.deadline,
            })
        })
        .collect())
}

/// A roster entity and its responsible department, as the admin's reassignment page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntityAssignment {
    pub uscc: String,
    pub name: String,
    pub kind: String,
    pub township_code: Option<String>,
    pub industry: Option<String>,
    pub department_id: Option<i64>,
    pub department_name: Option<String>,
    /// `rule`, `manual`, or `None` when nobody assigned it.
    pub assigned_by: Option<String>,
}

/// The county's entity with this USCC (already normalised), with its department.
pub async fn entity_assignment(
    db: &Db,
    county: &str,
    uscc: &str,
) -> Result<Option<EntityAssignment>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, EntityAssignment>(
            "SELECT e.uscc, e.name, e.kind, e.township_code, e.industry, e.department_id,
                 d.name AS department_name, e.assigned_by
             FROM entities e LEFT JOIN departments d ON d.id = e.department_id
             WHERE e.uscc = $1 AND e.county_code = $2",
        )
        .bind(uscc)
        .bind(county)
        .fetch_optional(pool)
        .await
        .context("reading an entity's assignment")?
    }))
}

/// What the admin's overview counts for a county.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overview {
    pub entities: i64,
    /// Entities with a responsible department.
    pub assigned: i64,
    pub departments: i64,
    /// Enabled staff accounts of the county's departments.
    pub staff: i64,
    /// Registrations waiting for a department's manual review.
    pub awaiting_review: i64,
}

pub async fn overview(db: &Db, county: &str) -> Result<Overview, StoreError> {
    Ok(on_pool!(db, |pool| {
        let (entities, assigned): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(department_id) FROM entities WHERE county_code = $1",
        )
        .bind(county)
        .fetch_one(pool)
        .await
        .context("counting the county's entities")?;
        let (departments, staff): (i64, i64) = sqlx::query_as(
            "SELECT
                 (SELECT COUNT(*) FROM departments WHERE county_code = $1),
                 (SELECT COUNT(*) FROM accounts a JOIN departments d ON d.id = a.department_id
                  WHERE d.county_code = $1 AND a.role = 'staff' AND a.disabled_at IS NULL)",
        )
        .bind(county)
        .fetch_one(pool)
        .await
        .context("counting departments and staff")?;
        let awaiting_review: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM registrations WHERE verification = 'review_requested'",
        )
        .fetch_one(pool)
        .await
        .context("counting registrations awaiting review")?;
        Overview {
            entities,
            assigned,
            departments,
            staff,
            awaiting_review,
        }
    }))
}
