//! Accounts, sessions, one-time email links and failed-login records.
//!
//! Session ids and email tokens are random 128-bit values handed to the client; only their
//! SHA-256 is stored, so a copy of the database does not log anyone in.

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::connection::for_each_connection;
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
    /// The department a staff account works for; `None` for every other role.
    pub department_id: Option<i64>,
    /// Made by an admin with a temporary password: nothing but the password change until done.
    pub must_change_password: bool,
    /// How colleagues see this account (staff, leaders, admins); owners have none.
    pub display_name: Option<String>,
}

impl Account {
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    pub fn is(&self, role: Role) -> bool {
        self.role == role.as_str()
    }
}

/// The columns of [`Account`], for every query that reads one. Disabled accounts are never read:
/// they cannot log in, and their sessions stop working at once.
const ACCOUNT_SELECT: &str =
    "SELECT id, email, password_hash, role, email_confirmed_at, department_id,
        must_change_password, display_name
     FROM accounts";

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
        sqlx::query_as::<_, Account>(&format!(
            "{ACCOUNT_SELECT} WHERE email = $1 AND disabled_at IS NULL"
        ))
        .bind(email)
        .fetch_optional(pool)
        .await
        .context("finding an account by email")?
    }))
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<Account>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, Account>(&format!(
            "{ACCOUNT_SELECT} WHERE id = $1 AND disabled_at IS NULL"
        ))
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
    /// Staff need a department of their own; no other role may have one.
    #[error("staff accounts need a department, other roles none")]
    DepartmentMismatch,
    #[error("no such department")]
    NoSuchDepartment,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A staff-side account to create (admin, leader or staff).
#[derive(Debug)]
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub department_id: Option<i64>,
    pub display_name: Option<&'a str>,
    /// The password was chosen by someone else (an admin): it must be changed at first login.
    pub temporary_password: bool,
    /// Who creates it, for the audit log: `cli` or `account:N`.
    pub actor: &'a str,
}

/// Creates a staff-side account with its email confirmed: the admin or operator who makes it
/// vouches for the address.
pub async fn create_account(db: &Db, new: &NewAccount<'_>) -> Result<i64, CreateAccountError> {
    if (new.role == Role::Staff) != new.department_id.is_some() {
        return Err(CreateAccountError::DepartmentMismatch);
    }
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to create an account")?;
        if let Some(department) = new.department_id {
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM departments WHERE id = $1")
                .bind(department)
                .fetch_optional(&mut *tx)
                .await
                .context("checking the department of a new account")?;
            if found.is_none() {
                return Err(CreateAccountError::NoSuchDepartment);
            }
        }
        let id: i64 = match sqlx::query_scalar(
            "INSERT INTO accounts (email, password_hash, role, email_confirmed_at, created_at,
                 department_id, must_change_password, display_name)
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.email)
        .bind(new.password_hash)
        .bind(new.role.as_str())
        .bind(now)
        .bind(new.department_id)
        .bind(new.temporary_password)
        .bind(new.display_name)
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
                actor: new.actor,
                action: "account.created",
                subject: &format!("account:{id}"),
                detail: serde_json::json!({
                    "role": new.role.as_str(),
                    "department_id": new.department_id,
                    "temporary_password": new.temporary_password,
                }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing a new account")?;
        id
    }))
}

/// Sets a new password chosen by the account's holder, clears the first-login flag and ends
/// every other session (a temporary password may have been seen by others).
pub async fn change_password(
    db: &Db,
    account_id: i64,
    password_hash: &str,
    keep_session: &str,
) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    let keep = token_hash(keep_session);
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a password change")?;
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, must_change_password = $2 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(false)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .context("changing a password")?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND id_hash <> $2")
            .bind(account_id)
            .bind(&keep)
            .execute(&mut *tx)
            .await
            .context("ending the other sessions")?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor: &format!("account:{account_id}"),
                action: "account.password_changed",
                subject: &format!("account:{account_id}"),
                detail: serde_json::json!({}),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing a password change")?;
    });
    Ok(())
}

