//! The staff workspace, a campaign's leaflet and its LED screen in a real Chromium: a staff member
//! logs in by typing into the form, the pages fit a phone without sideways scrolling, and each is
//! photographed to `target/screenshots/` for people to look at.

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
    browser.click("form.login button[type=submit]").await;
    assert_eq!(browser.path().await, "/account/password");
    assert!(
        !browser.overflows_sideways().await,
        "password page on a phone"
    );
    browser.screenshot("first-login-phone").await;
    browser.type_into("#current", OFFICIAL_PASSWORD).await;
    browser.type_into("#password", "Lishu-Staff-2026!").await;
    browser.type_into("#confirm", "Lishu-Staff-2026!").await;
    browser.click("form.login button[type=submit]").await;
    assert_eq!(browser.path().await, "/staff");

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
    browser.quit().await;
    app.stop().await;
}
