//! The daily reconciliation against the real simulator over HTTP: every row of the table in
//! `src/sync/reconcile.rs`, a second run with nothing left to repair, an outage that stops the
//! run without blaming any record, and `xinyidai sync reconcile` through the binary.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use xinyidai::config::Secret;
use xinyidai::demo;
use xinyidai::domain::division::DivisionTree;
use xinyidai::jobs::reconcile::{ReconcileError, reconcile, run_daily};
use xinyidai::on_pool;
use xinyidai::outbox::worker::{Worker, WorkerConfig};
use xinyidai::province::client::{HttpProvince, ProvinceSettings};
use xinyidai::province::simulator::{FaultsUpdate, SimConfig};
use xinyidai::store::reconciliations::{self, Discrepancy};
use xinyidai::store::{self, Db};

use crate::helpers::TestApp;
use crate::mailbox::unique_address;
use crate::registration::{id_number, today};
use crate::simulator::Sim;

const APP_ID: &str = "lishu-220322";
const SECRET: &str = "reconcile-test-secret";
const BLACKLISTED: &str = "列入严重失信主体名单";

async fn sim(reject: &[&str]) -> Sim {
    Sim::start(SimConfig {
        app_id: APP_ID.to_owned(),
        secret: SECRET.to_owned(),
        reject: reject
            .iter()
            .map(|u| {
                (
                    (*u).to_owned(),
                    "entity_blacklisted".to_owned(),
                    BLACKLISTED.to_owned(),
                )
            })
            .collect(),
        ..SimConfig::default()
    })
    .await
}

fn province(sim: &Sim) -> HttpProvince {
    HttpProvince::new(ProvinceSettings::new(
        format!("http://{}", sim.addr),
        APP_ID,
        Secret::new(SECRET),
    ))
    .unwrap()
}

fn worker(app: &TestApp, sim: &Sim) -> Worker<HttpProvince> {
    Worker::new(
        app.db.clone(),
        app.vault.clone(),
        province(sim),
        WorkerConfig::default(),
        std::sync::Arc::default(),
    )
}

async fn post(app: &TestApp, path: &str, body: &Value, token: Option<&str>) -> Value {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "POST {path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

/// A registration queued for the province (verified and signed through the API).
#[derive(Debug, Clone)]
struct Queued {
    id: i64,
    uscc: String,
}

/// Queues `n` registrations of distinct roster entities, like `outbox::queued` does for one.
async fn queue(app: &TestApp, n: usize) -> Vec<Queued> {
    let entries = demo::synthesise(&DivisionTree::seed(), 400, 47, today());
    store::entities::upsert_batch(&app.db, &entries)
        .await
        .unwrap();
    let agreement = store::agreements::current(&app.db).await.unwrap().unwrap();
    let mut queued = Vec::new();
    let candidates = entries
        .iter()
        .filter(|e| e.county_code == "220322" && e.status.as_str() == "active");
    for (seq, entity) in (500u16..).zip(candidates.take(n)) {
        let email = unique_address();
        let created = post(
            app,
            "/api/v1/registrations",
            &json!({
                "uscc": entity.uscc.as_str(), "entity_name": entity.name,
                "legal_rep_name": entity.legal_rep, "legal_rep_id_number": id_number(seq),
                "mobile": "13800138000", "email": email, "password": "Lishu-2026-ok",
                "agree_personal_info": true
            }),
            None,
        )
        .await;
        let session = post(
            app,
            "/api/v1/sessions",
            &json!({"email": email, "password": "Lishu-2026-ok"}),
            None,
        )
        .await;
        let token = session["token"].as_str().unwrap();
        let id = created["id"].as_i64().unwrap();
        post(
            app,
            &format!("/api/v1/registrations/{id}/signatures"),
            &json!({"version": agreement.version, "digest": agreement.digest,
                    "signer_name": entity.legal_rep}),
            Some(token),
        )
        .await;
        queued.push(Queued {
            id,
            uscc: entity.uscc.as_str().to_owned(),
        });
    }
    assert_eq!(queued.len(), n, "not enough roster entities");
    assert_eq!(
        store::outbox::pending_count(&app.db).await.unwrap(),
        i64::try_from(n).unwrap()
    );
    queued
}

/// Sets our side of a registration directly: its sync state and its register row's state.
async fn set_ours(db: &Db, id: i64, sync_state: &str, outbox_state: &str) {
    on_pool!(db, |pool| {
        sqlx::query("UPDATE registrations SET sync_state = $1 WHERE id = $2")
            .bind(sync_state)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE outbox SET state = $1 WHERE registration_id = $2 AND kind = 'register'",
        )
        .bind(outbox_state)
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    });
}

