//! Accounts, sessions, one-time email links and failed-login records.
//!
//! Session ids and email tokens are random 128-bit values handed to the client; only their
//! SHA-256 is stored, so a copy of the database does not log anyone in.

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::{Context, Db, StoreError, WritePool};

/// A session ends after this long without a request…
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// …and this long after login, whatever happens.
pub const SESSION_ABSOLUTE: Duration = Duration::hours(12);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Staff,
    Leader,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Staff => "staff",
            Role::Leader => "leader",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "staff" => Some(Role::Staff),
            "leader" => Some(Role::Leader),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub email_confirmed_at: Option<OffsetDateTime>,
}

/// A fresh random token (hex, 128 bits) and the hash to store.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<Account>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Account>(
            "SELECT id, email, password_hash, role, email_confirmed_at FROM accounts WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(pool)
        .await
        .context("finding an account by email")?
    }))
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<Account>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Account>(
            "SELECT id, email, password_hash, role, email_confirmed_at FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .context("finding an account")?
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Cookie,
    Bearer,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            SessionKind::Cookie => "cookie",
            SessionKind::Bearer => "bearer",
        }
    }
}

/// Starts a session for `account_id`; returns the id to give the client.
pub async fn create_session(
    db: &Db,
    account_id: i64,
    kind: SessionKind,
) -> Result<String, StoreError> {
    let (token, hash) = new_token();
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.context("starting a session")?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, kind, created_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&hash)
        .bind(account_id)
        .bind(kind.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("creating a session")?;
        super::audit::append(
            &mut *tx,
            &super::audit::AuditEntry {
                actor: &format!("account:{account_id}"),
                action: "session.started",
                subject: &format!("account:{account_id}"),
                detail: serde_json::json!({ "kind": kind.as_str() }),
            },
            now,
        )
        .await?;
        // Expired sessions of anyone are swept here rather than by a timer.
        sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(now - SESSION_IDLE)
            .bind(now - SESSION_ABSOLUTE)
            .execute(&mut *tx)
            .await
            .context("sweeping expired sessions")?;
        tx.commit().await.context("committing a session")?;
    });
    Ok(token)
}

/// The account behind a live session, refreshing its idle timer (at most once a minute).
pub async fn session_account(
    db: &Db,
    token: &str,
    kind: SessionKind,
) -> Result<Option<Account>, StoreError> {
    let hash = token_hash(token);
    let now = OffsetDateTime::now_utc();
    let found: Option<(i64, OffsetDateTime)> = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT account_id, last_seen_at FROM sessions
             WHERE id_hash = $1 AND kind = $2 AND last_seen_at >= $3 AND created_at >= $4",
        )
        .bind(&hash)
        .bind(kind.as_str())
        .bind(now - SESSION_IDLE)
        .bind(now - SESSION_ABSOLUTE)
        .fetch_optional(pool)
        .await
        .context("reading a session")?
    });
    let Some((account_id, last_seen)) = found else {
        return Ok(None);
    };
    if now - last_seen > Duration::minutes(1) {
        on_pool!(db, |pool| {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(&hash)
                .execute(pool)
                .await
                .context("touching a session")?;
        });
    }
    by_id(db, account_id).await
}

pub async fn end_session(db: &Db, token: &str) -> Result<(), StoreError> {
    let hash = token_hash(token);
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.context("ending a session")?;
        let ended: Option<i64> =
            sqlx::query_scalar("DELETE FROM sessions WHERE id_hash = $1 RETURNING account_id")
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await
                .context("ending a session")?;
        if let Some(account_id) = ended {
            super::audit::append(
                &mut *tx,
                &super::audit::AuditEntry {
                    actor: &format!("account:{account_id}"),
                    action: "session.ended",
                    subject: &format!("account:{account_id}"),
                    detail: serde_json::json!({}),
                },
                now,
            )
            .await?;
        }
        tx.commit()
            .await
            .context("committing the end of a session")?;
    });
    Ok(())
}

/// Records a failed login under each key (already hashed by the caller).
pub async fn record_login_failure(db: &Db, keys: &[String]) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("recording a failed login")?;
        for key in keys {
            sqlx::query("INSERT INTO login_failures (key_hash, at) VALUES ($1, $2)")
                .bind(key)
                .bind(now)
                .execute(&mut *tx)
                .await
                .context("recording a failed login")?;
        }
        sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(now - Duration::days(1))
            .execute(&mut *tx)
            .await
            .context("sweeping old failed logins")?;
        tx.commit().await.context("committing a failed login")?;
    });
    Ok(())
}

/// Failed logins under `key` within `window`.
pub async fn login_failures_since(db: &Db, key: &str, window: Duration) -> Result<i64, StoreError> {
    let since = OffsetDateTime::now_utc() - window;
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE key_hash = $1 AND at >= $2")
            .bind(key)
            .bind(since)
            .fetch_one(pool)
            .await
            .context("counting failed logins")?
    }))
}

pub async fn clear_login_failures(db: &Db, key: &str) -> Result<(), StoreError> {
    on_pool!(db, |pool| {
        sqlx::query("DELETE FROM login_failures WHERE key_hash = $1")
            .bind(key)
            .execute(pool)
            .await
            .context("clearing failed logins")?;
    });
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    #[error("an account with this email exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a staff-side account (admin or leader) with its email confirmed: the operator who runs
/// the command vouches for the address. Audited as done by `cli`.
pub async fn create_account(
    db: &Db,
    email: &str,
    password_hash: &str,
    role: Role,
) -> Result<i64, CreateAccountError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to create an account")?;
        let id: i64 = match sqlx::query_scalar(
            "INSERT INTO accounts (email, password_hash, role, email_confirmed_at, created_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(email)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        {
            Ok(id) => id,
            // The only unique column besides the key is the email.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(CreateAccountError::EmailTaken);
            }
            Err(e) => return Err(StoreError::from_sqlx("creating an account", e).into()),
        };
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor: "cli",
                action: "account.created",
                subject: &format!("account:{id}"),
                detail: serde_json::json!({ "role": role.as_str() }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing a new account")?;
        id
    }))
}
