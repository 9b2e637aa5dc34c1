//! The outbox: events for the provincial platform, queued in the transaction of the change.
//! This module queues, claims (with a lease, in order per registration) and records outcomes;
//! `outbox::worker` does the sending.

use time::OffsetDateTime;

use crate::domain::delivery::{OutboxKind, OutboxState};
use crate::on_pool;

use super::{Context, Db, StoreError};

/// Queues the registration event for `registration_id` unless one exists. `$1` registration,
/// `$2` now. The conflict target names the partial unique index's predicate, which both
/// engines require for a partial index.
pub const ENQUEUE_REGISTER: &str = "INSERT INTO outbox
        (registration_id, kind, state, attempts, next_attempt_at, created_at, updated_at)
     VALUES ($1, 'register', 'pending', 0, $2, $2, $2)
     ON CONFLICT (registration_id) WHERE kind = 'register' DO NOTHING";

pub const KIND_REGISTER: &str = OutboxKind::Register.as_str();
pub const KIND_UPDATE_CONTACT: &str = OutboxKind::UpdateContact.as_str();

/// Queues a contact update for `$1` registration at `$2` now, carrying `$3` the names of the
/// changed fields (the values are read when it is sent). Only once the registration itself is
/// queued: before that, the registration event will carry the new data anyway.
pub const ENQUEUE_CONTACT_UPDATE: &str = "INSERT INTO outbox
        (registration_id, kind, state, attempts, next_attempt_at, created_at, updated_at, payload)
     SELECT $1, 'update_contact', 'pending', 0, $2, $2, $2, $3
     WHERE EXISTS (SELECT 1 FROM outbox WHERE registration_id = $1 AND kind = 'register')";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub registration_id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: OffsetDateTime,
}

/// Every row, oldest first (for the admin view and tests; the worker claims by due time).
pub async fn all(db: &Db) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, OutboxRow>(
            "SELECT id, registration_id, kind, state, attempts, next_attempt_at
             FROM outbox ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .context("listing the outbox")?
    }))
}

/// Rows waiting to be sent.
pub async fn pending_count(db: &Db) -> Result<i64, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
            .fetch_one(pool)
            .await
            .context("counting the outbox")?
    }))
}

/// A row the worker has leased: nobody else sends it until the lease runs out.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub registration_id: i64,
    pub kind: OutboxKind,
    /// Attempts including this one (claims, answered or not).
    pub attempts: i64,
    /// Sends that failed before this one (what the retry budget counts).
    pub failures: i64,
}

/// Leases up to `limit` due rows for `lease`. A crashed worker's rows come back when the lease
/// expires, which is what makes a kill -9 lose nothing.
pub async fn claim(
    db: &Db,
    now: OffsetDateTime,
    lease: time::Duration,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    // PostgreSQL: SKIP LOCKED lets several workers claim disjoint rows without waiting. SQLite
    // serialises writers (BEGIN IMMEDIATE), so the plain subquery is already exclusive.
    // An event waits while an older event of the same registration is unfinished (pending or
    // dead): updates go out in order, and never before the registration they amend.
    const DUE: &str = "SELECT id FROM outbox
         WHERE state = 'pending' AND next_attempt_at <= $1
           AND (lease_until IS NULL OR lease_until < $1)
           AND NOT EXISTS (SELECT 1 FROM outbox older
                           WHERE older.registration_id = outbox.registration_id
                             AND older.id < outbox.id AND older.state IN ('pending', 'dead'))
         ORDER BY next_attempt_at, id LIMIT $3";
    let sql = |lock: &str| {
        format!(
            "UPDATE outbox SET lease_until = $2, attempts = attempts + 1, updated_at = $1
             WHERE id IN ({DUE}{lock})
             RETURNING id, registration_id, kind, attempts, failures"
        )
    };
    let mut rows: Vec<Claimed> = match db {
        Db::Sqlite(pool) => {
            use super::WritePool;
            let mut tx = pool.begin_write().await.context("starting a claim")?;
            let rows = sqlx::query_as::<_, Claimed>(&sql(""))
                .bind(now)
                .bind(now + lease)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await
                .context("claiming outbox rows")?;
            tx.commit().await.context("committing a claim")?;
            rows
        }
        Db::Postgres(pool) => sqlx::query_as::<_, Claimed>(&sql(" FOR UPDATE SKIP LOCKED"))
            .bind(now)
            .bind(now + lease)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("claiming outbox rows")?,
    };
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// How a send ended, as recorded on the row and the registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The province has it.
    Accepted,
    /// The province refused it for a reason the owner must fix (permanent).
    Rejected { reason: String },
    /// Try again at `at`; `error` says why (no personal data).
    Retry { at: OffsetDateTime, error: String },
    /// Given up after too many attempts: an admin decides.
    Dead { error: String },
    /// Nothing left to do (an update for an entity the province refused): done, with a note.
    Skipped { note: String },
}

