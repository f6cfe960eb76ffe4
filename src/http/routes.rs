//! The handlers of the HTTP API and their request and response types.
//!
//! Owns the mapping from HTTP to the pipeline: read the request, call [`Pipeline::lookup`] /
//! [`Pipeline::locate_ip`] / a reload, and answer with the [`Report`] exactly as the CLI prints
//! it. Handlers must not parse reported URLs, resolve, judge, or build result JSON themselves;
//! the only parsing here is of the request's own shape (a query parameter, an IP path segment).
//!
//! [`Pipeline::lookup`]: crate::Pipeline::lookup
//! [`Pipeline::locate_ip`]: crate::Pipeline::locate_ip

use std::net::{IpAddr, Ipv6Addr};
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, UrlParam};
use super::json::{Json, SizeHint};
use super::reload::{ReloadFailure, ReloadTrigger};
use crate::data_age::{self, DatabaseAge};
use crate::geoip::DatabaseInfo;
use crate::report::{AddressReport, Report, rfc3339};

/// Query of `GET /v1/lookup`, for the OpenAPI document; read by
/// [`UrlParam`](super::extract::UrlParam), which tells a value that is not UTF-8 apart.
#[allow(dead_code)] // Never built: it only describes the parameter.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LookupQuery {
    /// The reported URL, as received (defanged, messy and partial forms are fine), percent-
    /// encoded as UTF-8.
    url: String,
    /// `json` (the default): the Result object; `evidence`: the same result as the plain-text
    /// case-file record of `hostloc lookup --evidence` (docs/evidence.md).
    #[param(inline)]
    format: Option<LookupFormat>,
}

/// The `format` parameter of `GET /v1/lookup`, read apart from `url` (which
/// [`UrlParam`](super::extract::UrlParam) reads byte for byte).
#[derive(Debug, Deserialize)]
pub(crate) struct AnswerFormat {
    #[serde(default)]
    format: LookupFormat,
}

/// How `GET /v1/lookup` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LookupFormat {
    /// The Result object, `application/json`.
    #[default]
    Json,
    /// The evidence record, `text/plain`.
    Evidence,
}

/// Path of `GET /v1/ip/{ip}`, for the OpenAPI document (the handler reads it as text and
/// answers 400 for anything that is not an address).
#[allow(dead_code)] // Never built: it only describes the parameter.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct IpPath {
    /// An IPv4 or IPv6 address (`95.211.0.1`, `2a00:c98::1`); IPv6 may also be written in
    /// brackets, as in URLs (`[2a00:c98::1]`, percent-encoded).
    #[param(schema_with = ip_address_schema)]
    ip: String,
}

/// An IPv4 or an IPv6 address, by the JSON Schema formats `ipv4` and `ipv6` (schemathesis
/// found that a plain string let `0` count as valid).
fn ip_address_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{
        KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
    };
    let address = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    Schema::OneOf(
        OneOfBuilder::new()
            .item(address(KnownFormat::Ipv4))
            .item(address(KnownFormat::Ipv6))
            .build(),
    )
}

/// Body of `POST /v1/lookup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct LookupRequest {
    /// The reported URLs, as received; at most `--max-batch-urls` (default 1000).
    pub(crate) urls: Vec<String>,
}

/// Query of `POST /v1/lookup`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LookupManyQuery {
    /// `json` (the default) or `csv`; `Accept: text/csv` asks for CSV too.
    #[param(inline)]
    format: Option<ResultsFormat>,
    /// `true`: the answer also carries each result's evidence record as
    /// `GET /v1/lookup?format=evidence` writes it (the analyst page copies these): in JSON the
    /// member `evidence`, in CSV a last column `evidence`.
    #[serde(default)]
    evidence: bool,
}

/// How `POST /v1/lookup` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ResultsFormat {
    /// `{"results": [...]}`.
    Json,
    /// The CSV `hostloc batch` writes for a CSV whose only column is `url`: that column (the
    /// input as received) followed by the result columns, one record per URL, in order.
    Csv,
}

impl ResultsFormat {
    /// The format asked for: `format=` when given, else CSV when the `Accept` header names
    /// `text/csv`, else JSON.
    fn of(query: &LookupManyQuery, headers: &HeaderMap) -> ResultsFormat {
        let accepts_csv = || {
            headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .any(|media| {
                    media
                        .split(';')
                        .next()
                        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/csv"))
                })
        };
        match query.format {
            Some(format) => format,
            None if accepts_csv() => ResultsFormat::Csv,
            None => ResultsFormat::Json,
        }
    }
}

/// Answer of `POST /v1/lookup`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LookupResults {
    /// One result per URL, in the order of the request.
    pub(crate) results: Vec<Report>,
    /// With `evidence=true`: the evidence record of each result, in the same order (the
    /// `n`th is `results[n]`'s, from the same lookup), as `GET /v1/lookup?format=evidence` and
    /// `hostloc lookup --evidence` write it; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) evidence: Option<Vec<String>>,
}

/// Answer of `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    pub(crate) status: &'static str,
}

