//! `cargo bench --bench sync` (`scripts/bench sync`): how fast the outbox worker delivers
//! registrations, against the provincial simulator's own capacity measured in the same run.
//!
//! 1. Capacity: a fresh simulator (SQLite file, as `province-sim` runs) takes N distinct signed
//!    registrations fired through the real HTTP adapter, `--concurrency` at a time. Nothing of
//!    ours is in the way: no database, no outbox.
//! 2. Delivery: N verified and signed registrations are seeded into a fresh database (SQLite in
//!    a temporary directory, or PostgreSQL with `--engine postgres --pg-url URL`), and a
//!    [`Worker`] with the production defaults (or `--batch`, `--worker-concurrency`) delivers
//!    them to another fresh simulator: claims, reads, sends, records every answer and audits it.
//!
//! It prints both rates and their ratio, one line each (target ≥ 0.5), and fails if any
//! registration was not accepted exactly once.
//!
//! ```text
//! cargo bench --bench sync -- [--registrations N] [--concurrency C] [--batch B]
//!     [--worker-concurrency W] [--engine sqlite|postgres] [--pg-url postgres://…/postgres]
//!     [--profile]
//! ```
//!
//! `--profile` also times every SQL statement of the delivery run (ours and the simulator's,
//! from sqlx's own query events) and prints the statements that took the most time, and how
//! long the worker spent in its serial steps (claiming a batch, recording its answers).
#![allow(clippy::print_stdout, reason = "the figures are this program's output")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures_util::{StreamExt, stream};
use sqlx::Connection as _;
use xinyidai::config::{DatabaseUrl, Secret};
use xinyidai::demo;
use xinyidai::domain::resident_id::ResidentId;
use xinyidai::outbox::send_metrics::SyncMetrics;
use xinyidai::outbox::worker::{Worker, WorkerConfig};
use xinyidai::province::client::{
    AgreementEvidence, HttpProvince, LegalRep, Province, ProvinceSettings, RealNameEvidence,
    RegisterEntity, VerificationLevel,
};
use xinyidai::province::simulator::{SimConfig, SimHandle, SimStats, Simulator};
use xinyidai::security::id_vault::IdVault;
use xinyidai::store::{self, Db};

const APP_ID: &str = "lishu-220322";
const SECRET: &str = "bench-secret";

struct Args {
    registrations: usize,
    concurrency: usize,
    batch: i64,
    worker_concurrency: usize,
    pg_url: Option<String>,
    /// Time every SQL statement of the delivery run and print where the time went.
    profile: bool,
}

impl Args {
    fn parse() -> anyhow::Result<Args> {
        let defaults = WorkerConfig::default();
        let mut args = Args {
            registrations: 2_000,
            concurrency: 16,
            batch: defaults.batch,
            worker_concurrency: defaults.concurrency,
            pg_url: None,
            profile: false,
        };
        let mut engine = "sqlite".to_owned();
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                // What `cargo bench` passes to every bench binary.
                "--bench" => {}
                "--registrations" => args.registrations = value()?.parse()?,
                "--concurrency" => args.concurrency = value()?.parse()?,
                "--batch" => args.batch = value()?.parse()?,
                "--worker-concurrency" => args.worker_concurrency = value()?.parse()?,
                "--engine" => engine = value()?,
                "--pg-url" => args.pg_url = Some(value()?),
                "--profile" => args.profile = true,
                other => bail!("unknown argument {other} (see benches/sync.rs)"),
            }
        }
        ensure!(
            args.registrations > 0 && args.concurrency > 0 && args.batch > 0,
            "counts must be positive"
        );
        match engine.as_str() {
            "sqlite" => args.pg_url = None,
            "postgres" => {
                if args.pg_url.is_none() {
                    args.pg_url = std::env::var("XYD_BENCH_PG_URL").ok();
                }
                ensure!(
                    args.pg_url.is_some(),
                    "--engine postgres needs --pg-url (or XYD_BENCH_PG_URL)"
                );
            }
            other => bail!("--engine must be sqlite or postgres, not {other}"),
        }
        Ok(args)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    if args.profile {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::{Layer as _, filter};
        let only_sql = filter::filter_fn(|meta| meta.target() == "sqlx::query");
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(SqlTimes.with_filter(only_sql)),
        )?;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(&args))
}

