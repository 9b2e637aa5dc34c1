//! The league snapshot of each day: taken at midnight Beijing for the day that just ended, and
//! once at start-up when the server was down at midnight.

use time::{Date, Duration, OffsetDateTime};

use super::schedule;
use crate::domain::calendar;
use crate::store::league::{self, Trigger};
use crate::store::{Db, StoreError};

/// Takes `day`'s snapshot and records who took it (`league.snapshot_taken`).
///
/// # Errors
/// Database errors.
pub async fn take_snapshot(
    db: &Db,
    day: Date,
    trigger: Trigger,
    actor: &str,
) -> Result<(), StoreError> {
    league::take_snapshot(db, day, trigger).await?;
    league::audit_snapshot(db, day, trigger, actor, OffsetDateTime::now_utc()).await
}

/// The next midnight in Beijing strictly after `now`: when the day that just ended is recorded.
pub fn next_midnight(now: OffsetDateTime) -> OffsetDateTime {
    calendar::start_of(calendar::day_of(now) + Duration::days(1))
}

/// The day a run at `now` records: the Beijing day before `now`'s.
pub fn day_ended(now: OffsetDateTime) -> Date {
    calendar::day_of(now) - Duration::days(1)
}

/// At start-up: takes yesterday's snapshot when it is missing and the job has run before (an
/// earlier snapshot exists), so a server that was down at midnight catches up once; days before
/// yesterday are not made up (the counts of those days are gone). Returns the day taken.
///
/// # Errors
/// Database errors.
pub async fn catch_up(db: &Db, now: OffsetDateTime) -> Result<Option<Date>, StoreError> {
    let yesterday = day_ended(now);
    let days = league::snapshot_days(db).await?;
    if days.contains(&yesterday) || !days.iter().any(|d| *d < yesterday) {
        return Ok(None);
    }
    take_snapshot(db, yesterday, Trigger::Schedule, "system").await?;
    Ok(Some(yesterday))
}

/// [`catch_up`] as the server starts: a failure is logged, never keeps the server down.
pub async fn catch_up_at_start(db: &Db) {
    match catch_up(db, OffsetDateTime::now_utc()).await {
        Ok(Some(day)) => tracing::info!(%day, "missed league snapshot taken"),
        Ok(None) => {}
        Err(err) => tracing::warn!(
            error = %crate::telemetry::error_chain(&err),
            "league snapshot catch-up failed"
        ),
    }
}

/// The daily snapshot job: records each day at the midnight that ends it.
pub async fn run_daily(db: Db, shutdown: tokio::sync::watch::Receiver<bool>) {
    schedule::every("league snapshot", next_midnight, shutdown, |due| {
        let db = db.clone();
        async move {
            let day = day_ended(due);
            match take_snapshot(&db, day, Trigger::Schedule, "system").await {
                Ok(()) => tracing::info!(%day, "league snapshot taken"),
                Err(err) => tracing::warn!(
                    error = %crate::telemetry::error_chain(&err),
                    %day,
                    "league snapshot failed"
                ),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn midnight_is_the_next_beijing_day() {
        // 23:59 Beijing on 11-30 is 15:59 UTC: the next run is 12-01 00:00 Beijing.
        let now = datetime!(2026-11-30 15:59 UTC);
        assert_eq!(next_midnight(now), datetime!(2026-12-01 00:00 +8));
        // 16:00 UTC is already 12-01 in Beijing: the next midnight is a day later.
        assert_eq!(
            next_midnight(datetime!(2026-11-30 16:00 UTC)),
            datetime!(2026-12-02 00:00 +8)
        );
        // A run at midnight records the day that just ended.
        assert_eq!(
            day_ended(datetime!(2026-12-01 00:00 +8)),
            date!(2026 - 11 - 30)
        );
        // At 07:00 Beijing (23:00 UTC the day before), "yesterday" is Beijing's yesterday.
        assert_eq!(
            day_ended(datetime!(2026-11-30 23:00 UTC)),
            date!(2026 - 11 - 30)
        );
    }
}