/// Records the outcome for a claimed row (and the registration's sync state).
pub async fn finish(db: &Db, row: &Claimed, outcome: &SendOutcome) -> Result<(), StoreError> {
    finish_all(db, &[(row.clone(), outcome.clone())]).await
}

/// `$first, $first+1, …` for `n` values, for an `IN (…)` list.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records a batch of outcomes in one transaction: the rows, and for registration events the
/// registration's sync state with an audit row. Acceptances (the common case) are written with
/// one statement per table whatever their number; the rest row by row.
pub async fn finish_all(db: &Db, outcomes: &[(Claimed, SendOutcome)]) -> Result<(), StoreError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    // Only a registration event changes the registration's standing at the province.
    let is_register = |row: &Claimed| row.kind == OutboxKind::Register;
    let done: Vec<i64> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, SendOutcome::Accepted | SendOutcome::Rejected { .. }))
        .map(|(row, _)| row.id)
        .collect();
    let accepted: Vec<i64> = outcomes
        .iter()
        .filter(|(row, o)| is_register(row) && *o == SendOutcome::Accepted)
        .map(|(row, _)| row.registration_id)
        .collect();
    let subjects: Vec<(String, &'static str, i64)> = outcomes
        .iter()
        .filter(|(row, _)| is_register(row))
        .filter_map(|(row, o)| {
            match o {
                SendOutcome::Accepted => Some("province.accepted"),
                SendOutcome::Rejected { .. } => Some("province.rejected"),
                _ => None,
            }
            .map(|action| {
                (
                    format!("registration:{}", row.registration_id),
                    action,
                    row.id,
                )
            })
        })
        .collect();
    let entries: Vec<super::audit::AuditEntry<'_>> = subjects
        .iter()
        .map(|(subject, action, outbox)| super::audit::AuditEntry {
            actor: "system",
            action,
            subject,
            detail: serde_json::json!({ "outbox": outbox }),
        })
        .collect();
    let done_sql = format!(
        "UPDATE outbox SET state = 'done', next_attempt_at = $1, last_error = NULL,
             lease_until = NULL, updated_at = $1
         WHERE id IN ({})",
        placeholders(2, done.len())
    );
    let accepted_sql = format!(
        "UPDATE registrations SET sync_state = 'accepted', sync_reason = NULL,
             sync_notified_at = NULL, updated_at = $1, accepted_at = COALESCE(accepted_at, $1)
         WHERE id IN ({})",
        placeholders(2, accepted.len())
    );
    on_pool!(db, |pool| {
        use super::WritePool;
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to record a send")?;
        for (ids, sql) in [(&done, &done_sql), (&accepted, &accepted_sql)] {
            if ids.is_empty() {
                continue;
            }
            let mut query = sqlx::query(sql).bind(now);
            for id in ids {
                query = query.bind(*id);
            }
            query
                .execute(&mut *tx)
                .await
                .context("recording the province's acceptances")?;
        }
        for (row, outcome) in outcomes {
            let (state, next, error) = match outcome {
                SendOutcome::Accepted => continue,
                SendOutcome::Rejected { reason } => {
                    if is_register(row) {
                        sqlx::query(
                            "UPDATE registrations SET sync_state = 'rejected', sync_reason = $1,
                                 sync_notified_at = NULL, updated_at = $2
                             WHERE id = $3",
                        )
                        .bind(reason)
                        .bind(now)
                        .bind(row.registration_id)
                        .execute(&mut *tx)
                        .await
                        .context("recording the province's refusal")?;
                    }
                    continue;
                }
                SendOutcome::Retry { at, error } => (OutboxState::Pending, *at, error.as_str()),
                SendOutcome::Dead { error } => (OutboxState::Dead, now, error.as_str()),
                SendOutcome::Skipped { note } => (OutboxState::Done, now, note.as_str()),
            };
            sqlx::query(
                "UPDATE outbox SET state = $1, next_attempt_at = $2, last_error = $3,
                     lease_until = NULL, updated_at = $4, failures = failures + $5
                 WHERE id = $6",
            )
            .bind(state)
            .bind(next)
            .bind(error)
            .bind(now)
            .bind(i64::from(matches!(outcome, SendOutcome::Retry { .. })))
            .bind(row.id)
            .execute(&mut *tx)
            .await
            .context("recording a send")?;
        }
        // Accepted and refused registrations change stage: the leaders' counts move with them.
        let settled: Vec<i64> = outcomes
            .iter()
            .filter(|(row, o)| {
                is_register(row)
                    && matches!(o, SendOutcome::Accepted | SendOutcome::Rejected { .. })
            })
            .map(|(row, _)| row.registration_id)
            .collect();
        super::league::recount_in(&mut *tx, super::league::Which::Registrations(&settled)).await?;
        super::audit::append_all(&mut *tx, &entries, now).await?;
        tx.commit().await.context("committing a send")?;
    });
    Ok(())
}
