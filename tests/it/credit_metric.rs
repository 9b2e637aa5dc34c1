//! The credit-monitoring figure: `/api/v1/metrics/credit-monitoring` (JSON, CSV) and
//! `/leaders/metric`, over entities seeded in three counties of 四平市 with known kinds,
//! statuses and stages, a snapshot of last month's last day, and today's live counts.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use time::OffsetDateTime;
use xinyidai::on_pool;
use xinyidai::report::credit_metric::Period;
use xinyidai::store::accounts::Role;
use xinyidai::store::league::{self, Trigger};

use crate::helpers::{TestApp, attr, text, texts};
use crate::people::{bearer, browser, get_page, official, staff};

const API: &str = "/api/v1/metrics/credit-monitoring";

static NEXT: AtomicU64 = AtomicU64::new(1);

/// `n` entities of `county` with this kind and status; `synced` ones get a registration the
/// province accepted (stage `synced`), the others none (stage `not_started`).
async fn seed(
    app: &TestApp,
    owner: i64,
    county: &str,
    kind: &str,
    status: &str,
    synced: bool,
    n: usize,
) {
    let now = OffsetDateTime::now_utc();
    for _ in 0..n {
        let uscc = format!("TEST{:014}", NEXT.fetch_add(1, Ordering::Relaxed));
        on_pool!(&app.db, |pool| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO entities (uscc, name, kind, legal_rep, county_code, status)
                 VALUES ($1, '测试主体', $2, '张三', $3, $4) RETURNING id",
            )
            .bind(&uscc)
            .bind(kind)
            .bind(county)
            .bind(status)
            .fetch_one(pool)
            .await
            .unwrap();
            if synced {
                sqlx::query(
                    "INSERT INTO registrations (account_id, uscc, entity_id, entity_name,
                         legal_rep_name, legal_rep_id_sealed, legal_rep_id_lookup,
                         legal_rep_id_masked, mobile, verification, personal_info_consent_at,
                         sync_state, accepted_at, created_at, updated_at)
                     VALUES ($1, $2, $3, '测试主体', '张三', $4, $5, '2203**********1234',
                             '13800000000', 'matched', $6, 'accepted', $6, $6, $6)",
                )
                .bind(owner)
                .bind(&uscc)
                .bind(id)
                .bind(vec![1u8, 2, 3])
                .bind(format!("lookup-{uscc}"))
                .bind(now)
                .execute(pool)
                .await
                .unwrap();
            }
        });
    }
}

async fn account_id(app: &TestApp, email: &str) -> i64 {
    on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_one(pool)
            .await
            .unwrap()
    })
}

fn this_month() -> Period {
    Period::of(xinyidai::clock::today())
}

fn last_month() -> Period {
    this_month().previous()
}

/// The world of these tests, given a leader's email (the registrations' owner account):
///
/// Last month (snapshot of its last day):
/// - 梨树县 220322: enterprise active 2 synced + 2 not started; individual business active
///   1 synced + 3 not started; enterprise cancelled 1 synced; enterprise moved out 2.
/// - 铁西区 220302: enterprise active 3 synced + 7 not started.
/// - 铁东区 220303: enterprise active 1 synced + 1 not started.
///
/// Since then 梨树县 gained 2 synced individual businesses (live counts).
async fn world(app: &TestApp, owner_email: &str) {
    let owner = account_id(app, owner_email).await;
    let s = |county, kind, status, synced, n| seed(app, owner, county, kind, status, synced, n);
    s("220322", "enterprise", "active", true, 2).await;
    s("220322", "enterprise", "active", false, 2).await;
    s("220322", "individual_business", "active", true, 1).await;
    s("220322", "individual_business", "active", false, 3).await;
    s("220322", "enterprise", "cancelled", true, 1).await;
    s("220322", "enterprise", "moved_out", false, 2).await;
    s("220302", "enterprise", "active", true, 3).await;
    s("220302", "enterprise", "active", false, 7).await;
    s("220303", "enterprise", "active", true, 1).await;
    s("220303", "enterprise", "active", false, 1).await;
    league::rebuild(&app.db).await.unwrap();
    league::take_snapshot(&app.db, last_month().last_day(), Trigger::Manual)
        .await
        .unwrap();
    s("220322", "individual_business", "active", true, 2).await;
    league::rebuild(&app.db).await.unwrap();
}

