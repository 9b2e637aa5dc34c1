//! Campaigns through the real server: a department's staff create a campaign, get its QR code
//! (SVG, PNG), leaflet and LED page; visits through `/?ref=CODE` and registrations made with the
//! code are counted; another department's campaign is a 404 on every route.

use std::collections::HashSet;

use scraper::{Html, Selector};
use serde_json::json;
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::{on_pool, store};

use crate::helpers::{TestApp, attr, text, texts};
use crate::mailbox::unique_address;
use crate::people::{assigned_entities, browser, csrf, departments, get_page, staff};
use crate::registration::id_number;

const PUBLIC_URL: &str = "https://xyd.lishu.example";

async fn spawn() -> TestApp {
    TestApp::spawn_with(|s| s.public_url = PUBLIC_URL.to_owned()).await
}

/// A logged-in staff member of a department; the department's id and name.
struct Desk {
    browser: reqwest::Client,
    department_id: i64,
    department_name: String,
}

/// Staff of the first and the second of 梨树县's departments.
async fn two_desks(app: &TestApp) -> (Desk, Desk) {
    let deps = departments(app).await;
    let mut desks = Vec::new();
    for d in &deps[..2] {
        let email = staff(app, d.id).await;
        desks.push(Desk {
            browser: browser(app, &email).await,
            department_id: d.id,
            department_name: d.name.clone(),
        });
    }
    let second = desks.pop().unwrap();
    (desks.pop().unwrap(), second)
}

