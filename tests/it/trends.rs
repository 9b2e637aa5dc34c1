//! Leaders' trends: the daily snapshot (catch-up once, the command, the button), the SVG charts
//! drawn from the snapshots, and the leaders' weekly digest through the real SMTP server.

use std::collections::BTreeMap;

use scraper::Html;
use time::{Date, Duration, OffsetDateTime};
use xinyidai::config::DatabaseUrl;
use xinyidai::domain::assignment_rule::TargetAmount;
use xinyidai::domain::calendar;
use xinyidai::jobs::leaders_digest;
use xinyidai::jobs::staff_digest as digest;
use xinyidai::on_pool;
use xinyidai::report::charts::{Scale, nice_ceiling};
use xinyidai::security::id_vault::IdVault;
use xinyidai::store::accounts::{NewAccount, Role};
use xinyidai::store::league::{self, Trigger};
use xinyidai::store::{self, Db, digests};

use crate::digest::{account_id, mailer};
use crate::helpers::{TestApp, attr, fresh_database, texts};
use crate::mailbox::{Mailbox, smtp_url, unique_address};
use crate::people::{
    COUNTY, OFFICIAL_PASSWORD, browser, csrf, departments, get_page, official, staff,
};

/// Replaces the read model with `rows` of 梨树县: (department, stage, entities).
async fn set_counts(db: &Db, rows: &[(i64, &str, i64)]) {
    on_pool!(db, |pool| {
        sqlx::query("DELETE FROM league_counts")
            .execute(pool)
            .await
            .unwrap();
        for (department, stage, n) in rows {
            sqlx::query(
                "INSERT INTO league_counts
                     (county_code, township_code, department_id, kind, status, stage, n)
                 VALUES ($1, '', $2, 'enterprise', 'active', $3, $4)",
            )
            .bind(COUNTY)
            .bind(*department)
            .bind(*stage)
            .bind(*n)
            .execute(pool)
            .await
            .unwrap();
        }
    });
}

/// `onboarded` of `assigned` for each department.
fn rows_of(rates: &[(i64, i64, i64)]) -> Vec<(i64, &'static str, i64)> {
    rates
        .iter()
        .flat_map(|&(d, onboarded, assigned)| {
            [
                (d, "synced", onboarded),
                (d, "not_started", assigned - onboarded),
            ]
        })
        .filter(|(_, _, n)| *n > 0)
        .collect()
}

async fn audits(db: &Db, action: &str, subject: &str) -> Vec<String> {
    on_pool!(db, |pool| sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY id"
    )
    .bind(action)
    .bind(subject)
    .fetch_all(pool)
    .await
    .unwrap())
}

async fn runs(db: &Db, day: Date) -> Vec<(OffsetDateTime, String)> {
    on_pool!(db, |pool| sqlx::query_as(
        "SELECT taken_at, trigger FROM league_snapshot_runs WHERE day = $1"
    )
    .bind(day)
    .fetch_all(pool)
    .await
    .unwrap())
}

#[tokio::test]
async fn start_up_catches_up_yesterday_once_and_only_after_a_first_snapshot() {
    let app = TestApp::spawn().await;
    let now = OffsetDateTime::now_utc();
    let today = calendar::day_of(now);
    let yesterday = today - Duration::days(1);
    // A fresh deployment has missed nothing.
    assert_eq!(
        xinyidai::jobs::snapshots::catch_up(&app.db, now)
            .await
            .unwrap(),
        None
    );
    assert!(league::snapshot_days(&app.db).await.unwrap().is_empty());
    // The job ran three days ago, then the server was down.
    league::take_snapshot(&app.db, today - Duration::days(3), Trigger::Schedule)
        .await
        .unwrap();
    assert_eq!(
        xinyidai::jobs::snapshots::catch_up(&app.db, now)
            .await
            .unwrap(),
        Some(yesterday)
    );
    assert_eq!(
        xinyidai::jobs::snapshots::catch_up(&app.db, now)
            .await
            .unwrap(),
        None
    );
    // Yesterday once; the day before yesterday is not made up.
    assert_eq!(
        league::snapshot_days(&app.db).await.unwrap(),
        vec![yesterday, today - Duration::days(3)]
    );
    let taken = runs(&app.db, yesterday).await;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].1, "schedule");
    let audit = audits(
        &app.db,
        "league.snapshot_taken",
        &format!("league_snapshot:{yesterday}"),
    )
    .await;
    assert_eq!(audit.len(), 1);
    let detail: serde_json::Value = serde_json::from_str(&audit[0]).unwrap();
    assert_eq!(detail["trigger"], "schedule");
    assert_eq!(detail["day"], yesterday.to_string());
    app.stop().await;
}

