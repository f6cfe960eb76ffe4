//! Extractors that reject in the API's own error format.
//!
//! Owns thin wrappers around axum's `Json`, `Query` and `Path` whose rejections become
//! [`ApiError`] (and so `{"error": "..."}` bodies) instead of axum's plain-text ones. They parse
//! the request's shape only; what the values mean is the handlers' and the pipeline's business.
//! [`UrlParam`] reads `?url=` by hand, byte for byte, so that a value that is not UTF-8 once
//! percent-decoded reaches [`Pipeline::lookup_bytes`](crate::pipeline::Pipeline::lookup_bytes)
//! as bytes and gets the same result (and warning) as the same bytes given to `hostloc lookup`
//! or `hostloc batch`.

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
                    limit: state.shared.settings.max_body_bytes,
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

/// The `url` parameter of `GET /v1/lookup`, percent-decoded (`+` is a space, as in forms), as
/// bytes: whether they are UTF-8 is intake's question, answered the same for every front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParam(pub(crate) Vec<u8>);

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
            if key != "url" && form_decode(key) != b"url" {
                continue;
            }
            if found.is_some() {
                return Err(ApiError::UrlParam("is given more than once"));
            }
            found = Some(form_decode(value));
        }
        found.map(UrlParam).ok_or(ApiError::UrlParam("is missing"))
    }
}

/// Decodes one component of `application/x-www-form-urlencoded` into bytes. A `%` not followed
/// by two hex digits stays as it is (WHATWG URL: "percent-decode").
fn form_decode(component: &str) -> Vec<u8> {
    if component.contains('+') {
        let spaced = component.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced).collect()
    } else {
        percent_encoding::percent_decode_str(component).collect()
    }
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
        let text = |text: &str| UrlParam(text.as_bytes().to_vec());
        for (query, expected) in [
            (Some("url=a.nl"), text("a.nl")),
            (
                Some("x=1&url=hxxp%3A%2F%2Fa%5B.%5Dnl%2Fa+b&y"),
                text("hxxp://a[.]nl/a b"),
            ),
            (Some("url="), text("")),
            (Some("url"), text("")),
            (Some("%75rl=%zz%%41%"), text("%zz%A%")),
            (Some("url=a%FF%FEb"), UrlParam(b"a\xFF\xFEb".to_vec())),
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
