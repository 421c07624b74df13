//! The daemon's one error type, rendered as the API's one error shape.
//!
//! A handler returns `Result<_, ApiError>`; actix-web turns the error into a
//! status and `{"error": {"code", "message"}}`. Extractor failures (bad JSON,
//! an oversized body, a malformed id in the path or query) and unknown routes
//! are routed through here too, so no answer has another shape. Detail meant
//! for operators goes to the log, not to the client.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use baton_actors::EngineError;

use crate::Error;
use crate::api::{ErrorBody, ErrorCode, ErrorDetail};

/// An error answer: a code and a message for the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    code: ErrorCode,
    message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 404 for a path no route serves.
    pub fn no_route(req: &HttpRequest) -> Self {
        Self::new(ErrorCode::NotFound, format!("no route {} {}", req.method(), req.path()))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message.clone() } };
        HttpResponse::build(self.status_code()).json(body)
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Engine(err) => err.into(),
            Error::Stopped => Self::new(ErrorCode::Unavailable, "baton is shutting down"),
            other => {
                tracing::error!(cause = %other, "request failed");
                Self::new(ErrorCode::Internal, other.to_string())
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        let code = match &err {
            EngineError::SessionNotFound(_)
            | EngineError::AgentNotFound(_)
            | EngineError::HandoffNotFound(_)
            | EngineError::ObservationNotFound { .. }
            | EngineError::NoSuchRole(_) => ErrorCode::NotFound,
            EngineError::InvalidTransition(_)
            | EngineError::WrongObservationState { .. }
            | EngineError::LeaseHeldByOther { .. }
            | EngineError::SessionNotAccepting { .. }
            | EngineError::AgentNotAccepting { .. }
            | EngineError::NotEmpty(_) => ErrorCode::Conflict,
            EngineError::NotPermitted { .. } => ErrorCode::NotPermitted,
            EngineError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            EngineError::InvalidRequest(_) | EngineError::InvalidPayload(_) => ErrorCode::BadRequest,
            EngineError::Store(cause) => {
                tracing::error!(%cause, "the store refused a request");
                ErrorCode::Unavailable
            }
            EngineError::ActorCrashed { .. } | EngineError::Restarting { .. } | EngineError::ShuttingDown => {
                ErrorCode::Unavailable
            }
            _ => ErrorCode::Internal,
        };
        Self::new(code, err.to_string())
    }
}

/// Maps a JSON body that could not be read: 413 when too large, 408 when it
/// did not arrive in time, else 400.
pub fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Payload(cause) if super::body::is_timeout(cause) => {
            ApiError::new(ErrorCode::RequestTimeout, cause.to_string())
        }
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge, format!("the body is over the limit of {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            ApiError::bad_request("the body must be JSON (Content-Type: application/json)")
        }
        JsonPayloadError::Deserialize(cause) => ApiError::of_body(cause),
        other => ApiError::bad_request(format!("cannot read the body: {other}")),
    };
    api.into()
}

impl ApiError {
    /// A request body that does not read: JSON that does not parse is
    /// malformed; JSON that does, with a value the request cannot take (an
    /// unknown policy, a missing field), is invalid, and says which.
    pub fn of_body(err: &serde_json::Error) -> Self {
        match err.classify() {
            serde_json::error::Category::Data => ApiError::bad_request(format!("invalid request body: {err}")),
            _ => ApiError::bad_request(format!("malformed JSON body: {err}")),
        }
    }
}

/// Maps a path segment that does not parse (a malformed id) to 400.
pub fn path_error(err: PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(format!("malformed path: {err}")).into()
}

/// Maps a query string that does not parse to 400.
pub fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(format!("malformed query: {err}")).into()
}
