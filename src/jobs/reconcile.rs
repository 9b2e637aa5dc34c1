//! The daily reconciliation: compares what we believe the province holds with what its status
//! query (§5.3) says, repairs the differences that have one right answer, and flags the
//! contradictions for a person.
//!
//! | ours                       | province         | what happens                               |
//! |----------------------------|------------------|--------------------------------------------|
//! | accepted                   | accepted         | fine                                       |
//! | accepted                   | unknown          | `requeued`: the outbox sends it again      |
//! | pending (row pending/dead) | accepted         | `marked_accepted`                          |
//! | pending (row dead)         | rejected         | `marked_rejected`, reason kept, owner told |
//! | pending (row pending)      | rejected         | fine: the worker resends and hears again   |
//! | accepted                   | rejected         | `flagged`, nothing changed                 |
//! | rejected                   | accepted         | `flagged`, nothing changed                 |
//! | rejected                   | unknown/rejected | fine: the owner must fix it                |
//! | pending                    | unknown          | fine: still on its way                     |
//!
//! A province that fails (any [`ProvincialError`]) stops the run: an outage must never read as
//! "unknown" and requeue or flag records that are fine.

use std::future::Future;
use std::pin::pin;

use futures_util::{StreamExt, stream};
use thiserror::Error;
use time::OffsetDateTime;

use crate::domain::calendar::BEIJING;
use crate::domain::delivery::{OutboxState, SyncState};
use crate::store::reconciliations::{self, Candidate, Counts, Repair};
use crate::store::{Db, StoreError};
use crate::telemetry::error_chain;

use crate::province::client::{EntityState, Province, ProvincialError};

/// Status queries in flight at once: enough to finish a county in minutes, few enough not to
/// look like an attack to the province's rate limiter.
const CONCURRENCY: usize = 8;
/// Registrations read per keyset page.
const PAGE: i64 = 500;
/// The reason recorded when the province rejects without saying why.
const NO_REASON: &str = "省级平台拒绝了该记录，未说明原因";

/// What a finished (or stopped) run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The `sync_reconciliations` row.
    pub run: i64,
    pub checked: u64,
    pub repaired: u64,
    pub flagged: u64,
}

impl Report {
    fn new(run: i64, counts: Counts) -> Report {
        Report {
            run,
            checked: counts.checked,
            repaired: counts.repaired,
            flagged: counts.flagged,
        }
    }
}

#[derive(Debug, Error)]
pub enum ReconcileError {
    /// The province failed; `partial` counts what was done before.
    #[error("reconciliation run {} stopped: the status query for {uscc} failed", .partial.run)]
    Province {
        partial: Report,
        uscc: String,
        #[source]
        source: ProvincialError,
    },
    /// Shutdown was requested mid-run; every repair so far is committed.
    #[error("reconciliation run {} interrupted by shutdown", .partial.run)]
    Interrupted { partial: Report },
    #[error("reconciliation failed")]
    Store(#[from] StoreError),
}

impl ReconcileError {
    /// The counts of a run that stopped early, when it got as far as opening its row.
    pub fn partial(&self) -> Option<&Report> {
        match self {
            ReconcileError::Province { partial, .. } | ReconcileError::Interrupted { partial } => {
                Some(partial)
            }
            ReconcileError::Store(_) => None,
        }
    }
}

/// What to do about one registration; `None` from [`decide`] means nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Repair(Repair),
    Flag,
}

