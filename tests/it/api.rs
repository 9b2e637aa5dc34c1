//! The JSON API under `/api/v1`, through the real server: one test per rule of issue 3's
//! "JSON API" and "Security" sections. Requests and answers are JSON (reqwest); the database is
//! read directly only to prove that refused requests wrote nothing.

use serde_json::{Value, json};
use xinyidai::demo;
use xinyidai::domain::division::DivisionTree;
use xinyidai::domain::resident_id::ResidentId;
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::domain::uscc::Uscc;
use xinyidai::{on_pool, store};

use crate::helpers::TestApp;
use crate::mailbox::{Mailbox, unique_address};
use crate::registration::{id_number, seeded, today};

const PASSWORD: &str = "Lishu-2026-ok";

/// Every table a registration, a login or a signature writes to.
const WRITTEN_TABLES: [&str; 6] = [
    "accounts",
    "registrations",
    "signatures",
    "email_tokens",
    "sessions",
    "audit_log",
];

/// The step keys, in the order the API lists them.
const STEP_KEYS: [&str; 5] = [
    "submitted",
    "email_confirmed",
    "verified",
    "agreement_signed",
    "provincial_sync",
];

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    on_pool!(&app.db, |pool| sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

/// Row counts of [`WRITTEN_TABLES`], to compare before and after a refused request.
async fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in WRITTEN_TABLES {
        out.push((table, count(app, table).await));
    }
    out
}

/// A second active 梨树县 roster entity, distinct from [`seeded`]'s (same synthetic roster).
async fn two_entities(app: &TestApp) -> (RosterEntry, RosterEntry) {
    let first = seeded(app).await;
    let second = demo::synthesise(&DivisionTree::seed(), 200, 31, today())
        .into_iter()
        .find(|e| {
            e.county_code == "220322" && e.status.as_str() == "active" && e.uscc != first.uscc
        })
        .unwrap();
    (first, second)
}

/// A complete, valid request body for `entity`.
fn body(entity: &RosterEntry, email: &str, id: &str) -> Value {
    json!({
        "uscc": entity.uscc.as_str(),
        "entity_name": entity.name,
        "legal_rep_name": entity.legal_rep,
        "legal_rep_id_number": id,
        "mobile": "+86 138-0013-8000",
        "email": email,
        "password": PASSWORD,
        "agree_personal_info": true,
        "referral_code": "LEAFLET-7",
    })
}

/// `body` with `changes` applied (a JSON object of fields to overwrite).
fn with(mut base: Value, changes: Value) -> Value {
    let (Value::Object(base_map), Value::Object(changes)) = (&mut base, changes) else {
        panic!("both must be objects");
    };
    base_map.extend(changes);
    base
}

async fn post_json(app: &TestApp, path: &str, payload: &Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(path))
        .json(payload)
        .send()
        .await
        .unwrap();
    decode(resp).await
}

/// Status and JSON body (`Null` for an empty body); asserts a non-empty body is JSON.
async fn decode(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text}"));
    (status, value)
}

