//! The one error shape of the API: `{"error": {"code": "...", "message": "..."}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable code for programs and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: see [`ErrorCode`].
    pub code: ErrorCode,
    /// One line for a person.
    pub message: String,
}

/// The error codes, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the request is malformed (bad JSON, a bad id, an unknown field).
    BadRequest,
    /// 403: the peer is another user.
    Forbidden,
    /// 404: no such record, or no such route.
    NotFound,
    /// 405: the route exists, but not with this method (`Allow` names those it takes).
    MethodNotAllowed,
    /// 409: the change is not allowed in the record's state, or conflicts.
    Conflict,
    /// 409: the agent that asked is not the party that may make the change
    /// (only a handoff's target acknowledges, starts, completes or fails it;
    /// only its sender cancels it).
    NotPermitted,
    /// 408: the request's body did not arrive in time.
    RequestTimeout,
    /// 413: the body is over the configured limit.
    PayloadTooLarge,
    /// 503: the store refuses writes, or the daemon is shutting down, or an
    /// actor is restarting; retrying later may work.
    Unavailable,
    /// 500: a bug.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that carries this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::NotPermitted => 409,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The code's wire name, such as `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::NotPermitted => "not_permitted",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
