//! The weekly digest through the real SMTP server: the recipient department's numbers and names
//! only, the opt-out link end to end, once per ISO week, and `xinyidai digest send`.

use std::collections::BTreeSet;

use scraper::Html;
use time::{Duration, OffsetDateTime};
use xinyidai::config::{DatabaseUrl, MailSettings, Secret};
use xinyidai::domain::calendar;
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::jobs::staff_digest as digest;
use xinyidai::mail::Mailer;
use xinyidai::on_pool;
use xinyidai::security::id_vault::IdVault;
use xinyidai::security::password::PasswordHasher;
use xinyidai::store::accounts::{NewAccount, Role};
use xinyidai::store::{self, Db};

use crate::helpers::{TestApp, attr, fresh_database, text, texts};
use crate::mailbox::{Mailbox, ReceivedMail, smtp_url, unique_address};
use crate::people::{
    COUNTY, assigned_entities, browser, csrf, departments, get_page, official, staff,
};
use crate::registration::id_number;

pub fn mailer() -> Mailer {
    Mailer::from_settings(&MailSettings {
        smtp_url: Some(Secret::new(smtp_url())),
        from: "信易贷平台 <noreply@xinyidai.test>".to_owned(),
        dir: std::env::temp_dir(),
    })
    .unwrap()
}

pub async fn account_id(db: &Db, email: &str) -> i64 {
    on_pool!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM accounts WHERE email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap())
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

async fn outreach(
    app: &TestApp,
    e: &RosterEntry,
    department_id: i64,
    account_id: i64,
    at: OffsetDateTime,
    follow_up: Option<time::Date>,
) {
    on_pool!(&app.db, |pool| {
        sqlx::query(
            "INSERT INTO outreach (entity_id, department_id, account_id, channel, outcome,
                 contacted_at, follow_up_on, created_at)
             SELECT id, $1, $2, 'phone', 'reached', $3, $4, $3 FROM entities WHERE uscc = $5",
        )
        .bind(department_id)
        .bind(account_id)
        .bind(at)
        .bind(follow_up.map(|d| d.to_string()))
        .bind(e.uscc.as_str())
        .execute(pool)
        .await
        .unwrap();
    });
}

