//! The outbox row for the province is written in the same transaction as the change that makes
//! a registration ready (verified and signed), once.

use serde_json::{Value, json};
use xinyidai::store;

use crate::helpers::TestApp;
use crate::mailbox::unique_address;
use crate::registration::{id_number, seeded};

async fn post(app: &TestApp, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_registration_is_queued_once_when_it_is_verified_and_signed() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let email = unique_address();
    let (status, created) = post(
        &app,
        "/api/v1/registrations",
        &json!({
            "uscc": entity.uscc.as_str(), "entity_name": entity.name, "legal_rep_name": entity.legal_rep,
            "legal_rep_id_number": id_number(301), "mobile": "13800138000", "email": email,
            "password": "Lishu-2026-ok", "agree_personal_info": true
        }),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // Verified but not yet signed: nothing for the province.
    assert!(store::outbox::all(&app.db).await.unwrap().is_empty());

    let (_, session) = post(
        &app,
        "/api/v1/sessions",
        &json!({"email": email, "password": "Lishu-2026-ok"}),
        None,
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let agreement = store::agreements::current(&app.db).await.unwrap().unwrap();
    let id = created["id"].as_i64().unwrap();
    let sign = json!({"version": agreement.version, "digest": agreement.digest, "signer_name": entity.legal_rep});
    let (status, _) = post(
        &app,
        &format!("/api/v1/registrations/{id}/signatures"),
        &sign,
        Some(&token),
    )
    .await;
    assert_eq!(status, 201);
    let rows = store::outbox::all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].registration_id,
            rows[0].kind.as_str(),
            rows[0].state.as_str()
        ),
        (id, "register", "pending")
    );

    // Signing a newer version later does not queue the registration a second time.
    let v2 = store::agreements::publish(&app.db, "2027.1", "新版协议。")
        .await
        .unwrap();
    let sign = json!({"version": v2.version, "digest": v2.digest, "signer_name": entity.legal_rep});
    let (status, _) = post(
        &app,
        &format!("/api/v1/registrations/{id}/signatures"),
        &sign,
        Some(&token),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(store::outbox::all(&app.db).await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_registration_waiting_for_manual_review_is_not_queued() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (status, _) = post(
        &app,
        "/api/v1/registrations",
        &json!({
            "uscc": entity.uscc.as_str(), "entity_name": entity.name, "legal_rep_name": "某某某",
            "legal_rep_id_number": id_number(302), "mobile": "13800138000", "email": unique_address(),
            "password": "Lishu-2026-ok", "agree_personal_info": true, "request_review": true
        }),
        None,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(store::outbox::pending_count(&app.db).await.unwrap(), 0);
    app.stop().await;
}

/// One registration queued through the API; returns its id.
pub async fn queued(app: &TestApp) -> i64 {
    queued_with_email(app).await.0
}

/// [`queued`], also returning the owner's login email (password `Lishu-2026-ok`).
pub async fn queued_with_email(app: &TestApp) -> (i64, String) {
    let entity = seeded(app).await;
    let email = unique_address();
    let (_, created) = post(
        app,
        "/api/v1/registrations",
        &json!({
            "uscc": entity.uscc.as_str(), "entity_name": entity.name, "legal_rep_name": entity.legal_rep,
            "legal_rep_id_number": id_number(303), "mobile": "13800138000", "email": email,
            "password": "Lishu-2026-ok", "agree_personal_info": true
        }),
        None,
    )
    .await;
    let (_, session) = post(
        app,
        "/api/v1/sessions",
        &json!({"email": email, "password": "Lishu-2026-ok"}),
        None,
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let agreement = store::agreements::current(&app.db).await.unwrap().unwrap();
    let id = created["id"].as_i64().unwrap();
    let sign = json!({"version": agreement.version, "digest": agreement.digest, "signer_name": entity.legal_rep});
    post(
        app,
        &format!("/api/v1/registrations/{id}/signatures"),
        &sign,
        Some(&token),
    )
    .await;
    (id, email)
}

#[tokio::test]
async fn a_claimed_row_is_leased_comes_back_after_the_lease_and_records_the_answer() {
    use store::outbox::{SendOutcome, claim, finish};
    let app = TestApp::spawn().await;
    let registration = queued(&app).await;
    let now = time::OffsetDateTime::now_utc();
    let lease = time::Duration::seconds(60);

    let first = claim(&app.db, now, lease, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].registration_id, first[0].attempts),
        (registration, 1)
    );
    // Leased: another worker gets nothing until the lease runs out (a crashed worker's rows
    // come back by themselves).
    assert!(claim(&app.db, now, lease, 10).await.unwrap().is_empty());
    let again = claim(&app.db, now + time::Duration::seconds(61), lease, 10)
        .await
        .unwrap();
    assert_eq!(again[0].attempts, 2);

    // A retry is not due before its time.
    let at = now + time::Duration::minutes(5);
    finish(
        &app.db,
        &again[0],
        &SendOutcome::Retry {
            at,
            error: "503".into(),
        },
    )
    .await
    .unwrap();
    assert!(
        claim(&app.db, now + time::Duration::minutes(4), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = claim(&app.db, at, lease, 10).await.unwrap();
    assert_eq!(due.len(), 1);

    finish(&app.db, &due[0], &SendOutcome::Accepted)
        .await
        .unwrap();
    let row = &store::outbox::all(&app.db).await.unwrap()[0];
    assert_eq!(row.state, "done");
    assert!(
        claim(&app.db, at + time::Duration::hours(1), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let reg = store::registrations::by_id(&app.db, registration)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.sync_state, "accepted");
    assert!(
        store::audit::verify(&app.db)
            .await
            .unwrap()
            .broken_at
            .is_none()
    );
    app.stop().await;
}
