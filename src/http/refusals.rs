//! Refusals: requests hyper answers itself, before routing, rewritten as the API's JSON errors.
//!
//! Owns the answers to requests that cannot be parsed as HTTP/1: a request line or headers
//! larger than `--max-header-bytes` (431), a request target over hyper's fixed 65,534 bytes
//! (414), and a request line or header that is not HTTP at all (400). hyper answers these
//! itself, with an empty body, and closes the connection; it offers no hook to shape that
//! answer. [`RefusalRewriter`] wraps the connection's socket and replaces exactly those canned
//! answers (a 400, 414 or 431 head with `content-length: 0`, which no handler of the API
//! sends: every error of the API has a JSON body) with the API's own `{"error": "..."}` answer
//! naming the limit and its value. Everything else passes through untouched.
//!
//! After a refusal the rest of the request is read and thrown away for a moment before the
//! socket closes (a "lingering close", as nginx does): closing a socket with unread data makes
//! the system send a reset, which can destroy the answer before the client reads it.
//!
//! Must not: look at or log what the client sent (it is a reported URL, or an attack), or
//! change any answer a handler produced.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::ApiError;

/// hyper's fixed limit on the request target (path and query), bytes.
pub(crate) const MAX_TARGET_BYTES: usize = u16::MAX as usize - 1;

/// hyper's default limit on the number of request headers.
pub(crate) const MAX_HEADERS: usize = 100;

/// How long, at most, the rest of a refused request is read before the socket closes.
const LINGER: Duration = Duration::from_secs(2);

/// How much of a refused request is read, at most, before the socket closes.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// A socket whose canned parse-error answers from hyper are replaced by JSON ones.
#[derive(Debug)]
pub(crate) struct RefusalRewriter<S> {
    inner: S,
    max_header_bytes: usize,
    /// A replacement answer not yet fully written to `inner`.
    pending: Vec<u8>,
    written: usize,
    /// Set once a refusal was written: the lingering close.
    linger: Option<Linger>,
}

/// The state of a lingering close.
#[derive(Debug)]
struct Linger {
    write_closed: bool,
    deadline: Pin<Box<tokio::time::Sleep>>,
    drained: usize,
}

impl<S> RefusalRewriter<S> {
    /// Wraps `inner`, whose server refuses request heads over `max_header_bytes`.
    pub(crate) fn new(inner: S, max_header_bytes: usize) -> RefusalRewriter<S> {
        RefusalRewriter {
            inner,
            max_header_bytes,
            pending: Vec::new(),
            written: 0,
            linger: None,
        }
    }

    /// The JSON answer that replaces `head`, when `head` is one of hyper's canned refusals.
    fn replacement(&self, head: &[u8]) -> Option<Vec<u8>> {
        let status = canned_refusal(head)?;
        let error = match status {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadTooLarge {
                limit: self.max_header_bytes,
                headers: MAX_HEADERS,
            },
            StatusCode::URI_TOO_LONG => ApiError::TargetTooLong {
                limit: MAX_TARGET_BYTES,
            },
            _ => ApiError::NotHttp,
        };
        metrics::counter!("hostloc_http_refused_unparsed_total", "status" => status.as_str().to_owned())
            .increment(1);
        Some(error.raw_response())
    }
}

/// The status of `head` when it is a complete head of hyper's canned refusals: a 400, 414 or
/// 431 without a body and without a content type.
fn canned_refusal(head: &[u8]) -> Option<StatusCode> {
    let rest = head.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    let status = match code {
        b"400" => StatusCode::BAD_REQUEST,
        b"414" => StatusCode::URI_TOO_LONG,
        b"431" => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let lower = head.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|window| window == needle);
    (head.ends_with(b"\r\n\r\n") && has(b"\r\ncontent-length: 0\r\n") && !has(b"content-type"))
        .then_some(status)
}

impl<S: AsyncWrite + Unpin> RefusalRewriter<S> {
    /// Writes what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let written =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += written;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RefusalRewriter<S> {
    /// After a refusal: closes the writing side, then reads what the client still sends until
    /// it stops, [`LINGER`] passes or [`LINGER_BYTES`] were read.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(linger) = self.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        if !linger.write_closed {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            linger.write_closed = true;
        }
        let mut scratch = [0_u8; 8192];
        loop {
            if linger.deadline.as_mut().poll(cx).is_ready() || linger.drained >= LINGER_BYTES {
                return Poll::Ready(Ok(()));
            }
            let mut buffer = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buffer)) {
                Ok(()) if !buffer.filled().is_empty() => linger.drained += buffer.filled().len(),
                // The client closed its side, or the connection is gone: nothing to protect.
                _ => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RefusalRewriter<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buffer)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RefusalRewriter<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(replacement) = self.replacement(buffer) {
            // hyper closes the connection after a refusal, so nothing follows this answer.
            self.pending = replacement;
            self.written = 0;
            self.linger = Some(Linger {
                write_closed: false,
                deadline: Box::pin(tokio::time::sleep(LINGER)),
                drained: 0,
            });
            // The write of hyper's answer counts as done; ours goes out from here on.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buffer.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buffer)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        if self.linger.is_some() {
            return self.poll_linger(cx);
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Not vectored (see `is_write_vectored`): hyper then writes each head in one buffer,
        // which is what the refusal check looks at.
        let first = buffers
            .iter()
            .find(|buffer| !buffer.is_empty())
            .map_or(&[][..], |buffer| &**buffer);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn written(max_header_bytes: usize, chunks: &[&[u8]]) -> String {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut rewriter = RefusalRewriter::new(server, max_header_bytes);
        for chunk in chunks {
            rewriter.write_all(chunk).await.unwrap();
        }
        rewriter.flush().await.unwrap();
        drop(rewriter);
        let mut answer = String::new();
        let mut client = client;
        client.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn canned_refusals_become_json_naming_the_limit() {
        let hyper_431 =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let answer = written(131_072, &[hyper_431]).await;
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        assert!(
            answer.contains("content-type: application/json\r\n"),
            "{answer}"
        );
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        let body: serde_json::Value =
            serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("131072 bytes"),
            "{body}"
        );

        let hyper_414 = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let answer = written(131_072, &[hyper_414]).await;
        assert!(answer.starts_with("HTTP/1.1 414 "), "{answer}");
        assert!(answer.contains("65534 bytes"), "{answer}");

        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert!(written(1, &[hyper_400]).await.contains("\"error\""));
    }

    #[tokio::test]
    async fn answers_of_the_api_pass_untouched() {
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                     content-length: 0\r\n\r\n";
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let body = b"431 is not a head";
        assert_eq!(
            written(1, &[ours, ok, body]).await.as_bytes(),
            [&ours[..], ok, body].concat()
        );
    }
}
