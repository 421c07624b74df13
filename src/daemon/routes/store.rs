//! The store as a whole: checking it (`baton doctor`) and backing it up
//! (`baton backup`). Both hold the engine for as long as they read the store.

use actix_web::{get, post, web};

use crate::api::{BackupRequest, ErrorBody};
use crate::daemon::error::ApiError;
use crate::daemon::state::AppState;
use crate::{CommitRecord, StoreCheck};

/// Reads every record of the store back and counts them against its commit record.
#[utoipa::path(
    get, path = "/v1/store/check", tag = "store",
    responses((status = 200, body = StoreCheck), (status = 503, body = ErrorBody))
)]
#[get("/v1/store/check")]
pub async fn check(state: web::Data<AppState>) -> Result<web::Json<StoreCheck>, ApiError> {
    Ok(web::Json(state.baton.check_store().await?))
}

/// Copies the store into a new directory, as a data dir of its own, with
/// every record acknowledged before the request; answers with the commit it covers.
#[utoipa::path(
    post, path = "/v1/store/backup", tag = "store", request_body = BackupRequest,
    responses(
        (status = 200, body = CommitRecord), (status = 400, body = ErrorBody),
        (status = 409, description = "The directory is not empty", body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/store/backup")]
pub async fn backup(
    state: web::Data<AppState>,
    request: super::JsonObject<BackupRequest>,
) -> Result<web::Json<CommitRecord>, ApiError> {
    Ok(web::Json(state.baton.backup(&request.into_inner().dest).await?))
}
