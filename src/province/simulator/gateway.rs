//! The `/v1` HTTP surface: routing, the gateway faults decided before authentication, and
//! the authentication itself (§2–§3 of `docs/provincial-api.md`).

use super::*;

// HTTP

pub(super) type AppState = State<Arc<Shared>>;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/entities", post(register))
        .route("/v1/entities/{uscc}", get(status))
        .route("/v1/entities/{uscc}/contact", patch(update_contact))
        .route("/v1/verifications", post(verify_l3))
        .route("/sim/faults", get(get_faults).post(set_faults))
        .route("/sim/stats", get(get_stats))
        .with_state(shared)
}

/// One `/v1` request, as the guard and the endpoint handlers see it.
pub(super) struct Request {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

pub(super) enum Endpoint {
    Register,
    Status(String),
    Contact(String),
    Verify,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Request {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let request = axum::extract::Request::from_parts(parts.clone(), body);
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Request {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

pub(super) async fn register(
    State(shared): AppState,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    serve_v1(shared, conn, request, Endpoint::Register).await
}

pub(super) async fn status(
    State(shared): AppState,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path(uscc): Path<String>,
    request: Request,
) -> Response {
    serve_v1(shared, conn, request, Endpoint::Status(uscc)).await
}

pub(super) async fn update_contact(
    State(shared): AppState,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path(uscc): Path<String>,
    request: Request,
) -> Response {
    serve_v1(shared, conn, request, Endpoint::Contact(uscc)).await
}

pub(super) async fn verify_l3(
    State(shared): AppState,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    serve_v1(shared, conn, request, Endpoint::Verify).await
}

pub(super) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

pub(super) fn internal(error: &sqlx::Error) -> Response {
    tracing::error!(error = %error, "province-sim: database error");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "simulator database error",
    )
}

/// The rolls of one request, drawn together in a fixed order so that the fault sequence
/// depends only on the seed and the order of requests, not on which faults are enabled.
pub(super) struct Rolls {
    pub(super) error: f64,
    pub(super) throttle: f64,
    pub(super) timeout: f64,
    pub(super) drop: f64,
}

impl Rolls {
    pub(super) fn draw(rng: &Mutex<StdRng>) -> Rolls {
        let mut rng = lock(rng);
        Rolls {
            error: rng.random::<f64>(),
            throttle: rng.random::<f64>(),
            timeout: rng.random::<f64>(),
            drop: rng.random::<f64>(),
        }
    }
}

/// Answers a `/v1` request in a task of its own, so a client that hangs up mid-request (a
/// killed server) cannot cancel a database call halfway: sqlx would then close the one pooled
/// connection as possibly inconsistent, and with `sqlite::memory:` the data would go with it.
pub(super) async fn serve_v1(
    shared: Arc<Shared>,
    conn: ConnHandle,
    request: Request,
    endpoint: Endpoint,
) -> Response {
    let answering = tokio::spawn(async move { answer_v1(&shared, &conn, request, endpoint).await });
    match answering.await {
        Ok(response) => response,
        Err(join) => {
            tracing::error!(error = %join, "province-sim: answering task failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "simulator task failed",
            )
        }
    }
}

pub(super) async fn answer_v1(
    shared: &Shared,
    conn: &ConnHandle,
    request: Request,
    endpoint: Endpoint,
) -> Response {
    if let Err(e) = bump(&shared.pool, Counter::Received).await {
        return internal(&e);
    }
    let faults = *lock(&shared.faults);
    // `random::<f64>()` is in [0, 1): a rate of 0.0 never fires and 1.0 always does.
    let rolls = Rolls::draw(&shared.rng);

    if faults.latency_ms > 0 && !shared.hold(Duration::from_millis(faults.latency_ms)).await {
        return shutting_down();
    }
    if let Some(response) = gateway_fault(shared, &faults, &rolls).await {
        if let Err(e) = bump(&shared.pool, Counter::FaultsInjected).await {
            return internal(&e);
        }
        return response;
    }

    let now = now_unix();
    if let Err(refusal) = authenticate(shared, &request, now) {
        if let Err(e) = bump(&shared.pool, Counter::RefusedAuth).await {
            return internal(&e);
        }
        return refusal.into_response();
    }

    let response = match endpoint {
        Endpoint::Register => handle_register(shared, &request.body).await,
        Endpoint::Status(uscc) => handle_status(shared, &uscc).await,
        Endpoint::Contact(uscc) => handle_contact(shared, &uscc, &request.body).await,
        Endpoint::Verify => handle_verify(shared, &request.body),
    };

    if rolls.drop < faults.drop_after_store_rate {
        if let Err(e) = bump(&shared.pool, Counter::FaultsInjected).await {
            return internal(&e);
        }
        tracing::debug!("province-sim: dropping the connection after processing");
        conn.0.store(true, Ordering::Release);
    }
    response
}

pub(super) fn shutting_down() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "simulator is shutting down",
    )
}

/// The faults a gateway in front of the platform would produce, before authentication.
pub(super) async fn gateway_fault(
    shared: &Shared,
    faults: &Faults,
    rolls: &Rolls,
) -> Option<Response> {
    if faults.outage {
        return Some(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "outage",
            "平台维护中 (simulated outage)",
        ));
    }
    if rolls.error < faults.error_rate {
        return Some(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "平台繁忙 (simulated server error)",
        ));
    }
    if rolls.throttle < faults.throttle_rate {
        let mut response = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "请求过于频繁 (simulated throttling)",
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(faults.retry_after_secs));
        return Some(response);
    }
    if rolls.timeout < faults.timeout_rate {
        if !shared
            .hold(Duration::from_millis(faults.timeout_hold_ms))
            .await
        {
            return Some(shutting_down());
        }
        return Some(error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "simulated timeout",
        ));
    }
    None
}