/// Registers `entity`; returns the new registration's id.
async fn register(app: &TestApp, entity: &RosterEntry, email: &str, id: &str) -> i64 {
    let (status, created) = post_json(app, "/api/v1/registrations", &body(entity, email, id)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_i64().unwrap()
}

/// Logs in through the API; returns the bearer token.
async fn login(app: &TestApp, email: &str) -> String {
    let (status, answer) = post_json(
        app,
        "/api/v1/sessions",
        &json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["token"].as_str().unwrap().to_owned()
}

/// A registered, logged-in owner of `entity`: (registration id, email, token).
async fn owner(app: &TestApp, entity: &RosterEntry, seq: u16) -> (i64, String, String) {
    let email = unique_address();
    let id = register(app, entity, &email, &id_number(seq)).await;
    let token = login(app, &email).await;
    (id, email, token)
}

async fn get_registration(app: &TestApp, id: i64, token: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/registrations/{id}")));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    decode(req.send().await.unwrap()).await
}

async fn sign(app: &TestApp, id: i64, token: &str, payload: &Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/registrations/{id}/signatures")))
        .bearer_auth(token)
        .header("user-agent", "xyd-api-test/1")
        .json(payload)
        .send()
        .await
        .unwrap();
    decode(resp).await
}

async fn current_agreement(app: &TestApp) -> Value {
    let (status, agreement) = decode(app.get("/api/v1/agreements/current").await).await;
    assert_eq!(status, 200, "{agreement}");
    agreement
}

/// The state of step `key` in a `GET /api/v1/registrations/{id}` answer.
fn step(registration: &Value, key: &str) -> String {
    registration["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no step {key} in {registration}"))["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The codes listed for each field of a 422 answer.
fn field_codes(answer: &Value) -> Vec<(String, Vec<String>)> {
    answer["errors"]
        .as_object()
        .unwrap_or_else(|| panic!("no `errors` object: {answer}"))
        .iter()
        .map(|(field, codes)| {
            let codes = codes
                .as_array()
                .unwrap_or_else(|| panic!("{field}: not an array: {answer}"))
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            (field.clone(), codes)
        })
        .collect()
}

fn with_other_last_char(s: &str) -> String {
    let mut s = s.to_owned();
    let last = s.pop().unwrap();
    s.push(if last == '0' { '1' } else { '0' });
    s
}

/// Posts `change` over a valid body and asserts a 422 whose only field is `field`, with a code
/// accepted by `code_ok`, and that nothing was written.
async fn assert_refused(change: Value, field: &str, code_ok: impl Fn(&str) -> bool) {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let id = id_number(201);
    let before = row_counts(&app).await;
    let payload = with(body(&entity, &unique_address(), &id), change);
    let resp = app
        .client
        .post(app.url("/api/v1/registrations"))
        .json(&payload)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 422, "{text}");
    assert!(!text.contains(&id), "the ID number came back: {text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let codes = field_codes(&answer);
    assert_eq!(codes.len(), 1, "expected only `{field}`: {answer}");
    let (got_field, got_codes) = &codes[0];
    assert_eq!(got_field, field, "{answer}");
    assert!(
        !got_codes.is_empty() && got_codes.iter().all(|c| code_ok(c)),
        "{field}: {got_codes:?}"
    );
    assert_eq!(
        row_counts(&app).await,
        before,
        "a refused request wrote rows"
    );
    app.stop().await;
}

// ------------------------------------------------------------------ registration and status

#[tokio::test]
async fn a_registration_is_created_and_its_owner_sees_every_step_with_the_id_masked() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let email = unique_address();
    let id = id_number(301);
    let resp = app
        .client
        .post(app.url("/api/v1/registrations"))
        .json(&body(&entity, &email, &id))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let created: Value = resp.json().await.unwrap();
    let reg_id = created["id"].as_i64().unwrap();
    assert_eq!(created["status"], "submitted", "{created}");
    assert_eq!(count(&app, "registrations").await, 1);
    assert_eq!(count(&app, "signatures").await, 0);

    let token = login(&app, &email).await;
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/registrations/{reg_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(&id), "full ID number in the answer: {text}");
    let reg: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reg["id"], reg_id);
    assert_eq!(reg["uscc"], entity.uscc.as_str());
    assert_eq!(reg["entity_name"], entity.name);
    assert_eq!(reg["legal_rep_name"], entity.legal_rep);
    assert_eq!(
        reg["legal_rep_id_number"],
        format!("{}**********{}", &id[..4], &id[14..])
    );
    assert_eq!(reg["verification"], "matched");
    assert_eq!(reg["referral_code"], "LEAFLET-7");
    let keys: Vec<&str> = reg["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, STEP_KEYS);
    for s in reg["steps"].as_array().unwrap() {
        assert!(
            s["label"].as_str().is_some_and(|l| !l.is_empty()),
            "{s}: no label"
        );
        assert!(s["detail"].is_string(), "{s}: no detail");
    }
    assert_eq!(step(&reg, "submitted"), "done");
    assert_eq!(step(&reg, "email_confirmed"), "action_needed");
    assert_eq!(step(&reg, "verified"), "done");
    // Not signed through the API yet.
    assert_eq!(step(&reg, "agreement_signed"), "action_needed");
    assert_eq!(step(&reg, "provincial_sync"), "pending");
    app.stop().await;
}

#[tokio::test]
async fn the_confirmation_email_for_an_api_registration_arrives_by_smtp_and_its_link_works() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, email, token) = owner(&app, &entity, 302).await;

    let mail = Mailbox::from_env().wait_for(&email).await;
    assert!(mail.subject.contains("确认"), "{}", mail.subject);
    let link = mail
        .links
        .iter()
        .find(|l| l.contains("/confirm-email?token="))
        .unwrap_or_else(|| panic!("no confirmation link in {:?}", mail.links));
    let path = &link[link.find("/confirm-email?token=").unwrap()..];
    assert_eq!(app.get(path).await.status(), 200, "GET {path}");

    let (status, reg) = get_registration(&app, reg_id, Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(step(&reg, "email_confirmed"), "done");
    app.stop().await;
}

// ------------------------------------------------------------------ one bad field at a time

#[tokio::test]
async fn a_wrong_uscc_check_character_is_refused() {
    let entity = seeded_entity_for_case().await;
    let bad = with_other_last_char(entity.uscc.as_str());
    assert_refused(json!({ "uscc": bad }), "uscc", |c| c == "uscc_check").await;
}

/// The `seeded` entity's data without keeping a server (its roster is deterministic).
async fn seeded_entity_for_case() -> RosterEntry {
    demo::synthesise(&DivisionTree::seed(), 200, 31, today())
        .into_iter()
        .find(|e| e.county_code == "220322" && e.status.as_str() == "active")
        .unwrap()
}

#[tokio::test]
async fn an_empty_uscc_is_refused() {
    assert_refused(json!({ "uscc": "" }), "uscc", |c| c == "uscc_required").await;
}

#[tokio::test]
async fn a_missing_uscc_is_refused_like_an_empty_one() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let mut payload = body(&entity, &unique_address(), &id_number(202));
    payload.as_object_mut().unwrap().remove("uscc");
    let (status, answer) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer, json!({"errors": {"uscc": ["uscc_required"]}}));
    assert_eq!(count(&app, "registrations").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_id_number_check_character_is_refused() {
    let bad = with_other_last_char(&id_number(203));
    assert_refused(
        json!({ "legal_rep_id_number": bad }),
        "legal_rep_id_number",
        |c| c == "id_check",
    )
    .await;
}

#[tokio::test]
async fn a_legal_representative_under_18_is_refused() {
    // Ten years old on the day the test runs.
    let now = xinyidai::clock::today();
    let birth = time::Date::from_calendar_date(now.year() - 10, time::Month::January, 1).unwrap();
    let minor = ResidentId::assemble("220322", birth, 5).unwrap();
    assert_refused(
        json!({ "legal_rep_id_number": minor.as_str() }),
        "legal_rep_id_number",
        |c| c == "legal_rep_under_18",
    )
    .await;
}

#[tokio::test]
async fn a_bad_mobile_number_is_refused() {
    assert_refused(json!({ "mobile": "12345" }), "mobile", |c| {
        c == "mobile_format"
    })
    .await;
}

#[tokio::test]
async fn a_bad_email_address_is_refused() {
    assert_refused(json!({ "email": "not-an-email" }), "email", |c| {
        c == "email_format"
    })
    .await;
}

#[tokio::test]
async fn a_short_password_is_refused() {
    assert_refused(json!({ "password": "Ab1!" }), "password", |c| {
        c.starts_with("password_")
    })
    .await;
}

#[tokio::test]
async fn a_password_of_one_character_class_is_refused() {
    assert_refused(json!({ "password": "lishuxianqiye" }), "password", |c| {
        c.starts_with("password_")
    })
    .await;
}

#[tokio::test]
async fn a_common_password_is_refused() {
    assert_refused(json!({ "password": "1qaz2wsx" }), "password", |c| {
        c == "password_common"
    })
    .await;
}

#[tokio::test]
async fn registering_without_the_personal_information_consent_is_refused() {
    assert_refused(
        json!({ "agree_personal_info": false }),
        "agree_personal_info",
        |c| c == "consent_required",
    )
    .await;
}

#[tokio::test]
async fn an_empty_legal_representative_name_is_refused() {
    assert_refused(json!({ "legal_rep_name": " " }), "legal_rep_name", |c| {
        c == "legal_rep_name_required"
    })
    .await;
}

#[tokio::test]
async fn an_empty_entity_name_is_refused() {
    assert_refused(json!({ "entity_name": "" }), "entity_name", |c| {
        c == "entity_name_required"
    })
    .await;
}

#[tokio::test]
async fn several_bad_fields_are_all_listed_at_once() {
    let app = TestApp::spawn().await;
    seeded(&app).await;
    let before = row_counts(&app).await;
    let payload = json!({
        "uscc": "",
        "entity_name": "",
        "legal_rep_name": "",
        "legal_rep_id_number": with_other_last_char(&id_number(204)),
        "mobile": "12345",
        "email": "not-an-email",
        "password": "12345678",
        "agree_personal_info": false,
    });
    let (status, answer) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 422, "{answer}");
    let codes = field_codes(&answer);
    let fields: Vec<&str> = codes.iter().map(|(f, _)| f.as_str()).collect();
    let mut expected = vec![
        "agree_personal_info",
        "email",
        "entity_name",
        "legal_rep_id_number",
        "legal_rep_name",
        "mobile",
        "password",
        "uscc",
    ];
    expected.sort_unstable();
    let mut sorted = fields.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "{answer}");
    let code_of = |field: &str| codes.iter().find(|(f, _)| f == field).unwrap().1.clone();
    assert_eq!(code_of("uscc"), ["uscc_required"]);
    assert_eq!(code_of("legal_rep_id_number"), ["id_check"]);
    assert_eq!(code_of("mobile"), ["mobile_format"]);
    assert_eq!(code_of("email"), ["email_format"]);
    assert_eq!(code_of("agree_personal_info"), ["consent_required"]);
    assert!(code_of("password")[0].starts_with("password_"));
    assert_eq!(
        row_counts(&app).await,
        before,
        "a refused request wrote rows"
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_and_wrong_types_are_422_invalid_json_and_write_nothing() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let good = body(&entity, &unique_address(), &id_number(205));
    let raw_bodies = vec![
        r#"{"uscc": "#.to_owned(),
        "not json at all".to_owned(),
        String::new(),
        // serde would fill a struct from an array; no client means that.
        "[]".to_owned(),
        "null".to_owned(),
        "\"uscc\"".to_owned(),
        "42".to_owned(),
        with(good.clone(), json!({"agree_personal_info": "yes"})).to_string(),
        with(good.clone(), json!({"uscc": 123})).to_string(),
        with(good.clone(), json!({"email": ["a@b.cn"]})).to_string(),
        with(good.clone(), json!({"referral_code": 7})).to_string(),
        with(good.clone(), json!({"request_review": "true"})).to_string(),
    ];
    let before = row_counts(&app).await;
    for raw in raw_bodies {
        let resp = app
            .client
            .post(app.url("/api/v1/registrations"))
            .header("content-type", "application/json")
            .body(raw.clone())
            .send()
            .await
            .unwrap();
        let (status, answer) = decode(resp).await;
        assert_eq!(status, 422, "{raw}: {answer}");
        assert_eq!(
            answer,
            json!({"errors": {"body": ["invalid_json"]}}),
            "{raw}"
        );
    }
    // The same for the other JSON endpoints.
    let (status, answer) = decode(
        app.client
            .post(app.url("/api/v1/sessions"))
            .header("content-type", "application/json")
            .body(r#"{"email": 1, "password": true}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(answer, json!({"errors": {"body": ["invalid_json"]}}));
    assert_eq!(row_counts(&app).await, before);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let before = row_counts(&app).await;
    // Valid in every other way: only its size is wrong.
    let payload = with(
        body(&entity, &unique_address(), &id_number(206)),
        json!({"request_review": true, "review_note": "很".repeat(30_000)}),
    );
    let raw = payload.to_string();
    assert!(raw.len() > 64 * 1024);
    let resp = app
        .client
        .post(app.url("/api/v1/registrations"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let (status, answer) = decode(resp).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(row_counts(&app).await, before);
    // Just under the limit is not refused for its size.
    let payload = with(
        body(&entity, &unique_address(), &id_number(206)),
        json!({"review_note": "a".repeat(60_000)}),
    );
    let (status, answer) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 201, "{answer}");
    app.stop().await;
}

// ------------------------------------------------------------------ the roster (L2)

#[tokio::test]
async fn a_legal_representative_mismatch_is_refused_without_a_review_request() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let before = row_counts(&app).await;
    let payload = with(
        body(&entity, &unique_address(), &id_number(401)),
        json!({"legal_rep_name": "某某某"}),
    );
    let (status, answer) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer,
        json!({"errors": {"legal_rep_name": ["legal_rep_mismatch"]}})
    );
    assert_eq!(
        row_counts(&app).await,
        before,
        "a refused request wrote rows"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_entity_name_mismatch_is_refused_without_a_review_request() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let payload = with(
        body(&entity, &unique_address(), &id_number(402)),
        json!({"entity_name": "梨树县完全不同的名称有限公司"}),
    );
    let (status, answer) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer,
        json!({"errors": {"entity_name": ["entity_name_mismatch"]}})
    );
    assert_eq!(count(&app, "registrations").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_valid_uscc_missing_from_the_roster_is_refused_without_a_review_request() {
    let app = TestApp::spawn().await;
    seeded(&app).await;
    let outsider = Uscc::assemble("91", "220322", "MA0XYP12").unwrap();
    let payload = json!({
        "uscc": outsider.as_str(),
        "entity_name": "梨树县新开张商贸有限公司",
        "legal_rep_name": "王新",
        "legal_rep_id_number": id_number(403),
        "mobile": "13800138000",
        "email": unique_address(),
        "password": PASSWORD,
        "agree_personal_info": true,
    });
    let (status, answer) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer, json!({"errors": {"uscc": ["not_in_roster"]}}));
    assert_eq!(count(&app, "registrations").await, 0);

    // Asking for review records it.
    let payload = with(payload, json!({"request_review": true}));
    let (status, created) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "review_requested");
    let entity_id: Option<i64> = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT entity_id FROM registrations"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(entity_id, None);
    app.stop().await;
}

#[tokio::test]
async fn a_mismatch_with_request_review_is_201_review_requested_and_in_review() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let email = unique_address();
    let payload = with(
        body(&entity, &email, &id_number(404)),
        json!({
            "legal_rep_name": "某某某",
            "request_review": true,
            "review_note": "营业执照已变更经营者",
        }),
    );
    let (status, created) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "review_requested");
    let reg_id = created["id"].as_i64().unwrap();

    let token = login(&app, &email).await;
    let (status, reg) = get_registration(&app, reg_id, Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(reg["verification"], "review_requested");
    assert_eq!(step(&reg, "verified"), "in_review");
    let (verification, mismatch, note): (String, Option<String>, Option<String>) = on_pool!(
        &app.db,
        |pool| sqlx::query_as("SELECT verification, mismatch, review_note FROM registrations")
            .fetch_one(pool)
            .await
            .unwrap()
    );
    assert_eq!(verification, "review_requested");
    assert_eq!(mismatch.as_deref(), Some("legal_rep_mismatch"));
    assert_eq!(note.as_deref(), Some("营业执照已变更经营者"));
    app.stop().await;
}

