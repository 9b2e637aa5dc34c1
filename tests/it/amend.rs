//! Owners amending a registration: a new contact number follows the registration to the
//! province as its own event, in order; a registration the province refused is emailed to its
//! owner, corrected and resubmitted; the province's L3 answer is recorded.

use scraper::Html;
use xinyidai::config::MailSettings;
use xinyidai::mail::Mailer;
use xinyidai::outbox::worker::Notifier;
use xinyidai::store;

use crate::helpers::{TestApp, attr, text};
use crate::mailbox::Mailbox;
use crate::outbox::queued_with_email;
use crate::registration::{id_number, login_response};
use crate::worker::{sim, sync_state, worker};

/// Logs the owner in; returns the browser.
async fn owner_browser(app: &TestApp, email: &str) -> reqwest::Client {
    let (browser, _, resp) = login_response(app, email, "Lishu-2026-ok").await;
    assert_eq!(resp.status().as_u16(), 303);
    browser
}

async fn page(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, Html) {
    let resp = browser.get(app.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, Html::parse_document(&resp.text().await.unwrap()))
}

/// Opens the form at `path` and posts `fields` with its CSRF token.
async fn submit(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, Html) {
    let (status, form) = page(app, browser, path).await;
    assert_eq!(status, 200, "GET {path}");
    let csrf = attr(&form, "input[name=csrf]", "value").unwrap();
    let mut body = vec![("csrf", csrf.as_str())];
    body.extend_from_slice(fields);
    let resp = browser
        .post(app.url(path))
        .form(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, Html::parse_document(&resp.text().await.unwrap()))
}

async fn outbox_kinds(app: &TestApp) -> Vec<(String, String)> {
    store::outbox::all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kind, r.state))
        .collect()
}

fn pair(kind: &str, state: &str) -> (String, String) {
    (kind.to_owned(), state.to_owned())
}

