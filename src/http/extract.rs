//! Extractors that reject in the API's own error format.
//!
//! Owns thin wrappers around axum's `Json`, `Query` and `Path` whose rejections become
//! [`ApiError`] (and so `{"error": "..."}` bodies) instead of axum's plain-text ones. They parse
//! the request's shape only; what the values mean is the handlers' and the pipeline's business.
//! [`UrlParam`] reads `?url=` by hand, byte for byte, so that a value that is not UTF-8 once
//! percent-decoded is told apart instead of silently mended with replacement characters.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;

/// A JSON body; malformed or mis-shaped JSON is a 400, a wrong content type a 415, a body over
/// the limit a 413 that names the limit.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::BodyTooLarge {
                    limit: state.settings.max_body_bytes,
                })
            }
            Err(rejection) => Err(ApiError::Json(rejection)),
        }
    }
}

/// A query string; a missing or unreadable parameter is a 400.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub(crate) T);

/// Path parameters; an unreadable one is a 400.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub(crate) T);

/// The `url` parameter of `GET /v1/lookup`, percent-decoded (`+` is a space, as in forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlParam {
    /// The decoded text.
    Text(String),
    /// The decoded bytes are not UTF-8: the text with replacement characters, and where the
    /// first undecodable byte is.
    NotUtf8 {
        /// The value with each undecodable sequence replaced by U+FFFD.
        lossy: String,
        /// 1-based position of the first byte that cannot be decoded.
        byte: usize,
    },
}

impl UrlParam {
    /// Finds `url` in a raw query string.
    ///
    /// # Errors
    ///
    /// [`ApiError::UrlParam`] when `url` is missing or given more than once.
    pub(crate) fn from_query(query: Option<&str>) -> Result<UrlParam, ApiError> {
        let mut found = None;
        for pair in query.unwrap_or_default().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if form_decode(key) != b"url" {
                continue;
            }
            if found.is_some() {
                return Err(ApiError::UrlParam("is given more than once"));
            }
            found = Some(form_decode(value));
        }
        let bytes = found.ok_or(ApiError::UrlParam("is missing"))?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => UrlParam::Text(text),
            Err(error) => UrlParam::NotUtf8 {
                byte: error.utf8_error().valid_up_to() + 1,
                lossy: String::from_utf8_lossy(error.as_bytes()).into_owned(),
            },
        })
    }
}

/// Decodes one component of `application/x-www-form-urlencoded` into bytes. A `%` not followed
/// by two hex digits stays as it is (WHATWG URL: "percent-decode").
fn form_decode(component: &str) -> Vec<u8> {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).collect()
}

impl<S: Send + Sync> FromRequestParts<S> for UrlParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        UrlParam::from_query(parts.uri.query())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_parameter_is_decoded_byte_for_byte() {
        let text = |text: &str| UrlParam::Text(text.to_owned());
        for (query, expected) in [
            (Some("url=a.nl"), text("a.nl")),
            (
                Some("x=1&url=hxxp%3A%2F%2Fa%5B.%5Dnl%2Fa+b&y"),
                text("hxxp://a[.]nl/a b"),
            ),
            (Some("url="), text("")),
            (Some("url"), text("")),
            (Some("%75rl=%zz%%41%"), text("%zz%A%")),
            (
                Some("url=a%FF%FEb"),
                UrlParam::NotUtf8 {
                    lossy: "a\u{fffd}\u{fffd}b".to_owned(),
                    byte: 2,
                },
            ),
        ] {
            assert_eq!(UrlParam::from_query(query).unwrap(), expected, "{query:?}");
        }
        for query in [None, Some(""), Some("uri=a.nl"), Some("url=a&url=b")] {
            assert!(
                matches!(UrlParam::from_query(query), Err(ApiError::UrlParam(_))),
                "{query:?}"
            );
        }
    }
}