/// A simulator over a fresh SQLite file in `dir`, serving on loopback.
struct Sim {
    addr: SocketAddr,
    handle: SimHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Sim {
    async fn start(db_path: &Path) -> anyhow::Result<Sim> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let server = Simulator::build(
            SimConfig {
                app_id: APP_ID.to_owned(),
                secret: SECRET.to_owned(),
                db_path: db_path.display().to_string(),
                ..SimConfig::default()
            },
            listener,
        )
        .await?;
        let addr = server.local_addr();
        let handle = server.handle();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run_until(async move {
                    let _ = stopped.await;
                })
                .await?;
            Ok(())
        });
        Ok(Sim {
            addr,
            handle,
            stop,
            task,
        })
    }

    fn province(&self) -> anyhow::Result<HttpProvince> {
        Ok(HttpProvince::new(ProvinceSettings::new(
            format!("http://{}", self.addr),
            APP_ID,
            Secret::new(SECRET),
        ))?)
    }

    async fn finish(self) -> anyhow::Result<SimStats> {
        let stats = self.handle.stats().await?;
        let _ = self.stop.send(());
        self.task.await??;
        Ok(stats)
    }
}

/// Exactly `n` accepted, nothing sent twice or refused.
fn check_once(what: &str, stats: &SimStats, n: usize) -> anyhow::Result<()> {
    ensure!(
        stats.accepted == n as u64
            && stats.duplicates == 0
            && stats.updates == 0
            && stats.rejected == 0,
        "{what}: the simulator did not accept each of {n} registrations exactly once: {stats:?}"
    );
    Ok(())
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// N distinct, complete registration bodies, as the worker would build them.
fn requests(n: usize) -> anyhow::Result<Vec<RegisterEntity>> {
    let now = time::OffsetDateTime::now_utc();
    let birth = time::macros::date!(1970 - 01 - 01);
    demo::ready_entities(n, 99)
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let id = ResidentId::assemble("220322", birth, u16::try_from(i % 1000)?)?;
            Ok(RegisterEntity {
                uscc: e.uscc.as_str().to_owned(),
                name: e.name,
                kind: e.uscc.entity_kind().as_str().to_owned(),
                division_code: e.uscc.division_code().to_owned(),
                legal_rep: LegalRep {
                    name: e.legal_rep.clone(),
                    id_number: id.as_str().to_owned(),
                    mobile: format!("138{i:08}"),
                },
                email: Some(format!("owner{i}@example.invalid")),
                verification: RealNameEvidence {
                    level: VerificationLevel::L2,
                    at: now,
                },
                agreement: AgreementEvidence {
                    version: "bench".to_owned(),
                    digest: "0".repeat(64),
                    signed_at: now,
                    signer_name: e.legal_rep,
                },
                referral_code: None,
            })
        })
        .collect()
}

/// The simulator alone: N signed registrations through the HTTP adapter, C at a time.
async fn capacity(args: &Args, dir: &Path) -> anyhow::Result<Duration> {
    let bodies = requests(args.registrations)?;
    let sim = Sim::start(&dir.join("capacity-sim.db")).await?;
    let province = sim.province()?;
    let started = Instant::now();
    let results: Vec<_> = stream::iter(&bodies)
        .map(|body| province.register(body))
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    if let Some(Err(err)) = results.iter().find(|r| r.is_err()) {
        bail!("capacity run: a registration failed: {err}");
    }
    check_once("capacity run", &sim.finish().await?, args.registrations)?;
    Ok(elapsed)
}

