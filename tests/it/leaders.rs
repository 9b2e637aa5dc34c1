//! The leaders' league tables through the real server: ranks and rates per table from seeded
//! stages (bureaus, township departments and financial institutions ranked apart), the
//! townships and a city's counties, a past day shown exactly as its snapshot recorded it, the
//! change since last week and the projection, the XLSX export, and who may open `/leaders` and
//! `/screen`.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use scraper::{Html, Selector};
use time::{Date, Duration, OffsetDateTime};
use xinyidai::domain::assignment_rule::TargetAmount;
use xinyidai::domain::calendar;
use xinyidai::store::accounts::Role;
use xinyidai::store::departments::{DepartmentKind, NewDepartment};
use xinyidai::store::league::Trigger;
use xinyidai::{on_pool, store};

use crate::helpers::{TestApp, attr, text, texts};
use crate::mailbox::unique_address;
use crate::people::{COUNTY, assigned_entities, browser, departments, get_page, official, staff};

/// Where a seeded entity stands.
#[derive(Clone, Copy, Debug)]
enum At {
    NotStarted,
    Started,
    Verified,
    Synced,
    Rejected,
}

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

/// Puts entity `id` at `at` (writing or rewriting its registration directly).
async fn set_stage(app: &TestApp, owner: i64, id: i64, at: At) {
    let (verification, sync) = match at {
        At::NotStarted => {
            on_pool!(&app.db, |pool| {
                sqlx::query("DELETE FROM registrations WHERE entity_id = $1")
                    .bind(id)
                    .execute(pool)
                    .await
                    .unwrap();
            });
            return;
        }
        At::Started => ("review_requested", "pending"),
        At::Verified => ("matched", "pending"),
        At::Synced => ("matched", "accepted"),
        At::Rejected => ("rejected", "pending"),
    };
    let now = OffsetDateTime::now_utc();
    on_pool!(&app.db, |pool| {
        let updated = sqlx::query(
            "UPDATE registrations SET verification = $1, sync_state = $2 WHERE entity_id = $3",
        )
        .bind(verification)
        .bind(sync)
        .bind(id)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
        if updated == 0 {
            sqlx::query(
                "INSERT INTO registrations (account_id, uscc, entity_id, entity_name,
                     legal_rep_name, legal_rep_id_sealed, legal_rep_id_lookup,
                     legal_rep_id_masked, mobile, verification, personal_info_consent_at,
                     sync_state, created_at, updated_at)
                 SELECT $1, e.uscc, e.id, e.name, e.legal_rep, $2, 'lookup-' || e.uscc,
                        '2203**********1234', '13800000000', $3, $4, $5, $4, $4
                 FROM entities e WHERE e.id = $6",
            )
            .bind(owner)
            .bind(vec![1u8, 2, 3])
            .bind(verification)
            .bind(now)
            .bind(sync)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
        }
    });
}

/// Entity ids of a department, oldest first.
async fn entity_ids(app: &TestApp, department_id: i64) -> Vec<i64> {
    on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT id FROM entities WHERE department_id = $1 ORDER BY id")
            .bind(department_id)
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

async fn exec(app: &TestApp, sql: &str, value: &str, id: i64) {
    on_pool!(&app.db, |pool| {
        sqlx::query(sql)
            .bind(value)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    });
}

/// A department's entities in `township`, at the given stages (one entity per element).
async fn seed(
    app: &TestApp,
    owner: i64,
    department_id: i64,
    township: &str,
    stages: &[At],
    seed: u64,
) -> Vec<i64> {
    assigned_entities(app, department_id, stages.len(), seed).await;
    let ids = entity_ids(app, department_id).await;
    for (id, at) in ids.iter().zip(stages) {
        set_stage(app, owner, *id, *at).await;
        exec(
            app,
            "UPDATE entities SET township_code = $1 WHERE id = $2",
            township,
            *id,
        )
        .await;
    }
    ids
}

fn stages(synced: usize, other: &[At], not_started: usize) -> Vec<At> {
    let mut out = vec![At::Synced; synced];
    out.extend_from_slice(other);
    out.extend(std::iter::repeat_n(At::NotStarted, not_started));
    out
}

/// One parsed line of a league table.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    rank: usize,
    name: String,
    assigned: i64,
    stages: Vec<i64>,
    rate: String,
    target: String,
    change: String,
    projection: String,
}