async fn post(
    app: &TestApp,
    desk: &Desk,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, page) = get_page(app, &desk.browser, "/staff/campaigns").await;
    let token = csrf(&page);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    desk.browser
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Creates a campaign through the form; returns its id and code.
async fn create(app: &TestApp, desk: &Desk, name: &str) -> (i64, String) {
    let resp = post(
        app,
        desk,
        "/staff/campaigns",
        &[("name", name), ("slogan", "扫码登记 · 入驻信易贷")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = location
        .strip_prefix("/staff/campaigns/")
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .parse()
        .unwrap();
    let (status, page) = get_page(app, &desk.browser, &location).await;
    assert_eq!(status, 200);
    (id, text(&page, "#code"))
}

async fn scalar(app: &TestApp, sql: &str, bind: &str) -> i64 {
    on_pool!(&app.db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .bind(bind)
        .fetch_one(pool)
        .await
        .unwrap())
}

fn num(doc: &Html, selector: &str) -> i64 {
    text(doc, selector).parse().unwrap()
}

/// Today's row of the campaign page's daily table: (visits, registrations, onboarded).
fn today_row(doc: &Html) -> (i64, i64, i64) {
    let today = xinyidai::clock::today().to_string();
    let row = format!("#days tr[data-date=\"{today}\"]");
    (
        num(doc, &format!("{row} .visits")),
        num(doc, &format!("{row} .registrations")),
        num(doc, &format!("{row} .onboarded")),
    )
}

/// Registers `entity` through the JSON API with `referral_code`.
async fn register_with(app: &TestApp, entity: &RosterEntry, seq: u16, referral_code: &str) {
    let resp = app
        .client
        .post(app.url("/api/v1/registrations"))
        .json(&json!({
            "uscc": entity.uscc.as_str(),
            "entity_name": entity.name,
            "legal_rep_name": entity.legal_rep,
            "legal_rep_id_number": id_number(seq),
            "mobile": "13800138000",
            "email": unique_address(),
            "password": "Lishu-2026-ok",
            "agree_personal_info": true,
            "referral_code": referral_code,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap()
    );
}

/// The expected module matrix of `url`, quiet zone included.
fn expected_modules(url: &str) -> Vec<Vec<bool>> {
    let code = qrcode::QrCode::new(url.as_bytes()).unwrap();
    let w = code.width();
    let colors = code.to_colors();
    let n = w + 8;
    (0..n)
        .map(|y| {
            (0..n)
                .map(|x| {
                    (4..w + 4).contains(&x)
                        && (4..w + 4).contains(&y)
                        && colors[(y - 4) * w + (x - 4)] == qrcode::Color::Dark
                })
                .collect()
        })
        .collect()
}

/// The module matrix an SVG of ours draws: its viewBox and the `M x y h w v1 h-w z` runs.
fn svg_modules(svg: &str) -> Vec<Vec<bool>> {
    let doc = Html::parse_document(svg);
    let view_box = attr(&doc, "svg", "viewBox").expect("an <svg> with a viewBox");
    let n: usize = view_box.split(' ').nth(2).unwrap().parse().unwrap();
    let d = attr(&doc, "svg path", "d").unwrap();
    let mut modules = vec![vec![false; n]; n];
    for run in d.split('M').skip(1) {
        let run = run.strip_suffix('z').unwrap();
        let (xy, rest) = run.split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        let w: usize = rest.split_once('v').unwrap().0.parse().unwrap();
        for m in &mut modules[y][x..x + w] {
            *m = true;
        }
    }
    modules
}

#[tokio::test]
async fn staff_create_campaigns_with_inline_errors_and_unique_codes() {
    let app = spawn().await;
    let (desk, _) = two_desks(&app).await;

    let (status, page) = get_page(&app, &desk.browser, "/staff/campaigns").await;
    assert_eq!(status, 200);
    assert_eq!(texts(&page, "#no-campaigns").len(), 1);
    assert_eq!(
        attr(&page, "input[name=slogan]", "value").unwrap(),
        "扫码登记 · 入驻信易贷 · 融资更便捷"
    );

    // Bad input: 422, errors beside the fields, values kept, nothing written.
    let long = "宣".repeat(41);
    let resp = post(
        &app,
        &desk,
        "/staff/campaigns",
        &[("name", "  "), ("slogan", long.as_str())],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 422);
    let page = Html::parse_document(&resp.text().await.unwrap());
    assert!(text(&page, "#name-error").contains("请填写活动名称"));
    assert!(text(&page, "#slogan-error").contains("40"));
    assert_eq!(attr(&page, "input[name=slogan]", "value").unwrap(), long);
    let resp = post(
        &app,
        &desk,
        "/staff/campaigns",
        &[("name", &"名".repeat(41)), ("slogan", "扫码")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 422);
    let page = Html::parse_document(&resp.text().await.unwrap());
    assert!(text(&page, "#name-error").contains("40"));
    assert!(texts(&page, "#slogan-error").is_empty());
    let written: i64 = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM campaigns"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(written, 0);

    // Good input: a campaign per form, each with its own unambiguous code.
    let mut codes = HashSet::new();
    let mut ids = Vec::new();
    for i in 0..6 {
        let (id, code) = create(&app, &desk, &format!("集市宣传单 {i}")).await;
        assert!((6..=8).contains(&code.len()), "{code}");
        assert!(
            code.bytes()
                .all(|b| b"23456789ABCDEFGHJKMNPQRSTUVWXYZ".contains(&b)),
            "{code}"
        );
        codes.insert(code);
        ids.push(id);
    }
    assert_eq!(codes.len(), 6);

    // A taken code is never reused: the next one is tried, and without a free one nothing is made.
    let account_id: i64 = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT created_by FROM campaigns WHERE id = $1"
    )
    .bind(ids[0])
    .fetch_one(pool)
    .await
    .unwrap());
    let taken: Vec<String> = codes.iter().take(2).cloned().collect();
    let tries = [taken[0].clone(), taken[1].clone(), "FRESH23".to_owned()];
    let id = store::campaigns::create_with_codes(
        &app.db,
        desk.department_id,
        "重试",
        "扫码",
        account_id,
        tries,
    )
    .await
    .unwrap();
    let (_, page) = get_page(&app, &desk.browser, &format!("/staff/campaigns/{id}")).await;
    assert_eq!(text(&page, "#code"), "FRESH23");
    assert!(
        store::campaigns::create_with_codes(
            &app.db,
            desk.department_id,
            "重试",
            "扫码",
            account_id,
            taken,
        )
        .await
        .is_err()
    );
    ids.push(id);

    let (_, page) = get_page(&app, &desk.browser, "/staff/campaigns").await;
    codes.insert("FRESH23".to_owned());
    let listed: HashSet<String> = texts(&page, "tr.campaign .code").into_iter().collect();
    assert_eq!(listed, codes);
    assert_eq!(texts(&page, "tr.campaign .name")[0], "重试");

    // One audit row per campaign, ids only.
    let audited: Vec<(String, String, String)> = on_pool!(&app.db, |pool| {
        sqlx::query_as(
        "SELECT actor, subject, detail FROM audit_log WHERE action = 'campaign.created' ORDER BY id"
    )
    .fetch_all(pool)
    .await
    .unwrap()
    });
    assert_eq!(audited.len(), 7);
    assert_eq!(audited[0].1, format!("campaign:{}", ids[0]));
    assert!(audited[0].0.starts_with("account:"));
    let detail: serde_json::Value = serde_json::from_str(&audited[0].2).unwrap();
    assert_eq!(detail, json!({ "department_id": desk.department_id }));
    app.stop().await;
}

#[tokio::test]
async fn qr_codes_open_the_start_page_with_the_code() {
    let app = spawn().await;
    let (desk, _) = two_desks(&app).await;
    let (id, code) = create(&app, &desk, "社区LED屏").await;
    let url = format!("{PUBLIC_URL}/?ref={code}");
    let expected = expected_modules(&url);

    let (_, page) = get_page(&app, &desk.browser, &format!("/staff/campaigns/{id}")).await;
    assert_eq!(text(&page, "#link"), url);

    let resp = desk
        .browser
        .get(app.url(&format!("/staff/campaigns/{id}/qr.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("inline; filename=\"xinyidai-{code}.svg\"").as_str()
    );
    let svg = resp.text().await.unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_eq!(svg_modules(&svg), expected);

    let resp = desk
        .browser
        .get(app.url(&format!("/staff/campaigns/{id}/qr.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"xinyidai-")
    );
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    let n = expected.len();
    let scale = xinyidai::web::qr::PNG_MODULE_PX;
    assert_eq!(frame.width as usize, n * scale);
    assert_eq!(frame.height as usize, n * scale);
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    // The centre pixel of every module is black exactly where the code has a dark module.
    let side = n * scale;
    for (y, row) in expected.iter().enumerate() {
        for (x, dark) in row.iter().enumerate() {
            let px = buf[(y * scale + scale / 2) * side + x * scale + scale / 2];
            assert_eq!(px == 0, *dark, "module ({x}, {y})");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn visits_and_registrations_through_the_code_are_counted() {
    let app = spawn().await;
    let (desk, _) = two_desks(&app).await;
    let (id, code) = create(&app, &desk, "十二月集市").await;
    let (other_id, other_code) = create(&app, &desk, "另一个活动").await;
    let detail = format!("/staff/campaigns/{id}");

    let (_, page) = get_page(&app, &desk.browser, &detail).await;
    assert_eq!(num(&page, "#total-visits"), 0);
    assert_eq!(today_row(&page), (0, 0, 0));
    assert_eq!(texts(&page, "#days tbody tr").len(), 30);

    // Three visits through the code, one through another campaign's, one unknown code.
    for _ in 0..3 {
        let home = app.page(&format!("/?ref={code}"), 200).await;
        // The code rides along into registration.
        assert_eq!(
            attr(&home, "#start", "href").unwrap(),
            format!("/register?ref={code}")
        );
    }
    app.page(&format!("/?ref={other_code}"), 200).await;
    app.page("/?ref=ZZZZZZ", 200).await;
    app.page("/", 200).await;

    let (_, page) = get_page(&app, &desk.browser, &detail).await;
    assert_eq!(num(&page, "#total-visits"), 3);
    assert_eq!(today_row(&page), (3, 0, 0));
    let stored: Vec<(i64, String, i64)> = on_pool!(&app.db, |pool| sqlx::query_as(
        "SELECT campaign_id, day, visits FROM campaign_visits ORDER BY campaign_id"
    )
    .fetch_all(pool)
    .await
    .unwrap());
    let today = xinyidai::clock::today().to_string();
    assert_eq!(stored, vec![(id, today.clone(), 3), (other_id, today, 1)]);

    // A registration made with the code is credited to the campaign, and the LED count moves.
    let anonymous = app.new_client();
    let (status, led) = get_page(&app, &anonymous, &format!("/led/{code}")).await;
    assert_eq!(status, 200);
    assert_eq!(num(&led, "#led-registrations"), 0);
    let county_before = num(&led, "#led-county");

    let entities = assigned_entities(&app, desk.department_id, 3, 77).await;
    register_with(&app, &entities[0], 101, &code).await;
    register_with(&app, &entities[1], 102, &code).await;
    register_with(&app, &entities[2], 103, "LEAFLET-7").await;

    let (_, led) = get_page(&app, &anonymous, &format!("/led/{code}")).await;
    assert_eq!(num(&led, "#led-registrations"), 2);
    let (_, page) = get_page(&app, &desk.browser, &detail).await;
    assert_eq!(num(&page, "#total-registrations"), 2);
    assert_eq!(num(&page, "#total-onboarded"), 0);
    assert_eq!(today_row(&page), (3, 2, 0));

    // The province accepts one of them: onboarded on the campaign page and county-wide.
    on_pool!(&app.db, |pool| {
        sqlx::query("UPDATE registrations SET sync_state = 'accepted' WHERE uscc = $1")
            .bind(entities[0].uscc.as_str())
            .execute(pool)
            .await
            .unwrap();
    });
    let (_, page) = get_page(&app, &desk.browser, &detail).await;
    assert_eq!(num(&page, "#total-onboarded"), 1);
    assert_eq!(today_row(&page), (3, 2, 1));
    let (_, led) = get_page(&app, &anonymous, &format!("/led/{code}")).await;
    assert_eq!(num(&led, "#led-county"), county_before + 1);

    let (_, list) = get_page(&app, &desk.browser, "/staff/campaigns").await;
    let row = format!("tr.campaign[data-id=\"{id}\"]");
    assert_eq!(num(&list, &format!("{row} .visits")), 3);
    assert_eq!(num(&list, &format!("{row} .registrations")), 2);
    assert_eq!(num(&list, &format!("{row} .onboarded")), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_leaflet_prints_on_a4_with_the_code_and_the_link() {
    let app = spawn().await;
    let (desk, _) = two_desks(&app).await;
    let (id, code) = create(&app, &desk, "宣传单").await;
    let (status, page) = get_page(
        &app,
        &desk.browser,
        &format!("/staff/campaigns/{id}/leaflet"),
    )
    .await;
    assert_eq!(status, 200);
    let style = texts(&page, "style[media=print]").join("\n");
    assert!(style.contains("@page { size: A4;"), "{style}");
    assert!(style.contains(".area-nav"), "{style}");
    assert!(style.contains("footer.site"), "{style}");
    let url = format!("{PUBLIC_URL}/?ref={code}");
    assert_eq!(text(&page, "#leaflet-url"), url);
    assert_eq!(text(&page, "#leaflet-department"), desk.department_name);
    assert_eq!(text(&page, ".leaflet-slogan"), "扫码登记 · 入驻信易贷");
    let steps = texts(&page, ".leaflet-steps li");
    assert_eq!(steps, ["1扫码", "2查找本单位", "3实名核验", "4签署协议"]);
    // The inline QR is the same code.
    let svg = Selector::parse("#leaflet-qr svg").unwrap();
    let inline = page.select(&svg).next().expect("an inline QR").html();
    assert_eq!(svg_modules(&inline), expected_modules(&url));
    app.stop().await;
}

#[tokio::test]
async fn the_led_page_is_public_refreshes_itself_and_says_when_ended() {
    let app = spawn().await;
    let (desk, _) = two_desks(&app).await;
    let (id, code) = create(&app, &desk, "广场LED屏").await;
    let entities = assigned_entities(&app, desk.department_id, 1, 78).await;
    register_with(&app, &entities[0], 104, &code).await;

    let anonymous = app.new_client();
    let resp = anonymous
        .get(app.url(&format!("/led/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body = resp.text().await.unwrap();
    let led = Html::parse_document(&body);
    assert_eq!(
        attr(&led, "meta[http-equiv=refresh]", "content").unwrap(),
        "60"
    );
    assert_eq!(num(&led, "#led-registrations"), 1);
    assert_eq!(text(&led, ".led-department"), desk.department_name);
    assert_eq!(texts(&led, "#led-qr svg").len(), 1);
    // Counts only: nothing about who registered.
    assert!(!body.contains(&entities[0].name));
    assert!(!body.contains(&entities[0].legal_rep));
    assert!(
        !body.contains("广场LED屏"),
        "the internal name stays internal"
    );

    for unknown in ["ZZZZZZ", "zz", &code.to_lowercase(), "A%2FB"] {
        let status = anonymous
            .get(app.url(&format!("/led/{unknown}")))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 404, "{unknown}");
    }

    // Ending: audited once; the screen drops the QR and says so; the code still credits.
    let resp = post(&app, &desk, &format!("/staff/campaigns/{id}/end"), &[]).await;
    assert_eq!(resp.status().as_u16(), 303);
    let resp = post(&app, &desk, &format!("/staff/campaigns/{id}/end"), &[]).await;
    assert_eq!(resp.status().as_u16(), 303);
    let ended = scalar(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'campaign.ended' AND subject = $1",
        &format!("campaign:{id}"),
    )
    .await;
    assert_eq!(ended, 1);
    let (_, page) = get_page(&app, &desk.browser, &format!("/staff/campaigns/{id}")).await;
    assert!(text(&page, "#state").starts_with("已结束"));
    assert!(texts(&page, "form[action$=\"/end\"]").is_empty());
    app.page(&format!("/?ref={code}"), 200).await;
    let (_, led) = get_page(&app, &anonymous, &format!("/led/{code}")).await;
    assert_eq!(texts(&led, "#led-ended").len(), 1);
    assert!(texts(&led, "svg").is_empty());
    assert_eq!(num(&led, "#led-registrations"), 1);
    let (_, page) = get_page(&app, &desk.browser, &format!("/staff/campaigns/{id}")).await;
    assert_eq!(num(&page, "#total-visits"), 1);
    app.stop().await;
}

#[tokio::test]
async fn another_departments_campaign_is_not_found_on_every_route() {
    let app = spawn().await;
    let (mine, theirs) = two_desks(&app).await;
    let (id, code) = create(&app, &mine, "本单位活动").await;

    for path in [
        format!("/staff/campaigns/{id}"),
        format!("/staff/campaigns/{id}/qr.svg"),
        format!("/staff/campaigns/{id}/qr.png"),
        format!("/staff/campaigns/{id}/leaflet"),
        "/staff/campaigns/999999".to_owned(),
        "/staff/campaigns/abc".to_owned(),
    ] {
        let (status, _) = get_page(&app, &theirs.browser, &path).await;
        assert_eq!(status, 404, "GET {path}");
        // Anonymous visitors are sent to log in, not told whether it exists.
        let resp = app.new_client().get(app.url(&path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 303, "anonymous GET {path}");
    }
    let resp = post(&app, &theirs, &format!("/staff/campaigns/{id}/end"), &[]).await;
    assert_eq!(resp.status().as_u16(), 404);
    let ended = scalar(
        &app,
        "SELECT COUNT(*) FROM campaigns WHERE ended_at IS NOT NULL AND code = $1",
        &code,
    )
    .await;
    assert_eq!(ended, 0);

    // Their list does not show it; the owner still sees it.
    let (_, list) = get_page(&app, &theirs.browser, "/staff/campaigns").await;
    assert!(texts(&list, "tr.campaign").is_empty());
    let (status, _) = get_page(
        &app,
        &mine.browser,
        &format!("/staff/campaigns/{id}/leaflet"),
    )
    .await;
    assert_eq!(status, 200);
    app.stop().await;
}
