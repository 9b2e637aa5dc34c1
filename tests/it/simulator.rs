//! The provincial simulator (`xinyidai province-sim`) against `docs/provincial-api.md`. It
//! always uses its own in-memory SQLite, whichever engine the rest of the suite runs on.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use xinyidai::province::signing::{self, SignatureMethod};
use xinyidai::province::simulator::{Faults, SimConfig, SimStats, Simulator};

const APP_ID: &str = "lishu-220322";
const SECRET: &str = "xinyidai-sim-secret";
const USCC: &str = "91220322MA0Y3K2B1F";

/// A simulator on 127.0.0.1:0 over an in-memory database, for the simulator's own tests and
/// for the provincial client's.
pub struct Sim {
    pub addr: SocketAddr,
    pub handle: xinyidai::province::simulator::SimHandle,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sim {
    pub async fn start(config: SimConfig) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = SimConfig {
            db_path: "sqlite::memory:".to_owned(),
            ..config
        };
        let server = Simulator::build(config, listener).await.unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run_until(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Sim {
            addr,
            handle,
            client: crate::helpers::http_client()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request signed with explicit parameters, so tests can break any of them.
    #[allow(clippy::too_many_arguments)]
    async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: &[u8],
        app_id: &str,
        secret: &str,
        sig_method: SignatureMethod,
        timestamp: i64,
        nonce: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let headers = signing::signed_headers(
            app_id,
            secret.as_bytes(),
            sig_method,
            method.as_str(),
            path,
            body,
            timestamp,
            nonce,
        );
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers.to_pairs() {
            request = request.header(name, value);
        }
        request.send().await
    }

    async fn send(&self, method: Method, path: &str, body: &[u8]) -> reqwest::Response {
        self.send_with(
            method,
            path,
            body,
            APP_ID,
            SECRET,
            SignatureMethod::HmacSha256,
            now(),
            &signing::new_nonce(),
        )
        .await
        .unwrap()
    }

    async fn register(&self, body: &Value) -> reqwest::Response {
        self.send(Method::POST, "/v1/entities", body.to_string().as_bytes())
            .await
    }

    async fn status(&self, uscc: &str) -> (StatusCode, Value) {
        let response = self
            .send(Method::GET, &format!("/v1/entities/{uscc}"), b"")
            .await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn stats(&self) -> SimStats {
        self.client
            .get(self.url("/sim/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn set_faults(&self, update: Value) -> Faults {
        let response = self
            .client
            .post(self.url("/sim/faults"))
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("the simulator shuts down promptly")
                .unwrap();
        }
    }
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn registration(uscc: &str) -> Value {
    json!({
        "uscc": uscc,
        "name": "梨树县某某农业专业合作社",
        "kind": "cooperative",
        "division_code": "220322",
        "legal_rep": { "name": "张三", "id_number": "220322199001011234", "mobile": "13800000000" },
        "email": "owner@example.com",
        "verification": { "level": "L2", "at": "2026-01-01T08:00:00+08:00" },
        "agreement": {
            "version": "2026-01",
            "digest": "7d640d6d49db4ee6245afeefc9b3c6cd946c36dad7decc276f60b8fb54e676d0",
            "signed_at": "2026-01-01T08:05:00+08:00",
            "signer_name": "张三"
        },
        "referral_code": "LS0001"
    })
}

#[tokio::test]
async fn accepted_then_duplicate_then_update_are_counted_once_each() {
    let sim = Sim::start(SimConfig::default()).await;
    let body = registration(USCC);

    let first = sim.register(&body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "accepted");
    assert_eq!(first["uscc"], USCC);
    let platform_id = first["platform_id"].as_str().unwrap().to_owned();

    // The same content again, signed with SM3 this time: an idempotent repeat.
    let repeat = sim
        .send_with(
            Method::POST,
            "/v1/entities",
            body.to_string().as_bytes(),
            APP_ID,
            SECRET,
            SignatureMethod::HmacSm3,
            now(),
            &signing::new_nonce(),
        )
        .await
        .unwrap();
    assert_eq!(repeat.status(), StatusCode::OK);
    let repeat: Value = repeat.json().await.unwrap();
    assert_eq!(repeat["platform_id"], platform_id.as_str());

    let mut changed = body.clone();
    changed["legal_rep"]["mobile"] = json!("13900000000");
    let update = sim.register(&changed).await;
    assert_eq!(update.status(), StatusCode::OK);

    let (status, entity) = sim.status(USCC).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entity["status"], "accepted");
    assert_eq!(entity["platform_id"], platform_id.as_str());
    assert!(entity.get("reason").is_none());

    let (status, missing) = sim.status("91220322MA0Y3K2B2G").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "not_found");

    assert_eq!(
        sim.stats().await,
        SimStats {
            received: 5,
            accepted: 1,
            duplicates: 1,
            updates: 1,
            ..SimStats::default()
        }
    );
    sim.stop().await;
}

#[tokio::test]
async fn authentication_failures_are_refused_and_counted() {
    let sim = Sim::start(SimConfig::default()).await;
    let body = registration(USCC).to_string();
    let post = |app_id: &'static str, secret: &'static str, timestamp: i64, nonce: String| {
        let sim = &sim;
        let body = body.clone();
        async move {
            sim.send_with(
                Method::POST,
                "/v1/entities",
                body.as_bytes(),
                app_id,
                secret,
                SignatureMethod::HmacSha256,
                timestamp,
                &nonce,
            )
            .await
            .unwrap()
        }
    };
    let code = |response: reqwest::Response| async move {
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (status, body["code"].as_str().unwrap().to_owned())
    };

    let bad_signature = post(APP_ID, "not-the-secret", now(), signing::new_nonce()).await;
    assert_eq!(
        code(bad_signature).await,
        (StatusCode::UNAUTHORIZED, "bad_signature".to_owned())
    );

    let wrong_app = post("other-app", SECRET, now(), signing::new_nonce()).await;
    assert_eq!(
        code(wrong_app).await,
        (StatusCode::UNAUTHORIZED, "unknown_app".to_owned())
    );

    for skew in [-301, 301] {
        let stale = post(APP_ID, SECRET, now() + skew, signing::new_nonce()).await;
        assert_eq!(
            code(stale).await,
            (StatusCode::CONFLICT, "stale_timestamp".to_owned())
        );
    }

    // A skew inside the window is fine.
    let nonce = signing::new_nonce();
    let within = post(APP_ID, SECRET, now() - 250, nonce.clone()).await;
    assert_eq!(within.status(), StatusCode::CREATED);
    let replay = post(APP_ID, SECRET, now() - 250, nonce).await;
    assert_eq!(
        code(replay).await,
        (StatusCode::CONFLICT, "replay".to_owned())
    );

    // A tampered body under a genuine signature is refused too.
    let headers = signing::signed_headers(
        APP_ID,
        SECRET.as_bytes(),
        SignatureMethod::HmacSha256,
        "POST",
        "/v1/entities",
        body.as_bytes(),
        now(),
        &signing::new_nonce(),
    );
    let mut request = sim
        .client
        .post(sim.url("/v1/entities"))
        .body(body.replace("张三", "李四"));
    for (name, value) in headers.to_pairs() {
        request = request.header(name, value);
    }
    let tampered = request.send().await.unwrap();
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        sim.stats().await,
        SimStats {
            received: 7,
            accepted: 1,
            refused_auth: 6,
            ..SimStats::default()
        }
    );
    sim.stop().await;
}

#[tokio::test]
async fn configured_rejection_is_422_and_reported_by_status() {
    let rejected = "91220322MA0Y3K2B3H";
    let sim = Sim::start(SimConfig {
        reject: vec![(
            rejected.to_owned(),
            "entity_blacklisted".to_owned(),
            "该主体列入严重失信名单".to_owned(),
        )],
        ..SimConfig::default()
    })
    .await;

    let response = sim.register(&registration(rejected)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "entity_blacklisted");
    assert_eq!(body["message"], "该主体列入严重失信名单");

    let (status, entity) = sim.status(rejected).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entity["status"], "rejected");
    assert_eq!(entity["reason"], "该主体列入严重失信名单");

    // Others still flow, and an invalid body is a rejection with a reason too.
    assert_eq!(
        sim.register(&registration(USCC)).await.status(),
        StatusCode::CREATED
    );
    let invalid = sim.register(&registration("not-a-uscc")).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let invalid: Value = invalid.json().await.unwrap();
    assert_eq!(invalid["code"], "uscc_invalid");

    assert_eq!(
        sim.stats().await,
        SimStats {
            received: 4,
            accepted: 1,
            rejected: 2,
            ..SimStats::default()
        }
    );
    sim.stop().await;
}

#[tokio::test]
async fn outage_error_and_throttle_faults() {
    let sim = Sim::start(SimConfig {
        faults: Faults {
            outage: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let faults: Faults = sim
        .client
        .get(sim.url("/sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(faults.outage);

    let down = sim.register(&registration(USCC)).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sim.status(USCC).await.0, StatusCode::SERVICE_UNAVAILABLE);

    assert!(!sim.set_faults(json!({ "outage": false })).await.outage);
    assert_eq!(
        sim.register(&registration(USCC)).await.status(),
        StatusCode::CREATED
    );

    let faults = sim.set_faults(json!({ "error_rate": 1.0 })).await;
    assert!((faults.error_rate - 1.0).abs() < f64::EPSILON);
    assert_eq!(
        sim.register(&registration(USCC)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    sim.set_faults(json!({ "error_rate": 0.0, "throttle_rate": 1.0, "retry_after_secs": 7 }))
        .await;
    let throttled = sim.register(&registration(USCC)).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers()["retry-after"], "7");

    // Out-of-range rates are refused and change nothing.
    let bad = sim
        .client
        .post(sim.url("/sim/faults"))
        .json(&json!({ "error_rate": 2.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    assert_eq!(
        sim.stats().await,
        SimStats {
            received: 5,
            accepted: 1,
            faults_injected: 4,
            ..SimStats::default()
        }
    );
    sim.stop().await;
}

#[tokio::test]
async fn dropped_answer_after_store_leaves_the_record_accepted() {
    let sim = Sim::start(SimConfig {
        faults: Faults {
            drop_after_store_rate: 1.0,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;

    let lost = sim
        .send_with(
            Method::POST,
            "/v1/entities",
            registration(USCC).to_string().as_bytes(),
            APP_ID,
            SECRET,
            SignatureMethod::HmacSha256,
            now(),
            &signing::new_nonce(),
        )
        .await;
    // The connection is closed before the response head: no status reaches the client.
    let error = lost.expect_err("a dropped answer must not arrive");
    assert!(!error.is_timeout(), "closed, not held: {error}");

    sim.set_faults(json!({ "drop_after_store_rate": 0.0 }))
        .await;
    let (status, entity) = sim.status(USCC).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entity["status"], "accepted");

    // The adapter's resend after the check races is still counted once.
    assert_eq!(
        sim.register(&registration(USCC)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        sim.stats().await,
        SimStats {
            received: 3,
            accepted: 1,
            duplicates: 1,
            faults_injected: 1,
            ..SimStats::default()
        }
    );
    sim.stop().await;
}

#[tokio::test]
async fn timeout_fault_holds_past_the_client_and_does_not_store() {
    let sim = Sim::start(SimConfig {
        faults: Faults {
            timeout_rate: 1.0,
            timeout_hold_ms: 60_000,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let short = crate::helpers::http_client()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let body = registration(USCC).to_string();
    let headers = signing::signed_headers(
        APP_ID,
        SECRET.as_bytes(),
        SignatureMethod::HmacSha256,
        "POST",
        "/v1/entities",
        body.as_bytes(),
        now(),
        &signing::new_nonce(),
    );
    let mut request = short.post(sim.url("/v1/entities")).body(body);
    for (name, value) in headers.to_pairs() {
        request = request.header(name, value);
    }
    let error = request.send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");

    sim.set_faults(json!({ "timeout_rate": 0.0 })).await;
    assert_eq!(sim.status(USCC).await.0, StatusCode::NOT_FOUND);
    // `stop` asserts the shutdown does not wait out the 60 s hold.
    sim.stop().await;
}

#[tokio::test]
async fn contact_revisions_apply_in_order_and_l3_answers() {
    let sim = Sim::start(SimConfig::default()).await;
    let path = format!("/v1/entities/{USCC}/contact");
    let patch = |revision: i64| {
        json!({ "mobile": "13900000000", "email": "new@example.com", "revision": revision })
            .to_string()
    };

    let missing = sim.send(Method::PATCH, &path, patch(1).as_bytes()).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    sim.register(&registration(USCC)).await;
    for (revision, status, current) in [
        (3, "applied", 3),
        (3, "applied", 3),
        (2, "stale", 3),
        (5, "applied", 5),
    ] {
        let response = sim
            .send(Method::PATCH, &path, patch(revision).as_bytes())
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], status, "revision {revision}");
        assert_eq!(body["revision"], current, "revision {revision}");
    }

    let pass = sim
        .send(
            Method::POST,
            "/v1/verifications",
            json!({ "uscc": USCC, "legal_rep": { "name": "张三", "id_number": "220322199001011234" } })
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(pass.status(), StatusCode::OK);
    assert_eq!(pass.json::<Value>().await.unwrap()["result"], "pass");
    let fail = sim
        .send(
            Method::POST,
            "/v1/verifications",
            json!({ "uscc": USCC, "legal_rep": { "name": "张三", "id_number": "12345" } })
                .to_string()
                .as_bytes(),
        )
        .await;
    let fail: Value = fail.json().await.unwrap();
    assert_eq!(fail["result"], "fail");
    assert!(fail["reason"].is_string());
    sim.stop().await;
}
