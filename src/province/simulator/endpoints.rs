//! The endpoints' wire types and handlers (§5), and the `/sim` control endpoints.

use super::*;

// Endpoints

#[derive(Deserialize)]
#[allow(
    dead_code,
    reason = "fields exist to make serde require them; the body is stored whole"
)]
pub(super) struct Registration {
    pub(super) uscc: String,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) division_code: String,
    pub(super) legal_rep: RegistrationLegalRep,
    #[serde(default)]
    pub(super) email: Option<String>,
    pub(super) verification: VerificationEvidence,
    pub(super) agreement: Agreement,
    #[serde(default)]
    pub(super) referral_code: Option<String>,
}

#[derive(Deserialize)]
#[allow(
    dead_code,
    reason = "fields exist to make serde require them; the body is stored whole"
)]
pub(super) struct RegistrationLegalRep {
    pub(super) name: String,
    #[serde(default)]
    pub(super) id_number: Option<String>,
    #[serde(default)]
    pub(super) id_number_enc: Option<String>,
    #[serde(default)]
    pub(super) enc: Option<String>,
    pub(super) mobile: String,
}

#[derive(Deserialize)]
#[allow(
    dead_code,
    reason = "fields exist to make serde require them; the body is stored whole"
)]
pub(super) struct VerificationEvidence {
    pub(super) level: String,
    pub(super) at: String,
}

#[derive(Deserialize)]
#[allow(
    dead_code,
    reason = "fields exist to make serde require them; the body is stored whole"
)]
pub(super) struct Agreement {
    pub(super) version: String,
    pub(super) digest: String,
    pub(super) signed_at: String,
    pub(super) signer_name: String,
}

/// 18 characters of the GB 32100 alphabet. The check digit is not verified: the simulator
/// should refuse only what its configuration says, not second-guess test data.
pub(super) fn uscc_is_well_formed(uscc: &str) -> bool {
    uscc.len() == 18
        && uscc
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"IOSVZ".contains(&b)))
}

pub(super) fn is_rfc3339(value: &str) -> bool {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).is_ok()
}

/// Field-level checks after the shape is known; the message never echoes a field's value,
/// since most of them are personal data.
pub(super) fn invalid_registration(reg: &Registration) -> Option<(&'static str, &'static str)> {
    if !uscc_is_well_formed(&reg.uscc) {
        return Some(("uscc_invalid", "统一社会信用代码格式不正确"));
    }
    if reg.division_code.len() != 6 || !reg.division_code.bytes().all(|b| b.is_ascii_digit()) {
        return Some(("invalid_field", "division_code must be 6 digits"));
    }
    if reg.name.trim().is_empty() || reg.kind.trim().is_empty() {
        return Some(("invalid_field", "name and kind are required"));
    }
    let rep = &reg.legal_rep;
    if rep.id_number.is_some() == rep.id_number_enc.is_some() {
        return Some((
            "invalid_field",
            "exactly one of legal_rep.id_number and legal_rep.id_number_enc is required",
        ));
    }
    if rep.id_number_enc.is_some() && rep.enc.as_deref() != Some("SM4-GCM") {
        return Some(("invalid_field", "legal_rep.enc must be SM4-GCM"));
    }
    if !matches!(reg.verification.level.as_str(), "L2" | "manual") {
        return Some(("invalid_field", "verification.level must be L2 or manual"));
    }
    if !is_rfc3339(&reg.verification.at) || !is_rfc3339(&reg.agreement.signed_at) {
        return Some(("invalid_field", "times must be RFC 3339"));
    }
    None
}

pub(super) async fn reject_invalid(
    shared: &Shared,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    if let Err(e) = bump(&shared.pool, Counter::Rejected).await {
        return internal(&e);
    }
    error_response(status, code, message)
}

pub(super) async fn handle_register(shared: &Shared, body: &[u8]) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return reject_invalid(
            shared,
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "body is not JSON",
        )
        .await;
    };
    let Ok(reg) = Registration::deserialize(&value) else {
        // serde's message can quote the offending value, which may be personal data: keep it
        // out of the answer as well as the logs.
        return reject_invalid(
            shared,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "a required field is missing or has the wrong type",
        )
        .await;
    };
    if let Some((code, message)) = invalid_registration(&reg) {
        return reject_invalid(shared, StatusCode::UNPROCESSABLE_ENTITY, code, message).await;
    }
    let uscc = reg.uscc;
    let outcome =
        match store_registration(&shared.pool, &uscc, &value, shared.reject.get(&uscc)).await {
            Ok(outcome) => outcome,
            Err(e) => return internal(&e),
        };
    let status = match outcome {
        RegisterOutcome::Accepted => StatusCode::CREATED,
        RegisterOutcome::Duplicate | RegisterOutcome::Updated => StatusCode::OK,
        RegisterOutcome::Rejected { code, message } => {
            tracing::debug!(%uscc, %code, "province-sim: rejected on purpose");
            return error_response(StatusCode::UNPROCESSABLE_ENTITY, &code, &message);
        }
    };
    tracing::debug!(%uscc, status = status.as_u16(), "province-sim: registration stored");
    let platform_id = platform_id(&uscc);
    (
        status,
        axum::Json(json!({ "uscc": uscc, "status": "accepted", "platform_id": platform_id })),
    )
        .into_response()
}

pub(super) fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "主体未注册 (entity not registered)",
    )
}

