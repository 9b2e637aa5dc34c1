//! `xinyidai province-sim`: an in-process stand-in for the provincial Xinyidai platform.
//!
//! It serves the assumed interface of `docs/provincial-api.md` (§5) with the same
//! authentication a real platform would apply (§2–§3), stores what it accepts in its own SQLite
//! file, and misbehaves on command so the adapter's retry, idempotency and breaker logic can be
//! proven against it:
//!
//! - `latency_ms`: every `/v1` request waits this long first.
//! - `outage`: every `/v1` request answers 503.
//! - `error_rate`: that share of `/v1` requests answers 503.
//! - `throttle_rate`: that share answers 429 with `Retry-After: retry_after_secs`.
//! - `timeout_rate`: that share is held for `timeout_hold_ms` (default 120 s, longer than any
//!   client timeout) and then answers 504 **without** processing, so the record is not stored.
//!   Processing after the hold would let a late, abandoned request land after the adapter's
//!   status check and resend, and count a duplicate the adapter could not have prevented.
//! - `drop_after_store_rate`: that share is processed in full (the record is stored) and then
//!   the connection is closed without an answer: the "lost response" case.
//!
//! The outage, error, throttle and timeout faults are decided before authentication, as a
//! gateway in front of the platform would; such requests therefore do not consume their nonce.
//! Faults draw from one seeded RNG, so a sequential test sees the same faults on every run.
//!
//! Control endpoints, unauthenticated because they exist only for tests and the demo:
//! `GET /sim/faults`, `POST /sim/faults` (a partial update: absent fields keep their value),
//! `GET /sim/stats`.
//!
//! Personal data in request bodies (names, ID numbers, phones, emails) is stored, as the
//! province would, but never logged.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::serve::{IncomingStream, Listener};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::signing::{
    self, HEADER_APP_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNATURE_METHOD, HEADER_TIMESTAMP,
    MAX_CLOCK_SKEW_SECS, SignatureMethod,
};

/// Default application id, matching the worked example in `docs/provincial-api.md`.
pub const DEFAULT_APP_ID: &str = "lishu-220322";
/// Default shared secret of the simulator; not a secret anywhere it matters.
pub const DEFAULT_SECRET: &str = "xinyidai-sim-secret";
/// Default SQLite file of the simulator.
pub const DEFAULT_DB_PATH: &str = "data/province-sim.db";
/// Default listen address: loopback, because the control endpoints are unauthenticated.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8090);

/// Everything the simulator needs to start.
#[derive(Clone)]
pub struct SimConfig {
    /// Where the CLI binds; [`Simulator::build`] takes an already bound listener instead.
    pub listen: SocketAddr,
    /// The only accepted `X-App-Id`.
    pub app_id: String,
    /// The shared HMAC secret.
    pub secret: String,
    /// SQLite file path, or `sqlite::memory:` for a throwaway database.
    pub db_path: String,
    /// Seed of the fault RNG.
    pub seed: u64,
    /// Records rejected on purpose: `(uscc, code, message)`, answered 422 `{"code","message"}`.
    pub reject: Vec<(String, String, String)>,
    /// Faults active from the start.
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: DEFAULT_LISTEN,
            app_id: DEFAULT_APP_ID.to_owned(),
            secret: DEFAULT_SECRET.to_owned(),
            db_path: DEFAULT_DB_PATH.to_owned(),
            seed: 0,
            reject: Vec::new(),
            faults: Faults::default(),
        }
    }
}

// Hand-written so that printing a config (e.g. at startup) never prints the secret.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("app_id", &self.app_id)
            .field("secret", &"<redacted>")
            .field("db_path", &self.db_path)
            .field("seed", &self.seed)
            .field("reject", &self.reject.len())
            .field("faults", &self.faults)
            .finish()
    }
}

/// The injected faults; rates are probabilities in `0.0..=1.0` per `/v1` request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub latency_ms: u64,
    pub error_rate: f64,
    pub throttle_rate: f64,
    /// Value of the `Retry-After` header on throttled answers, in seconds.
    pub retry_after_secs: u64,
    pub timeout_rate: f64,
    /// How long a "timed out" request is held before its 504.
    pub timeout_hold_ms: u64,
    pub drop_after_store_rate: f64,
    pub outage: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            error_rate: 0.0,
            throttle_rate: 0.0,
            retry_after_secs: 1,
            timeout_rate: 0.0,
            timeout_hold_ms: 120_000,
            drop_after_store_rate: 0.0,
            outage: false,
        }
    }
}

impl Faults {
    /// Checks that every rate is a probability, naming the first one that is not.
    pub fn validate(&self) -> Result<(), SimError> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("throttle_rate", self.throttle_rate),
            ("timeout_rate", self.timeout_rate),
            ("drop_after_store_rate", self.drop_after_store_rate),
        ] {
            // `contains` is false for NaN too, which must not slip through as "never".
            if !(0.0..=1.0).contains(&rate) {
                return Err(SimError::Config(format!(
                    "{name} must be between 0.0 and 1.0, got {rate}"
                )));
            }
        }
        Ok(())
    }
}

