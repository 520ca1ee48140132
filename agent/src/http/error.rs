//! The one error answer of the API, as JSON `{"error": …}`: a bad request field (400, with
//! `"field"` naming it), something that does not exist (404), a request the machine's state
//! does not allow now (409), a store that records nothing this run (503: the rest of the
//! agent works, its history does not), or a failure of the agent itself (500).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::field::BadField;

#[derive(Debug)]
pub enum ApiError {
    Field(BadField),
    NotFound(String),
    Conflict(String),
    /// The store is unavailable this run (`store::Unavailable`).
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Field(BadField::new(field, message))
    }

    /// A failure of the agent; its whole chain of causes is the message.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(format!("{e:#}"))
    }
}

impl From<BadField> for ApiError {
    fn from(b: BadField) -> ApiError {
        ApiError::Field(b)
    }
}

impl From<anyhow::Error> for ApiError {
    /// A store that records nothing this run is 503 with its reason; anything else 500.
    fn from(e: anyhow::Error) -> ApiError {
        match e.downcast_ref::<crate::store::Unavailable>() {
            Some(u) => ApiError::Unavailable(u.to_string()),
            None => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, body) = match self {
            ApiError::Field(b) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": b.message, "field": b.field }),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "error": m })),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, json!({ "error": m })),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": m })),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": m })),
        };
        (code, Json(body)).into_response()
    }
}
