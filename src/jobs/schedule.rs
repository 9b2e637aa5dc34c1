//! Running a job at the instants a schedule gives, until the server stops.

use time::OffsetDateTime;

/// Runs `job` at every instant `next` gives until `shutdown` turns true (or its sender is gone).
pub async fn every<N, J, F>(
    what: &'static str,
    next: N,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut job: J,
) where
    N: Fn(OffsetDateTime) -> OffsetDateTime,
    J: FnMut(OffsetDateTime) -> F,
    F: Future<Output = ()>,
{
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let due = next(now);
        let wait = std::time::Duration::try_from(due - now).unwrap_or_default();
        tracing::info!(next = %due, task = what, "scheduled");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        }
        // A sleep cut short (clock changes) waits again rather than running early.
        if OffsetDateTime::now_utc() < due {
            continue;
        }
        job(due).await;
    }
}