/// Answer of `GET /readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    /// `ready` or `not_ready`.
    pub(crate) status: &'static str,
    /// Why the server is not ready; absent when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// When the data in use was loaded, RFC 3339 UTC.
    pub(crate) loaded_at: String,
    /// Age of the oldest database by its build time, seconds.
    pub(crate) data_age_seconds: Option<u64>,
    /// The configured maximum age (`--max-data-age`), seconds; null when there is none.
    pub(crate) max_data_age_seconds: Option<u64>,
    /// Whether a database older than the maximum makes the server not ready
    /// (`--require-fresh-data`).
    pub(crate) require_fresh_data: bool,
    /// Each database's build time and age, and whether it is older than the maximum.
    pub(crate) database_ages: Vec<DatabaseAge>,
    /// The warnings every result carries now (stale data); empty when there are none.
    pub(crate) warnings: Vec<String>,
    /// The databases in use.
    pub(crate) databases: Vec<DatabaseInfo>,
    /// Why the latest reload failed, while no reload has succeeded since; null otherwise. The
    /// server still answers from the data loaded before, so this does not make it not ready.
    pub(crate) reload_failure: Option<ReloadFailure>,
}

/// Answer of a successful `POST /admin/reload`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Reloaded {
    /// Always `reloaded`.
    pub(crate) status: &'static str,
    /// When the new data was loaded, RFC 3339 UTC.
    pub(crate) loaded_at: String,
    /// The databases now in use.
    pub(crate) databases: Vec<DatabaseInfo>,
    /// Rows of the networks file now in use.
    pub(crate) networks: usize,
    /// Hotlines in the hotline table now in use (its rows).
    pub(crate) hotlines: usize,
    /// Countries with at least one hotline in that table.
    pub(crate) hotline_countries: usize,
    /// Networks in the anycast list now in use.
    pub(crate) anycast_networks: usize,
}

/// The size of a Result's JSON (about 2.3 kB for an address with the bundled data).
static REPORT_SIZE: SizeHint = SizeHint::new(4096);

/// Look up one reported URL.
///
/// An input without a usable host is still answered, with the verdict `invalid`. A `url` that is
/// not UTF-8 once percent-decoded is read as `hostloc lookup` reads such bytes: each undecodable
/// sequence becomes U+FFFD and a warning says where. With `format=evidence` the answer is the
/// result's evidence record as `text/plain` instead of JSON: the same text as
/// `hostloc lookup --evidence`.
#[utoipa::path(
    get,
    path = "/v1/lookup",
    tag = "lookup",
    params(LookupQuery),
    security((), ("api_token" = [])),
    responses(
        (status = 200, description = "The result, whatever its verdict: the Result object, or \
                                      with `format=evidence` its plain-text evidence record",
         content(
             (Report = "application/json"),
             (String = "text/plain; charset=utf-8"),
         )),
        (status = 400, description = "The `url` parameter is missing or given twice, or `format` is neither `json` nor `evidence`", body = ErrorBody),
        (status = 401, description = "An API token is configured and was not presented", body = ErrorBody),
        (status = 503, description = "Too many requests in flight; retry after `Retry-After`", body = ErrorBody),
        (status = 504, description = "The request timeout was reached", body = ErrorBody),
    )
)]
pub(crate) async fn lookup_one(
    State(state): State<AppState>,
    url: UrlParam,
    ApiQuery(answer): ApiQuery<AnswerFormat>,
) -> Response {
    let report = state.shared.pipeline.lookup_bytes(&url.0).await;
    match answer.format {
        LookupFormat::Json => Json(report).into_response_sized(&REPORT_SIZE),
        LookupFormat::Evidence => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            crate::evidence::render(&report),
        )
            .into_response(),
    }
}

/// Look up many reported URLs; the results come in the order of the request.
///
/// With `format=csv` (or `Accept: text/csv`) the answer is the CSV that `hostloc batch` writes
/// for a CSV file whose only column is `url` holding these URLs: the same columns, in the same
/// order, one record per URL. With `evidence=true` the answer also carries each result's
/// evidence record, written from the same result (JSON: `evidence`; CSV: a last column).
#[utoipa::path(
    post,
    path = "/v1/lookup",
    tag = "lookup",
    params(LookupManyQuery),
    request_body = LookupRequest,
    security((), ("api_token" = [])),
    responses(
        (status = 200, description = "One result per URL, in order", content(
            (LookupResults = "application/json"),
            (String = "text/csv", example = json!("url,verdict,referral,host,...\n95.211.0.1,domestic,true,95.211.0.1,...\n")),
        )),
        (status = 400, description = "The body is not JSON of the form {\"urls\": [...]} or `format` is neither `json` nor `csv`", body = ErrorBody),
        (status = 401, description = "An API token is configured and was not presented", body = ErrorBody),
        (status = 413, description = "The body is over `--max-body-bytes`, or has more URLs than `--max-batch-urls`", body = ErrorBody),
        (status = 415, description = "The Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "Too many requests in flight; retry after `Retry-After`", body = ErrorBody),
        (status = 504, description = "The request timeout was reached", body = ErrorBody),
    )
)]
pub(crate) async fn lookup_many(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LookupManyQuery>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LookupRequest>,
) -> Result<Response, ApiError> {
    let format = ResultsFormat::of(&query, &headers);
    let limit = state.shared.settings.max_batch_urls;
    if request.urls.len() > limit {
        return Err(ApiError::TooManyUrls {
            given: request.urls.len(),
            limit,
        });
    }
    let results = futures::stream::iter(request.urls)
        .map(|url| {
            let pipeline = state.shared.pipeline.clone();
            async move { pipeline.lookup(&url).await }
        })
        .buffered(state.shared.settings.concurrency)
        .collect::<Vec<Report>>()
        .await;
    Ok(match format {
        ResultsFormat::Json => {
            let evidence = query
                .evidence
                .then(|| results.iter().map(crate::evidence::render).collect());
            Json(LookupResults { results, evidence }).into_response()
        }
        ResultsFormat::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"hostloc.csv\"",
                ),
            ],
            crate::batch::url_list_csv(&results, query.evidence),
        )
            .into_response(),
    })
}