/// A staff-side account (staff, leader, admin) as the admin's list shows it, disabled ones too.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfficialAccount {
    pub id: i64,
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub department_id: Option<i64>,
    pub department_name: Option<String>,
    pub must_change_password: bool,
    pub disabled_at: Option<OffsetDateTime>,
}

/// Every staff-side account: admins, then leaders, then staff by department. Owners are not
/// listed (they manage themselves).
pub async fn list_officials(db: &Db) -> Result<Vec<OfficialAccount>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, OfficialAccount>(
            "SELECT a.id, a.email, a.display_name, a.role, a.department_id,
                 d.name AS department_name, a.must_change_password, a.disabled_at
             FROM accounts a LEFT JOIN departments d ON d.id = a.department_id
             WHERE a.role IN ('admin', 'leader', 'staff')
             ORDER BY CASE a.role WHEN 'admin' THEN 0 WHEN 'leader' THEN 1 ELSE 2 END,
                 a.department_id, a.id",
        )
        .fetch_all(pool)
        .await
        .context("listing staff-side accounts")?
    }))
}

/// What an admin's action on an account did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    Done,
    /// The account was already in the state asked for: nothing written.
    Unchanged,
    /// No staff-side account has this id.
    Missing,
}

/// What account changes need inside an open transaction (`&mut *tx`).
trait SessionConnection {
    /// Deletes every session of an account; the number ended.
    fn end_all_sessions(
        &mut self,
        account_id: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

for_each_connection! {
    impl SessionConnection for Conn {
        async fn end_all_sessions(&mut self, account_id: i64) -> Result<u64, StoreError> {
            Ok(sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *self)
                .await
                .context("ending an account's sessions")?
                .rows_affected())
        }
    }
}

/// Disables (or enables again) a staff-side account. Disabling ends its sessions at once; the
/// account can no longer log in ([`by_email`] skips it). Audited with `actor`.
pub async fn set_disabled(
    db: &Db,
    account_id: i64,
    disabled: bool,
    actor: &str,
) -> Result<AccountChange, StoreError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to disable an account")?;
        let current: Option<Option<OffsetDateTime>> = sqlx::query_scalar(
            "SELECT disabled_at FROM accounts WHERE id = $1 AND role <> 'owner'",
        )
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await
        .context("reading an account's state")?;
        let Some(disabled_at) = current else {
            return Ok(AccountChange::Missing);
        };
        if disabled_at.is_some() == disabled {
            return Ok(AccountChange::Unchanged);
        }
        sqlx::query("UPDATE accounts SET disabled_at = $1 WHERE id = $2")
            .bind(disabled.then_some(now))
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .context("disabling an account")?;
        let ended = if disabled {
            tx.end_all_sessions(account_id).await?
        } else {
            0
        };
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor,
                action: if disabled {
                    "account.disabled"
                } else {
                    "account.enabled"
                },
                subject: &format!("account:{account_id}"),
                detail: serde_json::json!({ "sessions_ended": ended }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing an account's state")?;
        AccountChange::Done
    }))
}

/// Gives a staff-side account a new temporary password chosen by an admin: it must be changed
/// at the next login, and every session of the account ends (whoever held it is logged out).
pub async fn reset_password(
    db: &Db,
    account_id: i64,
    password_hash: &str,
    actor: &str,
) -> Result<AccountChange, StoreError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a password reset")?;
        let updated = sqlx::query(
            "UPDATE accounts SET password_hash = $1, must_change_password = $2
             WHERE id = $3 AND role <> 'owner'",
        )
        .bind(password_hash)
        .bind(true)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .context("resetting a password")?
        .rows_affected();
        if updated == 0 {
            return Ok(AccountChange::Missing);
        }
        let ended = tx.end_all_sessions(account_id).await?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor,
                action: "account.password_reset",
                subject: &format!("account:{account_id}"),
                detail: serde_json::json!({ "sessions_ended": ended }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing a password reset")?;
        AccountChange::Done
    }))
}
