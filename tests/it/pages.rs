//! Public pages, parsed as HTML.

use xinyidai::demo;
use xinyidai::domain::division::DivisionTree;
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::store;

use crate::helpers::{TestApp, attr, text, texts};

fn today() -> time::Date {
    time::macros::date!(2026 - 11 - 29)
}

/// A small synthetic roster across Siping's five units, stored in the app's database.
async fn with_roster(app: &TestApp, n: usize) -> Vec<RosterEntry> {
    let entries = demo::synthesise(&DivisionTree::seed(), n, 99, today());
    store::entities::upsert_batch(&app.db, &entries)
        .await
        .unwrap();
    entries
}

fn query(q: &str) -> String {
    let mut out = String::from("/entities?q=");
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn home_page_explains_and_offers_the_search() {
    let app = TestApp::spawn().await;
    with_roster(&app, 50).await;
    let doc = app.page("/", 200).await;
    assert!(text(&doc, "h1").contains("梨树县"));
    assert_eq!(
        attr(&doc, "form.search", "action").as_deref(),
        Some("/register")
    );
    assert_eq!(attr(&doc, "#start", "href").as_deref(), Some("/register"));
    assert_eq!(attr(&doc, "form.search", "method").as_deref(), Some("get"));
    assert_eq!(attr(&doc, "label[for=q]", "for").as_deref(), Some("q"));
    assert_eq!(
        attr(&doc, "meta[name=viewport]", "content").as_deref(),
        Some("width=device-width, initial-scale=1")
    );
    assert!(text(&doc, "#q-help").contains("50"));
    assert_eq!(texts(&doc, "ol.steps li").len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn a_leaflet_code_on_the_home_page_is_passed_on_to_registration() {
    let app = TestApp::spawn().await;
    let doc = app.page("/?ref=LED-LISHU-01", 200).await;
    assert_eq!(
        attr(&doc, "#start", "href").as_deref(),
        Some("/register?ref=LED-LISHU-01")
    );
    assert_eq!(
        attr(&doc, "form.search input[name=ref]", "value").as_deref(),
        Some("LED-LISHU-01")
    );
    // Anything that is not a plain code is dropped, not echoed.
    let doc = app.page("/?ref=%3Cscript%3E", 200).await;
    assert_eq!(attr(&doc, "#start", "href").as_deref(), Some("/register"));
    app.stop().await;
}

#[tokio::test]
async fn finds_an_entity_by_its_code_typed_loosely() {
    let app = TestApp::spawn().await;
    let entries = with_roster(&app, 300).await;
    let target = entries.iter().find(|e| e.county_code == "220322").unwrap();
    // Lowercase, with spaces and a hyphen, as people type it from a licence.
    let code = target.uscc.as_str().to_ascii_lowercase();
    let loose = format!("{} {}-{}", &code[..6], &code[6..12], &code[12..]);
    let doc = app.page(&query(&loose), 200).await;
    assert_eq!(
        texts(&doc, "#results .name"),
        std::slice::from_ref(&target.name)
    );
    assert_eq!(text(&doc, "#results .uscc"), target.uscc.as_str());
    assert_eq!(text(&doc, "#results .kind"), target.kind.label_zh());
    assert!(text(&doc, "#results .place").starts_with("梨树县"));
    app.stop().await;
}

#[tokio::test]
async fn finds_entities_by_part_of_the_name_and_masks_the_legal_representative() {
    let app = TestApp::spawn().await;
    let entries = with_roster(&app, 400).await;
    let target = entries
        .iter()
        .find(|e| e.county_code == "220322" && e.name.contains("有限公司"))
        .unwrap();
    let part: String = target.name.chars().skip(3).take(4).collect();
    let doc = app.page(&query(&part), 200).await;
    let names = texts(&doc, "#results .name");
    assert!(names.contains(&target.name), "{part}: {names:?}");
    assert!(names.iter().all(|n| n.contains(&part)));
    let html = doc.html();
    for e in &entries {
        assert!(
            !html.contains(&format!(">{}<", e.legal_rep)),
            "legal representative shown in full"
        );
    }
    for masked in texts(&doc, "#results .legal-rep") {
        assert!(masked.chars().skip(1).all(|c| c == '*'), "{masked}");
    }
    app.stop().await;
}

#[tokio::test]
async fn search_stays_inside_the_jurisdiction() {
    let app = TestApp::spawn().await;
    let entries = with_roster(&app, 300).await;
    let outside = entries.iter().find(|e| e.county_code == "220382").unwrap();
    let doc = app.page(&query(outside.uscc.as_str()), 200).await;
    assert!(texts(&doc, "#results .name").is_empty());
    assert!(text(&doc, "#no-results h2").contains(outside.uscc.as_str()));
    app.stop().await;

    // A city-level deployment sees all five units.
    let city = TestApp::spawn_with(|s| s.jurisdiction = "220300".into()).await;
    store::entities::upsert_batch(&city.db, &entries)
        .await
        .unwrap();
    let doc = city.page(&query(outside.uscc.as_str()), 200).await;
    assert_eq!(
        texts(&doc, "#results .name"),
        std::slice::from_ref(&outside.name)
    );
    city.stop().await;
}

#[tokio::test]
async fn an_invalid_full_length_code_gets_a_hint_and_wildcards_match_literally() {
    let app = TestApp::spawn().await;
    with_roster(&app, 100).await;
    let doc = app.page(&query("91220322MA0000000X"), 200).await;
    assert!(text(&doc, "#hint").contains("不是有效的统一社会信用代码"));

    // `%` and `_` are ordinary characters, not a way to list the whole roster.
    for q in ["%", "_", "%%"] {
        let doc = app.page(&query(q), 200).await;
        assert!(texts(&doc, "#results .name").is_empty(), "{q}");
    }
    app.stop().await;
}

#[tokio::test]
async fn broad_searches_are_capped_with_a_prompt_to_refine() {
    let app = TestApp::spawn().await;
    with_roster(&app, 600).await;
    let doc = app.page(&query("梨树县"), 200).await;
    assert_eq!(texts(&doc, "#results .name").len(), 20);
    assert!(text(&doc, "#result-count").contains("请输入更完整的名称"));
    app.stop().await;
}

#[tokio::test]
async fn an_empty_search_shows_the_form_only() {
    let app = TestApp::spawn().await;
    let doc = app.page("/entities?q=%20%20", 200).await;
    assert!(texts(&doc, "#results").is_empty());
    assert!(texts(&doc, "#no-results").is_empty());
    assert_eq!(attr(&doc, "#q", "value").as_deref(), Some(""));
    app.stop().await;
}

#[tokio::test]
async fn pages_and_api_answers_are_not_cached_but_the_stylesheet_is() {
    let app = TestApp::spawn().await;
    for path in ["/", "/register", "/login", "/me", "/api/v1/entities?q=1"] {
        let resp = app.get(path).await;
        assert_eq!(
            resp.headers()["cache-control"].to_str().unwrap(),
            "no-store",
            "{path}"
        );
    }
    let css = app.get("/static/app.css").await;
    assert_eq!(
        css.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=3600"
    );
    app.stop().await;
}
