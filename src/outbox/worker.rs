//! The outbox worker: claims due rows with a lease, calls the province outside any transaction,
//! and records the answer. Retryable failures back off exponentially with jitter (honouring
//! `Retry-After`); after a timeout or a dropped answer it asks the province for the status
//! before sending again, so a record stored once is never counted twice. A circuit breaker
//! stops it hammering a province that is down; contact updates go out after the registration
//! they belong to, in order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use rand::RngExt;
use time::OffsetDateTime;

use crate::domain::delivery::OutboxKind;
use crate::domain::uscc::Uscc;
use crate::mail::{Mailer, messages};
use crate::security::id_vault::IdVault;
use crate::store::agreements::{self, AgreementVersion};
use crate::store::outbox::{self, Claimed, SendOutcome};
use crate::store::registrations::{self, SyncRecord, Verification as Checked};
use crate::store::{Db, StoreError};

use super::send_metrics::{BreakerState, SendResult, SyncMetrics};
use crate::province::client::{
    AgreementEvidence, ContactOutcome, ContactUpdate, EntityState, L3Outcome, L3Person, L3Request,
    LegalRep, Province, ProvincialError, RealNameEvidence, RegisterEntity, VerificationLevel,
};

/// Lanes of the running worker (see [`Worker::run`]).
pub const LANES: usize = 4;

pub use crate::config::WorkerConfig;

/// Delay after the `attempts`-th failure: `base · 2^(attempts-1)`, capped, ±20 % jitter, and never
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

/// The circuit breaker: when at least `threshold` of the province's last [`Breaker::WINDOW`]
/// answers were failures of the province itself, and they were at least 80 % of them, the
/// worker stops claiming rows for `cooldown` (so rows keep their attempts and the province is
/// left alone), then lets one row through as a probe; its answer closes or reopens the breaker.
/// A share rather than a run of failures, so that a province failing a third of the calls at
/// random, which still accepts the rest, is not mistaken for one that is down. A rejection or
/// any other answer counts as the province being up.
#[derive(Debug)]
pub struct Breaker {
    threshold: usize,
    cooldown: Duration,
    /// The last answers, newest at the back: `true` when the province failed.
    recent: std::collections::VecDeque<bool>,
    open_until: Option<std::time::Instant>,
    probing: bool,
}

impl Breaker {
    /// How many recent answers the breaker weighs.
    pub const WINDOW: usize = 20;

    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: usize::try_from(threshold)
                .unwrap_or(Self::WINDOW)
                .clamp(1, Self::WINDOW),
            cooldown,
            recent: std::collections::VecDeque::with_capacity(Self::WINDOW),
            open_until: None,
            probing: false,
        }
    }

    /// How many rows may be claimed now: the batch when closed, one probe once the cool-down
    /// is over, none while open.
    pub fn admit(&mut self, now: std::time::Instant, batch: i64) -> (i64, BreakerState) {
        match self.open_until {
            None => (batch, BreakerState::Closed),
            Some(until) if now < until => (0, BreakerState::Open),
            // One probe at a time, whichever lane asks first.
            Some(_) if self.probing => (0, BreakerState::HalfOpen),
            Some(_) => {
                self.probing = true;
                (1, BreakerState::HalfOpen)
            }
        }
    }

    /// The probe found nothing to send: the next [`admit`](Self::admit) may probe again.
    pub fn release_probe(&mut self) {
        self.probing = false;
    }

    /// Feeds one result in (`true`: the province answered). Returns the new state.
    pub fn record(&mut self, now: std::time::Instant, province_up: bool) -> BreakerState {
        if self.probing {
            self.probing = false;
            if province_up {
                self.open_until = None;
                self.recent.clear();
                return BreakerState::Closed;
            }
            self.open_until = Some(now + self.cooldown);
            return BreakerState::Open;
        }
        if self.recent.len() == Self::WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(!province_up);
        let failed = self.recent.iter().filter(|f| **f).count();
        if self.open_until.is_none()
            && failed >= self.threshold
            && failed * 5 >= self.recent.len() * 4
        {
            self.open_until = Some(now + self.cooldown);
        }
        match self.open_until {
            Some(_) => BreakerState::Open,
            None => BreakerState::Closed,
        }
    }
}

