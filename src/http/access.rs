//! Access control: the API token and the loopback rule for `/admin/*`.
//!
//! Owns who may call what. With an API token configured, `/v1/*` and `/admin/*` need
//! `Authorization: Bearer <token>`, compared in constant time; without one, `/v1/*` is open and
//! `/admin/*` answers loopback clients only. Health, readiness, metrics and the OpenAPI
//! document are always open (their routes carry no access layer). Nothing here logs a token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// The API token, kept as its SHA-256 so that comparing takes the same time whatever the
/// length or content of the presented token. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    digest: [u8; 32],
}

impl ApiToken {
    /// The token `token`.
    pub fn new(token: &str) -> ApiToken {
        ApiToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether `presented` is the token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.ct_eq(&presented).into()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// The credentials of `Authorization: Bearer <credentials>` (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// Whether `request` may reach an API route: with a token configured, only when it presents
/// it; on `/admin/*` (`admin`) without a token configured, only from a loopback client (a
/// request whose peer is unknown, without `ConnectInfo`, is not loopback).
///
/// # Errors
///
/// [`ApiError::Unauthorized`] (401) without the right token; [`ApiError::AdminNotLoopback`]
/// (403) for `/admin/*` from another client.
pub(crate) fn check(state: &AppState, admin: bool, request: &Request) -> Result<(), ApiError> {
    match &state.shared.settings.api_token {
        Some(token)
            if !bearer(request.headers()).is_some_and(|presented| token.matches(presented)) =>
        {
            return Err(ApiError::Unauthorized);
        }
        Some(_) => {}
        None if admin => {
            let loopback = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_some_and(|ConnectInfo(peer)| peer.ip().to_canonical().is_loopback());
            if !loopback {
                return Err(ApiError::AdminNotLoopback);
            }
        }
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly() {
        let token = ApiToken::new("s3cret");
        assert!(token.matches("s3cret"));
        for wrong in ["", "s3cre", "s3cret ", "S3CRET", "s3crets"] {
            assert!(!token.matches(wrong), "{wrong:?}");
        }
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");
    }

    #[test]
    fn bearer_credentials_are_read_from_the_header() {
        let check = |value: &str, expected: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer(&headers), expected, "{value:?}");
        };
        check("Bearer abc", Some("abc"));
        check("bearer abc", Some("abc"));
        check("Basic abc", None);
        check("Bearerabc", None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