/// A partial update of [`Faults`], the body of `POST /sim/faults`. A partial update lets a test
/// switch the outage off without also clearing the error rates it set earlier.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsUpdate {
    pub latency_ms: Option<u64>,
    pub error_rate: Option<f64>,
    pub throttle_rate: Option<f64>,
    pub retry_after_secs: Option<u64>,
    pub timeout_rate: Option<f64>,
    pub timeout_hold_ms: Option<u64>,
    pub drop_after_store_rate: Option<f64>,
    pub outage: Option<bool>,
}

impl FaultsUpdate {
    fn apply(self, mut faults: Faults) -> Faults {
        faults.latency_ms = self.latency_ms.unwrap_or(faults.latency_ms);
        faults.error_rate = self.error_rate.unwrap_or(faults.error_rate);
        faults.throttle_rate = self.throttle_rate.unwrap_or(faults.throttle_rate);
        faults.retry_after_secs = self.retry_after_secs.unwrap_or(faults.retry_after_secs);
        faults.timeout_rate = self.timeout_rate.unwrap_or(faults.timeout_rate);
        faults.timeout_hold_ms = self.timeout_hold_ms.unwrap_or(faults.timeout_hold_ms);
        faults.drop_after_store_rate = self
            .drop_after_store_rate
            .unwrap_or(faults.drop_after_store_rate);
        faults.outage = self.outage.unwrap_or(faults.outage);
        faults
    }
}

/// Counts reported by `GET /sim/stats`.
///
/// - `received`: every `/v1` request that reached the simulator.
/// - `accepted`: registrations of a USCC not held as accepted before (once per USCC).
/// - `duplicates`: registrations repeating the stored content of an accepted USCC.
/// - `updates`: registrations of an accepted USCC with different content.
/// - `contacts`: contact-data revisions applied (`PATCH …/contact`), resends not counted.
/// - `rejected`: registrations answered 400/422 (configured rejections and invalid bodies).
/// - `refused_auth`: requests refused by authentication (401, and 409 stale or replayed).
/// - `faults_injected`: requests whose answer a fault replaced (outage, error, throttle,
///   timeout) or dropped. A dropped answer's registration is also counted in its own outcome,
///   because it was stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    pub received: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub updates: u64,
    /// Contact revisions applied (a resend of the current revision is not counted again).
    pub contacts: u64,
    pub rejected: u64,
    pub refused_auth: u64,
    pub faults_injected: u64,
}

/// Why the simulator could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator configuration: {0}")]
    Config(String),
    #[error("simulator database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("simulator I/O: {0}")]
    Io(#[from] io::Error),
}

/// Entry point: see [`Simulator::build`].
pub struct Simulator;

impl Simulator {
    /// Opens (or creates) the simulator's database and prepares to serve on `listener`.
    pub async fn build(config: SimConfig, listener: TcpListener) -> Result<SimServer, SimError> {
        config.faults.validate()?;
        if config.app_id.is_empty() || config.secret.is_empty() {
            return Err(SimError::Config(
                "app id and secret must not be empty".to_owned(),
            ));
        }
        let pool = open_db(&config.db_path).await?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            app_id: config.app_id,
            secret: config.secret.into_bytes(),
            reject: config
                .reject
                .into_iter()
                .map(|(uscc, code, message)| (uscc, (code, message)))
                .collect(),
            pool,
            faults: Mutex::new(config.faults),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            nonces: Mutex::new(NonceCache::default()),
            shutdown: shutdown_rx,
        });
        let addr = listener.local_addr()?;
        Ok(SimServer {
            listener,
            addr,
            shared,
            shutdown_tx,
        })
    }
}

/// A built simulator, bound but not yet serving.
pub struct SimServer {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
}

impl SimServer {
    /// The bound address (the real port when built on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle for reading stats and setting faults in-process (the demo uses it).
    pub fn handle(&self) -> SimHandle {
        SimHandle(Arc::clone(&self.shared))
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests. Requests held by
    /// the latency or timeout faults are cut short at shutdown (answered 503), so shutdown
    /// never waits out a two-minute hold.
    pub async fn run_until<F>(self, shutdown: F) -> Result<(), SimError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let SimServer {
            listener,
            shared,
            shutdown_tx,
            ..
        } = self;
        let app = router(shared);
        axum::serve(
            KillableListener(listener),
            app.into_make_service_with_connect_info::<ConnHandle>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ignored error: it only means no handler is listening any more.
            let _ = shutdown_tx.send(true);
        })
        .await?;
        Ok(())
    }
}

/// In-process access to a running simulator's counters and faults.
#[derive(Clone)]
pub struct SimHandle(Arc<Shared>);

impl SimHandle {
    pub async fn stats(&self) -> Result<SimStats, SimError> {
        Ok(read_stats(&self.0.pool).await?)
    }