/// Tells owners by email that the province refused their registration.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub mailer: Mailer,
    /// Where `/me` is, for the link in the message.
    pub public_url: String,
}

pub struct Worker<P: Province> {
    db: Db,
    vault: Arc<IdVault>,
    province: P,
    config: WorkerConfig,
    metrics: Arc<SyncMetrics>,
    breaker: Mutex<Breaker>,
    l3: bool,
    notifier: Option<Notifier>,
}

/// What sending one row produced: the outcome to record, and whether the province answered
/// at all (for the breaker).
struct Sent {
    outcome: SendOutcome,
    province_up: bool,
}

impl Sent {
    fn answered(outcome: SendOutcome) -> Sent {
        Sent {
            outcome,
            province_up: true,
        }
    }
}

impl<P: Province> Worker<P> {
    pub fn new(
        db: Db,
        vault: Arc<IdVault>,
        province: P,
        config: WorkerConfig,
        metrics: Arc<SyncMetrics>,
    ) -> Self {
        let breaker = Breaker::new(config.breaker_threshold, config.breaker_cooldown);
        Worker {
            db,
            vault,
            province,
            config,
            metrics,
            breaker: Mutex::new(breaker),
            l3: false,
            notifier: None,
        }
    }

    /// Asks the province for L3 real-name verification before a registration is sent.
    #[must_use]
    pub fn with_l3(mut self, l3: bool) -> Self {
        self.l3 = l3;
        self
    }

    /// Emails owners whose registration the province rejected.
    #[must_use]
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Claims one batch of due rows (none while the breaker is open, one as a probe after the
    /// cool-down), sends them `concurrency` at a time, and records every outcome in one
    /// transaction. Returns how many rows were claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let outcomes = self
            .claim_and_send(self.config.batch, self.config.concurrency)
            .await?;
        let count = outcomes.len();
        record(&self.db, self.notifier.as_ref(), &outcomes).await?;
        Ok(count)
    }

    /// The sending half of [`run_once`]: the outcomes, not yet recorded (their rows stay leased
    /// until they are). Empty when nothing was due or the breaker is open.
    async fn claim_and_send(
        &self,
        batch: i64,
        concurrency: usize,
    ) -> Result<Vec<(Claimed, SendOutcome)>, StoreError> {
        let (limit, state) = self.lock_breaker().admit(Instant::now(), batch);
        self.metrics.set_breaker(state);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = OffsetDateTime::now_utc();
        let lease = time::Duration::try_from(self.config.lease).unwrap_or(time::Duration::MINUTE);
        let claimed = outbox::claim(&self.db, now, lease, limit).await;
        let sent = match claimed {
            Ok(rows) if !rows.is_empty() => self.send_all(rows, concurrency).await,
            other => other.map(|_| Vec::new()),
        };
        let sent = match sent {
            Ok(sent) if !sent.is_empty() => sent,
            other => {
                // A probe that sent nothing (no row due, or the database failed) decided
                // nothing: give it back, or no lane would ever probe again.
                if state == BreakerState::HalfOpen {
                    self.lock_breaker().release_probe();
                }
                return other.map(|_| Vec::new());
            }
        };
        let mut outcomes = Vec::with_capacity(sent.len());
        let mut breaker = self.lock_breaker();
        let mut state = self.metrics.breaker();
        for (row, s) in sent {
            self.metrics.record(SendResult::of(&s.outcome));
            state = breaker.record(Instant::now(), s.province_up);
            outcomes.push((row, s.outcome));
        }
        self.metrics.set_breaker(state);
        Ok(outcomes)
    }

