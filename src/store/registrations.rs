//! Registrations, their signatures and the one-time email links, written together so an owner's
//! submission is either wholly recorded or not at all.

use time::{Duration, OffsetDateTime};

use crate::on_pool;

use super::accounts::new_token;
use super::audit::{self, AuditEntry};
use super::connection::for_each_connection;
use super::{Context, Db, StoreError, WritePool};

/// How long an email confirmation link works.
pub const CONFIRM_LINK_TTL: Duration = Duration::hours(24);
/// How long a password-reset link works.
pub const RESET_LINK_TTL: Duration = Duration::hours(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// L2: the roster has the USCC, and the entity and legal representative names match it.
    Matched,
    /// The owner asked the responsible department to check by hand.
    ReviewRequested,
    Approved,
    Rejected,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Matched => "matched",
            Verification::ReviewRequested => "review_requested",
            Verification::Approved => "approved",
            Verification::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Verification> {
        match s {
            "matched" => Some(Verification::Matched),
            "review_requested" => Some(Verification::ReviewRequested),
            "approved" => Some(Verification::Approved),
            "rejected" => Some(Verification::Rejected),
            _ => None,
        }
    }

    pub fn is_verified(self) -> bool {
        matches!(self, Verification::Matched | Verification::Approved)
    }
}

/// Evidence of one act of signing.
#[derive(Debug, Clone)]
pub struct SignatureEvidence {
    pub version: String,
    pub digest: String,
    pub signer_name: String,
    pub ip: String,
    pub user_agent: String,
}

/// Everything a new registration writes.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub email: String,
    pub password_hash: String,
    pub uscc: String,
    pub entity_id: Option<i64>,
    pub entity_name: String,
    pub legal_rep_name: String,
    pub legal_rep_id_sealed: Vec<u8>,
    pub legal_rep_id_lookup: String,
    pub legal_rep_id_masked: String,
    pub mobile: String,
    pub referral_code: Option<String>,
    pub verification: Verification,
    /// Codes of the L2 checks that failed (empty when matched).
    pub mismatch: Vec<&'static str>,
    pub review_note: Option<String>,
    /// Signed in the same step (the HTML form); the API signs separately.
    pub signature: Option<SignatureEvidence>,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub registration_id: i64,
    pub account_id: i64,
    pub verification: Verification,
    /// The email-confirmation link's token (only its hash is stored).
    pub confirm_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("this USCC is already registered")]
    UsccTaken,
    #[error("an account with this email exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unique_violation_on(err: &sqlx::Error, column: &str) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            // SQLite names the column ("registrations.uscc"), PostgreSQL the constraint
            // ("registrations_uscc_key"); both contain the column name.
            let detail = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
            detail.contains(column)
        }
        _ => false,
    }
}

const INSERT_SIGNATURE: &str = "INSERT INTO signatures
    (registration_id, version, digest, signer_name, signed_at, ip, user_agent)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// What signing needs inside an open write transaction (`&mut *tx`).