/// The table in the module documentation. Our side is the registration's `sync_state`; a dead
/// outbox row is still "pending" to us.
pub fn decide(ours: &Candidate, theirs: Option<&EntityState>) -> Option<Verdict> {
    match (ours.sync_state, theirs) {
        (SyncState::Accepted, Some(EntityState::Accepted))
        | (SyncState::Rejected, None | Some(EntityState::Rejected { .. }))
        | (SyncState::Pending, None) => None,
        (SyncState::Accepted, None) => Some(Verdict::Repair(Repair::Requeue)),
        (SyncState::Pending, Some(EntityState::Accepted)) => {
            Some(Verdict::Repair(Repair::MarkAccepted))
        }
        // Still in the worker's hands: the refusal may be of the data before an owner's
        // correction, and the worker resends and hears the province on the data it sends.
        (SyncState::Pending, Some(EntityState::Rejected { .. }))
            if ours.outbox_state == OutboxState::Pending =>
        {
            None
        }
        (SyncState::Pending, Some(EntityState::Rejected { reason })) => {
            let reason = if reason.trim().is_empty() {
                NO_REASON
            } else {
                reason
            };
            Some(Verdict::Repair(Repair::MarkRejected {
                reason: reason.to_owned(),
            }))
        }
        // Accepted here and rejected there, or the reverse: a person has to find out which
        // side is right.
        (SyncState::Accepted, Some(EntityState::Rejected { .. }))
        | (SyncState::Rejected, Some(EntityState::Accepted)) => Some(Verdict::Flag),
    }
}

/// The province's side as recorded on a discrepancy (the reason stays on the registration).
fn theirs_label(theirs: Option<&EntityState>) -> &'static str {
    match theirs {
        None => "unknown",
        Some(EntityState::Accepted) => "accepted",
        Some(EntityState::Rejected { .. }) => "rejected",
    }
}

/// Runs one reconciliation over every registration with a registration event. `progress` is
/// called with (checked, total) after each registration.
pub async fn reconcile<P: Province>(
    db: &Db,
    province: &P,
    progress: impl Fn(u64, u64),
) -> Result<Report, ReconcileError> {
    reconcile_until(db, province, progress, std::future::pending()).await
}

/// [`reconcile`] that stops, recording why, when `stop` completes.
async fn reconcile_until<P: Province>(
    db: &Db,
    province: &P,
    progress: impl Fn(u64, u64),
    stop: impl Future<Output = ()>,
) -> Result<Report, ReconcileError> {
    let run = reconciliations::start(db, OffsetDateTime::now_utc()).await?;
    let mut counts = Counts::default();
    let walked = walk(db, province, run, &mut counts, &progress, stop).await;
    let error = match &walked {
        Ok(()) => None,
        Err(Stop::Province { uscc, source }) => Some(format!(
            "status query for {uscc} failed: {}",
            error_chain(source)
        )),
        Err(Stop::Interrupted) => Some("interrupted by shutdown".to_owned()),
        Err(Stop::Store(source)) => Some(error_chain(source)),
    };
    // Recorded even when the walk failed on the database: that write may well succeed, and a
    // run row without finished_at would look like a run still going.
    let closed =
        reconciliations::finish(db, run, counts, error.as_deref(), OffsetDateTime::now_utc()).await;
    let partial = Report::new(run, counts);
    match walked {
        Ok(()) => {
            closed?;
            Ok(partial)
        }
        Err(Stop::Province { uscc, source }) => Err(ReconcileError::Province {
            partial,
            uscc,
            source,
        }),
        Err(Stop::Interrupted) => Err(ReconcileError::Interrupted { partial }),
        Err(Stop::Store(source)) => Err(ReconcileError::Store(source)),
    }
}

/// Why a walk ended early.
enum Stop {
    Province {
        uscc: String,
        source: ProvincialError,
    },
    Interrupted,
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Stop {
        Stop::Store(e)
    }
}

