//! What the admin sees of provincial sync (`/admin/sync`, `/metrics`) and the two decisions an
//! admin takes on a dead letter: send it again, or give it up. Also the CLI's creation of admin
//! and leader accounts, the only accounts made outside the owners' registration.
//!
//! Reconciliation runs and discrepancies are written by `sync`; this module only reads them.

use time::OffsetDateTime;

use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::reconciliations::Run;
use super::{Context, Db, StoreError, WritePool};

/// Outbox rows of one kind in one state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxCount {
    pub kind: String,
    pub state: String,
    pub n: i64,
}

pub async fn outbox_counts(db: &Db) -> Result<Vec<OutboxCount>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, OutboxCount>(
            "SELECT kind, state, COUNT(*) AS n FROM outbox
             GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(pool)
        .await
        .context("counting the outbox by kind and state")?
    }))
}

/// When the oldest row still waiting to be sent was queued.
pub async fn oldest_pending(db: &Db) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT created_at FROM outbox WHERE state = 'pending'
             ORDER BY created_at, id LIMIT 1",
        )
        .fetch_optional(pool)
        .await
        .context("finding the oldest pending outbox row")?
    }))
}

/// Attempts recorded on every row. Falls when rows are retried from zero, so not a true counter.
pub async fn attempts_total(db: &Db) -> Result<i64, StoreError> {
    Ok(on_pool!(db, |pool| {
        // PostgreSQL's SUM(BIGINT) is NUMERIC: cast back so both engines decode an i64.
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM outbox")
            .fetch_one(pool)
            .await
            .context("summing outbox attempts")?
    }))
}

/// Registrations per provincial sync state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncStateCount {
    pub sync_state: String,
    pub n: i64,
}

pub async fn registrations_by_sync_state(db: &Db) -> Result<Vec<SyncStateCount>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, SyncStateCount>(
            "SELECT sync_state, COUNT(*) AS n FROM registrations
             GROUP BY sync_state ORDER BY sync_state",
        )
        .fetch_all(pool)
        .await
        .context("counting registrations by sync state")?
    }))
}

/// A dead letter with what identifies its entity (code and name only: no personal data).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub kind: String,
    pub registration_id: i64,
    pub uscc: String,
    pub entity_name: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: OffsetDateTime,
}

/// The oldest `limit` dead letters.
pub async fn dead_letters(db: &Db, limit: i64) -> Result<Vec<DeadLetter>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, DeadLetter>(
            "SELECT o.id, o.kind, o.registration_id, r.uscc, r.entity_name, o.attempts,
                    o.last_error, o.updated_at
             FROM outbox o JOIN registrations r ON r.id = o.registration_id
             WHERE o.state = 'dead' ORDER BY o.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("listing dead outbox rows")?
    }))
}

/// The latest `limit` reconciliation runs, newest first.
pub async fn recent_reconciliations(db: &Db, limit: i64) -> Result<Vec<Run>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Run>(
            "SELECT id, started_at, finished_at, checked, repaired, flagged, error
             FROM sync_reconciliations ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("listing reconciliation runs")?
    }))
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Discrepancy {
    pub id: i64,
    pub run_id: i64,
    pub registration_id: i64,
    pub uscc: String,
    pub entity_name: String,
    pub ours: String,
    pub theirs: String,
    pub action: String,
    pub created_at: OffsetDateTime,
}

/// Marks an unresolved discrepancy resolved, with an audit row, in one transaction. `false`
/// when there is no such unresolved discrepancy (nothing is written).
pub async fn resolve_discrepancy(db: &Db, id: i64, account_id: i64) -> Result<bool, StoreError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to resolve a discrepancy")?;
        let registration: Option<i64> = sqlx::query_scalar(
            "UPDATE sync_discrepancies SET resolved_at = $1
             WHERE id = $2 AND resolved_at IS NULL
             RETURNING registration_id",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .context("resolving a discrepancy")?;
        if let Some(registration_id) = registration {
            audit::append(
                &mut *tx,
                &AuditEntry {
                    actor: &format!("account:{account_id}"),
                    action: "sync.discrepancy_resolved",
                    subject: &format!("registration:{registration_id}"),
                    detail: serde_json::json!({ "discrepancy": id }),
                },
                now,
            )
            .await?;
            tx.commit()
                .await
                .context("committing a resolved discrepancy")?;
        }
        registration.is_some()
    }))
}

