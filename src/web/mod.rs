//! HTTP edge: pages and JSON per audience. Handlers parse input into domain types, call the
//! store and render; they never talk to the provincial platform directly.

mod assets;
pub mod error;
mod health;
mod public;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use crate::app::AppState;

/// Request bodies above this are refused with 413 before any handler runs.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(public::home))
        .route("/entities", get(public::entities))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/static/app.css", get(assets::stylesheet))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            // Method and matched route only: paths and query strings can carry personal data.
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("<unmatched>", MatchedPath::as_str);
                tracing::info_span!("request", method = %req.method(), route)
            }),
        )
        .with_state(state)
}