trait SignatureConnection {
    /// Appends the signature, queues the registration for the province when it is also
    /// verified, and audits the signing. One path for signing at registration and signing
    /// later, so evidence, outbox and audit cannot drift apart.
    fn record_signature(
        &mut self,
        registration_id: i64,
        account_id: i64,
        sig: &SignatureEvidence,
        verified: bool,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

for_each_connection! {
    impl SignatureConnection for Conn {
        async fn record_signature(
            &mut self,
            registration_id: i64,
            account_id: i64,
            sig: &SignatureEvidence,
            verified: bool,
            now: OffsetDateTime,
        ) -> Result<(), StoreError> {
            sqlx::query(INSERT_SIGNATURE)
                .bind(registration_id)
                .bind(&sig.version)
                .bind(&sig.digest)
                .bind(&sig.signer_name)
                .bind(now)
                .bind(&sig.ip)
                .bind(&sig.user_agent)
                .execute(&mut *self)
                .await
                .context("recording a signature")?;
            if verified {
                // Verified and signed: the province gets it, queued in this same transaction.
                sqlx::query(super::outbox::ENQUEUE_REGISTER)
                    .bind(registration_id)
                    .bind(now)
                    .execute(&mut *self)
                    .await
                    .context("queueing the registration for the province")?;
            }
            audit::append(
                &mut *self,
                &AuditEntry {
                    actor: &format!("account:{account_id}"),
                    action: "agreement.signed",
                    subject: &format!("registration:{registration_id}"),
                    detail: serde_json::json!({ "version": sig.version, "digest": sig.digest }),
                },
                now,
            )
            .await
        }
    }
}

/// Writes account, registration, signature, confirmation token and audit rows in one transaction.
pub async fn create(db: &Db, new: &NewRegistration) -> Result<Created, CreateError> {
    let now = OffsetDateTime::now_utc();
    let (confirm_token, confirm_hash) = new_token();
    let mismatch = (!new.mismatch.is_empty()).then(|| new.mismatch.join(","));
    let created = on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a registration")?;
        let account_id: i64 = match sqlx::query_scalar(
            "INSERT INTO accounts (email, password_hash, role, created_at)
             VALUES ($1, $2, 'owner', $3) RETURNING id",
        )
        .bind(&new.email)
        .bind(&new.password_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        {
            Ok(id) => id,
            Err(e) if unique_violation_on(&e, "email") => return Err(CreateError::EmailTaken),
            Err(e) => return Err(StoreError::from_sqlx("creating an account", e).into()),
        };
        let registration_id: i64 = match sqlx::query_scalar(
            "INSERT INTO registrations (account_id, uscc, entity_id, entity_name, legal_rep_name,
                 legal_rep_id_sealed, legal_rep_id_lookup, legal_rep_id_masked, mobile,
                 referral_code, verification, mismatch, review_note, personal_info_consent_at,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $14)
             RETURNING id",
        )
        .bind(account_id)
        .bind(&new.uscc)
        .bind(new.entity_id)
        .bind(&new.entity_name)
        .bind(&new.legal_rep_name)
        .bind(&new.legal_rep_id_sealed)
        .bind(&new.legal_rep_id_lookup)
        .bind(&new.legal_rep_id_masked)
        .bind(&new.mobile)
        .bind(&new.referral_code)
        .bind(new.verification.as_str())
        .bind(&mismatch)
        .bind(&new.review_note)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        {
            Ok(id) => id,
            Err(e) if unique_violation_on(&e, "uscc") => return Err(CreateError::UsccTaken),
            Err(e) => return Err(StoreError::from_sqlx("creating a registration", e).into()),
        };
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, account_id, purpose, created_at, expires_at)
             VALUES ($1, $2, 'confirm_email', $3, $4)",
        )
        .bind(&confirm_hash)
        .bind(account_id)
        .bind(now)
        .bind(now + CONFIRM_LINK_TTL)
        .execute(&mut *tx)
        .await
        .context("storing the confirmation link")?;
        let subject = format!("registration:{registration_id}");
        let actor = format!("account:{account_id}");
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor: &actor,
                action: "registration.submitted",
                subject: &subject,
                detail: serde_json::json!({
                    "verification": new.verification.as_str(),
                    "mismatch": new.mismatch,
                    "in_roster": new.entity_id.is_some(),
                    "referral": new.referral_code.is_some(),
                }),
            },
            now,
        )
        .await?;
        if let Some(sig) = &new.signature {
            tx.record_signature(
                registration_id,
                account_id,
                sig,
                new.verification.is_verified(),
                now,
            )
            .await?;
        }
        if let Some(entity_id) = new.entity_id {
            super::league::recount_in(&mut *tx, super::league::Which::Entities(&[entity_id]))
                .await?;
        }
        tx.commit().await.context("committing a registration")?;
        Created {
            registration_id,
            account_id,
            verification: new.verification,
            confirm_token,
        }
    });
    Ok(created)
}