/// An authentication refusal; see `docs/provincial-api.md` §6.
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: &'static str,
}

impl Refusal {
    pub(super) const fn unauthorized(code: &'static str, message: &'static str) -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            code,
            message,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message)
    }
}

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks app id, signature, timestamp window and nonce reuse, in that order: the signature
/// is verified before the nonce is recorded, so a forged request cannot burn a nonce that a
/// genuine one will use.
pub(super) fn authenticate(shared: &Shared, request: &Request, now: i64) -> Result<(), Refusal> {
    let headers = &request.headers;
    if header(headers, HEADER_APP_ID) != Some(shared.app_id.as_str()) {
        return Err(Refusal::unauthorized("unknown_app", "unknown X-App-Id"));
    }
    let method = match header(headers, HEADER_SIGNATURE_METHOD) {
        None => SignatureMethod::default(),
        Some(value) => SignatureMethod::parse(value).ok_or(Refusal::unauthorized(
            "bad_signature",
            "unsupported X-Signature-Method",
        ))?,
    };
    let timestamp = header(headers, HEADER_TIMESTAMP)
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(Refusal::unauthorized(
            "bad_signature",
            "missing or malformed X-Timestamp",
        ))?;
    let nonce = header(headers, HEADER_NONCE)
        .filter(|n| signing::nonce_is_well_formed(n))
        .ok_or(Refusal::unauthorized(
            "bad_signature",
            "missing or malformed X-Nonce",
        ))?;
    let signature = header(headers, HEADER_SIGNATURE).ok_or(Refusal::unauthorized(
        "bad_signature",
        "missing X-Signature",
    ))?;
    let path = request
        .uri
        .path_and_query()
        .map_or_else(|| request.uri.path(), |pq| pq.as_str());
    if !signing::verify(
        method,
        &shared.secret,
        request.method.as_str(),
        path,
        timestamp,
        nonce,
        &request.body,
        signature,
    ) {
        return Err(Refusal::unauthorized(
            "bad_signature",
            "signature does not match",
        ));
    }
    if (now - timestamp).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(Refusal {
            status: StatusCode::CONFLICT,
            code: "stale_timestamp",
            message: "X-Timestamp is outside ±300 s of the platform clock",
        });
    }
    if !lock(&shared.nonces).insert(nonce, timestamp, now) {
        return Err(Refusal {
            status: StatusCode::CONFLICT,
            code: "replay",
            message: "X-Nonce already used",
        });
    }
    Ok(())
}
