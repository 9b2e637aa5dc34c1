//! Staff accounts: made by `xinyidai user add --role staff --department …` with a temporary
//! password that must be changed at first login, held to the stricter official password rules,
//! locked after repeated failures, and kept out of every other audience's pages.

use std::process::Output;

use scraper::Html;
use xinyidai::config::DatabaseUrl;
use xinyidai::on_pool;
use xinyidai::store::accounts::Role;
use xinyidai::store::{self, Db};

use crate::helpers::{TestApp, fresh_database, text, texts};
use crate::mailbox::unique_address;
use crate::people::{self, OFFICIAL_PASSWORD, browser, csrf, get_page, official};

/// `xinyidai user add` with `args` after `user add`, password from the environment.
async fn user_add(database_url: &str, args: &[&str], password: &str) -> Output {
    let mut cmd = crate::cli::xinyidai(database_url);
    cmd.args(["user", "add"])
        .args(args)
        .env("XYD_NEW_PASSWORD", password);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn account_count(db: &Db) -> i64 {
    on_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM accounts")
            .fetch_one(pool)
            .await
            .unwrap()
    })
}

async fn audit_actions(db: &Db, subject: &str) -> Vec<String> {
    on_pool!(db, |pool| {
        sqlx::query_scalar::<_, String>(
            "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id",
        )
        .bind(subject)
        .fetch_all(pool)
        .await
        .unwrap()
    })
}

