//! The proofs of provincial sync (issue 4), on whichever engine the suite runs:
//!
//! - kill -9 the real server at random moments while registrations sync, restart it each time:
//!   afterwards every registration is accepted at the simulator exactly once;
//! - a thousand registrations through 30 % injected faults and a 60 s outage: all accepted once,
//!   the circuit breaker opened and closed again;
//! - a record the province always rejects ends as a rejection for its owner (email included),
//!   and the thousand behind it still flow.
//!
//! Figures go to stderr (`cargo test … -- --nocapture` shows them); `scripts/crash-drill` runs
//! the first proof with more kills and registrations.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use time::OffsetDateTime;
use xinyidai::config::{DatabaseUrl, ProvinceLink, Secret};
use xinyidai::demo;
use xinyidai::outbox::send_metrics::{BreakerState, MetricsSnapshot};
use xinyidai::outbox::worker::WorkerConfig;
use xinyidai::province::simulator::{Faults, FaultsUpdate, SimConfig, SimStats};
use xinyidai::security::id_vault::IdVault;
use xinyidai::store::{self, Db};

use crate::helpers::{TestApp, engine_is_postgres, fresh_database};
use crate::mailbox::{Mailbox, unique_address};
use crate::simulator::Sim;

const APP_ID: &str = "lishu-220322";
const SECRET: &str = "sync-proofs-secret";

fn engine() -> &'static str {
    if engine_is_postgres() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// A positive number from the environment, or `default`.
fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{name} must be a positive integer, got {v:?}")),
        Err(_) => default,
    }
}

fn seeded_email(n: usize) -> String {
    format!("owner{n}@example.invalid")
}

/// The simulator these proofs talk to (seeded faults, so a failing run can be repeated).
async fn start_sim(faults: Faults, reject: Vec<(String, String, String)>) -> Sim {
    Sim::start(SimConfig {
        app_id: APP_ID.to_owned(),
        secret: SECRET.to_owned(),
        seed: 4,
        reject,
        faults,
        ..SimConfig::default()
    })
    .await
}

fn link(sim: &Sim, timeout: Duration) -> ProvinceLink {
    ProvinceLink {
        base_url: format!("http://{}", sim.addr),
        app_id: APP_ID.to_owned(),
        secret: Secret::new(SECRET),
        signature_method: "HMAC-SHA256".to_owned(),
        l3: false,
        timeout,
    }
}

/// `(value, rows)` of `SELECT <column>, COUNT(*) … GROUP BY <column>`, sorted.
async fn tally(db: &Db, sql: &str) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = xinyidai::on_pool!(db, |pool| sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .unwrap());
    rows.sort();
    rows
}

async fn sync_states(db: &Db) -> Vec<(String, i64)> {
    tally(
        db,
        "SELECT sync_state, COUNT(*) FROM registrations GROUP BY sync_state",
    )
    .await
}

async fn outbox_states(db: &Db) -> Vec<(String, i64)> {
    tally(db, "SELECT state, COUNT(*) FROM outbox GROUP BY state").await
}

fn rows_in(tally: &[(String, i64)], state: &str) -> i64 {
    tally
        .iter()
        .find(|(s, _)| s == state)
        .map_or(0, |(_, n)| *n)
}

/// One count from the database.
async fn scalar(db: &Db, sql: &str) -> i64 {
    xinyidai::on_pool!(db, |pool| sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

/// Rows a worker holds right now: claimed, lease running, answer not yet recorded.
async fn leased_now(db: &Db) -> i64 {
    xinyidai::on_pool!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND lease_until > $1"
    )
    .bind(OffsetDateTime::now_utc())
    .fetch_one(pool)
    .await
    .unwrap())
}

fn print_stats(label: &str, s: &SimStats) {
    eprintln!(
        "  {label}: received {} accepted {} duplicates {} updates {} rejected {} refused_auth {} \
         faults_injected {}",
        s.received,
        s.accepted,
        s.duplicates,
        s.updates,
        s.rejected,
        s.refused_auth,
        s.faults_injected
    );
}