#[tokio::test]
async fn request_review_on_a_matching_registration_reports_what_was_stored() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let email = unique_address();
    let payload = with(
        body(&entity, &email, &id_number(405)),
        json!({"request_review": true}),
    );
    let (status, created) = post_json(&app, "/api/v1/registrations", &payload).await;
    assert_eq!(status, 201, "{created}");
    let token = login(&app, &email).await;
    let (_, reg) = get_registration(&app, created["id"].as_i64().unwrap(), Some(&token)).await;
    // Nothing mismatched, so nothing goes to review: the roster matched.
    assert_eq!(reg["verification"], "matched");
    assert_eq!(step(&reg, "verified"), "done");
    assert_eq!(
        created["status"], "submitted",
        "the 201 claims a review the registration does not have: {created} vs {reg}"
    );
    app.stop().await;
}

// ------------------------------------------------------------------ duplicates

#[tokio::test]
async fn the_same_uscc_twice_is_409_already_registered() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    register(&app, &entity, &unique_address(), &id_number(501)).await;
    let before = row_counts(&app).await;
    let (status, answer) = post_json(
        &app,
        "/api/v1/registrations",
        &body(&entity, &unique_address(), &id_number(502)),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "already_registered");
    assert!(
        answer["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
    assert_eq!(row_counts(&app).await, before);
    app.stop().await;
}

#[tokio::test]
async fn the_same_email_for_another_entity_is_422_email_taken() {
    let app = TestApp::spawn().await;
    let (first, second) = two_entities(&app).await;
    let email = unique_address();
    register(&app, &first, &email, &id_number(503)).await;
    let before = row_counts(&app).await;
    let (status, answer) = post_json(
        &app,
        "/api/v1/registrations",
        &body(&second, &email, &id_number(504)),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer, json!({"errors": {"email": ["email_taken"]}}));
    assert_eq!(row_counts(&app).await, before);
    // The domain's case does not make it another address.
    let (local, domain) = email.split_once('@').unwrap();
    let shouted = format!("{local}@{}", domain.to_ascii_uppercase());
    let (status, answer) = post_json(
        &app,
        "/api/v1/registrations",
        &body(&second, &shouted, &id_number(504)),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer, json!({"errors": {"email": ["email_taken"]}}));
    assert_eq!(row_counts(&app).await, before);
    app.stop().await;
}

// ------------------------------------------------------------------ sessions

#[tokio::test]
async fn a_wrong_password_or_unknown_email_is_401() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let email = unique_address();
    register(&app, &entity, &email, &id_number(601)).await;
    for payload in [
        json!({"email": email, "password": "Wrong-2026-pass"}),
        json!({"email": unique_address(), "password": PASSWORD}),
        json!({"email": "", "password": ""}),
        json!({}),
    ] {
        let (status, answer) = post_json(&app, "/api/v1/sessions", &payload).await;
        assert_eq!(status, 401, "{payload}: {answer}");
        assert_eq!(answer["error"], "bad_credentials", "{answer}");
        assert!(answer.get("token").is_none());
    }
    assert_eq!(count(&app, "sessions").await, 0);
    // The right password still works (3 failures are under the limit).
    let token = login(&app, &email).await;
    assert!(token.len() >= 32, "{token}: shorter than 128 bits");
    app.stop().await;
}

