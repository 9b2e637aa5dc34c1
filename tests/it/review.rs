//! The manual review queue through the real server: which registrations each reviewer sees, the
//! detail page and its audit row, approving and rejecting (with the owner's email through the
//! real SMTP server and `/me`), double decisions, and 404s across departments.

use std::collections::BTreeSet;

use scraper::{Html, Selector};
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::store::accounts::Role;
use xinyidai::{on_pool, store};

use crate::helpers::{TestApp, attr, text, texts};
use crate::mailbox::{Mailbox, unique_address};
use crate::people::{
    COUNTY, assigned_entities, bearer, browser, csrf, departments, get_page, official, staff,
};
use crate::registration::{id_number, login_response};

const OWNER_PASSWORD: &str = "Lishu-2026-ok";
/// Never the roster's legal representative: the registration fails L2 on this name.
const WRONG_LEGAL_REP: &str = "欧阳测试";

/// A registration through the API that failed roster matching and asked for review.
struct Application {
    id: i64,
    email: String,
    entity_name: String,
}

async fn apply(
    app: &TestApp,
    uscc: &str,
    entity_name: &str,
    referral: Option<&str>,
    seq: u16,
) -> Application {
    let email = unique_address();
    let resp = app
        .client
        .post(app.url("/api/v1/registrations"))
        .json(&serde_json::json!({
            "uscc": uscc,
            "entity_name": entity_name,
            "legal_rep_name": WRONG_LEGAL_REP,
            "legal_rep_id_number": id_number(seq),
            "mobile": "13800138000",
            "email": email,
            "password": OWNER_PASSWORD,
            "agree_personal_info": true,
            "referral_code": referral,
            "request_review": true,
            "review_note": "法定代表人上月已变更，名录尚未更新",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "review_requested");
    Application {
        id: body["id"].as_i64().unwrap(),
        email,
        entity_name: entity_name.to_owned(),
    }
}

/// Entities of 梨树县 that are not in the roster (never loaded).
fn outside_roster(seed: u64) -> Vec<RosterEntry> {
    crate::import::entities(400, seed)
        .into_iter()
        .filter(|e| e.county_code == COUNTY && e.status.as_str() == "active")
        .collect()
}

/// The owner signs the current agreement through the API.
async fn sign(app: &TestApp, owner: &Application) {
    let token = bearer_owner(app, &owner.email).await;
    let current: serde_json::Value = app
        .client
        .get(app.url("/api/v1/agreements/current"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/registrations/{}/signatures", owner.id)))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "version": current["version"],
            "digest": current["digest"],
            "signer_name": WRONG_LEGAL_REP,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

async fn bearer_owner(app: &TestApp, email: &str) -> String {
    let resp = app
        .client
        .post(app.url("/api/v1/sessions"))
        .json(&serde_json::json!({ "email": email, "password": OWNER_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "API login");
    let body: serde_json::Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn account_id(app: &TestApp, email: &str) -> i64 {
    on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT id FROM accounts WHERE email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn verification(app: &TestApp, id: i64) -> (String, Option<String>, Option<i64>) {
    on_pool!(&app.db, |pool| sqlx::query_as(
        "SELECT verification, decision_reason, reviewed_by FROM registrations WHERE id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// Audit rows of `action` on registration `id`: (actor, detail).
async fn audit_rows(app: &TestApp, action: &str, id: i64) -> Vec<(String, String)> {
    on_pool!(&app.db, |pool| sqlx::query_as(
        "SELECT actor, detail FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY id"
    )
    .bind(action)
    .bind(format!("registration:{id}"))
    .fetch_all(pool)
    .await
    .unwrap())
}

async fn outbox_rows(app: &TestApp, id: i64) -> i64 {
    on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE registration_id = $1 AND kind = 'register'"
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap())
}

fn queue_ids(page: &Html) -> BTreeSet<i64> {
    let sel = Selector::parse("#queue li.review-item").unwrap();
    page.select(&sel)
        .map(|li| li.value().attr("data-id").unwrap().parse().unwrap())
        .collect()
}

/// POSTs a decision form from `browser` (CSRF from the detail page it opens first).
async fn decide(
    app: &TestApp,
    browser: &reqwest::Client,
    base: &str,
    id: i64,
    decision: &str,
    reason: &str,
) -> (u16, String, Html) {
    let (_, page) = get_page(app, browser, &format!("{base}/{id}")).await;
    let token = csrf(&page);
    let resp = browser
        .post(app.url(&format!("{base}/{id}/decision")))
        .form(&[
            ("csrf", token.as_str()),
            ("decision", decision),
            ("reason", reason),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        location,
        Html::parse_document(&resp.text().await.unwrap()),
    )
}

/// Two departments with a registration under review each, one through a campaign of the first,
/// and one nobody is responsible for.
struct Scene {
    a_staff: String,
    b_staff: String,
    admin: String,
    a_entity: RosterEntry,
    /// In A's roster.
    a_reg: Application,
    /// Not in the roster, through A's campaign.
    a_campaign_reg: Application,
    /// In B's roster.
    b_reg: Application,
    /// Not in the roster, no campaign: the admins'.
    unassigned_reg: Application,
}

async fn scene(app: &TestApp) -> Scene {
    let deps = departments(app).await;
    let (a, b) = (deps[0].id, deps[1].id);
    let a_staff = staff(app, a).await;
    let b_staff = staff(app, b).await;
    let admin = official(app, Role::Admin, None, false).await;
    let a_entities = assigned_entities(app, a, 2, 11).await;
    let b_entities = assigned_entities(app, b, 1, 12).await;
    let creator = account_id(app, &a_staff).await;
    on_pool!(&app.db, |pool| {
        sqlx::query(
            "INSERT INTO campaigns (department_id, code, name, slogan, created_by, created_at)
             VALUES ($1, 'LEAFLET-A1', '春季宣传', '实名入驻，贷款更容易', $2, $3)",
        )
        .bind(a)
        .bind(creator)
        .bind(time::OffsetDateTime::now_utc())
        .execute(pool)
        .await
        .unwrap();
    });
    let outside = outside_roster(913);
    for e in &outside[..2] {
        assert!(
            store::entities::by_uscc(&app.db, e.uscc.as_str())
                .await
                .unwrap()
                .is_none()
        );
    }
    let a_entity = a_entities[0].clone();
    let a_reg = apply(app, a_entity.uscc.as_str(), &a_entity.name, None, 301).await;
    let a_campaign_reg = apply(
        app,
        outside[0].uscc.as_str(),
        &outside[0].name,
        Some("LEAFLET-A1"),
        302,
    )
    .await;
    let b_reg = apply(
        app,
        b_entities[0].uscc.as_str(),
        &b_entities[0].name,
        None,
        303,
    )
    .await;
    let unassigned_reg = apply(app, outside[1].uscc.as_str(), &outside[1].name, None, 304).await;
    Scene {
        a_staff,
        b_staff,
        admin,
        a_entity,
        a_reg,
        a_campaign_reg,
        b_reg,
        unassigned_reg,
    }
}

#[tokio::test]
async fn each_reviewer_sees_their_own_queue_and_nothing_else() {
    let app = TestApp::spawn().await;
    let s = scene(&app).await;

    let a = browser(&app, &s.a_staff).await;
    let a_id = account_id(&app, &s.a_staff).await;
    let (status, page) = get_page(&app, &a, "/staff/review").await;
    assert_eq!(status, 200);
    assert_eq!(
        queue_ids(&page),
        BTreeSet::from([s.a_reg.id, s.a_campaign_reg.id])
    );
    assert_eq!(text(&page, "#queue-count strong"), "2");

    let b = browser(&app, &s.b_staff).await;
    let (_, page) = get_page(&app, &b, "/staff/review").await;
    assert_eq!(queue_ids(&page), BTreeSet::from([s.b_reg.id]));

    let admin = browser(&app, &s.admin).await;
    let (status, page) = get_page(&app, &admin, "/admin/review").await;
    assert_eq!(status, 200);
    assert_eq!(
        queue_ids(&page),
        BTreeSet::from([
            s.a_reg.id,
            s.a_campaign_reg.id,
            s.b_reg.id,
            s.unassigned_reg.id
        ])
    );
    assert!(texts(&page, ".department").contains(&"未分配".to_owned()));
    let (status, page) = get_page(
        &app,
        &admin,
        &format!("/admin/review/{}", s.unassigned_reg.id),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#entity-name"), s.unassigned_reg.entity_name);

    // The API gives staff the same queue.
    let token = bearer(&app, &s.a_staff).await;
    let body: serde_json::Value = app
        .client
        .get(app.url("/api/v1/staff/review"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: BTreeSet<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([s.a_reg.id, s.a_campaign_reg.id]));
    let first = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == s.a_reg.id)
        .unwrap();
    assert_eq!(first["mismatch"], serde_json::json!(["legal_rep_mismatch"]));

    // Another department's registration, or the admins', is a 404 on every page and route.
    for id in [s.b_reg.id, s.unassigned_reg.id] {
        let (status, _) = get_page(&app, &a, &format!("/staff/review/{id}")).await;
        assert_eq!(status, 404, "page {id}");
        let (_, own) = get_page(&app, &a, "/staff/review").await;
        let resp = a
            .post(app.url(&format!("/staff/review/{id}/decision")))
            .form(&[
                ("csrf", csrf(&own).as_str()),
                ("decision", "approve"),
                ("reason", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "decision {id}");
        let resp = app
            .client
            .get(app.url(&format!("/api/v1/staff/review/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "api detail {id}");
        let resp = app
            .client
            .post(app.url(&format!("/api/v1/staff/review/{id}/decision")))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "decision": "approve" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "api decision {id}");
        assert_eq!(verification(&app, id).await.0, "review_requested");
        let viewers: Vec<String> = audit_rows(&app, "personal_data.viewed", id)
            .await
            .into_iter()
            .map(|(actor, _)| actor)
            .collect();
        assert!(!viewers.contains(&format!("account:{a_id}")), "{viewers:?}");
    }
    for path in ["/staff/review/abc", "/staff/review/999999"] {
        assert_eq!(get_page(&app, &a, path).await.0, 404, "{path}");
    }

    // Staff pages are not the admin's and the other way round; owners get neither.
    assert_eq!(get_page(&app, &a, "/admin/review").await.0, 404);
    assert_eq!(get_page(&app, &admin, "/staff/review").await.0, 404);
    let (owner, _, _) = login_response(&app, &s.a_reg.email, OWNER_PASSWORD).await;
    assert_eq!(get_page(&app, &owner, "/staff/review").await.0, 404);
    let owner_token = bearer_owner(&app, &s.a_reg.email).await;
    for (token, status) in [(None, 401), (Some(owner_token), 404)] {
        let mut req = app.client.get(app.url("/api/v1/staff/review"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), status);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_detail_page_compares_with_the_roster_and_audits_the_view() {
    let app = TestApp::spawn().await;
    let s = scene(&app).await;
    let a = browser(&app, &s.a_staff).await;
    let staff_id = account_id(&app, &s.a_staff).await;

    let (status, page) = get_page(&app, &a, &format!("/staff/review/{}", s.a_reg.id)).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#row-legal-rep .submitted"), WRONG_LEGAL_REP);
    assert_eq!(text(&page, "#row-legal-rep .roster"), s.a_entity.legal_rep);
    assert_eq!(
        attr(&page, "#row-legal-rep", "class").as_deref(),
        Some("differs")
    );
    assert_eq!(text(&page, "#row-name .roster"), s.a_entity.name);
    assert_eq!(
        attr(&page, "#mismatch li", "data-code").as_deref(),
        Some("legal_rep_mismatch")
    );
    assert!(text(&page, "#mismatch li").contains("法定代表人"));
    assert_eq!(
        text(&page, "#review-note"),
        "法定代表人上月已变更，名录尚未更新"
    );
    assert_eq!(text(&page, "#mobile"), "13800138000");
    let masked = text(&page, "#id-masked");
    assert!(masked.contains('*') && masked != id_number(301), "{masked}");

    // Not in the roster: said so, and the campaign's department took it.
    let (_, page) = get_page(&app, &a, &format!("/staff/review/{}", s.a_campaign_reg.id)).await;
    assert_eq!(text(&page, "#row-uscc .roster"), "名录中无此代码");
    assert_eq!(
        attr(&page, "#mismatch li", "data-code").as_deref(),
        Some("not_in_roster")
    );

    // One audit row per opening, naming fields only.
    let rows = audit_rows(&app, "personal_data.viewed", s.a_reg.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, format!("account:{staff_id}"));
    assert!(rows[0].1.contains("legal_rep_name") && rows[0].1.contains("mobile"));
    assert!(
        !rows[0].1.contains(WRONG_LEGAL_REP) && !rows[0].1.contains("13800138000"),
        "{}",
        rows[0].1
    );
    // The API's detail is a view too.
    let token = bearer(&app, &s.a_staff).await;
    let body: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/staff/review/{}", s.a_reg.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["legal_rep_name"], WRONG_LEGAL_REP);
    assert_eq!(
        body["roster"]["legal_rep_name"],
        s.a_entity.legal_rep.as_str()
    );
    assert_eq!(body["mismatch"][0]["code"], "legal_rep_mismatch");
    assert_eq!(
        audit_rows(&app, "personal_data.viewed", s.a_reg.id)
            .await
            .len(),
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_the_owner_is_told() {
    let app = TestApp::spawn().await;
    let inbox = Mailbox::from_env();
    let s = scene(&app).await;
    let a = browser(&app, &s.a_staff).await;
    let staff_id = account_id(&app, &s.a_staff).await;
    let id = s.a_reg.id;

    // No reason: refused inline, the choice kept, nothing written.
    let (status, _, page) = decide(&app, &a, "/staff/review", id, "reject", "   ").await;
    assert_eq!(status, 422);
    assert!(text(&page, "#reason-error").contains("驳回时必须填写原因"));
    assert_eq!(
        attr(&page, "input[name=decision][value=reject]", "checked").as_deref(),
        Some("")
    );
    let too_long = "字".repeat(201);
    let (status, _, page) = decide(&app, &a, "/staff/review", id, "reject", &too_long).await;
    assert_eq!(status, 422);
    assert_eq!(text(&page, "#reason"), too_long);
    assert_eq!(
        verification(&app, id).await,
        ("review_requested".into(), None, None)
    );
    assert!(
        audit_rows(&app, "registration.rejected", id)
            .await
            .is_empty()
    );

    let reason = "营业执照上的法定代表人与所填不一致，请携带执照到乡镇核实";
    let (status, location, _) = decide(&app, &a, "/staff/review", id, "reject", reason).await;
    assert_eq!(status, 303);
    assert_eq!(location, format!("/staff/review?done=rejected&id={id}"));
    assert_eq!(
        verification(&app, id).await,
        ("rejected".into(), Some(reason.to_owned()), Some(staff_id))
    );
    let rows = audit_rows(&app, "registration.rejected", id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, format!("account:{staff_id}"));
    assert!(
        !rows[0].1.contains(reason),
        "free text stays out of the audit log"
    );
    // It left the queue.
    let (_, page) = get_page(&app, &a, &location).await;
    assert!(!queue_ids(&page).contains(&id));
    assert!(text(&page, "#notice").contains(&id.to_string()));

    // The owner's email (the registration's confirmation came first).
    let mail = inbox.wait_for_nth(&s.a_reg.email, 2).await;
    assert!(mail.subject.ends_with("人工审核未通过"), "{}", mail.subject);
    assert!(mail.text.contains(reason) && mail.text.contains(&s.a_reg.entity_name));
    assert!(
        mail.links.iter().any(|l| l.ends_with("/me")),
        "{:?}",
        mail.links
    );
    // And /me.
    let (owner, _, _) = login_response(&app, &s.a_reg.email, OWNER_PASSWORD).await;
    let (_, me) = get_page(&app, &owner, "/me").await;
    assert_eq!(
        attr(&me, "li.step[data-step=verified]", "data-state").as_deref(),
        Some("rejected")
    );
    assert!(text(&me, "li.step[data-step=verified]").contains(reason));

    // A second decision is refused, on the page and in the API, and changes nothing.
    let (status, _, page) = decide(&app, &a, "/staff/review", id, "approve", "").await;
    assert_eq!(status, 409);
    assert!(text(&page, "#notice").contains("已经审核过"));
    let token = bearer(&app, &s.a_staff).await;
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/staff/review/{id}/decision")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "decision": "approve" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "already_decided");
    assert_eq!(verification(&app, id).await.0, "rejected");
    assert!(
        audit_rows(&app, "registration.approved", id)
            .await
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn approval_queues_a_signed_registration_and_an_unsigned_one_when_it_signs() {
    let app = TestApp::spawn().await;
    let inbox = Mailbox::from_env();
    let s = scene(&app).await;
    let token = bearer(&app, &s.a_staff).await;
    let staff_id = account_id(&app, &s.a_staff).await;
    let post = |id: i64, body: serde_json::Value| {
        app.client
            .post(app.url(&format!("/api/v1/staff/review/{id}/decision")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    // Bad input: 422 with the field's code, nothing written.
    let resp = post(s.a_reg.id, serde_json::json!({ "decision": "reject" }))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["errors"]["reason"],
        serde_json::json!(["reason_required"])
    );
    let resp = post(s.a_reg.id, serde_json::json!({ "decision": "yes" }))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/staff/review/{}/decision", s.a_reg.id)))
        .json(&serde_json::json!({ "decision": "approve" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(verification(&app, s.a_reg.id).await.0, "review_requested");

    // Signed before the review: approval queues it for the province at once.
    sign(&app, &s.a_reg).await;
    assert_eq!(outbox_rows(&app, s.a_reg.id).await, 0, "not verified yet");
    let resp = post(s.a_reg.id, serde_json::json!({ "decision": "approve" }))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["verification"], "approved");
    assert_eq!(body["queued_for_province"], true);
    assert_eq!(outbox_rows(&app, s.a_reg.id).await, 1);
    assert_eq!(
        verification(&app, s.a_reg.id).await,
        ("approved".into(), None, Some(staff_id))
    );
    let rows = audit_rows(&app, "registration.approved", s.a_reg.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, format!("account:{staff_id}"));
    let mail = inbox.wait_for_nth(&s.a_reg.email, 2).await;
    assert!(mail.subject.ends_with("人工审核已通过"), "{}", mail.subject);
    let (owner, _, _) = login_response(&app, &s.a_reg.email, OWNER_PASSWORD).await;
    let (_, me) = get_page(&app, &owner, "/me").await;
    assert_eq!(
        attr(&me, "li.step[data-step=verified]", "data-state").as_deref(),
        Some("done")
    );
    assert!(text(&me, "li.step[data-step=verified]").contains("人工审核已通过"));

    // Not signed yet (approved on the page): queued only when the owner signs.
    let a = browser(&app, &s.a_staff).await;
    let id = s.a_campaign_reg.id;
    let (status, _, _) = decide(&app, &a, "/staff/review", id, "approve", "").await;
    assert_eq!(status, 303);
    assert_eq!(verification(&app, id).await.0, "approved");
    assert_eq!(outbox_rows(&app, id).await, 0);
    sign(&app, &s.a_campaign_reg).await;
    assert_eq!(outbox_rows(&app, id).await, 1);

    // The staff API is in the OpenAPI document.
    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/staff/review",
        "/api/v1/staff/review/{id}",
        "/api/v1/staff/review/{id}/decision",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }

    // Admins decide the unassigned ones.
    let admin = browser(&app, &s.admin).await;
    let admin_id = account_id(&app, &s.admin).await;
    let id = s.unassigned_reg.id;
    let (status, location, _) =
        decide(&app, &admin, "/admin/review", id, "reject", "查无此户").await;
    assert_eq!(status, 303);
    assert_eq!(location, format!("/admin/review?done=rejected&id={id}"));
    assert_eq!(
        verification(&app, id).await,
        (
            "rejected".into(),
            Some("查无此户".to_owned()),
            Some(admin_id)
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn a_mail_failure_does_not_undo_the_decision() {
    // Nothing listens on port 1: every message fails to send.
    let app = TestApp::spawn_with(|s| {
        s.mail.smtp_url = Some(xinyidai::config::Secret::new("smtp://127.0.0.1:1"));
    })
    .await;
    let s = scene(&app).await;
    let a = browser(&app, &s.a_staff).await;
    let (status, _, _) = decide(&app, &a, "/staff/review", s.a_reg.id, "reject", "查无此户").await;
    assert_eq!(status, 303);
    assert_eq!(verification(&app, s.a_reg.id).await.0, "rejected");
    assert_eq!(
        audit_rows(&app, "registration.rejected", s.a_reg.id)
            .await
            .len(),
        1
    );
    // /me tells the owner all the same.
    let (owner, _, _) = login_response(&app, &s.a_reg.email, OWNER_PASSWORD).await;
    let (_, me) = get_page(&app, &owner, "/me").await;
    assert!(text(&me, "li.step[data-step=verified]").contains("查无此户"));
    app.stop().await;
}
