//! HTTP edge: pages and JSON per audience. Handlers parse input into domain types, call the
//! store and render; they never talk to the provincial platform directly.

mod account;
mod admin;
mod admin_manage;
mod amend;
mod api;
mod assets;
mod campaigns;
mod change_password;
mod credit_metric;
mod digest;
pub mod error;
mod form;
mod health;
mod leaders;
mod metrics;
mod public;
pub mod qr;
pub mod register;
mod review;
pub mod roles;
pub mod server;
pub mod session;
mod staff;
mod staff_api;
mod trends;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use axum::routing::{get, post, put};
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
        .route("/register", get(register::find))
        .route("/register/form", get(register::form).post(register::submit))
        .route("/confirm-email", get(register::confirm_email))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route(
            "/forgot-password",
            get(account::forgot_form).post(account::forgot),
        )
        .route(
            "/reset-password",
            get(account::reset_form).post(account::reset),
        )
        .route("/me", get(account::me))
        .route(
            "/me/registrations/{id}/contact",
            get(amend::contact_form).post(amend::change_contact),
        )
        .route(
            "/me/registrations/{id}/resubmit",
            get(amend::resubmit_form).post(amend::resubmit),
        )
        .route(
            "/me/resend-confirmation",
            post(account::resend_confirmation),
        )
        .route(
            "/me/agreement",
            get(account::agreement).post(account::sign_agreement),
        )
        .route("/admin/sync", get(admin::sync_page))
        .route("/admin/sync/retry", post(admin::retry))
        .route("/admin/sync/discard", post(admin::discard))
        .route("/admin/sync/resolve", post(admin::resolve))
        .route(
            roles::CHANGE_PASSWORD,
            get(change_password::form).post(change_password::submit),
        )
        .merge(admin_manage::routes())
        .merge(staff::routes())
        .merge(staff_api::routes())
        .merge(review::routes())
        .merge(campaigns::routes())
        .merge(digest::routes())
        .merge(leaders::routes())
        .merge(trends::routes())
        .merge(credit_metric::routes())
        .route("/metrics", get(metrics::metrics))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/v1/registrations", post(api::create_registration))
        .route("/api/v1/registrations/{id}", get(api::get_registration))
        .route(
            "/api/v1/registrations/{id}/signatures",
            post(api::create_signature),
        )
        .route(
            "/api/v1/registrations/{id}/contact",
            put(api::change_contact),
        )
        .route(
            "/api/v1/registrations/{id}/resubmissions",
            post(api::resubmit),
        )
        .route("/api/v1/sessions", post(api::create_session))
        .route("/api/v1/agreements/current", get(api::current_agreement))
        .route("/api/v1/entities", get(api::search_entities))
        .fallback(error::not_found)
        .layer(axum::middleware::map_response(no_store_by_default))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::visitor,
        ))
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

/// Pages and API answers carry personal data (an owner's registration, the admin's lists): no
/// browser or proxy cache may keep them unless the handler says otherwise (the stylesheet does).
async fn no_store_by_default(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}
