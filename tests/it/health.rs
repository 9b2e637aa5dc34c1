use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_while_the_process_runs() {
    let app = TestApp::spawn().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    app.stop().await;
}

#[tokio::test]
async fn readyz_reports_the_database() {
    let app = TestApp::spawn().await;
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ready");

    // With the pool closed the process is alive but cannot serve.
    app.db.close().await;
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn unknown_pages_get_a_chinese_404_page() {
    let app = TestApp::spawn().await;
    let doc = app.page("/no-such-page", 404).await;
    assert_eq!(crate::helpers::text(&doc, "h1"), "页面不存在");
    app.stop().await;
}

#[tokio::test]
async fn the_stylesheet_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let resp = app.get("/static/app.css").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(resp.text().await.unwrap().contains("max-width"));
    app.stop().await;
}
