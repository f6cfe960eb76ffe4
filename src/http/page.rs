//! The analyst's page: `GET /` of `hostloc serve`, for hotline analysts who paste reported URLs
//! and need, per URL, the action it calls for.
//!
//! Owns serving the page's static files (HTML, CSS, JavaScript and an icon under `page/`,
//! embedded in the binary with `include_str!`) and the security headers on them: a strict
//! Content-Security-Policy that lets the page load nothing and talk to nothing but this server.
//! The page is a client of the API only (`POST /v1/lookup`: JSON with `evidence=true` to show
//! the rows and their evidence records, CSV to download them), so it holds no lookup logic and
//! writes no evidence of its own; this module must not grow any either, nor serve
//! anything that is not the page. The only server-side step is writing the server's limits and
//! jurisdiction into the HTML, so that the page sends its chunks within them.
//!
//! The page files are open like `/healthz`: they carry no data, and the API calls they make
//! need the token when one is set.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

/// The page's markup; `{{name}}` placeholders are filled by [`index`].
const INDEX_HTML: &str = include_str!("page/index.html");
/// The page's behaviour: reading the reports, calling the API, drawing the rows.
const PAGE_JS: &str = include_str!("page/page.js");
/// The page's looks, wide and narrow.
const PAGE_CSS: &str = include_str!("page/page.css");
/// The page's icon (so that the browser does not ask for a missing `/favicon.ico`).
const FAVICON_SVG: &str = include_str!("page/favicon.svg");

/// The Content-Security-Policy of every page file: scripts, styles and images only from this
/// server (no inline script or style), requests only to this server, no plugins, frames, forms,
/// `<base>` or framing by other sites, and Trusted Types with no policy, so that no script can
/// write HTML from a string (the page builds every element with the DOM).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
     trusted-types 'none'";

/// The headers every page file carries besides its content type.
const SECURITY_HEADERS: [(HeaderName, &str); 7] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    // Reported URLs stay out of caches and the back/forward cache.
    (header::CACHE_CONTROL, "no-store"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
];

/// The page's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/page.js", get(script))
        .route("/page.css", get(style))
        .route("/favicon.svg", get(icon))
}

/// `GET /`: the page, with this server's limits and jurisdiction filled in.
async fn index(State(state): State<AppState>) -> Response {
    let settings = &state.shared.settings;
    let html = INDEX_HTML
        .replace("{{max_batch_urls}}", &settings.max_batch_urls.to_string())
        .replace("{{max_body_bytes}}", &settings.max_body_bytes.to_string())
        .replace("{{concurrency}}", &settings.concurrency.to_string())
        .replace(
            "{{jurisdiction}}",
            state.shared.pipeline.settings().jurisdiction.code(),
        );
    file("text/html; charset=utf-8", html)
}

async fn script() -> Response {
    file("text/javascript; charset=utf-8", PAGE_JS)
}

async fn style() -> Response {
    file("text/css; charset=utf-8", PAGE_CSS)
}

async fn icon() -> Response {
    file("image/svg+xml", FAVICON_SVG)
}

/// One page file with its content type and the security headers.
fn file(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        let placeholders: Vec<&str> = INDEX_HTML
            .match_indices("{{")
            .map(|(start, _)| {
                let end = INDEX_HTML[start..]
                    .find("}}")
                    .map_or(start, |end| start + end + 2);
                &INDEX_HTML[start..end]
            })
            .collect();
        assert_eq!(
            placeholders,
            [
                "{{max_batch_urls}}",
                "{{max_body_bytes}}",
                "{{concurrency}}",
                "{{jurisdiction}}",
                "{{jurisdiction}}",
            ]
        );
    }

    #[test]
    fn the_page_files_name_nothing_outside_the_server() {
        // The HTML refers to this server's own paths only.
        for attribute in ["src=\"", "href=\""] {
            for (start, _) in INDEX_HTML.match_indices(attribute) {
                let value = &INDEX_HTML[start + attribute.len()..];
                assert!(
                    value.starts_with('/') && !value.starts_with("//"),
                    "{attribute}{}",
                    &value[..value.find('"').unwrap_or(value.len())]
                );
            }
        }
        // The style sheet loads nothing; the script names no other origin.
        for (name, text, patterns) in [
            ("page.css", PAGE_CSS, &["url(", "@import"][..]),
            (
                "page.js",
                PAGE_JS,
                &["http:", "https:", "ws://", "wss://"][..],
            ),
            ("index.html", INDEX_HTML, &["http:", "https:", "url("][..]),
        ] {
            for pattern in patterns {
                assert!(!text.contains(pattern), "{name} has {pattern:?}");
            }
        }
    }
}