/// Appends a signature for an existing registration (and its audit row).
pub async fn sign(
    db: &Db,
    registration_id: i64,
    account_id: i64,
    sig: &SignatureEvidence,
) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.context("starting to sign")?;
        let verification: String = sqlx::query_scalar(
            "UPDATE registrations SET updated_at = $1 WHERE id = $2 RETURNING verification",
        )
        .bind(now)
        .bind(registration_id)
        .fetch_one(&mut *tx)
        .await
        .context("touching a registration")?;
        let verified = Verification::parse(&verification).is_some_and(Verification::is_verified);
        tx.record_signature(registration_id, account_id, sig, verified, now)
            .await?;
        super::league::recount_in(
            &mut *tx,
            super::league::Which::Registrations(&[registration_id]),
        )
        .await?;
        tx.commit().await.context("committing a signature")?;
    });
    Ok(())
}

/// A registration as its owner sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegistrationView {
    pub id: i64,
    pub account_id: i64,
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
    pub sync_state: String,
    /// The province's reason when it rejected the registration.
    pub sync_reason: Option<String>,
    pub created_at: OffsetDateTime,
    pub email_confirmed_at: Option<OffsetDateTime>,
}

const VIEW_SQL: &str = "SELECT r.id, r.account_id, r.uscc, r.entity_name, r.legal_rep_name,
        r.legal_rep_id_masked, r.mobile, r.referral_code, r.verification, r.mismatch,
        r.review_note, r.decision_reason, r.sync_state, r.sync_reason, r.created_at,
        a.email_confirmed_at
     FROM registrations r JOIN accounts a ON a.id = r.account_id";

pub async fn by_id(db: &Db, id: i64) -> Result<Option<RegistrationView>, StoreError> {
    let sql = format!("{VIEW_SQL} WHERE r.id = $1");
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, RegistrationView>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await
            .context("reading a registration")?
    }))
}

pub async fn for_account(db: &Db, account_id: i64) -> Result<Vec<RegistrationView>, StoreError> {
    let sql = format!("{VIEW_SQL} WHERE r.account_id = $1 ORDER BY r.id");
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, RegistrationView>(&sql)
            .bind(account_id)
            .fetch_all(pool)
            .await
            .context("listing an account's registrations")?
    }))
}

/// The email on file for the registration of `uscc`, if registered.
pub async fn email_for_uscc(db: &Db, uscc: &str) -> Result<Option<String>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT a.email FROM registrations r JOIN accounts a ON a.id = r.account_id
             WHERE r.uscc = $1",
        )
        .bind(uscc)
        .fetch_optional(pool)
        .await
        .context("finding a registration by USCC")?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignatureRow {
    pub version: String,
    pub digest: String,
    pub signer_name: String,
    pub signed_at: OffsetDateTime,
}

/// Signatures of a registration, newest first.
pub async fn signatures(db: &Db, registration_id: i64) -> Result<Vec<SignatureRow>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, SignatureRow>(
            "SELECT version, digest, signer_name, signed_at FROM signatures
             WHERE registration_id = $1 ORDER BY signed_at DESC, id DESC",
        )
        .bind(registration_id)
        .fetch_all(pool)
        .await
        .context("listing signatures")?
    }))
}

/// What a one-time email link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    ConfirmEmail,
    ResetPassword,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::ConfirmEmail => "confirm_email",
            LinkPurpose::ResetPassword => "reset_password",
        }
    }

    fn ttl(self) -> Duration {
        match self {
            LinkPurpose::ConfirmEmail => CONFIRM_LINK_TTL,
            LinkPurpose::ResetPassword => RESET_LINK_TTL,
        }
    }
}