/// The lines of table `slug` by key; `None` when the page has no such table.
fn table(page: &Html, slug: &str) -> Option<BTreeMap<String, Line>> {
    let sel = Selector::parse(&format!("#table-{slug} tbody tr")).unwrap();
    let cell = |row: scraper::ElementRef<'_>, css: &str| -> Vec<String> {
        let s = Selector::parse(css).unwrap();
        row.select(&s)
            .map(|e| e.text().collect::<String>().trim().to_owned())
            .collect()
    };
    let section = Selector::parse(&format!("#table-{slug}")).unwrap();
    page.select(&section).next()?;
    Some(
        page.select(&sel)
            .map(|row| {
                let key = row.value().attr("data-key").unwrap().to_owned();
                let line = Line {
                    rank: cell(row, "td.rank")[0].parse().unwrap(),
                    name: cell(row, "th.name")[0].clone(),
                    assigned: cell(row, "td.assigned")[0].parse().unwrap(),
                    stages: cell(row, "td.stage")
                        .iter()
                        .map(|s| s.parse().unwrap())
                        .collect(),
                    rate: cell(row, "td.rate .pct")[0].clone(),
                    target: cell(row, "td.target")[0].clone(),
                    change: cell(row, "td.change")[0].clone(),
                    projection: cell(row, "td.projection")[0].clone(),
                };
                (key, line)
            })
            .collect(),
    )
}

fn pct(onboarded: i64, assigned: i64) -> String {
    format!("{:.1}%", onboarded as f64 * 100.0 / assigned as f64)
}

/// 梨树县's departments of a kind (bureaus and townships from the seed; financial ones added).
struct Deps {
    bureaus: Vec<(i64, String)>,
    townships: Vec<(i64, String)>,
    financial: Vec<(i64, String)>,
    /// Two township codes of 梨树县.
    areas: Vec<String>,
}

async fn deps(app: &TestApp) -> Deps {
    let all = departments(app).await;
    for name in ["农业银行梨树支行", "吉林银行梨树支行"] {
        store::departments::create(
            &app.db,
            &NewDepartment {
                county_code: COUNTY,
                name,
                kind: DepartmentKind::Financial,
                township_code: None,
                actor: "cli",
            },
        )
        .await
        .unwrap();
    }
    let all_with_financial = store::departments::list(&app.db, COUNTY).await.unwrap();
    let of = |kind: &str| {
        all_with_financial
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| (d.id, d.name.clone()))
            .collect::<Vec<_>>()
    };
    let areas = all
        .iter()
        .filter_map(|d| d.township_code.clone())
        .take(3)
        .collect();
    Deps {
        bureaus: of("bureau"),
        townships: of("township"),
        financial: of("financial"),
        areas,
    }
}

/// The seed every table test starts from (see the numbers in each comment), rebuilt into the
/// read model.
async fn seed_league(app: &TestApp, d: &Deps) {
    let owner = owner_account(app).await;
    let (a, b, c) = (&d.areas[0], &d.areas[1], &d.areas[2]);
    // Bureaus: 5/10 and 2/4 tie at 50 %; 1/5 is third; the other four have nothing (0 %).
    seed(app, owner, d.bureaus[0].0, a, &stages(5, &[], 5), 11).await;
    seed(
        app,
        owner,
        d.bureaus[1].0,
        b,
        &stages(2, &[At::Started], 1),
        12,
    )
    .await;
    let b2 = seed(
        app,
        owner,
        d.bureaus[2].0,
        b,
        &stages(1, &[At::Started, At::Verified, At::Rejected, At::Synced], 1),
        13,
    )
    .await;
    // Its second accepted one is 注销: counted nowhere, so b2 is 1/5.
    exec(
        app,
        "UPDATE entities SET status = $1 WHERE id = $2",
        "cancelled",
        b2[4],
    )
    .await;
    // Township departments: 3/3, then 2/6.
    seed(app, owner, d.townships[0].0, a, &stages(3, &[], 0), 14).await;
    seed(app, owner, d.townships[1].0, c, &stages(2, &[], 4), 15).await;
    // Financial: 1/1 before 1/4.
    seed(app, owner, d.financial[0].0, c, &stages(1, &[], 3), 16).await;
    seed(app, owner, d.financial[1].0, c, &stages(1, &[], 0), 17).await;
    store::league::rebuild(&app.db).await.unwrap();
}

