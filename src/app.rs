//! Building and running the server: tests call [`Application::build`] with port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::domain::division::DivisionTree;
use crate::id_vault::{self, IdVault};
use crate::mail::Mailer;
use crate::password::PasswordHasher;
use crate::store::{self, Db};
use crate::sync::client::{HttpProvince, ProvinceSettings};
use crate::sync::metrics::SyncMetrics;
use crate::sync::reconcile;
use crate::sync::signing::SignatureMethod;
use crate::sync::worker::{Notifier, Worker};
use crate::web;

/// Shared, read-mostly state handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub divisions: Arc<DivisionTree>,
    pub vault: Arc<IdVault>,
    pub hasher: PasswordHasher,
    pub mailer: Mailer,
    /// Salt for the login-throttle keys, new at every start.
    pub throttle_salt: Arc<str>,
    /// The outbox worker's counters (breaker, outcomes) for `/metrics` and `/admin/sync`.
    pub sync_metrics: Arc<SyncMetrics>,
}

impl AppState {
    /// What the registration flow needs from the state.
    pub fn services(&self) -> crate::registration::Services<'_> {
        crate::registration::Services {
            db: &self.db,
            vault: &self.vault,
            hasher: &self.hasher,
        }
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens (and migrates) the database, then binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db = Db::open(&settings.database_url, settings.max_connections)
            .await
            .with_context(|| format!("opening {:?}", settings.database_url))?;
        Application::build_with_db(settings, db).await
    }

    /// Binds the listener for an already opened database.
    pub async fn build_with_db(settings: Settings, db: Db) -> anyhow::Result<Application> {
        let divisions = store::divisions::load(&db).await?;
        if divisions.get(&settings.jurisdiction).is_none() {
            anyhow::bail!(
                "辖区代码 {} 不在行政区划表中（XYD_JURISDICTION）",
                settings.jurisdiction
            );
        }
        // Before serving, so the catch-up never races with what a request (or test) records.
        crate::leaders_digest::catch_up_at_start(&db).await;
        let vault = Arc::new(open_vault(&settings)?);
        let mailer = Mailer::from_settings(&settings.mail).context("setting up outgoing mail")?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let state = AppState {
            db,
            settings: Arc::new(settings),
            divisions: Arc::new(divisions),
            vault,
            hasher: PasswordHasher::new(2),
            mailer,
            throttle_salt: crate::store::accounts::new_token().0.into(),
            sync_metrics: Arc::new(SyncMetrics::default()),
        };
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish. The outbox worker
    /// and the daily reconciliation run beside the server when the province is configured, and
    /// stop with it.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let db = self.state.db.clone();
        let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
        let mut tasks = match &self.state.settings.province {
            Some(link) => {
                let province = HttpProvince::new(province_settings(link)?)
                    .context("configuring the provincial platform (XYD_PROVINCE_*)")?;
                let settings = &self.state.settings;
                let worker = Worker::new(
                    db.clone(),
                    self.state.vault.clone(),
                    province,
                    settings.sync.clone(),
                    self.state.sync_metrics.clone(),
                )
                .with_l3(link.l3)
                .with_notifier(Notifier {
                    mailer: self.state.mailer.clone(),
                    public_url: settings.public_url.clone(),
                });
                // The reconciliation gets its own client: the worker owns the first.
                let checker = HttpProvince::new(province_settings(link)?)
                    .context("configuring the provincial platform (XYD_PROVINCE_*)")?;
                let reconciliation = tokio::spawn(reconcile::run_daily(
                    db.clone(),
                    checker,
                    settings.reconcile_at,
                    worker_stopped.clone(),
                ));
                vec![
                    (
                        "outbox worker",
                        tokio::spawn(worker.run(worker_stopped.clone())),
                    ),
                    ("daily reconciliation", reconciliation),
                ]
            }
            None => {
                tracing::info!("XYD_PROVINCE_URL not set: registrations wait in the outbox");
                Vec::new()
            }
        };
        // The weekly digest to staff, only where mail really leaves (not into .eml files).
        if self.state.settings.mail.smtp_url.is_some() {
            let settings = &self.state.settings;
            tasks.push((
                "weekly digest",
                tokio::spawn(crate::digest::run_weekly(
                    db.clone(),
                    self.state.mailer.clone(),
                    self.state.vault.clone(),
                    settings.public_url.clone(),
                    settings.digest_at,
                    worker_stopped.clone(),
                )),
            ));
            tasks.push((
                "leaders' weekly digest",
                tokio::spawn(crate::leaders_digest::run_weekly(
                    db.clone(),
                    self.state.mailer.clone(),
                    self.state.vault.clone(),
                    settings.public_url.clone(),
                    settings.jurisdiction.clone(),
                    settings.digest_at,
                    worker_stopped.clone(),
                )),
            ));
        }
        // The league snapshot of each day, at midnight Beijing.
        tasks.push((
            "daily league snapshot",
            tokio::spawn(crate::leaders_digest::run_daily_snapshots(
                db.clone(),
                worker_stopped.clone(),
            )),
        ));
        let router = web::router(self.state);
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
        let _ = stop_worker.send(true);
        for (task, handle) in tasks {
            if let Err(err) = handle.await {
                tracing::error!(error = %err, task, "background task ended abnormally");
            }
        }
        db.close().await;
        served
    }
}

/// The ID-number vault: `XYD_DATA_KEY`, or a key file beside the SQLite database (created on
/// first start), or `data/xinyidai.key` for PostgreSQL deployments without the variable.
pub fn open_vault(settings: &Settings) -> anyhow::Result<IdVault> {
    let hex_key = match &settings.data_key {
        Some(key) => key.expose().to_owned(),
        None => {
            let url = settings.database_url.expose();
            let dir = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .map(|path| path.split('?').next().unwrap_or(path))
                .and_then(|path| {
                    std::path::Path::new(path)
                        .parent()
                        .map(std::path::Path::to_path_buf)
                })
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| std::path::PathBuf::from("data"));
            let path = dir.join("xinyidai.key");
            id_vault::load_or_create_key_file(&path)
                .with_context(|| format!("reading or creating the data key {}", path.display()))?
        }
    };
    IdVault::from_hex(&hex_key).context("XYD_DATA_KEY")
}

pub fn province_settings(link: &crate::config::ProvinceLink) -> anyhow::Result<ProvinceSettings> {
    let method = SignatureMethod::parse(&link.signature_method).with_context(|| {
        format!(
            "XYD_PROVINCE_SIGNATURE 应为 HMAC-SHA256 或 HMAC-SM3，实际为“{}”",
            link.signature_method
        )
    })?;
    Ok(ProvinceSettings {
        method,
        timeout: link.timeout,
        connect_timeout: link.timeout.min(std::time::Duration::from_secs(3)),
        ..ProvinceSettings::new(&link.base_url, &link.app_id, link.secret.clone())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
