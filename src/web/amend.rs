//! Owners amending a registration after it was submitted: a new contact number (which follows
//! the registration to the province as its own event), and correcting and resubmitting a
//! registration the province refused.

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::application::registration::{self, AmendError, Correction, FieldErrors};
use crate::store::registrations::{self, RegistrationView};

use super::error::AppError;
use super::form::FormInput;
use super::session::Visitor;

/// The signed-in owner's registration `id`; someone else's is a 404, as if it did not exist.
async fn own_registration(
    state: &AppState,
    visitor: &Visitor,
    id: i64,
) -> Result<RegistrationView, AppError> {
    let account = visitor.require_account()?;
    registrations::for_account(&state.db, account.id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(AppError::NotFound)
}

#[derive(Template, WebTemplate)]
#[template(path = "me_contact.html")]
pub struct ContactPage {
    csrf: String,
    reg: RegistrationView,
    mobile: String,
    errors: FieldErrors,
}

impl ContactPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.message(field)
    }
}

pub async fn contact_form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Result<ContactPage, AppError> {
    let reg = own_registration(&state, &visitor, id).await?;
    Ok(ContactPage {
        csrf: visitor.csrf.clone(),
        mobile: reg.mobile.clone(),
        reg,
        errors: FieldErrors::default(),
    })
}

#[derive(Debug, Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mobile: String,
}

pub async fn change_contact(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    FormInput(form): FormInput<ContactForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let reg = own_registration(&state, &visitor, id).await?;
    match registration::change_mobile(&state.db, reg.id, reg.account_id, &form.mobile).await {
        Ok(()) => Ok(Redirect::to("/me?notice=contact").into_response()),
        Err(AmendError::Invalid(errors)) => {
            let page = ContactPage {
                csrf: visitor.csrf.clone(),
                reg,
                mobile: form.mobile,
                errors,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(AmendError::NotAllowed) => Err(AppError::NotFound),
        Err(AmendError::Store(e)) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "me_resubmit.html")]
pub struct ResubmitPage {
    csrf: String,
    reg: RegistrationView,
    legal_rep_name: String,
    legal_rep_id_number: String,
    mobile: String,
    errors: FieldErrors,
}

impl ResubmitPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.message(field)
    }
}

pub async fn resubmit_form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let reg = own_registration(&state, &visitor, id).await?;
    if reg.sync_state != "rejected" {
        return Ok(Redirect::to("/me").into_response());
    }
    Ok(ResubmitPage {
        csrf: visitor.csrf.clone(),
        legal_rep_name: reg.legal_rep_name.clone(),
        // The ID number is typed again rather than shown: it is only ever displayed masked.
        legal_rep_id_number: String::new(),
        mobile: reg.mobile.clone(),
        reg,
        errors: FieldErrors::default(),
    }
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ResubmitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    legal_rep_name: String,
    #[serde(default)]
    legal_rep_id_number: String,
    #[serde(default)]
    mobile: String,
}

pub async fn resubmit(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    FormInput(form): FormInput<ResubmitForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let reg = own_registration(&state, &visitor, id).await?;
    let correction = Correction {
        legal_rep_name: form.legal_rep_name,
        legal_rep_id_number: form.legal_rep_id_number,
        mobile: form.mobile,
    };
    let services = state.services();
    let today = crate::clock::today();
    match registration::resubmit(&services, reg.id, reg.account_id, &correction, today).await {
        Ok(()) => Ok(Redirect::to("/me?notice=resubmitted").into_response()),
        Err(AmendError::Invalid(errors)) => {
            let page = ResubmitPage {
                csrf: visitor.csrf.clone(),
                reg,
                legal_rep_name: correction.legal_rep_name,
                legal_rep_id_number: correction.legal_rep_id_number,
                mobile: correction.mobile,
                errors,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        // Already resubmitted (a second click) or no longer rejected: show where it stands.
        Err(AmendError::NotAllowed) => Ok(Redirect::to("/me").into_response()),
        Err(AmendError::Store(e)) => Err(e.into()),
    }
}
