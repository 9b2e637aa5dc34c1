//! The provincial adapter (`xinyidai::province::client`) against the real simulator over HTTP. The
//! simulator always uses its own in-memory SQLite, whichever engine the suite runs on.

use crate::simulator::Sim;
use std::time::Duration;

use time::macros::datetime;
use xinyidai::config::Secret;
use xinyidai::province::client::{
    AgreementEvidence, ContactOutcome, ContactUpdate, EntityState, HttpProvince, L3Outcome,
    L3Person, L3Request, LegalRep, Province, ProvinceSettings, ProvincialError, RealNameEvidence,
    RegisterEntity, VerificationLevel,
};
use xinyidai::province::signing::SignatureMethod;
use xinyidai::province::simulator::{FaultsUpdate, SimConfig, SimStats};

const APP_ID: &str = "lishu-220322";
const SECRET: &str = "xinyidai-sim-secret";
const USCC: &str = "91220322MA0Y3K2B1F";
const ID_NUMBER: &str = "220322199001011234";

/// The shared simulator fixture, signed with this file's app id and secret.
async fn start(config: SimConfig) -> Sim {
    Sim::start(SimConfig {
        app_id: APP_ID.to_owned(),
        secret: SECRET.to_owned(),
        ..config
    })
    .await
}

fn settings(sim: &Sim) -> ProvinceSettings {
    ProvinceSettings::new(format!("http://{}", sim.addr), APP_ID, Secret::new(SECRET))
}

fn province(sim: &Sim) -> HttpProvince {
    HttpProvince::new(settings(sim)).unwrap()
}

fn faults(sim: &Sim, update: FaultsUpdate) {
    sim.handle.update_faults(update).unwrap();
}

async fn stats(sim: &Sim) -> SimStats {
    sim.handle.stats().await.unwrap()
}

fn registration(uscc: &str) -> RegisterEntity {
    RegisterEntity {
        uscc: uscc.to_owned(),
        name: "梨树县某某农业专业合作社".to_owned(),
        kind: "cooperative".to_owned(),
        division_code: "220322".to_owned(),
        legal_rep: LegalRep {
            name: "张三".to_owned(),
            id_number: ID_NUMBER.to_owned(),
            mobile: "13800000000".to_owned(),
        },
        email: Some("owner@example.com".to_owned()),
        verification: RealNameEvidence {
            level: VerificationLevel::L2,
            at: datetime!(2026-01-01 08:00:00 +8),
        },
        agreement: AgreementEvidence {
            version: "2026-01".to_owned(),
            digest: "7d640d6d49db4ee6245afeefc9b3c6cd946c36dad7decc276f60b8fb54e676d0".to_owned(),
            signed_at: datetime!(2026-01-01 08:05:00 +8),
            signer_name: "张三".to_owned(),
        },
        referral_code: Some("LS0001".to_owned()),
    }
}

#[tokio::test]
async fn register_is_idempotent_and_status_reports_it() {
    let sim = start(SimConfig::default()).await;
    let province = province(&sim);
    let req = registration(USCC);

    let first = province.register(&req).await.unwrap();
    assert!(first.created);
    assert_eq!(first.uscc, USCC);
    // Fresh nonce per request: the identical repeat is not refused as a replay.
    let again = province.register(&req).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.platform_id, first.platform_id);

    let status = province.status(USCC).await.unwrap().unwrap();
    assert_eq!(status.state, EntityState::Accepted);
    assert_eq!(
        status.platform_id.as_deref(),
        Some(first.platform_id.as_str())
    );
    assert_eq!(province.status("91220322MA0Y3K2B9X").await.unwrap(), None);

    assert_eq!(
        stats(&sim).await,
        SimStats {
            received: 4,
            accepted: 1,
            duplicates: 1,
            ..SimStats::default()
        }
    );
    sim.stop().await;
}

