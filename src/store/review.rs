//! The manual review queue: registrations whose owner failed roster matching (L2) and asked a
//! person to check. A registration belongs to the department of its roster entity; one without
//! a roster entity (or whose entity has no department yet) to the department of the campaign
//! whose code it came through; anything else waits in the admins' queue.

use time::OffsetDateTime;

use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::{Context, Db, StoreError, WritePool};

/// Whose registrations a reviewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A staff member: their department's only.
    Department(i64),
    /// An admin: every registration, the unassigned ones included.
    All,
}

impl Scope {
    fn department(self) -> Option<i64> {
        match self {
            Scope::Department(id) => Some(id),
            Scope::All => None,
        }
    }
}

/// A registration `r` with its roster entity `e`, the campaign `c` of its referral code and its
/// responsible department `d` (entity first, then campaign; NULL: the admins').
const FROM_SQL: &str = "FROM registrations r
     LEFT JOIN entities e ON e.id = r.entity_id
     LEFT JOIN campaigns c ON c.code = r.referral_code
     LEFT JOIN departments d ON d.id = COALESCE(e.department_id, c.department_id)";

/// `$1`: the department, or NULL for all.
const SCOPE_SQL: &str = "($1 IS NULL OR COALESCE(e.department_id, c.department_id) = $1)";

/// One waiting registration in the queue.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueItem {
    pub id: i64,
    pub uscc: String,
    pub entity_name: String,
    pub mismatch: Option<String>,
    pub in_roster: bool,
    pub department: Option<String>,
    pub created_at: OffsetDateTime,
}

/// Registrations waiting for review in `scope`, oldest first.
pub async fn queue(db: &Db, scope: Scope) -> Result<Vec<QueueItem>, StoreError> {
    let sql = format!(
        "SELECT r.id, r.uscc, r.entity_name, r.mismatch, r.entity_id IS NOT NULL AS in_roster,
                d.name AS department, r.created_at
         {FROM_SQL}
         WHERE r.verification = 'review_requested' AND {SCOPE_SQL}
         ORDER BY r.created_at, r.id"
    );
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, QueueItem>(&sql)
            .bind(scope.department())
            .fetch_all(pool)
            .await
            .context("listing the review queue")?
    }))
}

/// Everything the reviewer needs about one registration.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReviewDetail {
    pub id: i64,
    pub uscc: String,
    pub entity_name: String,
    pub legal_rep_name: String,
    pub legal_rep_id_masked: String,
    pub mobile: String,
    pub referral_code: Option<String>,
    pub verification: String,
    pub mismatch: Option<String>,
    pub review_note: Option<String>,
    pub decision_reason: Option<String>,
    pub reviewed_at: Option<OffsetDateTime>,
    pub reviewer: Option<String>,
    pub created_at: OffsetDateTime,
    pub department: Option<String>,
    pub roster_uscc: Option<String>,
    pub roster_name: Option<String>,
    pub roster_legal_rep: Option<String>,
    pub roster_status: Option<String>,
    pub signed: bool,
}

/// One registration in `scope` (in any state, so a decided one still opens), or `None`.
pub async fn detail(db: &Db, scope: Scope, id: i64) -> Result<Option<ReviewDetail>, StoreError> {
    let sql = format!(
        "SELECT r.id, r.uscc, r.entity_name, r.legal_rep_name, r.legal_rep_id_masked, r.mobile,
                r.referral_code, r.verification, r.mismatch, r.review_note, r.decision_reason,
                r.reviewed_at, COALESCE(rv.display_name, 'account:' || CAST(rv.id AS TEXT)) AS reviewer,
                r.created_at, d.name AS department,
                e.uscc AS roster_uscc, e.name AS roster_name, e.legal_rep AS roster_legal_rep,
                e.status AS roster_status,
                EXISTS (SELECT 1 FROM signatures s WHERE s.registration_id = r.id) AS signed
         {FROM_SQL}
         LEFT JOIN accounts rv ON rv.id = r.reviewed_by
         WHERE r.id = $2 AND {SCOPE_SQL}"
    );
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, ReviewDetail>(&sql)
            .bind(scope.department())
            .bind(id)
            .fetch_optional(pool)
            .await
            .context("reading a registration for review")?
    }))
}

