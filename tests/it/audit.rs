//! The hash-chained audit log on the engine under test: concurrent appends keep one chain, the
//! database refuses edits, and an edit made anyway (trigger dropped) is found by `verify`.

use time::OffsetDateTime;
use xinyidai::config::DatabaseUrl;
use xinyidai::on_pool;
use xinyidai::store::audit::{self, AuditEntry, GENESIS};
use xinyidai::store::{Db, WritePool};

use crate::helpers::{FreshDatabase, fresh_database};

async fn open() -> (Db, FreshDatabase) {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 8)
        .await
        .unwrap();
    (db, fresh)
}

/// Appends one entry in its own write transaction, as a state change would.
async fn append(db: &Db, n: u32) {
    let subject = format!("registration:{n}");
    let entry = AuditEntry {
        actor: "system",
        action: "test.appended",
        subject: &subject,
        detail: serde_json::json!({ "n": n, "note": "引号\"与换行\n" }),
    };
    on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.unwrap();
        audit::append(&mut *tx, &entry, OffsetDateTime::now_utc())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    });
}

async fn execute(db: &Db, sql: &str) -> Result<u64, sqlx::Error> {
    on_pool!(db, |pool| sqlx::query(sql)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

#[tokio::test]
async fn concurrent_appends_form_one_unbroken_chain() {
    let (db, _fresh) = open().await;
    let empty = audit::verify(&db).await.unwrap();
    assert_eq!((empty.rows, empty.broken_at, empty.head), (0, None, None));

    let tasks: Vec<_> = (0..10)
        .map(|task| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..5 {
                    append(&db, task * 5 + i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let report = audit::verify(&db).await.unwrap();
    assert_eq!(report.rows, 50);
    assert_eq!(report.broken_at, None, "{report:?}");
    assert!(report.is_intact());
    let (first_prev, distinct_prev, last_hash): (String, i64, String) = on_pool!(&db, |pool| {
        sqlx::query_as(
            "SELECT (SELECT prev_hash FROM audit_log ORDER BY id LIMIT 1),
                    (SELECT COUNT(DISTINCT prev_hash) FROM audit_log),
                    (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1)",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    });
    assert_eq!(first_prev, GENESIS);
    assert_eq!(distinct_prev, 50);
    assert_eq!(report.head, Some(last_hash));
    db.close().await;
}

#[tokio::test]
async fn batches_interleaved_with_single_appends_keep_one_chain() {
    let (db, _fresh) = open().await;
    append(&db, 0).await;
    // More rows than one INSERT carries, so the chain also crosses a chunk boundary.
    let subjects: Vec<String> = (1..=130).map(|n| format!("registration:{n}")).collect();
    let entries: Vec<AuditEntry<'_>> = subjects
        .iter()
        .map(|subject| AuditEntry {
            actor: "system",
            action: "test.batched",
            subject,
            detail: serde_json::json!({ "batch": true }),
        })
        .collect();
    let tasks: Vec<_> = (0..3)
        .map(|task| {
            let db = db.clone();
            tokio::spawn(async move { append(&db, 1000 + task).await })
        })
        .collect();
    on_pool!(&db, |pool| {
        let mut tx = pool.begin_write().await.unwrap();
        audit::append_all(&mut *tx, &entries, OffsetDateTime::now_utc())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    });
    for task in tasks {
        task.await.unwrap();
    }
    let report = audit::verify(&db).await.unwrap();
    assert_eq!(report.rows, 134);
    assert!(report.is_intact(), "{report:?}");
    let subjects_in_order: Vec<String> = on_pool!(&db, |pool| sqlx::query_scalar(
        "SELECT subject FROM audit_log WHERE action = 'test.batched' ORDER BY id"
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(subjects_in_order, subjects);
    db.close().await;
}

#[tokio::test]
async fn rolled_back_change_leaves_no_audit_row() {
    let (db, _fresh) = open().await;
    append(&db, 1).await;
    on_pool!(&db, |pool| {
        let mut tx = pool.begin_write().await.unwrap();
        let entry = AuditEntry {
            actor: "system",
            action: "test.abandoned",
            subject: "registration:2",
            detail: serde_json::json!({}),
        };
        audit::append(&mut *tx, &entry, OffsetDateTime::now_utc())
            .await
            .unwrap();
        tx.rollback().await.unwrap();
    });
    append(&db, 3).await;
    let report = audit::verify(&db).await.unwrap();
    assert_eq!((report.rows, report.broken_at), (2, None));
    db.close().await;
}

#[tokio::test]
async fn the_database_refuses_edits_and_verify_finds_them_anyway() {
    let (db, _fresh) = open().await;
    for n in 1..=5 {
        append(&db, n).await;
    }
    let ids: Vec<i64> = on_pool!(&db, |pool| {
        sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    let (third, fourth) = (ids[2], ids[3]);

    let update = format!("UPDATE audit_log SET detail = '{{\"n\":9}}' WHERE id = {third}");
    let refused = execute(&db, &update).await.unwrap_err().to_string();
    assert!(refused.contains("append-only"), "{refused}");
    let delete = format!("DELETE FROM audit_log WHERE id = {fourth}");
    let refused = execute(&db, &delete).await.unwrap_err().to_string();
    assert!(refused.contains("append-only"), "{refused}");
    if db.engine() == xinyidai::store::Engine::Postgres {
        let refused = execute(&db, "TRUNCATE audit_log").await.unwrap_err();
        assert!(refused.to_string().contains("append-only"), "{refused}");
    }
    assert!(audit::verify(&db).await.unwrap().is_intact());

    // Someone with full control of the database removes the guard and rewrites history.
    let drop_guards: &[&str] = match db.engine() {
        xinyidai::store::Engine::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
        ],
        xinyidai::store::Engine::Postgres => &["DROP TRIGGER audit_log_append_only ON audit_log"],
    };
    for sql in drop_guards {
        execute(&db, sql).await.unwrap();
    }
    assert_eq!(execute(&db, &update).await.unwrap(), 1);
    let report = audit::verify(&db).await.unwrap();
    assert_eq!((report.rows, report.broken_at), (5, Some(third)));

    // Recomputing the edited row's own hash does not help: the next row still points at the
    // old one.
    let old_hash: String = on_pool!(&db, |pool| {
        sqlx::query_scalar("SELECT hash FROM audit_log WHERE id = $1")
            .bind(third)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    execute(
        &db,
        &format!(
            "UPDATE audit_log SET hash = '{}' WHERE id = {third}",
            "f".repeat(64)
        ),
    )
    .await
    .unwrap();
    assert_eq!(audit::verify(&db).await.unwrap().broken_at, Some(third));
    execute(
        &db,
        &format!("UPDATE audit_log SET hash = '{old_hash}', detail = '{{\"n\":3,\"note\":\"引号\\\"与换行\\n\"}}' WHERE id = {third}"),
    )
    .await
    .unwrap();
    assert!(
        audit::verify(&db).await.unwrap().is_intact(),
        "restoring the exact row restores the chain"
    );

    // A row removed from the middle breaks the link of the row after it.
    assert_eq!(execute(&db, &delete).await.unwrap(), 1);
    let report = audit::verify(&db).await.unwrap();
    assert_eq!((report.rows, report.broken_at), (4, Some(ids[4])));
    db.close().await;
}
