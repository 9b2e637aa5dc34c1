//! The staff workspace through the real server: `/staff` progress, the entity list (filters,
//! sorting, paging, CSV and XLSX export), an entity's page (registration state, audited contact
//! reveal, recording outreach), follow-ups, the JSON twin under `/api/v1/staff/…`, and the rule
//! that another department's entity is a 404 everywhere.

use std::io::Cursor;

use calamine::{Reader, Xlsx};
use scraper::Html;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use xinyidai::domain::assignment_rule::TargetAmount;
use xinyidai::domain::calendar;
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::{on_pool, store};

use crate::helpers::{TestApp, attr, text, texts};
use crate::mailbox::unique_address;
use crate::people::{
    COUNTY, assigned_entities, bearer, browser, csrf, departments, get_page, staff,
};

/// Two departments of 梨树县 (ids): the staff member's and another one.
async fn two_departments(app: &TestApp) -> (i64, i64) {
    let deps = departments(app).await;
    (deps[0].id, deps[1].id)
}

async fn entity_id(app: &TestApp, e: &RosterEntry) -> i64 {
    on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT id FROM entities WHERE uscc = $1")
            .bind(e.uscc.as_str())
            .fetch_one(pool)
            .await
            .unwrap()
    })
}

async fn account_id(app: &TestApp, email: &str) -> i64 {
    store::accounts::by_email(&app.db, email)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A bearer token for an owner (`people::bearer` knows only the staff password).
async fn token(app: &TestApp, email: &str, password: &str) -> String {
    let resp = app
        .client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "API login as {email}");
    let body: Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// An owner account made directly in the database (registrations below belong to it).
async fn owner_account(app: &TestApp) -> i64 {
    let now = OffsetDateTime::now_utc();
    on_pool!(&app.db, |pool| {
        sqlx::query_scalar(
            "INSERT INTO accounts (email, password_hash, role, created_at)
             VALUES ($1, 'x', 'owner', $2) RETURNING id",
        )
        .bind(unique_address())
        .bind(now)
        .fetch_one(pool)
        .await
        .unwrap()
    })
}

/// Where a seeded registration stands.
#[derive(Clone, Copy)]
enum Seed {
    Started,
    Verified,
    Signed,
    /// Accepted by the province this many days ago.
    Synced(i64),
    Rejected,
}

/// A registration for `e` in the given state, written straight into the database.
async fn seed_registration(app: &TestApp, owner: i64, e: &RosterEntry, seed: Seed, mobile: &str) {
    let id = entity_id(app, e).await;
    let now = OffsetDateTime::now_utc();
    let (verification, sync_state, accepted_at) = match seed {
        Seed::Started => ("review_requested", "pending", None),
        Seed::Verified | Seed::Signed => ("matched", "pending", None),
        Seed::Synced(days) => ("matched", "accepted", Some(now - Duration::days(days))),
        Seed::Rejected => ("rejected", "pending", None),
    };
    on_pool!(&app.db, |pool| {
        let rid: i64 = sqlx::query_scalar(
            "INSERT INTO registrations (account_id, uscc, entity_id, entity_name, legal_rep_name,
                 legal_rep_id_sealed, legal_rep_id_lookup, legal_rep_id_masked, mobile,
                 verification, personal_info_consent_at, sync_state, accepted_at,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, '2203**********1234', $8, $9, $10, $11, $12,
                     $10, $10)
             RETURNING id",
        )
        .bind(owner)
        .bind(e.uscc.as_str())
        .bind(id)
        .bind(&e.name)
        .bind(&e.legal_rep)
        .bind(vec![1u8, 2, 3])
        .bind(format!("lookup-{}", e.uscc.as_str()))
        .bind(mobile)
        .bind(verification)
        .bind(now)
        .bind(sync_state)
        .bind(accepted_at)
        .fetch_one(pool)
        .await
        .unwrap();
        if matches!(seed, Seed::Signed | Seed::Synced(_)) {
            let (version, digest): (String, String) =
                sqlx::query_as("SELECT version, digest FROM agreement_versions LIMIT 1")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            sqlx::query(
                "INSERT INTO signatures (registration_id, version, digest, signer_name, signed_at,
                     ip, user_agent) VALUES ($1, $2, $3, $4, $5, '127.0.0.1', 'test')",
            )
            .bind(rid)
            .bind(version)
            .bind(digest)
            .bind(&e.legal_rep)
            .bind(now)
            .execute(pool)
            .await
            .unwrap();
        }
    });
}

async fn set_last_contact(app: &TestApp, e: &RosterEntry, at: OffsetDateTime) {
    on_pool!(&app.db, |pool| {
        sqlx::query("UPDATE entities SET last_contact_at = $1 WHERE uscc = $2")
            .bind(at)
            .bind(e.uscc.as_str())
            .execute(pool)
            .await
            .unwrap();
    });
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    on_pool!(&app.db, |pool| {
        sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
    })
}

