//! Building and running the server: tests call [`Application::build`] with port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::domain::division::DivisionTree;
use crate::store::{self, Db};
use crate::web;

/// Shared, read-mostly state handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub divisions: Arc<DivisionTree>,
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
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let state = AppState {
            db,
            settings: Arc::new(settings),
            divisions: Arc::new(divisions),
        };
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let db = self.state.db.clone();
        let router = web::router(self.state);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?;
        db.close().await;
        Ok(())
    }
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