    pub fn faults(&self) -> Faults {
        *lock(&self.0.faults)
    }

    /// Applies `update` and returns the resulting faults; invalid rates change nothing.
    pub fn update_faults(&self, update: FaultsUpdate) -> Result<Faults, SimError> {
        let mut faults = lock(&self.0.faults);
        let next = update.apply(*faults);
        next.validate()?;
        *faults = next;
        Ok(next)
    }
}

struct Shared {
    app_id: String,
    secret: Vec<u8>,
    reject: HashMap<String, (String, String)>,
    pool: SqlitePool,
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    nonces: Mutex<NonceCache>,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// Sleeps for `duration` unless shutdown starts first; returns whether it slept in full.
    async fn hold(&self, duration: Duration) -> bool {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            // An error means the sender is gone, i.e. the server is finished: stop holding.
            _ = shutdown.wait_for(|stopping| *stopping) => false,
        }
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked (plain values replaced
/// whole), so a poisoned lock is used rather than turned into a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

// ---------------------------------------------------------------------------------------------
// Storage

async fn open_db(path: &str) -> Result<SqlitePool, SimError> {
    let memory = path == "sqlite::memory:" || path == ":memory:";
    let options = if memory {
        SqliteConnectOptions::new().in_memory(true)
    } else {
        let file = path.strip_prefix("sqlite://").unwrap_or(path);
        if let Some(dir) = FsPath::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(dir).await?;
        }
        SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL, not FULL: the simulator stands in for someone else's durable store and
            // must not make its own fsyncs the bottleneck of the capacity benchmark.
            .synchronous(SqliteSynchronous::Normal)
    }
    .foreign_keys(true)
    .busy_timeout(Duration::from_secs(10));
    // One connection: every write (counters on each request, the read-compare-write of a
    // registration) is then serialised without SQLITE_BUSY upgrades between connections, and
    // an in-memory database is one database rather than one per connection.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        // Never retire the connection: for `sqlite::memory:` that would drop the data.
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await?;
    Ok(pool)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sim_entities (
    uscc TEXT PRIMARY KEY,
    platform_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reject_code TEXT,
    reject_reason TEXT,
    body TEXT NOT NULL,
    contact_revision INTEGER NOT NULL DEFAULT 0,
    first_seen_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sim_contact_revisions (
    uscc TEXT NOT NULL REFERENCES sim_entities (uscc),
    revision INTEGER NOT NULL,
    mobile TEXT,
    email TEXT,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (uscc, revision)
);
CREATE TABLE IF NOT EXISTS sim_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO sim_counters (name, value) VALUES
    ('received', 0), ('accepted', 0), ('duplicates', 0), ('updates', 0),
    ('rejected', 0), ('refused_auth', 0), ('faults_injected', 0), ('contacts', 0);
";

#[derive(Debug, Clone, Copy)]
enum Counter {
    Received,
    Accepted,
    Duplicates,
    Updates,
    Contacts,
    Rejected,
    RefusedAuth,
    FaultsInjected,
}

impl Counter {
    const fn name(self) -> &'static str {
        match self {
            Counter::Received => "received",
            Counter::Accepted => "accepted",
            Counter::Duplicates => "duplicates",
            Counter::Updates => "updates",
            Counter::Contacts => "contacts",
            Counter::Rejected => "rejected",
            Counter::RefusedAuth => "refused_auth",
            Counter::FaultsInjected => "faults_injected",
        }
    }
}

async fn bump<'e, E>(executor: E, counter: Counter) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query("UPDATE sim_counters SET value = value + 1 WHERE name = ?")
        .bind(counter.name())
        .execute(executor)
        .await?;
    Ok(())
}

async fn read_stats(pool: &SqlitePool) -> Result<SimStats, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, value FROM sim_counters")
        .fetch_all(pool)
        .await?;
    let mut stats = SimStats::default();
    for (name, value) in rows {
        // Counters only ever grow from zero, so a negative value cannot occur; clamp anyway.
        let value = u64::try_from(value).unwrap_or(0);
        match name.as_str() {
            "received" => stats.received = value,
            "accepted" => stats.accepted = value,
            "duplicates" => stats.duplicates = value,
            "updates" => stats.updates = value,
            "contacts" => stats.contacts = value,
            "rejected" => stats.rejected = value,
            "refused_auth" => stats.refused_auth = value,
            "faults_injected" => stats.faults_injected = value,
            _ => {}
        }
    }
    Ok(stats)
}

/// The platform id is derived from the USCC so that it is stable across resubmissions and
/// simulator restarts without a sequence to keep.
fn platform_id(uscc: &str) -> String {
    let digest = signing::body_digest(SignatureMethod::HmacSha256, uscc.as_bytes());
    format!("SIM-{}", &digest[..16])
}

enum RegisterOutcome {
    Accepted,
    Duplicate,
    Updated,
    Rejected { code: String, message: String },
}

