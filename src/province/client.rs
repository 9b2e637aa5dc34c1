//! The HTTP client of the provincial Xinyidai platform (`docs/provincial-api.md` §5–§6).
//!
//! [`Province`] is what the outbox worker calls; [`HttpProvince`] speaks the documented wire
//! format to a real platform or to `xinyidai province-sim`. Every answer is mapped onto either a
//! typed result or a [`ProvincialError`] that says what the worker should do next: retry with
//! backoff, ask for the entity's status first, or stop and tell the owner (or an admin).
//!
//! Personal data (ID numbers, mobiles, emails, names of people) travels in request bodies only:
//! it is never logged, never part of an error's `Display`, and masked in every `Debug` here.
//! Logs carry the USCC, the operation and the HTTP status.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::signing::{self, SignatureMethod};
use crate::config::Secret;

/// Whole-request timeout (connect, send, and read the full answer) unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect timeout unless configured; short, because a province that cannot even accept a
/// connection is down and the breaker should hear about it quickly.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer body read. Every documented answer is a few hundred bytes; the cap stops a
/// misbehaving gateway from making the worker buffer an arbitrary amount of memory.
const MAX_ANSWER_BYTES: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// The interface the worker depends on

/// The provincial platform, as the outbox worker sees it.
///
/// The methods return `impl Future + Send` so that implementations can be plain `async fn`s
/// without boxing. The price is that the trait is not dyn-compatible: code that needs a
/// province is generic over `P: Province` (the worker is, and tests substitute their own).
pub trait Province: Send + Sync {
    /// Registers an entity (§5.1). Idempotent on the USCC: a repeat is `Ok` with
    /// [`Accepted::created`] false, never an error.
    fn register(
        &self,
        req: &RegisterEntity,
    ) -> impl Future<Output = Result<Accepted, ProvincialError>> + Send;

    /// The entity's status (§5.3); `None` when the province does not know the USCC (404).
    fn status(
        &self,
        uscc: &str,
    ) -> impl Future<Output = Result<Option<ProvincialStatus>, ProvincialError>> + Send;

    /// Sends new contact data (§5.2). Out-of-order revisions are harmless: the province keeps
    /// the highest and reports older ones as [`ContactOutcome::Stale`].
    fn update_contact(
        &self,
        uscc: &str,
        update: &ContactUpdate,
    ) -> impl Future<Output = Result<ContactOutcome, ProvincialError>> + Send;

    /// L3 real-name verification (§5.4). A failed check is an answer ([`L3Outcome::Fail`]),
    /// not an error.
    fn verify_l3(
        &self,
        req: &L3Request,
    ) -> impl Future<Output = Result<L3Outcome, ProvincialError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Request and answer types (§5)

/// `POST /v1/entities` body. Field names and shapes are the wire format, so the outbox can
/// store this as JSON and send it later unchanged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterEntity {
    pub uscc: String,
    /// The entity's registered name (a business, not a person).
    pub name: String,
    /// E.g. `enterprise`, `individual_business`, `cooperative`; free text, as the document
    /// lists examples rather than a closed set.
    pub kind: String,
    /// 6-digit administrative division code.
    pub division_code: String,
    pub legal_rep: LegalRep,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub verification: RealNameEvidence,
    pub agreement: AgreementEvidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_code: Option<String>,
}

impl fmt::Debug for RegisterEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterEntity")
            .field("uscc", &self.uscc)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("division_code", &self.division_code)
            .field("legal_rep", &self.legal_rep)
            .field("email", &self.email.as_ref().map(|_| Redacted))
            .field("verification", &self.verification)
            .field("agreement", &self.agreement)
            .field("referral_code", &self.referral_code)
            .finish()
    }
}

/// The legal representative (法定代表人 / 经营者): all personal data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalRep {
    pub name: String,
    /// Resident ID number (居民身份证号), sent in clear; SM4 field encryption (§4) is not
    /// implemented yet.
    pub id_number: String,
    pub mobile: String,
}

impl fmt::Debug for LegalRep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegalRep")
            .field("name", &MaskedName(&self.name))
            .field("id_number", &Redacted)
            .field("mobile", &Redacted)
            .finish()
    }
}

/// How the entity's real name was verified, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealNameEvidence {
    pub level: VerificationLevel,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// `verification.level` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerificationLevel {
    /// Verified through our real-name check.
    #[serde(rename = "L2")]
    L2,
    /// Verified in person by county staff.
    #[serde(rename = "manual")]
    Manual,
}

