//! The admin's management pages at `/admin`: who may open them, accounts (create with a
//! temporary password, disable, reset), departments, assignment rules, reassignment by USCC and
//! by CSV, and monthly targets. Every change is checked in the database and in the audit log,
//! whose actor is the admin's `account:N`.

use scraper::Html;
use xinyidai::domain::assignment_rule::TargetAmount;
use xinyidai::domain::calendar;
use xinyidai::domain::division::{DivisionTree, Level};
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::store::accounts::Role;
use xinyidai::store::departments::Department;
use xinyidai::{on_pool, store};

use crate::helpers::{TestApp, attr, text, texts};
use crate::mailbox::unique_address;
use crate::people::{
    COUNTY, OFFICIAL_PASSWORD, assigned_entities, browser, csrf, departments, get_page, official,
    staff,
};

/// Every page of this module, for the access checks.
const PAGES: [&str; 6] = [
    "/admin",
    "/admin/users",
    "/admin/departments",
    "/admin/rules",
    "/admin/assign",
    "/admin/targets",
];

/// A logged-in admin: the browser and the account id.
async fn admin(app: &TestApp) -> (reqwest::Client, i64) {
    let email = official(app, Role::Admin, None, false).await;
    let (browser, _, resp) =
        crate::registration::login_response(app, &email, OFFICIAL_PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/admin",
        "an admin lands on /admin"
    );
    (browser, account_id(app, &email).await)
}

async fn account_id(app: &TestApp, email: &str) -> i64 {
    let id: i64 = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT id FROM accounts WHERE email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap());
    id
}

/// GETs an admin page that must answer 200, parsed.
async fn page(app: &TestApp, browser: &reqwest::Client, path: &str) -> Html {
    let (status, page) = get_page(app, browser, path).await;
    assert_eq!(status, 200, "GET {path}");
    page
}

/// POSTs a form with the CSRF token of `from` on top of `fields`.
async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    from: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let token = csrf(&page(app, browser, from).await);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    browser
        .post(app.url(action))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn html(resp: reqwest::Response) -> Html {
    Html::parse_document(&resp.text().await.unwrap())
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// Follows a 303 with the same browser and returns the page it leads to.
async fn follow(app: &TestApp, browser: &reqwest::Client, resp: reqwest::Response) -> Html {
    assert_eq!(resp.status(), 303);
    page(app, browser, &location(&resp)).await
}

/// (actor, subject, detail) of every audit row with `action`, oldest first.
async fn audit(app: &TestApp, action: &str) -> Vec<(String, String, serde_json::Value)> {
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

fn named<'a>(departments: &'a [Department], name: &str) -> &'a Department {
    departments.iter().find(|d| d.name == name).unwrap()
}

