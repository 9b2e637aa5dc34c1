//! Schema and reference data on the engine under test.

use xinyidai::config::DatabaseUrl;
use xinyidai::domain::division::DivisionTree;
use xinyidai::store::{self, Db, Engine};

use crate::helpers::{engine_is_postgres, fresh_database};

#[tokio::test]
async fn migrations_run_from_zero_and_again_without_change() {
    let fresh = fresh_database().await;
    let url = DatabaseUrl::new(fresh.url.clone());
    let db = Db::open(&url, 2).await.unwrap();
    let expected = if engine_is_postgres() {
        Engine::Postgres
    } else {
        Engine::Sqlite
    };
    assert_eq!(db.engine(), expected);
    db.close().await;

    // A second start applies nothing new and keeps the seed as it was.
    let db = Db::open(&url, 2).await.unwrap();
    let tree = store::divisions::load(&db).await.unwrap();
    assert_eq!(tree.len(), DivisionTree::seed().len());
    assert_eq!(tree.get("220322").unwrap().name, "梨树县");
    assert!(tree.is_within("220322100", "220300"));
    db.close().await;
}

#[tokio::test]
async fn county_departments_are_seeded_once() {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let tree = store::divisions::load(&db).await.unwrap();
    let n = store::departments::seed_county(&db, &tree, "220322")
        .await
        .unwrap();
    let townships = tree.children("220322").count();
    assert_eq!(n, store::departments::STANDARD_BUREAUS.len() + townships);
    assert_eq!(
        store::departments::seed_county(&db, &tree, "220322")
            .await
            .unwrap(),
        n
    );

    let departments = store::departments::list(&db, "220322").await.unwrap();
    let names: Vec<&str> = departments.iter().map(|d| d.name.as_str()).collect();
    for bureau in [
        "发改局",
        "市场监管局",
        "税务局",
        "农业农村局",
        "商务局",
        "工信局",
        "人社局",
        "梨树镇",
        "白山乡",
    ] {
        assert!(names.contains(&bureau), "{bureau} missing from {names:?}");
    }
    db.close().await;
}

#[tokio::test]
async fn sqlite_runs_with_wal_foreign_keys_and_full_sync() {
    if engine_is_postgres() {
        return; // SQLite pragmas only
    }
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 1)
        .await
        .unwrap();
    let Db::Sqlite(pool) = &db else {
        unreachable!()
    };
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .unwrap();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!((journal.as_str(), fk, sync), ("wal", 1, 2));
    assert!(busy >= 5_000, "busy_timeout {busy}");

    // Foreign keys are enforced (departments must sit in a known county).
    let err = sqlx::query(
        "INSERT INTO departments (county_code, name, kind) VALUES ('999999', '某局', 'bureau')",
    )
    .execute(pool)
    .await;
    assert!(err.is_err());
    db.close().await;
}