fn print_metrics(m: &MetricsSnapshot) {
    let outcomes: Vec<String> = m
        .outcomes
        .iter()
        .map(|(r, n)| format!("{} {n}", r.as_str()))
        .collect();
    eprintln!(
        "  worker: {} calls to the province; outcomes {}; breaker opened {} closed {}, now {}",
        m.calls,
        outcomes.join(", "),
        m.breaker_opened,
        m.breaker_closed,
        m.breaker.as_str()
    );
}

// ---------------------------------------------------------------------------------------------
// (a) kill -9 at random moments

/// A running server process, killed when dropped, so a failing assertion leaves no orphan
/// process behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary serving over `url`, its worker sending to `sim`, output appended to `log`.
fn serve(url: &str, data_key: &str, sim: &Sim, dir: &Path, log: &Path) -> Server {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_xinyidai"))
        .arg("serve")
        // Only what we set: the developer's own DATABASE_URL must never leak into a test.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("XYD_LISTEN", "127.0.0.1:0")
        .env("XYD_DATA_KEY", data_key)
        .env("XYD_LOG", "warn")
        .env("XYD_MAIL_DIR", dir.join("mail"))
        .env("XYD_PROVINCE_URL", format!("http://{}", sim.addr))
        .env("XYD_PROVINCE_APP_ID", APP_ID)
        .env("XYD_PROVINCE_SECRET", SECRET)
        .env("XYD_PROVINCE_TIMEOUT_MS", "5000")
        // A killed worker's rows come back after a second.
        .env("XYD_SYNC_LEASE_SECS", "1")
        .env("XYD_SYNC_BATCH", "10")
        .env("XYD_SYNC_CONCURRENCY", "4")
        .env("XYD_SYNC_BASE_DELAY_MS", "50")
        .env("XYD_SYNC_MAX_DELAY_SECS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(Server)
        .unwrap()
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// SIGKILL (`Child::kill` sends it on Unix) and reap. The server must still have been running:
/// one that died by itself would make the drill prove nothing.
fn kill_9(Server(child): &mut Server, log: &Path) {
    if let Some(status) = child.try_wait().unwrap() {
        panic!(
            "the server exited by itself ({status}) before the kill:\n{}",
            log_tail(log)
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

struct Kill {
    after_ms: u64,
    delivered: u64,
    in_flight: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_and_sends_nothing_twice() {
    let kills = env_number("XYD_CRASH_KILLS", 20);
    let count = env_number("XYD_CRASH_REGISTRATIONS", 500);
    let seed = std::env::var("XYD_CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    // The province's latency stretches the sync over the kill cycles (about 1 row in 10 per
    // cycle at the defaults), but stays well inside the 1 s lease, so a request of a killed
    // server has always landed before its row can be claimed again.
    let latency_ms = u64::try_from(2_000 * kills / count)
        .unwrap_or(150)
        .clamp(20, 150);
    eprintln!(
        "crash drill on {}: {kills} kills, {count} registrations, province latency {latency_ms} ms, \
         seed {seed} (XYD_CRASH_SEED={seed} repeats the kill timings)",
        engine()
    );

    let fresh = fresh_database().await;
    let data_key = IdVault::generate_hex();
    let vault = IdVault::from_hex(&data_key).unwrap();
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let seeding = Instant::now();
    let ids = demo::seed_ready_registrations(&db, &vault, count, seed, seeded_email)
        .await
        .unwrap();
    assert_eq!(ids.len(), count);
    eprintln!(
        "  seeded {count} registrations in {:.1?}",
        seeding.elapsed()
    );
    assert_eq!(
        store::outbox::pending_count(&db).await.unwrap(),
        count as i64
    );

    let sim = start_sim(
        Faults {
            latency_ms,
            ..Faults::default()
        },
        Vec::new(),
    )
    .await;
    let log = fresh.dir.path().join("serve.log");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut history = Vec::with_capacity(kills);
    for k in 1..=kills {
        let mut child = serve(&fresh.url, &data_key, &sim, fresh.dir.path(), &log);
        let after_ms = rng.random_range(100..=700);
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        // Read just before the kill: what it interrupts.
        let in_flight = leased_now(&db).await;
        let delivered = sim.handle.stats().await.unwrap().accepted;
        kill_9(&mut child, &log);
        eprintln!(
            "  kill {k:>3} after {after_ms:>3} ms: {delivered:>5} delivered so far, {in_flight:>2} rows \
             under lease (claimed, answer not recorded)"
        );
        history.push(Kill {
            after_ms,
            delivered,
            in_flight,
        });
    }
    let kill_phase = started.elapsed();
    let after_kills = sim.handle.stats().await.unwrap();
    let pending_after_kills = store::outbox::pending_count(&db).await.unwrap();

    // Once more, left to finish.
    let mut child = serve(&fresh.url, &data_key, &sim, fresh.dir.path(), &log);
    let deadline = Instant::now() + Duration::from_secs(120 + count as u64 / 10);
    while store::outbox::pending_count(&db).await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "hang guard: {} rows still pending; outbox {:?}; server log:\n{}",
            store::outbox::pending_count(&db).await.unwrap(),
            outbox_states(&db).await,
            log_tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill_9(&mut child, &log);
    let elapsed = started.elapsed();

    let stats = sim.handle.stats().await.unwrap();
    let registrations = sync_states(&db).await;
    let outbox = outbox_states(&db).await;
    // Claimed by a server that was killed before it recorded the answer, then claimed again.
    let reclaimed = scalar(&db, "SELECT COUNT(*) FROM outbox WHERE attempts > 1").await;
    let max_attempts = scalar(&db, "SELECT MAX(attempts) FROM outbox").await;
    let mid_sync = history.iter().filter(|k| k.in_flight > 0).count();
    // Stored at the province but not yet recorded here when the kills ended: the window a
    // resend would turn into a duplicate, closed by the status query before resending.
    let unrecorded = after_kills.accepted as i64 - (count as i64 - pending_after_kills);
    let mean_wait = history.iter().map(|k| k.after_ms).sum::<u64>() / kills as u64;
    eprintln!(
        "crash drill on {} done: {kills} kills in {kill_phase:.1?} (mean {mean_wait} ms alive), \
         {} of {count} delivered when the last kill hit, {pending_after_kills} still pending here \
         ({unrecorded} of them already stored at the province); \
         {mid_sync} kills hit rows under lease; {reclaimed} rows claimed again after a kill (most \
         attempts {max_attempts}); all delivered {elapsed:.1?} after the first start",
        engine(),
        after_kills.accepted
    );
    print_stats("simulator", &stats);
    eprintln!("  registrations by sync_state {registrations:?}; outbox by state {outbox:?}");

    // Every registration accepted at the province exactly once…
    assert_eq!(stats.accepted, count as u64, "{stats:?}");
    assert_eq!(
        (stats.duplicates, stats.updates, stats.rejected),
        (0, 0, 0),
        "sent twice or refused: {stats:?}"
    );
    // …and known here as accepted: none lost, none stuck, none dead.
    assert_eq!(registrations, vec![("accepted".to_owned(), count as i64)]);
    assert_eq!(outbox, vec![("done".to_owned(), count as i64)]);
    // The kills really interrupted the sync.
    assert!(
        after_kills.accepted < count as u64,
        "everything was delivered before the last kill: the kills proved nothing; raise \
         XYD_CRASH_REGISTRATIONS (at least 25 per kill)"
    );
    assert!(
        mid_sync > 0 && reclaimed > 0,
        "no kill interrupted a claimed batch ({mid_sync} kills with rows in flight, {reclaimed} \
         rows claimed twice)"
    );
    assert!(history.iter().any(|k| k.delivered > 0));
    sim.stop().await;
    db.close().await;
}

// ---------------------------------------------------------------------------------------------
// (b) faults and an outage

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_registrations_get_through_faults_and_an_outage_exactly_once() {
    const COUNT: usize = 1_000;
    let outage = Duration::from_secs(env_number("XYD_FAULT_OUTAGE_SECS", 60) as u64);
    // The simulator draws each fault in turn from one roll per kind: 10 % server errors, then
    // 10 % of the rest throttled, 6 % of the rest held past our timeout, 8 % of the rest
    // stored with the answer dropped: 1 − 0.9 · 0.9 · 0.94 · 0.92 ≈ 30 % of all calls.
    let faults = Faults {
        error_rate: 0.10,
        throttle_rate: 0.10,
        retry_after_secs: 1,
        timeout_rate: 0.06,
        timeout_hold_ms: 3_000,
        drop_after_store_rate: 0.08,
        ..Faults::default()
    };
    let sim = start_sim(faults, Vec::new()).await;
    let province = link(&sim, Duration::from_millis(1_000));
    let config = WorkerConfig {
        lease: Duration::from_secs(60),
        batch: 20,
        // The outage is compressed into a minute, so the patience is scaled with it: attempts
        // made by breaker probes and before the breaker opens must not send rows to the
        // dead-letter list.
        max_attempts: 100,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        concurrency: 8,
        breaker_threshold: 5,
        breaker_cooldown: Duration::from_secs(2),
    };
    let app = TestApp::spawn_prepared(
        |s| {
            s.province = Some(province);
            s.sync = config;
        },
        async |db, vault| {
            demo::seed_ready_registrations(db, vault, COUNT, 11, seeded_email)
                .await
                .unwrap();
        },
    )
    .await;
    eprintln!(
        "fault test on {}: {COUNT} registrations, faults {faults:?}",
        engine()
    );
    let started = Instant::now();

    // Some flow through the faults first.
    let deadline = Instant::now() + Duration::from_secs(180);
    while sim.handle.stats().await.unwrap().accepted < 300 {
        assert!(Instant::now() < deadline, "hang guard: too few delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before_outage = sim.handle.stats().await.unwrap();
    let to_outage = started.elapsed();
    sim.handle
        .update_faults(FaultsUpdate {
            outage: Some(true),
            ..FaultsUpdate::default()
        })
        .unwrap();
    tokio::time::sleep(outage).await;
    let during = app.sync_metrics.snapshot();
    let at_outage_end = sim.handle.stats().await.unwrap();
    sim.handle
        .update_faults(FaultsUpdate {
            outage: Some(false),
            ..FaultsUpdate::default()
        })
        .unwrap();
    let outage_ended = Instant::now();

    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let states = sync_states(&app.db).await;
        if rows_in(&states, "accepted") == COUNT as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hang guard: registrations {states:?}, outbox {:?}, worker {:?}",
            outbox_states(&app.db).await,
            app.sync_metrics.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after_outage = outage_ended.elapsed();
    let stats = sim.handle.stats().await.unwrap();
    let metrics = app.sync_metrics.snapshot();
    let outbox = outbox_states(&app.db).await;
    let max_attempts = scalar(&app.db, "SELECT MAX(attempts) FROM outbox").await;
    eprintln!(
        "fault test on {} done in {:.1?}: {} delivered in the first {to_outage:.1?}, outage of \
         {outage:?} ({} calls reached the simulator during it, {} of them accepted; the breaker \
         opened, or reopened after a failed probe, {} times by its end, state {}), the rest \
         {:.1?} after it; most attempts on one row {max_attempts}",
        engine(),
        started.elapsed(),
        before_outage.accepted,
        at_outage_end.received - before_outage.received,
        at_outage_end.accepted - before_outage.accepted,
        during.breaker_opened,
        during.breaker.as_str(),
        after_outage
    );
    print_stats("simulator", &stats);
    print_metrics(&metrics);

    assert_eq!(stats.accepted, COUNT as u64, "{stats:?}");
    assert_eq!(
        (stats.duplicates, stats.updates, stats.rejected),
        (0, 0, 0),
        "{stats:?}"
    );
    assert!(stats.faults_injected > 0);
    assert_eq!(outbox, vec![("done".to_owned(), COUNT as i64)]);
    // The outage opened the breaker, and it is shut again now that all went through.
    assert!(
        during.breaker_opened >= 1 && during.breaker != BreakerState::Closed,
        "the breaker did not open during the outage: {during:?}"
    );
    assert!(metrics.breaker_closed >= 1, "{metrics:?}");
    assert_eq!(metrics.breaker, BreakerState::Closed, "{metrics:?}");
    // While open it left the province alone: far fewer calls than a worker hammering it.
    assert!(
        at_outage_end.received - before_outage.received < 200,
        "{} calls during the outage",
        at_outage_end.received - before_outage.received
    );
    app.stop().await;
    sim.stop().await;
}

// ---------------------------------------------------------------------------------------------
// (c) a permanent rejection at the head of the queue

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_province_rejects_reaches_its_owner_and_the_thousand_behind_it_flow() {
    const COUNT: usize = 1_001;
    const SEED: u64 = 12;
    const REASON: &str = "该主体已列入严重失信主体名单，请联系县市场监管局";
    let first = demo::ready_entities(COUNT, SEED)[0]
        .uscc
        .as_str()
        .to_owned();
    let sim = start_sim(
        Faults::default(),
        vec![(
            first.clone(),
            "entity_blacklisted".to_owned(),
            REASON.to_owned(),
        )],
    )
    .await;
    let owner = unique_address();
    let province = link(&sim, Duration::from_secs(10));
    let mut ids = Vec::new();
    let app = TestApp::spawn_prepared(
        |s| {
            s.province = Some(province);
            s.sync.base_delay = Duration::from_millis(100);
        },
        async |db, vault| {
            ids = demo::seed_ready_registrations(db, vault, COUNT, SEED, |n| {
                if n == 0 {
                    owner.clone()
                } else {
                    seeded_email(n)
                }
            })
            .await
            .unwrap();
        },
    )
    .await;
    let started = Instant::now();
    let rejected_id = ids[0];
    let rejected = store::registrations::by_id(&app.db, rejected_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rejected.uscc, first);
    // It is first in the queue: the lowest id, due first.
    assert_eq!(
        store::outbox::all(&app.db).await.unwrap()[0].registration_id,
        rejected_id
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let states = sync_states(&app.db).await;
        if rows_in(&states, "accepted") == COUNT as i64 - 1 && rows_in(&states, "rejected") == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hang guard: registrations {states:?}, outbox {:?}",
            outbox_states(&app.db).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let mail = Mailbox::from_env().wait_for(&owner).await;
    let stats = sim.handle.stats().await.unwrap();
    eprintln!(
        "rejection test on {}: 1 rejected and {} accepted in {elapsed:.1?}; the owner's email: {:?}",
        engine(),
        COUNT - 1,
        mail.subject
    );
    print_stats("simulator", &stats);
    print_metrics(&app.sync_metrics.snapshot());

    let rejected = store::registrations::by_id(&app.db, rejected_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rejected.sync_state, "rejected");
    assert_eq!(rejected.sync_reason.as_deref(), Some(REASON));
    assert!(mail.subject.contains("未通过"), "{}", mail.subject);
    assert!(mail.text.contains(REASON), "{}", mail.text);
    assert!(mail.text.contains(&rejected.entity_name), "{}", mail.text);
    let notified = scalar(
        &app.db,
        "SELECT COUNT(*) FROM registrations WHERE sync_notified_at IS NOT NULL",
    )
    .await;
    assert_eq!(notified, 1, "only the rejected owner is told");
    assert_eq!(
        (
            stats.accepted,
            stats.rejected,
            stats.duplicates,
            stats.updates
        ),
        (COUNT as u64 - 1, 1, 0, 0),
        "{stats:?}"
    );
    // Done, not dead: a rejection is the province's answer, not a failure to deliver.
    assert_eq!(
        outbox_states(&app.db).await,
        vec![("done".to_owned(), COUNT as i64)]
    );
    app.stop().await;
    sim.stop().await;
}
