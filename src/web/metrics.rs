//! `GET /metrics`: Prometheus text exposition (format 0.0.4). Queue depth comes from the outbox
//! table (it survives restarts); send outcomes and the breaker from the worker's in-process
//! counters. With `XYD_METRICS_TOKEN` set, a scraper must present it as a bearer token.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::store::sync_admin;

use super::admin::{KINDS, STATES};
use super::error::AppError;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Sync states a registration normally has; listed even at zero so alerts see a series.
const SYNC_STATES: [&str; 3] = ["pending", "accepted", "rejected"];

pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(token) = &state.settings.metrics_token
        && !bearer_matches(&headers, token.expose())
    {
        return Ok((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "需要有效的访问令牌：Authorization: Bearer <XYD_METRICS_TOKEN>\n",
        )
            .into_response());
    }
    let body = render(&state).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

/// Whether the request carries `Authorization: Bearer <expected>`. Both sides go through the
/// same HMAC and the tags are compared by the MAC crate in constant time, so neither the
/// token's length nor a matching prefix shows in the response time.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(presented) = presented else {
        return false;
    };
    let mac = |value: &str| {
        <Hmac<Sha256> as KeyInit>::new_from_slice(b"xinyidai metrics token")
            .map(|m| m.chain_update(value.as_bytes()))
    };
    match (mac(expected), mac(presented)) {
        (Ok(expected), Ok(presented)) => presented
            .verify_slice(&expected.finalize().into_bytes())
            .is_ok(),
        _ => false,
    }
}

async fn render(state: &AppState) -> Result<String, AppError> {
    let db = &state.db;
    let mut out = Exposition::default();

    let mut rows: BTreeMap<(String, String), i64> = KINDS
        .iter()
        .flat_map(|k| {
            STATES
                .iter()
                .map(|s| (((*k).to_owned(), (*s).to_owned()), 0))
        })
        .collect();
    for c in sync_admin::outbox_counts(db).await? {
        rows.insert((c.kind, c.state), c.n);
    }
    out.family(
        "xyd_outbox_rows",
        "gauge",
        "Outbox rows by event kind and state.",
    );
    for ((kind, state), n) in &rows {
        out.sample("xyd_outbox_rows", &[("kind", kind), ("state", state)], n);
    }

    let oldest = sync_admin::oldest_pending(db).await?.map_or(0.0, |at| {
        (OffsetDateTime::now_utc() - at).as_seconds_f64().max(0.0)
    });
    out.family(
        "xyd_outbox_oldest_pending_seconds",
        "gauge",
        "Age of the oldest pending outbox row in seconds (0 when none is pending).",
    );
    out.sample(
        "xyd_outbox_oldest_pending_seconds",
        &[],
        format!("{oldest:.3}"),
    );

    out.family(
        "xyd_outbox_attempts_total",
        "gauge",
        "Sum of send attempts recorded on outbox rows. A gauge, not a counter: an admin's retry resets a row's attempts to zero.",
    );
    out.sample(
        "xyd_outbox_attempts_total",
        &[],
        sync_admin::attempts_total(db).await?,
    );

    let mut registrations: BTreeMap<String, i64> =
        SYNC_STATES.iter().map(|s| ((*s).to_owned(), 0)).collect();
    for c in sync_admin::registrations_by_sync_state(db).await? {
        registrations.insert(c.sync_state, c.n);
    }
    out.family(
        "xyd_registrations",
        "gauge",
        "Registrations by provincial sync state.",
    );
    for (sync_state, n) in &registrations {
        out.sample("xyd_registrations", &[("sync_state", sync_state)], n);
    }

    let m = state.sync_metrics.snapshot();
    out.family(
        "xyd_sync_outcomes_total",
        "counter",
        "Outbox sends since the process started, by result.",
    );
    for (result, n) in &m.outcomes {
        out.sample("xyd_sync_outcomes_total", &[("result", result.as_str())], n);
    }
    out.family(
        "xyd_sync_province_calls_total",
        "counter",
        "Calls made to the provincial platform since the process started, successful or not.",
    );
    out.sample("xyd_sync_province_calls_total", &[], m.calls);
    out.family(
        "xyd_sync_breaker_state",
        "gauge",
        "Circuit breaker towards the province: 0 closed (sending), 1 open (paused), 2 half-open (probing).",
    );
    out.sample("xyd_sync_breaker_state", &[], m.breaker.code());
    out.family(
        "xyd_sync_breaker_opened_total",
        "counter",
        "Times the circuit breaker opened since the process started.",
    );
    out.sample("xyd_sync_breaker_opened_total", &[], m.breaker_opened);
    out.family(
        "xyd_sync_breaker_closed_total",
        "counter",
        "Times the circuit breaker closed again since the process started.",
    );
    out.sample("xyd_sync_breaker_closed_total", &[], m.breaker_closed);
    Ok(out.0)
}

/// The text being built; writing to a `String` cannot fail.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn bearer_token_must_match_whole() {
        let token = "0123456789abcdef0123";
        assert!(bearer_matches(
            &with_auth("Bearer 0123456789abcdef0123"),
            token
        ));
        assert!(bearer_matches(
            &with_auth("bearer 0123456789abcdef0123"),
            token
        ));
        assert!(!bearer_matches(
            &with_auth("Bearer 0123456789abcdef"),
            token
        ));
        assert!(!bearer_matches(
            &with_auth("Basic 0123456789abcdef0123"),
            token
        ));
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }

    #[test]
    fn samples_follow_the_exposition_format() {
        let mut out = Exposition::default();
        out.family("x_rows", "gauge", "Rows.");
        out.sample("x_rows", &[("kind", "a\"b\\c\nd"), ("state", "dead")], 3);
        out.sample("x_rows", &[], 0.5);
        assert_eq!(
            out.0,
            "# HELP x_rows Rows.\n# TYPE x_rows gauge\n\
             x_rows{kind=\"a\\\"b\\\\c\\nd\",state=\"dead\"} 3\nx_rows 0.5\n"
        );
    }
}