/// Up to `limit` discrepancies nobody has resolved yet, newest first.
pub async fn open_discrepancies(db: &Db, limit: i64) -> Result<Vec<Discrepancy>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Discrepancy>(
            "SELECT d.id, d.run_id, d.registration_id, r.uscc, r.entity_name, d.ours, d.theirs,
                    d.action, d.created_at
             FROM sync_discrepancies d JOIN registrations r ON r.id = d.registration_id
             WHERE d.resolved_at IS NULL ORDER BY d.id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("listing open discrepancies")?
    }))
}

/// How an admin's retry or discard went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterAction {
    /// Done, and audited in the same transaction.
    Done,
    /// No such row.
    Missing,
    /// The row is no longer dead (already retried, sent or discarded): its current state.
    NotDead(String),
}

/// Puts a dead row back in the queue as if new: due now, attempt count from zero, no lease.
pub async fn retry_dead(
    db: &Db,
    outbox_id: i64,
    account_id: i64,
) -> Result<DeadLetterAction, StoreError> {
    change_dead(
        db,
        outbox_id,
        account_id,
        "UPDATE outbox SET state = 'pending', attempts = 0, failures = 0, next_attempt_at = $1,
             lease_until = NULL, updated_at = $1
         WHERE id = $2 AND state = 'dead'
         RETURNING registration_id, kind",
        "sync.retried",
        None,
    )
    .await
}

/// Gives a dead row up for good; `reason` (already checked by the caller) goes to the audit log.
pub async fn discard_dead(
    db: &Db,
    outbox_id: i64,
    account_id: i64,
    reason: &str,
) -> Result<DeadLetterAction, StoreError> {
    change_dead(
        db,
        outbox_id,
        account_id,
        "UPDATE outbox SET state = 'discarded', lease_until = NULL, updated_at = $1
         WHERE id = $2 AND state = 'dead'
         RETURNING registration_id, kind",
        "sync.discarded",
        Some(reason),
    )
    .await
}

/// Runs `update` (`$1` now, `$2` the row; guarded by `state = 'dead'`) and its audit row in one
/// write transaction; when nothing matched, says why.
async fn change_dead(
    db: &Db,
    outbox_id: i64,
    account_id: i64,
    update: &str,
    action: &str,
    reason: Option<&str>,
) -> Result<DeadLetterAction, StoreError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a dead-letter decision")?;
        let changed: Option<(i64, String)> = sqlx::query_as(update)
            .bind(now)
            .bind(outbox_id)
            .fetch_optional(&mut *tx)
            .await
            .context("changing a dead outbox row")?;
        match changed {
            Some((registration_id, kind)) => {
                let mut detail = serde_json::json!({ "outbox": outbox_id, "kind": kind });
                if let Some(reason) = reason {
                    detail["reason"] = reason.into();
                }
                audit::append(
                    &mut *tx,
                    &AuditEntry {
                        actor: &format!("account:{account_id}"),
                        action,
                        subject: &format!("registration:{registration_id}"),
                        detail,
                    },
                    now,
                )
                .await?;
                tx.commit()
                    .await
                    .context("committing a dead-letter decision")?;
                DeadLetterAction::Done
            }
            None => {
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM outbox WHERE id = $1")
                        .bind(outbox_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .context("reading an outbox row's state")?;
                state.map_or(DeadLetterAction::Missing, DeadLetterAction::NotDead)
            }
        }
    }))
}
