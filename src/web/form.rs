//! Form bodies for HTML pages: axum's own rejections are plain English text, so a body that is
//! not a form, or too big, gets a Chinese error page instead.

use axum::Form;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::AppError;

/// Like [`Form`], with rejections rendered as [`AppError::BadForm`].
pub struct FormInput<T>(pub T);

impl<T, S> FromRequest<S> for FormInput<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(FormInput(value)),
            Err(rejection) => Err(AppError::BadForm(rejection.status())),
        }
    }
}