#[tokio::test]
async fn five_failures_throttle_the_account_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let email = unique_address();
    register(&app, &entity, &email, &id_number(602)).await;
    for attempt in 1..=5 {
        let (status, answer) = post_json(
            &app,
            "/api/v1/sessions",
            &json!({"email": email, "password": format!("Wrong-2026-{attempt}")}),
        )
        .await;
        assert_eq!(status, 401, "attempt {attempt}: {answer}");
    }
    let (status, answer) = post_json(
        &app,
        "/api/v1/sessions",
        &json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"], "throttled");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("15分钟")),
        "{answer}"
    );
    assert!(answer.get("token").is_none());
    assert_eq!(count(&app, "sessions").await, 0);
    app.stop().await;
}

// ------------------------------------------------------------------ reading a registration

#[tokio::test]
async fn reading_a_registration_without_a_token_is_401() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, _, _) = owner(&app, &entity, 701).await;
    let (status, answer) = get_registration(&app, reg_id, None).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], "unauthorized");
    app.stop().await;
}

#[tokio::test]
async fn reading_a_registration_with_a_garbage_token_is_401() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, _, token) = owner(&app, &entity, 702).await;
    let url = app.url(&format!("/api/v1/registrations/{reg_id}"));
    let headers = [
        "Bearer garbage".to_owned(),
        "Bearer ".to_owned(),
        "Bearer 0123456789abcdef0123456789abcdef".to_owned(),
        format!("Bearer {token}x"),
        format!("Bearer {}", &token[..token.len() - 1]),
        format!("Bearer {token}; DROP TABLE sessions"),
        format!("Bearer {}", "a".repeat(10_000)),
        format!("Basic {token}"),
        token.clone(),
    ];
    for value in headers {
        let resp = app
            .client
            .get(&url)
            .header("authorization", &value)
            .send()
            .await
            .unwrap();
        let (status, answer) = decode(resp).await;
        assert_eq!(status, 401, "{value:.60}: {answer}");
        assert_eq!(answer["error"], "unauthorized");
    }
    // The genuine token still works.
    let (status, _) = get_registration(&app, reg_id, Some(&token)).await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn another_owners_registration_is_404() {
    let app = TestApp::spawn().await;
    let (first, second) = two_entities(&app).await;
    let (first_id, _, first_token) = owner(&app, &first, 703).await;
    let (second_id, _, second_token) = owner(&app, &second, 704).await;
    let (status, answer) = get_registration(&app, second_id, Some(&first_token)).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"], "not_found");
    assert!(
        !answer.to_string().contains(second.uscc.as_str()),
        "{answer}"
    );
    let (status, _) = get_registration(&app, first_id, Some(&second_token)).await;
    assert_eq!(status, 404);
    // Each still sees their own.
    assert_eq!(
        get_registration(&app, first_id, Some(&first_token)).await.0,
        200
    );
    assert_eq!(
        get_registration(&app, second_id, Some(&second_token))
            .await
            .0,
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_registration_id_is_404() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, _, token) = owner(&app, &entity, 705).await;
    for id in [reg_id + 1, 999_999, 0, -1, i64::MAX] {
        let (status, answer) = get_registration(&app, id, Some(&token)).await;
        assert_eq!(status, 404, "{id}: {answer}");
        assert_eq!(answer["error"], "not_found");
    }
    app.stop().await;
}