/// Submits the password-change form with `browser`.
async fn change_password(
    app: &TestApp,
    browser: &reqwest::Client,
    current: &str,
    new: &str,
    confirm: &str,
) -> reqwest::Response {
    let (status, page) = get_page(app, browser, "/account/password").await;
    assert_eq!(status, 200);
    browser
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", csrf(&page)),
            ("current", current.to_owned()),
            ("password", new.to_owned()),
            ("confirm", confirm.to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_staff_account_made_on_the_command_line_changes_its_password_at_first_login() {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let tree = store::divisions::load(&db).await.unwrap();
    store::departments::seed_county(&db, &tree, people::COUNTY)
        .await
        .unwrap();
    let email = unique_address();

    // Refusals first: each explains itself in Chinese and writes nothing.
    let before = account_count(&db).await;
    for (args, expect) in [
        (vec!["--email", &email, "--role", "staff"], "--department"),
        (
            vec![
                "--email",
                &email,
                "--role",
                "staff",
                "--department",
                "不存在的局",
            ],
            "没有名为或编号为",
        ),
        (
            vec![
                "--email",
                &email,
                "--role",
                "leader",
                "--department",
                "发改局",
            ],
            "只有 staff",
        ),
    ] {
        let out = user_add(&fresh.url, &args, OFFICIAL_PASSWORD).await;
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
    let weak = user_add(
        &fresh.url,
        &[
            "--email",
            &email,
            "--role",
            "staff",
            "--department",
            "发改局",
        ],
        "lishu-2026",
    )
    .await;
    assert!(!weak.status.success());
    assert!(
        String::from_utf8(weak.stderr)
            .unwrap()
            .contains("至少需要12位"),
        "official accounts need 12 characters"
    );
    assert_eq!(account_count(&db).await, before);

    let out = user_add(
        &fresh.url,
        &[
            "--email",
            &email,
            "--role",
            "staff",
            "--department",
            "发改局",
            "--name",
            "王科员",
        ],
        OFFICIAL_PASSWORD,
    )
    .await;
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("首次登录时须修改密码"), "{stderr}");
    let (department, must_change): (Option<i64>, bool) = on_pool!(&db, |pool| {
        sqlx::query_as("SELECT department_id, must_change_password FROM accounts WHERE email = $1")
            .bind(&email)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let fagai = store::assignments::find_department(&db, people::COUNTY, "发改局")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(department, Some(fagai.id));
    assert!(must_change);
    db.close().await;

    let url = fresh.url.clone();
    let app = TestApp::spawn_with(move |s| s.database_url = DatabaseUrl::new(url)).await;
    // Logging in leads to the password change, and so does every staff page until it is done.
    let (first, _, resp) =
        crate::registration::login_response(&app, &email, OFFICIAL_PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/account/password");
    let resp = first.get(app.url("/staff")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/account/password");
    let (_, page) = get_page(&app, &first, "/account/password").await;
    assert!(!texts(&page, "#first-login").is_empty(), "says why");
    // A second device logged in with the temporary password.
    let second = browser(&app, &email).await;

    // Each mistake is explained next to its field, and the password stays as it was.
    let cases = [
        (
            "wrong-current-1",
            "Lishu-Staff-2026!",
            "Lishu-Staff-2026!",
            "#current-error",
            "当前密码不正确",
        ),
        (
            OFFICIAL_PASSWORD,
            "Lishu-2026",
            "Lishu-2026",
            "#password-error",
            "至少需要12位",
        ),
        (
            OFFICIAL_PASSWORD,
            "lishustaff2026x",
            "lishustaff2026x",
            "#password-error",
            "至少三类",
        ),
        (
            OFFICIAL_PASSWORD,
            OFFICIAL_PASSWORD,
            OFFICIAL_PASSWORD,
            "#password-error",
            "不能与当前密码相同",
        ),
        (
            OFFICIAL_PASSWORD,
            "Lishu-Staff-2026!",
            "Lishu-Staff-2026?",
            "#confirm-error",
            "不一致",
        ),
    ];
    for (current, new, confirm, selector, message) in cases {
        let resp = change_password(&app, &first, current, new, confirm).await;
        assert_eq!(resp.status(), 422, "{selector}");
        let page = Html::parse_document(&resp.text().await.unwrap());
        assert!(
            text(&page, selector).contains(message),
            "{selector}: {message}"
        );
    }
    let resp = change_password(
        &app,
        &first,
        OFFICIAL_PASSWORD,
        "Lishu-Staff-2026!",
        "Lishu-Staff-2026!",
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/staff");

    // The flag is gone, the other device is logged out, the change is audited.
    let must_change: bool = on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT must_change_password FROM accounts WHERE email = $1")
            .bind(&email)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert!(!must_change);
    let resp = second
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/login");
    let resp = first
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "this device stays logged in");
    let id: i64 = on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
            .bind(&email)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let actions = audit_actions(&app.db, &format!("account:{id}")).await;
    assert!(
        actions.contains(&"account.created".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"account.password_changed".to_owned()),
        "{actions:?}"
    );
    // The old password no longer works; the new one does.
    let (_, _, resp) = crate::registration::login_response(&app, &email, OFFICIAL_PASSWORD).await;
    assert_eq!(resp.status(), 401);
    let (_, _, resp) = crate::registration::login_response(&app, &email, "Lishu-Staff-2026!").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/staff");
    app.stop().await;
}

#[tokio::test]
async fn staff_and_admin_logins_lock_after_five_failures() {
    let app = TestApp::spawn().await;
    let departments = people::departments(&app).await;
    let staff = people::staff(&app, departments[0].id).await;
    let admin = official(&app, Role::Admin, None, false).await;
    for email in [&staff, &admin] {
        for _ in 0..5 {
            let (_, _, resp) =
                crate::registration::login_response(&app, email, "Wrong-Password-2026").await;
            assert_eq!(resp.status(), 401);
        }
        // Locked: even the right password is refused, with the reason and what to do.
        let (_, _, resp) =
            crate::registration::login_response(&app, email, OFFICIAL_PASSWORD).await;
        assert_eq!(resp.status(), 429);
        let page = Html::parse_document(&resp.text().await.unwrap());
        assert!(text(&page, "#login-error").contains("15分钟"));
    }
    app.stop().await;
}

#[tokio::test]
async fn each_audience_is_kept_out_of_the_others_pages() {
    let app = TestApp::spawn().await;
    let departments = people::departments(&app).await;
    let staff = browser(&app, &people::staff(&app, departments[0].id).await).await;
    let admin = browser(&app, &official(&app, Role::Admin, None, false).await).await;
    let leader = browser(&app, &official(&app, Role::Leader, None, false).await).await;
    for path in ["/admin", "/admin/sync", "/admin/users"] {
        for (who, client) in [("staff", &staff), ("leader", &leader)] {
            let resp = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), 404, "{who} {path}");
        }
    }
    for path in [
        "/staff",
        "/staff/entities",
        "/staff/review",
        "/staff/campaigns",
    ] {
        for (who, client) in [("admin", &admin), ("leader", &leader)] {
            let resp = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), 404, "{who} {path}");
        }
        // Anonymous visitors are asked to log in, and come back.
        let resp = app.new_client().get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            format!("/login?next={path}")
        );
    }
    // A staff API call with a temporary password is refused until the password is changed.
    let fresh = official(&app, Role::Staff, Some(departments[1].id), true).await;
    let token = people::bearer(&app, &fresh).await;
    let resp = app
        .client
        .get(app.url("/api/v1/staff/entities"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "password_change_required");
    app.stop().await;
}
