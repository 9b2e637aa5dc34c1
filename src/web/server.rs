//! The HTTP server: tests call [`Application::build`] with port 0 and serve until they stop.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::config::Settings;
use crate::jobs::background::Background;
use crate::store::Db;

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
        let listen = settings.listen;
        let state = AppState::open(settings, db).await?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish. The background
    /// jobs ([`Background`]) run beside the server and stop with it.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let db = self.state.db.clone();
        let background = Background::start(&self.state)?;
        let router = super::router(self.state);
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
        background.stop().await;
        db.close().await;
        served
    }
}
