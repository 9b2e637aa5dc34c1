//! The owner's registration, shared by the HTML form and the JSON API: L1 checks (formats,
//! check characters, age), L2 checks (the roster), then one transaction for everything.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::email::EmailAddress;
use crate::domain::entity_name::normalize_entity_name;
use crate::domain::entity_name::normalize_person_name;
use crate::domain::mobile::MobileNumber;
use crate::domain::resident_id::ResidentId;
use crate::domain::uscc::Uscc;
use crate::security::id_vault::IdVault;
use crate::security::password::{self, PasswordHasher};
use crate::store::registrations::{
    self, CreateError, Created, NewRegistration, SignatureEvidence, Verification,
};
use crate::store::{Db, StoreError, entities};

/// The youngest a legal representative can be (civil capacity, 民法典 art. 17).
pub const ADULT_AGE: u32 = 18;

/// What the owner typed, untouched.
#[derive(Debug, Clone, Default)]
pub struct RegistrationInput {
    pub uscc: String,
    pub entity_name: String,
    pub legal_rep_name: String,
    pub legal_rep_id_number: String,
    pub mobile: String,
    pub email: String,
    pub password: String,
    pub agree_personal_info: bool,
    pub referral_code: Option<String>,
    /// Asked for manual review after an L2 mismatch.
    pub request_review: bool,
    pub review_note: Option<String>,
}

/// One problem with one field: a stable code for the API and a Chinese sentence for pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
}

/// Problems by field name, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<&'static str, Vec<FieldError>>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, code: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_default().push(FieldError {
            code,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first message for `field`, for an inline hint.
    pub fn message(&self, field: &str) -> Option<&str> {
        self.0
            .get(field)
            .and_then(|v| v.first())
            .map(|e| e.message.as_str())
    }

    /// `{"field": ["code", …]}` for the API.
    pub fn codes(&self) -> BTreeMap<&'static str, Vec<&'static str>> {
        self.0
            .iter()
            .map(|(field, errs)| (*field, errs.iter().map(|e| e.code).collect()))
            .collect()
    }
}

/// Why L2 matching failed, each with the owner's explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    NotInRoster,
    EntityName,
    LegalRepName,
    EntityClosed,
}