async fn store_registration(
    pool: &SqlitePool,
    uscc: &str,
    body: &Value,
    rejection: Option<&(String, String)>,
) -> Result<RegisterOutcome, sqlx::Error> {
    let now = now_unix();
    let text = body.to_string();
    let mut tx = pool.begin().await?;
    let existing: Option<(String, String)> =
        sqlx::query_as("SELECT status, body FROM sim_entities WHERE uscc = ?")
            .bind(uscc)
            .fetch_optional(&mut *tx)
            .await?;
    let outcome = if let Some((code, message)) = rejection {
        sqlx::query(
            "INSERT INTO sim_entities
                 (uscc, platform_id, status, reject_code, reject_reason, body, first_seen_at, updated_at)
             VALUES (?, ?, 'rejected', ?, ?, ?, ?, ?)
             ON CONFLICT (uscc) DO UPDATE SET status = 'rejected', reject_code = excluded.reject_code,
                 reject_reason = excluded.reject_reason, body = excluded.body,
                 updated_at = excluded.updated_at",
        )
        .bind(uscc)
        .bind(platform_id(uscc))
        .bind(code)
        .bind(message)
        .bind(&text)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        RegisterOutcome::Rejected {
            code: code.clone(),
            message: message.clone(),
        }
    } else {
        match existing {
            Some((status, stored)) if status == "accepted" => {
                // Compare as JSON values, not text: key order and spacing are not content.
                let same = serde_json::from_str::<Value>(&stored).is_ok_and(|v| v == *body);
                if same {
                    RegisterOutcome::Duplicate
                } else {
                    sqlx::query("UPDATE sim_entities SET body = ?, updated_at = ? WHERE uscc = ?")
                        .bind(&text)
                        .bind(now)
                        .bind(uscc)
                        .execute(&mut *tx)
                        .await?;
                    RegisterOutcome::Updated
                }
            }
            // New, or rejected before under another configuration: now it is accepted, once.
            _ => {
                sqlx::query(
                    "INSERT INTO sim_entities
                         (uscc, platform_id, status, body, first_seen_at, updated_at)
                     VALUES (?, ?, 'accepted', ?, ?, ?)
                     ON CONFLICT (uscc) DO UPDATE SET status = 'accepted', reject_code = NULL,
                         reject_reason = NULL, body = excluded.body,
                         updated_at = excluded.updated_at",
                )
                .bind(uscc)
                .bind(platform_id(uscc))
                .bind(&text)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                RegisterOutcome::Accepted
            }
        }
    };
    let counter = match outcome {
        RegisterOutcome::Accepted => Counter::Accepted,
        RegisterOutcome::Duplicate => Counter::Duplicates,
        RegisterOutcome::Updated => Counter::Updates,
        RegisterOutcome::Rejected { .. } => Counter::Rejected,
    };
    // Same transaction as the record, so the counts can never disagree with the table.
    bump(&mut *tx, counter).await?;
    tx.commit().await?;
    Ok(outcome)
}

// ---------------------------------------------------------------------------------------------
// Nonces

/// Nonces seen within the timestamp window, each kept until its timestamp goes stale: after
/// that the timestamp check refuses a replay by itself, so memory stays bounded by the
/// request rate times the window.
#[derive(Default)]
struct NonceCache {
    expires_at: HashMap<String, i64>,
    next_sweep: i64,
}

