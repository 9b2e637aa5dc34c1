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
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// `outer: inner: root` — the whole cause chain on one log line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