impl Mismatch {
    pub fn code(self) -> &'static str {
        match self {
            Mismatch::NotInRoster => "not_in_roster",
            Mismatch::EntityName => "entity_name_mismatch",
            Mismatch::LegalRepName => "legal_rep_mismatch",
            Mismatch::EntityClosed => "entity_closed",
        }
    }

    pub fn parse(code: &str) -> Option<Mismatch> {
        [
            Mismatch::NotInRoster,
            Mismatch::EntityName,
            Mismatch::LegalRepName,
            Mismatch::EntityClosed,
        ]
        .into_iter()
        .find(|m| m.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            Mismatch::NotInRoster => {
                "本县市场主体名录中没有这个统一社会信用代码（新登记或刚迁入的主体可能尚未更新到名录）。"
            }
            Mismatch::EntityName => {
                "主体名称与登记名录不一致，请按营业执照上的名称填写（括号为中文括号）。"
            }
            Mismatch::LegalRepName => {
                "法定代表人（经营者）姓名与登记名录不一致，请按营业执照填写。"
            }
            Mismatch::EntityClosed => "登记名录显示该主体已注销或迁出。",
        }
    }

    /// The form field the mismatch is shown next to.
    pub fn field(self) -> &'static str {
        match self {
            Mismatch::NotInRoster | Mismatch::EntityClosed => "uscc",
            Mismatch::EntityName => "entity_name",
            Mismatch::LegalRepName => "legal_rep_name",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid fields")]
    Invalid(FieldErrors),
    /// L2 failed and the owner has not (yet) asked for manual review.
    #[error("the roster does not match")]
    Mismatch(Vec<Mismatch>),
    #[error("already registered")]
    AlreadyRegistered,
    #[error("password hashing failed")]
    Password(#[from] password::PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// L1-checked input.
pub struct Checked {
    pub uscc: Uscc,
    pub entity_name: String,
    pub legal_rep_name: String,
    pub id_number: ResidentId,
    pub mobile: MobileNumber,
    pub email: EmailAddress,
}

/// L1: formats, check characters, age, password rules, consent. Collects every problem.
pub fn check_l1(input: &RegistrationInput, today: time::Date) -> Result<Checked, FieldErrors> {
    let mut errors = FieldErrors::default();
    let uscc = Uscc::parse(&input.uscc)
        .map_err(|e| errors.add("uscc", e.code(), e.to_string()))
        .ok();
    let entity_name = normalize_entity_name(&input.entity_name);
    if entity_name.is_empty() {
        errors.add("entity_name", "entity_name_required", "请填写市场主体名称");
    } else if entity_name.chars().count() > 100 {
        errors.add(
            "entity_name",
            "entity_name_too_long",
            "市场主体名称不能超过100个字",
        );
    }
    let legal_rep_name = check_legal_rep_name(&mut errors, &input.legal_rep_name);
    let id_number = check_id_number(&mut errors, &input.legal_rep_id_number, today);
    let mobile = check_mobile(&mut errors, &input.mobile);
    let email = EmailAddress::parse(&input.email)
        .map_err(|e| errors.add("email", e.code(), e.to_string()))
        .ok();
    if let Err(rule) =
        password::check_rules(&input.password, email.as_ref().map(EmailAddress::as_str))
    {
        errors.add("password", rule.code(), rule.to_string());
    }
    if !input.agree_personal_info {
        errors.add(
            "agree_personal_info",
            "consent_required",
            "请阅读并勾选同意处理法定代表人身份证号码等敏感个人信息",
        );
    }
    match (uscc, id_number, mobile, email) {
        (Some(uscc), Some(id_number), Some(mobile), Some(email)) if errors.is_empty() => {
            Ok(Checked {
                uscc,
                entity_name,
                legal_rep_name,
                id_number,
                mobile,
                email,
            })
        }
        _ => Err(errors),
    }
}

/// The legal representative's name, normalised; an error when empty or too long.
fn check_legal_rep_name(errors: &mut FieldErrors, typed: &str) -> String {
    let name = normalize_person_name(typed);
    if name.is_empty() {
        errors.add(
            "legal_rep_name",
            "legal_rep_name_required",
            "请填写法定代表人（经营者）姓名",
        );
    } else if name.chars().count() > 50 {
        errors.add(
            "legal_rep_name",
            "legal_rep_name_too_long",
            "姓名不能超过50个字",
        );
    }
    name
}

/// A valid resident ID number of an adult.
fn check_id_number(errors: &mut FieldErrors, typed: &str, today: time::Date) -> Option<ResidentId> {
    match ResidentId::parse_on(typed, today) {
        Ok(id) if id.age_on(today) < ADULT_AGE => {
            errors.add(
                "legal_rep_id_number",
                "legal_rep_under_18",
                "法定代表人（经营者）须年满18周岁",
            );
            None
        }
        Ok(id) => Some(id),
        Err(e) => {
            errors.add("legal_rep_id_number", e.code(), e.to_string());
            None
        }
    }
}

fn check_mobile(errors: &mut FieldErrors, typed: &str) -> Option<MobileNumber> {
    MobileNumber::parse(typed)
        .map_err(|e| errors.add("mobile", e.code(), e.to_string()))
        .ok()
}

/// L2: the roster has the USCC, and the names match it. Returns the roster id when present.
pub async fn check_l2(
    db: &Db,
    checked: &Checked,
) -> Result<(Option<i64>, Vec<Mismatch>), StoreError> {
    let Some(row) = entities::by_uscc(db, checked.uscc.as_str()).await? else {
        return Ok((None, vec![Mismatch::NotInRoster]));
    };
    let mut mismatches = Vec::new();
    if matches!(row.status.as_str(), "cancelled" | "moved_out") {
        mismatches.push(Mismatch::EntityClosed);
    }
    if normalize_entity_name(&row.name) != checked.entity_name {
        mismatches.push(Mismatch::EntityName);
    }
    if normalize_person_name(&row.legal_rep) != checked.legal_rep_name {
        mismatches.push(Mismatch::LegalRepName);
    }
    Ok((Some(row.id), mismatches))
}

/// A leaflet or LED-screen code as it may be stored: 1–32 letters, digits and dashes, trimmed.
/// Anything else is dropped rather than echoed back into pages.
pub fn referral_code(code: &str) -> Option<&str> {
    let code = code.trim();
    (!code.is_empty()
        && code.len() <= 32
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    .then_some(code)
}

/// Everything `submit` needs besides the input.
pub struct Services<'a> {
    pub db: &'a Db,
    pub vault: &'a IdVault,
    pub hasher: &'a PasswordHasher,
}

/// Checks `input` and records the registration (with `signature` when signed in the same step).
pub async fn submit(
    services: &Services<'_>,
    input: &RegistrationInput,
    signature: Option<SignatureEvidence>,
    today: time::Date,
) -> Result<Created, SubmitError> {
    let checked = check_l1(input, today).map_err(SubmitError::Invalid)?;
    if registrations::email_for_uscc(services.db, checked.uscc.as_str())
        .await?
        .is_some()
    {
        return Err(SubmitError::AlreadyRegistered);
    }
    let (entity_id, mismatches) = check_l2(services.db, &checked).await?;
    let verification = if mismatches.is_empty() {
        Verification::Matched
    } else if input.request_review {
        Verification::ReviewRequested
    } else {
        return Err(SubmitError::Mismatch(mismatches));
    };
    let password_hash = services.hasher.hash(&input.password).await?;
    let sealed = services.vault.seal(&checked.id_number);
    let review_note = input
        .review_note
        .as_deref()
        .map(|n| n.trim().chars().take(500).collect::<String>())
        .filter(|n| !n.is_empty());
    let referral_code = input
        .referral_code
        .as_deref()
        .and_then(referral_code)
        .map(str::to_owned);
    let new = NewRegistration {
        email: checked.email.as_str().to_owned(),
        password_hash,
        uscc: checked.uscc.as_str().to_owned(),
        entity_id,
        entity_name: checked.entity_name.clone(),
        legal_rep_name: checked.legal_rep_name.clone(),
        legal_rep_id_sealed: sealed.cipher,
        legal_rep_id_lookup: sealed.lookup,
        legal_rep_id_masked: checked.id_number.masked(),
        mobile: checked.mobile.as_str().to_owned(),
        referral_code,
        verification,
        mismatch: mismatches.iter().map(|m| m.code()).collect(),
        review_note: (verification == Verification::ReviewRequested)
            .then_some(review_note)
            .flatten(),
        signature,
    };
    match registrations::create(services.db, &new).await {
        Ok(created) => Ok(created),
        Err(CreateError::UsccTaken) => Err(SubmitError::AlreadyRegistered),
        Err(CreateError::EmailTaken) => {
            let mut errors = FieldErrors::default();
            errors.add(
                "email",
                "email_taken",
                "这个邮箱已经注册过账户，请换一个邮箱，或先登录",
            );
            Err(SubmitError::Invalid(errors))
        }
        Err(CreateError::Store(e)) => Err(e.into()),
    }
}

/// What an owner corrects after the province refused the registration: the data the province
/// checks that the owner can get wrong (the entity's name comes from the roster).
#[derive(Debug, Clone, Default)]
pub struct Correction {
    pub legal_rep_name: String,
    pub legal_rep_id_number: String,
    pub mobile: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AmendError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// Not this owner's, or not in a state that allows it.
    #[error("this registration cannot be changed now")]
    NotAllowed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a correction (formats, and the name against the roster again) and, when it holds,
/// records it and sends the registration to the province again.
pub async fn resubmit(
    services: &Services<'_>,
    registration_id: i64,
    account_id: i64,
    correction: &Correction,
    today: time::Date,
) -> Result<(), AmendError> {
    let mut errors = FieldErrors::default();
    let legal_rep_name = check_legal_rep_name(&mut errors, &correction.legal_rep_name);
    let id_number = check_id_number(&mut errors, &correction.legal_rep_id_number, today);
    let mobile = check_mobile(&mut errors, &correction.mobile);
    let (Some(id_number), Some(mobile)) = (id_number, mobile) else {
        return Err(AmendError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(AmendError::Invalid(errors));
    }
    let Some(reg) = registrations::by_id(services.db, registration_id).await? else {
        return Err(AmendError::NotAllowed);
    };
    if let Some(row) = entities::by_uscc(services.db, &reg.uscc).await?
        && normalize_person_name(&row.legal_rep) != legal_rep_name
    {
        errors.add(
            "legal_rep_name",
            Mismatch::LegalRepName.code(),
            Mismatch::LegalRepName.message(),
        );
        return Err(AmendError::Invalid(errors));
    }
    let sealed = services.vault.seal(&id_number);
    let fix = registrations::Fix {
        legal_rep_name,
        legal_rep_id_sealed: sealed.cipher,
        legal_rep_id_lookup: sealed.lookup,
        legal_rep_id_masked: id_number.masked(),
        mobile: mobile.as_str().to_owned(),
    };
    if registrations::resubmit(services.db, registration_id, account_id, &fix).await? {
        Ok(())
    } else {
        Err(AmendError::NotAllowed)
    }
}

/// Records a new contact mobile number; once the registration is on its way to the province
/// the change follows it as its own event.
pub async fn change_mobile(
    db: &Db,
    registration_id: i64,
    account_id: i64,
    typed: &str,
) -> Result<(), AmendError> {
    let mut errors = FieldErrors::default();
    let Some(mobile) = check_mobile(&mut errors, typed) else {
        return Err(AmendError::Invalid(errors));
    };
    if registrations::change_mobile(db, registration_id, account_id, mobile.as_str()).await? {
        Ok(())
    } else {
        Err(AmendError::NotAllowed)
    }
}
