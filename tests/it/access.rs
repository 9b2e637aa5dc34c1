//! Department scoping across the whole staff side: every staff page and staff API route that
//! takes an id, read from the router's own source so a new route cannot be left out, answers 404
//! to another department's staff and works for the owning department's.

use xinyidai::on_pool;

use crate::api::routes_under;
use crate::helpers::TestApp;
use crate::people::{self, bearer, browser, csrf, get_page};

/// Route modules merged into the router that serve staff pages or the staff API.
const SOURCES: &str = concat!(
    include_str!("../../src/web/staff.rs"),
    include_str!("../../src/web/staff_api.rs"),
    include_str!("../../src/web/review.rs"),
    include_str!("../../src/web/campaigns.rs"),
    include_str!("../../src/web/digest.rs"),
);

#[tokio::test]
async fn every_staff_route_with_an_id_is_a_404_to_another_department() {
    let app = TestApp::spawn().await;
    let departments = people::departments(&app).await;
    let (mine, theirs) = (departments[0].id, departments[1].id);
    let staff_mine = people::staff(&app, mine).await;
    let staff_theirs = people::staff(&app, theirs).await;

    // Their department's entity, registration awaiting review, and campaign.
    let entity = people::assigned_entities(&app, theirs, 1, 91).await;
    let entity_id: i64 = on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT id FROM entities WHERE uscc = $1")
            .bind(entity[0].uscc.as_str())
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let registration = xinyidai::demo::seed_registrations(
        &app.db,
        &app.vault,
        1,
        0,
        92,
        |_| crate::mailbox::unique_address(),
        xinyidai::demo::SeedShape::AwaitingReview,
    )
    .await
    .unwrap()[0];
    on_pool!(&app.db, |pool| {
        sqlx::query(
            "UPDATE entities SET department_id = $1
             WHERE id = (SELECT entity_id FROM registrations WHERE id = $2)",
        )
        .bind(theirs)
        .bind(registration)
        .execute(pool)
        .await
        .unwrap();
    });
    let their_account: i64 = on_pool!(&app.db, |pool| {
        sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
            .bind(&staff_theirs)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let campaign =
        xinyidai::store::campaigns::create(&app.db, theirs, "入户宣传", "扫码登记", their_account)
            .await
            .unwrap();

    let routes: Vec<_> = routes_under(SOURCES, "/")
        .into_iter()
        .filter(|(path, _)| path.contains("{id}"))
        .collect();
    let id_for = |path: &str| -> i64 {
        let path = path.trim_start_matches("/api/v1");
        if path.starts_with("/staff/entities/") {
            entity_id
        } else if path.starts_with("/staff/review/") {
            registration
        } else if path.starts_with("/staff/campaigns/") {
            campaign
        } else {
            panic!("{path}: a staff route with an id this test does not know; add its object")
        }
    };

    let mine_browser = browser(&app, &staff_mine).await;
    let theirs_browser = browser(&app, &staff_theirs).await;
    let mine_token = bearer(&app, &staff_mine).await;
    let theirs_token = bearer(&app, &staff_theirs).await;
    let mut checked = 0;
    for (pattern, methods) in &routes {
        if !pattern.starts_with("/staff") && !pattern.starts_with("/api/v1/staff") {
            continue;
        }
        let path = pattern.replace("{id}", &id_for(pattern).to_string());
        let api = path.starts_with("/api/");
        for method in methods {
            let mut answers = Vec::new();
            for (client, token) in [
                (&mine_browser, &mine_token),
                (&theirs_browser, &theirs_token),
            ] {
                let url = app.url(&path);
                let resp = match (*method, api) {
                    ("get", false) => client.get(url).send().await.unwrap(),
                    ("post", false) => {
                        let (_, page) = get_page(&app, client, "/staff").await;
                        client
                            .post(url)
                            .form(&[("csrf", csrf(&page))])
                            .send()
                            .await
                            .unwrap()
                    }
                    ("get", true) => app.client.get(url).bearer_auth(token).send().await.unwrap(),
                    ("post", true) => app
                        .client
                        .post(url)
                        .bearer_auth(token)
                        .json(&serde_json::json!({}))
                        .send()
                        .await
                        .unwrap(),
                    other => panic!("{other:?} {path}: no request for this method yet"),
                };
                answers.push(resp.status().as_u16());
            }
            assert_eq!(
                answers[0], 404,
                "{method} {path} as another department's staff"
            );
            assert_ne!(
                answers[1], 404,
                "{method} {path} as the owning department's staff"
            );
            assert!(answers[1] < 500, "{method} {path}: {}", answers[1]);
            checked += 1;
        }
    }
    // entities ×5, review ×4, campaigns ×5 at the time of writing.
    assert!(checked >= 14, "only {checked} routes checked: {routes:?}");
    app.stop().await;
}
