//! The one place where failures become Prometheus-shaped HTTP errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Prometheus's `errorType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// Bad request parameters or query (400).
    BadData,
    /// The query failed while running (422).
    Execution,
    /// The client went away (499).
    Canceled,
    /// Out of time (503).
    Timeout,
    /// A bug or a storage failure (500).
    Internal,
    /// Nothing there (404).
    NotFound,
    /// Not available now (500, as Prometheus 3's default branch).
    Unavailable,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Canceled => "canceled",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal | ErrorType::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// An API failure: answered as `{"status":"error","errorType":…,"error":…}` with the matching status.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Kind.
    pub kind: ErrorType,
    /// Message shown to the client.
    pub message: String,
}

impl ApiError {
    /// A `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorType::BadData,
            message: message.into(),
        }
    }

    /// An `internal` error.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorType::Internal,
            message: message.into(),
        }
    }

    /// The error for a parameter that did not parse, worded as Prometheus words it.
    pub fn invalid_param(name: &str, err: impl std::fmt::Display) -> Self {
        ApiError::bad_data(format!("invalid parameter \"{name}\": {err}"))
    }
}

impl From<diamond_promql::Error> for ApiError {
    fn from(e: diamond_promql::Error) -> Self {
        use diamond_promql::ErrorKind as K;
        let kind = match e.kind {
            K::BadData => ErrorType::BadData,
            K::Execution => ErrorType::Execution,
            K::Timeout => ErrorType::Timeout,
            K::Canceled => ErrorType::Canceled,
            K::Internal => ErrorType::Internal,
        };
        ApiError {
            kind,
            message: e.message,
        }
    }
}

impl From<diamond_model::storage::ReadError> for ApiError {
    fn from(e: diamond_model::storage::ReadError) -> Self {
        match e {
            diamond_model::storage::ReadError::Canceled => ApiError {
                kind: ErrorType::Canceled,
                message: e.to_string(),
            },
            _ => ApiError {
                kind: ErrorType::Internal,
                message: e.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.kind.as_str(),
            "error": self.message,
        });
        (
            self.kind.status(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}
