//! Only the daemon's own user may talk to it.
//!
//! The socket is 0600 in a 0700 directory, which keeps other users out at the
//! file-system level; this is the second fence. When a connection is accepted,
//! `on_connect` reads the peer's credentials (`SO_PEERCRED`) into the
//! connection's extensions, and [`require_same_user`] refuses every request
//! on a connection whose peer is another uid, or whose uid could not be read.
//! (`bind_uds` would skip `on_connect`; the daemon builds its listener itself
//! and passes it to `listen_uds`.)

use std::any::Any;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

use super::error::ApiError;
use crate::api::ErrorCode;

/// The uid of the process at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerUid(pub u32);

/// `HttpServer::on_connect` callback: records the peer's uid.
pub fn on_connect(connection: &dyn Any, extensions: &mut Extensions) {
    let Some(stream) = connection.downcast_ref::<actix_web::rt::net::UnixStream>() else {
        return;
    };
    match stream.peer_cred() {
        Ok(credentials) => {
            extensions.insert(PeerUid(credentials.uid()));
        }
        Err(err) => tracing::warn!(cause = %err, "cannot read the peer's credentials; its requests will be refused"),
    }
}

/// Middleware: refuses requests from a peer that is not this process's user.
pub async fn require_same_user(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let own = nix::unistd::getuid().as_raw();
    match request.conn_data::<PeerUid>() {
        Some(PeerUid(uid)) if *uid == own => Ok(next.call(request).await?.map_into_boxed_body()),
        peer => {
            tracing::warn!(peer_uid = ?peer.map(|p| p.0), own_uid = own, "refused a request from another user");
            let refusal = ApiError::new(ErrorCode::Forbidden, "baton only answers its own user");
            Ok(request.into_response(refusal.error_response()))
        }
    }
}