    /// Sends `rows`, `concurrency` at a time.
    async fn send_all(
        &self,
        rows: Vec<Claimed>,
        concurrency: usize,
    ) -> Result<Vec<(Claimed, Sent)>, StoreError> {
        let current = agreements::current(&self.db).await?;
        let current = current.as_ref();
        stream::iter(rows)
            .map(|row| async move {
                let sent = self.send(&row, current).await;
                sent.map(|s| (row, s))
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await
    }

    fn lock_breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        // A panic while holding the lock cannot leave the breaker inconsistent (plain fields).
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn send(
        &self,
        row: &Claimed,
        current: Option<&AgreementVersion>,
    ) -> Result<Sent, StoreError> {
        let Some(record) = registrations::sync_record(&self.db, row.registration_id).await? else {
            return Ok(Sent::answered(SendOutcome::Dead {
                error: "registration_missing".to_owned(),
            }));
        };
        match row.kind {
            OutboxKind::UpdateContact => return Ok(self.send_contact(row, &record).await),
            OutboxKind::Register => {}
        }
        let signature = match (
            &record.signed_version,
            &record.signed_digest,
            record.signed_at,
            &record.signer_name,
        ) {
            (Some(version), Some(digest), Some(signed_at), Some(signer_name))
                if current.is_none_or(|c| &c.version == version) =>
            {
                Some(AgreementEvidence {
                    version: version.clone(),
                    digest: digest.clone(),
                    signed_at,
                    signer_name: signer_name.clone(),
                })
            }
            _ => None,
        };
        let (Some(signature), Ok(id_number), Ok(uscc)) = (
            signature,
            self.vault.open(&record.legal_rep_id_sealed),
            Uscc::parse(&record.uscc),
        ) else {
            // Not signed under the current agreement (or unreadable): nothing counts until the
            // owner signs; look again later.
            return Ok(Sent::answered(self.retry(row, None, "not_ready")));
        };
        let level = match Checked::parse(&record.verification) {
            Some(Checked::Matched) => VerificationLevel::L2,
            Some(Checked::Approved) => VerificationLevel::Manual,
            _ => return Ok(Sent::answered(self.retry(row, None, "not_verified"))),
        };
        if self.l3 && record.l3_result.is_none() {
            let request = L3Request {
                uscc: record.uscc.clone(),
                legal_rep: L3Person {
                    name: record.legal_rep_name.clone(),
                    id_number: id_number.as_str().to_owned(),
                },
            };
            self.metrics.record_call();
            match self.province.verify_l3(&request).await {
                Ok(L3Outcome::Pass) => {
                    registrations::record_l3(&self.db, row.registration_id, None).await?;
                }
                Ok(L3Outcome::Fail { reason }) => {
                    registrations::record_l3(&self.db, row.registration_id, Some(&reason)).await?;
                    return Ok(Sent::answered(SendOutcome::Rejected {
                        reason: format!("三级实名核验未通过：{reason}"),
                    }));
                }
                Err(err) => return Ok(self.failed(row, &record.uscc, &err)),
            }
        }
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
            verification: RealNameEvidence {
                level,
                at: record.updated_at,
            },
            agreement: signature,
            referral_code: record.referral_code,
        };
        // A previous attempt may have been stored without our hearing the answer: ask first.
        if row.attempts > 1 {
            self.metrics.record_call();
            match self.province.status(&record.uscc).await {
                Ok(Some(status)) if status.state == EntityState::Accepted => {
                    return Ok(Sent::answered(SendOutcome::Accepted));
                }
                // Unknown, or refused: a refusal may be of the data before the owner's
                // correction, and resending cannot count twice (only acceptances count), so
                // the province judges what we send now.
                Ok(_) => {}
                // Without an answer we cannot know whether a resend would be a duplicate.
                Err(err) => return Ok(self.failed(row, &record.uscc, &err)),
            }
        }
        self.metrics.record_call();
        Ok(match self.province.register(&request).await {
            Ok(_) => Sent::answered(SendOutcome::Accepted),
            Err(ProvincialError::Rejected { message, .. }) => {
                Sent::answered(SendOutcome::Rejected { reason: message })
            }
            Err(err) => self.failed(row, &record.uscc, &err),
        })
    }

    /// A contact update: the registration's current contact data under the row's id as the
    /// revision, so the province keeps the newest even if an old event were replayed.
    async fn send_contact(&self, row: &Claimed, record: &SyncRecord) -> Sent {
        let update = ContactUpdate {
            mobile: Some(record.mobile.clone()),
            email: Some(record.email.clone()),
            revision: row.id,
        };
        self.metrics.record_call();
        match self.province.update_contact(&record.uscc, &update).await {
            Ok(ContactOutcome::Applied { .. } | ContactOutcome::Stale { .. }) => {
                Sent::answered(SendOutcome::Accepted)
            }
            // The registration before it was refused: its resubmission will carry the new
            // contact data, so this event has nothing left to do.
            Ok(ContactOutcome::NotRegistered) => Sent::answered(SendOutcome::Skipped {
                note: "entity_not_registered".to_owned(),
            }),
            Err(ProvincialError::Rejected { code, .. }) => Sent::answered(SendOutcome::Dead {
                error: format!("contact update rejected: {code}"),
            }),
            Err(err) => self.failed(row, &record.uscc, &err),
        }
    }

    /// A call that raised an error: retry when the same request may succeed later (the
    /// province being down is the breaker's business), otherwise an admin decides.
    fn failed(&self, row: &Claimed, uscc: &str, err: &ProvincialError) -> Sent {
        if err.is_retryable() {
            tracing::info!(%uscc, error = %err, "province call will be retried");
            // A replayed nonce is our problem, not the province being down.
            let province_up = matches!(err, ProvincialError::Replay { .. });
            Sent {
                outcome: self.retry(row, err.retry_after(), "retryable"),
                province_up,
            }
        } else {
            tracing::warn!(%uscc, error = %err, "province call failed permanently");
            Sent::answered(SendOutcome::Dead {
                error: err.to_string(),
            })
        }
    }

    /// Sends until `shutdown` turns true, in [`LANES`] lanes that each claim, send and record
    /// their own batches (the batch and the concurrency shared out between them): a call held
    /// until its timeout stalls one lane, not every row, and one lane records while the others
    /// send. Each lane goes straight on while there is work and pauses briefly when the queue is
    /// empty, the breaker is open or the database is unavailable. Errors are logged, never
    /// fatal: the rows stay in the outbox.
    pub async fn run(self, shutdown: tokio::sync::watch::Receiver<bool>)
    where
        P: 'static,
    {
        let lanes = LANES.min(self.config.concurrency.max(1));
        let lane_count = i64::try_from(lanes).unwrap_or(1);
        let batch = (self.config.batch / lane_count).max(1);
        let concurrency = (self.config.concurrency / lanes).max(1);
        let worker = Arc::new(self);
        let running: Vec<_> = (0..lanes)
            .map(|lane| {
                let worker = Arc::clone(&worker);
                let shutdown = shutdown.clone();
                tokio::spawn(async move { worker.lane(lane, batch, concurrency, shutdown).await })
            })
            .collect();
        for handle in running {
            if let Err(err) = handle.await {
                tracing::error!(error = %err, "an outbox lane ended abnormally");
            }
        }
    }

    async fn lane(
        &self,
        lane: usize,
        batch: i64,
        concurrency: usize,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        const IDLE: Duration = Duration::from_millis(500);
        const AFTER_ERROR: Duration = Duration::from_secs(5);
        // Only the first lane emails, so two lanes never tell an owner the same thing twice.
        let notifier = self.notifier.as_ref().filter(|_| lane == 0);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let done = match self.claim_and_send(batch, concurrency).await {
                Ok(outcomes) if outcomes.is_empty() => {
                    // Refusals found by the reconciliation are told here too.
                    match notifier {
                        Some(notifier) => notify_rejections(&self.db, notifier).await.map(|()| 0),
                        None => Ok(0),
                    }
                }
                Ok(outcomes) => record(&self.db, notifier, &outcomes)
                    .await
                    .map(|()| outcomes.len()),
                Err(err) => Err(err),
            };
            let pause = match done {
                Ok(0) => IDLE,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&err), lane, "outbox worker");
                    AFTER_ERROR
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn retry(&self, row: &Claimed, retry_after: Option<Duration>, why: &str) -> SendOutcome {
        // This failure included.
        let failures = row.failures.saturating_add(1);
        if failures >= self.config.max_attempts {
            return SendOutcome::Dead {
                error: format!("{why}: gave up after {failures} failed attempts"),
            };
        }
        let delay = backoff(&self.config, failures, retry_after);
        SendOutcome::Retry {
            at: OffsetDateTime::now_utc()
                + time::Duration::try_from(delay).unwrap_or(time::Duration::MINUTE),
            error: why.to_owned(),
        }
    }
}

/// Records a batch's outcomes, then tells the owners of any refusals.
async fn record(
    db: &Db,
    notifier: Option<&Notifier>,
    outcomes: &[(Claimed, SendOutcome)],
) -> Result<(), StoreError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    outbox::finish_all(db, outcomes).await?;
    if let Some(notifier) = notifier {
        notify_rejections(db, notifier).await?;
    }
    Ok(())
}