/// Audits that `actor` saw the unmasked personal data `fields` of registration `id`.
pub async fn record_view(db: &Db, actor: &str, id: i64, fields: &[&str]) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.context("starting a view record")?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor,
                action: "personal_data.viewed",
                subject: &format!("registration:{id}"),
                detail: serde_json::json!({ "fields": fields, "purpose": "review" }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing a view record")?;
    });
    Ok(())
}

/// The reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Decision> {
        match s.trim() {
            "approve" => Some(Decision::Approve),
            "reject" => Some(Decision::Reject),
            _ => None,
        }
    }

    /// The verification state it leads to.
    pub fn state(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        }
    }
}

/// What deciding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Done {
        /// Where to tell the owner, and about what.
        owner_email: String,
        entity_name: String,
        reviewed_at: OffsetDateTime,
        /// Approved and already signed: queued for the province in the same transaction.
        queued: bool,
    },
    /// Already decided (by someone else, or twice): the current state; nothing changed.
    AlreadyDecided(String),
    /// Not in the reviewer's scope, or no such registration.
    NotFound,
}

/// Records the decision on registration `id` if it is in `scope` and still waiting: state,
/// reason, reviewer and time, the audit row, and (approval of a signed registration) the
/// provincial sync, all in one transaction.
pub async fn decide(
    db: &Db,
    scope: Scope,
    id: i64,
    reviewer_id: i64,
    decision: Decision,
    reason: Option<&str>,
) -> Result<Decided, StoreError> {
    let now = OffsetDateTime::now_utc();
    let find = format!(
        "SELECT r.verification, a.email, r.entity_name,
                EXISTS (SELECT 1 FROM signatures s WHERE s.registration_id = r.id) AS signed
         {FROM_SQL}
         JOIN accounts a ON a.id = r.account_id
         WHERE r.id = $2 AND {SCOPE_SQL}"
    );
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a review decision")?;
        let row: Option<(String, String, String, bool)> = sqlx::query_as(&find)
            .bind(scope.department())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .context("reading a registration to decide")?;
        let Some((verification, owner_email, entity_name, signed)) = row else {
            return Ok(Decided::NotFound);
        };
        if verification != "review_requested" {
            return Ok(Decided::AlreadyDecided(verification));
        }
        // The state in the WHERE clause too: of two reviewers deciding at once, one wins.
        let changed = sqlx::query(
            "UPDATE registrations SET verification = $1, decision_reason = $2, reviewed_by = $3,
                 reviewed_at = $4, updated_at = $4
             WHERE id = $5 AND verification = 'review_requested'",
        )
        .bind(decision.state())
        .bind(reason)
        .bind(reviewer_id)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("recording a review decision")?
        .rows_affected();
        if changed != 1 {
            return Ok(Decided::AlreadyDecided("decided".to_owned()));
        }
        super::league::recount_in(&mut *tx, super::league::Which::Registrations(&[id])).await?;
        let queued = decision == Decision::Approve && signed;
        if queued {
            // Verified and signed: the province gets it, as when a matched owner signs.
            sqlx::query(super::outbox::ENQUEUE_REGISTER)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .context("queueing the registration for the province")?;
        }
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor: &format!("account:{reviewer_id}"),
                action: match decision {
                    Decision::Approve => "registration.approved",
                    Decision::Reject => "registration.rejected",
                },
                subject: &format!("registration:{id}"),
                // The reason is free text a reviewer typed: kept on the registration, not here.
                detail: serde_json::json!({ "queued": queued, "with_reason": reason.is_some() }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing a review decision")?;
        Decided::Done {
            owner_email,
            entity_name,
            reviewed_at: now,
            queued,
        }
    }))
}