// ------------------------------------------------------------------ the agreement

#[tokio::test]
async fn the_current_agreement_carries_the_sha256_of_its_text() {
    let app = TestApp::spawn().await;
    let resp = app.get("/api/v1/agreements/current").await;
    assert_eq!(resp.status(), 200);
    let agreement: Value = resp.json().await.unwrap();
    let text = agreement["text"].as_str().unwrap();
    let digest = agreement["digest"].as_str().unwrap();
    assert!(text.contains("用户服务协议"), "{text:.80}");
    assert_eq!(digest, xinyidai::domain::agreement::sha256_hex(text));
    assert_eq!(digest.len(), 64);
    assert!(
        digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{digest}"
    );
    assert_eq!(
        agreement["version"],
        xinyidai::domain::agreement::BUILT_IN_VERSION
    );

    // A newly published version becomes the current one, digest and all.
    let body = "新版协议正文：增加了数据共享条款。";
    store::agreements::publish(&app.db, "2027.1", body)
        .await
        .unwrap();
    let agreement = current_agreement(&app).await;
    assert_eq!(agreement["version"], "2027.1");
    assert_eq!(agreement["text"], body);
    assert_eq!(
        agreement["digest"],
        xinyidai::domain::agreement::sha256_hex(body)
    );
    app.stop().await;
}

