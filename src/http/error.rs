//! HTTP errors: the one place where a failure becomes a status code and a `{"error": "..."}`
//! body.
//!
//! Owns [`ApiError`] and its [`IntoResponse`]: 4xx answers say what was wrong with the request;
//! 5xx answers are generic and their detail goes to the log only, except where the client is
//! the operator (a failed `/admin/reload` names the file to fix) or the cause is load (503 with
//! `Retry-After`, 504). It must not look at lookups: a lookup never fails, its problems are
//! verdicts and reasons in a 200 answer.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::json::Json;
use super::reload::ReloadError;

/// Seconds a shed client is asked to wait before retrying (`Retry-After`).
pub(crate) const RETRY_AFTER_SECONDS: u64 = 1;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in one sentence.
    pub error: String,
}

/// Why a request got no regular answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The query string could not be read (e.g. `url` is missing).
    #[error("{}", query_problem(.0))]
    Query(#[from] QueryRejection),
    /// The JSON body is missing, malformed or of the wrong shape.
    #[error("{}", json_problem(.0))]
    Json(#[from] JsonRejection),
    /// The body is larger than `--max-body-bytes`.
    #[error("the request body is larger than the limit of {limit} bytes (--max-body-bytes)")]
    BodyTooLarge {
        /// The configured maximum, in bytes.
        limit: usize,
    },
    /// A path parameter could not be read.
    #[error("the path cannot be read: {}", after_colon(&.0.body_text()))]
    Path(#[from] PathRejection),
    /// `GET /v1/lookup` without exactly one `url` parameter.
    #[error(
        "the query parameter `url` {0}; give it once, or POST many URLs to /v1/lookup \
         (e.g. ?url=<the reported URL, URL-encoded>)"
    )]
    UrlParam(&'static str),
    /// `/v1/ip/{ip}` got something that is not an IP address.
    #[error("{input:?} is not an IP address (expected IPv4, IPv6 or [IPv6])")]
    BadIp {
        /// What was given, shortened.
        input: String,
    },
    /// More URLs in one `POST /v1/lookup` than allowed.
    #[error("too many URLs: {given} in one request, at most {limit} are accepted; split the batch")]
    TooManyUrls {
        /// How many were sent.
        given: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// An API token is configured and the request did not present it.
    #[error("this endpoint needs the header `Authorization: Bearer <token>` with the API token")]
    Unauthorized,
    /// No API token is configured and an admin request came from a non-loopback address.
    #[error("the admin API answers only loopback clients unless an API token is configured")]
    AdminNotLoopback,
    /// No route has this path.
    #[error("no such endpoint; see /openapi.json")]
    NotFound,
    /// The path exists, the method does not.
    #[error("method not allowed for this endpoint; see /openapi.json")]
    MethodNotAllowed,
    /// The concurrency limit is reached; the request was refused without being queued.
    #[error(
        "the server is handling its limit of {limit} requests at once \
         (--max-concurrent-requests); retry after {RETRY_AFTER_SECONDS} s"
    )]
    Overloaded {
        /// The configured maximum.
        limit: usize,
    },
    /// The request took longer than the request timeout.
    #[error(
        "the request did not finish within {} (--request-timeout)",
        humantime::format_duration(*.0)
    )]
    Timeout(Duration),
    /// A reload was asked for and failed; the old data is still served.
    #[error(
        "reload failed, still serving the data loaded before: {}",
        crate::error::chain(.0)
    )]
    Reload(ReloadError),
    /// A bug or an unexpected failure; the detail is logged, not answered.
    #[error("internal error: {0}")]
    Internal(String),
    /// The request line and headers together are over `--max-header-bytes`, or there are too
    /// many headers (answered for hyper, see `refusals.rs`).
    #[error(
        "the request line and headers are larger than the limit of {limit} bytes \
         (--max-header-bytes), or there are more than {headers} headers; send long or many \
         URLs in the body of POST /v1/lookup"
    )]
    HeadTooLarge {
        /// The configured limit, bytes.
        limit: usize,
        /// The most headers accepted.
        headers: usize,
    },
    /// The request target (path and query string) is over hyper's fixed limit.
    #[error(
        "the request target (path and query string) is longer than the limit of {limit} \
         bytes; send long or many URLs in the body of POST /v1/lookup"
    )]
    TargetTooLong {
        /// The limit, bytes.
        limit: usize,
    },
    /// The request line or a header is not HTTP/1 (answered for hyper, see `refusals.rs`).
    #[error("the request is not valid HTTP/1.1: its request line or a header cannot be parsed")]
    NotHttp,
}

