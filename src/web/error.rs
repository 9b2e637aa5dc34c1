//! One error type for every handler: an HTML page in Chinese (JSON on API routes, later), the
//! internal cause logged without personal data, and never a bare 500 for bad input.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// The form's CSRF token did not match the visitor's cookie.
    #[error("csrf token mismatch")]
    Csrf,
    /// The body was not a form we can read (wrong type, not UTF-8, too big).
    #[error("unreadable form body ({0})")]
    BadForm(StatusCode),
    /// A page for logged-in owners was asked for without a session.
    #[error("login required")]
    LoginRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A failure that is ours, not the visitor's; the text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: &'static str,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "页面不存在",
                "您访问的页面不存在，请检查地址或返回首页。",
            ),
            AppError::Csrf => (
                StatusCode::FORBIDDEN,
                "页面已过期",
                "为了您的账户安全，请返回上一页刷新后重新提交。您填写的内容没有被保存。",
            ),
            AppError::BadForm(status) if *status == StatusCode::PAYLOAD_TOO_LARGE => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "提交的内容过大",
                "提交的内容超过了 64 KiB 的上限。请缩短补充说明等文字后重新提交。",
            ),
            AppError::BadForm(status) => (
                *status,
                "无法识别提交的内容",
                "提交的内容格式不正确。请返回表单页面刷新后重新填写提交。",
            ),
            AppError::LoginRequired => {
                return axum::response::Redirect::to("/login").into_response();
            }
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "服务暂时不可用",
                    "系统出现问题，请稍后重试。",
                )
            }
            AppError::Store(err) => {
                tracing::error!(error = %error_chain(err), "store failure");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "服务暂时不可用",
                    "系统繁忙，您填写的内容没有丢失，请稍后刷新重试。",
                )
            }
        };
        (status, ErrorPage { title, message }).into_response()
    }
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

pub use crate::telemetry::error_chain;
