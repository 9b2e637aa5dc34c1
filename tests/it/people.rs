//! Staff-side people for the workspace tests: departments of 梨树县, entities assigned to them,
//! and staff, leader and admin accounts logged in through the real login form or the API.

use scraper::Html;
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::security::password::PasswordHasher;
use xinyidai::store::accounts::{NewAccount, Role};
use xinyidai::store::departments::Department;
use xinyidai::{on_pool, store};

use crate::helpers::{TestApp, attr};
use crate::mailbox::unique_address;

/// The county the tests' staff work in.
pub const COUNTY: &str = "220322";
/// Meets the staff password rules (12+ characters, three kinds).
pub const OFFICIAL_PASSWORD: &str = "Lishu-County-2026";

/// 梨树县's departments (seeded on first use; seeding again changes nothing).
pub async fn departments(app: &TestApp) -> Vec<Department> {
    let tree = store::divisions::load(&app.db).await.unwrap();
    store::departments::seed_county(&app.db, &tree, COUNTY)
        .await
        .unwrap();
    store::departments::list(&app.db, COUNTY).await.unwrap()
}

/// An account of `role` (staff need `department_id`) with [`OFFICIAL_PASSWORD`]; its email.
/// `temporary`: it must change the password at first login, as accounts made by an admin do.
pub async fn official(
    app: &TestApp,
    role: Role,
    department_id: Option<i64>,
    temporary: bool,
) -> String {
    let email = unique_address();
    let hash = PasswordHasher::new(1)
        .hash(OFFICIAL_PASSWORD)
        .await
        .unwrap();
    store::accounts::create_account(
        &app.db,
        &NewAccount {
            email: &email,
            password_hash: &hash,
            role,
            department_id,
            display_name: Some("测试人员"),
            temporary_password: temporary,
            actor: "cli",
        },
    )
    .await
    .unwrap();
    email
}

/// A staff member of `department_id` who has already chosen their password.
pub async fn staff(app: &TestApp, department_id: i64) -> String {
    official(app, Role::Staff, Some(department_id), false).await
}

/// A fresh browser logged in as `email` (password [`OFFICIAL_PASSWORD`]).
pub async fn browser(app: &TestApp, email: &str) -> reqwest::Client {
    let (browser, _, resp) =
        crate::registration::login_response(app, email, OFFICIAL_PASSWORD).await;
    assert_eq!(resp.status().as_u16(), 303, "login as {email}");
    browser
}

/// A bearer token for `email` from `POST /api/v1/sessions`.
pub async fn bearer(app: &TestApp, email: &str) -> String {
    let resp = app
        .client
        .post(app.url("/api/v1/sessions"))
        .json(&serde_json::json!({ "email": email, "password": OFFICIAL_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "API login as {email}");
    let body: serde_json::Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// `n` fresh 梨树县 roster entities (distinct per `seed`), made the responsibility of
/// `department_id`.
pub async fn assigned_entities(
    app: &TestApp,
    department_id: i64,
    n: usize,
    seed: u64,
) -> Vec<RosterEntry> {
    let mut entries: Vec<RosterEntry> = crate::import::entities(n * 8 + 50, seed)
        .into_iter()
        .filter(|e| e.county_code == COUNTY && e.status.as_str() == "active")
        .collect();
    assert!(entries.len() >= n, "only {} entities", entries.len());
    entries.truncate(n);
    store::entities::upsert_batch(&app.db, &entries)
        .await
        .unwrap();
    for e in &entries {
        on_pool!(&app.db, |pool| {
            sqlx::query(
                "UPDATE entities SET department_id = $1, assigned_by = 'manual' WHERE uscc = $2",
            )
            .bind(department_id)
            .bind(e.uscc.as_str())
            .execute(pool)
            .await
            .unwrap();
        });
    }
    entries
}

/// GETs `path` with `browser`: status and parsed page.
pub async fn get_page(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, Html) {
    let resp = browser.get(app.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, Html::parse_document(&resp.text().await.unwrap()))
}

/// The CSRF token of the first form on a page.
pub fn csrf(page: &Html) -> String {
    attr(page, "input[name=csrf]", "value").unwrap()
}
