//! The composition root: the shared state every handler and job receives, built once from the
//! settings and an opened database. The HTTP server itself is `web::server`.

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Settings;
use crate::domain::division::DivisionTree;
use crate::mail::Mailer;
use crate::outbox::send_metrics::SyncMetrics;
use crate::province::client::ProvinceSettings;
use crate::province::signing::SignatureMethod;
use crate::security::id_vault::{self, IdVault};
use crate::security::password::PasswordHasher;
use crate::store::{self, Db};

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
    pub fn services(&self) -> crate::application::registration::Services<'_> {
        crate::application::registration::Services {
            db: &self.db,
            vault: &self.vault,
            hasher: &self.hasher,
        }
    }
}

impl AppState {
    /// Loads the division tree, catches up on missed league snapshots, opens the ID vault and
    /// the mailer: everything a server (or a job) needs from an opened database.
    pub async fn open(settings: Settings, db: Db) -> anyhow::Result<AppState> {
        let divisions = store::divisions::load(&db).await?;
        if divisions.get(&settings.jurisdiction).is_none() {
            anyhow::bail!(
                "辖区代码 {} 不在行政区划表中（XYD_JURISDICTION）",
                settings.jurisdiction
            );
        }
        // Before serving, so the catch-up never races with what a request (or test) records.
        crate::jobs::snapshots::catch_up_at_start(&db).await;
        let vault = Arc::new(open_vault(&settings)?);
        let mailer = Mailer::from_settings(&settings.mail).context("setting up outgoing mail")?;
        Ok(AppState {
            db,
            settings: Arc::new(settings),
            divisions: Arc::new(divisions),
            vault,
            hasher: PasswordHasher::new(2),
            mailer,
            throttle_salt: crate::store::accounts::new_token().0.into(),
            sync_metrics: Arc::new(SyncMetrics::default()),
        })
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