/// A new one-time link for `account_id`, unless one for the same purpose was issued within
/// `min_interval` (a resend throttle). Earlier links stay valid until they expire.
pub async fn new_link_token(
    db: &Db,
    account_id: i64,
    purpose: LinkPurpose,
    min_interval: Duration,
) -> Result<Option<String>, StoreError> {
    let now = OffsetDateTime::now_utc();
    let (token, hash) = new_token();
    let issued = on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to issue a link")?;
        let recent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM email_tokens
             WHERE account_id = $1 AND purpose = $2 AND created_at > $3",
        )
        .bind(account_id)
        .bind(purpose.as_str())
        .bind(now - min_interval)
        .fetch_one(&mut *tx)
        .await
        .context("checking recent links")?;
        if recent > 0 {
            false
        } else {
            sqlx::query(
                "INSERT INTO email_tokens (token_hash, account_id, purpose, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&hash)
            .bind(account_id)
            .bind(purpose.as_str())
            .bind(now)
            .bind(now + purpose.ttl())
            .execute(&mut *tx)
            .await
            .context("storing a link")?;
            tx.commit().await.context("committing a link")?;
            true
        }
    });
    Ok(issued.then_some(token))
}

/// Whether `token` is a live reset link (to show the form or an error first).
pub async fn reset_link_is_live(db: &Db, token: &str) -> Result<bool, StoreError> {
    let hash = super::accounts::token_hash(token);
    let now = OffsetDateTime::now_utc();
    let n: i64 = on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM email_tokens WHERE token_hash = $1 AND purpose = 'reset_password'
             AND used_at IS NULL AND expires_at >= $2",
        )
        .bind(&hash)
        .bind(now)
        .fetch_one(pool)
        .await
        .context("checking a reset link")?
    });
    Ok(n > 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOutcome {
    Used,
    Expired,
    Unknown,
}

/// What following a one-time link does.
#[derive(Debug, Clone, Copy)]
pub enum LinkUse<'a> {
    /// Marks the account's email confirmed. Following it again is harmless and reports `Used`.
    ConfirmEmail,
    /// Sets this (already hashed) password and ends every session of the account.
    ResetPassword { password_hash: &'a str },
}

impl LinkUse<'_> {
    fn purpose(self) -> LinkPurpose {
        match self {
            LinkUse::ConfirmEmail => LinkPurpose::ConfirmEmail,
            LinkUse::ResetPassword { .. } => LinkPurpose::ResetPassword,
        }
    }
}

/// Follows a one-time link: checks it is live, marks it used, applies `action` and audits it,
/// all in one transaction.
pub async fn use_link(
    db: &Db,
    token: &str,
    action: LinkUse<'_>,
) -> Result<TokenOutcome, StoreError> {
    let hash = super::accounts::token_hash(token);
    let now = OffsetDateTime::now_utc();
    let purpose = action.purpose().as_str();
    let outcome = on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to follow a link")?;
        let row: Option<(i64, OffsetDateTime, Option<OffsetDateTime>)> = sqlx::query_as(
            "SELECT account_id, expires_at, used_at FROM email_tokens
             WHERE token_hash = $1 AND purpose = $2",
        )
        .bind(&hash)
        .bind(purpose)
        .fetch_optional(&mut *tx)
        .await
        .context("reading a link")?;
        let outcome = match (row, action) {
            (None, _) => TokenOutcome::Unknown,
            (Some((_, _, Some(_))), LinkUse::ConfirmEmail) => TokenOutcome::Used,
            (Some((_, _, Some(_))), LinkUse::ResetPassword { .. }) => TokenOutcome::Unknown,
            (Some((_, expires, None)), _) if expires < now => TokenOutcome::Expired,
            (Some((account_id, _, None)), action) => {
                sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2")
                    .bind(now)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await
                    .context("using a link")?;
                let audited = match action {
                    LinkUse::ConfirmEmail => {
                        sqlx::query(
                            "UPDATE accounts SET email_confirmed_at = $1
                             WHERE id = $2 AND email_confirmed_at IS NULL",
                        )
                        .bind(now)
                        .bind(account_id)
                        .execute(&mut *tx)
                        .await
                        .context("confirming an email")?;
                        "account.email_confirmed"
                    }
                    LinkUse::ResetPassword { password_hash } => {
                        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
                            .bind(password_hash)
                            .bind(account_id)
                            .execute(&mut *tx)
                            .await
                            .context("setting a new password")?;
                        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                            .bind(account_id)
                            .execute(&mut *tx)
                            .await
                            .context("ending sessions after a reset")?;
                        "account.password_reset"
                    }
                };
                let subject = format!("account:{account_id}");
                audit::append(
                    &mut *tx,
                    &AuditEntry {
                        actor: &subject,
                        action: audited,
                        subject: &subject,
                        detail: serde_json::json!({}),
                    },
                    now,
                )
                .await?;
                TokenOutcome::Used
            }
        };
        tx.commit().await.context("committing a link")?;
        outcome
    });
    Ok(outcome)
}