async fn department_of(app: &TestApp, uscc: &str) -> (Option<i64>, Option<String>) {
    on_pool!(&app.db, |pool| sqlx::query_as(
        "SELECT department_id, assigned_by FROM entities WHERE uscc = $1"
    )
    .bind(uscc)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// `n` fresh 梨树县 entities in the roster with no department.
async fn unassigned_entities(app: &TestApp, n: usize, seed: u64) -> Vec<RosterEntry> {
    let mut entries: Vec<RosterEntry> = crate::import::entities(n * 8 + 50, seed)
        .into_iter()
        .filter(|e| e.county_code == COUNTY && e.status.as_str() == "active")
        .collect();
    entries.truncate(n);
    assert_eq!(entries.len(), n);
    store::entities::upsert_batch(&app.db, &entries)
        .await
        .unwrap();
    entries
}

/// A valid USCC that is not in the county's roster.
fn stranger_uscc() -> String {
    crate::import::entities(400, 77)
        .into_iter()
        .find(|e| e.county_code != COUNTY)
        .unwrap()
        .uscc
        .as_str()
        .to_owned()
}

#[tokio::test]
async fn every_admin_page_is_404_for_staff_and_owners_and_anonymous_visitors_log_in_first() {
    let app = TestApp::spawn().await;
    let departments = departments(&app).await;
    for path in PAGES {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(location(&resp), format!("/login?next={path}"));
    }
    // A form posted without a session goes to the login (a POST cannot be replayed).
    let resp = app.post_form("/admin/users", &[("csrf", "x".into())]).await;
    assert_eq!(location(&resp), "/login");

    let staff_email = staff(&app, departments[0].id).await;
    let staff_browser = browser(&app, &staff_email).await;
    let (_, owner_email) = crate::outbox::queued_with_email(&app).await;
    let (owner_browser, _, resp) =
        crate::registration::login_response(&app, &owner_email, "Lishu-2026-ok").await;
    assert_eq!(resp.status(), 303);
    let leader_email = official(&app, Role::Leader, None, false).await;
    let leader_browser = browser(&app, &leader_email).await;
    for (who, browser) in [
        ("staff", &staff_browser),
        ("owner", &owner_browser),
        ("leader", &leader_browser),
    ] {
        for path in PAGES {
            let (status, page) = get_page(&app, browser, path).await;
            assert_eq!(status, 404, "{who} {path}");
            assert_eq!(text(&page, "h1"), "页面不存在");
        }
        let resp = browser
            .post(app.url("/admin/rules/apply"))
            .form(&[("csrf", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{who} posts");
    }
    assert!(audit(&app, "assignment.rules_applied").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_overview_counts_entities_departments_staff_and_queues() {
    let app = TestApp::spawn().await;
    let departments = departments(&app).await;
    let bureau = named(&departments, "发改局");
    // 200 synthetic roster entities and one registration waiting for the province.
    crate::outbox::queued(&app).await;
    assigned_entities(&app, bureau.id, 3, 5).await;
    staff(&app, bureau.id).await;
    let (browser, _) = admin(&app).await;

    let home = page(&app, &browser, "/admin").await;
    let entities: i64 = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM entities WHERE county_code = $1"
    )
    .bind(COUNTY)
    .fetch_one(pool)
    .await
    .unwrap());
    assert!(entities > 3);
    assert_eq!(text(&home, "#entities"), entities.to_string());
    assert_eq!(text(&home, "#assigned"), "3");
    assert_eq!(text(&home, "#unassigned"), (entities - 3).to_string());
    assert!(text(&home, "#unassigned-hint").contains(&(entities - 3).to_string()));
    assert_eq!(text(&home, "#departments"), departments.len().to_string());
    assert_eq!(text(&home, "#staff"), "1");
    let pending = store::outbox::pending_count(&app.db).await.unwrap();
    assert_eq!(pending, 1);
    assert_eq!(text(&home, "#outbox-pending"), "1");
    assert_eq!(text(&home, "#awaiting-review"), "0");
    let links: Vec<String> = {
        let sel = scraper::Selector::parse("nav.area-nav a").unwrap();
        home.select(&sel)
            .filter_map(|a| a.value().attr("href").map(str::to_owned))
            .collect()
    };
    for path in PAGES {
        assert!(links.iter().any(|l| l == path), "{path} in {links:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_admin_creates_a_staff_account_whose_temporary_password_must_be_changed() {
    let app = TestApp::spawn().await;
    let departments = departments(&app).await;
    let township = departments.iter().find(|d| d.kind == "township").unwrap();
    let (browser, admin_id) = admin(&app).await;
    let email = unique_address();
    let department = township.id.to_string();

    // Staff without a department: refused beside the field, values kept, nothing written.
    let resp = post(
        &app,
        &browser,
        "/admin/users",
        "/admin/users",
        &[
            ("email", &email),
            ("display_name", "王干事"),
            ("role", "staff"),
            ("department", ""),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let refused = html(resp).await;
    assert!(text(&refused, "#department-error").contains("须选择所属的责任部门"));
    assert_eq!(
        attr(&refused, "#email", "value").as_deref(),
        Some(email.as_str())
    );
    assert_eq!(
        attr(&refused, "#display_name", "value").as_deref(),
        Some("王干事")
    );
    assert_eq!(
        attr(&refused, "#role option[selected]", "value").as_deref(),
        Some("staff")
    );
    // A leader with a department, a bad email, no name: each refused at its field.
    let resp = post(
        &app,
        &browser,
        "/admin/users",
        "/admin/users",
        &[
            ("email", "不是邮箱"),
            ("display_name", " "),
            ("role", "leader"),
            ("department", &department),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let refused = html(resp).await;
    assert!(text(&refused, "#department-error").contains("只有部门工作人员"));
    assert!(text(&refused, "#email-error").contains("格式不正确"));
    assert!(text(&refused, "#display_name-error").contains("请填写显示名称"));
    assert!(
        store::accounts::by_email(&app.db, &email)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        audit(&app, "account.created")
            .await
            .iter()
            .all(|(actor, _, _)| actor == "cli")
    );

    let resp = post(
        &app,
        &browser,
        "/admin/users",
        "/admin/users",
        &[
            ("email", &email),
            ("display_name", "王干事"),
            ("role", "staff"),
            ("department", &department),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let shown = html(resp).await;
    let password = text(&shown, "#temporary-password");
    assert_eq!(password.chars().count(), 16);
    assert!(xinyidai::security::password::check_official_rules(&password, Some(&email)).is_ok());
    let created = store::accounts::by_email(&app.db, &email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&shown, "#account-id"), created.id.to_string());
    assert_eq!(created.role, "staff");
    assert_eq!(created.department_id, Some(township.id));
    assert_eq!(created.display_name.as_deref(), Some("王干事"));
    assert!(created.must_change_password);
    let audited = audit(&app, "account.created").await;
    let last = audited.last().unwrap();
    assert_eq!(last.0, format!("account:{admin_id}"));
    assert_eq!(last.1, format!("account:{}", created.id));
    assert_eq!(last.2["department_id"], township.id);
    // The password is in no audit row.
    assert!(!audited.iter().any(|r| r.2.to_string().contains(&password)));

    // The list shows the new account, waiting for its first password change.
    let list = page(&app, &browser, "/admin/users").await;
    let row = format!("#account-{}", created.id);
    assert_eq!(text(&list, &format!("{row} .email")), email);
    assert_eq!(text(&list, &format!("{row} .department")), township.name);
    assert_eq!(texts(&list, &format!("{row} .must-change")).len(), 1);

    // The same email again is refused.
    let resp = post(
        &app,
        &browser,
        "/admin/users",
        "/admin/users",
        &[
            ("email", &email),
            ("display_name", "另一人"),
            ("role", "admin"),
            ("department", ""),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    assert!(text(&html(resp).await, "#email-error").contains("已经有账户"));

    // The new member logs in with the shown password and must change it first.
    let (member, _, resp) = crate::registration::login_response(&app, &email, &password).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account/password");
    let form = page(&app, &member, "/account/password").await;
    let resp = member
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", csrf(&form).as_str()),
            ("current", password.as_str()),
            ("password", "Lishu-Township-2027"),
            ("confirm", "Lishu-Township-2027"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    // The workspace itself is another page's business: where the change leads is enough here.
    assert_eq!(location(&resp), "/staff");
    let list = page(&app, &browser, "/admin/users").await;
    assert!(texts(&list, &format!("{row} .must-change")).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn disabling_ends_the_sessions_and_the_login_until_enabled_again() {
    let app = TestApp::spawn().await;
    let departments = departments(&app).await;
    let email = staff(&app, departments[0].id).await;
    let id = account_id(&app, &email).await;
    let member = browser(&app, &email).await;
    let (status, _) = get_page(&app, &member, "/account/password").await;
    assert_eq!(status, 200, "logged in");
    let (browser, admin_id) = admin(&app).await;

    // Not oneself.
    let resp = post(
        &app,
        &browser,
        "/admin/users",
        &format!("/admin/users/{admin_id}/disable"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 422);
    assert!(
        text(&html(resp).await, &format!("#account-{admin_id}-error")).contains("不能停用自己")
    );
    assert!(audit(&app, "account.disabled").await.is_empty());

    let resp = post(
        &app,
        &browser,
        "/admin/users",
        &format!("/admin/users/{id}/disable"),
        &[],
    )
    .await;
    assert_eq!(
        location(&resp),
        format!("/admin/users?done=disabled&id={id}")
    );
    let list = follow(&app, &browser, resp).await;
    assert!(text(&list, "#notice").contains("已停用"));
    assert!(text(&list, &format!("#account-{id} .state")).contains("已停用"));
    assert_eq!(
        texts(&list, &format!("#account-{id} form.enable")).len(),
        1,
        "offered to enable again"
    );
    // The open session is gone, and the password no longer logs in.
    let resp = member
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
    let (_, _, resp) = crate::registration::login_response(&app, &email, OFFICIAL_PASSWORD).await;
    assert_eq!(resp.status(), 401);
    let audited = audit(&app, "account.disabled").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, format!("account:{admin_id}"));
    assert_eq!(audited[0].1, format!("account:{id}"));
    assert_eq!(audited[0].2["sessions_ended"], 1);

    let resp = post(
        &app,
        &browser,
        "/admin/users",
        &format!("/admin/users/{id}/enable"),
        &[],
    )
    .await;
    assert_eq!(
        location(&resp),
        format!("/admin/users?done=enabled&id={id}")
    );
    let (_, _, resp) = crate::registration::login_response(&app, &email, OFFICIAL_PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(audit(&app, "account.enabled").await.len(), 1);
    // An account that does not exist.
    let resp = post(
        &app,
        &browser,
        "/admin/users",
        "/admin/users/999999/disable",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_password_reset_shows_a_new_temporary_password_and_logs_the_holder_out() {
    let app = TestApp::spawn().await;
    let departments = departments(&app).await;
    let email = staff(&app, departments[1].id).await;
    let id = account_id(&app, &email).await;
    let member = browser(&app, &email).await;
    let (browser, admin_id) = admin(&app).await;

    let resp = post(
        &app,
        &browser,
        "/admin/users",
        &format!("/admin/users/{id}/reset-password"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let shown = html(resp).await;
    assert_eq!(text(&shown, "#account-email"), email);
    let password = text(&shown, "#temporary-password");
    assert!(xinyidai::security::password::check_official_rules(&password, Some(&email)).is_ok());

    let resp = member
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/login", "the old session ended");
    let (_, _, resp) = crate::registration::login_response(&app, &email, OFFICIAL_PASSWORD).await;
    assert_eq!(resp.status(), 401, "the old password is gone");
    let (_, _, resp) = crate::registration::login_response(&app, &email, &password).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account/password");
    let audited = audit(&app, "account.password_reset").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, format!("account:{admin_id}"));
    assert_eq!(audited[0].1, format!("account:{id}"));

    // One's own password is changed on its own page.
    let resp = post(
        &app,
        &browser,
        "/admin/users",
        &format!("/admin/users/{admin_id}/reset-password"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 422);
    assert!(text(&html(resp).await, &format!("#account-{admin_id}-error")).contains("修改密码"));
    assert_eq!(audit(&app, "account.password_reset").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn departments_are_seeded_and_added_with_their_counts() {
    let app = TestApp::spawn().await;
    let (browser, admin_id) = admin(&app).await;
    let list = page(&app, &browser, "/admin/departments").await;
    assert_eq!(texts(&list, "#no-departments").len(), 1);

    let resp = post(
        &app,
        &browser,
        "/admin/departments",
        "/admin/departments/standard",
        &[],
    )
    .await;
    let list = follow(&app, &browser, resp).await;
    let tree = DivisionTree::seed();
    let townships: Vec<_> = tree
        .children(COUNTY)
        .filter(|d| d.level == Level::Township)
        .collect();
    let expected = store::departments::STANDARD_BUREAUS.len() + townships.len();
    assert!(text(&list, "#notice").contains(&format!("新增 {expected} 个")));
    assert_eq!(texts(&list, "#departments tbody tr").len(), expected);
    let seeded = audit(&app, "department.seeded").await;
    assert_eq!(seeded.len(), 1);
    assert_eq!(seeded[0].0, format!("account:{admin_id}"));
    assert_eq!(seeded[0].2["added"], expected);

    let long = "部".repeat(31);
    let taken_township = townships[0].code.as_str();
    for (fields, field, message) in [
        (
            [("name", ""), ("kind", "bureau"), ("township", "")],
            "name",
            "请填写部门名称",
        ),
        (
            [
                ("name", long.as_str()),
                ("kind", "bureau"),
                ("township", ""),
            ],
            "name",
            "不能超过30个字",
        ),
        (
            [("name", "发改局"), ("kind", "bureau"), ("township", "")],
            "name",
            "已有名为“发改局”的部门",
        ),
        (
            [("name", "新乡镇"), ("kind", "township"), ("township", "")],
            "township",
            "须选择它负责的乡镇",
        ),
        (
            [
                ("name", "新乡镇"),
                ("kind", "township"),
                ("township", "220381100"),
            ],
            "township",
            "不是本县的乡镇",
        ),
        (
            [
                ("name", "新乡镇"),
                ("kind", "township"),
                ("township", taken_township),
            ],
            "township",
            "已有责任部门",
        ),
        (
            [
                ("name", "金融办"),
                ("kind", "financial"),
                ("township", taken_township),
            ],
            "township",
            "只有乡镇类部门",
        ),
        (
            [("name", "金融办"), ("kind", "bank"), ("township", "")],
            "kind",
            "请选择部门类型",
        ),
    ] {
        let resp = post(
            &app,
            &browser,
            "/admin/departments",
            "/admin/departments",
            &fields,
        )
        .await;
        assert_eq!(resp.status(), 422, "{fields:?}");
        let page = html(resp).await;
        let error = text(&page, &format!("#{field}-error"));
        assert!(error.contains(message), "{fields:?}: {error}");
        assert_eq!(
            attr(&page, "#name", "value").unwrap_or_default(),
            fields[0].1,
            "the name is kept"
        );
    }
    assert_eq!(
        store::departments::list(&app.db, COUNTY)
            .await
            .unwrap()
            .len(),
        expected
    );

    let resp = post(
        &app,
        &browser,
        "/admin/departments",
        "/admin/departments",
        &[
            ("name", " 金融办 "),
            ("kind", "financial"),
            ("township", ""),
        ],
    )
    .await;
    assert!(location(&resp).starts_with("/admin/departments?done=added&id="));
    let departments = store::departments::list(&app.db, COUNTY).await.unwrap();
    let finance = named(&departments, "金融办");
    assert_eq!(finance.kind, "financial");
    assert_eq!(finance.township_code, None);
    let created = audit(&app, "department.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].0, format!("account:{admin_id}"));
    assert_eq!(created[0].1, format!("department:{}", finance.id));

    // Its counts: two entities, one of them onboarded (accepted by the province), one staff.
    let entries = assigned_entities(&app, finance.id, 1, 9).await;
    let registration = crate::outbox::queued(&app).await;
    on_pool!(&app.db, |pool| {
        sqlx::query("UPDATE registrations SET sync_state = 'accepted' WHERE id = $1")
            .bind(registration)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE entities SET department_id = $1, assigned_by = 'manual'
             WHERE id = (SELECT entity_id FROM registrations WHERE id = $2)",
        )
        .bind(finance.id)
        .bind(registration)
        .execute(pool)
        .await
        .unwrap();
    });
    staff(&app, finance.id).await;
    assert_eq!(entries.len(), 1);
    let list = follow(&app, &browser, resp).await;
    assert!(text(&list, "#notice").contains(&finance.id.to_string()));
    let row = format!("#department-{}", finance.id);
    assert_eq!(
        text(&list, &format!("{row} .kind")),
        "金融机构主管（金融办）"
    );
    assert_eq!(text(&list, &format!("{row} .entities")), "2");
    assert_eq!(text(&list, &format!("{row} .onboarded")), "1");
    assert_eq!(text(&list, &format!("{row} .staff")), "1");
    app.stop().await;
}

#[tokio::test]
async fn rules_are_added_applied_with_a_report_and_removed() {
    let app = TestApp::spawn().await;
    let departments = departments(&app).await;
    let entries = unassigned_entities(&app, 12, 3).await;
    let township = entries
        .iter()
        .find_map(|e| e.township_code.clone())
        .unwrap();
    let in_township: Vec<&RosterEntry> = entries
        .iter()
        .filter(|e| e.township_code.as_deref() == Some(township.as_str()))
        .collect();
    let holder = named(&departments, "商务局");
    let catch_all = named(&departments, "发改局");
    let (browser, admin_id) = admin(&app).await;
    let holder_id = holder.id.to_string();
    let catch_all_id = catch_all.id.to_string();

    for (fields, field, message) in [
        (
            [
                ("kind", ""),
                ("value", ""),
                ("department", holder_id.as_str()),
                ("priority", "10"),
            ],
            "kind",
            "请选择匹配方式",
        ),
        (
            [
                ("kind", "township"),
                ("value", "123"),
                ("department", &holder_id),
                ("priority", "10"),
            ],
            "value",
            "乡镇代码应为9位数字",
        ),
        (
            [
                ("kind", "township"),
                ("value", "220381100"),
                ("department", &holder_id),
                ("priority", "10"),
            ],
            "value",
            "不属于本县",
        ),
        (
            [
                ("kind", "industry"),
                ("value", ""),
                ("department", &holder_id),
                ("priority", "10"),
            ],
            "value",
            "行业门类规则需要填写匹配值",
        ),
        (
            [
                ("kind", "any"),
                ("value", "x"),
                ("department", &holder_id),
                ("priority", "10"),
            ],
            "value",
            "不需要匹配值",
        ),
        (
            [
                ("kind", "township"),
                ("value", &township),
                ("department", ""),
                ("priority", "10"),
            ],
            "department",
            "请选择本县的责任部门",
        ),
        (
            [
                ("kind", "township"),
                ("value", &township),
                ("department", &holder_id),
                ("priority", "-1"),
            ],
            "priority",
            "不小于 0 的整数",
        ),
    ] {
        let resp = post(&app, &browser, "/admin/rules", "/admin/rules", &fields).await;
        assert_eq!(resp.status(), 422, "{fields:?}");
        let page = html(resp).await;
        let error = text(&page, &format!("#{field}-error"));
        assert!(error.contains(message), "{fields:?}: {error}");
        assert_eq!(
            attr(&page, "#value", "value").unwrap_or_default(),
            fields[1].1
        );
    }
    assert!(
        store::assignments::list_rules(&app.db, COUNTY)
            .await
            .unwrap()
            .is_empty()
    );

    let resp = post(
        &app,
        &browser,
        "/admin/rules",
        "/admin/rules",
        &[
            ("kind", "township"),
            ("value", &township),
            ("department", &holder_id),
            ("priority", "10"),
        ],
    )
    .await;
    let rules = store::assignments::list_rules(&app.db, COUNTY)
        .await
        .unwrap();
    assert_eq!(rules.len(), 1);
    let township_rule = rules[0].rule.id;
    assert_eq!(
        location(&resp),
        format!("/admin/rules?done=added&id={township_rule}")
    );
    let list = follow(&app, &browser, resp).await;
    assert!(text(&list, &format!("#rule-{township_rule} .value")).contains(&township));
    // The same rule twice.
    let resp = post(
        &app,
        &browser,
        "/admin/rules",
        "/admin/rules",
        &[
            ("kind", "township"),
            ("value", &township),
            ("department", &catch_all_id),
            ("priority", "5"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    assert!(text(&html(resp).await, "#value-error").contains("已有一条乡镇规则"));

    // Applied with the township rule alone: the rest stay without a department, and the page
    // says how to fix that.
    let total: i64 = on_pool!(&app.db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM entities WHERE county_code = $1"
    )
    .bind(COUNTY)
    .fetch_one(pool)
    .await
    .unwrap());
    let matched = in_township.len() as i64;
    let resp = post(&app, &browser, "/admin/rules", "/admin/rules/apply", &[]).await;
    let report = follow(&app, &browser, resp).await;
    assert_eq!(text(&report, "#report-changed"), matched.to_string());
    assert_eq!(text(&report, "#report-assigned"), matched.to_string());
    assert_eq!(
        text(&report, "#report-unassigned"),
        (total - matched).to_string()
    );
    assert!(text(&report, "#report-hint").contains("兜底规则"));
    for e in &in_township {
        assert_eq!(
            department_of(&app, e.uscc.as_str()).await,
            (Some(holder.id), Some("rule".into()))
        );
    }

    // A catch-all gives everyone else a department.
    let resp = post(
        &app,
        &browser,
        "/admin/rules",
        "/admin/rules",
        &[
            ("kind", "any"),
            ("value", ""),
            ("department", &catch_all_id),
            ("priority", "1000"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let resp = post(&app, &browser, "/admin/rules", "/admin/rules/apply", &[]).await;
    let report = follow(&app, &browser, resp).await;
    assert_eq!(
        text(&report, "#report-changed"),
        (total - matched).to_string()
    );
    assert_eq!(text(&report, "#report-unassigned"), "0");
    assert!(texts(&report, "#report-hint").is_empty());
    // Listed in the order tried: the township rule first.
    let order: Vec<String> = texts(&report, "#rule-table tbody tr .kind");
    assert_eq!(order, ["乡镇", "全部（兜底）"]);

    // Removing the township rule and applying again moves its entities to the catch-all.
    let resp = post(
        &app,
        &browser,
        "/admin/rules",
        &format!("/admin/rules/{township_rule}/remove"),
        &[],
    )
    .await;
    assert_eq!(
        location(&resp),
        format!("/admin/rules?done=removed&id={township_rule}")
    );
    let resp = post(&app, &browser, "/admin/rules", "/admin/rules/apply", &[]).await;
    let report = follow(&app, &browser, resp).await;
    assert_eq!(text(&report, "#report-changed"), matched.to_string());
    for e in &in_township {
        assert_eq!(
            department_of(&app, e.uscc.as_str()).await.0,
            Some(catch_all.id)
        );
    }
    let resp = post(
        &app,
        &browser,
        "/admin/rules",
        &format!("/admin/rules/{township_rule}/remove"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert!(text(&html(resp).await, "#notice").contains("没有编号为"));

    let actor = format!("account:{admin_id}");
    for (action, n) in [
        ("assignment.rule_added", 2),
        ("assignment.rule_removed", 1),
        ("assignment.rules_applied", 3),
    ] {
        let rows = audit(&app, action).await;
        assert_eq!(rows.len(), n, "{action}");
        assert!(rows.iter().all(|r| r.0 == actor), "{action}: {rows:?}");
    }
    assert!(store::audit::verify(&app.db).await.unwrap().is_intact());
    app.stop().await;
}

/// A `multipart/form-data` body of `(name, file name, content)` parts, and its content type.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "xyd-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: text/csv\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn import(
    app: &TestApp,
    browser: &reqwest::Client,
    parts: &[(&str, Option<&str>, &[u8])],
) -> reqwest::Response {
    let token = csrf(&page(app, browser, "/admin/assign").await);
    let mut all: Vec<(&str, Option<&str>, &[u8])> = vec![("csrf", None, token.as_bytes())];
    all.extend_from_slice(parts);
    let (content_type, body) = multipart(&all);
    browser
        .post(app.url("/admin/assign/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn entities_are_reassigned_by_uscc_and_by_csv_with_rejected_lines_explained() {
    let app = TestApp::spawn().await;
    let departments = departments(&app).await;
    let from = named(&departments, "税务局");
    let to = named(&departments, "工信局");
    let entries = assigned_entities(&app, from.id, 4, 11).await;
    let (browser, admin_id) = admin(&app).await;
    let first = entries[0].uscc.as_str();

    // Looked up first: the entity and its current department.
    let found = page(
        &app,
        &browser,
        &format!("/admin/assign?uscc={}", first.to_lowercase()),
    )
    .await;
    assert_eq!(text(&found, "#entity-uscc"), first);
    assert_eq!(text(&found, "#entity-department"), from.name);
    assert_eq!(text(&found, "#entity .name"), entries[0].name);
    let stranger = stranger_uscc();
    let (status, missing) =
        get_page(&app, &browser, &format!("/admin/assign?uscc={stranger}")).await;
    assert_eq!(status, 404);
    assert!(text(&missing, "#uscc-error").contains("名录中没有"));
    let (status, bad) = get_page(&app, &browser, "/admin/assign?uscc=9122").await;
    assert_eq!(status, 422);
    assert!(text(&bad, "#uscc-error").contains("应为18位"));
    assert_eq!(attr(&bad, "#lookup-uscc", "value").as_deref(), Some("9122"));

    let to_id = to.id.to_string();
    for (uscc, department, field, message) in [
        ("123", to_id.as_str(), "uscc", "应为18位"),
        (stranger.as_str(), to_id.as_str(), "uscc", "名录中没有"),
        (first, "", "department", "请选择本县的责任部门"),
        (first, "999999", "department", "请选择本县的责任部门"),
    ] {
        let resp = post(
            &app,
            &browser,
            "/admin/assign",
            "/admin/assign",
            &[("uscc", uscc), ("department", department)],
        )
        .await;
        assert_eq!(resp.status(), 422, "{uscc} {department}");
        let page = html(resp).await;
        assert!(text(&page, &format!("#{field}-error")).contains(message));
        assert_eq!(attr(&page, "#uscc", "value").as_deref(), Some(uscc));
    }
    assert_eq!(department_of(&app, first).await.0, Some(from.id));

    let resp = post(
        &app,
        &browser,
        "/admin/assign",
        "/admin/assign",
        &[("uscc", first), ("department", &to_id)],
    )
    .await;
    assert_eq!(
        location(&resp),
        format!("/admin/assign?uscc={first}&done=reassigned")
    );
    let shown = follow(&app, &browser, resp).await;
    assert_eq!(text(&shown, "#entity-department"), to.name);
    assert_eq!(text(&shown, "#entity-assigned-by"), "手工分配");
    assert!(text(&shown, "#notice").contains(&to.name));
    assert_eq!(
        department_of(&app, first).await,
        (Some(to.id), Some("manual".into()))
    );
    let audited = audit(&app, "assignment.reassigned").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, format!("account:{admin_id}"));
    assert_eq!(audited[0].1, format!("entity:{first}"));
    assert_eq!(audited[0].2["from"], from.id);
    assert_eq!(audited[0].2["to"], to.id);

    // Pasted CSV: one good line, an unknown department, a USCC not in the roster.
    let pasted = format!(
        "统一社会信用代码,部门\n{},{}\n{},不存在的局\n{stranger},{}\n",
        entries[1].uscc.as_str(),
        to.name,
        entries[2].uscc.as_str(),
        to.id
    );
    let resp = import(
        &app,
        &browser,
        &[("file", Some(""), b""), ("csv", None, pasted.as_bytes())],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let report = html(resp).await;
    assert_eq!(text(&report, "#import-accepted"), "1");
    assert_eq!(text(&report, "#import-changed"), "1");
    assert_eq!(text(&report, "#import-rejected"), "2");
    assert!(text(&report, "#rejected tr[data-line='3'] .reason").contains("不存在的局"));
    assert!(text(&report, "#rejected tr[data-line='4'] .reason").contains("名录中没有"));
    assert_eq!(
        department_of(&app, entries[1].uscc.as_str()).await.0,
        Some(to.id)
    );
    assert_eq!(
        department_of(&app, entries[2].uscc.as_str()).await.0,
        Some(from.id)
    );

    // A file saved by Excel on a Chinese Windows (GBK), naming the department.
    let file = format!(
        "统一社会信用代码,部门\n{},{}\n",
        entries[3].uscc.as_str(),
        to.name
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&file);
    let resp = import(
        &app,
        &browser,
        &[("file", Some("分配.csv"), &gbk), ("csv", None, b"")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let report = html(resp).await;
    assert_eq!(text(&report, "#import-accepted"), "1");
    assert_eq!(text(&report, "#import-rejected"), "0");
    assert_eq!(
        department_of(&app, entries[3].uscc.as_str()).await.0,
        Some(to.id)
    );
    assert_eq!(audit(&app, "assignment.reassigned").await.len(), 3);

    // Nothing sent, or a file without the columns.
    let resp = import(&app, &browser, &[("csv", None, b"  ")]).await;
    assert_eq!(resp.status(), 422);
    assert!(text(&html(resp).await, "#csv-error").contains("请选择 CSV 文件"));
    let resp = import(
        &app,
        &browser,
        &[("csv", None, "名称,部门\n某店,商务局\n".as_bytes())],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let page = html(resp).await;
    assert!(text(&page, "#csv-error").contains("缺少必需的列"));
    assert!(
        text(&page, "#csv").contains("某店"),
        "the pasted text is kept"
    );
    // Without the token nothing is read.
    let (content_type, body) = multipart(&[("csv", None, pasted.as_bytes())]);
    let resp = browser
        .post(app.url("/admin/assign/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(audit(&app, "assignment.reassigned").await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn targets_are_set_as_a_count_or_a_share_by_a_deadline() {
    let app = TestApp::spawn().await;
    let departments = departments(&app).await;
    let count_dept = named(&departments, "市场监管局");
    let share_dept = named(&departments, "农业农村局");
    assigned_entities(&app, share_dept.id, 5, 21).await;
    let (browser, admin_id) = admin(&app).await;

    let current = calendar::period_of(xinyidai::clock::today());
    let list = page(&app, &browser, "/admin/targets").await;
    assert!(text(&list, "h1").contains(&current));
    assert_eq!(texts(&list, "#targets tbody tr").len(), departments.len());
    assert_eq!(
        text(&list, &format!("#target-{} .entities", share_dept.id)),
        "5"
    );
    assert_eq!(
        attr(&list, "#period", "value").as_deref(),
        Some(current.as_str())
    );

    let count_id = count_dept.id.to_string();
    for (fields, field, message) in [
        (
            [
                ("department", count_id.as_str()),
                ("period", "2026-12"),
                ("count", "30"),
                ("share", "50"),
                ("deadline", "2026-12-31"),
            ],
            "amount",
            "只能填写一项",
        ),
        (
            [
                ("department", &count_id),
                ("period", "2026-12"),
                ("count", ""),
                ("share", ""),
                ("deadline", "2026-12-31"),
            ],
            "amount",
            "二选一",
        ),
        (
            [
                ("department", &count_id),
                ("period", "2026-12"),
                ("count", "30"),
                ("share", ""),
                ("deadline", "2026-02-30"),
            ],
            "deadline",
            "截止日期应为",
        ),
        (
            [
                ("department", &count_id),
                ("period", "2026-13"),
                ("count", "30"),
                ("share", ""),
                ("deadline", "2026-12-31"),
            ],
            "period",
            "考核期应为",
        ),
        (
            [
                ("department", &count_id),
                ("period", "2026-12"),
                ("count", "-3"),
                ("share", ""),
                ("deadline", "2026-12-31"),
            ],
            "count",
            "正整数",
        ),
        (
            [
                ("department", &count_id),
                ("period", "2026-12"),
                ("count", ""),
                ("share", "120"),
                ("deadline", "2026-12-31"),
            ],
            "share",
            "不超过 100",
        ),
        (
            [
                ("department", ""),
                ("period", "2026-12"),
                ("count", "30"),
                ("share", ""),
                ("deadline", "2026-12-31"),
            ],
            "department",
            "请选择",
        ),
    ] {
        let resp = post(&app, &browser, "/admin/targets", "/admin/targets", &fields).await;
        assert_eq!(resp.status(), 422, "{fields:?}");
        let page = html(resp).await;
        let error = text(&page, &format!("#{field}-error"));
        assert!(error.contains(message), "{fields:?}: {error}");
        assert_eq!(
            attr(&page, "#count", "value").unwrap_or_default(),
            fields[2].1
        );
        assert_eq!(
            attr(&page, "#deadline", "value").unwrap_or_default(),
            fields[4].1
        );
    }
    assert!(
        store::assignments::targets_for(&app.db, COUNTY, "2026-12")
            .await
            .unwrap()
            .is_empty()
    );

    let resp = post(
        &app,
        &browser,
        "/admin/targets",
        "/admin/targets",
        &[
            ("department", &count_id),
            ("period", "2026-12"),
            ("count", "30"),
            ("share", ""),
            ("deadline", "2026-12-31"),
        ],
    )
    .await;
    assert_eq!(location(&resp), "/admin/targets?period=2026-12&done=set");
    let share_id = share_dept.id.to_string();
    let resp = post(
        &app,
        &browser,
        "/admin/targets",
        "/admin/targets",
        &[
            ("department", &share_id),
            ("period", "2026-12"),
            ("count", ""),
            ("share", "80%"),
            ("deadline", "2026-12-20"),
        ],
    )
    .await;
    let list = follow(&app, &browser, resp).await;
    assert!(text(&list, "#notice").contains("2026-12"));
    let row = |id: i64, cell: &str| text(&list, &format!("#target-{id} .{cell}"));
    assert_eq!(row(count_dept.id, "target"), "30 个");
    assert_eq!(row(count_dept.id, "deadline"), "2026-12-31");
    // 80% of 5 entities is 4.
    assert_eq!(row(share_dept.id, "target"), "80%（4 个）");
    assert_eq!(row(share_dept.id, "deadline"), "2026-12-20");
    assert_eq!(row(share_dept.id, "onboarded"), "0 / 4");

    let targets = store::assignments::targets_for(&app.db, COUNTY, "2026-12")
        .await
        .unwrap();
    assert_eq!(targets.len(), 2);
    let amount = |id: i64| {
        targets
            .iter()
            .find(|t| t.department_id == id)
            .unwrap()
            .amount
    };
    assert_eq!(amount(count_dept.id), TargetAmount::Count(30));
    assert_eq!(amount(share_dept.id), TargetAmount::Share(0.8));
    let audited = audit(&app, "assignment.target_set").await;
    assert_eq!(audited.len(), 2);
    assert!(audited.iter().all(|r| r.0 == format!("account:{admin_id}")));
    assert_eq!(audited[0].1, format!("department:{}", count_dept.id));
    assert_eq!(audited[1].2["share"], 0.8);

    // A bad month in the picker falls back to the current one, said beside the picker.
    let (status, page) = get_page(&app, &browser, "/admin/targets?period=2026-1").await;
    assert_eq!(status, 422);
    assert!(text(&page, "#pick-error").contains("考核期应为"));
    assert!(text(&page, "h1").contains(&current));
    // The row's link preselects the department in the form.
    let picked = self::page(
        &app,
        &browser,
        &format!("/admin/targets?period=2026-12&department={}", share_dept.id),
    )
    .await;
    assert_eq!(
        attr(&picked, "#department option[selected]", "value"),
        Some(share_id)
    );
    app.stop().await;
}