async fn walk<P: Province>(
    db: &Db,
    province: &P,
    run: i64,
    counts: &mut Counts,
    progress: &impl Fn(u64, u64),
    stop: impl Future<Output = ()>,
) -> Result<(), Stop> {
    let total = u64::try_from(reconciliations::candidate_count(db).await?).unwrap_or(0);
    progress(0, total);
    let mut stop = pin!(stop);
    let mut after = 0;
    loop {
        let page = reconciliations::candidates(db, after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.registration_id;
        // In id order, `CONCURRENCY` queries ahead of the one being compared.
        let mut answers = stream::iter(page)
            .map(|seen| async move {
                let theirs = province.status(&seen.uscc).await;
                (seen, theirs)
            })
            .buffered(CONCURRENCY);
        loop {
            let next = tokio::select! {
                next = answers.next() => next,
                () = &mut stop => return Err(Stop::Interrupted),
            };
            let Some((seen, theirs)) = next else { break };
            let theirs = match theirs {
                Ok(status) => status.map(|s| s.state),
                Err(source) => {
                    return Err(Stop::Province {
                        uscc: seen.uscc,
                        source,
                    });
                }
            };
            compare(db, run, &seen, theirs.as_ref(), counts).await?;
            counts.checked += 1;
            progress(counts.checked, total.max(counts.checked));
        }
    }
}

/// Compares one registration and acts on the verdict.
async fn compare(
    db: &Db,
    run: i64,
    seen: &Candidate,
    theirs: Option<&EntityState>,
    counts: &mut Counts,
) -> Result<(), StoreError> {
    let Some(verdict) = decide(seen, theirs) else {
        return Ok(());
    };
    let label = theirs_label(theirs);
    let now = OffsetDateTime::now_utc();
    match verdict {
        Verdict::Repair(repair) => {
            if reconciliations::repair(db, run, seen, label, &repair, now).await? {
                counts.repaired += 1;
                tracing::info!(
                    run,
                    registration = seen.registration_id,
                    uscc = %seen.uscc,
                    action = repair.action(),
                    "reconciliation repaired a registration"
                );
            } else {
                tracing::debug!(
                    run,
                    registration = seen.registration_id,
                    "changed during reconciliation; left for the next run"
                );
            }
        }
        Verdict::Flag => {
            reconciliations::flag(db, run, seen, label, now).await?;
            counts.flagged += 1;
            tracing::warn!(
                run,
                registration = seen.registration_id,
                uscc = %seen.uscc,
                ours = %seen.ours(),
                theirs = label,
                "reconciliation flagged a contradiction for review"
            );
        }
    }
    Ok(())
}

/// The next time the wall clock in Beijing shows `at`, strictly after `now`.
pub fn next_run(now: OffsetDateTime, at: time::Time) -> OffsetDateTime {
    let local = now.to_offset(BEIJING);
    let today = local.replace_time(at);
    if today > local {
        today
    } else {
        today + time::Duration::DAY
    }
}

/// Reconciles every day at `at` (Beijing time) until `shutdown` turns true (or its sender is
/// gone). A failed run is logged and retried at the next day's time, not sooner: the worker's
/// own status checks cover the gap, and a province that is down needs no extra load.
pub async fn run_daily<P: Province>(
    db: Db,
    province: P,
    at: time::Time,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let province = std::sync::Arc::new(province);
    let stopping = shutdown.clone();
    let next = |now| next_run(now, at);
    super::schedule::every("reconciliation", next, shutdown, |_due| {
        let (db, province, mut stopping) = (db.clone(), province.clone(), stopping.clone());
        async move {
            let stop = async move {
                // A dropped sender means the server is gone: stop as well.
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            match reconcile_until(&db, &*province, |_, _| {}, stop).await {
                Ok(report) => tracing::info!(
                    run = report.run,
                    checked = report.checked,
                    repaired = report.repaired,
                    flagged = report.flagged,
                    "reconciliation finished"
                ),
                Err(err) => {
                    let partial = err.partial().copied();
                    tracing::warn!(
                        run = partial.map(|p| p.run),
                        checked = partial.map(|p| p.checked),
                        repaired = partial.map(|p| p.repaired),
                        flagged = partial.map(|p| p.flagged),
                        error = %error_chain(&err),
                        "reconciliation stopped"
                    );
                }
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use time::macros::{datetime, time};

    use super::*;

    #[test]
    fn next_run_is_the_next_beijing_wall_clock_time_strictly_after_now() {
        let at = time!(02:30);
        // 01:00 Beijing (17:00 UTC the day before): today at 02:30 Beijing.
        assert_eq!(
            next_run(datetime!(2026-03-01 17:00 UTC), at),
            datetime!(2026-03-02 02:30 +8)
        );
        // Exactly at the time: tomorrow, so a run that finishes at once does not repeat.
        assert_eq!(
            next_run(datetime!(2026-03-01 18:30 UTC), at),
            datetime!(2026-03-03 02:30 +8)
        );
        // Just after, in UTC already the same calendar day as Beijing.
        assert_eq!(
            next_run(datetime!(2026-03-02 08:00 UTC), at),
            datetime!(2026-03-03 02:30 +8)
        );
        // Across a month and a year end; leap day.
        assert_eq!(
            next_run(datetime!(2026-12-31 20:00 UTC), time!(23:59)),
            datetime!(2027-01-01 23:59 +8)
        );
        assert_eq!(
            next_run(datetime!(2028-02-27 20:00 UTC), at),
            datetime!(2028-02-29 02:30 +8)
        );
        // Any offset in, the same instant out.
        assert_eq!(
            next_run(datetime!(2026-03-02 01:00 +8), at),
            datetime!(2026-03-02 02:30 +8)
        );
    }

    #[test]
    fn next_run_is_always_within_a_day() {
        let mut now = datetime!(2026-01-01 00:00 UTC);
        for _ in 0..200 {
            let next = next_run(now, time!(02:30));
            assert!(next > now && next - now <= time::Duration::DAY);
            assert_eq!(next.to_offset(BEIJING).time(), time!(02:30));
            now += time::Duration::minutes(7 * 60 + 13);
        }
    }

    fn ours(sync_state: &str, outbox_state: &str, attempts: i64) -> Candidate {
        Candidate {
            registration_id: 1,
            uscc: "91220322MA0Y3K2B1F".to_owned(),
            sync_state: SyncState::parse_code(sync_state).unwrap(),
            outbox_id: 1,
            outbox_state: OutboxState::parse_code(outbox_state).unwrap(),
            attempts,
        }
    }

    #[test]
    fn every_row_of_the_table() {
        let rejected = EntityState::Rejected {
            reason: "列入严重失信主体名单".to_owned(),
        };
        let accepted = EntityState::Accepted;
        let mark_rejected = Some(Verdict::Repair(Repair::MarkRejected {
            reason: "列入严重失信主体名单".to_owned(),
        }));
        let done = |state| ours(state, "done", 1);
        assert_eq!(decide(&done("accepted"), Some(&accepted)), None);
        assert_eq!(
            decide(&done("accepted"), None),
            Some(Verdict::Repair(Repair::Requeue))
        );
        for pending in [ours("pending", "pending", 2), ours("pending", "dead", 12)] {
            assert_eq!(
                decide(&pending, Some(&accepted)),
                Some(Verdict::Repair(Repair::MarkAccepted))
            );
            assert_eq!(decide(&pending, None), None);
        }
        assert_eq!(
            decide(&ours("pending", "dead", 12), Some(&rejected)),
            mark_rejected
        );
        // In flight (perhaps a correction the province has not seen): the worker's business.
        for attempts in [0, 3] {
            assert_eq!(
                decide(&ours("pending", "pending", attempts), Some(&rejected)),
                None
            );
        }
        assert_eq!(
            decide(&done("accepted"), Some(&rejected)),
            Some(Verdict::Flag)
        );
        assert_eq!(
            decide(&done("rejected"), Some(&accepted)),
            Some(Verdict::Flag)
        );
        assert_eq!(decide(&done("rejected"), None), None);
        assert_eq!(decide(&done("rejected"), Some(&rejected)), None);
        // A state we do not know never reaches the table: it cannot be read (the match above
        // is exhaustive, so there is no fallback arm that could turn a typo into a decision).
        assert_eq!(SyncState::parse_code("weird"), None);
        // The owner always gets a reason.
        assert_eq!(
            decide(
                &ours("pending", "dead", 12),
                Some(&EntityState::Rejected {
                    reason: " ".to_owned()
                })
            ),
            Some(Verdict::Repair(Repair::MarkRejected {
                reason: NO_REASON.to_owned()
            }))
        );
    }

    #[test]
    fn the_daily_task_can_be_spawned() {
        // Type-checked, never called: the server spawns it with its own HttpProvince.
        let _ = |db: Db, province: crate::province::client::HttpProvince| {
            let (_tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(run_daily(db, province, time!(02:30), rx))
        };
    }
}