async fn leader(app: &TestApp) -> reqwest::Client {
    let email = official(app, Role::Leader, None, false).await;
    browser(app, &email).await
}

#[tokio::test]
async fn each_kind_is_ranked_in_its_own_table() {
    let app = TestApp::spawn().await;
    let d = deps(&app).await;
    seed_league(&app, &d).await;
    let leader = leader(&app).await;
    let (status, page) = get_page(&app, &leader, "/leaders").await;
    assert_eq!(status, 200);

    let bureaus = table(&page, "bureaus").unwrap();
    assert_eq!(bureaus.len(), d.bureaus.len());
    let b = |i: usize| &bureaus[&d.bureaus[i].0.to_string()];
    assert_eq!(
        (b(0).rank, b(0).assigned, b(0).rate.as_str()),
        (1, 10, "50.0%")
    );
    assert_eq!(
        (b(1).rank, b(1).assigned, b(1).rate.as_str()),
        (1, 4, "50.0%")
    );
    assert_eq!(
        (b(2).rank, b(2).assigned, b(2).rate.as_str()),
        (3, 5, "20.0%")
    );
    // Stages in order: not started, started, verified, signed, synced, rejected.
    assert_eq!(b(2).stages, [1, 1, 1, 0, 1, 1]);
    assert_eq!(b(1).stages, [1, 1, 0, 0, 2, 0]);
    for i in 3..d.bureaus.len() {
        assert_eq!(
            (b(i).rank, b(i).assigned, b(i).rate.as_str()),
            (4, 0, "0.0%")
        );
    }
    assert_eq!(b(0).name, d.bureaus[0].1);
    // Rows are in rank order, ties by name.
    let ranks: Vec<usize> = texts(&page, "#table-bureaus td.rank")
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");

    let towns = table(&page, "township-departments").unwrap();
    let t = |i: usize| &towns[&d.townships[i].0.to_string()];
    assert_eq!((t(0).rank, t(0).rate.clone()), (1, pct(3, 3)));
    assert_eq!((t(1).rank, t(1).rate.clone()), (2, pct(2, 6)));

    let fin = table(&page, "financial").unwrap();
    assert_eq!(fin.len(), 2);
    let f = |i: usize| &fin[&d.financial[i].0.to_string()];
    assert_eq!((f(1).rank, f(1).rate.clone()), (1, pct(1, 1)));
    assert_eq!((f(0).rank, f(0).rate.clone()), (2, pct(1, 4)));

    // The roster's townships: a = b0 + t0 (8/13), b = b1 + b2 (3/9), c = t1 + f0 + f1 (4/11).
    let areas = table(&page, "townships").unwrap();
    assert_eq!(areas.len(), 3);
    let area = |i: usize| &areas[&d.areas[i]];
    assert_eq!(
        (area(0).rank, area(0).assigned, area(0).rate.clone()),
        (1, 13, pct(8, 13))
    );
    assert_eq!(
        (area(2).rank, area(2).assigned, area(2).rate.clone()),
        (2, 11, pct(4, 11))
    );
    assert_eq!(
        (area(1).rank, area(1).assigned, area(1).rate.clone()),
        (3, 9, pct(3, 9))
    );
    assert!(!area(0).name.is_empty() && area(0).name != d.areas[0]);

    // A county deployment has no counties table; the total is the county's.
    assert!(table(&page, "counties").is_none());
    assert_eq!(text(&page, "#total-assigned"), "33");
    assert_eq!(text(&page, "#total-onboarded"), "15");
    assert_eq!(text(&page, "#total-rate"), pct(15, 33));
    assert!(text(&page, "#total h2").contains("梨树县"));
    // The print view drops the navigation and the form.
    let (_, print) = get_page(&app, &leader, "/leaders?print=1").await;
    assert!(texts(&print, "nav.area-nav").is_empty());
    assert!(texts(&print, "#date-form").is_empty());
    assert_eq!(table(&print, "bureaus"), Some(bureaus));
    app.stop().await;
}

