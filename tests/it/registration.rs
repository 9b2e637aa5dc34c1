//! The owner's path through the HTML pages: parsed HTML, a cookie-keeping client, CSRF tokens,
//! real email through the SMTP server.

use scraper::Html;
use xinyidai::demo;
use xinyidai::domain::division::DivisionTree;
use xinyidai::domain::resident_id::ResidentId;
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::{on_pool, store};

use crate::helpers::{TestApp, attr, text, texts};
use crate::mailbox::{Mailbox, unique_address};

pub fn today() -> time::Date {
    time::macros::date!(2026 - 11 - 29)
}

/// A roster of 200 synthetic entities; returns one active 梨树县 entity.
pub async fn seeded(app: &TestApp) -> RosterEntry {
    let entries = demo::synthesise(&DivisionTree::seed(), 200, 31, today());
    store::entities::upsert_batch(&app.db, &entries)
        .await
        .unwrap();
    entries
        .into_iter()
        .find(|e| e.county_code == "220322" && e.status.as_str() == "active")
        .unwrap()
}

/// An adult's valid ID number, distinct per `seq`.
pub fn id_number(seq: u16) -> String {
    ResidentId::assemble("220322", time::macros::date!(1980 - 05 - 17), seq)
        .unwrap()
        .as_str()
        .to_owned()
}