#[tokio::test]
async fn a_new_contact_number_is_sent_after_the_registration_in_order() {
    let app = TestApp::spawn().await;
    let (id, email) = queued_with_email(&app).await;
    let browser = owner_browser(&app, &email).await;
    // Changed before the registration itself has gone out.
    let path = format!("/me/registrations/{id}/contact");
    let (status, _) = submit(&app, &browser, &path, &[("mobile", "139 0013 9000")]).await;
    assert_eq!(status, 303);
    let (_, me) = page(&app, &browser, "/me?notice=contact").await;
    assert!(text(&me, "#notice").contains("联系电话已更新"));
    let reg = store::registrations::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.mobile, "13900139000");
    assert_eq!(
        outbox_kinds(&app).await,
        vec![
            pair("register", "pending"),
            pair("update_contact", "pending")
        ]
    );

    let sim = sim(Vec::new()).await;
    let worker = worker(&app, &sim);
    // The update waits for the registration: one row per round, registration first.
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(
        outbox_kinds(&app).await,
        vec![pair("register", "done"), pair("update_contact", "pending")]
    );
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(
        outbox_kinds(&app).await,
        vec![pair("register", "done"), pair("update_contact", "done")]
    );
    let stats = sim.handle.stats().await.unwrap();
    assert_eq!((stats.accepted, stats.contacts), (1, 1), "{stats:?}");
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_bad_contact_number_is_refused_inline_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (id, email) = queued_with_email(&app).await;
    let browser = owner_browser(&app, &email).await;
    let path = format!("/me/registrations/{id}/contact");
    let (status, doc) = submit(&app, &browser, &path, &[("mobile", "12345")]).await;
    assert_eq!(status, 422);
    assert!(!text(&doc, "#mobile-error").is_empty());
    assert_eq!(
        attr(&doc, "input[name=mobile]", "value").as_deref(),
        Some("12345")
    );
    let reg = store::registrations::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.mobile, "13800138000");
    assert_eq!(outbox_kinds(&app).await, vec![pair("register", "pending")]);
    // Without the form's token nothing happens either.
    let resp = browser
        .post(app.url(&path))
        .form(&[("mobile", "13900139000")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    app.stop().await;
}

#[tokio::test]
async fn another_owners_registration_cannot_be_amended() {
    let app = TestApp::spawn().await;
    let (id, _) = queued_with_email(&app).await;
    // A second owner, registered through the API like the first.
    let other = xinyidai::demo::synthesise(
        &xinyidai::domain::division::DivisionTree::seed(),
        50,
        77,
        xinyidai::clock::today(),
    );
    store::entities::upsert_batch(&app.db, &other)
        .await
        .unwrap();
    let entity = other
        .iter()
        .find(|e| e.county_code == "220322" && e.status.as_str() == "active")
        .unwrap();
    let email = crate::mailbox::unique_address();
    let resp = app
        .client
        .post(app.url("/api/v1/registrations"))
        .json(&serde_json::json!({
            "uscc": entity.uscc.as_str(), "entity_name": entity.name,
            "legal_rep_name": entity.legal_rep, "legal_rep_id_number": id_number(404),
            "mobile": "13700137000", "email": email, "password": "Lishu-2026-ok",
            "agree_personal_info": true
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let intruder = owner_browser(&app, &email).await;
    for path in [
        format!("/me/registrations/{id}/contact"),
        format!("/me/registrations/{id}/resubmit"),
    ] {
        let (status, _) = page(&app, &intruder, &path).await;
        assert_eq!(status, 404, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_refused_registration_is_emailed_corrected_and_resubmitted() {
    let app = TestApp::spawn().await;
    let (id, email) = queued_with_email(&app).await;
    let reg = store::registrations::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap();
    let refusing = sim(vec![(
        reg.uscc.clone(),
        "legal_rep_mismatch".into(),
        "法定代表人身份信息与登记机关不一致".into(),
    )])
    .await;
    let mailer = Mailer::from_settings(&MailSettings {
        smtp_url: Some(xinyidai::config::Secret::new(crate::mailbox::smtp_url())),
        from: "信易贷平台 <noreply@xinyidai.localhost>".to_owned(),
        dir: std::env::temp_dir(),
    })
    .unwrap();
    let notifier = Notifier {
        mailer,
        public_url: "http://xinyidai.test".to_owned(),
    };
    let first = worker(&app, &refusing).with_notifier(notifier.clone());
    assert_eq!(first.run_once().await.unwrap(), 1);
    assert_eq!(
        sync_state(&app, id).await,
        (
            "rejected".to_owned(),
            Some("法定代表人身份信息与登记机关不一致".to_owned())
        )
    );
    // The owner is told once (after the confirmation email), with the reason and the way back.
    let mail = Mailbox::from_env().wait_for_nth(&email, 2).await;
    assert!(mail.subject.contains("未通过"), "{}", mail.subject);
    assert!(mail.text.contains("法定代表人身份信息与登记机关不一致"));
    assert!(mail.links.iter().any(|l| l == "http://xinyidai.test/me"));
    assert!(
        store::registrations::rejections_to_notify(&app.db, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let browser = owner_browser(&app, &email).await;
    let (_, me) = page(&app, &browser, "/me").await;
    assert_eq!(
        attr(&me, &format!("#resubmit-{id}"), "href").as_deref(),
        Some(format!("/me/registrations/{id}/resubmit").as_str())
    );
    let path = format!("/me/registrations/{id}/resubmit");
    let (_, form) = page(&app, &browser, &path).await;
    assert_eq!(
        text(&form, "#province-reason"),
        "法定代表人身份信息与登记机关不一致"
    );
    // The ID number is never shown in full, so it is typed again.
    assert_eq!(
        attr(&form, "input[name=legal_rep_id_number]", "value").as_deref(),
        Some("")
    );

    // A name that does not match the roster is refused inline; nothing changes.
    let good_id = id_number(305);
    let (status, doc) = submit(
        &app,
        &browser,
        &path,
        &[
            ("legal_rep_name", "王某某"),
            ("legal_rep_id_number", &good_id),
            ("mobile", "13800138000"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(!text(&doc, "#legal_rep_name-error").is_empty());
    let (status, doc) = submit(
        &app,
        &browser,
        &path,
        &[
            ("legal_rep_name", &reg.legal_rep_name),
            ("legal_rep_id_number", "220322198005170000"),
            ("mobile", "13800138000"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(!text(&doc, "#legal_rep_id_number-error").is_empty());
    assert_eq!(sync_state(&app, id).await.0, "rejected");

    let (status, _) = submit(
        &app,
        &browser,
        &path,
        &[
            ("legal_rep_name", &reg.legal_rep_name),
            ("legal_rep_id_number", &good_id),
            ("mobile", "13800138001"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(sync_state(&app, id).await, ("pending".to_owned(), None));
    let row = &store::outbox::all(&app.db).await.unwrap()[0];
    assert_eq!((row.state.as_str(), row.attempts), ("pending", 0));
    // Resubmitted: the form is gone until the province answers again.
    let resp = browser.get(app.url(&path)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);

    // The corrected record goes out again and is accepted.
    let accepting = sim(Vec::new()).await;
    let second = worker(&app, &accepting).with_notifier(notifier);
    assert_eq!(second.run_once().await.unwrap(), 1);
    assert_eq!(sync_state(&app, id).await.0, "accepted");
    refusing.stop().await;
    accepting.stop().await;
    app.stop().await;
}

async fn l3_result(app: &TestApp, id: i64) -> (Option<String>, Option<String>) {
    xinyidai::on_pool!(&app.db, |pool| sqlx::query_as(
        "SELECT l3_result, l3_reason FROM registrations WHERE id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap())
}

#[tokio::test]
async fn the_provinces_l3_answer_is_recorded_and_a_failure_stops_the_registration() {
    // Passing: recorded, then registered.
    let app = TestApp::spawn().await;
    let (id, _) = queued_with_email(&app).await;
    let province = sim(Vec::new()).await;
    let w = worker(&app, &province).with_l3(true);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(l3_result(&app, id).await, (Some("pass".to_owned()), None));
    assert_eq!(sync_state(&app, id).await.0, "accepted");
    province.stop().await;
    app.stop().await;

    // Failing: recorded with the province's reason; nothing is registered.
    let app = TestApp::spawn().await;
    let (id, _) = queued_with_email(&app).await;
    let uscc = store::registrations::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap()
        .uscc;
    let province = sim(vec![(
        uscc,
        "l3_failed".into(),
        "身份证号码与姓名不匹配".into(),
    )])
    .await;
    let w = worker(&app, &province).with_l3(true);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(
        l3_result(&app, id).await,
        (
            Some("fail".to_owned()),
            Some("身份证号码与姓名不匹配".to_owned())
        )
    );
    let (state, reason) = sync_state(&app, id).await;
    assert_eq!(state, "rejected");
    assert!(reason.unwrap().contains("身份证号码与姓名不匹配"));
    assert_eq!(province.handle.stats().await.unwrap().accepted, 0);
    province.stop().await;
    app.stop().await;
}

/// A bearer token for the owner.
async fn api_token(app: &TestApp, email: &str) -> String {
    let resp: serde_json::Value = app
        .client
        .post(app.url("/api/v1/sessions"))
        .json(&serde_json::json!({"email": email, "password": "Lishu-2026-ok"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["token"].as_str().unwrap().to_owned()
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut req = app.client.request(method, app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn the_api_changes_contact_data_and_resubmits_a_refused_registration() {
    use reqwest::Method;
    use serde_json::json;
    let app = TestApp::spawn().await;
    let (id, email) = queued_with_email(&app).await;
    let token = api_token(&app, &email).await;
    let contact = format!("/api/v1/registrations/{id}/contact");
    let resubmit = format!("/api/v1/registrations/{id}/resubmissions");

    let (status, _) = api(
        &app,
        Method::PUT,
        &contact,
        None,
        json!({"mobile": "13900139000"}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = api(
        &app,
        Method::PUT,
        &contact,
        Some(&token),
        json!({"mobile": "1"}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["errors"]["mobile"].is_array(), "{body}");
    let (status, _) = api(
        &app,
        Method::PUT,
        &contact,
        Some(&token),
        json!({"mobile": "13900139000"}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, other) = api(
        &app,
        Method::PUT,
        &format!("/api/v1/registrations/{}/contact", id + 1000),
        Some(&token),
        json!({"mobile": "13900139000"}),
    )
    .await;
    assert_eq!((status, other["error"].as_str()), (404, Some("not_found")));

    let reg = store::registrations::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap();
    let fix = json!({
        "legal_rep_name": reg.legal_rep_name, "legal_rep_id_number": id_number(306),
        "mobile": "13900139000"
    });
    // Not refused by the province: nothing to resubmit.
    let (status, body) = api(&app, Method::POST, &resubmit, Some(&token), fix.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("not_rejected"))
    );

    let province = sim(vec![(
        reg.uscc.clone(),
        "invalid_field".into(),
        "联系电话无法接通".into(),
    )])
    .await;
    worker(&app, &province).run_once().await.unwrap();
    let (_, state) = api(
        &app,
        Method::GET,
        &format!("/api/v1/registrations/{id}"),
        Some(&token),
        json!({}),
    )
    .await;
    assert_eq!(state["sync_state"], "rejected");
    assert_eq!(state["sync_reason"], "联系电话无法接通");
    let (status, body) = api(
        &app,
        Method::POST,
        &resubmit,
        Some(&token),
        json!({"legal_rep_name": "", "legal_rep_id_number": "x", "mobile": ""}),
    )
    .await;
    assert_eq!(status, 422);
    for field in ["legal_rep_name", "legal_rep_id_number", "mobile"] {
        assert!(body["errors"][field].is_array(), "{field}: {body}");
    }
    let (status, _) = api(&app, Method::POST, &resubmit, Some(&token), fix).await;
    assert_eq!(status, 202);
    assert_eq!(sync_state(&app, id).await, ("pending".to_owned(), None));
    province.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn login_returns_to_the_page_that_asked_for_it() {
    let app = TestApp::spawn().await;
    let (id, email) = queued_with_email(&app).await;
    let path = format!("/me/registrations/{id}/contact");
    // Not logged in: the page sends the browser to log in; the login form keeps where to return.
    let browser = app.new_client();
    let (_, form) = page(&app, &browser, &format!("/login?next={path}")).await;
    assert_eq!(
        attr(&form, "input[name=next]", "value").as_deref(),
        Some(path.as_str())
    );
    let csrf = attr(&form, "input[name=csrf]", "value").unwrap();
    let login = |next: String| {
        browser
            .post(app.url("/login"))
            .form(&[
                ("csrf", csrf.clone()),
                ("email", email.clone()),
                ("password", "Lishu-2026-ok".to_owned()),
                ("next", next),
            ])
            .send()
    };
    let resp = login(path.clone()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], path.as_str());
    // Somewhere off the site is ignored: the account's home instead.
    let resp = login("//evil.example/".to_owned()).await.unwrap();
    assert_eq!(resp.headers()["location"], "/me");
    app.stop().await;
}
