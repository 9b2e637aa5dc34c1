//! The outbox worker against the real simulator over HTTP.

use std::time::Duration;

use xinyidai::config::Secret;
use xinyidai::outbox::worker::{Worker, WorkerConfig};
use xinyidai::province::client::{HttpProvince, ProvinceSettings};
use xinyidai::province::simulator::{FaultsUpdate, SimConfig};
use xinyidai::store;

use crate::helpers::TestApp;
use crate::simulator::Sim;

const APP_ID: &str = "lishu-220322";
const SECRET: &str = "worker-test-secret";

pub async fn sim(reject: Vec<(String, String, String)>) -> Sim {
    Sim::start(SimConfig {
        app_id: APP_ID.to_owned(),
        secret: SECRET.to_owned(),
        reject,
        ..SimConfig::default()
    })
    .await
}

pub fn worker(app: &TestApp, sim: &Sim) -> Worker<HttpProvince> {
    let province = HttpProvince::new(ProvinceSettings::new(
        format!("http://{}", sim.addr),
        APP_ID,
        Secret::new(SECRET),
    ))
    .unwrap();
    // No waiting between attempts in tests: a retry is due at once.
    let config = WorkerConfig {
        base_delay: Duration::ZERO,
        ..WorkerConfig::default()
    };
    Worker::new(
        app.db.clone(),
        app.vault.clone(),
        province,
        config,
        std::sync::Arc::default(),
    )
}

pub async fn sync_state(app: &TestApp, id: i64) -> (String, Option<String>) {
    let reg = store::registrations::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap();
    let reason: Option<String> = xinyidai::on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT sync_reason FROM registrations WHERE id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap());
    (reg.sync_state, reason)
}

#[tokio::test]
async fn a_queued_registration_reaches_the_province_once() {
    let app = TestApp::spawn().await;
    let id = crate::outbox::queued(&app).await;
    let sim = sim(Vec::new()).await;
    let worker = worker(&app, &sim);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(worker.run_once().await.unwrap(), 0, "nothing left to send");
    let stats = sim.handle.stats().await.unwrap();
    assert_eq!((stats.accepted, stats.duplicates), (1, 0));
    assert_eq!(sync_state(&app, id).await.0, "accepted");
    assert_eq!(store::outbox::all(&app.db).await.unwrap()[0].state, "done");
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn after_a_dropped_answer_the_worker_asks_before_sending_again() {
    let app = TestApp::spawn().await;
    let id = crate::outbox::queued(&app).await;
    let sim = sim(Vec::new()).await;
    sim.handle
        .update_faults(FaultsUpdate {
            drop_after_store_rate: Some(1.0),
            ..FaultsUpdate::default()
        })
        .unwrap();
    let worker = worker(&app, &sim);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    // Stored at the province, but we never heard: still pending here.
    assert_eq!(sync_state(&app, id).await.0, "pending");
    sim.handle
        .update_faults(FaultsUpdate {
            drop_after_store_rate: Some(0.0),
            ..FaultsUpdate::default()
        })
        .unwrap();
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(sync_state(&app, id).await.0, "accepted");
    let stats = sim.handle.stats().await.unwrap();
    assert_eq!(
        (stats.accepted, stats.duplicates),
        (1, 0),
        "sent twice: {stats:?}"
    );
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_rejection_reaches_the_owner_with_the_provinces_reason() {
    let app = TestApp::spawn().await;
    let id = crate::outbox::queued(&app).await;
    let uscc = store::registrations::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap()
        .uscc;
    let sim = sim(vec![(
        uscc,
        "entity_blacklisted".into(),
        "列入严重失信主体名单".into(),
    )])
    .await;
    let worker = worker(&app, &sim);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let (state, reason) = sync_state(&app, id).await;
    assert_eq!(state, "rejected");
    assert_eq!(reason.as_deref(), Some("列入严重失信主体名单"));
    assert_eq!(worker.run_once().await.unwrap(), 0);
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn the_worker_runs_beside_the_server_when_the_province_is_configured() {
    let sim = sim(Vec::new()).await;
    let link = xinyidai::config::ProvinceLink {
        base_url: format!("http://{}", sim.addr),
        app_id: APP_ID.to_owned(),
        secret: Secret::new(SECRET),
        signature_method: "HMAC-SM3".to_owned(),
        l3: false,
        timeout: std::time::Duration::from_secs(10),
    };
    let app = TestApp::spawn_with(|s| s.province = Some(link)).await;
    let id = crate::outbox::queued(&app).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while sync_state(&app, id).await.0 != "accepted" {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.handle.stats().await.unwrap().accepted, 1);
    // The owner sees it.
    let reg = store::registrations::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.sync_state, "accepted");
    app.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn claims_cut_short_by_crashes_do_not_use_up_the_retry_budget() {
    let app = TestApp::spawn().await;
    let id = crate::outbox::queued(&app).await;
    // Fifteen servers claimed the row and died before hearing anything (a lease of zero
    // expires at once), more claims than the retry budget allows failures.
    for _ in 0..15 {
        let claimed = store::outbox::claim(
            &app.db,
            time::OffsetDateTime::now_utc(),
            time::Duration::ZERO,
            10,
        )
        .await
        .unwrap();
        assert_eq!(claimed.len(), 1);
    }
    let sim = sim(Vec::new()).await;
    sim.handle
        .update_faults(FaultsUpdate {
            error_rate: Some(1.0),
            ..FaultsUpdate::default()
        })
        .unwrap();
    let worker = worker(&app, &sim);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    // One real failure: retried, not given up.
    let row = &store::outbox::all(&app.db).await.unwrap()[0];
    assert_eq!((row.state.as_str(), row.attempts), ("pending", 16));
    assert_eq!(sync_state(&app, id).await.0, "pending");
    sim.stop().await;
    app.stop().await;
}