/// A fresh database of the chosen engine; PostgreSQL's is dropped by [`drop_database`].
async fn fresh_database(args: &Args, dir: &Path) -> anyhow::Result<(String, Option<String>)> {
    let Some(admin) = &args.pg_url else {
        return Ok((format!("sqlite://{}", dir.join("bench.db").display()), None));
    };
    let name = format!("xyd_bench_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok((format!("{base}/{name}"), Some(name)))
}

/// Best effort: a database left behind is reported, not fatal.
async fn drop_database(args: &Args, name: Option<String>) {
    if let (Some(admin), Some(name)) = (&args.pg_url, name) {
        let dropped = async {
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            // FORCE: the backends of the pool just closed may still be on their way out.
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
            conn.close().await
        };
        if let Err(err) = dropped.await {
            eprintln!("could not drop the bench database {name}: {err}");
        }
    }
}

/// Our side: the worker delivers N seeded registrations from the outbox.
async fn delivery(args: &Args, dir: &Path) -> anyhow::Result<(Duration, Duration)> {
    let (url, pg_name) = fresh_database(args, dir).await?;
    let db = Db::open(&DatabaseUrl::new(url), 10).await?;
    let vault = Arc::new(IdVault::from_hex(&IdVault::generate_hex())?);
    let seeding = Instant::now();
    demo::seed_ready_registrations(&db, &vault, args.registrations, 7, |n| {
        format!("owner{n}@example.invalid")
    })
    .await?;
    let seeded_in = seeding.elapsed();
    ensure!(store::outbox::pending_count(&db).await? == args.registrations as i64);

    let sim = Sim::start(&dir.join("delivery-sim.db")).await?;
    let config = WorkerConfig {
        batch: args.batch,
        concurrency: args.worker_concurrency,
        ..WorkerConfig::default()
    };
    let worker = Worker::new(
        db.clone(),
        vault,
        sim.province()?,
        config,
        Arc::new(SyncMetrics::default()),
    );
    sql_times_reset();
    let started = Instant::now();
    // The production loop (it records a batch while sending the next), stopped once the
    // outbox holds nothing pending. Polling every 5 ms costs the worker a little, never helps.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    while store::outbox::pending_count(&db).await? > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    running.await?;
    let pending = store::outbox::pending_count(&db).await?;
    ensure!(pending == 0, "{pending} registrations were not delivered");
    check_once("delivery run", &sim.finish().await?, args.registrations)?;
    db.close().await;
    drop_database(args, pg_name).await;
    Ok((elapsed, seeded_in))
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let n = args.registrations;
    let engine = if args.pg_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    eprintln!("sync bench: {n} registrations, engine {engine}…");
    let capacity = capacity(args, dir.path()).await?;
    let (delivered, seeded_in) = delivery(args, dir.path()).await?;
    let (sim_rate, our_rate) = (rate(n, capacity), rate(n, delivered));
    println!(
        "simulator capacity ({} concurrent signed requests): {n} in {:.2} s = {sim_rate:.0} registrations/s",
        args.concurrency,
        capacity.as_secs_f64()
    );
    println!(
        "worker delivery on {engine} (batch {}, concurrency {}): {n} in {:.2} s = {our_rate:.0} registrations/s (seeding took {:.1} s, not counted)",
        args.batch,
        args.worker_concurrency,
        delivered.as_secs_f64(),
        seeded_in.as_secs_f64()
    );
    let ratio = our_rate / sim_rate;
    println!(
        "ratio delivered/capacity: {ratio:.2} (target ≥ 0.5{})",
        if ratio < 0.5 {
            ": BELOW TARGET"
        } else {
            ": met"
        }
    );
    if args.profile {
        print_sql_times(delivered);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// --profile: time per SQL statement, from sqlx's `sqlx::query` events

/// `statement → (executions, seconds)` since the last reset.
static SQL_TIMES: std::sync::Mutex<Option<HashMap<String, (u64, f64)>>> =
    std::sync::Mutex::new(None);

fn sql_times_reset() {
    *SQL_TIMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(HashMap::new());
}

struct SqlTimes;

#[derive(Default)]
struct SqlEvent {
    statement: String,
    seconds: f64,
}

impl tracing::field::Visit for SqlEvent {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.seconds = value;
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        // sqlx leaves `db.statement` empty when the summary is the whole statement.
        if value.is_empty() {
            return;
        }
        if field.name() == "db.statement"
            || (field.name() == "summary" && self.statement.is_empty())
        {
            self.statement = value.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "db.statement"
            || (field.name() == "summary" && self.statement.is_empty())
        {
            let text = format!("{value:?}");
            if text.trim_matches('"').is_empty() {
                return;
            }
            self.statement = text
                .trim_matches('"')
                .replace("\\n", " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SqlTimes {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut seen = SqlEvent::default();
        event.record(&mut seen);
        let key: String = seen.statement.chars().take(90).collect();
        if let Some(times) = SQL_TIMES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            let entry = times.entry(key).or_default();
            entry.0 += 1;
            entry.1 += seen.seconds;
        }
    }
}

fn print_sql_times(wall: Duration) {
    let times = SQL_TIMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    let mut rows: Vec<_> = times.into_iter().collect();
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    let total: f64 = rows.iter().map(|(_, (_, s))| s).sum();
    println!(
        "profile of the delivery run ({:.2} s wall): {total:.2} s in SQL statements (concurrent \
         sends overlap), by statement:",
        wall.as_secs_f64()
    );
    for (statement, (count, seconds)) in rows.iter().take(16) {
        println!(
            "  {seconds:7.3} s {count:7} × {:6.3} ms  {statement}",
            seconds * 1000.0 / *count as f64
        );
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("xyd-bench-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
