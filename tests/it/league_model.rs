//! The leaders' read model (`league_counts`) against a full recount of the roster, after every
//! kind of change that moves an entity: registering, signing, the province accepting or refusing,
//! a review decision, a resubmission, reassignment by hand and by rules, and a roster re-import
//! that changes statuses and townships — in random order, on the engine under test.

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom as _, SliceRandom as _};
use rand::{RngExt as _, SeedableRng as _};
use xinyidai::config::DatabaseUrl;
use xinyidai::demo::{self, SeedShape};
use xinyidai::domain::assignment_rule::MatchKind;
use xinyidai::domain::division::DivisionTree;
use xinyidai::domain::entity_status::EntityStatus;
use xinyidai::on_pool;
use xinyidai::security::id_vault::IdVault;
use xinyidai::store::league::{self, Which};
use xinyidai::store::outbox::{self, SendOutcome};
use xinyidai::store::registrations::{self, SignatureEvidence};
use xinyidai::store::review::{self, Decision, Scope};
use xinyidai::store::{self, Db, assignments};

use crate::helpers::fresh_database;

const COUNTY: &str = "220322";
const ACTOR: &str = "cli";

async fn assert_model_matches(db: &Db, after: &str) {
    let mismatches = league::check(db).await.unwrap();
    assert!(
        mismatches.is_empty(),
        "after {after}: {} rows differ, first {:?}",
        mismatches.len(),
        mismatches.first()
    );
}

async fn registration_ids(db: &Db, verification: &str) -> Vec<i64> {
    on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT id FROM registrations WHERE verification = $1 AND entity_id IS NOT NULL
             ORDER BY id",
        )
        .bind(verification)
        .fetch_all(pool)
        .await
        .unwrap()
    })
}