/// Evidence that the owner signed the authorisation agreement (授权协议).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementEvidence {
    pub version: String,
    /// Hex SHA-256 of the agreement text shown.
    pub digest: String,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    pub signer_name: String,
}

impl fmt::Debug for AgreementEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgreementEvidence")
            .field("version", &self.version)
            .field("digest", &self.digest)
            .field("signed_at", &self.signed_at)
            .field("signer_name", &MaskedName(&self.signer_name))
            .finish()
    }
}

/// The province holds the entity (201 or 200 to a registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub uscc: String,
    pub platform_id: String,
    /// True on 201 (stored now); false on 200 (already known: an idempotent repeat, or an
    /// update when the content differed). The worker treats both as success.
    pub created: bool,
}

/// What the province says about one USCC (§5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvincialStatus {
    pub uscc: String,
    /// Optional because a real platform may assign none to a rejected record.
    pub platform_id: Option<String>,
    pub state: EntityState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityState {
    Accepted,
    /// Rejected, with the province's reason for the owner.
    Rejected {
        reason: String,
    },
}

/// `PATCH /v1/entities/{uscc}/contact` body. The USCC is in the path, not here.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Per-entity, increased with every change; the province keeps the highest.
    pub revision: i64,
}

impl fmt::Debug for ContactUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContactUpdate")
            .field("mobile", &self.mobile.as_ref().map(|_| Redacted))
            .field("email", &self.email.as_ref().map(|_| Redacted))
            .field("revision", &self.revision)
            .finish()
    }
}

/// The province's answer to a contact update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactOutcome {
    /// This revision is now the current one (also when it already was).
    Applied { revision: i64 },
    /// An equal-or-newer revision was applied before; this one was ignored.
    Stale { current_revision: i64 },
    /// 404: the entity is not registered, so the registration must go first. An answer rather
    /// than an error, because the worker's next step (register, then resend) is well defined.
    NotRegistered,
}

/// `POST /v1/verifications` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L3Request {
    pub uscc: String,
    pub legal_rep: L3Person,
}

impl fmt::Debug for L3Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L3Request")
            .field("uscc", &self.uscc)
            .field("legal_rep", &self.legal_rep)
            .finish()
    }
}

/// The person whose real name is checked.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L3Person {
    pub name: String,
    pub id_number: String,
}

impl fmt::Debug for L3Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L3Person")
            .field("name", &MaskedName(&self.name))
            .field("id_number", &Redacted)
            .finish()
    }
}

/// The province's L3 verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L3Outcome {
    Pass,
    Fail { reason: String },
}

/// Stands in for a personal value in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A person's name in `Debug` output: the first character only (张三 → 张*), enough to tell
/// records apart while debugging without printing the name.
struct MaskedName<'a>(&'a str);