async fn get_json(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let resp = app
        .client
        .get(app.url(&format!("{API}{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn entry<'a>(body: &'a Value, code: &str) -> &'a Value {
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == code)
        .unwrap_or_else(|| panic!("no entry {code} in {body}"))
}

/// (numerator, denominator, value, rank) of an entry.
fn numbers(e: &Value) -> (f64, f64, Option<f64>, Option<u64>) {
    (
        e["numerator"].as_f64().unwrap(),
        e["denominator"].as_f64().unwrap(),
        e["value"].as_f64(),
        e["rank"].as_u64(),
    )
}

#[tokio::test]
async fn the_figure_of_this_month_and_last_month_with_default_settings() {
    let app = TestApp::spawn().await;
    let leader = official(&app, Role::Leader, None, false).await;
    world(&app, &leader).await;
    let token = bearer(&app, &leader).await;

    // This month, live: 梨树县 (2 + 3) / (4 + 6 + 2 moved out) = 5/12; 注销 left out.
    let (status, body) = get_json(&app, &token, &format!("?period={}", this_month())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "live");
    assert_eq!(body["period"], this_month().to_string());
    assert_eq!(body["jurisdiction"]["code"], "220322");
    let own = entry(&body, "220322");
    assert_eq!(own["own"], true);
    assert_eq!(numbers(own), (5.0, 12.0, Some(0.4167), Some(2)));
    assert_eq!(own["percent"], "41.67%");
    assert_eq!(own["excluded"], 1);
    assert_eq!(
        (own["counted"].as_i64(), own["onboarded"].as_i64()),
        (Some(12), Some(5))
    );
    let kinds: Vec<(String, f64, i64, i64)> = own["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kind"].as_str().unwrap().to_owned(),
                k["weight"].as_f64().unwrap(),
                k["counted"].as_i64().unwrap(),
                k["onboarded"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("enterprise".to_owned(), 1.0, 6, 2),
            ("individual_business".to_owned(), 1.0, 6, 3)
        ]
    );
    assert_eq!(
        numbers(entry(&body, "220303")),
        (1.0, 2.0, Some(0.5), Some(1))
    );
    assert_eq!(
        numbers(entry(&body, "220302")),
        (3.0, 10.0, Some(0.3), Some(3))
    );
    // Counties without entities get no line; the order is the ranking.
    let codes: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["220303", "220322", "220302"]);
    assert_eq!(body["ranked"], 3);
    assert_eq!(
        body["settings"]["excluded_statuses"][0]["status"],
        "cancelled"
    );
    assert_eq!(body["settings"]["window_months"], 12);
    assert!(body.get("window").is_none());

    // Last month, from the snapshot: 梨树县 3/10 ties with 铁西区 3/10, both second.
    let (status, body) = get_json(&app, &token, &format!("?period={}", last_month())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "snapshot");
    assert_eq!(
        body["as_of"],
        xinyidai::store::outreach::format_day(last_month().last_day())
    );
    assert_eq!(
        numbers(entry(&body, "220322")),
        (3.0, 10.0, Some(0.3), Some(2))
    );
    assert_eq!(
        numbers(entry(&body, "220302")),
        (3.0, 10.0, Some(0.3), Some(2))
    );
    assert_eq!(
        numbers(entry(&body, "220303")),
        (1.0, 2.0, Some(0.5), Some(1))
    );

    // The window: this month and last month; the ten before have no snapshot.
    let (status, body) = get_json(&app, &token, "?window=true").await;
    assert_eq!(status, 200, "{body}");
    let window = body["window"].as_array().unwrap();
    assert_eq!(window.len(), 12);
    let last = &window[11];
    assert_eq!(last["period"], this_month().to_string());
    assert_eq!(
        (last["source"].as_str(), last["value"].as_f64()),
        (Some("live"), Some(0.4167))
    );
    assert_eq!(last["rank"], 2);
    let before = &window[10];
    assert_eq!(before["period"], last_month().to_string());
    assert_eq!(
        (before["source"].as_str(), before["value"].as_f64()),
        (Some("snapshot"), Some(0.3))
    );
    assert!(
        window[..10]
            .iter()
            .all(|w| w["source"] == "missing" && w["value"].is_null()),
        "{window:?}"
    );

    // Two months ago has no snapshot of its last day: 404, not a guess. The future neither.
    let (status, body) = get_json(
        &app,
        &token,
        &format!("?period={}", last_month().previous()),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "no_data");
    assert!(body["message"].as_str().unwrap().contains("快照"), "{body}");
    let next = Period::parse("2099-12").unwrap();
    let (status, _) = get_json(&app, &token, &format!("?period={next}")).await;
    assert_eq!(status, 404);

    // A bad period is the caller's mistake.
    for bad in ["2026-13", "2026-3", "202603", "latest"] {
        let (status, body) = get_json(&app, &token, &format!("?period={bad}")).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(body["errors"]["period"][0], "invalid", "{bad}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn weights_and_exclusions_come_from_the_settings() {
    let app = TestApp::spawn_with(|s| {
        s.metric.weights =
            xinyidai::config::MetricSettings::parse_weights("enterprise:1,individual_business:0.5")
                .unwrap();
        s.metric.excluded =
            xinyidai::config::MetricSettings::parse_excluded("cancelled,moved_out").unwrap();
        s.metric.window_months = 3;
    })
    .await;
    let leader = official(&app, Role::Leader, None, false).await;
    world(&app, &leader).await;
    let token = bearer(&app, &leader).await;

    // Live 梨树县: (2 + 0.5·3) / (4 + 0.5·6) = 3.5/7 = 0.5, tied first with 铁东区 1/2.
    let (status, body) = get_json(&app, &token, "?window=true").await;
    assert_eq!(status, 200, "{body}");
    let own = entry(&body, "220322");
    assert_eq!(numbers(own), (3.5, 7.0, Some(0.5), Some(1)));
    assert_eq!(own["excluded"], 3);
    assert_eq!(
        numbers(entry(&body, "220303")),
        (1.0, 2.0, Some(0.5), Some(1))
    );
    assert_eq!(entry(&body, "220302")["rank"], 3);
    let weights = body["settings"]["weights"].as_array().unwrap();
    let weight = |kind: &str| {
        weights
            .iter()
            .find(|w| w["kind"] == kind)
            .and_then(|w| w["weight"].as_f64())
    };
    assert_eq!(weight("individual_business"), Some(0.5));
    assert_eq!(weight("farmer_cooperative"), Some(1.0));
    let excluded: Vec<&str> = body["settings"]["excluded_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, ["cancelled", "moved_out"]);
    assert_eq!(body["window"].as_array().unwrap().len(), 3);

    // Last month: (2 + 0.5·1) / (4 + 0.5·4) = 2.5/6 = 0.41666… → 0.4167.
    let (_, body) = get_json(&app, &token, &format!("?period={}", last_month())).await;
    assert_eq!(
        numbers(entry(&body, "220322")),
        (2.5, 6.0, Some(0.4167), Some(2))
    );

    // The CSV says the same.
    let csv = csv_rows(&app, &token, &format!("?period={}", last_month())).await;
    let own = csv.iter().find(|r| r["区划代码"] == "220322").unwrap();
    assert_eq!(own["指标值"], "0.4167");
    assert_eq!(own["百分比"], "41.67%");
    assert_eq!(own["分子（加权已入驻）"], "2.5");
    assert_eq!(own["分母（加权计入）"], "6");
    assert_eq!(own["个体工商户权重"], "0.5");
    assert_eq!(own["个体工商户计入"], "4");
    assert_eq!(own["排除主体数"], "3");
    assert_eq!(own["排名"], "2");
    assert_eq!(own["排除状态"], "注销、迁出");
    app.stop().await;
}

/// The CSV's lines as maps from header to cell (the BOM checked and dropped).
async fn csv_rows(
    app: &TestApp,
    token: &str,
    query: &str,
) -> Vec<std::collections::HashMap<String, String>> {
    let resp = app
        .client
        .get(app.url(&format!("{API}.csv{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = resp.bytes().await.unwrap();
    let body = body.strip_prefix("\u{feff}".as_bytes()).expect("UTF-8 BOM");
    let mut reader = csv::Reader::from_reader(body);
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .map(str::to_owned)
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_csv_has_the_json_numbers() {
    let app = TestApp::spawn().await;
    let leader = official(&app, Role::Leader, None, false).await;
    world(&app, &leader).await;
    let token = bearer(&app, &leader).await;
    let (_, body) = get_json(&app, &token, "").await;
    let rows = csv_rows(&app, &token, "").await;
    assert_eq!(rows.len(), body["entries"].as_array().unwrap().len());
    for e in body["entries"].as_array().unwrap() {
        let row = rows
            .iter()
            .find(|r| r["区划代码"] == e["code"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            row["指标值"].parse::<f64>().ok(),
            e["value"].as_f64(),
            "{row:?}"
        );
        assert_eq!(row["百分比"], e["percent"].as_str().unwrap());
        assert_eq!(
            row["分子（加权已入驻）"].parse::<f64>().unwrap(),
            e["numerator"].as_f64().unwrap()
        );
        assert_eq!(
            row["分母（加权计入）"].parse::<f64>().unwrap(),
            e["denominator"].as_f64().unwrap()
        );
        assert_eq!(row["排名"].parse::<u64>().ok(), e["rank"].as_u64());
        assert_eq!(row["参与排名数"], "3");
    }
    let own = rows.iter().find(|r| r["区划代码"] == "220322").unwrap();
    assert_eq!(
        (own["企业计入"].as_str(), own["企业已入驻"].as_str()),
        ("6", "2")
    );
    assert_eq!(own["数据来源"], "实时");
    // 422 and 404 as for JSON.
    let resp = app
        .client
        .get(app.url(&format!("{API}.csv?period=2026-00")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let resp = app
        .client
        .get(app.url(&format!("{API}.csv?period={}", last_month().previous())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_city_gets_its_total_and_ranks_its_counties() {
    let app = TestApp::spawn_with(|s| s.jurisdiction = "220300".to_owned()).await;
    let admin = official(&app, Role::Admin, None, false).await;
    world(&app, &admin).await;
    let token = bearer(&app, &admin).await;
    let (status, body) = get_json(&app, &token, "").await;
    assert_eq!(status, 200, "{body}");
    let entries = body["entries"].as_array().unwrap();
    // The city first, unranked: (5 + 3 + 1) / (12 + 10 + 2) = 9/24.
    assert_eq!(entries[0]["code"], "220300");
    assert_eq!(entries[0]["own"], true);
    assert_eq!(entries[0]["level"], "city");
    assert_eq!(numbers(&entries[0]), (9.0, 24.0, Some(0.375), None));
    let ranks: Vec<(&str, u64)> = entries[1..]
        .iter()
        .map(|e| (e["code"].as_str().unwrap(), e["rank"].as_u64().unwrap()))
        .collect();
    assert_eq!(ranks, [("220303", 1), ("220322", 2), ("220302", 3)]);
    assert_eq!(entry(&body, "220322")["own"], false);
    app.stop().await;
}

#[tokio::test]
async fn only_leaders_and_admins_may_read_it() {
    let app = TestApp::spawn().await;
    let leader = official(&app, Role::Leader, None, false).await;
    world(&app, &leader).await;
    // No token, a bad token: 401.
    let resp = app.client.get(app.url(API)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = app
        .client
        .get(app.url(&format!("{API}.csv")))
        .bearer_auth("nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Staff: 404, by token and by session.
    let departments = crate::people::departments(&app).await;
    let clerk = staff(&app, departments[0].id).await;
    let token = bearer(&app, &clerk).await;
    let (status, _) = get_json(&app, &token, "").await;
    assert_eq!(status, 404);
    let clerk_browser = browser(&app, &clerk).await;
    let resp = clerk_browser.get(app.url(API)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let (status, _) = get_page(&app, &clerk_browser, "/leaders/metric").await;
    assert_eq!(status, 404);
    // An admin by token; a leader by the browser session (the page's CSV link).
    let admin = official(&app, Role::Admin, None, false).await;
    let token = bearer(&app, &admin).await;
    let (status, _) = get_json(&app, &token, "").await;
    assert_eq!(status, 200);
    let leader_browser = browser(&app, &leader).await;
    let resp = leader_browser
        .get(app.url(&format!("{API}.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Anonymous page visitors log in first.
    let resp = app
        .new_client()
        .get(app.url("/leaders/metric"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    app.stop().await;
}

#[tokio::test]
async fn the_page_shows_the_figure_ranking_and_window() {
    let app = TestApp::spawn().await;
    let leader = official(&app, Role::Leader, None, false).await;
    world(&app, &leader).await;
    let leader_browser = browser(&app, &leader).await;

    let (status, page) = get_page(&app, &leader_browser, "/leaders/metric").await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#value"), "41.67%");
    assert_eq!(text(&page, "#numerator"), "5");
    assert_eq!(text(&page, "#denominator"), "12");
    assert!(
        text(&page, "#rank").contains("第 2 名"),
        "{}",
        text(&page, "#rank")
    );
    assert_eq!(
        texts(&page, "#ranking-table tbody td.name"),
        ["铁东区", "梨树县", "铁西区"]
    );
    assert_eq!(
        texts(&page, "#ranking-table tbody td.rank"),
        ["1", "2", "3"]
    );
    assert_eq!(texts(&page, "#kind-table tbody td.counted"), ["6", "6"]);
    // The window, newest first: live, last month's snapshot, then missing months.
    let periods = texts(&page, "#window-table tbody td.name");
    assert_eq!(periods.len(), 12);
    assert_eq!(periods[0], this_month().to_string());
    assert_eq!(
        texts(&page, "#window-table tbody td.value")[..3],
        ["41.67%", "30.00%", "—"]
    );
    // The CSV link works with the session.
    let csv = attr(&page, "#csv-link", "href").unwrap();
    let resp = leader_browser.get(app.url(&csv)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("梨树县"));

    // Last month's page from the snapshot.
    let (status, page) = get_page(
        &app,
        &leader_browser,
        &format!("/leaders/metric?period={}", last_month()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#value"), "30.00%");
    assert_eq!(
        texts(&page, "#ranking-table tbody td.rank"),
        ["1", "2", "2"]
    );

    // A bad month is named next to the field and kept; a month without data says why.
    let (status, page) = get_page(&app, &leader_browser, "/leaders/metric?period=2026-13").await;
    assert_eq!(status, 422);
    assert_eq!(attr(&page, "#period", "value").as_deref(), Some("2026-13"));
    assert!(!text(&page, "#period-error").is_empty());
    let (status, page) = get_page(
        &app,
        &leader_browser,
        &format!("/leaders/metric?period={}", last_month().previous()),
    )
    .await;
    assert_eq!(status, 404);
    assert!(text(&page, "#missing").contains("快照"));
    assert!(
        page.select(&scraper::Selector::parse("#value").unwrap())
            .next()
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_both_paths() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    for path in [API, "/api/v1/metrics/credit-monitoring.csv"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["CreditMetric"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn the_page_fits_a_phone() {
    let app = TestApp::spawn().await;
    let leader = official(&app, Role::Leader, None, false).await;
    world(&app, &leader).await;
    let Some(chromium) = crate::browser::Browser::start(390, 844).await else {
        app.stop().await;
        return;
    };
    chromium.goto(&app.url("/login?next=/leaders/metric")).await;
    chromium.type_into("#email", &leader).await;
    chromium
        .type_into("#password", crate::people::OFFICIAL_PASSWORD)
        .await;
    let landed = chromium
        .submit("form.login button[type=submit]", "/login")
        .await;
    assert_eq!(landed, "/leaders/metric");
    assert!(
        !chromium.overflows_sideways().await,
        "metric page on a phone"
    );
    chromium.screenshot("leaders-metric-phone").await;
    chromium.resize(1280, 900).await;
    chromium.goto(&app.url("/leaders/metric")).await;
    chromium.screenshot("leaders-metric-desktop").await;
    chromium.quit().await;
    app.stop().await;
}