impl ApiError {
    /// `/v1/ip/{ip}` got `input`; keeps the echo short.
    pub(crate) fn bad_ip(input: &str) -> ApiError {
        const MAX: usize = 64;
        let input = match input.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}…", &input[..cut]),
            None => input.to_owned(),
        };
        ApiError::BadIp { input }
    }

    /// The status code of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Query(rejection) => rejection.status(),
            // axum answers 422 for JSON of the wrong shape; for this API any JSON that is not
            // the documented request is simply a bad request.
            ApiError::Json(rejection) if rejection.status() == StatusCode::UNPROCESSABLE_ENTITY => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Json(rejection) => rejection.status(),
            ApiError::Path(rejection) => rejection.status(),
            ApiError::BadIp { .. } | ApiError::UrlParam(_) => StatusCode::BAD_REQUEST,
            ApiError::TooManyUrls { .. } | ApiError::BodyTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::AdminNotLoopback => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Reload(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::HeadTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::TargetTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::NotHttp => StatusCode::BAD_REQUEST,
        }
    }

    /// Whether this is an unexpected server error, whose detail is for the log only.
    fn is_hidden(&self) -> bool {
        self.status().is_server_error()
            && !matches!(
                self,
                ApiError::Reload(_) | ApiError::Overloaded { .. } | ApiError::Timeout(_)
            )
    }

    /// The message the client sees: the error itself, except for unexpected server errors.
    fn public_message(&self) -> String {
        if self.is_hidden() {
            "internal server error".to_owned()
        } else {
            self.to_string()
        }
    }

    /// The whole HTTP/1.1 answer as bytes, closing the connection: for refusals written below
    /// the router, where no `Response` can be sent (see `refusals.rs`).
    pub(crate) fn raw_response(&self) -> Vec<u8> {
        let mut body = serde_json::to_vec(&ErrorBody {
            error: self.public_message(),
        })
        .unwrap_or_default();
        body.push(b'\n');
        let status = self.status();
        let mut answer = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or_default(),
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        answer
    }
}

/// What follows axum's own prefix ("Failed to deserialize query string: …").
fn after_colon(text: &str) -> &str {
    text.split_once(": ").map_or(text, |(_, detail)| detail)
}

/// serde's "missing field `url`" as the field's name.
fn missing_field(detail: &str) -> Option<&str> {
    detail
        .strip_prefix("missing field `")?
        .split_once('`')
        .map(|(field, _)| field)
}

/// A query-string problem in the API's words, naming the parameter.
fn query_problem(rejection: &QueryRejection) -> String {
    let text = rejection.body_text();
    let detail = after_colon(&text);
    match missing_field(detail) {
        Some(field) => format!(
            "the query parameter \"{field}\" is missing (e.g. ?{field}=<the reported URL, \
             URL-encoded>)"
        ),
        None => format!("the query string cannot be read: {detail}"),
    }
}

/// A JSON body problem in the API's words, naming the field where serde names one.
fn json_problem(rejection: &JsonRejection) -> String {
    let text = rejection.body_text();
    let detail = after_colon(&text);
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "send the body with the header `Content-Type: application/json`".to_owned()
        }
        JsonRejection::JsonSyntaxError(_) => format!("the body is not valid JSON: {detail}"),
        JsonRejection::JsonDataError(_) => {
            if let Some(field) = missing_field(detail) {
                return format!(
                    "the JSON body has no field \"{field}\" (expected {{\"urls\": [\"<reported \
                     URL>\", …]}})"
                );
            }
            // serde_path_to_error puts the path to the bad value first: "urls[2]: invalid …".
            match detail.split_once(": ") {
                Some((path, problem)) if !path.contains(' ') => {
                    format!("the field \"{path}\" is not valid: {problem}")
                }
                _ => format!("the JSON body does not have the expected shape: {detail}"),
            }
        }
        _ => format!("the request body cannot be read: {detail}"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.is_hidden() {
            tracing::error!(error = %self, "request failed");
        }
        let body = ErrorBody {
            error: self.public_message(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        match self {
            ApiError::Overloaded { .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: ApiError, status: StatusCode, message: &str) {
        assert_eq!(error.status(), status, "{error:?}");
        assert_eq!(error.public_message(), message, "{error:?}");
    }

    #[test]
    fn client_errors_explain_and_server_errors_do_not() {
        check(
            ApiError::bad_ip("nope"),
            StatusCode::BAD_REQUEST,
            "\"nope\" is not an IP address (expected IPv4, IPv6 or [IPv6])",
        );
        check(
            ApiError::TooManyUrls { given: 3, limit: 2 },
            StatusCode::PAYLOAD_TOO_LARGE,
            "too many URLs: 3 in one request, at most 2 are accepted; split the batch",
        );
        check(
            ApiError::Internal("secret detail".to_owned()),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error",
        );
        check(
            ApiError::Timeout(Duration::from_secs(30)),
            StatusCode::GATEWAY_TIMEOUT,
            "the request did not finish within 30s (--request-timeout)",
        );
        check(
            ApiError::BodyTooLarge { limit: 1024 },
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than the limit of 1024 bytes (--max-body-bytes)",
        );
        check(
            ApiError::Overloaded { limit: 512 },
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is handling its limit of 512 requests at once \
             (--max-concurrent-requests); retry after 1 s",
        );
    }

    #[test]
    fn long_inputs_are_shortened_in_the_echo() {
        let ApiError::BadIp { input } = ApiError::bad_ip(&"x".repeat(1000)) else {
            unreachable!("bad_ip builds BadIp");
        };
        assert_eq!(input.chars().count(), 65);
    }

    #[test]
    fn shed_requests_are_told_when_to_retry() {
        let response = ApiError::Overloaded { limit: 512 }.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
