//! `TestApp`: a real server on port 0 over a fresh database, and a client to talk to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use scraper::{Html, Selector};
use sqlx::Connection as _;
use tokio::sync::oneshot;
use xinyidai::config::Settings;
use xinyidai::store::Db;
use xinyidai::web::server::Application;

/// The engine under test, from `XYD_TEST_ENGINE`.
pub fn engine_is_postgres() -> bool {
    std::env::var("XYD_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("xyd-test-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database URL no other test uses, and the directory that holds it (SQLite).
pub struct FreshDatabase {
    pub url: String,
    pub dir: TempDir,
}

pub async fn fresh_database() -> FreshDatabase {
    let dir = TempDir::new();
    if engine_is_postgres() {
        let admin = std::env::var("XYD_TEST_PG_URL").expect(
            "XYD_TEST_PG_URL must point at a PostgreSQL server when XYD_TEST_ENGINE=postgres",
        );
        let name = format!("xyd_test_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        FreshDatabase {
            url: format!("{base}/{name}"),
            dir,
        }
    } else {
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        FreshDatabase { url, dir }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: Db,
    /// The app's ID-number vault (same key), for tests that read what the app sealed.
    pub vault: std::sync::Arc<xinyidai::security::id_vault::IdVault>,
    pub client: reqwest::Client,
    /// The outbox worker's counters (breaker, outcomes), when the province is configured.
    pub sync_metrics: std::sync::Arc<xinyidai::outbox::send_metrics::SyncMetrics>,
    /// Kept alive: dropping it removes the SQLite file's directory.
    _database: FreshDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Starts the app after `configure` adjusts the test settings.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        TestApp::spawn_prepared(configure, async |_, _| {}).await
    }

    /// Like [`TestApp::spawn_with`], and runs `prepare` on the migrated database with the app's
    /// vault before the server and its outbox worker start (e.g. to seed registrations the
    /// worker must find all at once).
    pub async fn spawn_prepared(
        configure: impl FnOnce(&mut Settings),
        prepare: impl AsyncFnOnce(&Db, &xinyidai::security::id_vault::IdVault),
    ) -> TestApp {
        let database = fresh_database().await;
        let mut settings = Settings::with_database(database.url.clone());
        settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.max_connections = 4;
        let data_key = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>(),
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let vault = std::sync::Arc::new(
            xinyidai::security::id_vault::IdVault::from_hex(&data_key).unwrap(),
        );
        settings.data_key = Some(xinyidai::config::Secret::new(data_key));
        // The real SMTP server `scripts/test` starts; without it mail goes to files.
        settings.mail.smtp_url = std::env::var("XYD_TEST_SMTP_URL")
            .ok()
            .map(xinyidai::config::Secret::new);
        settings.mail.dir = database.dir.path().join("mail");
        configure(&mut settings);
        let db = Db::open(&settings.database_url, settings.max_connections)
            .await
            .unwrap();
        prepare(&db, &vault).await;
        let app = Application::build_with_db(settings, db.clone())
            .await
            .unwrap();
        let addr = app.local_addr().unwrap();
        let sync_metrics = app.state().sync_metrics.clone();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            db,
            vault,
            client: crate::helpers::http_client()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
            sync_metrics,
            _database: database,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GETs a page, asserts its status and returns the parsed document.
    pub async fn page(&self, path: &str, status: u16) -> Html {
        let resp = self.get(path).await;
        assert_eq!(resp.status().as_u16(), status, "GET {path}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        Html::parse_document(&resp.text().await.unwrap())
    }

    /// A second browser: its own cookies, same server.
    pub fn new_client(&self) -> reqwest::Client {
        crate::helpers::http_client()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap()
    }

    /// POSTs a form (already holding its CSRF token) and returns the response.
    pub async fn post_form(&self, path: &str, fields: &[(&str, String)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// Text of every element matching `selector`, whitespace-trimmed.
pub fn texts(doc: &Html, selector: &str) -> Vec<String> {
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// Text of the single element matching `selector`.
pub fn text(doc: &Html, selector: &str) -> String {
    let all = texts(doc, selector);
    assert_eq!(all.len(), 1, "expected one `{selector}`, found {all:?}");
    all.into_iter().next().unwrap()
}

pub fn attr(doc: &Html, selector: &str, name: &str) -> Option<String> {
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(name).map(str::to_owned))
}

/// A reqwest client builder with the process's TLS provider installed first (reqwest is built
/// with `rustls-no-provider`; the app installs ring the same way).
pub fn http_client() -> reqwest::ClientBuilder {
    xinyidai::tls::install_crypto_provider();
    reqwest::Client::builder()
}