/// Keeps a pending row away from the worker (not due for a day).
async fn postpone(db: &Db, id: i64) {
    on_pool!(db, |pool| {
        sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE registration_id = $2")
            .bind(OffsetDateTime::now_utc() + time::Duration::DAY)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    });
}

async fn set_lease(db: &Db, id: i64, until: Option<OffsetDateTime>) {
    on_pool!(db, |pool| {
        sqlx::query("UPDATE outbox SET lease_until = $1 WHERE registration_id = $2")
            .bind(until)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    });
}

/// (sync_state, sync_reason, sync_notified_at is set, register row state, attempts)
async fn ours(db: &Db, id: i64) -> (String, Option<String>, bool, String, i64) {
    let (state, reason, notified): (String, Option<String>, Option<OffsetDateTime>) =
        on_pool!(db, |pool| sqlx::query_as(
            "SELECT sync_state, sync_reason, sync_notified_at FROM registrations WHERE id = $1"
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap());
    let row = store::outbox::all(db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.registration_id == id && r.kind == "register")
        .unwrap();
    (state, reason, notified.is_some(), row.state, row.attempts)
}

async fn audit_actions(db: &Db, action: &str) -> Vec<(String, Value)> {
    let rows: Vec<(String, String)> = on_pool!(db, |pool| sqlx::query_as(
        "SELECT subject, detail FROM audit_log WHERE action = $1 ORDER BY id"
    )
    .bind(action)
    .fetch_all(pool)
    .await
    .unwrap());
    rows.into_iter()
        .map(|(s, d)| (s, serde_json::from_str(&d).unwrap()))
        .collect()
}

fn actions(found: &[Discrepancy]) -> Vec<(i64, &str, &str, &str)> {
    found
        .iter()
        .map(|d| {
            (
                d.registration_id,
                d.ours.as_str(),
                d.theirs.as_str(),
                d.action.as_str(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_difference_is_repaired_or_flagged_and_a_second_run_finds_nothing_to_repair() {
    let app = TestApp::spawn().await;
    let regs = queue(&app, 11).await;
    let [
        fine,
        lost,
        late,
        late_dead,
        late_rejected,
        contra_a,
        contra_r,
        resubmitted,
        rejected_both,
        rejected_unknown,
        in_flight,
    ] = <[Queued; 11]>::try_from(regs.clone()).unwrap();
    let sim = sim(&[
        &late_rejected.uscc,
        &contra_a.uscc,
        &rejected_both.uscc,
        &resubmitted.uscc,
    ])
    .await;
    let db = &app.db;

    // Kept from the province: we believe `lost` accepted, `rejected_unknown` rejected; the
    // province never heard of either, nor of `in_flight`, which is still waiting its turn.
    set_ours(db, lost.id, "accepted", "done").await;
    set_ours(db, rejected_unknown.id, "rejected", "done").await;
    postpone(db, in_flight.id).await;
    assert_eq!(worker(&app, &sim).run_once().await.unwrap(), 8);
    // What the worker recorded, then our side drifts: answers lost (`late*`), and two
    // contradictions nobody can explain automatically.
    set_ours(db, late.id, "pending", "pending").await;
    set_ours(db, late_dead.id, "pending", "dead").await;
    set_ours(db, late_rejected.id, "pending", "dead").await;
    set_ours(db, contra_a.id, "accepted", "done").await;
    set_ours(db, contra_r.id, "rejected", "done").await;
    // The owner corrected a refused registration: queued again, not yet sent, so the
    // province's refusal is of the old data.
    set_ours(db, resubmitted.id, "pending", "pending").await;
    on_pool!(db, |pool| {
        sqlx::query("UPDATE outbox SET attempts = 0 WHERE registration_id = $1")
            .bind(resubmitted.id)
            .execute(pool)
            .await
            .unwrap();
    });
    postpone(db, resubmitted.id).await;
    // The owner of `late_rejected` had been told of an earlier refusal: this one is news.
    on_pool!(db, |pool| {
        sqlx::query("UPDATE registrations SET sync_notified_at = $1 WHERE id = $2")
            .bind(OffsetDateTime::now_utc())
            .bind(late_rejected.id)
            .execute(pool)
            .await
            .unwrap();
    });
    let before = sim.handle.stats().await.unwrap();

    let seen = std::sync::Mutex::new(Vec::new());
    let report = reconcile(db, &province(&sim), |done, total| {
        seen.lock().unwrap().push((done, total));
    })
    .await
    .unwrap();
    assert_eq!(
        (report.checked, report.repaired, report.flagged),
        (11, 4, 2)
    );
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.first(), Some(&(0, 11)));
    assert_eq!(seen.last(), Some(&(11, 11)));

    let found = reconciliations::discrepancies(db, report.run)
        .await
        .unwrap();
    assert_eq!(
        actions(&found),
        vec![
            (lost.id, "accepted/done", "unknown", "requeued"),
            (late.id, "pending/pending", "accepted", "marked_accepted"),
            (late_dead.id, "pending/dead", "accepted", "marked_accepted"),
            (
                late_rejected.id,
                "pending/dead",
                "rejected",
                "marked_rejected"
            ),
            (contra_a.id, "accepted/done", "rejected", "flagged"),
            (contra_r.id, "rejected/done", "accepted", "flagged"),
        ]
    );
    assert!(found.iter().all(|d| d.resolved_at.is_none()));

    // Fine rows are untouched.
    assert_eq!(ours(db, fine.id).await.0, "accepted");
    assert_eq!(ours(db, rejected_both.id).await.0, "rejected");
    assert_eq!(ours(db, rejected_unknown.id).await.0, "rejected");
    assert_eq!(ours(db, in_flight.id).await.3, "pending");
    let (state, _, _, row, attempts) = ours(db, resubmitted.id).await;
    assert_eq!(
        (state.as_str(), row.as_str(), attempts),
        ("pending", "pending", 0)
    );
    // Repairs.
    let (state, reason, _, row, attempts) = ours(db, lost.id).await;
    assert_eq!(
        (state.as_str(), reason, row.as_str(), attempts),
        ("pending", None, "pending", 0)
    );
    for id in [late.id, late_dead.id] {
        let (state, _, _, row, _) = ours(db, id).await;
        assert_eq!((state.as_str(), row.as_str()), ("accepted", "done"));
    }
    let (state, reason, notified, row, _) = ours(db, late_rejected.id).await;
    assert_eq!(
        (state.as_str(), reason.as_deref(), notified, row.as_str()),
        ("rejected", Some(BLACKLISTED), false, "done")
    );
    // Flags change nothing.
    assert_eq!(ours(db, contra_a.id).await.0, "accepted");
    assert_eq!(ours(db, contra_r.id).await.0, "rejected");

    // One audit row per repair, in the chain.
    let audited = audit_actions(db, "sync.reconciled").await;
    assert_eq!(audited.len(), 4);
    assert_eq!(audited[0].0, format!("registration:{}", lost.id));
    assert_eq!(
        audited[0].1,
        json!({"run": report.run, "action": "requeued"})
    );
    assert!(store::audit::verify(db).await.unwrap().broken_at.is_none());

    let run = reconciliations::run(db, report.run).await.unwrap().unwrap();
    assert!(run.finished_at.is_some() && run.error.is_none());
    assert_eq!((run.checked, run.repaired, run.flagged), (11, 4, 2));
    // Reconciliation only asks; it never sends.
    let after = sim.handle.stats().await.unwrap();
    assert_eq!(
        (
            after.accepted,
            after.duplicates,
            after.updates,
            after.rejected
        ),
        (
            before.accepted,
            before.duplicates,
            before.updates,
            before.rejected
        )
    );

    // Nothing left to repair; the contradictions stay flagged until a person settles them.
    let again = reconcile(db, &province(&sim), |_, _| {}).await.unwrap();
    assert_eq!((again.checked, again.repaired, again.flagged), (11, 0, 2));
    assert_ne!(again.run, report.run);

    // The requeued registration goes out again and is accepted.
    assert_eq!(worker(&app, &sim).run_once().await.unwrap(), 1);
    assert_eq!(ours(db, lost.id).await.0, "accepted");
    assert!(
        sim.handle.stats().await.unwrap().accepted > after.accepted,
        "the province got it"
    );
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_province_outage_stops_the_run_and_blames_no_record() {
    let app = TestApp::spawn().await;
    let regs = queue(&app, 3).await;
    // Accepted on our side but unknown to the province: repairs, if it were up.
    for r in &regs {
        set_ours(&app.db, r.id, "accepted", "done").await;
    }
    let sim = sim(&[]).await;
    sim.handle
        .update_faults(FaultsUpdate {
            outage: Some(true),
            ..FaultsUpdate::default()
        })
        .unwrap();

    let err = reconcile(&app.db, &province(&sim), |_, _| {})
        .await
        .unwrap_err();
    let ReconcileError::Province { partial, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((partial.repaired, partial.flagged), (0, 0));
    let run = reconciliations::run(&app.db, partial.run)
        .await
        .unwrap()
        .unwrap();
    let error = run.error.unwrap();
    assert!(run.finished_at.is_some());
    assert!(error.contains("503"), "{error}");
    assert!(error.contains(&regs[0].uscc), "{error}");
    assert!(
        reconciliations::discrepancies(&app.db, partial.run)
            .await
            .unwrap()
            .is_empty()
    );
    for r in &regs {
        assert_eq!(ours(&app.db, r.id).await.0, "accepted");
    }

    // Back up: the next run finds the province knows none of them.
    sim.handle
        .update_faults(FaultsUpdate {
            outage: Some(false),
            ..FaultsUpdate::default()
        })
        .unwrap();
    let report = reconcile(&app.db, &province(&sim), |_, _| {})
        .await
        .unwrap();
    assert_eq!((report.checked, report.repaired, report.flagged), (3, 3, 0));
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_row_the_worker_holds_is_left_for_the_next_run() {
    let app = TestApp::spawn().await;
    let reg = queue(&app, 1).await.remove(0);
    let sim = sim(&[]).await;
    assert_eq!(worker(&app, &sim).run_once().await.unwrap(), 1);
    // Pending again here and leased, as if the worker were sending it right now: its answer
    // will be newer than ours, so the run must not touch the row.
    set_ours(&app.db, reg.id, "pending", "pending").await;
    set_lease(
        &app.db,
        reg.id,
        Some(OffsetDateTime::now_utc() + time::Duration::MINUTE),
    )
    .await;
    let report = reconcile(&app.db, &province(&sim), |_, _| {})
        .await
        .unwrap();
    assert_eq!((report.checked, report.repaired, report.flagged), (1, 0, 0));
    assert_eq!(ours(&app.db, reg.id).await.0, "pending");
    assert!(audit_actions(&app.db, "sync.reconciled").await.is_empty());

    set_lease(&app.db, reg.id, None).await;
    let report = reconcile(&app.db, &province(&sim), |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.repaired, 1);
    assert_eq!(ours(&app.db, reg.id).await.0, "accepted");
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn the_daily_task_stops_promptly_on_shutdown() {
    let app = TestApp::spawn().await;
    let sim = sim(&[]).await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Due in about a day: the task is asleep when shutdown comes.
    let at = (OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8))
        - time::Duration::minutes(1))
    .time();
    let task = tokio::spawn(run_daily(app.db.clone(), province(&sim), at, rx));
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("stopped promptly")
        .unwrap();
    sim.stop().await;
    app.stop().await;
}

fn xinyidai_cli(database_url: &str) -> Command {
    let mut cmd = crate::cli::xinyidai(database_url);
    cmd.args(["sync", "reconcile"]);
    cmd
}

fn with_province(mut cmd: Command, sim: &Sim) -> Command {
    cmd.env("XYD_PROVINCE_URL", format!("http://{}", sim.addr))
        .env("XYD_PROVINCE_APP_ID", APP_ID)
        .env("XYD_PROVINCE_SECRET", SECRET);
    cmd
}

/// Runs the binary off the runtime's thread: the simulator it talks to runs on that thread.
async fn output(mut cmd: Command) -> (bool, String, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn sync_reconcile_from_the_command_line() {
    let mut url = String::new();
    let app = TestApp::spawn_with(|s| url = s.database_url.expose().to_owned()).await;
    let regs = queue(&app, 2).await;
    set_ours(&app.db, regs[0].id, "accepted", "done").await;
    let sim = sim(&[]).await;

    // Without the province configured: a clear refusal, nothing done.
    let (ok, _, stderr) = output(xinyidai_cli(&url)).await;
    assert!(!ok);
    assert!(
        stderr.contains("未配置省级平台") && stderr.contains("XYD_PROVINCE_URL"),
        "{stderr}"
    );

    // The province is down: non-zero exit, the counts still last on stdout.
    sim.handle
        .update_faults(FaultsUpdate {
            outage: Some(true),
            ..FaultsUpdate::default()
        })
        .unwrap();
    let (ok, stdout, stderr) = output(with_province(xinyidai_cli(&url), &sim)).await;
    assert!(!ok);
    assert_eq!(
        stdout.lines().last(),
        Some("checked=0 repaired=0 flagged=0")
    );
    assert!(stderr.contains("对账未完成"), "{stderr}");

    sim.handle
        .update_faults(FaultsUpdate {
            outage: Some(false),
            ..FaultsUpdate::default()
        })
        .unwrap();
    let (ok, stdout, stderr) = output(with_province(xinyidai_cli(&url), &sim)).await;
    assert!(ok, "{stderr}");
    // `regs[0]` is requeued; `regs[1]` is pending and unknown: still on its way.
    assert_eq!(
        stdout.lines().last(),
        Some("checked=2 repaired=1 flagged=0")
    );
    assert!(stderr.contains("对账完成"), "{stderr}");
    assert_eq!(ours(&app.db, regs[0].id).await.0, "pending");
    sim.stop().await;
    app.stop().await;
}