pub(super) async fn handle_status(shared: &Shared, uscc: &str) -> Response {
    let row: Result<Option<(String, String, Option<String>)>, _> = sqlx::query_as(
        "SELECT status, platform_id, reject_reason FROM sim_entities WHERE uscc = ?",
    )
    .bind(uscc)
    .fetch_optional(&shared.pool)
    .await;
    match row {
        Err(e) => internal(&e),
        Ok(None) => not_found(),
        Ok(Some((status, platform_id, reason))) => {
            let mut body = json!({ "uscc": uscc, "status": status, "platform_id": platform_id });
            if status == "rejected" {
                body["reason"] = Value::String(reason.unwrap_or_default());
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ContactUpdate {
    #[serde(default)]
    pub(super) mobile: Option<String>,
    #[serde(default)]
    pub(super) email: Option<String>,
    pub(super) revision: i64,
}

pub(super) async fn handle_contact(shared: &Shared, uscc: &str, body: &[u8]) -> Response {
    let Ok(update) = serde_json::from_slice::<ContactUpdate>(body) else {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "body must be {mobile?, email?, revision}",
        );
    };
    match apply_contact(&shared.pool, uscc, &update).await {
        Err(e) => internal(&e),
        Ok(None) => not_found(),
        Ok(Some((status, revision))) => (
            StatusCode::OK,
            axum::Json(json!({ "uscc": uscc, "status": status, "revision": revision })),
        )
            .into_response(),
    }
}

/// Applies a contact revision unless a newer one is applied: `(status, current revision)`,
/// or `None` if the entity is not registered (a rejected entity counts as not registered).
pub(super) async fn apply_contact(
    pool: &SqlitePool,
    uscc: &str,
    update: &ContactUpdate,
) -> Result<Option<(&'static str, i64)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let current: Option<(i64,)> = sqlx::query_as(
        "SELECT contact_revision FROM sim_entities WHERE uscc = ? AND status = 'accepted'",
    )
    .bind(uscc)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((current,)) = current else {
        return Ok(None);
    };
    let result = if update.revision > current {
        sqlx::query(
            "INSERT INTO sim_contact_revisions (uscc, revision, mobile, email, applied_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(uscc)
        .bind(update.revision)
        .bind(&update.mobile)
        .bind(&update.email)
        .bind(now_unix())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sim_entities SET contact_revision = ? WHERE uscc = ?")
            .bind(update.revision)
            .bind(uscc)
            .execute(&mut *tx)
            .await?;
        bump(&mut *tx, Counter::Contacts).await?;
        ("applied", update.revision)
    } else if update.revision == current {
        // A resend of the revision already applied: the sender's retry succeeded earlier.
        ("applied", current)
    } else {
        ("stale", current)
    };
    tx.commit().await?;
    Ok(Some(result))
}

#[derive(Deserialize)]
pub(super) struct VerificationRequest {
    pub(super) uscc: String,
    pub(super) legal_rep: VerificationLegalRep,
}

#[derive(Deserialize)]
pub(super) struct VerificationLegalRep {
    pub(super) name: String,
    #[serde(default)]
    pub(super) id_number: Option<String>,
    #[serde(default)]
    pub(super) id_number_enc: Option<String>,
}

/// L3 verification has no real registry behind it here: an encrypted ID number passes, and a
/// plain one passes when it has the shape of a resident ID (17 digits and a digit or `X`).
/// A configured rejection also fails the entity's L3 check, with the same reason, so tests can
/// drive both answers.
pub(super) fn handle_verify(shared: &Shared, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<VerificationRequest>(body) else {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "body must be {uscc, legal_rep: {name, id_number | id_number_enc}}",
        );
    };
    if !uscc_is_well_formed(&request.uscc) {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "uscc_invalid",
            "统一社会信用代码格式不正确",
        );
    }
    let rep = &request.legal_rep;
    let plausible = match (&rep.id_number, &rep.id_number_enc) {
        (Some(id), None) => {
            let bytes = id.as_bytes();
            bytes.len() == 18
                && bytes[..17].iter().all(u8::is_ascii_digit)
                && (bytes[17].is_ascii_digit() || bytes[17] == b'X')
        }
        (None, Some(_)) => true,
        _ => false,
    };
    let answer = if let Some((_, reason)) = shared.reject.get(&request.uscc) {
        json!({ "result": "fail", "reason": reason })
    } else if plausible && !rep.name.trim().is_empty() {
        json!({ "result": "pass" })
    } else {
        json!({ "result": "fail", "reason": "身份信息核验不一致" })
    };
    (StatusCode::OK, axum::Json(answer)).into_response()
}

pub(super) async fn get_faults(State(shared): AppState) -> axum::Json<Faults> {
    axum::Json(*lock(&shared.faults))
}

pub(super) async fn set_faults(State(shared): AppState, body: Bytes) -> Response {
    let update = match serde_json::from_slice::<FaultsUpdate>(&body) {
        Ok(update) => update,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, "invalid_field", &e.to_string());
        }
    };
    match SimHandle(shared).update_faults(update) {
        Ok(faults) => {
            tracing::info!(?faults, "province-sim: faults updated");
            (StatusCode::OK, axum::Json(faults)).into_response()
        }
        Err(e) => error_response(StatusCode::BAD_REQUEST, "invalid_field", &e.to_string()),
    }
}

pub(super) async fn get_stats(State(shared): AppState) -> Response {
    match read_stats(&shared.pool).await {
        Ok(stats) => (StatusCode::OK, axum::Json(stats)).into_response(),
        Err(e) => internal(&e),
    }
}
