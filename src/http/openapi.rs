//! The OpenAPI document of the HTTP API, generated from the handlers and the types.
//!
//! Owns [`ApiDoc`]: the list of documented paths and the `api_token` security scheme. The
//! schemas come from the types' `ToSchema` derives (report.rs, geoip.rs, routes.rs); nothing in
//! the document is written by hand, so it cannot drift from what the server answers.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes;

/// The OpenAPI description served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "hostloc",
        description = "Where is this reported URL hosted, and is it in the hotline's \
                       jurisdiction? Every lookup answers with the same Result object as \
                       `hostloc lookup --json`. Errors are `{\"error\": \"...\"}`."
    ),
    paths(
        routes::lookup_one,
        routes::lookup_many,
        routes::locate_ip,
        routes::healthz,
        routes::readyz,
        routes::metrics,
        routes::openapi,
        routes::reload,
    ),
    modifiers(&ApiTokenScheme),
    tags(
        (name = "lookup", description = "Where is it hosted?"),
        (name = "operations", description = "Health, readiness, metrics and data reloads"),
    )
)]
pub struct ApiDoc;

/// Declares the `api_token` bearer scheme the `/v1/*` and `/admin/*` paths refer to.
struct ApiTokenScheme;

impl Modify for ApiTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Needed when the server runs with --api-token / HOSTLOC_API_TOKEN",
                    ))
                    .build(),
            ),
        );
    }
}