#[tokio::test]
async fn signing_the_current_agreement_is_201_and_completes_the_step() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, _, token) = owner(&app, &entity, 801).await;
    let agreement = current_agreement(&app).await;
    let (status, answer) = sign(
        &app,
        reg_id,
        &token,
        &json!({
            "version": agreement["version"],
            "digest": agreement["digest"],
            "signer_name": entity.legal_rep,
        }),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let (_, reg) = get_registration(&app, reg_id, Some(&token)).await;
    assert_eq!(step(&reg, "agreement_signed"), "done");

    // The evidence row: version, digest, signer, time, address and user agent.
    let (version, digest, signer, ip, user_agent): (String, String, String, String, String) =
        on_pool!(&app.db, |pool| sqlx::query_as(
            "SELECT version, digest, signer_name, ip, user_agent FROM signatures
             WHERE registration_id = $1"
        )
        .bind(reg_id)
        .fetch_one(pool)
        .await
        .unwrap());
    assert_eq!(version, agreement["version"].as_str().unwrap());
    assert_eq!(digest, agreement["digest"].as_str().unwrap());
    assert_eq!(signer, entity.legal_rep);
    assert_eq!(ip, "127.0.0.1");
    assert_eq!(user_agent, "xyd-api-test/1");
    let report = store::audit::verify(&app.db).await.unwrap();
    assert!(report.broken_at.is_none(), "{report:?}");
    app.stop().await;
}