#[tokio::test]
async fn a_city_sees_its_counties() {
    let app = TestApp::spawn_with(|s| s.jurisdiction = "220300".to_owned()).await;
    let d = deps(&app).await;
    seed_league(&app, &d).await;
    let leader = leader(&app).await;
    let (status, page) = get_page(&app, &leader, "/leaders").await;
    assert_eq!(status, 200);
    let counties = table(&page, "counties").expect("a counties table");
    assert!(counties.len() >= 2, "{counties:?}");
    let lishu = &counties[COUNTY];
    assert_eq!(
        (lishu.rank, lishu.assigned, lishu.rate.clone()),
        (1, 33, pct(15, 33))
    );
    assert_eq!(lishu.name, "梨树县");
    for (code, line) in &counties {
        if code != COUNTY {
            assert_eq!((line.rank, line.assigned), (2, 0), "{code}");
        }
    }
    // Departments of several counties are named with their county.
    let bureaus = table(&page, "bureaus").unwrap();
    let b0 = &bureaus[&d.bureaus[0].0.to_string()];
    assert_eq!(b0.name, format!("梨树县 · {}", d.bureaus[0].1));
    assert_eq!(text(&page, "#total-assigned"), "33");
    app.stop().await;
}

async fn set_target(app: &TestApp, department_id: i64, day: Date, n: i64) {
    store::assignments::set_target(
        &app.db,
        COUNTY,
        department_id,
        &calendar::period_of(day),
        TargetAmount::Count(n),
        day + Duration::days(30),
        "cli",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_past_day_shows_exactly_its_snapshot() {
    let app = TestApp::spawn().await;
    let d = deps(&app).await;
    seed_league(&app, &d).await;
    let today = xinyidai::clock::today();
    let past = today - Duration::days(3);
    let (b0, b0_name) = d.bureaus[0].clone();
    set_target(&app, b0, past, 8).await;
    store::league::take_snapshot(&app.db, past, Trigger::Manual)
        .await
        .unwrap();

    // Today: three more of b0 accepted, b0 renamed, its target changed.
    let owner = owner_account(&app).await;
    for id in &entity_ids(&app, b0).await[5..8] {
        set_stage(&app, owner, *id, At::Synced).await;
    }
    exec(
        &app,
        "UPDATE departments SET name = $1 WHERE id = $2",
        "发改局（新）",
        b0,
    )
    .await;
    set_target(&app, b0, past, 9).await;
    set_target(&app, b0, today, 9).await;
    // A department added since is not in the past day's table.
    let added = store::departments::create(
        &app.db,
        &NewDepartment {
            county_code: COUNTY,
            name: "邮储银行梨树支行",
            kind: DepartmentKind::Financial,
            township_code: None,
            actor: "cli",
        },
    )
    .await
    .unwrap()
    .to_string();
    store::league::rebuild(&app.db).await.unwrap();

    let leader = leader(&app).await;
    let path = format!("/leaders?date={past}");
    let (status, old) = get_page(&app, &leader, &path).await;
    assert_eq!(status, 200);
    let line = &table(&old, "bureaus").unwrap()[&b0.to_string()];
    assert_eq!(line.name, b0_name);
    assert_eq!(
        (line.assigned, line.stages[4], line.rate.as_str()),
        (10, 5, "50.0%")
    );
    assert_eq!(line.target, "5/8");
    assert_eq!(text(&old, "#total-onboarded"), "15");
    assert!(text(&old, "#as-of").contains("快照"));
    assert_eq!(attr(&old, "#date", "value").unwrap(), past.to_string());
    assert_eq!(table(&old, "financial").unwrap().len(), 2);
    assert!(!table(&old, "financial").unwrap().contains_key(&added));

    let (_, new) = get_page(&app, &leader, "/leaders").await;
    let line = &table(&new, "bureaus").unwrap()[&b0.to_string()];
    assert_eq!(line.name, "发改局（新）");
    assert_eq!((line.stages[4], line.rate.as_str()), (8, "80.0%"));
    assert_eq!(line.target, "8/9");
    assert_eq!(text(&new, "#total-onboarded"), "18");
    assert!(table(&new, "financial").unwrap().contains_key(&added));
    // b0 (80 %) now leads alone; b1 (50 %) is second.
    assert_eq!(line.rank, 1);
    assert_eq!(
        table(&new, "bureaus").unwrap()[&d.bureaus[1].0.to_string()].rank,
        2
    );

    // A day without a snapshot says so and links the nearest days that have one.
    let (status, none) = get_page(
        &app,
        &leader,
        &format!("/leaders?date={}", today - Duration::days(1)),
    )
    .await;
    assert_eq!(status, 200);
    assert!(text(&none, "#no-snapshot").contains("没有留存"));
    assert_eq!(texts(&none, "#nearest-days a"), [past.to_string()]);
    assert!(table(&none, "bureaus").is_none());
    // A malformed or future date is an inline error, today's tables shown.
    let resp = leader
        .get(app.url("/leaders?date=2026-13-45"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let bad = Html::parse_document(&resp.text().await.unwrap());
    assert!(text(&bad, "#date-error").contains("日期格式"));
    assert_eq!(attr(&bad, "#date", "value").unwrap(), "2026-13-45");
    let resp = leader
        .get(app.url(&format!("/leaders?date={}", today + Duration::days(1))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    app.stop().await;
}

#[tokio::test]
async fn change_since_last_week_and_projection() {
    let app = TestApp::spawn().await;
    let d = deps(&app).await;
    seed_league(&app, &d).await;
    let today = xinyidai::clock::today();
    let (b0, _) = d.bureaus[0];
    let (b1, _) = d.bureaus[1];
    // Two weeks and one week ago b0 had 2 of 10 onboarded (3 of its 5 rolled back for then).
    let owner = owner_account(&app).await;
    let ids = entity_ids(&app, b0).await;
    for id in &ids[2..5] {
        set_stage(&app, owner, *id, At::Verified).await;
    }
    store::league::rebuild(&app.db).await.unwrap();
    for days in [7, 14] {
        store::league::take_snapshot(&app.db, today - Duration::days(days), Trigger::Manual)
            .await
            .unwrap();
    }
    // Now 7 of 10: +50 pp in a week, a pace of 5 in 14 days; target 12 → 5 to go → 14 days.
    for id in &ids[2..7] {
        set_stage(&app, owner, *id, At::Synced).await;
    }
    set_target(&app, b0, today, 12).await;
    set_target(&app, b1, today, 2).await;
    store::league::rebuild(&app.db).await.unwrap();

    let leader = leader(&app).await;
    let (_, page) = get_page(&app, &leader, "/leaders").await;
    let bureaus = table(&page, "bureaus").unwrap();
    let line = &bureaus[&b0.to_string()];
    assert_eq!(line.rate, "70.0%");
    assert_eq!(line.change, "▲ 50.0");
    assert_eq!(line.target, "7/12");
    let on = today + Duration::days(14);
    let expected = if on.year() == today.year() {
        format!("{}月{}日", u8::from(on.month()), on.day())
    } else {
        format!("{}年{}月{}日", on.year(), u8::from(on.month()), on.day())
    };
    assert_eq!(line.projection, expected);
    // b1 unchanged since last week; its target (2) is already reached.
    let other = &bureaus[&b1.to_string()];
    assert_eq!(other.change, "持平");
    assert_eq!(other.projection, "已达成");
    // No target: no projection; a department without entities a week ago: no change.
    let third = &bureaus[&d.bureaus[3].0.to_string()];
    assert_eq!(
        (third.change.as_str(), third.projection.as_str()),
        ("—", "—")
    );
    // The county: 12 of 33 then, 17 now.
    let then = 12.0 * 100.0 / 33.0;
    let now = 17.0 * 100.0 / 33.0;
    assert_eq!(text(&page, "#total-change"), format!("▲ {:.1}", now - then));
    // The county's target is its departments' targets added up (12 + 2), already passed.
    assert_eq!(text(&page, "#total-target"), "17/14");
    assert_eq!(text(&page, "#total-projection"), "已达成");
    app.stop().await;
}

fn cell_number(c: &Data) -> f64 {
    match c {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

#[tokio::test]
async fn every_table_exports_to_xlsx() {
    let app = TestApp::spawn().await;
    let d = deps(&app).await;
    seed_league(&app, &d).await;
    let leader = leader(&app).await;
    let (_, page) = get_page(&app, &leader, "/leaders").await;
    let href = attr(&page, "#export-link", "href").unwrap();
    let resp = leader.get(app.url(&href)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".xlsx\"")
    );
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    let titles = texts(&page, "section.lead-table h2");
    let mut expected_sheets = titles.clone();
    expected_sheets.push("数据".to_owned());
    assert_eq!(book.sheet_names(), expected_sheets);
    let mut data_rows = 0;
    for (title, slug) in
        titles
            .iter()
            .zip(["bureaus", "township-departments", "financial", "townships"])
    {
        let on_page = table(&page, slug).unwrap();
        let sheet = book.worksheet_range(title).unwrap();
        let rows: Vec<&[Data]> = sheet.rows().collect();
        assert_eq!(rows[0][0].to_string(), "排名");
        assert_eq!(rows.len() - 1, on_page.len(), "{title}");
        for row in &rows[1..] {
            let name = row[1].to_string();
            let line = on_page.values().find(|l| l.name == name).unwrap();
            assert_eq!(cell_number(&row[0]) as usize, line.rank, "{name}");
            assert_eq!(cell_number(&row[2]) as i64, line.assigned, "{name}");
            let stages: Vec<i64> = row[3..9].iter().map(|c| cell_number(c) as i64).collect();
            assert_eq!(stages, line.stages, "{name}");
            assert_eq!(format!("{:.1}%", cell_number(&row[9])), line.rate, "{name}");
        }
        data_rows += on_page.len();
    }
    let data = book.worksheet_range("数据").unwrap();
    assert_eq!(data.rows().count() - 1, data_rows);
    app.stop().await;
}

const SCREEN_KEY: &str = "screen-key-0123456789";

#[tokio::test]
async fn the_screen_opens_with_its_key_or_a_leader() {
    let app = TestApp::spawn_with(|s| {
        s.screen_key = Some(xinyidai::config::Secret::new(SCREEN_KEY));
    })
    .await;
    let d = deps(&app).await;
    seed_league(&app, &d).await;
    let anonymous = app.new_client();
    let resp = anonymous
        .get(app.url(&format!("/screen?key={SCREEN_KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let screen = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(text(&screen, "#screen-rate"), pct(15, 33));
    assert_eq!(text(&screen, "#screen-onboarded"), "15");
    assert_eq!(
        attr(&screen, "meta[http-equiv=refresh]", "content").unwrap(),
        "60"
    );
    assert!(texts(&screen, "script").is_empty());
    // The top of each table, in rank order.
    let top: Vec<String> = texts(&screen, "#screen-bureaus td.name");
    assert_eq!(top.len(), d.bureaus.len().min(10));
    assert!(top[..2].contains(&d.bureaus[0].1) && top[..2].contains(&d.bureaus[1].1));

    let resp = anonymous.get(app.url("/screen")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/login?next=/screen");
    let resp = anonymous
        .get(app.url("/screen?key=wrong-key-0123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    let leader = leader(&app).await;
    let (status, page) = get_page(&app, &leader, "/screen").await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#screen-rate"), pct(15, 33));
    let staff_browser = browser(&app, &staff(&app, d.bureaus[0].0).await).await;
    let (status, _) = get_page(&app, &staff_browser, "/screen").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn only_leaders_and_admins_see_the_league() {
    let app = TestApp::spawn().await;
    let bureau = departments(&app).await[0].id;
    let anonymous = app.new_client();
    for path in ["/leaders", "/leaders/export.xlsx"] {
        let resp = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 303, "{path}");
        assert!(
            resp.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?next=/leaders"),
            "{path}"
        );
    }
    let staff_browser = browser(&app, &staff(&app, bureau).await).await;
    let owner = browser(&app, &official(&app, Role::Owner, None, false).await).await;
    for client in [&staff_browser, &owner] {
        for path in ["/leaders", "/leaders/export.xlsx", "/screen"] {
            let resp = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 404, "{path}");
        }
    }
    let admin = browser(&app, &official(&app, Role::Admin, None, false).await).await;
    let (status, page) = get_page(&app, &admin, "/leaders").await;
    assert_eq!(status, 200);
    // Nothing seeded yet: the total is zero, no department is missing its table.
    assert_eq!(text(&page, "#total-assigned"), "0");
    assert!(table(&page, "bureaus").is_some());
    assert!(table(&page, "financial").is_none());
    app.stop().await;
}

#[tokio::test]
async fn the_league_fits_a_phone_and_the_screen_fits_1080p() {
    let app = TestApp::spawn_with(|s| {
        s.screen_key = Some(xinyidai::config::Secret::new(SCREEN_KEY));
    })
    .await;
    let d = deps(&app).await;
    seed_league(&app, &d).await;
    let email = official(&app, Role::Leader, None, false).await;
    let Some(browser) = crate::browser::Browser::start(390, 844).await else {
        app.stop().await;
        return;
    };
    browser.goto(&app.url("/login")).await;
    browser.type_into("#email", &email).await;
    browser
        .type_into("#password", crate::people::OFFICIAL_PASSWORD)
        .await;
    let landed = browser
        .submit("form.login button[type=submit]", "/login")
        .await;
    assert_eq!(landed, "/leaders");
    // The tables are wider than a phone: they scroll in their own box, the page does not.
    assert!(!browser.overflows_sideways().await, "/leaders on a phone");
    let scrolls = browser
        .eval(
            "const b = document.querySelector('#table-bureaus .table-scroll');
             return b.scrollWidth > b.clientWidth",
        )
        .await;
    assert_eq!(scrolls.as_bool(), Some(true));
    browser.screenshot("leaders-phone").await;
    browser.resize(1280, 900).await;
    browser.goto(&app.url("/leaders")).await;
    browser.screenshot("leaders-desktop").await;

    browser.resize(1920, 1080).await;
    browser
        .goto(&app.url(&format!("/screen?key={SCREEN_KEY}")))
        .await;
    assert!(!browser.overflows_sideways().await, "screen sideways");
    // Everything on one screen: no part of the page below the fold, and the type is huge.
    let height = browser
        .eval("return document.documentElement.scrollHeight")
        .await;
    assert!(height.as_f64().unwrap() <= 1080.0, "screen height {height}");
    let last_row = browser
        .eval(
            "const rows = document.querySelectorAll('#screen-bureaus tr');
             return rows[rows.length - 1].getBoundingClientRect().bottom",
        )
        .await;
    assert!(last_row.as_f64().unwrap() <= 1080.0, "{last_row}");
    let rate_px = browser
        .eval(
            "return parseFloat(getComputedStyle(document.querySelector('#screen-rate')).fontSize)",
        )
        .await;
    assert!(rate_px.as_f64().unwrap() >= 60.0, "rate type {rate_px}");
    let png = browser.screenshot("screen-1080p").await;
    assert_eq!(crate::browser::png_size(&png).0, 1920);
    browser.quit().await;
    app.stop().await;
}
