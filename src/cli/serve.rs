//! `serve` and `migrate`: the web server over the configured database, and its migrations alone.

use clap::Args;

use xinyidai::app;
use xinyidai::config::{self, Settings};
use xinyidai::store::Db;
use xinyidai::web::server::Application;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// 监听地址，覆盖 XYD_LISTEN，例如 0.0.0.0:8080
    #[arg(long)]
    listen: Option<String>,
}

impl ServeArgs {
    pub async fn run(self, mut settings: Settings) -> anyhow::Result<()> {
        if let Some(listen) = self.listen {
            settings.listen = config::parse_listen(&listen)?;
        }
        serve(settings).await
    }
}

/// `migrate`: opening the database applies the pending migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::open(&settings.database_url, 1).await?;
    tracing::info!(engine = db.engine().name(), "migrations applied");
    db.close().await;
    Ok(())
}

/// Builds the application (migrating first) and serves until Ctrl-C or SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    let addr = application.local_addr()?;
    tracing::info!(%addr, "listening");
    eprintln!("服务已启动：http://{addr}/  （Ctrl-C 停止）");
    application.run_until(app::shutdown_signal()).await
}
