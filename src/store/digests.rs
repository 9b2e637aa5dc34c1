//! The weekly digest's reads (who gets one, the stale entities, the follow-ups due), the record
//! of digests sent per ISO week, and each staff member's opt-out.

use time::{Date, OffsetDateTime};

use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::progress::STAGE_SQL;
use super::{Context, Db, StoreError, WritePool};

/// A staff member who gets the digest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recipient {
    pub account_id: i64,
    pub email: String,
    pub display_name: Option<String>,
    pub department_id: i64,
    pub department_name: String,
    pub county_code: String,
}

/// Active staff of every department who have not opted out, by department then account.
pub async fn recipients(db: &Db) -> Result<Vec<Recipient>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Recipient>(
            "SELECT a.id AS account_id, a.email, a.display_name, d.id AS department_id,
                    d.name AS department_name, d.county_code
             FROM accounts a JOIN departments d ON d.id = a.department_id
             WHERE a.role = 'staff' AND a.disabled_at IS NULL AND a.digest_opt_out_at IS NULL
             ORDER BY d.id, a.id",
        )
        .fetch_all(pool)
        .await
        .context("listing digest recipients")?
    }))
}

/// A leader who gets the digest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeaderRecipient {
    pub account_id: i64,
    pub email: String,
    pub display_name: Option<String>,
}

/// Active leader accounts that have not opted out (the leaders' weekly digest).
///
/// # Errors
/// Database errors.
pub async fn leader_recipients(db: &Db) -> Result<Vec<LeaderRecipient>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, LeaderRecipient>(
            "SELECT id AS account_id, email, display_name FROM accounts
             WHERE role = 'leader' AND disabled_at IS NULL AND digest_opt_out_at IS NULL
             ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .context("listing leaders' digest recipients")?
    }))
}

/// Whether `account_id` already got the digest of `week` (`2026-W49`).
pub async fn already_sent(db: &Db, account_id: i64, week: &str) -> Result<bool, StoreError> {
    let n: i64 = on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM digest_sends WHERE account_id = $1 AND week = $2")
            .bind(account_id)
            .bind(week)
            .fetch_one(pool)
            .await
            .context("checking a digest was sent")?
    });
    Ok(n > 0)
}

/// Records that the digest of `week` went to `account_id` (after the SMTP server took it).
pub async fn record_sent(
    db: &Db,
    account_id: i64,
    week: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    on_pool!(db, |pool| {
        sqlx::query(
            "INSERT INTO digest_sends (account_id, week, sent_at) VALUES ($1, $2, $3)
             ON CONFLICT (account_id, week) DO NOTHING",
        )
        .bind(account_id)
        .bind(week)
        .bind(at)
        .execute(pool)
        .await
        .context("recording a digest sent")?;
    });
    Ok(())
}

/// How many of the department's entities nobody contacted since `cutoff` (or ever) and that are
/// not yet on the provincial platform, with the first `limit` names (longest silence first).
pub async fn stale_entities(
    db: &Db,
    department_id: i64,
    cutoff: OffsetDateTime,
    limit: i64,
) -> Result<(i64, Vec<String>), StoreError> {
    let from = format!(
        "FROM entities e LEFT JOIN registrations r ON r.entity_id = e.id
         WHERE e.department_id = $1 AND (e.last_contact_at IS NULL OR e.last_contact_at < $2)
           AND ({STAGE_SQL}) <> 'synced'"
    );
    let count_sql = format!("SELECT COUNT(*) {from}");
    // Never contacted first, then the longest ago; the id keeps the order stable.
    let names_sql = format!(
        "SELECT e.name {from}
         ORDER BY CASE WHEN e.last_contact_at IS NULL THEN 0 ELSE 1 END, e.last_contact_at, e.id
         LIMIT $3"
    );
    Ok(on_pool!(db, |pool| {
        let count: i64 = sqlx::query_scalar(&count_sql)
            .bind(department_id)
            .bind(cutoff)
            .fetch_one(pool)
            .await
            .context("counting entities not contacted")?;
        let names: Vec<String> = sqlx::query_scalar(&names_sql)
            .bind(department_id)
            .bind(cutoff)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("listing entities not contacted")?;
        (count, names)
    }))
}

/// Follow-ups due by `today`: the latest outreach of each of the department's entities, when it
/// set a follow-up date on or before today. Count and the first `limit` (name, date), oldest
/// date first.
pub async fn follow_ups_due(
    db: &Db,
    department_id: i64,
    today: Date,
    limit: i64,
) -> Result<(i64, Vec<(String, String)>), StoreError> {
    // `follow_up_on` is YYYY-MM-DD text on both engines, so text comparison orders it.
    let from = "FROM outreach o JOIN entities e ON e.id = o.entity_id
         WHERE e.department_id = $1 AND o.follow_up_on IS NOT NULL AND o.follow_up_on <= $2
           AND o.id = (SELECT o2.id FROM outreach o2 WHERE o2.entity_id = o.entity_id
                       ORDER BY o2.contacted_at DESC, o2.id DESC LIMIT 1)";
    let count_sql = format!("SELECT COUNT(*) {from}");
    let rows_sql =
        format!("SELECT e.name, o.follow_up_on {from} ORDER BY o.follow_up_on, e.id LIMIT $3");
    let today = today.to_string();
    Ok(on_pool!(db, |pool| {
        let count: i64 = sqlx::query_scalar(&count_sql)
            .bind(department_id)
            .bind(&today)
            .fetch_one(pool)
            .await
            .context("counting follow-ups due")?;
        let rows: Vec<(String, String)> = sqlx::query_as(&rows_sql)
            .bind(department_id)
            .bind(&today)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("listing follow-ups due")?;
        (count, rows)
    }))
}

/// Whether the account has turned the digest off.
pub async fn opted_out(db: &Db, account_id: i64) -> Result<bool, StoreError> {
    let n: i64 = on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM accounts WHERE id = $1 AND digest_opt_out_at IS NOT NULL",
        )
        .bind(account_id)
        .fetch_one(pool)
        .await
        .context("reading the digest setting")?
    });
    Ok(n > 0)
}

/// Turns the digest off (`subscribed = false`) or back on for a staff or leader account (leaders
/// get their own weekly digest), audited. `false` when nothing changed (already so, or another
/// role).
pub async fn set_subscribed(
    db: &Db,
    account_id: i64,
    subscribed: bool,
    actor: &str,
) -> Result<bool, StoreError> {
    let now = OffsetDateTime::now_utc();
    // Off stores when; on clears it (`$2` is then bound but only compared, for one query).
    let (sql, action) = if subscribed {
        (
            "UPDATE accounts SET digest_opt_out_at = NULL
             WHERE id = $1 AND role IN ('staff', 'leader') AND digest_opt_out_at IS NOT NULL
               AND digest_opt_out_at <= $2",
            "digest.subscribed",
        )
    } else {
        (
            "UPDATE accounts SET digest_opt_out_at = $2
             WHERE id = $1 AND role IN ('staff', 'leader') AND digest_opt_out_at IS NULL",
            "digest.unsubscribed",
        )
    };
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a digest setting change")?;
        let changed = sqlx::query(sql)
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("changing the digest setting")?
            .rows_affected()
            == 1;
        if changed {
            audit::append(
                &mut *tx,
                &AuditEntry {
                    actor,
                    action,
                    subject: &format!("account:{account_id}"),
                    detail: serde_json::json!({}),
                },
                now,
            )
            .await?;
        }
        tx.commit()
            .await
            .context("committing a digest setting change")?;
        changed
    }))
}