#[tokio::test]
async fn signing_without_a_token_is_401() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, _, _) = owner(&app, &entity, 802).await;
    let agreement = current_agreement(&app).await;
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/registrations/{reg_id}/signatures")))
        .json(&json!({
            "version": agreement["version"],
            "digest": agreement["digest"],
            "signer_name": entity.legal_rep,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(count(&app, "signatures").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_stale_version_or_wrong_digest_is_409_and_records_nothing() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, _, token) = owner(&app, &entity, 803).await;
    let agreement = current_agreement(&app).await;
    let text = agreement["text"].as_str().unwrap();
    let before = row_counts(&app).await;
    for payload in [
        json!({"version": "2025.1", "digest": agreement["digest"], "signer_name": entity.legal_rep}),
        json!({"version": "", "digest": agreement["digest"], "signer_name": entity.legal_rep}),
        json!({"version": agreement["version"], "digest": xinyidai::domain::agreement::sha256_hex(&format!("{text} ")), "signer_name": entity.legal_rep}),
        json!({"version": agreement["version"], "digest": agreement["digest"].as_str().unwrap().to_ascii_uppercase(), "signer_name": entity.legal_rep}),
        json!({"version": agreement["version"], "digest": "", "signer_name": entity.legal_rep}),
        json!({"version": agreement["version"], "signer_name": entity.legal_rep}),
    ] {
        let (status, answer) = sign(&app, reg_id, &token, &payload).await;
        assert_eq!(status, 409, "{payload}: {answer}");
        assert_eq!(answer["error"], "agreement_stale");
    }
    assert_eq!(row_counts(&app).await, before);
    let (_, reg) = get_registration(&app, reg_id, Some(&token)).await;
    assert_eq!(step(&reg, "agreement_signed"), "action_needed");
    app.stop().await;
}

#[tokio::test]
async fn signing_without_a_signer_name_is_422() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, _, token) = owner(&app, &entity, 804).await;
    let agreement = current_agreement(&app).await;
    for name in ["", "   ", &"张".repeat(51)] {
        let (status, answer) = sign(
            &app,
            reg_id,
            &token,
            &json!({"version": agreement["version"], "digest": agreement["digest"], "signer_name": name}),
        )
        .await;
        assert_eq!(status, 422, "{name:?}: {answer}");
        assert_eq!(
            answer,
            json!({"errors": {"signer_name": ["signer_name_required"]}})
        );
    }
    let (status, answer) = decode(
        app.client
            .post(app.url(&format!("/api/v1/registrations/{reg_id}/signatures")))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{\"version\": 2026}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(answer, json!({"errors": {"body": ["invalid_json"]}}));
    assert_eq!(count(&app, "signatures").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn signing_another_owners_registration_is_404() {
    let app = TestApp::spawn().await;
    let (first, second) = two_entities(&app).await;
    let (first_id, _, first_token) = owner(&app, &first, 805).await;
    let (second_id, _, second_token) = owner(&app, &second, 806).await;
    let agreement = current_agreement(&app).await;
    let payload = json!({
        "version": agreement["version"],
        "digest": agreement["digest"],
        "signer_name": first.legal_rep,
    });
    let (status, answer) = sign(&app, second_id, &first_token, &payload).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"], "not_found");
    let (status, _) = sign(&app, second_id + 1000, &first_token, &payload).await;
    assert_eq!(status, 404);
    assert_eq!(count(&app, "signatures").await, 0);
    let (_, reg) = get_registration(&app, second_id, Some(&second_token)).await;
    assert_eq!(step(&reg, "agreement_signed"), "action_needed");
    // Their own is fine.
    assert_eq!(sign(&app, first_id, &first_token, &payload).await.0, 201);
    app.stop().await;
}

#[tokio::test]
async fn after_a_new_version_is_published_the_old_one_cannot_be_signed() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (reg_id, _, token) = owner(&app, &entity, 807).await;
    let old = current_agreement(&app).await;
    let payload = |a: &Value| json!({"version": a["version"], "digest": a["digest"], "signer_name": entity.legal_rep});
    assert_eq!(sign(&app, reg_id, &token, &payload(&old)).await.0, 201);
    let (_, reg) = get_registration(&app, reg_id, Some(&token)).await;
    assert_eq!(step(&reg, "agreement_signed"), "done");

    store::agreements::publish(&app.db, "2027.1", "新版协议正文：增加了数据共享条款。")
        .await
        .unwrap();
    // The earlier signature no longer counts.
    let (_, reg) = get_registration(&app, reg_id, Some(&token)).await;
    assert_eq!(step(&reg, "agreement_signed"), "action_needed");
    let (status, answer) = sign(&app, reg_id, &token, &payload(&old)).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "agreement_stale");
    assert_eq!(count(&app, "signatures").await, 1);

    let new = current_agreement(&app).await;
    assert_eq!(new["version"], "2027.1");
    assert_eq!(sign(&app, reg_id, &token, &payload(&new)).await.0, 201);
    let (_, reg) = get_registration(&app, reg_id, Some(&token)).await;
    assert_eq!(step(&reg, "agreement_signed"), "done");
    assert_eq!(count(&app, "signatures").await, 2);
    app.stop().await;
}

// ------------------------------------------------------------------ entity search

async fn search(app: &TestApp, q: &str) -> Vec<Value> {
    let url = reqwest::Url::parse_with_params(&app.url("/api/v1/entities"), [("q", q)]).unwrap();
    let resp = app.client.get(url).send().await.unwrap();
    let (status, answer) = decode(resp).await;
    assert_eq!(status, 200, "{q:?}: {answer}");
    answer.as_array().unwrap().clone()
}

#[tokio::test]
async fn entities_are_found_by_uscc_and_name_with_the_legal_rep_masked() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;

    let found = search(&app, entity.uscc.as_str()).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let m = &found[0];
    assert_eq!(m["uscc"], entity.uscc.as_str());
    assert_eq!(m["name"], entity.name);
    assert_eq!(m["kind"], entity.kind.as_str());
    assert_eq!(m["kind_label"], entity.kind.label_zh());
    let masked = m["legal_rep"].as_str().unwrap();
    let first: String = entity.legal_rep.chars().take(1).collect();
    let expected = format!(
        "{first}{}",
        "*".repeat(entity.legal_rep.chars().count() - 1)
    );
    assert_eq!(masked, expected);
    assert!(
        masked.chars().skip(1).all(|c| c == '*'),
        "legal_rep not masked: {masked}"
    );
    // No full legal representative name anywhere in any match.
    let fragment: String = entity.name.chars().skip(3).take(2).collect();
    let by_name = search(&app, &fragment).await;
    assert!(
        by_name.iter().any(|m| m["uscc"] == entity.uscc.as_str()),
        "{fragment}: {by_name:?}"
    );
    assert!(by_name.len() <= 20);
    for m in &by_name {
        let rep = m["legal_rep"].as_str().unwrap();
        assert!(rep.chars().skip(1).all(|c| c == '*'), "{m}");
        for key in ["uscc", "name", "kind", "kind_label", "legal_rep"] {
            assert!(m[key].is_string(), "{key} missing in {m}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn an_empty_entity_query_is_an_empty_array() {
    let app = TestApp::spawn().await;
    seeded(&app).await;
    for q in ["", "   "] {
        assert!(search(&app, q).await.is_empty(), "{q:?}");
    }
    let (status, answer) = decode(app.get("/api/v1/entities").await).await;
    assert_eq!(status, 200);
    assert_eq!(answer, json!([]));
    assert!(search(&app, "没有这个名字的主体").await.is_empty());
    // LIKE wildcards are literal.
    assert!(search(&app, "%").await.is_empty());
    assert!(search(&app, "_").await.is_empty());
    app.stop().await;
}

// ------------------------------------------------------------------ the OpenAPI document

/// `(path, methods)` of every `.route("/api/v1…", …)` call in `source`.
fn api_routes(source: &str) -> Vec<(String, Vec<&'static str>)> {
    routes_under(source, "/api/v1")
}

/// `(path, methods)` of every `.route("PREFIX…", …)` call in `source`: the router's own record
/// of what it serves, so a test over "every route" cannot miss a new one.
pub fn routes_under(source: &str, prefix: &str) -> Vec<(String, Vec<&'static str>)> {
    let mut routes = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find(".route(") {
        let after = &rest[start + ".route(".len()..];
        let mut depth = 1usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &after[..end];
        rest = &after[end..];
        let Some(path) = args.split('"').nth(1) else {
            continue;
        };
        if !path.starts_with(prefix) {
            continue;
        }
        let handlers = &args[args.find(',').unwrap_or(0)..];
        let methods = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| {
                let call = format!("{m}(");
                handlers.match_indices(&call).any(|(i, _)| {
                    i == 0
                        || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && handlers.as_bytes()[i - 1] != b'_'
                })
            })
            .collect();
        routes.push((path.to_owned(), methods));
    }
    routes
}

#[test]
fn the_route_parser_reads_single_and_multi_line_routes() {
    let source = r#"
        .route("/api/v1/a", post(api::a))
        .route(
            "/api/v1/b/{id}/c",
            get(api::b).post(api::c),
        )
        .route("/me", get(account::me))
    "#;
    assert_eq!(
        api_routes(source),
        vec![
            ("/api/v1/a".to_owned(), vec!["post"]),
            ("/api/v1/b/{id}/c".to_owned(), vec!["get", "post"]),
        ]
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route_in_the_router() {
    let app = TestApp::spawn().await;
    let resp = app.get("/api/openapi.json").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();

    // The main router and the modules whose `routes()` it merges with API routes.
    let routes = api_routes(concat!(
        include_str!("../../src/web/mod.rs"),
        include_str!("../../src/web/staff_api.rs"),
        include_str!("../../src/web/review.rs"),
        include_str!("../../src/web/credit_metric.rs"),
    ));
    assert!(
        routes.len() >= 6,
        "the router parse found too few API routes: {routes:?}"
    );
    for (path, methods) in &routes {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is routed but not in /api/openapi.json"));
        assert!(!methods.is_empty(), "{path}: no method found");
        for method in methods {
            assert!(
                item.get(*method).is_some(),
                "{method} {path} is routed but not documented"
            );
        }
    }
    // And nothing documented that is not routed.
    for path in paths.keys() {
        assert!(
            routes.iter().any(|(p, _)| p == path),
            "{path} documented but not routed"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_a_non_numeric_id_is_a_json_404() {
    let app = TestApp::spawn().await;
    let (entity, _) = two_entities(&app).await;
    let (id, _, token) = owner(&app, &entity, 230).await;
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/registrations/{id}")))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .client
        .get(app.url("/api/v1/registrations/abc"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let (status, answer) = decode(resp).await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"], "not_found");
    app.stop().await;
}
