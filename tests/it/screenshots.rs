//! The staff workspace, a campaign's leaflet and its LED screen in a real Chromium: a staff member
//! logs in by typing into the form, the pages fit a phone without sideways scrolling, and each is
//! photographed to `target/screenshots/` for people to look at.

use xinyidai::on_pool;
use xinyidai::store::accounts::Role;

use crate::browser::{Browser, png_size};
use crate::helpers::TestApp;
use crate::people::{self, OFFICIAL_PASSWORD};

/// A phone's viewport (CSS pixels).
const PHONE: (u32, u32) = (390, 844);

#[tokio::test]
async fn a_staff_member_logs_in_and_the_workspace_fits_a_phone() {
    let app = TestApp::spawn().await;
    let departments = people::departments(&app).await;
    let department = departments[0].id;
    people::assigned_entities(&app, department, 30, 71).await;
    let email = people::official(&app, Role::Staff, Some(department), true).await;
    let Some(browser) = Browser::start(PHONE.0, PHONE.1).await else {
        app.stop().await;
        return;
    };

    // First login: typed into the form, then the forced password change.
    browser.goto(&app.url("/login")).await;
    browser.type_into("#email", &email).await;
    browser.type_into("#password", OFFICIAL_PASSWORD).await;
    let landed = browser
        .submit("form.login button[type=submit]", "/login")
        .await;
    assert_eq!(landed, "/account/password");
    assert!(
        !browser.overflows_sideways().await,
        "password page on a phone"
    );
    browser.screenshot("first-login-phone").await;
    browser.type_into("#current", OFFICIAL_PASSWORD).await;
    browser.type_into("#password", "Lishu-Staff-2026!").await;
    browser.type_into("#confirm", "Lishu-Staff-2026!").await;
    let landed = browser
        .submit("form.login button[type=submit]", "/account/password")
        .await;
    assert_eq!(landed, "/staff");

    for (path, name) in [("/staff", "workspace"), ("/staff/entities", "entities")] {
        browser.goto(&app.url(path)).await;
        assert_eq!(browser.path().await, path);
        assert!(!browser.overflows_sideways().await, "{path} on a phone");
        let png = browser.screenshot(&format!("{name}-phone")).await;
        // The picture is the viewport: as wide as the phone (headless Chromium draws at ratio 1).
        let (w, _) = png_size(&png);
        assert_eq!(w, PHONE.0);
    }
    browser.resize(1280, 900).await;
    browser.goto(&app.url("/staff")).await;
    browser.screenshot("workspace-desktop").await;

    // A campaign made through the form; its leaflet at A4 size (96 dpi) and its LED page on a
    // 1080p screen, where the QR code must be big enough to scan from across a square.
    browser.goto(&app.url("/staff/campaigns")).await;
    browser.type_into("#name", "12月梨树镇宣传单").await;
    let campaign = browser
        .submit("form.campaign-form button[type=submit]", "/staff/campaigns")
        .await;
    assert!(campaign.starts_with("/staff/campaigns/"), "{campaign}");
    let campaign = campaign.split('?').next().unwrap();
    browser.resize(794, 1123).await;
    browser.goto(&app.url(&format!("{campaign}/leaflet"))).await;
    let qr_width = browser
        .eval("return document.querySelector('#leaflet svg').getBoundingClientRect().width")
        .await;
    assert!(qr_width.as_f64().unwrap() >= 250.0, "leaflet QR {qr_width}");
    browser.screenshot("leaflet-a4").await;
    let code: String = on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT code FROM campaigns ORDER BY id DESC LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    browser.resize(1920, 1080).await;
    // The screen shows no login: a fresh session would see the same.
    browser.goto(&app.url(&format!("/led/{code}"))).await;
    let qr = browser
        .eval("return document.querySelector('#led svg').getBoundingClientRect().height")
        .await;
    assert!(qr.as_f64().unwrap() >= 500.0, "LED QR height {qr}");
    assert!(
        !browser.overflows_sideways().await,
        "LED page fits the screen"
    );
    let png = browser.screenshot("led-1080p").await;
    assert_eq!(png_size(&png).0, 1920);
    browser.quit().await;
    app.stop().await;
}