impl NonceCache {
    /// Records `nonce`; false if it was already used and has not expired.
    fn insert(&mut self, nonce: &str, timestamp: i64, now: i64) -> bool {
        if now >= self.next_sweep {
            // Sweeping at most once a second keeps the cost amortised under load.
            self.expires_at.retain(|_, expiry| *expiry >= now);
            self.next_sweep = now + 1;
        }
        let expiry = timestamp.saturating_add(MAX_CLOCK_SKEW_SECS);
        match self.expires_at.get(nonce) {
            Some(&old) if old >= now => false,
            _ => {
                self.expires_at.insert(nonce.to_owned(), expiry);
                true
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections that a handler can cut

/// Wraps the TCP listener so each connection can be killed from inside its handler: that is
/// how `drop_after_store_rate` closes a connection without any response, which axum offers no
/// other way to do.
struct KillableListener(TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    return (
                        KillableStream {
                            inner: stream,
                            killed: Arc::new(AtomicBool::new(false)),
                        },
                        addr,
                    );
                }
                // Same policy as axum's own TCP listener: a failed handshake is the peer's
                // problem; anything else (e.g. out of file descriptors) is worth a pause.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    tracing::error!(error = %e, "province-sim: accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::Acquire) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "province-sim: connection dropped by fault injection",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Failing the write makes hyper abandon the connection and drop the socket, so the
        // response head is never sent.
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The kill switch of the connection a request arrived on.
#[derive(Clone)]
struct ConnHandle(Arc<AtomicBool>);

impl Connected<IncomingStream<'_, KillableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        ConnHandle(Arc::clone(&stream.io().killed))
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

type AppState = State<Arc<Shared>>;

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/entities", post(register))
        .route("/v1/entities/{uscc}", get(status))
        .route("/v1/entities/{uscc}/contact", patch(update_contact))
        .route("/v1/verifications", post(verify_l3))
        .route("/sim/faults", get(get_faults).post(set_faults))
        .route("/sim/stats", get(get_stats))
        .with_state(shared)
}

/// One `/v1` request, as the guard and the endpoint handlers see it.
struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

enum Endpoint {
    Register,
    Status(String),
    Contact(String),
    Verify,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Request {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let request = axum::extract::Request::from_parts(parts.clone(), body);
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Request {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

async fn register(
    State(shared): AppState,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    serve_v1(shared, conn, request, Endpoint::Register).await
}

async fn status(
    State(shared): AppState,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path(uscc): Path<String>,
    request: Request,
) -> Response {
    serve_v1(shared, conn, request, Endpoint::Status(uscc)).await
}

async fn update_contact(
    State(shared): AppState,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path(uscc): Path<String>,
    request: Request,
) -> Response {
    serve_v1(shared, conn, request, Endpoint::Contact(uscc)).await
}

async fn verify_l3(
    State(shared): AppState,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    serve_v1(shared, conn, request, Endpoint::Verify).await
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

fn internal(error: &sqlx::Error) -> Response {
    tracing::error!(error = %error, "province-sim: database error");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "simulator database error",
    )
}

/// The rolls of one request, drawn together in a fixed order so that the fault sequence
/// depends only on the seed and the order of requests, not on which faults are enabled.
struct Rolls {
    error: f64,
    throttle: f64,
    timeout: f64,
    drop: f64,
}

impl Rolls {
    fn draw(rng: &Mutex<StdRng>) -> Rolls {
        let mut rng = lock(rng);
        Rolls {
            error: rng.random::<f64>(),
            throttle: rng.random::<f64>(),
            timeout: rng.random::<f64>(),
            drop: rng.random::<f64>(),
        }
    }
}

/// Answers a `/v1` request in a task of its own, so a client that hangs up mid-request (a
/// killed server) cannot cancel a database call halfway: sqlx would then close the one pooled
/// connection as possibly inconsistent, and with `sqlite::memory:` the data would go with it.
async fn serve_v1(
    shared: Arc<Shared>,
    conn: ConnHandle,
    request: Request,
    endpoint: Endpoint,
) -> Response {
    let answering = tokio::spawn(async move { answer_v1(&shared, &conn, request, endpoint).await });
    match answering.await {
        Ok(response) => response,
        Err(join) => {
            tracing::error!(error = %join, "province-sim: answering task failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "simulator task failed",
            )
        }
    }
}

async fn answer_v1(
    shared: &Shared,
    conn: &ConnHandle,
    request: Request,
    endpoint: Endpoint,
) -> Response {
    if let Err(e) = bump(&shared.pool, Counter::Received).await {
        return internal(&e);
    }
    let faults = *lock(&shared.faults);
    // `random::<f64>()` is in [0, 1): a rate of 0.0 never fires and 1.0 always does.
    let rolls = Rolls::draw(&shared.rng);

    if faults.latency_ms > 0 && !shared.hold(Duration::from_millis(faults.latency_ms)).await {
        return shutting_down();
    }
    if let Some(response) = gateway_fault(shared, &faults, &rolls).await {
        if let Err(e) = bump(&shared.pool, Counter::FaultsInjected).await {
            return internal(&e);
        }
        return response;
    }

    let now = now_unix();
    if let Err(refusal) = authenticate(shared, &request, now) {
        if let Err(e) = bump(&shared.pool, Counter::RefusedAuth).await {
            return internal(&e);
        }
        return refusal.into_response();
    }

    let response = match endpoint {
        Endpoint::Register => handle_register(shared, &request.body).await,
        Endpoint::Status(uscc) => handle_status(shared, &uscc).await,
        Endpoint::Contact(uscc) => handle_contact(shared, &uscc, &request.body).await,
        Endpoint::Verify => handle_verify(shared, &request.body),
    };

    if rolls.drop < faults.drop_after_store_rate {
        if let Err(e) = bump(&shared.pool, Counter::FaultsInjected).await {
            return internal(&e);
        }
        tracing::debug!("province-sim: dropping the connection after processing");
        conn.0.store(true, Ordering::Release);
    }
    response
}

fn shutting_down() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "simulator is shutting down",
    )
}

/// The faults a gateway in front of the platform would produce, before authentication.
async fn gateway_fault(shared: &Shared, faults: &Faults, rolls: &Rolls) -> Option<Response> {
    if faults.outage {
        return Some(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "outage",
            "平台维护中 (simulated outage)",
        ));
    }
    if rolls.error < faults.error_rate {
        return Some(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "平台繁忙 (simulated server error)",
        ));
    }
    if rolls.throttle < faults.throttle_rate {
        let mut response = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "请求过于频繁 (simulated throttling)",
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(faults.retry_after_secs));
        return Some(response);
    }
    if rolls.timeout < faults.timeout_rate {
        if !shared
            .hold(Duration::from_millis(faults.timeout_hold_ms))
            .await
        {
            return Some(shutting_down());
        }
        return Some(error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "simulated timeout",
        ));
    }
    None
}

