//! JSON out: every JSON answer of the API, ending with a newline.
//!
//! Owns [`Json`], the response type of every handler and of every error body, so that `curl`
//! output does not run into the shell prompt and line-oriented tools see one answer per line.
//! It only serialises; what goes in an answer is the handlers' business. An answer is written
//! once into one buffer, sized from the answers before it ([`SizeHint`]), which becomes the
//! response body without a copy.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON answer: the value, then `\n`.
#[derive(Debug, Clone)]
pub(crate) struct Json<T>(pub(crate) T);

/// The largest size a kind of answer took so far (up to [`SizeHint::MAX`]): the capacity its
/// next buffer starts with, so that it is not grown (and copied) several times on the way.
#[derive(Debug)]
pub(crate) struct SizeHint(AtomicUsize);

impl SizeHint {
    /// The most a hint asks for up front; larger answers grow their buffer.
    const MAX: usize = 64 * 1024;

    /// A hint starting at `bytes`.
    pub(crate) const fn new(bytes: usize) -> SizeHint {
        SizeHint(AtomicUsize::new(bytes))
    }
}

/// The hint of answers that are not sized by their own.
static SMALL: SizeHint = SizeHint::new(256);

impl<T: Serialize> Json<T> {
    /// The response, its buffer sized by `hint`.
    pub(crate) fn into_response_sized(self, hint: &SizeHint) -> Response {
        let capacity = hint.0.load(Ordering::Relaxed);
        let mut body = Vec::with_capacity(capacity);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => {
                body.push(b'\n');
                if body.len() > capacity && capacity < SizeHint::MAX {
                    hint.0
                        .fetch_max(body.len().min(SizeHint::MAX), Ordering::Relaxed);
                }
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    body,
                )
                    .into_response()
            }
            // Every answer type serialises; should one not, say so without detail.
            Err(error) => {
                tracing::error!(%error, "an answer could not be serialised");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    "{\"error\":\"internal server error\"}\n",
                )
                    .into_response()
            }
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        self.into_response_sized(&SMALL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_is_its_json_and_a_newline_and_sizes_the_next() {
        static HINT: SizeHint = SizeHint::new(4);
        let response = Json(serde_json::json!({"a": "bcdefgh"})).into_response_sized(&HINT);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"{\"a\":\"bcdefgh\"}\n");
        assert_eq!(HINT.0.load(Ordering::Relaxed), body.len());
    }
}
