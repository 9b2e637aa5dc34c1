//! The daily reconciliation's records: one `sync_reconciliations` row per run, one
//! `sync_discrepancies` row per difference found, and the repairs themselves. `jobs::reconcile`
//! decides what to do; this module only writes it.
//!
//! Rows hold states, USCCs and ids only, never personal data.

use time::OffsetDateTime;

use crate::domain::delivery::{OutboxState, SyncState};
use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::{Context, Db, StoreError};

/// A registration with a registration event in the outbox, as we believe it stands.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Candidate {
    pub registration_id: i64,
    pub uscc: String,
    pub sync_state: SyncState,
    pub outbox_id: i64,
    pub outbox_state: OutboxState,
    /// Sends of the registration event since it was (re)queued.
    pub attempts: i64,
}

impl Candidate {
    /// Our side as recorded on a discrepancy: `sync_state/outbox_state`.
    pub fn ours(&self) -> String {
        format!(
            "{}/{}",
            self.sync_state.as_str(),
            self.outbox_state.as_str()
        )
    }
}

/// How many registrations a run will check (for progress; the walk itself is paged).
pub async fn candidate_count(db: &Db) -> Result<i64, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'register'")
            .fetch_one(pool)
            .await
            .context("counting registrations to reconcile")?
    }))
}

/// Up to `limit` candidates with a registration id above `after`, by id: keyset pages stay
/// cheap however far the walk has got, and rows added meanwhile are simply met later.
pub async fn candidates(db: &Db, after: i64, limit: i64) -> Result<Vec<Candidate>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Candidate>(
            "SELECT r.id AS registration_id, r.uscc, r.sync_state,
                    o.id AS outbox_id, o.state AS outbox_state, o.attempts
             FROM registrations r
             JOIN outbox o ON o.registration_id = r.id AND o.kind = 'register'
             WHERE r.id > $1 ORDER BY r.id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("reading registrations to reconcile")?
    }))
}

/// Opens a run; returns its id.
pub async fn start(db: &Db, now: OffsetDateTime) -> Result<i64, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(
            "INSERT INTO sync_reconciliations (started_at, checked, repaired, flagged)
             VALUES ($1, 0, 0, 0) RETURNING id",
        )
        .bind(now)
        .fetch_one(pool)
        .await
        .context("opening a reconciliation run")?
    }))
}

/// A run's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub checked: u64,
    pub repaired: u64,
    pub flagged: u64,
}

/// Closes a run with its counts and, if it stopped early, why (no personal data).
pub async fn finish(
    db: &Db,
    run: i64,
    counts: Counts,
    error: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    on_pool!(db, |pool| {
        sqlx::query(
            "UPDATE sync_reconciliations
             SET finished_at = $1, checked = $2, repaired = $3, flagged = $4, error = $5
             WHERE id = $6",
        )
        .bind(now)
        .bind(n(counts.checked))
        .bind(n(counts.repaired))
        .bind(n(counts.flagged))
        .bind(error)
        .bind(run)
        .execute(pool)
        .await
        .context("closing a reconciliation run")?;
    });
    Ok(())
}

/// A repair that makes our records match the province's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The province does not know an entity we believe it accepted: send it again.
    Requeue,
    /// The province accepted what we still think is on its way (or gave up on).
    MarkAccepted,
    /// The province refused what we still think is on its way, for this reason.
    MarkRejected { reason: String },
}

impl Repair {
    /// The discrepancy's `action`.
    pub fn action(&self) -> &'static str {
        match self {
            Repair::Requeue => "requeued",
            Repair::MarkAccepted => "marked_accepted",
            Repair::MarkRejected { .. } => "marked_rejected",
        }
    }
}