type Fields = Vec<(&'static str, String)>;

/// The registration form for `uscc`, and the hidden fields to send back.
async fn open_form(app: &TestApp, uscc: &str) -> (Html, Vec<(&'static str, String)>) {
    let doc = app
        .page(&format!("/register/form?uscc={uscc}&ref=LEAFLET-7"), 200)
        .await;
    let hidden = vec![
        ("csrf", attr(&doc, "input[name=csrf]", "value").unwrap()),
        (
            "agreement_version",
            attr(&doc, "input[name=agreement_version]", "value").unwrap(),
        ),
        (
            "agreement_digest",
            attr(&doc, "input[name=agreement_digest]", "value").unwrap(),
        ),
        ("ref", attr(&doc, "input[name=ref]", "value").unwrap()),
    ];
    (doc, hidden)
}

fn fields(entity: &RosterEntry, email: &str, id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("uscc", entity.uscc.as_str().to_owned()),
        ("entity_name", entity.name.clone()),
        ("legal_rep_name", entity.legal_rep.clone()),
        ("legal_rep_id_number", id.to_owned()),
        ("mobile", "+86 138-0013-8000".to_owned()),
        ("email", email.to_owned()),
        ("password", "Lishu-2026-ok".to_owned()),
        ("agree_agreement", "1".to_owned()),
        ("agree_personal_info", "1".to_owned()),
    ]
}

fn with(
    mut base: Vec<(&'static str, String)>,
    extra: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    for (k, v) in extra {
        base.retain(|(key, _)| *key != k);
        base.push((k, v));
    }
    base
}

fn without(mut base: Vec<(&'static str, String)>, field: &str) -> Vec<(&'static str, String)> {
    base.retain(|(k, _)| *k != field);
    base
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    on_pool!(&app.db, |pool| sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

fn step_state(doc: &Html, step: &str) -> String {
    attr(doc, &format!("li.step[data-step={step}]"), "data-state").unwrap()
}

#[tokio::test]
async fn an_owner_registers_signs_confirms_and_sees_every_step() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;

    // From the leaflet: find the entity, then choose it; the referral code rides along.
    let doc = app
        .page(&format!("/register?ref=LEAFLET-7&q={}", entity.uscc), 200)
        .await;
    let link = attr(&doc, "#candidates a.choose", "href").unwrap();
    assert!(
        link.contains(entity.uscc.as_str()) && link.contains("ref=LEAFLET-7"),
        "{link}"
    );

    let (doc, hidden) = open_form(&app, entity.uscc.as_str()).await;
    assert_eq!(attr(&doc, "#entity_name", "value").unwrap(), entity.name);
    // Both consent boxes are separate and unticked; the agreement text is on the page.
    assert!(attr(&doc, "#agree_agreement", "checked").is_none());
    assert!(attr(&doc, "#agree_personal_info", "checked").is_none());
    assert!(text(&doc, "#agreement-text").contains("用户服务协议"));

    let email = unique_address();
    let id = id_number(101);
    let mut form = hidden.clone();
    form.extend(fields(&entity, &email, &id));
    let resp = app.post_form("/register/form", &form).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/me");
    let set_cookie: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("xyd_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );

    let me = app.page("/me", 200).await;
    assert_eq!(step_state(&me, "submitted"), "done");
    assert_eq!(step_state(&me, "email_confirmed"), "action_needed");
    assert_eq!(step_state(&me, "verified"), "done");
    assert_eq!(step_state(&me, "agreement_signed"), "done");
    assert_eq!(step_state(&me, "provincial_sync"), "pending");
    let masked = text(&me, ".id-masked");
    assert_eq!(masked, format!("{}**********{}", &id[..4], &id[14..]));
    assert!(!me.html().contains(&id), "full ID number on /me");

    // The confirmation email went through the real SMTP server.
    let mail = Mailbox::from_env().wait_for(&email).await;
    assert!(mail.subject.contains("确认"), "{}", mail.subject);
    let link = mail
        .links
        .iter()
        .find(|l| l.contains("/confirm-email?token="))
        .unwrap()
        .clone();
    let path = link
        .split_once("127.0.0.1:8080")
        .map_or(link.as_str(), |(_, p)| p)
        .to_owned();
    let confirmed = app.page(&path, 200).await;
    assert_eq!(text(&confirmed, "h1"), "邮箱已确认");
    // Clicking again is harmless: still confirmed. A made-up token is not.
    assert_eq!(text(&app.page(&path, 200).await, "h1"), "邮箱已确认");
    app.page("/confirm-email?token=00112233445566778899aabbccddeeff", 404)
        .await;
    let me = app.page("/me", 200).await;
    assert_eq!(step_state(&me, "email_confirmed"), "done");

    // The evidence: one signature, the referral code, the audit chain intact.
    assert_eq!(count(&app, "signatures").await, 1);
    let referral: Option<String> = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT referral_code FROM registrations"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(referral.as_deref(), Some("LEAFLET-7"));
    // Verified and signed in one step: queued for the province in the same transaction.
    assert_eq!(store::outbox::pending_count(&app.db).await.unwrap(), 1);
    let report = store::audit::verify(&app.db).await.unwrap();
    assert!(report.rows >= 3 && report.broken_at.is_none(), "{report:?}");
    app.stop().await;
}

#[tokio::test]
async fn every_bad_field_is_explained_inline_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (_, hidden) = open_form(&app, entity.uscc.as_str()).await;
    let good = fields(&entity, &unique_address(), &id_number(102));
    let mut bad_check = entity.uscc.as_str().to_owned();
    let last = bad_check.pop().unwrap();
    bad_check.push(if last == '0' { '1' } else { '0' });
    let minor = ResidentId::assemble("220322", time::macros::date!(2012 - 01 - 01), 5).unwrap();
    let cases: Vec<(Fields, &str, &str)> = vec![
        (
            with(good.clone(), vec![("uscc", bad_check)]),
            "#uscc-error",
            "校验",
        ),
        (
            with(good.clone(), vec![("uscc", String::new())]),
            "#uscc-error",
            "统一社会信用代码",
        ),
        (
            with(
                good.clone(),
                vec![("legal_rep_id_number", "220322198005171234".into())],
            ),
            "#legal_rep_id_number-error",
            "校验",
        ),
        (
            with(
                good.clone(),
                vec![("legal_rep_id_number", minor.as_str().to_owned())],
            ),
            "#legal_rep_id_number-error",
            "18周岁",
        ),
        (
            with(good.clone(), vec![("mobile", "12345".into())]),
            "#mobile-error",
            "手机",
        ),
        (
            with(good.clone(), vec![("email", "not-an-email".into())]),
            "#email-error",
            "邮箱",
        ),
        (
            with(good.clone(), vec![("password", "12345678".into())]),
            "#password-error",
            "密码",
        ),
        (
            with(good.clone(), vec![("legal_rep_name", " ".into())]),
            "#legal_rep_name-error",
            "姓名",
        ),
        (
            without(good.clone(), "agree_agreement"),
            "#agree_agreement-error",
            "用户服务协议",
        ),
        (
            without(good.clone(), "agree_personal_info"),
            "#agree_personal_info-error",
            "敏感个人信息",
        ),
    ];
    for (case, selector, word) in cases {
        let mut form = hidden.clone();
        form.extend(case);
        let resp = app.post_form("/register/form", &form).await;
        assert_eq!(resp.status(), 422, "{selector}");
        let doc = Html::parse_document(&resp.text().await.unwrap());
        let message = text(&doc, selector);
        assert!(message.contains(word), "{selector}: {message}");
        assert!(texts(&doc, "#error-summary").len() == 1);
        // What was typed comes back (except the password).
        assert!(attr(&doc, "#mobile", "value").is_some());
        assert!(attr(&doc, "#password", "value").is_none_or(|v| v.is_empty()));
    }
    for table in ["accounts", "registrations", "signatures", "email_tokens"] {
        assert_eq!(count(&app, table).await, 0, "{table} half-written");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_roster_mismatch_offers_manual_review_and_records_the_request() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (_, hidden) = open_form(&app, entity.uscc.as_str()).await;
    let email = unique_address();
    let mut form = hidden.clone();
    form.extend(with(
        fields(&entity, &email, &id_number(103)),
        vec![("legal_rep_name", "某某某".into())],
    ));
    let resp = app.post_form("/register/form", &form).await;
    assert_eq!(resp.status(), 422);
    let doc = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        attr(&doc, "#review li.mismatch", "data-code").as_deref(),
        Some("legal_rep_mismatch")
    );
    assert!(text(&doc, "#legal_rep_name-error").contains("不一致"));
    assert_eq!(count(&app, "registrations").await, 0);

    form.push(("request_review", "1".into()));
    form.push(("review_note", "营业执照已变更经营者".into()));
    let resp = app.post_form("/register/form", &form).await;
    assert_eq!(resp.status(), 303);
    let me = app.page("/me", 200).await;
    assert_eq!(step_state(&me, "verified"), "in_review");
    let (verification, note): (String, Option<String>) = on_pool!(&app.db, |pool| sqlx::query_as(
        "SELECT verification, review_note FROM registrations"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(verification, "review_requested");
    assert_eq!(note.as_deref(), Some("营业执照已变更经营者"));
    app.stop().await;
}

#[tokio::test]
async fn an_entity_missing_from_the_roster_can_still_ask_for_review() {
    let app = TestApp::spawn().await;
    seeded(&app).await;
    let doc = app.page("/register?q=没有这个名字的主体", 200).await;
    assert!(
        attr(&doc, "#manual a", "href")
            .unwrap()
            .starts_with("/register/form")
    );
    let outsider = xinyidai::domain::uscc::Uscc::assemble("91", "220322", "MA0XYP12").unwrap();
    let (_, hidden) = open_form(&app, outsider.as_str()).await;
    let entity = RosterEntry {
        uscc: outsider.clone(),
        name: "梨树县新开张商贸有限公司".into(),
        legal_rep: "王新".into(),
        ..seeded_entry()
    };
    let mut form = hidden.clone();
    form.extend(fields(&entity, &unique_address(), &id_number(104)));
    let resp = app.post_form("/register/form", &form).await;
    assert_eq!(resp.status(), 422);
    let doc = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        attr(&doc, "#review li.mismatch", "data-code").as_deref(),
        Some("not_in_roster")
    );
    form.push(("request_review", "1".into()));
    assert_eq!(app.post_form("/register/form", &form).await.status(), 303);
    app.stop().await;
}

fn seeded_entry() -> RosterEntry {
    demo::synthesise(&DivisionTree::seed(), 1, 1, today()).remove(0)
}

#[tokio::test]
async fn the_same_entity_cannot_register_twice_and_the_owner_is_told_by_email() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let first = unique_address();
    let (_, hidden) = open_form(&app, entity.uscc.as_str()).await;
    let mut form = hidden.clone();
    form.extend(fields(&entity, &first, &id_number(105)));
    assert_eq!(app.post_form("/register/form", &form).await.status(), 303);
    Mailbox::from_env().wait_for(&first).await;

    // Someone else, in another browser, tries the same USCC.
    let other = app.new_client();
    let doc = Html::parse_document(
        &other
            .get(app.url(&format!("/register/form?uscc={}", entity.uscc)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let mut form2: Vec<(&str, String)> = vec![
        ("csrf", attr(&doc, "input[name=csrf]", "value").unwrap()),
        (
            "agreement_version",
            attr(&doc, "input[name=agreement_version]", "value").unwrap(),
        ),
        (
            "agreement_digest",
            attr(&doc, "input[name=agreement_digest]", "value").unwrap(),
        ),
    ];
    form2.extend(fields(&entity, &unique_address(), &id_number(106)));
    let resp = other
        .post(app.url("/register/form"))
        .form(&form2)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let doc = Html::parse_document(&resp.text().await.unwrap());
    let notice = text(&doc, "#already-registered");
    assert!(
        notice.contains("已经登记过") && notice.contains("忘记密码") || notice.contains("重设"),
        "{notice}"
    );
    assert_eq!(count(&app, "registrations").await, 1);
    let mail = Mailbox::from_env().wait_for_nth(&first, 2).await;
    assert!(
        mail.links.iter().any(|l| l.ends_with("/forgot-password")),
        "{:?}",
        mail.links
    );
    app.stop().await;
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (_, hidden) = open_form(&app, entity.uscc.as_str()).await;
    let mut form = without(hidden, "csrf");
    form.push(("csrf", "0123456789abcdef0123456789abcdef".into()));
    form.extend(fields(&entity, &unique_address(), &id_number(107)));
    let resp = app.post_form("/register/form", &form).await;
    assert_eq!(resp.status(), 403);
    let doc = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(text(&doc, "h1"), "页面已过期");
    assert_eq!(count(&app, "registrations").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn login_is_throttled_per_account_and_logout_ends_the_session() {
    let app = TestApp::spawn().await;
    let email = registered_owner(&app, 108).await;
    for _ in 0..5 {
        assert_eq!(log_in(&app, &email, "wrong-password-1").await.1, 401);
    }
    let (_, _, resp) = login_response(&app, &email, "Lishu-2026-ok").await;
    assert_eq!(resp.status(), 429);
    let doc = Html::parse_document(&resp.text().await.unwrap());
    assert!(text(&doc, "#login-error").contains("15分钟"));

    // The registering browser is logged in until it logs out.
    let before = app.get("/me").await.status();
    assert_eq!(before, 200);
    let doc = app.page("/me", 200).await;
    let csrf = attr(&doc, "form[action='/logout'] input[name=csrf]", "value").unwrap();
    let resp = app.post_form("/logout", &[("csrf", csrf)]).await;
    assert_eq!(resp.status(), 303);
    let resp = app.get("/me").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/login");
    app.stop().await;
}

#[tokio::test]
async fn a_new_agreement_version_must_be_signed_at_the_next_login() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let email = unique_address();
    let (_, hidden) = open_form(&app, entity.uscc.as_str()).await;
    let mut form = hidden.clone();
    form.extend(fields(&entity, &email, &id_number(109)));
    assert_eq!(app.post_form("/register/form", &form).await.status(), 303);

    let v2 = store::agreements::publish(&app.db, "2027.1", "新版协议正文：增加了数据共享条款。")
        .await
        .unwrap();
    let (browser, csrf, resp) = login_response(&app, &email, "Lishu-2026-ok").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/me/agreement");
    let doc = Html::parse_document(
        &browser
            .get(app.url("/me/agreement"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(text(&doc, "#to-sign h2").contains("2027.1"));
    let me = Html::parse_document(
        &browser
            .get(app.url("/me"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(step_state(&me, "agreement_signed"), "action_needed");

    let resp = browser
        .post(app.url("/me/agreement"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", "2027.1"),
            ("digest", v2.digest.as_str()),
            ("agree", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let doc = Html::parse_document(
        &browser
            .get(app.url("/me/agreement"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(texts(&doc, "#to-sign").is_empty());
    // The digest shown can be recomputed from the text shown.
    let shown_text = doc
        .select(&scraper::Selector::parse("#signed-text").unwrap())
        .next()
        .unwrap()
        .text()
        .collect::<String>();
    assert_eq!(
        xinyidai::domain::agreement::sha256_hex(&shown_text),
        text(&doc, "#digest")
    );
    assert_eq!(count(&app, "signatures").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn signatures_and_agreement_versions_cannot_be_changed_in_the_database() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let (_, hidden) = open_form(&app, entity.uscc.as_str()).await;
    let mut form = hidden.clone();
    form.extend(fields(&entity, &unique_address(), &id_number(110)));
    assert_eq!(app.post_form("/register/form", &form).await.status(), 303);
    for sql in [
        "UPDATE signatures SET signer_name = 'x'",
        "DELETE FROM signatures",
        "UPDATE agreement_versions SET body = 'x'",
        "DELETE FROM agreement_versions",
    ] {
        let result = on_pool!(&app.db, |pool| sqlx::query(sql)
            .execute(pool)
            .await
            .map(|_| ()));
        assert!(result.is_err(), "{sql} was allowed");
    }
    assert_eq!(count(&app, "signatures").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_an_email_link_once() {
    let app = TestApp::spawn().await;
    let entity = seeded(&app).await;
    let email = unique_address();
    let (_, hidden) = open_form(&app, entity.uscc.as_str()).await;
    let mut form = hidden.clone();
    form.extend(fields(&entity, &email, &id_number(111)));
    assert_eq!(app.post_form("/register/form", &form).await.status(), 303);
    let csrf = hidden[0].1.clone();

    // The same answer for a known and an unknown address.
    for address in [unique_address(), email.clone()] {
        let resp = app
            .post_form(
                "/forgot-password",
                &[("csrf", csrf.clone()), ("email", address)],
            )
            .await;
        assert_eq!(resp.status(), 200);
        let doc = Html::parse_document(&resp.text().await.unwrap());
        assert!(text(&doc, "#sent").contains("如果这个邮箱注册过账户"));
    }
    let mail = Mailbox::from_env().wait_for_nth(&email, 2).await;
    assert!(mail.subject.contains("密码"), "{}", mail.subject);
    let link = mail
        .links
        .iter()
        .find(|l| l.contains("/reset-password?token="))
        .unwrap();
    let path = link
        .split_once("127.0.0.1:8080")
        .map_or(link.as_str(), |(_, p)| p)
        .to_owned();
    let doc = app.page(&path, 200).await;
    let token = attr(&doc, "input[name=token]", "value").unwrap();

    let weak = app
        .post_form(
            "/reset-password",
            &[
                ("csrf", csrf.clone()),
                ("token", token.clone()),
                ("password", "password".into()),
            ],
        )
        .await;
    assert_eq!(weak.status(), 422);
    let ok = app
        .post_form(
            "/reset-password",
            &[
                ("csrf", csrf.clone()),
                ("token", token.clone()),
                ("password", "Lishu-New-2027".into()),
            ],
        )
        .await;
    assert_eq!(ok.status(), 200);
    // Every session ended; the link is spent.
    assert_eq!(app.get("/me").await.status(), 303);
    app.page(&path, 404).await;

    let (_, _, resp) = login_response(&app, &email, "Lishu-New-2027").await;
    assert_eq!(resp.status(), 303);
    app.stop().await;
}

/// Registers an owner in the app's own browser and returns the email.
async fn registered_owner(app: &TestApp, seq: u16) -> String {
    let entity = seeded(app).await;
    let email = unique_address();
    let (_, hidden) = open_form(app, entity.uscc.as_str()).await;
    let mut form = hidden.clone();
    form.extend(fields(&entity, &email, &id_number(seq)));
    assert_eq!(app.post_form("/register/form", &form).await.status(), 303);
    email
}

/// Logs in from a fresh browser: the browser, its CSRF token and the answer.
pub async fn login_response(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (reqwest::Client, String, reqwest::Response) {
    let browser = app.new_client();
    let page = Html::parse_document(
        &browser
            .get(app.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let csrf = attr(&page, "input[name=csrf]", "value").unwrap();
    let resp = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    (browser, csrf, resp)
}

/// Logs in from a fresh browser; returns the browser and the response status.
async fn log_in(app: &TestApp, email: &str, password: &str) -> (reqwest::Client, u16) {
    let (browser, _, resp) = login_response(app, email, password).await;
    (browser, resp.status().as_u16())
}

#[tokio::test]
async fn sessions_end_after_30_minutes_idle_or_12_hours_and_rotate_at_login() {
    let app = TestApp::spawn().await;
    let email = registered_owner(&app, 112).await;
    let (browser, status) = log_in(&app, &email, "Lishu-2026-ok").await;
    assert_eq!(status, 303);
    let me = |b: &reqwest::Client| {
        let req = b.get(app.url("/me"));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(&browser).await, 200);
    // Two logins, two different session ids: the registration's session and this one.
    let sessions: i64 = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT COUNT(DISTINCT id_hash) FROM sessions"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(sessions, 2);

    let now = time::OffsetDateTime::now_utc();
    on_pool!(&app.db, |pool| {
        sqlx::query("UPDATE sessions SET last_seen_at = $1")
            .bind(now - time::Duration::minutes(31))
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(me(&browser).await, 303, "idle session still valid");
    assert_eq!(me(&app.client).await, 303);

    let (browser, _) = log_in(&app, &email, "Lishu-2026-ok").await;
    on_pool!(&app.db, |pool| {
        sqlx::query("UPDATE sessions SET created_at = $1, last_seen_at = $2")
            .bind(now - time::Duration::hours(12) - time::Duration::minutes(1))
            .bind(now)
            .execute(pool)
            .await
            .unwrap();
    });
    assert_eq!(
        me(&browser).await,
        303,
        "session older than 12 h still valid"
    );
    app.stop().await;
}

#[tokio::test]
async fn login_is_throttled_per_client_address_too() {
    let app = TestApp::spawn().await;
    let email = registered_owner(&app, 113).await;
    // Twenty wrong guesses at twenty different accounts from one address…
    for _ in 0..20 {
        let (_, status) = log_in(&app, &unique_address(), "Guess-12345").await;
        assert_eq!(status, 401);
    }
    // …and even the right password for a real account waits.
    let (_, status) = log_in(&app, &email, "Lishu-2026-ok").await;
    assert_eq!(status, 429);
    // Nothing in the throttle table names the account or the address.
    let keys: Vec<String> = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT key_hash FROM login_failures"
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert!(
        keys.iter()
            .all(|k| k.len() == 64 && !k.contains('@') && !k.contains("127.0.0.1"))
    );
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled_not_the_proxy() {
    let app = TestApp::spawn_with(|s| s.trust_forwarded_for = true).await;
    let email = registered_owner(&app, 114).await;
    let attempt = |address: &'static str, email: String, password: &'static str| {
        let browser = app.new_client();
        let url = app.url("/login");
        let form_url = app.url("/login");
        async move {
            let page = Html::parse_document(
                &browser
                    .get(form_url)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
            );
            let csrf = attr(&page, "input[name=csrf]", "value").unwrap();
            browser
                .post(url)
                .header("x-forwarded-for", format!("203.0.113.9, {address}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", email.as_str()),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..20 {
        assert_eq!(
            attempt("10.0.0.1", unique_address(), "Guess-12345").await,
            401
        );
    }
    assert_eq!(
        attempt("10.0.0.1", email.clone(), "Lishu-2026-ok").await,
        429
    );
    // Another client behind the same proxy is not locked out.
    assert_eq!(attempt("10.0.0.2", email, "Lishu-2026-ok").await, 303);
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_a_form_or_too_big_gets_a_chinese_page_and_writes_nothing() {
    let app = TestApp::spawn().await;
    seeded(&app).await;
    let resp = app
        .client
        .post(app.url("/register/form"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let doc = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(text(&doc, "h1"), "无法识别提交的内容");

    let note = "很".repeat(30_000); // 90 KB of UTF-8
    let resp = app
        .client
        .post(app.url("/register/form"))
        .form(&[("review_note", note.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let doc = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(text(&doc, "h1"), "提交的内容过大");
    assert_eq!(count(&app, "registrations").await, 0);
    app.stop().await;
}
