//! Static assets are compiled into the binary: one file to deploy, nothing fetched at run time.

use axum::http::header;
use axum::response::IntoResponse;

/// One stylesheet for every page, kept in a file per area so each reads on its own.
const STYLESHEET: &str = concat!(
    include_str!("../../static/app.css"),
    include_str!("../../static/workspace.css"),
    include_str!("../../static/review.css"),
    include_str!("../../static/campaigns.css"),
    include_str!("../../static/admin.css"),
    include_str!("../../static/leaders.css"),
);

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}