#[tokio::test]
async fn the_snapshot_button_is_for_leaders_and_checks_csrf() {
    let app = TestApp::spawn().await;
    let depts = departments(&app).await;
    set_counts(&app.db, &rows_of(&[(depts[0].id, 3, 7)])).await;
    let today = xinyidai::clock::today();

    // Staff: neither the page nor the button exists.
    let staff_email = staff(&app, depts[0].id).await;
    let staff_browser = browser(&app, &staff_email).await;
    let (status, staff_page) = get_page(&app, &staff_browser, "/staff").await;
    assert_eq!(status, 200);
    let (status, _) = get_page(&app, &staff_browser, "/leaders/trends").await;
    assert_eq!(status, 404);
    let resp = staff_browser
        .post(app.url("/leaders/snapshot"))
        .form(&[("csrf", csrf(&staff_page))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    // Anonymous: log in first.
    let resp = app
        .new_client()
        .post(app.url("/leaders/snapshot"))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert!(league::snapshot_days(&app.db).await.unwrap().is_empty());

    let leader = official(&app, Role::Leader, None, false).await;
    let leader_browser = browser(&app, &leader).await;
    let (status, page) = get_page(&app, &leader_browser, "/leaders/trends").await;
    assert_eq!(status, 200);
    assert_eq!(texts(&page, "#no-snapshots").len(), 1);
    let resp = leader_browser
        .post(app.url("/leaders/snapshot"))
        .form(&[("csrf", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(league::snapshot_days(&app.db).await.unwrap().is_empty());

    let resp = leader_browser
        .post(app.url("/leaders/snapshot"))
        .form(&[("csrf", csrf(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(league::snapshot_days(&app.db).await.unwrap(), vec![today]);
    assert_eq!(runs(&app.db, today).await[0].1, "manual");
    let saved = league::snapshot_counts(&app.db, today, &[COUNTY.to_owned()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        saved,
        league::counts(&app.db, &[COUNTY.to_owned()]).await.unwrap()
    );
    let audit = audits(
        &app.db,
        "league.snapshot_taken",
        &format!("league_snapshot:{today}"),
    )
    .await;
    let detail: serde_json::Value = serde_json::from_str(&audit[0]).unwrap();
    assert_eq!(detail["trigger"], "manual");

    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let (_, page) = get_page(&app, &leader_browser, &location).await;
    assert!(texts(&page, "#snapshot-taken")[0].contains(&today.to_string()));
    assert_eq!(
        attr(&page, "#snapshot-days a", "href").unwrap(),
        format!("/leaders?date={today}")
    );
    app.stop().await;
}

/// A small well-formedness check: every tag closes in order, attributes are quoted, and no raw
/// `&` or `<` sits in text.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find(['<', '&']) {
        let (text, tail) = rest.split_at(start);
        assert!(!text.contains('>'), "stray > before {tail:.40}");
        if tail.starts_with('&') {
            let end = tail.find(';').expect("entity ends");
            let entity = &tail[1..end];
            assert!(
                ["amp", "lt", "gt", "quot", "apos"].contains(&entity),
                "entity {entity}"
            );
            rest = &tail[end + 1..];
            continue;
        }
        let end = tail.find('>').expect("tag ends");
        let tag = &tail[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "closing {name}");
        } else {
            let name = tag.split([' ', '/']).next().unwrap().to_owned();
            assert!(tag.matches('"').count() % 2 == 0, "quotes in <{tag}>");
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &tail[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

/// The raw markup of the chart `id` in the page's source.
fn raw_svg(page: &str, id: &str) -> String {
    let start = page
        .find(&format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\""
        ))
        .unwrap();
    let end = page[start..].find("</svg>").unwrap() + start + "</svg>".len();
    page[start..end].to_owned()
}

#[tokio::test]
async fn charts_draw_each_department_and_the_target_from_the_snapshots() {
    let app = TestApp::spawn().await;
    let depts = departments(&app).await;
    let bureaus: Vec<_> = depts.iter().filter(|d| d.kind == "bureau").collect();
    let townships = depts.iter().filter(|d| d.kind == "township").count();
    let (b1, b2) = (bureaus[0].id, bureaus[1].id);
    let today = xinyidai::clock::today();
    let (d3, d1) = (today - Duration::days(3), today - Duration::days(1));
    // Targets for every month the days fall in: 8 + 4 entities.
    for day in [d3, d1, today] {
        for (d, n) in [(b1, 8), (b2, 4)] {
            store::assignments::set_target(
                &app.db,
                COUNTY,
                d,
                &calendar::period_of(day),
                TargetAmount::Count(n),
                today + Duration::days(20),
                "cli",
            )
            .await
            .unwrap();
        }
    }
    // (day, [(department, onboarded, assigned)])
    let history = [
        (d3, [(b1, 2, 10), (b2, 0, 5)]),
        (d1, [(b1, 5, 10), (b2, 1, 5)]),
        (today, [(b1, 6, 10), (b2, 5, 5)]),
    ];
    for (day, rates) in &history {
        set_counts(&app.db, &rows_of(rates)).await;
        if *day < today {
            league::take_snapshot(&app.db, *day, Trigger::Schedule)
                .await
                .unwrap();
        }
    }
    let leader = official(&app, Role::Leader, None, false).await;
    let leader_browser = browser(&app, &leader).await;
    let raw = leader_browser
        .get(app.url("/leaders/trends?kind=bureau"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = Html::parse_document(&raw);

    let rate_svg = raw_svg(&raw, "rate-chart");
    assert_well_formed(&rate_svg);
    assert!(rate_svg.contains("font-family=\"'Noto Sans CJK SC', sans-serif\""));
    assert_eq!(texts(&page, "#rate-chart > title").len(), 1);
    assert_eq!(texts(&page, "#rate-chart > desc").len(), 1);
    // One line per bureau, named in the legend.
    assert_eq!(
        texts(&page, "#rate-chart polyline.series").len(),
        bureaus.len()
    );
    let legend = texts(&page, "#rate-chart .legend text");
    for b in &bureaus {
        assert!(legend.contains(&b.name), "{} in {legend:?}", b.name);
    }
    // Points where the seeded rates put them: 0–100 % over the days drawn.
    let scale = Scale {
        first: d3,
        last: today,
        y_max: 100.0,
    };
    for (i, d) in [b1, b2].into_iter().enumerate() {
        let expected: Vec<(Date, f64)> = history
            .iter()
            .map(|(day, rates)| {
                let (_, on, all) = rates[i];
                (*day, on as f64 * 100.0 / all as f64)
            })
            .collect();
        assert_eq!(
            attr(
                &page,
                &format!("#rate-chart polyline.series[data-key=\"{d}\"]"),
                "points"
            )
            .unwrap(),
            scale.polyline(&expected)
        );
    }
    // The data table has one row per day, with the rates.
    let rows = texts(&page, "#rate-data tbody tr");
    assert_eq!(rows.len(), 3);
    assert!(
        rows[1].contains(&d1.to_string()) && rows[1].contains("50.0%"),
        "{}",
        rows[1]
    );
    assert!(rows[2].contains("100.0%"), "{}", rows[2]);

    // The cumulative curve and the target line (8 + 4 every day).
    let total_svg = raw_svg(&raw, "total-chart");
    assert_well_formed(&total_svg);
    let onboarded: Vec<(Date, f64)> = history
        .iter()
        .map(|(day, rates)| (*day, rates.iter().map(|r| r.1).sum::<i64>() as f64))
        .collect();
    let top = onboarded.iter().map(|p| p.1).fold(12.0, f64::max);
    let scale = Scale {
        first: d3,
        last: today,
        y_max: nice_ceiling(top),
    };
    assert_eq!(
        attr(&page, "#total-chart polyline.series", "points").unwrap(),
        scale.polyline(&onboarded)
    );
    let target: Vec<(Date, f64)> = history.iter().map(|(day, _)| (*day, 12.0)).collect();
    assert_eq!(
        attr(&page, "#total-chart polyline.target", "points").unwrap(),
        scale.polyline(&target)
    );
    assert!(texts(&page, "#total-caption")[0].contains("目标"));
    assert_eq!(texts(&page, "#total-data tbody tr").len(), 3);

    // The workbook holds the same numbers: the bureaus' rates per day, and the cumulative
    // curve beside its target.
    let resp = leader_browser
        .get(app.url("/leaders/trends/export.xlsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let cell = |range: &calamine::Range<calamine::Data>, r: usize, c: usize| {
        range
            .get((r, c))
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    use calamine::Reader as _;
    let rates = book.worksheet_range("县直部门").unwrap();
    let col_of = |range: &calamine::Range<calamine::Data>, name: &str| {
        (0..range.width())
            .find(|c| cell(range, 0, *c) == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let c1 = col_of(&rates, &bureaus[0].name);
    assert_eq!(cell(&rates, 1, 0), d3.to_string());
    assert_eq!(cell(&rates, 1, c1), "20");
    assert_eq!(cell(&rates, 3, c1), "60");
    let totals = book.worksheet_range("累计入驻").unwrap();
    assert_eq!(totals.height(), 4, "a header and three days");
    assert_eq!(cell(&totals, 3, 1), "11");
    assert_eq!(cell(&totals, 3, 2), "12", "the target line");

    // Another kind: a line per township department.
    let (_, page) = get_page(&app, &leader_browser, "/leaders/trends?kind=township").await;
    assert_eq!(texts(&page, "#rate-chart polyline.series").len(), townships);
    assert_eq!(
        attr(&page, "#kind option[selected]", "value").as_deref(),
        Some("township")
    );
    app.stop().await;
}

#[tokio::test]
async fn leaders_get_the_table_and_the_movers_once_a_week_unless_opted_out() {
    let app = TestApp::spawn().await;
    let inbox = Mailbox::from_env();
    let depts = departments(&app).await;
    let bureaus: Vec<_> = depts.iter().filter(|d| d.kind == "bureau").collect();
    let today = xinyidai::clock::today();
    // (department, onboarded 7 days ago, onboarded now), all of 100 entities.
    let moves: Vec<(i64, i64, i64)> = [
        (10, 40),
        (10, 20),
        (10, 15),
        (10, 12),
        (10, 5),
        (10, 0),
        (10, 9),
    ]
    .iter()
    .zip(&bureaus)
    .map(|((before, now), d)| (d.id, *before, *now))
    .collect();
    let before: Vec<_> = moves.iter().map(|(d, b, _)| (*d, *b, 100)).collect();
    set_counts(&app.db, &rows_of(&before)).await;
    league::take_snapshot(&app.db, today - Duration::days(7), Trigger::Schedule)
        .await
        .unwrap();
    let now: Vec<_> = moves.iter().map(|(d, _, n)| (*d, *n, 100)).collect();
    set_counts(&app.db, &rows_of(&now)).await;

    let reader = official(&app, Role::Leader, None, false).await;
    let quiet = official(&app, Role::Leader, None, false).await;
    let quiet_id = account_id(&app.db, &quiet).await;
    // The quiet one opts out through the digest's own opt-out page.
    let token = digest::unsubscribe_token(&app.vault, quiet_id);
    let visitor = app.new_client();
    let (status, confirm) = get_page(
        &app,
        &visitor,
        &format!("/digest/unsubscribe?token={token}"),
    )
    .await;
    assert_eq!(status, 200);
    let resp = visitor
        .post(app.url("/digest/unsubscribe"))
        .form(&[("csrf", csrf(&confirm)), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(digests::opted_out(&app.db, quiet_id).await.unwrap());
    let reader_id = account_id(&app.db, &reader).await;

    let mailer = mailer();
    let at = OffsetDateTime::now_utc();
    let sent = leaders_digest::send_week(
        &app.db,
        &mailer,
        &app.vault,
        "https://xyd.test",
        COUNTY,
        at,
        false,
    )
    .await
    .unwrap();
    assert_eq!((sent.sent, sent.skipped, sent.failed), (1, 0, 0));
    let mail = inbox.wait_for(&reader).await;
    assert!(mail.subject.contains("排行"), "{}", mail.subject);
    let html = Html::parse_document(mail.html.as_deref().unwrap());
    // Expected movers from the seed: largest rise first, largest fall first.
    let name = |id: i64| depts.iter().find(|d| d.id == id).unwrap().name.clone();
    let mut by_change: Vec<(i64, i64)> = moves.iter().map(|(d, b, n)| (n - b, *d)).collect();
    by_change.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let rising: Vec<String> = by_change
        .iter()
        .filter(|c| c.0 > 0)
        .take(3)
        .map(|c| name(c.1))
        .collect();
    let falling: Vec<String> = by_change
        .iter()
        .rev()
        .filter(|c| c.0 < 0)
        .take(3)
        .map(|c| name(c.1))
        .collect();
    let listed = |sel: &str| -> Vec<String> {
        texts(&html, sel)
            .iter()
            .map(|t| t.split('：').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(listed("#rising li"), rising);
    assert_eq!(listed("#falling li"), falling);
    let first_rise = &texts(&html, "#rising li")[0];
    assert!(
        first_rise.contains("10.0% → 40.0%") && first_rise.contains("+30.0"),
        "{first_rise}"
    );
    // The table, or (before the league is built) the plain statement that there is none.
    let tree = store::divisions::load(&app.db).await.unwrap();
    match xinyidai::report::league::league(&app.db, &tree, COUNTY, today, today)
        .await
        .unwrap()
    {
        None => assert!(mail.text.contains("暂无排行数据"), "{}", mail.text),
        Some(l) => assert!(
            texts(&html, "#total")[0].contains(&l.total.onboarded.to_string()),
            "{}",
            mail.text
        ),
    }
    // The opt-out link is the reader's own.
    let link = mail
        .links
        .iter()
        .find(|l| l.contains("/digest/unsubscribe?token="))
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    assert_eq!(
        digest::verify_unsubscribe_token(&app.vault, token),
        Some(reader_id)
    );

    // Once per week; the opted-out leader never.
    let again = leaders_digest::send_week(
        &app.db,
        &mailer,
        &app.vault,
        "https://xyd.test",
        COUNTY,
        at,
        false,
    )
    .await
    .unwrap();
    assert_eq!((again.sent, again.skipped), (0, 1));
    let week = calendar::iso_week_of(today);
    assert!(
        digests::already_sent(&app.db, reader_id, &week)
            .await
            .unwrap()
    );
    assert!(
        !digests::already_sent(&app.db, quiet_id, &week)
            .await
            .unwrap()
    );

    // The leader turns it back on from the trends page.
    let quiet_browser = browser(&app, &quiet).await;
    let (_, page) = get_page(&app, &quiet_browser, "/leaders/trends").await;
    assert_eq!(
        attr(&page, "#digest-state", "data-on").as_deref(),
        Some("false")
    );
    let resp = quiet_browser
        .post(app.url("/leaders/digest"))
        .form(&[("csrf", csrf(&page)), ("digest", "on".to_owned())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert!(!digests::opted_out(&app.db, quiet_id).await.unwrap());
    app.stop().await;
}

#[tokio::test]
async fn the_commands_take_a_snapshot_and_send_the_leaders_digest() {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let tree = store::divisions::load(&db).await.unwrap();
    store::departments::seed_county(&db, &tree, COUNTY)
        .await
        .unwrap();
    let department = store::departments::list(&db, COUNTY).await.unwrap()[0].id;
    set_counts(&db, &rows_of(&[(department, 4, 9)])).await;
    let email = unique_address();
    let hash = xinyidai::security::password::PasswordHasher::new(1)
        .hash(OFFICIAL_PASSWORD)
        .await
        .unwrap();
    store::accounts::create_account(
        &db,
        &NewAccount {
            email: &email,
            password_hash: &hash,
            role: Role::Leader,
            department_id: None,
            display_name: Some("王县长"),
            temporary_password: false,
            actor: "cli",
        },
    )
    .await
    .unwrap();
    let key = IdVault::generate_hex();
    let run = |args: &[&str]| {
        let out = crate::cli::xinyidai(&fresh.url)
            .args(args)
            .env("XYD_DATA_KEY", &key)
            .env("XYD_SMTP_URL", smtp_url())
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (
            out.status.success(),
            stdout.lines().last().unwrap_or_default().to_owned(),
            stderr,
        )
    };
    let (ok, last, stderr) = run(&["league", "snapshot", "--day", "2026-11-20"]);
    assert!(ok, "{stderr}");
    assert_eq!(last, "2026-11-20");
    let day = Date::from_calendar_date(2026, time::Month::November, 20).unwrap();
    let saved: BTreeMap<_, _> = league::snapshot_counts(&db, day, &[COUNTY.to_owned()])
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|r| (r.stage.clone(), r.n))
        .collect();
    assert_eq!(saved.get("synced"), Some(&4));
    assert_eq!(saved.get("not_started"), Some(&5));
    assert_eq!(runs(&db, day).await[0].1, "manual");
    // Without --day: today (Beijing).
    let (ok, last, stderr) = run(&["league", "snapshot"]);
    assert!(ok, "{stderr}");
    assert_eq!(last, xinyidai::clock::today().to_string());
    let (ok, _, stderr) = run(&["league", "snapshot", "--day", "2026-13-01"]);
    assert!(!ok);
    assert!(stderr.contains("YYYY-MM-DD"), "{stderr}");

    // `digest send` sends the leaders' digest too, once a week.
    let (ok, last, stderr) = run(&["digest", "send"]);
    assert!(ok, "{stderr}");
    assert_eq!(last, "sent=1 skipped=0");
    let mail = Mailbox::from_env().wait_for(&email).await;
    assert!(mail.text.contains("您好，王县长"), "{}", mail.text);
    assert!(mail.subject.contains("排行"), "{}", mail.subject);
    let (_, last, _) = run(&["digest", "send"]);
    assert_eq!(last, "sent=0 skipped=1");
    db.close().await;
}

/// A phone's viewport (CSS pixels).
const PHONE: (u32, u32) = (390, 844);

#[tokio::test]
async fn the_trends_page_fits_a_phone_in_chromium() {
    let app = TestApp::spawn().await;
    let depts = departments(&app).await;
    let today = xinyidai::clock::today();
    // Thirty days of every department climbing at its own pace.
    for back in (0..30).rev() {
        let day = today - Duration::days(back);
        let rates: Vec<(i64, i64, i64)> = depts
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let pace = i64::try_from(i % 7 + 1).unwrap();
                (d.id, ((30 - back) * pace).min(100), 100)
            })
            .collect();
        set_counts(&app.db, &rows_of(&rates)).await;
        if back > 0 {
            league::take_snapshot(&app.db, day, Trigger::Schedule)
                .await
                .unwrap();
        }
    }
    for d in &depts {
        store::assignments::set_target(
            &app.db,
            COUNTY,
            d.id,
            &calendar::period_of(today),
            TargetAmount::Count(60),
            today + Duration::days(10),
            "cli",
        )
        .await
        .unwrap();
    }
    let leader = official(&app, Role::Leader, None, false).await;
    let Some(chrome) = crate::browser::Browser::start(PHONE.0, PHONE.1).await else {
        app.stop().await;
        return;
    };
    chrome.goto(&app.url("/login")).await;
    chrome.type_into("#email", &leader).await;
    chrome.type_into("#password", OFFICIAL_PASSWORD).await;
    let landed = chrome
        .submit("form.login button[type=submit]", "/login")
        .await;
    assert_eq!(landed, "/leaders");
    for kind in ["bureau", "township"] {
        chrome
            .goto(&app.url(&format!("/leaders/trends?kind={kind}")))
            .await;
        assert!(!chrome.overflows_sideways().await, "{kind} on a phone");
        // Narrower than the drawing, the chart scrolls inside its own box.
        let boxed = chrome
            .eval("return document.querySelector('#rate-chart').parentElement.getBoundingClientRect().right")
            .await;
        assert!(boxed.as_f64().unwrap() <= f64::from(PHONE.0), "{boxed}");
        chrome.screenshot(&format!("trends-{kind}-phone")).await;
    }
    chrome.resize(1280, 1600).await;
    chrome.goto(&app.url("/leaders/trends?kind=township")).await;
    chrome.screenshot("trends-desktop").await;
    chrome.quit().await;
    app.stop().await;
}