#[tokio::test]
async fn the_read_model_equals_a_full_recount_after_random_changes() {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let vault = IdVault::from_hex(&"ab".repeat(32)).unwrap();
    let tree = store::divisions::load(&db).await.unwrap();
    store::departments::seed_county(&db, &tree, COUNTY)
        .await
        .unwrap();
    let departments = store::departments::list(&db, COUNTY).await.unwrap();
    let today = xinyidai::clock::today();

    // A roster imported in batches, counted as it goes in.
    let roster = demo::synthesise(&DivisionTree::seed(), 900, 7, today);
    for batch in roster.chunks(250) {
        store::entities::upsert_batch(&db, batch).await.unwrap();
    }
    assert_model_matches(&db, "the import").await;
    // Counts are not empty and cover several counties.
    let model = league::counts(&db, &[COUNTY.to_owned()]).await.unwrap();
    assert!(model.iter().map(|r| r.n).sum::<i64>() > 100, "{model:?}");

    // Rules give departments; registrations arrive matched-and-signed or awaiting review.
    for d in departments
        .iter()
        .filter(|d| d.township_code.is_some())
        .take(6)
    {
        assignments::add_rule(
            &db,
            COUNTY,
            MatchKind::Township,
            d.township_code.as_deref(),
            d.id,
            10,
            ACTOR,
        )
        .await
        .unwrap();
    }
    assignments::apply_rules(&db, COUNTY, ACTOR).await.unwrap();
    assert_model_matches(&db, "applying rules").await;
    demo::seed_registrations(
        &db,
        &vault,
        60,
        0,
        7,
        |n| format!("r{n}@x.test"),
        SeedShape::Ready,
    )
    .await
    .unwrap();
    demo::seed_registrations(
        &db,
        &vault,
        30,
        60,
        7,
        |n| format!("q{n}@x.test"),
        SeedShape::AwaitingReview,
    )
    .await
    .unwrap();
    assert_model_matches(&db, "registrations").await;

    let mut rng = StdRng::seed_from_u64(2026);
    let agreement = store::agreements::current(&db).await.unwrap().unwrap();
    for round in 0..6 {
        // The province answers some queued registrations: accepted or refused.
        let claimed = outbox::claim(
            &db,
            time::OffsetDateTime::now_utc(),
            time::Duration::minutes(5),
            8,
        )
        .await
        .unwrap();
        let answers: Vec<_> = claimed
            .into_iter()
            .map(|row| {
                let outcome = if rng.random_bool(0.7) {
                    SendOutcome::Accepted
                } else {
                    SendOutcome::Rejected {
                        reason: "名称不一致".to_owned(),
                    }
                };
                (row, outcome)
            })
            .collect();
        outbox::finish_all(&db, &answers).await.unwrap();
        assert_model_matches(&db, &format!("round {round}: the province's answers")).await;

        // Reviewers decide some requests; some approved owners sign afterwards.
        let mut waiting = registration_ids(&db, "review_requested").await;
        waiting.shuffle(&mut rng);
        for id in waiting.into_iter().take(3) {
            let decision = if rng.random_bool(0.5) {
                Decision::Approve
            } else {
                Decision::Reject
            };
            let reason = (decision == Decision::Reject).then_some("材料不符");
            review::decide(&db, Scope::All, id, 1, decision, reason)
                .await
                .unwrap();
        }
        for id in registration_ids(&db, "approved").await.into_iter().take(2) {
            if registrations::signatures(&db, id).await.unwrap().is_empty() {
                let account: i64 = registrations::by_id(&db, id)
                    .await
                    .unwrap()
                    .unwrap()
                    .account_id;
                let sig = SignatureEvidence {
                    version: agreement.version.clone(),
                    digest: agreement.digest.clone(),
                    signer_name: "测试".to_owned(),
                    ip: "127.0.0.1".to_owned(),
                    user_agent: "test".to_owned(),
                };
                registrations::sign(&db, id, account, &sig).await.unwrap();
            }
        }
        assert_model_matches(&db, &format!("round {round}: reviews and signatures")).await;

        // A refused owner corrects and resubmits.
        let refused: Vec<(i64, i64)> = on_pool!(&db, |pool| {
            sqlx::query_as(
                "SELECT id, account_id FROM registrations WHERE sync_state = 'rejected' LIMIT 1",
            )
            .fetch_all(pool)
            .await
            .unwrap()
        });
        for (id, account) in refused {
            let reg = registrations::by_id(&db, id).await.unwrap().unwrap();
            let fix = registrations::Fix {
                legal_rep_name: reg.legal_rep_name.clone(),
                legal_rep_id_sealed: vec![1, 2, 3],
                legal_rep_id_lookup: format!("fixed-{id}"),
                legal_rep_id_masked: reg.legal_rep_id_masked.clone(),
                mobile: reg.mobile.clone(),
            };
            assert!(
                registrations::resubmit(&db, id, account, &fix)
                    .await
                    .unwrap()
            );
        }
        assert_model_matches(&db, &format!("round {round}: a resubmission")).await;

        // Entities move: by hand, by a new rule, and by a roster update.
        let uscc = roster[rng.random_range(0..roster.len())].uscc.as_str();
        let to = departments[rng.random_range(0..departments.len())].id;
        let _ = assignments::reassign(&db, COUNTY, uscc, to, ACTOR).await;
        if round == 2 {
            let bureau = departments.iter().find(|d| d.kind == "bureau").unwrap();
            assignments::add_rule(
                &db,
                COUNTY,
                MatchKind::Kind,
                Some("farmer_cooperative"),
                bureau.id,
                1,
                ACTOR,
            )
            .await
            .unwrap();
            assignments::apply_rules(&db, COUNTY, ACTOR).await.unwrap();
        }
        let mut changed: Vec<_> = roster.sample(&mut rng, 20).cloned().collect();
        for e in &mut changed {
            e.status = if rng.random_bool(0.5) {
                EntityStatus::Cancelled
            } else {
                EntityStatus::Active
            };
            if rng.random_bool(0.3) {
                e.township_code = None;
            }
        }
        store::entities::upsert_batch(&db, &changed).await.unwrap();
        assert_model_matches(
            &db,
            &format!("round {round}: reassignments and roster changes"),
        )
        .await;
    }

    // The numbers add up to the roster, and a rebuild from scratch gives the same model.
    let before = league::counts(&db, &[COUNTY.to_owned()]).await.unwrap();
    let total: i64 = on_pool!(&db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM entities WHERE county_code = $1")
            .bind(COUNTY)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(before.iter().map(|r| r.n).sum::<i64>(), total);
    assert!(
        before.iter().any(|r| r.stage == "synced"),
        "something was accepted"
    );
    assert!(before.iter().any(|r| r.status == "cancelled"));
    league::rebuild(&db).await.unwrap();
    assert_eq!(
        league::counts(&db, &[COUNTY.to_owned()]).await.unwrap(),
        before
    );
    league::recount(&db, Which::All).await.unwrap();
    assert_eq!(
        league::counts(&db, &[COUNTY.to_owned()]).await.unwrap(),
        before
    );
    db.close().await;
}

#[tokio::test]
async fn a_tampered_read_model_is_found_by_the_check_and_mended_by_a_rebuild() {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let roster = demo::synthesise(&DivisionTree::seed(), 200, 3, xinyidai::clock::today());
    store::entities::upsert_batch(&db, &roster).await.unwrap();
    assert!(league::check(&db).await.unwrap().is_empty());
    on_pool!(&db, |pool| {
        sqlx::query(
            "UPDATE league_counts SET n = n + 5
             WHERE county_code = (SELECT MIN(county_code) FROM league_counts)",
        )
        .execute(pool)
        .await
        .unwrap();
    });
    let found = league::check(&db).await.unwrap();
    assert!(!found.is_empty());
    assert!(found.iter().all(|m| m.model == m.recount + 5), "{found:?}");
    league::rebuild(&db).await.unwrap();
    assert!(league::check(&db).await.unwrap().is_empty());
    db.close().await;
}