/// Everything the province is sent about one registration, read when it is sent (the outbox
/// holds no personal data), with its latest signature. `None` when the registration does not
/// exist.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SyncRecord {
    pub uscc: String,
    pub entity_name: String,
    pub legal_rep_name: String,
    pub legal_rep_id_sealed: Vec<u8>,
    pub mobile: String,
    pub email: String,
    pub verification: String,
    pub referral_code: Option<String>,
    pub updated_at: OffsetDateTime,
    /// The province's L3 answer when one was asked for (`pass`/`fail`).
    pub l3_result: Option<String>,
    /// The latest signature (`None`: never signed).
    pub signed_version: Option<String>,
    pub signed_digest: Option<String>,
    pub signed_at: Option<OffsetDateTime>,
    pub signer_name: Option<String>,
}

pub async fn sync_record(db: &Db, id: i64) -> Result<Option<SyncRecord>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, SyncRecord>(
            "SELECT r.uscc, r.entity_name, r.legal_rep_name, r.legal_rep_id_sealed, r.mobile,
                    a.email, r.verification, r.referral_code, r.updated_at, r.l3_result,
                    s.version AS signed_version, s.digest AS signed_digest, s.signed_at,
                    s.signer_name
             FROM registrations r
             JOIN accounts a ON a.id = r.account_id
             LEFT JOIN signatures s ON s.id = (
                 SELECT id FROM signatures WHERE registration_id = r.id
                 ORDER BY signed_at DESC, id DESC LIMIT 1)
             WHERE r.id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .context("reading a registration to send")?
    }))
}

/// Records the province's L3 answer: `None` passed, `Some(reason)` failed.
pub async fn record_l3(db: &Db, id: i64, failure: Option<&str>) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    let result = if failure.is_some() { "fail" } else { "pass" };
    on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.context("starting to record L3")?;
        sqlx::query(
            "UPDATE registrations SET l3_result = $1, l3_reason = $2, l3_checked_at = $3
             WHERE id = $4",
        )
        .bind(result)
        .bind(failure)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("recording the L3 answer")?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor: "system",
                action: "province.l3_checked",
                subject: &format!("registration:{id}"),
                detail: serde_json::json!({ "result": result }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing the L3 answer")?;
    });
    Ok(())
}

/// A rejected registration whose owner has not been emailed yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RejectionNotice {
    pub registration_id: i64,
    pub email: String,
    pub entity_name: String,
    pub reason: String,
}

pub async fn rejections_to_notify(db: &Db, limit: i64) -> Result<Vec<RejectionNotice>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, RejectionNotice>(
            "SELECT r.id AS registration_id, a.email, r.entity_name,
                    COALESCE(r.sync_reason, '') AS reason
             FROM registrations r JOIN accounts a ON a.id = r.account_id
             WHERE r.sync_state = 'rejected' AND r.sync_notified_at IS NULL
             ORDER BY r.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("finding rejections to tell owners about")?
    }))
}

