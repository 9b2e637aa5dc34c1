//! Starting and stopping the scheduled work that runs beside the server.

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{AppState, province_settings};
use crate::outbox::worker::{Notifier, Worker};
use crate::province::client::HttpProvince;

/// The running background tasks; [`Background::stop`] ends them and waits.
#[derive(Debug)]
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Background {
    /// The outbox worker and the daily reconciliation when the province is configured, the
    /// weekly digests where mail really leaves (not into `.eml` files), and the daily league
    /// snapshot at midnight Beijing.
    pub fn start(state: &AppState) -> anyhow::Result<Background> {
        let db = &state.db;
        let settings = &state.settings;
        let (stop, stopped) = watch::channel(false);
        let mut tasks: Vec<(&'static str, JoinHandle<()>)> = Vec::new();
        match &settings.province {
            Some(link) => {
                let province = HttpProvince::new(province_settings(link)?)
                    .context("configuring the provincial platform (XYD_PROVINCE_*)")?;
                let worker = Worker::new(
                    db.clone(),
                    state.vault.clone(),
                    province,
                    settings.sync.clone(),
                    state.sync_metrics.clone(),
                )
                .with_l3(link.l3)
                .with_notifier(Notifier {
                    mailer: state.mailer.clone(),
                    public_url: settings.public_url.clone(),
                });
                // The reconciliation gets its own client: the worker owns the first.
                let checker = HttpProvince::new(province_settings(link)?)
                    .context("configuring the provincial platform (XYD_PROVINCE_*)")?;
                tasks.push(("outbox worker", tokio::spawn(worker.run(stopped.clone()))));
                tasks.push((
                    "daily reconciliation",
                    tokio::spawn(super::reconcile::run_daily(
                        db.clone(),
                        checker,
                        settings.reconcile_at,
                        stopped.clone(),
                    )),
                ));
            }
            None => {
                tracing::info!("XYD_PROVINCE_URL not set: registrations wait in the outbox");
            }
        }
        if settings.mail.smtp_url.is_some() {
            tasks.push((
                "weekly digest",
                tokio::spawn(super::staff_digest::run_weekly(
                    db.clone(),
                    state.mailer.clone(),
                    state.vault.clone(),
                    settings.public_url.clone(),
                    settings.digest_at,
                    stopped.clone(),
                )),
            ));
            tasks.push((
                "leaders' weekly digest",
                tokio::spawn(super::leaders_digest::run_weekly(
                    db.clone(),
                    state.mailer.clone(),
                    state.vault.clone(),
                    settings.public_url.clone(),
                    settings.jurisdiction.clone(),
                    settings.digest_at,
                    stopped.clone(),
                )),
            ));
        }
        tasks.push((
            "daily league snapshot",
            tokio::spawn(super::snapshots::run_daily(db.clone(), stopped)),
        ));
        Ok(Background { stop, tasks })
    }

    /// Asks every task to stop and waits for each; a task that panicked is logged.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for (task, handle) in self.tasks {
            if let Err(err) = handle.await {
                tracing::error!(error = %err, task, "background task ended abnormally");
            }
        }
    }
}