/// An authentication refusal; see `docs/provincial-api.md` §6.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
}

impl Refusal {
    const fn unauthorized(code: &'static str, message: &'static str) -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            code,
            message,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks app id, signature, timestamp window and nonce reuse, in that order: the signature
/// is verified before the nonce is recorded, so a forged request cannot burn a nonce that a
/// genuine one will use.
fn authenticate(shared: &Shared, request: &Request, now: i64) -> Result<(), Refusal> {
    let headers = &request.headers;
    if header(headers, HEADER_APP_ID) != Some(shared.app_id.as_str()) {
        return Err(Refusal::unauthorized("unknown_app", "unknown X-App-Id"));
    }
    let method = match header(headers, HEADER_SIGNATURE_METHOD) {
        None => SignatureMethod::default(),
        Some(value) => SignatureMethod::parse(value).ok_or(Refusal::unauthorized(
            "bad_signature",
            "unsupported X-Signature-Method",
        ))?,
    };
    let timestamp = header(headers, HEADER_TIMESTAMP)
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(Refusal::unauthorized(
            "bad_signature",
            "missing or malformed X-Timestamp",
        ))?;
    let nonce = header(headers, HEADER_NONCE)
        .filter(|n| signing::nonce_is_well_formed(n))
        .ok_or(Refusal::unauthorized(
            "bad_signature",
            "missing or malformed X-Nonce",
        ))?;
    let signature = header(headers, HEADER_SIGNATURE).ok_or(Refusal::unauthorized(
        "bad_signature",
        "missing X-Signature",
    ))?;
    let path = request
        .uri
        .path_and_query()
        .map_or_else(|| request.uri.path(), |pq| pq.as_str());
    if !signing::verify(
        method,
        &shared.secret,
        request.method.as_str(),
        path,
        timestamp,
        nonce,
        &request.body,
        signature,
    ) {
        return Err(Refusal::unauthorized(
            "bad_signature",
            "signature does not match",
        ));
    }
    if (now - timestamp).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(Refusal {
            status: StatusCode::CONFLICT,
            code: "stale_timestamp",
            message: "X-Timestamp is outside ±300 s of the platform clock",
        });
    }
    if !lock(&shared.nonces).insert(nonce, timestamp, now) {
        return Err(Refusal {
            status: StatusCode::CONFLICT,
            code: "replay",
            message: "X-Nonce already used",
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Endpoints

#[derive(Deserialize)]
#[allow(
    dead_code,
    reason = "fields exist to make serde require them; the body is stored whole"
)]
struct Registration {
    uscc: String,
    name: String,
    kind: String,
    division_code: String,
    legal_rep: RegistrationLegalRep,
    #[serde(default)]
    email: Option<String>,
    verification: VerificationEvidence,
    agreement: Agreement,
    #[serde(default)]
    referral_code: Option<String>,
}

#[derive(Deserialize)]
#[allow(
    dead_code,
    reason = "fields exist to make serde require them; the body is stored whole"
)]
struct RegistrationLegalRep {
    name: String,
    #[serde(default)]
    id_number: Option<String>,
    #[serde(default)]
    id_number_enc: Option<String>,
    #[serde(default)]
    enc: Option<String>,
    mobile: String,
}

#[derive(Deserialize)]
#[allow(
    dead_code,
    reason = "fields exist to make serde require them; the body is stored whole"
)]
struct VerificationEvidence {
    level: String,
    at: String,
}

#[derive(Deserialize)]
#[allow(
    dead_code,
    reason = "fields exist to make serde require them; the body is stored whole"
)]
struct Agreement {
    version: String,
    digest: String,
    signed_at: String,
    signer_name: String,
}

/// 18 characters of the GB 32100 alphabet. The check digit is not verified: the simulator
/// should refuse only what its configuration says, not second-guess test data.
fn uscc_is_well_formed(uscc: &str) -> bool {
    uscc.len() == 18
        && uscc
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"IOSVZ".contains(&b)))
}

fn is_rfc3339(value: &str) -> bool {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).is_ok()
}