/// Registers `e` with matching data and marks it accepted by the province: onboarded.
async fn onboard(app: &TestApp, e: &RosterEntry) {
    let resp = app
        .client
        .post(app.url("/api/v1/registrations"))
        .json(&serde_json::json!({
            "uscc": e.uscc.as_str(),
            "entity_name": e.name,
            "legal_rep_name": e.legal_rep,
            "legal_rep_id_number": id_number(401),
            "mobile": "13800138000",
            "email": unique_address(),
            "password": "Lishu-2026-ok",
            "agree_personal_info": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    on_pool!(&app.db, |pool| {
        sqlx::query(
            "UPDATE registrations SET sync_state = 'accepted', accepted_at = $1 WHERE uscc = $2",
        )
        .bind(OffsetDateTime::now_utc())
        .bind(e.uscc.as_str())
        .execute(pool)
        .await
        .unwrap();
    });
}

async fn sends(db: &Db, account: i64) -> i64 {
    on_pool!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM digest_sends WHERE account_id = $1"
    )
    .bind(account)
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn opted_out(app: &TestApp, account: i64) -> bool {
    store::digests::opted_out(&app.db, account).await.unwrap()
}

async fn audit_count(app: &TestApp, action: &str, account: i64) -> i64 {
    on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = $1 AND subject = $2"
    )
    .bind(action)
    .bind(format!("account:{account}"))
    .fetch_one(pool)
    .await
    .unwrap())
}

fn names(list: &[&RosterEntry]) -> BTreeSet<String> {
    list.iter().map(|e| e.name.clone()).collect()
}

#[tokio::test]
async fn each_department_gets_its_own_numbers_once_a_week_and_can_opt_out() {
    let app = TestApp::spawn().await;
    let inbox = Mailbox::from_env();
    let deps = departments(&app).await;
    let (a, b) = (&deps[0], &deps[1]);
    let a1 = staff(&app, a.id).await;
    let a2 = staff(&app, a.id).await;
    let b1 = staff(&app, b.id).await;
    let disabled = staff(&app, a.id).await;
    let _admin = official(&app, Role::Admin, None, false).await;
    on_pool!(&app.db, |pool| {
        sqlx::query("UPDATE accounts SET disabled_at = $1 WHERE email = $2")
            .bind(OffsetDateTime::now_utc())
            .bind(&disabled)
            .execute(pool)
            .await
            .unwrap();
    });
    let (a1_id, a2_id, b1_id) = (
        account_id(&app.db, &a1).await,
        account_id(&app.db, &a2).await,
        account_id(&app.db, &b1).await,
    );

    let now = OffsetDateTime::now_utc();
    let today = calendar::day_of(now);
    let ea = assigned_entities(&app, a.id, 5, 21).await;
    let eb = assigned_entities(&app, b.id, 3, 22).await;
    // A: e0 onboarded (never contacted, yet not stale); e1 contacted 2 days ago with a
    // follow-up due yesterday; e2 contacted 20 days ago, its due follow-up superseded by a
    // later contact without one; e3 contacted 15 days ago, follow-up tomorrow; e4 never.
    onboard(&app, &ea[0]).await;
    set_last_contact(&app, &ea[1], now - Duration::days(2)).await;
    outreach(
        &app,
        &ea[1],
        a.id,
        a1_id,
        now - Duration::days(2),
        Some(today - Duration::days(1)),
    )
    .await;
    set_last_contact(&app, &ea[2], now - Duration::days(20)).await;
    outreach(
        &app,
        &ea[2],
        a.id,
        a1_id,
        now - Duration::days(30),
        Some(today - Duration::days(3)),
    )
    .await;
    outreach(&app, &ea[2], a.id, a1_id, now - Duration::days(20), None).await;
    set_last_contact(&app, &ea[3], now - Duration::days(15)).await;
    outreach(
        &app,
        &ea[3],
        a.id,
        a1_id,
        now - Duration::days(15),
        Some(today + Duration::days(1)),
    )
    .await;
    // B: one follow-up due, nobody contacted within 14 days.
    outreach(
        &app,
        &eb[0],
        b.id,
        b1_id,
        now - Duration::days(16),
        Some(today),
    )
    .await;
    set_last_contact(&app, &eb[0], now - Duration::days(16)).await;
    let deadline = today + Duration::days(10);
    on_pool!(&app.db, |pool| {
        sqlx::query(
            "INSERT INTO department_targets (department_id, period, target_count, deadline)
             VALUES ($1, $2, 4, $3)",
        )
        .bind(a.id)
        .bind(calendar::period_of(today))
        .bind(deadline)
        .execute(pool)
        .await
        .unwrap();
    });

    let mailer = mailer();
    let base = app.url("");
    let report = digest::send_week(&app.db, &mailer, &app.vault, &base, now, false)
        .await
        .unwrap();
    assert_eq!((report.sent, report.skipped, report.failed), (3, 0, 0));

    let mail = inbox.wait_for(&a1).await;
    assert!(mail.subject.contains(&a.name), "{}", mail.subject);
    assert!(
        mail.text.contains("已入驻省平台 1 家 / 负责 5 家"),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains("超过 14 天未联系的市场主体：3 家"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("到期的跟进：1 项"), "{}", mail.text);
    assert!(
        mail.text
            .contains(&format!("目标 4 家，截止 {deadline}，还剩 10 天")),
        "{}",
        mail.text
    );
    for e in &eb {
        assert!(!mail.text.contains(&e.name), "B's {} in A's digest", e.name);
    }
    let html = Html::parse_document(mail.html.as_deref().unwrap());
    assert_eq!(text(&html, "#onboarded"), "1");
    assert_eq!(text(&html, "#assigned"), "5");
    assert_eq!(text(&html, "#stale-count"), "3");
    let stale: BTreeSet<String> = texts(&html, "#stale li").into_iter().collect();
    assert_eq!(stale, names(&[&ea[2], &ea[3], &ea[4]]));
    assert_eq!(text(&html, "#follow-up-count"), "1");
    assert_eq!(
        texts(&html, "#follow-ups li"),
        [format!("{}（{}）", ea[1].name, today - Duration::days(1))]
    );
    for path in [
        "/staff",
        "/staff/entities?contact=stale",
        "/staff/follow-ups",
    ] {
        assert!(
            mail.links.contains(&format!("{base}{path}")),
            "{path} not in {:?}",
            mail.links
        );
    }

    // B's digest: B's entities, none of A's.
    let mail_b = inbox.wait_for(&b1).await;
    let html_b = Html::parse_document(mail_b.html.as_deref().unwrap());
    assert_eq!(text(&html_b, "#assigned"), "3");
    assert_eq!(text(&html_b, "#stale-count"), "3");
    assert_eq!(
        texts(&html_b, "#stale li")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        names(&[&eb[0], &eb[1], &eb[2]])
    );
    assert_eq!(text(&html_b, "#follow-up-count"), "1");
    for e in &ea {
        assert!(
            !mail_b.text.contains(&e.name),
            "A's {} in B's digest",
            e.name
        );
    }

    // Opting out from a2's link: the GET only asks, the POST does it.
    let mail_a2 = inbox.wait_for(&a2).await;
    let link = unsubscribe_link(&mail_a2);
    let visitor = app.new_client();
    let resp = visitor.get(&link).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let page = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        attr(&page, "#digest-unsubscribe", "data-state").as_deref(),
        Some("confirm")
    );
    assert!(!opted_out(&app, a2_id).await, "a GET changed the setting");
    let token = attr(&page, "input[name=token]", "value").unwrap();
    // Someone else's id with a2's tag is refused.
    let forged = token.replacen(&format!("{a2_id}."), &format!("{a1_id}."), 1);
    let resp = visitor
        .post(app.url("/digest/unsubscribe"))
        .form(&[("csrf", csrf(&page)), ("token", forged)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert!(!opted_out(&app, a1_id).await);
    let resp = visitor
        .post(app.url("/digest/unsubscribe"))
        .form(&[("csrf", csrf(&page)), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let done = Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        attr(&done, "#digest-unsubscribe", "data-state").as_deref(),
        Some("done")
    );
    assert!(opted_out(&app, a2_id).await);
    assert_eq!(audit_count(&app, "digest.unsubscribed", a2_id).await, 1);
    let resp = visitor
        .get(app.url("/digest/unsubscribe?token=1.abcd"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    // The same week again: nobody gets a second one.
    let again = digest::send_week(&app.db, &mailer, &app.vault, &base, now, false)
        .await
        .unwrap();
    assert_eq!((again.sent, again.skipped), (0, 2));
    for id in [a1_id, a2_id, b1_id] {
        assert_eq!(sends(&app.db, id).await, 1);
    }
    // Next week: everyone but a2.
    let next = digest::send_week(
        &app.db,
        &mailer,
        &app.vault,
        &base,
        now + Duration::weeks(1),
        false,
    )
    .await
    .unwrap();
    assert_eq!((next.sent, next.skipped), (2, 0));
    inbox.wait_for_nth(&a1, 2).await;
    assert_eq!(sends(&app.db, a2_id).await, 1);
    assert_eq!(sends(&app.db, b1_id).await, 2);

    // a2 turns it back on from the workspace.
    let a2_browser = browser(&app, &a2).await;
    let (status, page) = get_page(&app, &a2_browser, "/staff/review").await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&page, "#digest-state", "data-on").as_deref(),
        Some("false")
    );
    let resp = a2_browser
        .post(app.url("/staff/digest"))
        .form(&[("csrf", csrf(&page)), ("digest", "on".to_owned())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert!(!opted_out(&app, a2_id).await);
    assert_eq!(audit_count(&app, "digest.subscribed", a2_id).await, 1);
    let (_, page) = get_page(&app, &a2_browser, "/staff/review").await;
    assert_eq!(
        attr(&page, "#digest-state", "data-on").as_deref(),
        Some("true")
    );
    app.stop().await;
}

fn unsubscribe_link(mail: &ReceivedMail) -> String {
    mail.links
        .iter()
        .find(|l| l.contains("/digest/unsubscribe?token="))
        .unwrap_or_else(|| panic!("no opt-out link in {:?}", mail.links))
        .clone()
}

#[tokio::test]
async fn the_command_sends_this_weeks_digests_once() {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let tree = store::divisions::load(&db).await.unwrap();
    store::departments::seed_county(&db, &tree, COUNTY)
        .await
        .unwrap();
    let department = store::departments::list(&db, COUNTY).await.unwrap()[0].id;
    let email = unique_address();
    let hash = PasswordHasher::new(1)
        .hash("Lishu-County-2026")
        .await
        .unwrap();
    store::accounts::create_account(
        &db,
        &NewAccount {
            email: &email,
            password_hash: &hash,
            role: Role::Staff,
            department_id: Some(department),
            display_name: None,
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
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {stderr}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        stdout.lines().last().unwrap_or_default().to_owned()
    };
    assert_eq!(
        run(&["digest", "send", "--dry-run"]),
        "sent=0 skipped=0 pending=1"
    );
    assert_eq!(sends(&db, account_id(&db, &email).await).await, 0);
    assert_eq!(run(&["digest", "send"]), "sent=1 skipped=0");
    let mail = Mailbox::from_env().wait_for(&email).await;
    assert!(mail.text.contains("您好，同事"), "{}", mail.text);
    let link = unsubscribe_link(&mail);
    assert!(link.contains("/digest/unsubscribe?token="), "{link}");
    assert_eq!(run(&["digest", "send"]), "sent=0 skipped=1");
    db.close().await;
}