/// Emails the owners of rejected registrations not yet told. A message is marked sent only
/// after the mail server took it, so a crash in between sends it again rather than never.
async fn notify_rejections(db: &Db, notifier: &Notifier) -> Result<(), StoreError> {
    for pending in registrations::rejections_to_notify(db, 20).await? {
        let me = format!("{}/me", notifier.public_url);
        let sent = match messages::province_rejected(
            &pending.email,
            &pending.entity_name,
            &pending.reason,
            &me,
        ) {
            Ok(mail) => notifier.mailer.send(mail).await,
            Err(err) => Err(err),
        };
        match sent {
            Ok(()) => registrations::mark_notified(db, pending.registration_id).await?,
            Err(err) if err.is_retryable() => {
                tracing::warn!(error = %err, "rejection email will be retried");
                return Ok(());
            }
            Err(err) => {
                // An address the mail server refuses: the owner still sees it on /me.
                tracing::warn!(error = %err, "rejection email failed permanently");
                registrations::mark_notified(db, pending.registration_id).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_when_the_province_is_down_and_a_probe_decides() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(10));
        assert_eq!(b.admit(t0, 20), (20, BreakerState::Closed));
        assert_eq!(b.record(t0, false), BreakerState::Closed);
        assert_eq!(b.record(t0, false), BreakerState::Closed);
        assert_eq!(b.record(t0, false), BreakerState::Open);
        // Open: nothing is claimed until the cool-down is over.
        assert_eq!(
            b.admit(t0 + Duration::from_secs(9), 20),
            (0, BreakerState::Open)
        );
        // Then one probe, for one lane only; a probe that found nothing to send is given back.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(t1, 20), (1, BreakerState::HalfOpen));
        assert_eq!(b.admit(t1, 20), (0, BreakerState::HalfOpen));
        b.release_probe();
        assert_eq!(b.admit(t1, 20), (1, BreakerState::HalfOpen));
        // Its failure reopens at once for another cool-down.
        assert_eq!(b.record(t1, false), BreakerState::Open);
        assert_eq!(b.admit(t1 + Duration::from_secs(5), 20).0, 0);
        // A successful probe closes it, forgets the failures, and the full batch flows again.
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(b.admit(t2, 20), (1, BreakerState::HalfOpen));
        assert_eq!(b.record(t2, true), BreakerState::Closed);
        assert_eq!(b.admit(t2, 20), (20, BreakerState::Closed));
        assert_eq!(b.record(t2, false), BreakerState::Closed);
    }

    #[test]
    fn a_province_failing_now_and_then_is_not_cut_off() {
        let now = Instant::now();
        let mut b = Breaker::new(5, Duration::from_secs(30));
        // Half the calls fail, in runs of five: the other half are accepted.
        let pattern = [
            true, true, true, true, true, false, false, false, false, false,
        ];
        for round in 0..100 {
            for up in pattern {
                assert_eq!(b.record(now, up), BreakerState::Closed, "round {round}");
            }
        }
        // When nearly everything fails, it opens.
        let opened = (0..Breaker::WINDOW)
            .map(|_| b.record(now, false))
            .position(|s| s == BreakerState::Open);
        assert!(opened.is_some_and(|n| n < Breaker::WINDOW), "{opened:?}");
    }

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
