//! The admin's side of provincial sync: `xinyidai user add`, the admin-only `/admin/sync` page
//! with its retry and discard decisions, and `/metrics`.

use std::io::Write as _;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use scraper::Html;
use xinyidai::config::{DatabaseUrl, Secret};
use xinyidai::security::password::PasswordHasher;
use xinyidai::store::accounts::Role;
use xinyidai::store::outbox::{self, SendOutcome};
use xinyidai::{on_pool, store};

use crate::helpers::{TestApp, attr, fresh_database, text, texts};
use crate::mailbox::unique_address;

const PASSWORD: &str = "Admin-2026-ok";

/// `xinyidai user add` against `database_url`, with nothing from the developer's environment.
async fn user_add(
    database_url: &str,
    email: &str,
    role: &str,
    env_password: Option<&str>,
    stdin: &str,
) -> Output {
    let mut cmd = crate::cli::xinyidai(database_url);
    cmd.args(["user", "add", "--email", email, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = env_password {
        cmd.env("XYD_NEW_PASSWORD", p);
    }
    let stdin = stdin.to_owned();
    // Off the runtime's thread: the server under test shares it.
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        // The command may exit before reading (bad role): a closed pipe is fine.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// An account of `role` made directly in the store (the CLI has its own test).
async fn account(app: &TestApp, role: Role) -> String {
    let email = unique_address();
    let hash = PasswordHasher::new(1).hash(PASSWORD).await.unwrap();
    store::accounts::create_account(
        &app.db,
        &store::accounts::NewAccount {
            email: &email,
            password_hash: &hash,
            role,
            department_id: None,
            display_name: None,
            temporary_password: false,
            actor: "cli",
        },
    )
    .await
    .unwrap();
    email
}

/// Logs in through the form from a fresh browser: the browser and the answer.
async fn log_in(app: &TestApp, email: &str) -> (reqwest::Client, reqwest::Response) {
    let (browser, _, resp) = crate::registration::login_response(app, email, PASSWORD).await;
    (browser, resp)
}

/// A logged-in admin's browser.
async fn admin(app: &TestApp) -> reqwest::Client {
    let email = account(app, Role::Admin).await;
    let (browser, resp) = log_in(app, &email).await;
    assert_eq!(resp.headers()["location"], "/admin");
    browser
}

async fn html(resp: reqwest::Response) -> Html {
    Html::parse_document(&resp.text().await.unwrap())
}

async fn sync_page(app: &TestApp, browser: &reqwest::Client) -> Html {
    let resp = browser.get(app.url("/admin/sync")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    html(resp).await
}

/// A queued registration whose event the worker gave up on: (outbox id, registration id).
async fn dead_row(app: &TestApp) -> (i64, i64) {
    let registration = crate::outbox::queued(app).await;
    let now = time::OffsetDateTime::now_utc();
    let claimed = outbox::claim(&app.db, now, time::Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    outbox::finish(
        &app.db,
        &claimed[0],
        &SendOutcome::Dead {
            error: "province answered 503: gave up after 12 attempts".into(),
        },
    )
    .await
    .unwrap();
    (claimed[0].id, registration)
}

/// Posts one of the page's dead-letter forms with `fields` on top of its hidden ones.
async fn post_row_form(
    app: &TestApp,
    browser: &reqwest::Client,
    action: &str,
    id: i64,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = sync_page(app, browser).await;
    let csrf = attr(
        &page,
        &format!("#dead-{id} form[action='{action}'] input[name=csrf]"),
        "value",
    )
    .unwrap();
    let mut form = vec![("csrf", csrf), ("id", id.to_string())];
    form.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
    browser
        .post(app.url(action))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct RowState {
    state: String,
    attempts: i64,
    leased: bool,
}

async fn row_state(app: &TestApp, id: i64) -> RowState {
    on_pool!(&app.db, |pool| sqlx::query_as::<_, RowState>(
        "SELECT state, attempts, lease_until IS NOT NULL AS leased FROM outbox WHERE id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// (actor, subject, detail) of every audit row with `action`.
async fn audit_rows(app: &TestApp, action: &str) -> Vec<(String, String, serde_json::Value)> {
    let rows: Vec<(String, String, String)> = on_pool!(&app.db, |pool| sqlx::query_as(
        "SELECT actor, subject, detail FROM audit_log WHERE action = $1 ORDER BY id"
    )
    .bind(action)
    .fetch_all(pool)
    .await
    .unwrap());
    rows.into_iter()
        .map(|(a, s, d)| (a, s, serde_json::from_str(&d).unwrap()))
        .collect()
}

#[tokio::test]
async fn user_add_refuses_weak_passwords_duplicates_and_roles_it_cannot_make_yet() {
    let fresh = fresh_database().await;
    let email = unique_address();

    let out = user_add(&fresh.url, &email, "admin", Some("12345678"), "").await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("密码不符合要求"), "{}", stderr(&out));
    let out = user_add(&fresh.url, &email, "admin", Some("short1!"), "").await;
    assert!(stderr(&out).contains("至少需要8位"), "{}", stderr(&out));

    let out = user_add(&fresh.url, &email, "staff", Some(PASSWORD), "").await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("责任部门"), "{}", stderr(&out));
    let out = user_add(&fresh.url, &email, "root", Some(PASSWORD), "").await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("admin"), "{}", stderr(&out));
    let out = user_add(&fresh.url, "不是邮箱", "admin", Some(PASSWORD), "").await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--email"), "{}", stderr(&out));

    // Without the variable the password is one line of stdin, after a prompt on stderr.
    let out = user_add(&fresh.url, &email, "leader", None, "Leader-2026-ok\n").await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("请输入"), "{}", stderr(&out));

    let out = user_add(&fresh.url, &email, "admin", Some(PASSWORD), "").await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("已经有账户"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));

    let db = store::Db::open(&DatabaseUrl::new(fresh.url.clone()), 1)
        .await
        .unwrap();
    let created = store::accounts::by_email(&db, &email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.role, "leader");
    assert!(created.email_confirmed_at.is_some());
    let audited: Vec<(String, String)> = on_pool!(&db, |pool| sqlx::query_as(
        "SELECT actor, subject FROM audit_log WHERE action = 'account.created'"
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(
        audited,
        [("cli".to_owned(), format!("account:{}", created.id))]
    );
    db.close().await;
}

#[tokio::test]
async fn an_admin_made_by_the_command_logs_in_to_the_dead_letter_list() {
    let fresh = fresh_database().await;
    let url = fresh.url.clone();
    let app = TestApp::spawn_with(|s| s.database_url = DatabaseUrl::new(url)).await;
    let (id, registration) = dead_row(&app).await;
    let email = unique_address();
    let out = user_add(&fresh.url, &email, "admin", Some(PASSWORD), "").await;
    assert!(out.status.success(), "{}", stderr(&out));

    let (browser, resp) = log_in(&app, &email).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/admin");
    // Already logged in, the login page sends the admin on too.
    let again = browser.get(app.url("/login")).send().await.unwrap();
    assert_eq!(again.headers()["location"], "/admin");

    let page = sync_page(&app, &browser).await;
    let reg = store::registrations::by_id(&app.db, registration)
        .await
        .unwrap()
        .unwrap();
    let row = format!("#dead-{id}");
    assert_eq!(text(&page, &format!("{row} .uscc")), reg.uscc);
    assert_eq!(text(&page, &format!("{row} .entity-name")), reg.entity_name);
    assert_eq!(text(&page, &format!("{row} .attempts")), "1");
    assert_eq!(
        text(&page, &format!("{row} .registration")),
        registration.to_string()
    );
    assert!(text(&page, &format!("{row} .last-error")).contains("503"));
    assert!(text(&page, &format!("{row} .updated")).contains("北京时间"));
    assert_eq!(
        attr(&page, "#breaker .breaker", "data-state").as_deref(),
        Some("closed")
    );
    assert!(text(&page, "#oldest-pending").contains("没有待发送"));
    let counts = texts(&page, "#counts tbody tr");
    assert!(
        counts
            .iter()
            .any(|r| r.contains("入驻登记") && r.contains("死信") && r.ends_with('1')),
        "{counts:?}"
    );
    // Both forms carry the CSRF token; nothing personal beyond the code and the name.
    assert_eq!(
        texts(&page, &format!("{row} form input[name=csrf]")).len(),
        2
    );
    let body = page.html();
    for personal in [
        reg.legal_rep_name.as_str(),
        reg.legal_rep_id_masked.as_str(),
        reg.mobile.as_str(),
    ] {
        assert!(!body.contains(personal), "{personal} shown");
    }
    app.stop().await;
}

#[tokio::test]
async fn owners_and_leaders_get_404_and_anonymous_visitors_are_sent_to_log_in() {
    let app = TestApp::spawn().await;
    let anonymous = app.get("/admin/sync").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/login?next=/admin/sync");

    for role in [Role::Owner, Role::Leader] {
        let email = account(&app, role).await;
        let (browser, resp) = log_in(&app, &email).await;
        // Owners land on their status page, leaders on the league tables.
        let home = if role == Role::Owner {
            "/me"
        } else {
            "/leaders"
        };
        assert_eq!(resp.headers()["location"], home, "{role:?}");
        let resp = browser.get(app.url("/admin/sync")).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{role:?}");
        assert_eq!(text(&html(resp).await, "h1"), "页面不存在");
        let resp = browser
            .post(app.url("/admin/sync/retry"))
            .form(&[("csrf", "x"), ("id", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{role:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn retry_puts_the_row_back_in_the_queue_from_zero_and_audits_it() {
    let app = TestApp::spawn().await;
    let (id, registration) = dead_row(&app).await;
    let browser = admin(&app).await;
    let before = time::OffsetDateTime::now_utc();

    let resp = post_row_form(&app, &browser, "/admin/sync/retry", id, &[]).await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/admin/sync?done=retried&id={id}"));
    let page = html(browser.get(app.url(&location)).send().await.unwrap()).await;
    assert!(text(&page, "#notice").contains("重新排队"));
    assert!(texts(&page, &format!("#dead-{id}")).is_empty());

    assert_eq!(
        row_state(&app, id).await,
        RowState {
            state: "pending".into(),
            attempts: 0,
            leased: false
        }
    );
    let row = outbox::all(&app.db).await.unwrap().remove(0);
    assert!(row.next_attempt_at >= before - time::Duration::seconds(1));
    assert!(row.next_attempt_at <= time::OffsetDateTime::now_utc());
    // Due now: the worker picks it up at its next pass.
    let claimed = outbox::claim(
        &app.db,
        time::OffsetDateTime::now_utc(),
        time::Duration::seconds(60),
        10,
    )
    .await
    .unwrap();
    assert_eq!(claimed[0].id, id);

    let audited = audit_rows(&app, "sync.retried").await;
    assert_eq!(audited.len(), 1);
    assert!(audited[0].0.starts_with("account:"));
    assert_eq!(audited[0].1, format!("registration:{registration}"));
    assert_eq!(audited[0].2["outbox"], id);
    assert!(store::audit::verify(&app.db).await.unwrap().is_intact());
    app.stop().await;
}

#[tokio::test]
async fn discard_needs_a_reason_of_at_most_200_characters() {
    let app = TestApp::spawn().await;
    let (id, registration) = dead_row(&app).await;
    let browser = admin(&app).await;

    let resp = post_row_form(
        &app,
        &browser,
        "/admin/sync/discard",
        id,
        &[("reason", "  ")],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let page = html(resp).await;
    assert!(text(&page, &format!("#reason-{id}-error")).contains("请填写丢弃原因"));
    assert_eq!(row_state(&app, id).await.state, "dead");

    let long = "原".repeat(201);
    let resp = post_row_form(
        &app,
        &browser,
        "/admin/sync/discard",
        id,
        &[("reason", long.as_str())],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let page = html(resp).await;
    assert!(text(&page, &format!("#reason-{id}-error")).contains("200"));
    assert_eq!(
        attr(&page, &format!("#reason-{id}"), "value").as_deref(),
        Some(long.as_str()),
        "what was typed is kept"
    );
    assert_eq!(row_state(&app, id).await.state, "dead");
    assert!(audit_rows(&app, "sync.discarded").await.is_empty());

    let reason = "该主体已注销，经县发改局确认不再报送";
    let resp = post_row_form(
        &app,
        &browser,
        "/admin/sync/discard",
        id,
        &[("reason", reason)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let page = html(browser.get(app.url(&location)).send().await.unwrap()).await;
    assert!(text(&page, "#notice").contains("已丢弃"));
    assert_eq!(row_state(&app, id).await.state, "discarded");
    let audited = audit_rows(&app, "sync.discarded").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].1, format!("registration:{registration}"));
    assert_eq!(audited[0].2["reason"], reason);
    app.stop().await;
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let (id, _) = dead_row(&app).await;
    let browser = admin(&app).await;
    for (action, fields) in [
        ("/admin/sync/retry", vec![("id", id.to_string())]),
        (
            "/admin/sync/discard",
            vec![("id", id.to_string()), ("reason", "测试".to_owned())],
        ),
    ] {
        for csrf in [None, Some("0123456789abcdef0123456789abcdef")] {
            let mut form = fields.clone();
            if let Some(c) = csrf {
                form.push(("csrf", c.to_owned()));
            }
            let resp = browser
                .post(app.url(action))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403, "{action} {csrf:?}");
            assert_eq!(text(&html(resp).await, "h1"), "页面已过期");
        }
    }
    assert_eq!(row_state(&app, id).await.state, "dead");
    app.stop().await;
}

#[tokio::test]
async fn only_dead_rows_can_be_retried_or_discarded() {
    let app = TestApp::spawn().await;
    let (id, _) = dead_row(&app).await;
    let browser = admin(&app).await;
    let page = sync_page(&app, &browser).await;
    let csrf = attr(&page, "input[name=csrf]", "value").unwrap();
    assert_eq!(
        post_row_form(&app, &browser, "/admin/sync/retry", id, &[])
            .await
            .status(),
        303
    );

    // The same forms again, from a page that is now stale.
    for (action, reason) in [
        ("/admin/sync/retry", ""),
        ("/admin/sync/discard", "重复"),
        ("/admin/sync/retry", ""),
    ] {
        let resp = browser
            .post(app.url(action))
            .form(&[
                ("csrf", csrf.clone()),
                ("id", id.to_string()),
                ("reason", reason.to_owned()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 409, "{action}");
        let notice = text(&html(resp).await, "#notice");
        assert!(
            notice.contains("只有死信") && notice.contains("待发送"),
            "{notice}"
        );
    }
    assert_eq!(row_state(&app, id).await.state, "pending");

    for bad in ["999999", "abc", ""] {
        let resp = browser
            .post(app.url("/admin/sync/retry"))
            .form(&[("csrf", csrf.as_str()), ("id", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 409, "{bad:?}");
        assert!(text(&html(resp).await, "#notice").contains("找不到"));
    }
    assert!(audit_rows(&app, "sync.discarded").await.is_empty());
    assert_eq!(audit_rows(&app, "sync.retried").await.len(), 1);
    app.stop().await;
}

/// `name{labels} value` lines of an exposition, as (series, value).
fn samples(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("no {series}"))
        .1
}

#[tokio::test]
async fn metrics_match_the_outbox_and_the_workers_breaker() {
    // A province nobody answers for, one attempt allowed and a breaker that opens at the first
    // failure: the worker's first send makes a dead letter and opens the breaker.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(|s| {
        s.province = Some(xinyidai::config::ProvinceLink {
            base_url: format!("http://127.0.0.1:{closed_port}"),
            app_id: "lishu-220322".into(),
            secret: Secret::new("metrics-test-secret"),
            signature_method: "HMAC-SHA256".into(),
            l3: false,
            timeout: Duration::from_secs(2),
        });
        s.sync.max_attempts = 1;
        s.sync.breaker_threshold = 1;
        s.sync.breaker_cooldown = Duration::from_secs(600);
    })
    .await;
    let registration = crate::outbox::queued(&app).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let resp = app.get("/metrics").await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let body = resp.text().await.unwrap();
        if body.contains("\nxyd_sync_breaker_state 1\n") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the breaker never opened:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A contact update queued behind the dead registration event: pending, and blocked.
    on_pool!(&app.db, |pool| sqlx::query(outbox::ENQUEUE_CONTACT_UPDATE)
        .bind(registration)
        .bind(time::OffsetDateTime::now_utc() - time::Duration::minutes(5))
        .bind("[\"mobile\"]")
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    let s = samples(&app.get("/metrics").await.text().await.unwrap());

    for name in [
        "xyd_outbox_rows",
        "xyd_outbox_oldest_pending_seconds",
        "xyd_outbox_attempts_total",
        "xyd_sync_outcomes_total",
        "xyd_sync_province_calls_total",
        "xyd_sync_breaker_state",
        "xyd_sync_breaker_opened_total",
        "xyd_sync_breaker_closed_total",
        "xyd_registrations",
    ] {
        assert!(body.contains(&format!("# HELP {name} ")), "{name}");
        assert!(body.contains(&format!("# TYPE {name} ")), "{name}");
    }
    let rows = outbox::all(&app.db).await.unwrap();
    for kind in ["register", "update_contact"] {
        for state in ["pending", "done", "dead", "discarded"] {
            let in_db = rows
                .iter()
                .filter(|r| r.kind == kind && r.state == state)
                .count();
            assert_eq!(
                value(
                    &s,
                    &format!("xyd_outbox_rows{{kind=\"{kind}\",state=\"{state}\"}}")
                ),
                in_db as f64,
                "{kind}/{state}"
            );
        }
    }
    assert_eq!(
        value(&s, "xyd_outbox_rows{kind=\"register\",state=\"dead\"}"),
        1.0
    );
    let attempts: i64 = rows.iter().map(|r| r.attempts).sum();
    assert_eq!(value(&s, "xyd_outbox_attempts_total"), attempts as f64);
    let oldest = value(&s, "xyd_outbox_oldest_pending_seconds");
    assert!((299.0..400.0).contains(&oldest), "{oldest}");
    assert_eq!(value(&s, "xyd_sync_breaker_state"), 1.0);
    assert_eq!(value(&s, "xyd_sync_breaker_opened_total"), 1.0);
    assert_eq!(value(&s, "xyd_sync_breaker_closed_total"), 0.0);
    assert_eq!(value(&s, "xyd_sync_outcomes_total{result=\"dead\"}"), 1.0);
    assert_eq!(
        value(&s, "xyd_sync_outcomes_total{result=\"accepted\"}"),
        0.0
    );
    assert!(value(&s, "xyd_sync_province_calls_total") >= 1.0);
    assert_eq!(value(&s, "xyd_registrations{sync_state=\"pending\"}"), 1.0);
    assert_eq!(value(&s, "xyd_registrations{sync_state=\"accepted\"}"), 0.0);

    // The admin page shows the same breaker.
    let browser = admin(&app).await;
    let page = sync_page(&app, &browser).await;
    assert_eq!(
        attr(&page, "#breaker .breaker", "data-state").as_deref(),
        Some("open")
    );
    assert!(text(&page, "#oldest-pending").contains("分钟"));
    app.stop().await;
}

#[tokio::test]
async fn metrics_require_the_token_when_one_is_set() {
    let token = "metrics-token-0123456789abcdef";
    let app = TestApp::spawn_with(|s| s.metrics_token = Some(Secret::new(token))).await;
    let scrape = |auth: Option<String>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    assert_eq!(scrape(None).await.unwrap().status(), 401);
    for wrong in [
        "Bearer wrong".to_owned(),
        format!("Bearer {}", &token[..token.len() - 1]),
        format!("Basic {token}"),
    ] {
        assert_eq!(
            scrape(Some(wrong.clone())).await.unwrap().status(),
            401,
            "{wrong}"
        );
    }
    let ok = scrape(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("xyd_outbox_rows{"));
    app.stop().await;

    // Unset: open.
    let open = TestApp::spawn().await;
    assert_eq!(open.get("/metrics").await.status(), 200);
    open.stop().await;
}

#[tokio::test]
async fn reconciliations_and_open_discrepancies_are_shown_and_resolved_by_hand() {
    let app = TestApp::spawn().await;
    let registration = crate::outbox::queued(&app).await;
    let reg = store::registrations::by_id(&app.db, registration)
        .await
        .unwrap()
        .unwrap();
    let start = time::OffsetDateTime::now_utc() - time::Duration::hours(12);
    on_pool!(&app.db, |pool| {
        for n in 0..12_i64 {
            let at = start + time::Duration::minutes(n);
            sqlx::query(
                "INSERT INTO sync_reconciliations (started_at, finished_at, checked, repaired, flagged)
                 VALUES ($1, $2, $3, 0, 1)",
            )
            .bind(at)
            .bind(at + time::Duration::seconds(30))
            .bind(100 + n)
            .execute(pool)
            .await
            .unwrap();
        }
        for (action, resolved) in [("flagged", None), ("requeued", Some(start))] {
            sqlx::query(
                "INSERT INTO sync_discrepancies
                     (run_id, registration_id, ours, theirs, action, created_at, resolved_at)
                 VALUES (12, $1, 'accepted', 'unknown', $2, $3, $4)",
            )
            .bind(registration)
            .bind(action)
            .bind(start)
            .bind(resolved)
            .execute(pool)
            .await
            .unwrap();
        }
    });
    let browser = admin(&app).await;
    let page = sync_page(&app, &browser).await;
    let runs = texts(&page, "#reconciliations tbody tr");
    assert_eq!(runs.len(), 10);
    assert!(runs[0].contains("111"), "newest first: {runs:?}");
    let open = texts(&page, "#discrepancies .discrepancy");
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].contains(&reg.uscc) && open[0].contains(&reg.entity_name));
    assert!(open[0].contains("待人工核对"));
    // After checking both sides by hand, an admin takes it off the list; the audit log says so.
    let id = attr(&page, "#discrepancies form input[name=id]", "value").unwrap();
    let csrf = attr(&page, "#discrepancies form input[name=csrf]", "value").unwrap();
    let resolve = |csrf: String| {
        browser
            .post(app.url("/admin/sync/resolve"))
            .form(&[("csrf", csrf), ("id", id.clone())])
            .send()
    };
    let resp = resolve(csrf.clone()).await.unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/admin/sync?done=resolved&id={id}"));
    let page = html(browser.get(app.url(&location)).send().await.unwrap()).await;
    assert!(text(&page, "#notice").contains("已处理"));
    assert!(texts(&page, "#discrepancies .discrepancy").is_empty());
    let audited = audit_rows(&app, "sync.discrepancy_resolved").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].1, format!("registration:{registration}"));
    // Twice, or without the token: nothing more happens.
    assert_eq!(resolve(csrf).await.unwrap().status(), 409);
    assert_eq!(resolve("x".to_owned()).await.unwrap().status(), 403);
    assert_eq!(audit_rows(&app, "sync.discrepancy_resolved").await.len(), 1);
    app.stop().await;
}