/// Field-level checks after the shape is known; the message never echoes a field's value,
/// since most of them are personal data.
fn invalid_registration(reg: &Registration) -> Option<(&'static str, &'static str)> {
    if !uscc_is_well_formed(&reg.uscc) {
        return Some(("uscc_invalid", "统一社会信用代码格式不正确"));
    }
    if reg.division_code.len() != 6 || !reg.division_code.bytes().all(|b| b.is_ascii_digit()) {
        return Some(("invalid_field", "division_code must be 6 digits"));
    }
    if reg.name.trim().is_empty() || reg.kind.trim().is_empty() {
        return Some(("invalid_field", "name and kind are required"));
    }
    let rep = &reg.legal_rep;
    if rep.id_number.is_some() == rep.id_number_enc.is_some() {
        return Some((
            "invalid_field",
            "exactly one of legal_rep.id_number and legal_rep.id_number_enc is required",
        ));
    }
    if rep.id_number_enc.is_some() && rep.enc.as_deref() != Some("SM4-GCM") {
        return Some(("invalid_field", "legal_rep.enc must be SM4-GCM"));
    }
    if !matches!(reg.verification.level.as_str(), "L2" | "manual") {
        return Some(("invalid_field", "verification.level must be L2 or manual"));
    }
    if !is_rfc3339(&reg.verification.at) || !is_rfc3339(&reg.agreement.signed_at) {
        return Some(("invalid_field", "times must be RFC 3339"));
    }
    None
}

async fn reject_invalid(
    shared: &Shared,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    if let Err(e) = bump(&shared.pool, Counter::Rejected).await {
        return internal(&e);
    }
    error_response(status, code, message)
}

async fn handle_register(shared: &Shared, body: &[u8]) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return reject_invalid(
            shared,
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "body is not JSON",
        )
        .await;
    };
    let Ok(reg) = Registration::deserialize(&value) else {
        // serde's message can quote the offending value, which may be personal data: keep it
        // out of the answer as well as the logs.
        return reject_invalid(
            shared,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "a required field is missing or has the wrong type",
        )
        .await;
    };
    if let Some((code, message)) = invalid_registration(&reg) {
        return reject_invalid(shared, StatusCode::UNPROCESSABLE_ENTITY, code, message).await;
    }
    let uscc = reg.uscc;
    let outcome =
        match store_registration(&shared.pool, &uscc, &value, shared.reject.get(&uscc)).await {
            Ok(outcome) => outcome,
            Err(e) => return internal(&e),
        };
    let status = match outcome {
        RegisterOutcome::Accepted => StatusCode::CREATED,
        RegisterOutcome::Duplicate | RegisterOutcome::Updated => StatusCode::OK,
        RegisterOutcome::Rejected { code, message } => {
            tracing::debug!(%uscc, %code, "province-sim: rejected on purpose");
            return error_response(StatusCode::UNPROCESSABLE_ENTITY, &code, &message);
        }
    };
    tracing::debug!(%uscc, status = status.as_u16(), "province-sim: registration stored");
    let platform_id = platform_id(&uscc);
    (
        status,
        axum::Json(json!({ "uscc": uscc, "status": "accepted", "platform_id": platform_id })),
    )
        .into_response()
}

fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "主体未注册 (entity not registered)",
    )
}

