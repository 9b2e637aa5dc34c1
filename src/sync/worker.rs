//! The outbox worker: claims due rows with a lease, calls the province outside any transaction,
//! and records the answer. Retryable failures back off exponentially with jitter (honouring
//! `Retry-After`); after a timeout or a dropped answer it asks the province for the status
//! before sending again, so a record stored once is never counted twice.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use time::OffsetDateTime;

use crate::domain::uscc::Uscc;
use crate::id_vault::IdVault;
use crate::store::outbox::{self, Claimed, Outcome};
use crate::store::registrations::{self, Verification as Checked};
use crate::store::{Db, StoreError, agreements};

use super::client::{
    AgreementEvidence, EntityState, LegalRep, Province, ProvincialError, RegisterEntity,
    Verification, VerificationLevel,
};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long a claimed row is ours; a crashed worker's rows come back after it.
    pub lease: Duration,
    pub batch: i64,
    /// Attempts before a row goes to the dead-letter list.
    pub max_attempts: i64,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(60),
            batch: 20,
            max_attempts: 12,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
        }
    }
}

/// Delay before attempt `attempts + 1`: `base · 2^(attempts-1)`, capped, ±20 % jitter, and never
/// sooner than the province's `Retry-After`.
pub fn backoff(config: &WorkerConfig, attempts: i64, retry_after: Option<Duration>) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let raw = config
        .base_delay
        .saturating_mul(2u32.saturating_pow(exp))
        .min(config.max_delay);
    let jitter = rand::rng().random_range(0.8..1.2);
    let delay = raw.mul_f64(jitter);
    retry_after.map_or(delay, |ra| delay.max(ra.min(config.max_delay)))
}

pub struct Worker<P: Province> {
    db: Db,
    vault: Arc<IdVault>,
    province: P,
    config: WorkerConfig,
}

impl<P: Province> Worker<P> {
    pub fn new(db: Db, vault: Arc<IdVault>, province: P, config: WorkerConfig) -> Self {
        Worker {
            db,
            vault,
            province,
            config,
        }
    }

    /// Claims one batch of due rows and sends them; returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = OffsetDateTime::now_utc();
        let lease = time::Duration::try_from(self.config.lease).unwrap_or(time::Duration::MINUTE);
        let claimed = outbox::claim(&self.db, now, lease, self.config.batch).await?;
        for row in &claimed {
            let outcome = self.send(row).await?;
            outbox::finish(&self.db, row, &outcome).await?;
        }
        Ok(claimed.len())
    }

    async fn send(&self, row: &Claimed) -> Result<Outcome, StoreError> {
        let Some(record) = registrations::sync_record(&self.db, row.registration_id).await? else {
            return Ok(Outcome::Dead {
                error: "registration_missing".to_owned(),
            });
        };
        let signatures = registrations::signatures(&self.db, row.registration_id).await?;
        let current = agreements::current(&self.db).await?;
        let signed = signatures
            .first()
            .filter(|s| current.as_ref().is_none_or(|c| c.version == s.version));
        let (Some(signature), Ok(id_number), Ok(uscc)) = (
            signed,
            self.vault.open(&record.legal_rep_id_sealed),
            Uscc::parse(&record.uscc),
        ) else {
            // Not signed under the current agreement (or unreadable): nothing counts until the
            // owner signs; look again later.
            return Ok(self.retry(row, None, "not_ready"));
        };
        let level = match Checked::parse(&record.verification) {
            Some(Checked::Matched) => VerificationLevel::L2,
            Some(Checked::Approved) => VerificationLevel::Manual,
            _ => return Ok(self.retry(row, None, "not_verified")),
        };
        let request = RegisterEntity {
            uscc: record.uscc.clone(),
            name: record.entity_name,
            kind: uscc.entity_kind().as_str().to_owned(),
            division_code: uscc.division_code().to_owned(),
            legal_rep: LegalRep {
                name: record.legal_rep_name,
                id_number: id_number.as_str().to_owned(),
                mobile: record.mobile,
            },
            email: Some(record.email),
            verification: Verification {
                level,
                at: record.updated_at,
            },
            agreement: AgreementEvidence {
                version: signature.version.clone(),
                digest: signature.digest.clone(),
                signed_at: signature.signed_at,
                signer_name: signature.signer_name.clone(),
            },
            referral_code: record.referral_code,
        };
        // A previous attempt may have been stored without our hearing the answer: ask first.
        if row.attempts > 1
            && let Ok(Some(status)) = self.province.status(&record.uscc).await
        {
            return Ok(match status.state {
                EntityState::Accepted => Outcome::Accepted,
                EntityState::Rejected { reason } => Outcome::Rejected { reason },
            });
        }
        Ok(match self.province.register(&request).await {
            Ok(_) => Outcome::Accepted,
            Err(ProvincialError::Rejected { message, .. }) => Outcome::Rejected { reason: message },
            Err(err) if err.is_retryable() => {
                tracing::info!(uscc = %record.uscc, error = %err, "province send will be retried");
                self.retry(row, err.retry_after(), "retryable")
            }
            Err(err) => {
                tracing::warn!(uscc = %record.uscc, error = %err, "province send failed permanently");
                Outcome::Dead {
                    error: err.to_string(),
                }
            }
        })
    }

    /// Sends until `shutdown` turns true: straight on while there is work, a short pause when
    /// the queue is empty or the database is unavailable. Errors are logged, never fatal: the
    /// rows stay in the outbox.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        const IDLE: Duration = Duration::from_secs(1);
        const AFTER_ERROR: Duration = Duration::from_secs(5);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pause = match self.run_once().await {
                Ok(0) => IDLE,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(error = %crate::web::error::error_chain(&err), "outbox worker");
                    AFTER_ERROR
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn retry(&self, row: &Claimed, retry_after: Option<Duration>, why: &str) -> Outcome {
        if row.attempts >= self.config.max_attempts {
            return Outcome::Dead {
                error: format!("{why}: gave up after {} attempts", row.attempts),
            };
        }
        let delay = backoff(&self.config, row.attempts, retry_after);
        Outcome::Retry {
            at: OffsetDateTime::now_utc()
                + time::Duration::try_from(delay).unwrap_or(time::Duration::MINUTE),
            error: why.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_honours_retry_after() {
        let config = WorkerConfig::default();
        for attempts in 1..=3 {
            let d = backoff(&config, attempts, None).as_secs_f64();
            let expected = 2f64 * 2f64.powi(i32::try_from(attempts - 1).unwrap());
            assert!(
                d >= expected * 0.8 && d <= expected * 1.2,
                "{attempts}: {d}"
            );
        }
        assert!(backoff(&config, 30, None) <= config.max_delay.mul_f64(1.2));
        assert!(backoff(&config, 1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        // A province asking for an hour is capped at our longest delay.
        assert!(
            backoff(&config, 1, Some(Duration::from_secs(3600))) <= config.max_delay.mul_f64(1.2)
        );
    }
}
