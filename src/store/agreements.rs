//! Published agreement versions (immutable rows; the database refuses UPDATE and DELETE).

use time::OffsetDateTime;

use crate::domain::agreement;
use crate::on_pool;

use super::{Context, Db, StoreError, WritePool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgreementVersion {
    pub version: String,
    pub body: String,
    pub digest: String,
    pub published_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("版本号“{0}”无效：只能包含字母、数字、点、横线和下划线，最长32位")]
    BadVersion(String),
    #[error("协议正文为空")]
    EmptyText,
    #[error("版本“{0}”已经发布过，已发布的版本不能修改；请使用新的版本号")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The newest published version, if any.
pub async fn current(db: &Db) -> Result<Option<AgreementVersion>, StoreError> {
    let row = on_pool!(db, |pool| {
        sqlx::query_as::<_, AgreementVersion>(
            "SELECT version, body, digest, published_at FROM agreement_versions
             ORDER BY published_at DESC, version DESC LIMIT 1",
        )
        .fetch_optional(pool)
        .await
        .context("reading the current agreement")?
    });
    Ok(row)
}

pub async fn get(db: &Db, version: &str) -> Result<Option<AgreementVersion>, StoreError> {
    let row = on_pool!(db, |pool| {
        sqlx::query_as::<_, AgreementVersion>(
            "SELECT version, body, digest, published_at FROM agreement_versions WHERE version = $1",
        )
        .bind(version)
        .fetch_optional(pool)
        .await
        .context("reading an agreement version")?
    });
    Ok(row)
}

/// Publishes `body` as `version`; the digest is computed here, never supplied. Audited.
pub async fn publish(db: &Db, version: &str, body: &str) -> Result<AgreementVersion, PublishError> {
    publish_as(db, version, body, Some("cli")).await
}

/// `actor: None` for the built-in first version, which is installed with the schema (like the
/// division seed) rather than published by anyone.
async fn publish_as(
    db: &Db,
    version: &str,
    body: &str,
    actor: Option<&str>,
) -> Result<AgreementVersion, PublishError> {
    if !agreement::is_valid_version(version) {
        return Err(PublishError::BadVersion(version.to_owned()));
    }
    if body.trim().is_empty() {
        return Err(PublishError::EmptyText);
    }
    let row = AgreementVersion {
        version: version.to_owned(),
        body: body.to_owned(),
        digest: agreement::sha256_hex(body),
        published_at: OffsetDateTime::now_utc(),
    };
    let inserted = on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.context("starting to publish")?;
        let done = sqlx::query(
            "INSERT INTO agreement_versions (version, body, digest, published_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (version) DO NOTHING",
        )
        .bind(&row.version)
        .bind(&row.body)
        .bind(&row.digest)
        .bind(row.published_at)
        .execute(&mut *tx)
        .await
        .context("publishing an agreement version")?
        .rows_affected();
        if let (1.., Some(actor)) = (done, actor) {
            super::audit::append(
                &mut *tx,
                &super::audit::AuditEntry {
                    actor,
                    action: "agreement.published",
                    subject: &format!("agreement:{}", row.version),
                    detail: serde_json::json!({ "digest": row.digest }),
                },
                row.published_at,
            )
            .await?;
        }
        tx.commit().await.context("committing the agreement")?;
        done
    });
    if inserted == 0 {
        return Err(PublishError::Exists(version.to_owned()));
    }
    Ok(row)
}

/// Publishes the built-in first version when nothing is published yet.
pub async fn ensure_built_in(db: &Db) -> Result<(), StoreError> {
    if current(db).await?.is_some() {
        return Ok(());
    }
    match publish_as(
        db,
        agreement::BUILT_IN_VERSION,
        agreement::BUILT_IN_TEXT,
        None,
    )
    .await
    {
        Ok(_) | Err(PublishError::Exists(_)) => Ok(()),
        Err(PublishError::Store(e)) => Err(e),
        Err(PublishError::BadVersion(_) | PublishError::EmptyText) => Ok(()),
    }
}
