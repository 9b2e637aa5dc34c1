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

mod endpoints;
mod gateway;
mod listener;
mod replay;
mod storage;

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

use endpoints::*;
use gateway::*;
use listener::*;
use replay::*;
use storage::*;

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
