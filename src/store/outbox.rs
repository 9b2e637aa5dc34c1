//! The outbox: events for the provincial platform, queued in the transaction of the change.
//! The worker that sends them (lease, retries, dead letters) is the sync issue's; this module
//! only queues and reads.

use time::OffsetDateTime;

use crate::on_pool;

use super::{Context, Db, StoreError};

/// Queues the registration event for `registration_id` unless one exists. `$1` registration,
/// `$2` now. The conflict target names the partial unique index's predicate, which both
/// engines require for a partial index.
pub const ENQUEUE_REGISTER: &str = "INSERT INTO outbox
        (registration_id, kind, state, attempts, next_attempt_at, created_at, updated_at)
     VALUES ($1, 'register', 'pending', 0, $2, $2, $2)
     ON CONFLICT (registration_id) WHERE kind = 'register' DO NOTHING";

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