#[tokio::test]
async fn configured_rejection_is_permanent_with_the_provinces_reason() {
    let rejected = "91220322MA0Y3K2B3H";
    let sim = start(SimConfig {
        reject: vec![(
            rejected.to_owned(),
            "entity_blacklisted".to_owned(),
            "该主体列入严重失信名单".to_owned(),
        )],
        ..SimConfig::default()
    })
    .await;
    let province = province(&sim);

    let error = province
        .register(&registration(rejected))
        .await
        .unwrap_err();
    match &error {
        ProvincialError::Rejected {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 422);
            assert_eq!(code, "entity_blacklisted");
            assert_eq!(message, "该主体列入严重失信名单");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert!(!error.needs_status_check());

    let status = province.status(rejected).await.unwrap().unwrap();
    assert_eq!(
        status.state,
        EntityState::Rejected {
            reason: "该主体列入严重失信名单".to_owned()
        }
    );
    sim.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_auth() {
    let sim = start(SimConfig::default()).await;
    let province = HttpProvince::new(ProvinceSettings {
        secret: Secret::new("not-the-secret"),
        ..settings(&sim)
    })
    .unwrap();
    let error = province.register(&registration(USCC)).await.unwrap_err();
    assert!(
        matches!(&error, ProvincialError::Auth { code } if code == "bad_signature"),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    sim.stop().await;
}

#[tokio::test]
async fn server_errors_and_throttling_are_retryable() {
    let sim = start(SimConfig::default()).await;
    let province = province(&sim);

    faults(
        &sim,
        FaultsUpdate {
            error_rate: Some(1.0),
            ..FaultsUpdate::default()
        },
    );
    let error = province.register(&registration(USCC)).await.unwrap_err();
    assert!(matches!(error, ProvincialError::Server(503)), "{error:?}");
    assert!(error.is_retryable());
    assert!(!error.needs_status_check());

    faults(
        &sim,
        FaultsUpdate {
            error_rate: Some(0.0),
            throttle_rate: Some(1.0),
            retry_after_secs: Some(7),
            ..FaultsUpdate::default()
        },
    );
    let error = province.register(&registration(USCC)).await.unwrap_err();
    assert!(
        matches!(
            error,
            ProvincialError::Throttled {
                retry_after: Some(d)
            } if d == Duration::from_secs(7)
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    sim.stop().await;
}

#[tokio::test]
async fn dropped_answer_is_no_response_and_the_status_shows_it_stored() {
    let sim = start(SimConfig::default()).await;
    let province = province(&sim);
    faults(
        &sim,
        FaultsUpdate {
            drop_after_store_rate: Some(1.0),
            ..FaultsUpdate::default()
        },
    );

    let error = province.register(&registration(USCC)).await.unwrap_err();
    assert!(matches!(error, ProvincialError::NoResponse(_)), "{error:?}");
    assert!(error.is_retryable());
    assert!(error.needs_status_check());

    faults(
        &sim,
        FaultsUpdate {
            drop_after_store_rate: Some(0.0),
            ..FaultsUpdate::default()
        },
    );
    let status = province.status(USCC).await.unwrap().unwrap();
    assert_eq!(status.state, EntityState::Accepted);
    assert_eq!(stats(&sim).await.accepted, 1);
    sim.stop().await;
}

#[tokio::test]
async fn timeout_needs_a_status_check() {
    let sim = start(SimConfig::default()).await;
    let province = HttpProvince::new(ProvinceSettings {
        timeout: Duration::from_millis(300),
        ..settings(&sim)
    })
    .unwrap();
    faults(
        &sim,
        FaultsUpdate {
            timeout_rate: Some(1.0),
            timeout_hold_ms: Some(60_000),
            ..FaultsUpdate::default()
        },
    );

    let error = province.register(&registration(USCC)).await.unwrap_err();
    assert!(matches!(error, ProvincialError::Timeout(_)), "{error:?}");
    assert!(error.is_retryable());
    assert!(error.needs_status_check());

    // The simulator's timeout fault does not store, so the check finds nothing to resend over.
    faults(
        &sim,
        FaultsUpdate {
            timeout_rate: Some(0.0),
            ..FaultsUpdate::default()
        },
    );
    assert_eq!(province.status(USCC).await.unwrap(), None);
    sim.stop().await;
}

#[tokio::test]
async fn connection_refused_is_connection_without_status_check() {
    // Bind then drop, so the port is very likely closed.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let province = HttpProvince::new(ProvinceSettings::new(
        format!("http://{addr}"),
        APP_ID,
        Secret::new(SECRET),
    ))
    .unwrap();
    let error = province.status(USCC).await.unwrap_err();
    assert!(matches!(error, ProvincialError::Connection(_)), "{error:?}");
    assert!(error.is_retryable());
    assert!(!error.needs_status_check());
}

#[tokio::test]
async fn hmac_sm3_works_end_to_end() {
    let sim = start(SimConfig::default()).await;
    let province = HttpProvince::new(ProvinceSettings {
        method: SignatureMethod::HmacSm3,
        ..settings(&sim)
    })
    .unwrap();
    assert!(
        province
            .register(&registration(USCC))
            .await
            .unwrap()
            .created
    );
    assert_eq!(
        province.status(USCC).await.unwrap().unwrap().state,
        EntityState::Accepted
    );
    assert_eq!(stats(&sim).await.refused_auth, 0);
    sim.stop().await;
}

#[tokio::test]
async fn contact_updates_and_l3_verification() {
    let sim = start(SimConfig::default()).await;
    let province = province(&sim);
    let update = |revision| ContactUpdate {
        mobile: Some("13900000000".to_owned()),
        email: Some("new@example.com".to_owned()),
        revision,
    };

    assert_eq!(
        province.update_contact(USCC, &update(1)).await.unwrap(),
        ContactOutcome::NotRegistered
    );
    province.register(&registration(USCC)).await.unwrap();
    assert_eq!(
        province.update_contact(USCC, &update(3)).await.unwrap(),
        ContactOutcome::Applied { revision: 3 }
    );
    assert_eq!(
        province.update_contact(USCC, &update(2)).await.unwrap(),
        ContactOutcome::Stale {
            current_revision: 3
        }
    );

    let l3 = |id_number: &str| L3Request {
        uscc: USCC.to_owned(),
        legal_rep: L3Person {
            name: "张三".to_owned(),
            id_number: id_number.to_owned(),
        },
    };
    assert_eq!(
        province.verify_l3(&l3(ID_NUMBER)).await.unwrap(),
        L3Outcome::Pass
    );
    assert!(matches!(
        province.verify_l3(&l3("12345")).await.unwrap(),
        L3Outcome::Fail { reason } if !reason.is_empty()
    ));
    sim.stop().await;
}

#[test]
fn debug_of_a_registration_hides_personal_data() {
    let shown = format!("{:?}", registration(USCC));
    for personal in [ID_NUMBER, "13800000000", "owner@example.com", "张三"] {
        assert!(!shown.contains(personal), "{personal} in {shown}");
    }
    assert!(shown.contains(USCC));
}

#[test]
fn registration_serialises_to_the_documented_shape() {
    let value = serde_json::to_value(registration(USCC)).unwrap();
    assert_eq!(value["verification"]["level"], "L2");
    assert_eq!(value["verification"]["at"], "2026-01-01T08:00:00+08:00");
    assert_eq!(value["agreement"]["signed_at"], "2026-01-01T08:05:00+08:00");
    assert_eq!(value["legal_rep"]["id_number"], ID_NUMBER);
    let without_optional = RegisterEntity {
        email: None,
        referral_code: None,
        ..registration(USCC)
    };
    let value = serde_json::to_value(without_optional).unwrap();
    assert!(value.get("email").is_none() && value.get("referral_code").is_none());
}
