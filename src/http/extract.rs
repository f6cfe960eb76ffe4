//! Extractors that reject in the API's own error format.
//!
//! Owns thin wrappers around axum's `Json`, `Query` and `Path` whose rejections become
//! [`ApiError`] (and so `{"error": "..."}` bodies) instead of axum's plain-text ones. They parse
//! the request's shape only; what the values mean is the handlers' and the pipeline's business.

use axum::extract::{FromRequest, FromRequestParts};

use super::error::ApiError;

/// A JSON body; malformed or mis-shaped JSON is a 400, a wrong content type a 415, a body over
/// the limit a 413.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub(crate) T);

/// A query string; a missing or unreadable parameter is a 400.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub(crate) T);

/// Path parameters; an unreadable one is a 400.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub(crate) T);