impl fmt::Debug for MaskedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.chars().next() {
            Some(first) => write!(f, "\"{first}*\""),
            None => f.write_str("\"\""),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors (§6)

/// Why a call to the province did not produce an answer the worker can record.
///
/// The worker needs three answers from an error, given by the methods below:
/// [`is_retryable`](Self::is_retryable) (back off and try again),
/// [`needs_status_check`](Self::needs_status_check) (the record may already be stored: ask
/// before resending), and, by matching [`Rejected`](Self::Rejected), whether the owner must
/// fix the record. [`Auth`](Self::Auth) and [`Protocol`](Self::Protocol) are neither retryable
/// nor the owner's fault: they are configuration or integration faults for an admin.
///
/// `Display` never contains personal data: only statuses, the province's error codes and the
/// URL (which holds at most a USCC). The province's human-readable reason is in
/// [`Rejected::message`](Self::Rejected) for showing to the owner, not in `Display`, because
/// we do not control what a real platform puts in it.
#[derive(Debug, thiserror::Error)]
pub enum ProvincialError {
    /// No complete answer within the timeout; the request may have been processed.
    #[error("the province did not answer in time")]
    Timeout(#[source] reqwest::Error),
    /// Could not connect: nothing was sent.
    #[error("could not connect to the province")]
    Connection(#[source] reqwest::Error),
    /// The connection failed after the request was (or may have been) sent, before a complete
    /// answer: the "dropped answer" case. The request may have been processed.
    #[error("the connection to the province closed without a complete answer")]
    NoResponse(#[source] reqwest::Error),
    /// 429; retry no earlier than `retry_after` when the province gave one in seconds.
    #[error("the province throttled the request (HTTP 429)")]
    Throttled { retry_after: Option<Duration> },
    /// 5xx: the platform failed.
    #[error("the province failed (HTTP {0})")]
    Server(u16),
    /// 400/422: this record is refused, permanently, with the province's reason.
    #[error("the province rejected the record (HTTP {status}, code {code})")]
    Rejected {
        status: u16,
        code: String,
        /// The province's reason, for the owner (often Chinese).
        message: String,
    },
    /// 401: our app id or signature was refused. A configuration fault, not the record's.
    #[error("the province refused our credentials (HTTP 401, code {code})")]
    Auth { code: String },
    /// 409 `replay` or `stale_timestamp`. Every attempt is signed afresh, so a retry is
    /// enough for a replay; a stale timestamp that repeats means our clock is off.
    #[error("the province refused the request as replayed or stale (HTTP 409, code {code})")]
    Replay { code: String },
    /// An answer outside the documented interface (unexpected status, unparseable body), or a
    /// request we could not encode. Retrying the same exchange would give the same result.
    #[error("unexpected exchange with the province: {0}")]
    Protocol(String),
}

impl ProvincialError {
    /// Whether the same request may succeed later without any change to the record.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_)
            | Self::Connection(_)
            | Self::NoResponse(_)
            | Self::Throttled { .. }
            | Self::Server(_)
            | Self::Replay { .. } => true,
            Self::Rejected { .. } | Self::Auth { .. } | Self::Protocol(_) => false,
        }
    }

    /// Whether the province may have stored the request although we got no answer: the
    /// worker must then query [`Province::status`] and resend only if the entity is unknown.
    pub fn needs_status_check(&self) -> bool {
        matches!(self, Self::Timeout(_) | Self::NoResponse(_))
    }

    /// The `Retry-After` delay of a throttled request.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// Why an [`HttpProvince`] could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum ProvinceSetupError {
    #[error("province settings: {0}")]
    Settings(String),
    #[error("could not build the province HTTP client")]
    Client(#[source] reqwest::Error),
}

// ---------------------------------------------------------------------------------------------
// The HTTP implementation

/// Where and how to reach the province. `Debug` is safe to log: the secret is a [`Secret`].
#[derive(Debug, Clone)]
pub struct ProvinceSettings {
    /// E.g. `https://xyd.example-province.gov.cn/api`; a path prefix is kept and signed.
    pub base_url: String,
    /// `X-App-Id`.
    pub app_id: String,
    /// The shared HMAC secret.
    pub secret: Secret,
    pub method: SignatureMethod,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl ProvinceSettings {
    /// Settings with the default method (HMAC-SHA256) and timeouts (10 s, connect 3 s).
    pub fn new(
        base_url: impl Into<String>,
        app_id: impl Into<String>,
        secret: Secret,
    ) -> ProvinceSettings {
        ProvinceSettings {
            base_url: base_url.into(),
            app_id: app_id.into(),
            secret,
            method: SignatureMethod::default(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// [`Province`] over HTTPS JSON with signed requests (§2–§3).
pub struct HttpProvince {
    http: reqwest::Client,
    base: Url,
    app_id: String,
    secret: Secret,
    method: SignatureMethod,
}

impl fmt::Debug for HttpProvince {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvince")
            .field("base", &self.base.as_str())
            .field("app_id", &self.app_id)
            .field("secret", &self.secret)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl HttpProvince {
    /// Validates the settings and builds the client once, so the timeouts and connection
    /// pool are shared by every call.
    pub fn new(settings: ProvinceSettings) -> Result<HttpProvince, ProvinceSetupError> {
        let base = Url::parse(settings.base_url.trim())
            .map_err(|e| ProvinceSetupError::Settings(format!("base URL: {e}")))?;
        if !matches!(base.scheme(), "https" | "http") {
            return Err(ProvinceSetupError::Settings(
                "base URL must be https:// (or http:// for a local simulator)".to_owned(),
            ));
        }
        // Endpoint paths are appended as segments, and the signature covers path and query:
        // a base that cannot take segments, or that carries its own query or fragment, would
        // produce a request other than the one the document describes.
        if base.cannot_be_a_base() || base.query().is_some() || base.fragment().is_some() {
            return Err(ProvinceSetupError::Settings(
                "base URL must be a plain http(s) URL without query or fragment".to_owned(),
            ));
        }
        if base.scheme() == "http" && !is_loopback(&base) {
            tracing::warn!(
                host = base.host_str().unwrap_or_default(),
                "province base URL is not HTTPS: personal data would travel in clear"
            );
        }
        // Checked here so that a bad id fails at startup rather than as a builder error on
        // every request.
        if settings.app_id.is_empty() || HeaderValue::from_str(&settings.app_id).is_err() {
            return Err(ProvinceSetupError::Settings(
                "app id must be a non-empty header value".to_owned(),
            ));
        }
        if settings.secret.expose().is_empty() {
            return Err(ProvinceSetupError::Settings(
                "secret must not be empty".to_owned(),
            ));
        }
        if settings.timeout.is_zero() || settings.connect_timeout.is_zero() {
            return Err(ProvinceSetupError::Settings(
                "timeouts must be positive".to_owned(),
            ));
        }

        // reqwest is built with `rustls-no-provider`: without a process-wide provider the
        // first HTTPS handshake would fail.
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            // Never follow redirects: the signature covers the path, so a redirected request
            // would carry a signature for another path, and 301/302 would turn a POST into a
            // GET. A redirect is an integration fault to surface, not to paper over.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("xinyidai/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ProvinceSetupError::Client)?;
        Ok(HttpProvince {
            http,
            base,
            app_id: settings.app_id,
            secret: settings.secret,
            method: settings.method,
        })
    }

    /// The URL of an endpoint below the base, each segment percent-encoded so that a USCC can
    /// never change the path's shape (a `/` or `?` in it stays inside its segment).
    fn endpoint(&self, segments: &[&str]) -> Result<Url, ProvincialError> {
        endpoint_url(&self.base, segments)
    }

    /// Signs and sends one request and reads its whole answer.
    async fn call(
        &self,
        op: &'static str,
        uscc: &str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ProvincialError> {
        let path = signed_path(&url);
        let body_bytes: &[u8] = body.as_deref().unwrap_or_default();
        // A fresh nonce and timestamp per attempt: a retry is a new request to the province,
        // so it can never be refused as a replay of the one that failed.
        let headers = signing::signed_headers(
            &self.app_id,
            self.secret.expose().as_bytes(),
            self.method,
            method.as_str(),
            &path,
            body_bytes,
            now_unix(),
            &signing::new_nonce(),
        );
        let mut request = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json");
        for (name, value) in headers.to_pairs() {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            // The exact bytes that were digested, moved in without re-serialising.
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }

        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => read_answer(response).await,
            Err(e) => Err(classify_transport(e)),
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &outcome {
            Ok(answer) => tracing::debug!(
                op,
                uscc,
                status = answer.status.as_u16(),
                elapsed_ms,
                "province answered"
            ),
            Err(error) => tracing::debug!(op, uscc, elapsed_ms, %error, "province call failed"),
        }
        outcome
    }
}

impl Province for HttpProvince {
    async fn register(&self, req: &RegisterEntity) -> Result<Accepted, ProvincialError> {
        const OP: &str = "register";
        let body = encode(OP, req)?;
        let url = self.endpoint(&["v1", "entities"])?;
        let answer = self
            .call(OP, &req.uscc, Method::POST, url, Some(body))
            .await?;
        match answer.status {
            StatusCode::CREATED | StatusCode::OK => {
                let wire: RegisterAnswer = answer.json(OP)?;
                // Guards against a gateway or a mixed-up answer: recording another entity's
                // platform id against this USCC would be a silent, lasting error.
                if wire.uscc != req.uscc || wire.status != "accepted" {
                    return Err(ProvincialError::Protocol(format!(
                        "{OP}: HTTP {} answer is not an acceptance of this USCC",
                        answer.status.as_u16()
                    )));
                }
                Ok(Accepted {
                    uscc: wire.uscc,
                    platform_id: wire.platform_id,
                    created: answer.status == StatusCode::CREATED,
                })
            }
            _ => Err(answer.into_error(OP)),
        }
    }

    async fn status(&self, uscc: &str) -> Result<Option<ProvincialStatus>, ProvincialError> {
        const OP: &str = "status";
        let url = self.endpoint(&["v1", "entities", uscc])?;
        let answer = self.call(OP, uscc, Method::GET, url, None).await?;
        match answer.status {
            StatusCode::OK => {
                let wire: StatusAnswer = answer.json(OP)?;
                if wire.uscc != uscc {
                    return Err(ProvincialError::Protocol(format!(
                        "{OP}: answer is about another USCC"
                    )));
                }
                let state = match wire.status.as_str() {
                    "accepted" => EntityState::Accepted,
                    "rejected" => EntityState::Rejected {
                        reason: wire.reason.unwrap_or_default(),
                    },
                    _ => {
                        return Err(ProvincialError::Protocol(format!(
                            "{OP}: unknown entity status"
                        )));
                    }
                };
                Ok(Some(ProvincialStatus {
                    uscc: wire.uscc,
                    platform_id: wire.platform_id,
                    state,
                }))
            }
            StatusCode::NOT_FOUND => answer.not_found(OP).map(|()| None),
            _ => Err(answer.into_error(OP)),
        }
    }

    async fn update_contact(
        &self,
        uscc: &str,
        update: &ContactUpdate,
    ) -> Result<ContactOutcome, ProvincialError> {
        const OP: &str = "update_contact";
        let body = encode(OP, update)?;
        let url = self.endpoint(&["v1", "entities", uscc, "contact"])?;
        let answer = self.call(OP, uscc, Method::PATCH, url, Some(body)).await?;
        match answer.status {
            StatusCode::OK => {
                let wire: ContactAnswer = answer.json(OP)?;
                match wire.status.as_str() {
                    "applied" => Ok(ContactOutcome::Applied {
                        revision: wire.revision,
                    }),
                    "stale" => Ok(ContactOutcome::Stale {
                        current_revision: wire.revision,
                    }),
                    _ => Err(ProvincialError::Protocol(format!(
                        "{OP}: unknown contact status"
                    ))),
                }
            }
            StatusCode::NOT_FOUND => answer.not_found(OP).map(|()| ContactOutcome::NotRegistered),
            _ => Err(answer.into_error(OP)),
        }
    }

    async fn verify_l3(&self, req: &L3Request) -> Result<L3Outcome, ProvincialError> {
        const OP: &str = "verify_l3";
        let body = encode(OP, req)?;
        let url = self.endpoint(&["v1", "verifications"])?;
        let answer = self
            .call(OP, &req.uscc, Method::POST, url, Some(body))
            .await?;
        match answer.status {
            StatusCode::OK => {
                let wire: L3Answer = answer.json(OP)?;
                match wire.result.as_str() {
                    "pass" => Ok(L3Outcome::Pass),
                    "fail" => Ok(L3Outcome::Fail {
                        reason: wire.reason.unwrap_or_default(),
                    }),
                    _ => Err(ProvincialError::Protocol(format!(
                        "{OP}: unknown verification result"
                    ))),
                }
            }
            _ => Err(answer.into_error(OP)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wire answers and their mapping

#[derive(Deserialize)]
struct RegisterAnswer {
    uscc: String,
    status: String,
    platform_id: String,
}

#[derive(Deserialize)]
struct StatusAnswer {
    uscc: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    platform_id: Option<String>,
}

#[derive(Deserialize)]
struct ContactAnswer {
    status: String,
    revision: i64,
}

#[derive(Deserialize)]
struct L3Answer {
    result: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The §6 error body.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// One complete HTTP answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json<T: for<'de> Deserialize<'de>>(&self, op: &str) -> Result<T, ProvincialError> {
        // serde's message can quote a value from the body, which may be personal data; only
        // the position goes into the error.
        serde_json::from_slice(&self.body).map_err(|e| {
            ProvincialError::Protocol(format!(
                "{op}: HTTP {} body is not the documented JSON (line {}, column {})",
                self.status.as_u16(),
                e.line(),
                e.column()
            ))
        })
    }

    fn error_body(&self) -> Option<ErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A 404 means "not known" only when the province says so (`not_found`). A 404 without
    /// that code is more likely a wrong base URL or a proxy's page, and reading it as "not
    /// known" would make the worker resend, or reconciliation flag, records that are fine.
    fn not_found(&self, op: &str) -> Result<(), ProvincialError> {
        match self.error_body() {
            Some(body) if body.code == "not_found" => Ok(()),
            _ => Err(ProvincialError::Protocol(format!(
                "{op}: HTTP 404 without code not_found"
            ))),
        }
    }

    /// Maps a status the endpoint has no specific meaning for onto §6.
    fn into_error(self, op: &str) -> ProvincialError {
        let status = self.status.as_u16();
        match self.status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                let (code, message) = match self.error_body() {
                    Some(body) => (body.code, body.message),
                    // Still a refusal of this record; the owner gets a generic reason rather
                    // than none.
                    None => (
                        "unspecified".to_owned(),
                        "省级平台拒绝了该记录，未说明原因".to_owned(),
                    ),
                };
                ProvincialError::Rejected {
                    status,
                    code,
                    message,
                }
            }
            StatusCode::UNAUTHORIZED => ProvincialError::Auth {
                code: self
                    .error_body()
                    .map_or_else(|| "unspecified".to_owned(), |b| b.code),
            },
            StatusCode::CONFLICT => match self.error_body() {
                Some(body) if matches!(body.code.as_str(), "replay" | "stale_timestamp") => {
                    ProvincialError::Replay { code: body.code }
                }
                // The document promises no other 409 (registration is idempotent); an
                // unknown one is not safe to retry blindly.
                _ => ProvincialError::Protocol(format!("{op}: HTTP 409 with an unknown code")),
            },
            StatusCode::TOO_MANY_REQUESTS => ProvincialError::Throttled {
                retry_after: retry_after(&self.headers),
            },
            s if s.is_server_error() => ProvincialError::Server(status),
            _ => ProvincialError::Protocol(format!("{op}: unexpected HTTP {status}")),
        }
    }
}

/// `Retry-After` in delta-seconds, the form the document specifies. The HTTP-date form is
/// not parsed: the worker falls back to its own backoff, which is safe, only less precise.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Reads the whole answer, up to [`MAX_ANSWER_BYTES`].
async fn read_answer(mut response: reqwest::Response) -> Result<Answer, ProvincialError> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    // A failure mid-body is classified like one before the head: the request was certainly
    // sent and may have been processed, so it needs a status check like any lost answer.
    while let Some(chunk) = response.chunk().await.map_err(classify_transport)? {
        if body.len().saturating_add(chunk.len()) > MAX_ANSWER_BYTES {
            return Err(ProvincialError::Protocol(format!(
                "HTTP {} answer larger than {MAX_ANSWER_BYTES} bytes",
                status.as_u16()
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sorts a transport failure by what it implies about the request's fate.
fn classify_transport(error: reqwest::Error) -> ProvincialError {
    if error.is_builder() {
        // Built locally and never sent; settings are validated up front, so this is a bug.
        ProvincialError::Protocol("the request could not be built".to_owned())
    } else if error.is_connect() {
        // Checked before `is_timeout`: a connect timeout also counts as a timeout, but no
        // byte of the request left, so no status check is needed.
        ProvincialError::Connection(error)
    } else if error.is_timeout() {
        ProvincialError::Timeout(error)
    } else {
        // Connected, then failed before a complete answer. reqwest cannot tell us whether the
        // request bytes reached the province, so assume they may have: the wrong guess costs
        // one status query, the opposite wrong guess could cost a lost registration.
        ProvincialError::NoResponse(error)
    }
}

fn encode<T: Serialize>(op: &str, value: &T) -> Result<Vec<u8>, ProvincialError> {
    // Only a time outside RFC 3339's range (e.g. a year past 9999) can fail here; the error
    // text is not used, as it could describe a field's value.
    serde_json::to_vec(value)
        .map_err(|_| ProvincialError::Protocol(format!("{op}: the request could not be encoded")))
}

fn endpoint_url(base: &Url, segments: &[&str]) -> Result<Url, ProvincialError> {
    let mut url = base.clone();
    url.path_segments_mut()
        // Unreachable: `HttpProvince::new` refuses cannot-be-a-base URLs.
        .map_err(|()| ProvincialError::Protocol("base URL cannot take a path".to_owned()))?
        // `https://host/api/` and `https://host/api` mean the same base.
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The path as it goes on the request line, which is what the province verifies against:
/// percent-encoded, with the base URL's prefix, and the query if there is one (§3).
fn signed_path(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

fn is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

fn now_unix() -> i64 {
    // A clock before 1970 yields 0, which the province refuses as stale: loud, not silent.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