/// (actor, subject, detail) of the audit rows with `action`, oldest first.
async fn audit_rows(app: &TestApp, action: &str) -> Vec<(String, String, String)> {
    on_pool!(&app.db, |pool| {
        sqlx::query_as("SELECT actor, subject, detail FROM audit_log WHERE action = $1 ORDER BY id")
            .bind(action)
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

fn num(doc: &Html, selector: &str) -> i64 {
    let t = text(doc, selector);
    let digits: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().unwrap_or_else(|_| panic!("{selector}: {t}"))
}

/// "1月18日", with the year when it is not `today`'s.
fn month_day(d: time::Date, today: time::Date) -> String {
    let md = format!("{}月{}日", u8::from(d.month()), d.day());
    if d.year() == today.year() {
        md
    } else {
        format!("{}年{md}", d.year())
    }
}

fn day(d: time::Date) -> String {
    store::outreach::format_day(d)
}

async fn api_get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn api_post(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn progress_shows_the_seeded_stages_target_and_projection() {
    let app = TestApp::spawn().await;
    let (mine, other) = two_departments(&app).await;
    let entities = assigned_entities(&app, mine, 12, 501).await;
    // Another department's registrations never count here.
    let theirs = assigned_entities(&app, other, 3, 502).await;
    let owner = owner_account(&app).await;
    let seeds = [
        Seed::Started,
        Seed::Started,
        Seed::Verified,
        Seed::Signed,
        Seed::Synced(1),
        Seed::Synced(3),
        // Outside the 14-day pace window: onboarded, but not part of the pace.
        Seed::Synced(20),
        Seed::Rejected,
    ];
    for (e, seed) in entities.iter().zip(seeds) {
        seed_registration(&app, owner, e, seed, "13800000000").await;
    }
    seed_registration(&app, owner, &theirs[0], Seed::Synced(1), "13800000000").await;
    let today = xinyidai::clock::today();
    let deadline = today + Duration::days(60);
    store::assignments::set_target(
        &app.db,
        COUNTY,
        mine,
        &calendar::period_of(today),
        TargetAmount::Count(10),
        deadline,
        "cli",
    )
    .await
    .unwrap();

    let email = staff(&app, mine).await;
    let b = browser(&app, &email).await;
    let (status, page) = get_page(&app, &b, "/staff").await;
    assert_eq!(status, 200);
    assert_eq!(num(&page, "#assigned"), 12);
    assert_eq!(num(&page, "#onboarded"), 3);
    let stage_count = |stage: &str| num(&page, &format!("li[data-stage={stage}] .n"));
    assert_eq!(stage_count("not_started"), 4);
    assert_eq!(stage_count("started"), 2);
    assert_eq!(stage_count("verified"), 1);
    assert_eq!(stage_count("signed"), 1);
    assert_eq!(stage_count("synced"), 3);
    assert_eq!(stage_count("rejected"), 1);
    assert_eq!(num(&page, "#goal"), 10);
    assert_eq!(text(&page, "#deadline"), day(deadline));
    assert_eq!(num(&page, "#days-left"), 60);
    // Two accepted in the last 14 days: 7 to go at 2/14 a day is 49 days.
    let remaining = 10 - 3;
    let days = (f64::from(remaining) * 14.0 / 2.0).ceil() as i64;
    let on = today + Duration::days(days);
    assert_eq!(
        text(&page, "#projection"),
        format!("按目前进度预计 {} 达成", month_day(on, today))
    );
    assert_eq!(text(&page, "#pace"), "0.1 家/天");
    assert_eq!(attr(&page, "#bar", "value").as_deref(), Some("30"));

    // Each stage's count links to the list filtered to it, which shows as many.
    for stage in ["not_started", "started", "synced", "rejected"] {
        let href = attr(&page, &format!("li[data-stage={stage}] a"), "href").unwrap();
        let (_, list) = get_page(&app, &b, &href).await;
        assert_eq!(num(&list, "#total"), stage_count(stage), "{href}");
        let shown = texts(&list, "#entities tbody tr");
        assert_eq!(shown.len() as i64, stage_count(stage));
    }

    // A share: half of 12 entities, rounded up, is 6; 3 to go.
    store::assignments::set_target(
        &app.db,
        COUNTY,
        mine,
        &calendar::period_of(today),
        TargetAmount::Share(0.5),
        today + Duration::days(9),
        "cli",
    )
    .await
    .unwrap();
    let (_, page) = get_page(&app, &b, "/staff").await;
    assert_eq!(num(&page, "#goal"), 6);
    let on = today + Duration::days((3.0_f64 * 14.0 / 2.0).ceil() as i64);
    // 21 days at this pace, but the deadline is in 9.
    assert_eq!(
        text(&page, "#projection"),
        format!(
            "按目前进度无法按期完成（预计 {} 达成）",
            month_day(on, today)
        )
    );

    // The JSON twin says the same.
    let t = bearer(&app, &email).await;
    let (status, p) = api_get(&app, "/api/v1/staff/progress", Some(&t)).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["assigned"], 12);
    assert_eq!(p["onboarded"], 3);
    assert_eq!(p["goal"]["entities"], 6);
    assert_eq!(p["goal"]["days_left"], 9);
    assert_eq!(p["projection"]["state"], "on");
    assert_eq!(p["projection"]["date"], day(on));
    assert_eq!(p["projection"]["misses_deadline"], true);
    let started = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "started")
        .unwrap();
    assert_eq!(started["count"], 2);

    // Another department without a target: nothing set, and its own numbers.
    let theirs_staff = staff(&app, other).await;
    let b2 = browser(&app, &theirs_staff).await;
    let (_, page) = get_page(&app, &b2, "/staff").await;
    assert_eq!(num(&page, "#assigned"), 3);
    assert_eq!(num(&page, "#onboarded"), 1);
    assert_eq!(text(&page, "#projection"), "未设置目标");
}

#[tokio::test]
async fn the_list_filters_sorts_pages_and_exports() {
    let app = TestApp::spawn().await;
    let (mine, other) = two_departments(&app).await;
    let mut entities = assigned_entities(&app, mine, 120, 601).await;
    assigned_entities(&app, other, 5, 602).await;
    let now = OffsetDateTime::now_utc();
    set_last_contact(&app, &entities[0], now - Duration::days(20)).await;
    set_last_contact(&app, &entities[1], now - Duration::days(3)).await;
    set_last_contact(&app, &entities[2], now - Duration::days(10)).await;
    let owner = owner_account(&app).await;
    seed_registration(&app, owner, &entities[3], Seed::Started, "13800000000").await;
    // A name that a spreadsheet would run as a formula.
    on_pool!(&app.db, |pool| {
        sqlx::query("UPDATE entities SET name = '=HYPERLINK(\"x\")梨树' WHERE uscc = $1")
            .bind(entities[4].uscc.as_str())
            .execute(pool)
            .await
            .unwrap();
    });
    entities[4].name = "=HYPERLINK(\"x\")梨树".to_owned();

    let email = staff(&app, mine).await;
    let b = browser(&app, &email).await;
    let total = |doc: &Html| num(doc, "#total");

    let (status, all) = get_page(&app, &b, "/staff/entities").await;
    assert_eq!(status, 200);
    assert_eq!(total(&all), 120);
    assert_eq!(texts(&all, "#entities tbody tr").len(), 50);

    // Township and kind: as many as the roster rows say.
    let township = entities[0].township_code.clone().unwrap();
    let expected = entities
        .iter()
        .filter(|e| e.township_code.as_deref() == Some(township.as_str()))
        .count() as i64;
    let (_, doc) = get_page(&app, &b, &format!("/staff/entities?township={township}")).await;
    assert_eq!(total(&doc), expected);
    let options: Vec<String> = {
        let sel = scraper::Selector::parse("#f-township option").unwrap();
        doc.select(&sel)
            .filter_map(|o| o.value().attr("value").map(str::to_owned))
            .filter(|v| !v.is_empty())
            .collect()
    };
    let mut townships: Vec<String> = entities
        .iter()
        .filter_map(|e| e.township_code.clone())
        .collect();
    townships.sort();
    townships.dedup();
    assert_eq!(options, townships);
    let kind = entities[0].kind.as_str();
    let expected = entities.iter().filter(|e| e.kind.as_str() == kind).count() as i64;
    let (_, doc) = get_page(&app, &b, &format!("/staff/entities?kind={kind}")).await;
    assert_eq!(total(&doc), expected);

    // Last contact.
    let (_, doc) = get_page(&app, &b, "/staff/entities?contact=never").await;
    assert_eq!(total(&doc), 117);
    let (_, doc) = get_page(&app, &b, "/staff/entities?contact=stale").await;
    assert_eq!(
        texts(&doc, "#entities td.uscc"),
        [entities[0].uscc.as_str()]
    );
    let (_, doc) = get_page(&app, &b, "/staff/entities?contact=recent").await;
    assert_eq!(
        texts(&doc, "#entities td.uscc"),
        [entities[1].uscc.as_str()]
    );

    // Stage.
    let (_, doc) = get_page(&app, &b, "/staff/entities?stage=started").await;
    assert_eq!(
        texts(&doc, "#entities td.uscc"),
        [entities[3].uscc.as_str()]
    );

    // Search: part of a name, and the start of a USCC.
    let part: String = entities[7].name.chars().skip(1).take(4).collect();
    let expected = entities.iter().filter(|e| e.name.contains(&part)).count() as i64;
    let (_, doc) = get_page(&app, &b, &format!("/staff/entities?q={}", urlencode(&part))).await;
    assert_eq!(total(&doc), expected);
    assert!(texts(&doc, "#entities td.name").contains(&entities[7].name));
    let prefix = &entities[9].uscc.as_str()[..12];
    let expected = entities
        .iter()
        .filter(|e| e.uscc.as_str().starts_with(prefix))
        .count() as i64;
    let (_, doc) = get_page(&app, &b, &format!("/staff/entities?q={prefix}")).await;
    assert_eq!(total(&doc), expected);

    // Bad values are ignored with a notice, never an error.
    let (status, doc) = get_page(
        &app,
        &b,
        "/staff/entities?stage=bogus&township=999999&kind=x&contact=soon&sort=zz&page=abc",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(total(&doc), 120);
    assert_eq!(texts(&doc, "p.notice").len(), 6);
    // Another department's township is not an option either.
    let (status, doc) = get_page(&app, &b, "/staff/entities?page=99").await;
    assert_eq!(status, 200);
    assert_eq!(texts(&doc, "#entities tbody tr").len(), 20);

    // Sorting by USCC both ways, and by last contact.
    let mut usccs: Vec<String> = entities
        .iter()
        .map(|e| e.uscc.as_str().to_owned())
        .collect();
    usccs.sort();
    let (_, doc) = get_page(&app, &b, "/staff/entities?sort=uscc").await;
    assert_eq!(texts(&doc, "#entities td.uscc"), usccs[..50]);
    let (_, doc) = get_page(&app, &b, "/staff/entities?sort=uscc&dir=desc").await;
    let desc: Vec<String> = usccs.iter().rev().cloned().collect();
    assert_eq!(texts(&doc, "#entities td.uscc"), desc[..50]);
    // Page links keep the filters; page 2 continues where page 1 stopped.
    let next = attr(&doc, "a[rel=next]", "href").unwrap();
    assert_eq!(next, "/staff/entities?dir=desc&sort=uscc&page=2");
    let (_, doc2) = get_page(&app, &b, &next).await;
    assert_eq!(texts(&doc2, "#entities td.uscc"), desc[50..100]);
    let pages: Vec<String> = texts(&doc2, ".ws-pages a.page, .ws-pages .current");
    assert_eq!(pages, ["1", "2", "3"]);
    let (_, doc) = get_page(&app, &b, "/staff/entities?sort=last_contact&dir=desc").await;
    let first3: Vec<String> = texts(&doc, "#entities td.uscc")
        .into_iter()
        .take(3)
        .collect();
    assert_eq!(
        first3,
        [
            entities[1].uscc.as_str(),
            entities[2].uscc.as_str(),
            entities[0].uscc.as_str()
        ]
    );

    // CSV export of a filtered list: BOM, header, every row, the formula defused.
    let resp = b
        .get(app.url("/staff/entities?contact=never&sort=uscc&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment; filename=\"entities-"));
    assert!(disposition.ends_with(".csv\""));
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "统一社会信用代码",
            "名称",
            "类型",
            "乡镇",
            "阶段",
            "最近联系",
            "下次跟进"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut never: Vec<&RosterEntry> = entities
        .iter()
        .filter(|e| ![0, 1, 2].iter().any(|i| entities[*i].uscc == e.uscc))
        .collect();
    never.sort_by(|a, b| a.uscc.as_str().cmp(b.uscc.as_str()));
    assert_eq!(rows.len(), never.len());
    for (row, e) in rows.iter().zip(&never) {
        assert_eq!(&row[0], e.uscc.as_str());
        assert_eq!(&row[5], "从未联系");
    }
    let defused = rows
        .iter()
        .find(|r| &r[0] == entities[4].uscc.as_str())
        .unwrap();
    assert_eq!(&defused[1], "'=HYPERLINK(\"x\")梨树");
    let started = rows
        .iter()
        .find(|r| &r[0] == entities[3].uscc.as_str())
        .unwrap();
    assert_eq!(&started[4], "已开始登记");

    // XLSX export of the whole list reads back with calamine.
    let resp = b
        .get(app.url("/staff/entities?sort=uscc&format=xlsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".xlsx\"")
    );
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows.len(), 121);
    assert_eq!(rows[0][0], "统一社会信用代码");
    let column: Vec<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(column, usccs);
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A form body as a browser sends it.
type Form = Vec<(&'static str, String)>;

/// The outreach form's fields, as a browser sends them.
fn outreach_form(
    csrf: &str,
    channel: &str,
    outcome: &str,
    note: &str,
    on: &str,
    next: &str,
) -> Form {
    vec![
        ("csrf", csrf.to_owned()),
        ("channel", channel.to_owned()),
        ("outcome", outcome.to_owned()),
        ("note", note.to_owned()),
        ("contacted_on", on.to_owned()),
        ("follow_up_on", next.to_owned()),
    ]
}

#[tokio::test]
async fn outreach_is_recorded_checked_and_followed_up() {
    let app = TestApp::spawn().await;
    let (mine, _) = two_departments(&app).await;
    let entities = assigned_entities(&app, mine, 6, 701).await;
    let email = staff(&app, mine).await;
    let me = account_id(&app, &email).await;
    let b = browser(&app, &email).await;
    let today = xinyidai::clock::today();
    let id = entity_id(&app, &entities[0]).await;
    let path = format!("/staff/entities/{id}");
    let (status, page) = get_page(&app, &b, &path).await;
    assert_eq!(status, 200);
    assert_eq!(texts(&page, "#history li.outreach").len(), 0);
    let token_ = csrf(&page);

    let resp = b
        .post(app.url(&format!("{path}/outreach")))
        .form(&outreach_form(
            &token_,
            "phone",
            "will_register",
            "  法人同意下周来登记  ",
            &day(today - Duration::days(2)),
            &day(today),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{path}?done=recorded")),
        "{location}"
    );
    // An older contact afterwards: listed below, and the last contact stays the newer one.
    let resp = b
        .post(app.url(&format!("{path}/outreach")))
        .form(&outreach_form(
            &token_,
            "visit",
            "no_answer",
            "",
            &day(today - Duration::days(5)),
            "",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);

    let (_, page) = get_page(&app, &b, &location).await;
    assert_eq!(text(&page, "#notice"), "已记录本次联系。");
    assert_eq!(texts(&page, "#history .channel"), ["电话", "上门"]);
    assert_eq!(
        texts(&page, "#history .outcome"),
        ["同意登记", "未接通/未见到"]
    );
    assert_eq!(texts(&page, "#history .who"), ["测试人员", "测试人员"]);
    assert_eq!(
        texts(&page, "#history .day"),
        [
            day(today - Duration::days(2)),
            day(today - Duration::days(5))
        ]
    );
    assert_eq!(texts(&page, "#history .note"), ["法人同意下周来登记"]);
    assert_eq!(text(&page, "#last-contact"), day(today - Duration::days(2)));
    let last: Option<OffsetDateTime> = on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT last_contact_at FROM entities WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(calendar::day_of(last.unwrap()), today - Duration::days(2));
    let audits = audit_rows(&app, "outreach.recorded").await;
    assert_eq!(audits.len(), 2);
    let (actor, subject, detail) = &audits[0];
    assert_eq!(actor, &format!("account:{me}"));
    assert_eq!(subject, &format!("entity:{id}"));
    let detail: Value = serde_json::from_str(detail).unwrap();
    assert_eq!(detail["channel"], "phone");
    assert_eq!(detail["outcome"], "will_register");
    assert!(!audits[0].2.contains("法人"), "no note in the audit log");

    // Every bad field: its Chinese error next to it, 422, values kept, nothing written.
    let before = (
        count(&app, "SELECT COUNT(*) FROM outreach").await,
        count(&app, "SELECT COUNT(*) FROM audit_log").await,
    );
    let long = "备".repeat(501);
    let future = day(today + Duration::days(1));
    let cases: Vec<(&str, Form, &str)> = vec![
        (
            "channel",
            outreach_form(&token_, "", "reached", "留言", "", ""),
            "请选择联系方式。",
        ),
        (
            "channel",
            outreach_form(&token_, "fax", "reached", "留言", "", ""),
            "联系方式无效，请从列表中选择。",
        ),
        (
            "outcome",
            outreach_form(&token_, "phone", "", "留言", "", ""),
            "请选择联系结果。",
        ),
        (
            "outcome",
            outreach_form(&token_, "phone", "maybe", "留言", "", ""),
            "联系结果无效，请从列表中选择。",
        ),
        (
            "note",
            outreach_form(&token_, "phone", "reached", &long, "", ""),
            "备注不能超过500字，请精简后再提交。",
        ),
        (
            "contacted_on",
            outreach_form(&token_, "phone", "reached", "留言", &future, ""),
            "联系日期不能晚于今天。",
        ),
        (
            "contacted_on",
            outreach_form(&token_, "phone", "reached", "留言", "2019-12-31", ""),
            "联系日期不能早于2020年1月1日。",
        ),
        (
            "contacted_on",
            outreach_form(&token_, "phone", "reached", "留言", "昨天", ""),
            "联系日期格式不正确，请按“2026-01-31”的格式填写。",
        ),
        (
            "follow_up_on",
            outreach_form(
                &token_,
                "phone",
                "reached",
                "留言",
                &day(today - Duration::days(1)),
                &day(today - Duration::days(3)),
            ),
            "下次跟进日期不能早于联系日期。",
        ),
        (
            "follow_up_on",
            outreach_form(&token_, "phone", "reached", "留言", "", "下周"),
            "下次跟进日期格式不正确，请按“2026-01-31”的格式填写。",
        ),
    ];
    for (field, form, message) in cases {
        let resp = b
            .post(app.url(&format!("{path}/outreach")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422, "{field}: {message}");
        let page = Html::parse_document(&resp.text().await.unwrap());
        assert_eq!(text(&page, &format!("#{field}-error")), message);
        assert_eq!(texts(&page, "p.error").len(), 1, "{field}");
        let note = form.iter().find(|(k, _)| *k == "note").unwrap().1.clone();
        assert_eq!(text(&page, "textarea#note"), note.trim());
    }
    let after = (
        count(&app, "SELECT COUNT(*) FROM outreach").await,
        count(&app, "SELECT COUNT(*) FROM audit_log").await,
    );
    assert_eq!(before, after);

    // The API: 201, and 422 with a code per field, nothing written.
    let t = bearer(&app, &email).await;
    let api_path = format!("/api/v1/staff/entities/{id}/outreach");
    let (status, body) = api_post(
        &app,
        &api_path,
        Some(&t),
        &json!({"channel": "wechat", "outcome": "reached", "note": "微信联系", "follow_up_on": day(today + Duration::days(2))}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].as_i64().unwrap() > 0);
    let (status, body) = api_post(
        &app,
        &api_path,
        Some(&t),
        &json!({"channel": "fax", "note": long, "contacted_on": future, "follow_up_on": "x"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"errors": {
            "channel": ["invalid"], "outcome": ["required"], "note": ["too_long"],
            "contacted_on": ["in_future"], "follow_up_on": ["invalid"]
        }})
    );
    let (status, detail) = api_get(&app, &format!("/api/v1/staff/entities/{id}"), Some(&t)).await;
    assert_eq!(status, 200);
    let channels: Vec<&str> = detail["outreach"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["wechat", "phone", "visit"]);
    assert_eq!(detail["stage"], "not_started");
    assert_eq!(detail["registration"], Value::Null);

    // Follow-ups: the latest outreach of each entity decides.
    let record = |i: usize, on: time::Date, next: Option<time::Date>| {
        let app = &app;
        let entities = &entities;
        async move {
            let new = store::outreach::NewOutreach {
                channel: store::outreach::Channel::Phone,
                outcome: store::outreach::ContactOutcome::Reached,
                note: format!("第{i}家"),
                contacted_on: on,
                follow_up_on: next,
            };
            let id = entity_id(app, &entities[i]).await;
            store::outreach::record(&app.db, id, mine, me, &new)
                .await
                .unwrap()
                .unwrap();
        }
    };
    // 1: overdue by three days; 2: due today; 3: tomorrow (not yet).
    record(
        1,
        today - Duration::days(6),
        Some(today - Duration::days(3)),
    )
    .await;
    record(2, today - Duration::days(1), Some(today)).await;
    record(3, today, Some(today + Duration::days(1))).await;
    // 4: was due, but a newer contact without a follow-up replaced it.
    record(
        4,
        today - Duration::days(6),
        Some(today - Duration::days(4)),
    )
    .await;
    record(4, today - Duration::days(1), None).await;
    // 5: due, but already onboarded.
    record(
        5,
        today - Duration::days(6),
        Some(today - Duration::days(2)),
    )
    .await;
    let owner = owner_account(&app).await;
    seed_registration(&app, owner, &entities[5], Seed::Synced(1), "13800000000").await;

    let (status, page) = get_page(&app, &b, "/staff/follow-ups").await;
    assert_eq!(status, 200);
    let expected_ids = [
        entity_id(&app, &entities[1]).await.to_string(),
        entity_id(&app, &entities[2]).await.to_string(),
    ];
    let sel = scraper::Selector::parse("#follow-ups tbody tr").unwrap();
    let ids: Vec<String> = page
        .select(&sel)
        .map(|tr| tr.value().attr("data-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected_ids);
    assert_eq!(texts(&page, "#follow-ups .note"), ["第1家", "第2家"]);
    assert_eq!(texts(&page, "#follow-ups .late"), ["逾期 3 天"]);
    assert_eq!(texts(&page, "#follow-ups .who"), ["测试人员", "测试人员"]);
    let (_, home) = get_page(&app, &b, "/staff").await;
    assert_eq!(num(&home, "#follow-ups-due"), 2);
    let (status, due) = api_get(&app, "/api/v1/staff/follow-ups", Some(&t)).await;
    assert_eq!(status, 200);
    let api_ids: Vec<String> = due["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["entity_id"].as_i64().unwrap().to_string())
        .collect();
    assert_eq!(api_ids, expected_ids);
    assert_eq!(due["items"][0]["overdue_days"], 3);
}

#[tokio::test]
async fn contact_details_are_shown_on_request_and_audited() {
    let app = TestApp::spawn().await;
    let (mine, _) = two_departments(&app).await;
    let entities = assigned_entities(&app, mine, 2, 801).await;
    let owner = owner_account(&app).await;
    seed_registration(&app, owner, &entities[0], Seed::Signed, "13912345678").await;
    let email = staff(&app, mine).await;
    let me = account_id(&app, &email).await;
    let b = browser(&app, &email).await;
    let id = entity_id(&app, &entities[0]).await;
    let path = format!("/staff/entities/{id}");
    let (status, page) = get_page(&app, &b, &path).await;
    assert_eq!(status, 200);
    let html = page.html();
    assert!(!html.contains("13912345678"));
    assert!(!html.contains(&entities[0].legal_rep));
    assert_eq!(
        text(&page, "#legal-rep"),
        xinyidai::domain::person_name::mask(&entities[0].legal_rep)
    );
    assert_eq!(text(&page, "#stage"), "已签协议");
    assert_eq!(text(&page, "#signed"), "已签署");
    assert!(audit_rows(&app, "personal_data.viewed").await.is_empty());

    let resp = b
        .post(app.url(&format!("{path}/reveal")))
        .form(&[("csrf", csrf(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let page = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(text(&page, "#mobile"), "13912345678");
    assert_eq!(text(&page, "#legal-rep-name"), entities[0].legal_rep);
    let rows = audit_rows(&app, "personal_data.viewed").await;
    assert_eq!(rows.len(), 1);
    let (actor, subject, detail) = &rows[0];
    assert_eq!(actor, &format!("account:{me}"));
    assert_eq!(subject, &format!("entity:{id}"));
    let detail: Value = serde_json::from_str(detail).unwrap();
    assert_eq!(detail, json!({"fields": ["mobile", "legal_rep_name"]}));

    // An entity without a registration has nothing to show, and nothing is audited.
    let unregistered = entity_id(&app, &entities[1]).await;
    let (_, page) = get_page(&app, &b, &format!("/staff/entities/{unregistered}")).await;
    assert!(texts(&page, "form#reveal").is_empty());
    assert_eq!(text(&page, "#not-registered"), "尚未登记。");
}

#[tokio::test]
async fn another_departments_entity_is_not_found_on_every_route() {
    let app = TestApp::spawn().await;
    let (mine, other) = two_departments(&app).await;
    let my_entities = assigned_entities(&app, mine, 2, 901).await;
    let their_entities = assigned_entities(&app, other, 2, 902).await;
    let owner = owner_account(&app).await;
    seed_registration(&app, owner, &my_entities[0], Seed::Verified, "13700000001").await;
    seed_registration(
        &app,
        owner,
        &their_entities[0],
        Seed::Verified,
        "13700000002",
    )
    .await;
    let ours = entity_id(&app, &my_entities[0]).await;
    let theirs = entity_id(&app, &their_entities[0]).await;
    let email = staff(&app, mine).await;
    let b = browser(&app, &email).await;
    let t = bearer(&app, &email).await;
    let (_, home) = get_page(&app, &b, "/staff").await;
    let token_ = csrf(&home);
    let today = day(xinyidai::clock::today());
    let form = outreach_form(&token_, "phone", "reached", "", &today, "");
    let api_body = json!({"channel": "phone", "outcome": "reached"});

    let outreach_before = count(&app, "SELECT COUNT(*) FROM outreach").await;
    let audit_before = count(&app, "SELECT COUNT(*) FROM audit_log").await;
    for id in [
        theirs.to_string(),
        "999999".to_owned(),
        "abc".to_owned(),
        "-1".to_owned(),
    ] {
        let path = format!("/staff/entities/{id}");
        let (status, _) = get_page(&app, &b, &path).await;
        assert_eq!(status, 404, "GET {path}");
        let resp = b
            .post(app.url(&format!("{path}/outreach")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "POST {path}/outreach");
        let resp = b
            .post(app.url(&format!("{path}/reveal")))
            .form(&[("csrf", token_.clone())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "POST {path}/reveal");
        let (status, body) = api_get(&app, &format!("/api/v1/staff/entities/{id}"), Some(&t)).await;
        assert_eq!(status, 404, "API GET {id}");
        assert_eq!(body["error"], "not_found");
        let (status, _) = api_post(
            &app,
            &format!("/api/v1/staff/entities/{id}/outreach"),
            Some(&t),
            &api_body,
        )
        .await;
        assert_eq!(status, 404, "API POST {id}");
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outreach").await,
        outreach_before
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM audit_log").await,
        audit_before
    );

    // Nor does it show in lists, searches, exports or follow-ups.
    let their_uscc = their_entities[0].uscc.as_str();
    let (_, doc) = get_page(&app, &b, &format!("/staff/entities?q={their_uscc}")).await;
    assert_eq!(num(&doc, "#total"), 0);
    let (_, doc) = get_page(&app, &b, "/staff/entities").await;
    assert_eq!(num(&doc, "#total"), 2);
    let csv_body = b
        .get(app.url("/staff/entities?format=csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!csv_body.contains(their_uscc));
    assert!(csv_body.contains(my_entities[0].uscc.as_str()));
    let (_, list) = api_get(
        &app,
        &format!("/api/v1/staff/entities?q={their_uscc}"),
        Some(&t),
    )
    .await;
    assert_eq!(list["total"], 0);

    // The same routes work for the department's own entity.
    let path = format!("/staff/entities/{ours}");
    let (status, _) = get_page(&app, &b, &path).await;
    assert_eq!(status, 200);
    let resp = b
        .post(app.url(&format!("{path}/outreach")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let resp = b
        .post(app.url(&format!("{path}/reveal")))
        .form(&[("csrf", token_.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (status, detail) = api_get(&app, &format!("/api/v1/staff/entities/{ours}"), Some(&t)).await;
    assert_eq!(status, 200);
    assert_eq!(detail["uscc"], my_entities[0].uscc.as_str());
    assert_eq!(detail["stage"], "verified");
    assert_eq!(detail["registration"]["verification"], "matched");
    assert_eq!(detail["registration"]["agreement_signed"], false);
    assert!(
        !detail.to_string().contains("13700000001"),
        "no mobile in the API"
    );
    let (status, _) = api_post(
        &app,
        &format!("/api/v1/staff/entities/{ours}/outreach"),
        Some(&t),
        &api_body,
    )
    .await;
    assert_eq!(status, 201);
    let (status, list) = api_get(
        &app,
        "/api/v1/staff/entities?sort=uscc&per_page=1&page=2",
        Some(&t),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let mut mine_usccs: Vec<&str> = my_entities.iter().map(|e| e.uscc.as_str()).collect();
    mine_usccs.sort();
    assert_eq!(list["items"][0]["uscc"], mine_usccs[1]);

    // The API: 401 without a token, 404 for an owner's token, on every route.
    let owner_email = unique_address();
    let resp = app
        .client
        .post(app.url("/api/v1/registrations"))
        .json(&json!({
            "uscc": my_entities[1].uscc.as_str(),
            "entity_name": my_entities[1].name,
            "legal_rep_name": my_entities[1].legal_rep,
            "legal_rep_id_number": crate::registration::id_number(41),
            "mobile": "13800138000",
            "email": owner_email,
            "password": "Owner-pass-2026",
            "agree_personal_info": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let owner_token = token(&app, &owner_email, "Owner-pass-2026").await;
    let gets = [
        "/api/v1/staff/progress".to_owned(),
        "/api/v1/staff/entities".to_owned(),
        format!("/api/v1/staff/entities/{ours}"),
        "/api/v1/staff/follow-ups".to_owned(),
    ];
    for path in &gets {
        assert_eq!(api_get(&app, path, None).await.0, 401, "{path}");
        assert_eq!(
            api_get(&app, path, Some(&owner_token)).await.0,
            404,
            "{path}"
        );
        assert_eq!(api_get(&app, path, Some(&t)).await.0, 200, "{path}");
    }
    let post = format!("/api/v1/staff/entities/{ours}/outreach");
    assert_eq!(api_post(&app, &post, None, &api_body).await.0, 401);
    assert_eq!(
        api_post(&app, &post, Some(&owner_token), &api_body).await.0,
        404
    );

    // The owner's browser cannot open the workspace pages either.
    let (owner_browser, _, _) =
        crate::registration::login_response(&app, &owner_email, "Owner-pass-2026").await;
    for path in [
        "/staff",
        "/staff/entities",
        "/staff/follow-ups",
        &format!("/staff/entities/{ours}"),
    ] {
        let (status, _) = get_page(&app, &owner_browser, path).await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_staff_paths() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    for path in [
        "/api/v1/staff/progress",
        "/api/v1/staff/entities",
        "/api/v1/staff/entities/{id}",
        "/api/v1/staff/entities/{id}/outreach",
        "/api/v1/staff/follow-ups",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(
        doc["paths"]["/api/v1/staff/entities/{id}/outreach"]["post"]["responses"]["422"]
            .is_object()
    );
    assert!(doc["components"]["schemas"]["OutreachRequest"].is_object());
}
