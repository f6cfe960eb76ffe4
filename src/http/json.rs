//! JSON out: every JSON answer of the API, ending with a newline.
//!
//! Owns [`Json`], the response type of every handler and of every error body, so that `curl`
//! output does not run into the shell prompt and line-oriented tools see one answer per line.
//! It only serialises; what goes in an answer is the handlers' business.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON answer: the value, then `\n`.
#[derive(Debug, Clone)]
pub(crate) struct Json<T>(pub(crate) T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(256);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => {
                body.push(b'\n');
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
