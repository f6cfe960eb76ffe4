//! A data publisher on loopback: a small HTTP server standing in for DB-IP's download site and
//! MaxMind's update API in the tests of `hostloc data update`. It serves the bytes a test put at
//! a path (and query), 404 for anything else, 401 on `/geoip/` without the expected Basic
//! credentials, and records every request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request the publisher saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Path and query.
    pub(crate) target: String,
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<String>,
}

#[derive(Default)]
struct Shared {
    files: HashMap<String, (u16, Vec<u8>)>,
    seen: Vec<Seen>,
    authorization: Option<String>,
}

/// The running publisher. It lives until the test binary ends.
pub(crate) struct Publisher {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Publisher {
    /// Starts a publisher on 127.0.0.1 with nothing to serve.
    pub(crate) fn start() -> Publisher {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (sender, receiver) = std::sync::mpsc::channel();
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                sender
                    .send(listener.local_addr().expect("address"))
                    .expect("send");
                let router = axum::Router::new().fallback(answer).with_state(state);
                axum::serve(listener, router).await.expect("serve");
            });
        });
        Publisher {
            address: receiver.recv().expect("publisher starts"),
            shared,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Serves `body` with status 200 at `target` (path and query).
    pub(crate) fn put(&self, target: &str, body: Vec<u8>) {
        self.put_status(target, 200, body);
    }

    /// Serves `body` with `status` at `target`.
    pub(crate) fn put_status(&self, target: &str, status: u16, body: Vec<u8>) {
        self.lock().files.insert(target.to_owned(), (status, body));
    }

    /// Stops serving `target` (404 from now on).
    pub(crate) fn remove(&self, target: &str) {
        self.lock().files.remove(target);
    }

    /// Requires this `Authorization` header on every `/geoip/` path.
    pub(crate) fn require_authorization(&self, header: &str) {
        self.lock().authorization = Some(header.to_owned());
    }

    /// Every request so far, in order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("publisher lock")
    }
}

async fn answer(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), ToString::to_string);
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut shared = shared.lock().expect("publisher lock");
    shared.seen.push(Seen {
        target: target.clone(),
        authorization: authorization.clone(),
    });
    if target.starts_with("/geoip/")
        && let Some(expected) = &shared.authorization
        && authorization.as_ref() != Some(expected)
    {
        return (
            StatusCode::UNAUTHORIZED,
            "{\"code\":\"AUTHORIZATION_INVALID\"}",
        )
            .into_response();
    }
    match shared.files.get(&target) {
        Some((status, body)) => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