/// Applies `repair` to `seen`, with its discrepancy and audit rows, in one transaction.
///
/// Returns false, changing nothing, when the registration or its outbox row is no longer in the
/// state `seen` describes (state, attempts), or the row is leased: the worker or the owner acted
/// since we looked, and that is newer than the province's answer. The next run looks again.
pub async fn repair(
    db: &Db,
    run: i64,
    seen: &Candidate,
    theirs: &str,
    repair: &Repair,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    // The outbox row's new state, with attempts and due time reset for a resend.
    let outbox_sql = match repair {
        Repair::Requeue => {
            "UPDATE outbox SET state = 'pending', attempts = 0, failures = 0, next_attempt_at = $1,
                 lease_until = NULL, last_error = NULL, updated_at = $1
             WHERE id = $2 AND state = $3 AND attempts = $4
               AND (lease_until IS NULL OR lease_until < $1)"
        }
        Repair::MarkAccepted | Repair::MarkRejected { .. } => {
            "UPDATE outbox SET state = 'done', lease_until = NULL, updated_at = $1
             WHERE id = $2 AND state = $3 AND attempts = $4
               AND (lease_until IS NULL OR lease_until < $1)"
        }
    };
    let (sync_state, reason) = match repair {
        Repair::Requeue => (SyncState::Pending, None),
        Repair::MarkAccepted => (SyncState::Accepted, None),
        Repair::MarkRejected { reason } => (SyncState::Rejected, Some(reason.as_str())),
    };
    let action = repair.action();
    on_pool!(db, |pool| {
        use super::WritePool;
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a reconciliation repair")?;
        let moved = sqlx::query(outbox_sql)
            .bind(now)
            .bind(seen.outbox_id)
            .bind(seen.outbox_state)
            .bind(seen.attempts)
            .execute(&mut *tx)
            .await
            .context("repairing an outbox row")?
            .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        // sync_notified_at NULL: a rejection found here is news to the owner, whom the worker
        // then emails.
        let changed = sqlx::query(
            "UPDATE registrations SET sync_state = $1, sync_reason = $2,
                 sync_notified_at = NULL, updated_at = $3,
                 accepted_at = CASE WHEN $1 = 'accepted' THEN COALESCE(accepted_at, $3)
                                    ELSE accepted_at END
             WHERE id = $4 AND sync_state = $5",
        )
        .bind(sync_state)
        .bind(reason)
        .bind(now)
        .bind(seen.registration_id)
        .bind(seen.sync_state)
        .execute(&mut *tx)
        .await
        .context("repairing a registration's sync state")?
        .rows_affected();
        if changed == 0 {
            // Dropping the transaction rolls the outbox change back.
            return Ok(false);
        }
        super::league::recount_in(
            &mut *tx,
            super::league::Which::Registrations(&[seen.registration_id]),
        )
        .await?;
        sqlx::query(INSERT_DISCREPANCY)
            .bind(run)
            .bind(seen.registration_id)
            .bind(seen.ours())
            .bind(theirs)
            .bind(action)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("recording a repaired discrepancy")?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor: "system",
                action: "sync.reconciled",
                subject: &format!("registration:{}", seen.registration_id),
                detail: serde_json::json!({ "run": run, "action": action }),
            },
            now,
        )
        .await?;
        tx.commit()
            .await
            .context("committing a reconciliation repair")?;
    });
    Ok(true)
}

/// Records a contradiction for a person to settle; nothing else changes.
pub async fn flag(
    db: &Db,
    run: i64,
    seen: &Candidate,
    theirs: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    on_pool!(db, |pool| {
        sqlx::query(INSERT_DISCREPANCY)
            .bind(run)
            .bind(seen.registration_id)
            .bind(seen.ours())
            .bind(theirs)
            .bind("flagged")
            .bind(now)
            .execute(pool)
            .await
            .context("flagging a discrepancy")?;
    });
    Ok(())
}

const INSERT_DISCREPANCY: &str = "INSERT INTO sync_discrepancies
        (run_id, registration_id, ours, theirs, action, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)";

/// One run as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Run {
    pub id: i64,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub checked: i64,
    pub repaired: i64,
    pub flagged: i64,
    pub error: Option<String>,
}

pub async fn run(db: &Db, id: i64) -> Result<Option<Run>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Run>(
            "SELECT id, started_at, finished_at, checked, repaired, flagged, error
             FROM sync_reconciliations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .context("reading a reconciliation run")?
    }))
}

/// One difference a run found.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Discrepancy {
    pub id: i64,
    pub run_id: i64,
    pub registration_id: i64,
    pub ours: String,
    pub theirs: String,
    pub action: String,
    pub created_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
}

/// A run's discrepancies, by registration.
pub async fn discrepancies(db: &Db, run: i64) -> Result<Vec<Discrepancy>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Discrepancy>(
            "SELECT id, run_id, registration_id, ours, theirs, action, created_at, resolved_at
             FROM sync_discrepancies WHERE run_id = $1 ORDER BY registration_id, id",
        )
        .bind(run)
        .fetch_all(pool)
        .await
        .context("listing a run's discrepancies")?
    }))
}