/// What the databases and the networks file say about one address.
#[utoipa::path(
    get,
    path = "/v1/ip/{ip}",
    tag = "lookup",
    params(IpPath),
    security((), ("api_token" = [])),
    responses(
        (status = 200, description = "The address", body = AddressReport),
        (status = 400, description = "Not an IP address", body = ErrorBody),
        (status = 401, description = "An API token is configured and was not presented", body = ErrorBody),
        (status = 503, description = "Too many requests in flight; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(crate) async fn locate_ip(
    State(state): State<AppState>,
    ApiPath(text): ApiPath<String>,
) -> Result<Json<AddressReport>, ApiError> {
    // Brackets are how IPv6 is written in URLs; they never hold IPv4.
    let ip = match text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        Some(bracketed) => bracketed.parse::<Ipv6Addr>().map(IpAddr::V6),
        None => text.parse::<IpAddr>(),
    };
    let ip = ip.map_err(|_| ApiError::bad_ip(&text))?;
    Ok(Json(state.shared.pipeline.locate_ip(ip)))
}

/// The process is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Alive", body = Health))
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The data is loaded (and, with `--require-fresh-data`, not older than `--max-data-age`);
/// also says how old each database is, and why the latest reload failed, if it did.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready; `warnings` says when the data is older than the maximum age", body = Readiness),
        (status = 503, description = "With `--require-fresh-data`: a database is older than the maximum age; `error` says which", body = Readiness),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let data = state.shared.pipeline.data();
    let ready = state.readiness();
    let database_ages = state.shared.pipeline.database_ages();
    let readiness = Readiness {
        status: if ready.is_ok() { "ready" } else { "not_ready" },
        error: ready.as_ref().err().cloned(),
        loaded_at: rfc3339(data.loaded_at),
        data_age_seconds: data.age().map(|age| age.as_secs()),
        max_data_age_seconds: state
            .shared
            .pipeline
            .settings()
            .max_data_age
            .map(|age| age.as_secs()),
        require_fresh_data: state.shared.settings.require_fresh_data,
        warnings: data_age::stale_warnings(&database_ages),
        database_ages,
        databases: data.geo.infos().to_vec(),
        reload_failure: state.shared.reloader.failure(),
    };
    let status = if ready.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

/// Prometheus metrics, text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        super::prometheus::render(&state),
    )
        .into_response()
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API", content_type = "application/json"))
)]
pub(crate) async fn openapi() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let document = DOCUMENT.get_or_init(|| {
        use utoipa::OpenApi;
        super::openapi::ApiDoc::openapi()
            .to_json()
            .map(|document| document + "\n")
            .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}\n"))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.clone(),
    )
        .into_response()
}

/// Re-read the databases, the networks file, the hotline table and the anycast list, and swap
/// them in at once.
///
/// Requests in flight finish on the old data. When a file cannot be used, the old data stays in
/// use and the answer names the file.
#[utoipa::path(
    post,
    path = "/admin/reload",
    tag = "operations",
    security((), ("api_token" = [])),
    responses(
        (status = 200, description = "The new data is in use", body = Reloaded),
        (status = 401, description = "An API token is configured and was not presented", body = ErrorBody),
        (status = 403, description = "No API token is configured and the client is not on loopback", body = ErrorBody),
        (status = 500, description = "A file could not be used; the old data is still served", body = ErrorBody),
    )
)]
pub(crate) async fn reload(State(state): State<AppState>) -> Result<Json<Reloaded>, ApiError> {
    let data = state
        .shared
        .reloader
        .reload(ReloadTrigger::Http)
        .await
        .map_err(ApiError::Reload)?;
    Ok(Json(Reloaded {
        status: "reloaded",
        loaded_at: rfc3339(data.loaded_at),
        databases: data.geo.infos().to_vec(),
        networks: data.networks.len(),
        hotlines: data.hotlines.len(),
        hotline_countries: data.hotlines.country_count(),
        anycast_networks: data.anycast.len(),
    }))
}

/// Answers a path no route has.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Answers a method a route does not have (axum adds the `Allow` header).
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