pub async fn mark_notified(db: &Db, id: i64) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        sqlx::query("UPDATE registrations SET sync_notified_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await
            .context("marking a rejection as told")?;
    });
    Ok(())
}

/// The corrected data of a resubmission.
#[derive(Debug, Clone)]
pub struct Fix {
    pub legal_rep_name: String,
    pub legal_rep_id_sealed: Vec<u8>,
    pub legal_rep_id_lookup: String,
    pub legal_rep_id_masked: String,
    pub mobile: String,
}

/// Applies `fix` to a registration the province rejected and queues it again (the same outbox
/// row, back to pending with fresh attempts). `false` when it is not this account's or not
/// rejected: nothing is changed then.
pub async fn resubmit(db: &Db, id: i64, account_id: i64, fix: &Fix) -> Result<bool, StoreError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a resubmission")?;
        let changed = sqlx::query(
            "UPDATE registrations SET legal_rep_name = $1, legal_rep_id_sealed = $2,
                 legal_rep_id_lookup = $3, legal_rep_id_masked = $4, mobile = $5,
                 sync_state = 'pending', sync_reason = NULL, sync_notified_at = NULL,
                 l3_result = NULL, l3_reason = NULL, l3_checked_at = NULL, updated_at = $6
             WHERE id = $7 AND account_id = $8 AND sync_state = 'rejected'",
        )
        .bind(&fix.legal_rep_name)
        .bind(&fix.legal_rep_id_sealed)
        .bind(&fix.legal_rep_id_lookup)
        .bind(&fix.legal_rep_id_masked)
        .bind(&fix.mobile)
        .bind(now)
        .bind(id)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .context("correcting a registration")?
        .rows_affected();
        if changed == 1 {
            sqlx::query(
                "UPDATE outbox SET state = 'pending', attempts = 0, failures = 0, next_attempt_at = $1,
                     lease_until = NULL, last_error = NULL, updated_at = $1
                 WHERE registration_id = $2 AND kind = 'register'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("queueing the registration again")?;
            super::league::recount_in(&mut *tx, super::league::Which::Registrations(&[id])).await?;
            audit::append(
                &mut *tx,
                &AuditEntry {
                    actor: &format!("account:{account_id}"),
                    action: "registration.resubmitted",
                    subject: &format!("registration:{id}"),
                    detail: serde_json::json!({}),
                },
                now,
            )
            .await?;
            tx.commit().await.context("committing a resubmission")?;
        }
        changed == 1
    }))
}

/// Changes the contact mobile number and, when the registration is queued for the province,
/// queues the update after it in the same transaction. `false` when it is not this account's.
pub async fn change_mobile(
    db: &Db,
    id: i64,
    account_id: i64,
    mobile: &str,
) -> Result<bool, StoreError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a contact change")?;
        let changed = sqlx::query(
            "UPDATE registrations SET mobile = $1, updated_at = $2
             WHERE id = $3 AND account_id = $4",
        )
        .bind(mobile)
        .bind(now)
        .bind(id)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .context("changing the contact number")?
        .rows_affected();
        if changed == 1 {
            sqlx::query(super::outbox::ENQUEUE_CONTACT_UPDATE)
                .bind(id)
                .bind(now)
                .bind(r#"{"fields":["mobile"]}"#)
                .execute(&mut *tx)
                .await
                .context("queueing the contact update")?;
            audit::append(
                &mut *tx,
                &AuditEntry {
                    actor: &format!("account:{account_id}"),
                    action: "registration.contact_changed",
                    subject: &format!("registration:{id}"),
                    detail: serde_json::json!({ "fields": ["mobile"] }),
                },
                now,
            )
            .await?;
            tx.commit().await.context("committing a contact change")?;
        }
        changed == 1
    }))
}