async fn handle_status(shared: &Shared, uscc: &str) -> Response {
    let row: Result<Option<(String, String, Option<String>)>, _> = sqlx::query_as(
        "SELECT status, platform_id, reject_reason FROM sim_entities WHERE uscc = ?",
    )
    .bind(uscc)
    .fetch_optional(&shared.pool)
    .await;
    match row {
        Err(e) => internal(&e),
        Ok(None) => not_found(),
        Ok(Some((status, platform_id, reason))) => {
            let mut body = json!({ "uscc": uscc, "status": status, "platform_id": platform_id });
            if status == "rejected" {
                body["reason"] = Value::String(reason.unwrap_or_default());
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct ContactUpdate {
    #[serde(default)]
    mobile: Option<String>,
    #[serde(default)]
    email: Option<String>,
    revision: i64,
}

async fn handle_contact(shared: &Shared, uscc: &str, body: &[u8]) -> Response {
    let Ok(update) = serde_json::from_slice::<ContactUpdate>(body) else {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "body must be {mobile?, email?, revision}",
        );
    };
    match apply_contact(&shared.pool, uscc, &update).await {
        Err(e) => internal(&e),
        Ok(None) => not_found(),
        Ok(Some((status, revision))) => (
            StatusCode::OK,
            axum::Json(json!({ "uscc": uscc, "status": status, "revision": revision })),
        )
            .into_response(),
    }
}

/// Applies a contact revision unless a newer one is applied: `(status, current revision)`,
/// or `None` if the entity is not registered (a rejected entity counts as not registered).
async fn apply_contact(
    pool: &SqlitePool,
    uscc: &str,
    update: &ContactUpdate,
) -> Result<Option<(&'static str, i64)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let current: Option<(i64,)> = sqlx::query_as(
        "SELECT contact_revision FROM sim_entities WHERE uscc = ? AND status = 'accepted'",
    )
    .bind(uscc)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((current,)) = current else {
        return Ok(None);
    };
    let result = if update.revision > current {
        sqlx::query(
            "INSERT INTO sim_contact_revisions (uscc, revision, mobile, email, applied_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(uscc)
        .bind(update.revision)
        .bind(&update.mobile)
        .bind(&update.email)
        .bind(now_unix())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sim_entities SET contact_revision = ? WHERE uscc = ?")
            .bind(update.revision)
            .bind(uscc)
            .execute(&mut *tx)
            .await?;
        bump(&mut *tx, Counter::Contacts).await?;
        ("applied", update.revision)
    } else if update.revision == current {
        // A resend of the revision already applied: the sender's retry succeeded earlier.
        ("applied", current)
    } else {
        ("stale", current)
    };
    tx.commit().await?;
    Ok(Some(result))
}

#[derive(Deserialize)]
struct VerificationRequest {
    uscc: String,
    legal_rep: VerificationLegalRep,
}

#[derive(Deserialize)]
struct VerificationLegalRep {
    name: String,
    #[serde(default)]
    id_number: Option<String>,
    #[serde(default)]
    id_number_enc: Option<String>,
}

/// L3 verification has no real registry behind it here: an encrypted ID number passes, and a
/// plain one passes when it has the shape of a resident ID (17 digits and a digit or `X`).
/// A configured rejection also fails the entity's L3 check, with the same reason, so tests can
/// drive both answers.
fn handle_verify(shared: &Shared, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<VerificationRequest>(body) else {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "body must be {uscc, legal_rep: {name, id_number | id_number_enc}}",
        );
    };
    if !uscc_is_well_formed(&request.uscc) {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "uscc_invalid",
            "统一社会信用代码格式不正确",
        );
    }
    let rep = &request.legal_rep;
    let plausible = match (&rep.id_number, &rep.id_number_enc) {
        (Some(id), None) => {
            let bytes = id.as_bytes();
            bytes.len() == 18
                && bytes[..17].iter().all(u8::is_ascii_digit)
                && (bytes[17].is_ascii_digit() || bytes[17] == b'X')
        }
        (None, Some(_)) => true,
        _ => false,
    };
    let answer = if let Some((_, reason)) = shared.reject.get(&request.uscc) {
        json!({ "result": "fail", "reason": reason })
    } else if plausible && !rep.name.trim().is_empty() {
        json!({ "result": "pass" })
    } else {
        json!({ "result": "fail", "reason": "身份信息核验不一致" })
    };
    (StatusCode::OK, axum::Json(answer)).into_response()
}

async fn get_faults(State(shared): AppState) -> axum::Json<Faults> {
    axum::Json(*lock(&shared.faults))
}

async fn set_faults(State(shared): AppState, body: Bytes) -> Response {
    let update = match serde_json::from_slice::<FaultsUpdate>(&body) {
        Ok(update) => update,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, "invalid_field", &e.to_string());
        }
    };
    match SimHandle(shared).update_faults(update) {
        Ok(faults) => {
            tracing::info!(?faults, "province-sim: faults updated");
            (StatusCode::OK, axum::Json(faults)).into_response()
        }
        Err(e) => error_response(StatusCode::BAD_REQUEST, "invalid_field", &e.to_string()),
    }
}

async fn get_stats(State(shared): AppState) -> Response {
    match read_stats(&shared.pool).await {
        Ok(stats) => (StatusCode::OK, axum::Json(stats)).into_response(),
        Err(e) => internal(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_single_use_until_their_timestamp_goes_stale() {
        let mut cache = NonceCache::default();
        let nonce = "0123456789abcdef0123456789abcdef";
        assert!(cache.insert(nonce, 1_000, 1_000));
        assert!(!cache.insert(nonce, 1_000, 1_200));
        // Past the window the timestamp check refuses the replay, so the entry may go.
        assert!(cache.insert(nonce, 1_400, 1_400));
        assert!(cache.insert("another0123456789", 2_000, 2_000));
        assert!(
            !cache.expires_at.contains_key(nonce),
            "expired nonces are swept"
        );
    }

    #[test]
    fn fault_updates_are_partial_and_validated() {
        let base = Faults {
            error_rate: 0.3,
            ..Faults::default()
        };
        let next = FaultsUpdate {
            outage: Some(true),
            ..FaultsUpdate::default()
        }
        .apply(base);
        assert!(next.outage);
        assert!((next.error_rate - 0.3).abs() < f64::EPSILON);
        let bad = Faults {
            throttle_rate: 1.5,
            ..Faults::default()
        };
        assert!(bad.validate().is_err());
        let nan = Faults {
            timeout_rate: f64::NAN,
            ..Faults::default()
        };
        assert!(nan.validate().is_err());
    }

    #[test]
    fn uscc_shape() {
        assert!(uscc_is_well_formed("91220322MA0Y3K2B1F"));
        assert!(!uscc_is_well_formed("91220322MA0Y3K2B1"));
        assert!(!uscc_is_well_formed("91220322ma0y3k2b1f"));
        assert!(!uscc_is_well_formed("91220322MA0Y3K2BIO"));
    }
}
