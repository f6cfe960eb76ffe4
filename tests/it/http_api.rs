//! `hostloc serve`: a real server on an ephemeral port and a real HTTP client, against a real
//! DNS server on loopback.
//!
//! Most tests run the server in-process with `http::run` on `127.0.0.1:0` (so each can pick its
//! settings and stop it at will); the log and signal tests run the `hostloc serve` binary and
//! read its stderr. Requests are held open with delayed DNS answers, never with sleeps in the
//! server.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostloc::Pipeline;
use hostloc::cache::{CacheSettings, DnsCache};
use hostloc::http::{self, ApiToken, AppState, HttpSettings};
use hostloc::pipeline::{DataSet, PipelineSettings};
use hostloc::resolve::{DnsResolver, DnsSettings};
use serde_json::{Value, json};

use crate::support::serve::{Child, Reply, Server, lookup_path, metric, wait_until};
use crate::support::{self, Answer, TestDns, TestWorld, replace_file};

// ---------------------------------------------------------------------------------------------
// Harness (the servers themselves are in `support/serve.rs`)

/// Names of the test world's DNS: one per verdict that needs DNS.
pub(crate) fn dns_world() -> TestDns {
    let dns = TestDns::start();
    let records = |a: &[Ipv4Addr], aaaa: &[Ipv6Addr]| Answer::Records {
        a: a.to_vec(),
        aaaa: aaaa.to_vec(),
        ttl: 300,
    };
    dns.set(
        "files.example.nl",
        records(
            &[Ipv4Addr::new(95, 211, 0, 1)],
            &["2a00:c98::1".parse().unwrap()],
        ),
    );
    dns.set(
        "mixed.example.com",
        records(
            &[Ipv4Addr::new(95, 211, 0, 2), Ipv4Addr::new(8, 8, 8, 8)],
            &[],
        ),
    );
    dns.set(
        "foreign.example.com",
        records(&[Ipv4Addr::new(46, 4, 0, 1)], &[]),
    );
    dns.set(
        "www.cdn-site.example",
        Answer::Cname {
            target: "site.cdn.cloudflare.net".to_owned(),
            ttl: 300,
        },
    );
    dns.set(
        "site.cdn.cloudflare.net",
        records(&[Ipv4Addr::new(104, 16, 0, 1)], &[]),
    );
    dns.set("nodata.example.nl", Answer::NoData);
    dns
}

/// A pipeline whose DNS waits up to `timeout` (the support pipeline gives up after 300 ms,
/// too soon to hold a request open with a delayed answer).
fn patient_pipeline(world: &TestWorld, dns: SocketAddr, timeout: Duration) -> Pipeline {
    let paths = world.paths();
    let data = DataSet::load(&paths).expect("test data loads");
    let resolver = DnsResolver::new(&DnsSettings {
        servers: vec![dns],
        timeout,
        attempts: 1,
        ..DnsSettings::default()
    })
    .expect("resolver builds");
    let cache = CacheSettings {
        capacity: 0,
        ..CacheSettings::default()
    };
    Pipeline::new(
        data,
        Some(paths),
        DnsCache::new(resolver, cache),
        PipelineSettings::default(),
    )
}

/// A name whose answer comes after `delay`.
fn slow_name(dns: &TestDns, name: &str, delay: Duration) {
    dns.set(
        name,
        Answer::Delay(
            delay,
            Box::new(Answer::Records {
                a: vec![Ipv4Addr::new(95, 211, 0, 9)],
                aaaa: vec![],
                ttl: 300,
            }),
        ),
    );
}

/// A result without the fields that differ between two lookups of the same input.
fn stable(mut result: Value) -> Value {
    let object = result.as_object_mut().expect("a result object");
    object.remove("looked_up_at");
    if let Some(dns) = object.get_mut("dns").and_then(Value::as_object_mut) {
        dns.remove("resolved_at");
        dns.remove("from_cache");
        dns.remove("cache_age");
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Endpoints

/// HTTP answers exactly what `hostloc lookup --json` prints, for GET and POST alike, where to
/// forward and the ICCAM block included.
#[tokio::test]
async fn http_and_cli_give_the_same_result() {
    let world = TestWorld::new();
    let dns = dns_world();
    // The command line's defaults, the data-age warnings included.
    let settings = PipelineSettings {
        max_data_age: Some(hostloc::data_age::DEFAULT_MAX_DATA_AGE),
        ..PipelineSettings::default()
    };
    let server = Server::start(
        support::pipeline_with(&world, dns.addr(), CacheSettings::default(), settings),
        HttpSettings::default(),
    )
    .await;
    let inputs = [
        "hxxps://files.example[.]nl/a.jpg",
        "http://mixed.example.com/x",
        "foreign.example.com",
        "https://www.cdn-site.example/",
        "http://nodata.example.nl/",
        "http://missing.example.nl/",
        "http://[::ffff:95.211.0.1]/",
        "http://1607663617/",
        "mailto:someone@example.nl",
        "",
    ];
    let mut cli = support::hostloc(&world, dns.addr());
    cli.args(["lookup", "--json"]).args(inputs);
    let output = tokio::task::spawn_blocking(move || cli.output())
        .await
        .unwrap()
        .expect("hostloc lookup runs");
    assert!(output.status.success(), "{output:?}");
    let from_cli: Vec<Value> = support::json_lines(&output.stdout)
        .into_iter()
        .map(stable)
        .collect();
    assert_eq!(from_cli.len(), inputs.len());

    let posted = server.post("/v1/lookup", &json!({ "urls": inputs })).await;
    assert_eq!(posted.status, 200, "{posted:?}");
    let from_post: Vec<Value> = posted.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .cloned()
        .map(stable)
        .collect();
    assert_eq!(from_post, from_cli, "POST /v1/lookup differs from the CLI");

    for (input, expected) in inputs.iter().zip(&from_cli) {
        let from_get = stable(server.lookup(input).await);
        assert_eq!(&from_get, expected, "GET /v1/lookup differs for {input:?}");
    }
    let verdicts: Vec<&str> = from_cli
        .iter()
        .map(|result| result["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        [
            "domestic",
            "partly_domestic",
            "foreign",
            "behind_cdn",
            "unresolved",
            "unresolved",
            "domestic",
            "domestic",
            "invalid",
            "invalid"
        ]
    );
    // Where to forward and the ICCAM block are part of that same result: several hotlines
    // (DE), one known only by its ICCAM id (US), none for verdicts that forward nothing.
    let hotline_names: Vec<&Value> = from_cli[2]["forward_to"][0]["hotlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hotline| &hotline["name"])
        .collect();
    assert_eq!(from_cli[2]["forward_to"][0]["country"], "DE");
    assert_eq!(
        hotline_names,
        [
            &json!("eco (Internet-Beschwerdestelle)"),
            &json!("FSM"),
            &json!("jugendschutz.net")
        ]
    );
    assert_eq!(
        from_cli[1]["forward_to"],
        json!([{"country": "US", "note": null,
                "hotlines": [{"name": null, "website": null, "iccam_id": 22}]}])
    );
    assert_eq!(from_cli[1]["iccam"]["hostingIpAddress"], "95.211.0.2");
    assert_eq!(from_cli[3]["forward_to"], Value::Null);
    assert_eq!(
        from_cli[3]["iccam"]["hostingOrganization"]["isContentDeliveryNetwork"],
        true
    );
    assert_eq!(from_cli[0]["forward_to"], Value::Null);
    assert_eq!(from_cli[0]["iccam"]["hostingCountryCode"], "NL");
    assert_eq!(from_cli[4]["iccam"], Value::Null);
}

/// A batch keeps the order of its URLs even when later ones finish first.
#[tokio::test]
async fn batch_results_keep_the_request_order() {
    let world = TestWorld::new();
    let dns = dns_world();
    slow_name(&dns, "slow.example.nl", Duration::from_millis(300));
    let settings = HttpSettings {
        concurrency: 4,
        ..HttpSettings::default()
    };
    let server = Server::start(
        patient_pipeline(&world, dns.addr(), Duration::from_secs(5)),
        settings,
    )
    .await;
    let urls = [
        "slow.example.nl",
        "files.example.nl",
        "8.8.8.8",
        "not a url",
        "foreign.example.com",
    ];
    let reply = server.post("/v1/lookup", &json!({ "urls": urls })).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let inputs: Vec<&str> = reply.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["input"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, urls);
    let empty = server.post("/v1/lookup", &json!({ "urls": [] })).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json, json!({ "results": [] }));
}

#[tokio::test]
async fn ip_endpoint_accepts_ipv4_ipv6_and_brackets() {
    let world = TestWorld::new();
    let dns = TestDns::start();
    let server = Server::start(
        support::pipeline(&world, dns.addr()),
        HttpSettings::default(),
    )
    .await;
    for (path, ip, country) in [
        ("/v1/ip/95.211.0.1", "95.211.0.1", "NL"),
        ("/v1/ip/2a00:c98::1", "2a00:c98::1", "NL"),
        ("/v1/ip/[2001:4860::8888]", "2001:4860::8888", "US"),
        ("/v1/ip/%5B2001:4860::8888%5D", "2001:4860::8888", "US"),
        ("/v1/ip/::ffff:46.4.0.1", "::ffff:46.4.0.1", "DE"),
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(reply.json["ip"], ip, "{path}");
        assert_eq!(reply.json["country"], country, "{path}");
        assert_eq!(reply.json["public"], true, "{path}");
    }
    let cdn = server.get("/v1/ip/104.16.0.1").await;
    assert_eq!(cdn.json["cdn"], "Cloudflare");
    assert_eq!(cdn.json["asn"], 13335);
    let private = server.get("/v1/ip/10.0.0.1").await;
    assert_eq!(private.json["public"], false);
    assert_eq!(private.json["country"], Value::Null);
}

/// Every error status, each with a JSON `{"error": ...}` body; an unusable URL is no error.
#[tokio::test]
async fn every_error_status_is_json() {
    let world = TestWorld::new();
    let dns = TestDns::start();
    let settings = HttpSettings {
        max_body_bytes: 4096,
        max_batch_urls: 3,
        ..HttpSettings::default()
    };
    let server = Server::start(support::pipeline(&world, dns.addr()), settings).await;
    let client = &server.client;

    for url in ["", "mailto:someone@example.nl", "http://exa mple.nl/"] {
        let result = server.lookup(url).await;
        assert_eq!(result["verdict"], "invalid", "{url:?}");
        assert_eq!(result["input"], url);
    }

    let missing = server.get("/v1/lookup").await;
    assert_eq!(
        missing.error(400),
        "the query parameter `url` is missing; give it once, or POST many URLs to /v1/lookup \
         (e.g. ?url=<the reported URL, URL-encoded>)"
    );
    server.get("/v1/lookup?uri=example.nl").await.error(400);

    let post = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = client.post(server.url("/v1/lookup")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move { Reply::read(request.send().await.unwrap()).await }
    };
    let json_type = Some("application/json");
    // Every message names the field or the limit, in the API's words, not the framework's.
    for (body, content_type, status, message) in [
        (
            "not json",
            json_type,
            400,
            "the body is not valid JSON: expected ident at line 1 column 2",
        ),
        (
            "{\"urls\": [\"a\"",
            json_type,
            400,
            "the body is not valid JSON: urls: EOF while parsing a list at line 1 column 13",
        ),
        (
            "{\"url\": \"example.nl\"}",
            json_type,
            400,
            "the JSON body has no field \"urls\" (expected {\"urls\": [\"<reported URL>\", …]})",
        ),
        (
            "{\"urls\": \"example.nl\"}",
            json_type,
            400,
            "the field \"urls\" is not valid: invalid type: string \"example.nl\", expected a sequence at line 1 column 21",
        ),
        (
            "{\"urls\": [1, 2]}",
            json_type,
            400,
            "the field \"urls[0]\" is not valid: invalid type: integer `1`, expected a string at line 1 column 11",
        ),
        (
            "{\"urls\": []}",
            None,
            415,
            "send the body with the header `Content-Type: application/json`",
        ),
        (
            "{\"urls\": []}",
            Some("text/plain"),
            415,
            "send the body with the header `Content-Type: application/json`",
        ),
    ] {
        assert_eq!(
            post(body, content_type).await.error(status),
            message,
            "{body}"
        );
    }

    let too_many = server
        .post("/v1/lookup", &json!({ "urls": ["a", "b", "c", "d"] }))
        .await;
    assert!(too_many.error(413).contains("at most 3"), "{too_many:?}");
    let big = server
        .post("/v1/lookup", &json!({ "urls": ["x".repeat(5000)] }))
        .await;
    assert_eq!(
        big.error(413),
        "the request body is larger than the limit of 4096 bytes (--max-body-bytes)"
    );

    for bad in [
        "banana",
        "999.1.1.1",
        "1.2.3",
        "[95.211.0.1]",
        "fe80::1%25eth0",
    ] {
        let reply = server.get(&format!("/v1/ip/{bad}")).await;
        assert!(
            reply.error(400).contains("not an IP address"),
            "{bad}: {reply:?}"
        );
    }

    server.get("/nope").await.error(404);
    server.get("/v1/ip/").await.error(404);
    server.get("/v1/lookup/extra").await.error(404);

    let wrong_method = Reply::read(
        client
            .delete(server.url("/v1/lookup"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    wrong_method.error(405);
    let allow = wrong_method.headers["allow"].to_str().unwrap();
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow: {allow}"
    );
    server.get("/admin/reload").await.error(405);
    server.post("/healthz", &json!({})).await.error(405);
}

#[tokio::test]
async fn health_readiness_openapi_and_metrics_answer() {
    let world = TestWorld::new();
    let dns = dns_world();
    let server = Server::start(
        support::pipeline(&world, dns.addr()),
        HttpSettings::default(),
    )
    .await;

    let health = server.get("/healthz").await;
    assert_eq!(
        (health.status, &health.json),
        (200, &json!({"status": "ok"}))
    );

    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json["status"], "ready");
    assert_eq!(ready.json["databases"].as_array().unwrap().len(), 2);
    assert_eq!(ready.json["max_data_age_seconds"], Value::Null);

    let openapi = server.get("/openapi.json").await;
    assert_eq!(openapi.status, 200);
    assert!(openapi.json["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/lookup",
        "/v1/ip/{ip}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/admin/reload",
    ] {
        assert!(openapi.json["paths"][path].is_object(), "{path}");
    }
    let schemas = &openapi.json["components"]["schemas"];
    for schema in [
        "Report",
        "AddressReport",
        "DnsReport",
        "Verdict",
        "ErrorBody",
    ] {
        assert!(schemas[schema].is_object(), "{schema}");
    }
    let verdicts = schemas["Verdict"].to_string();
    assert!(verdicts.contains("partly_domestic"), "{verdicts}");

    server.lookup("files.example.nl").await;
    server.lookup("files.example.nl").await;
    server.lookup("not a url").await;
    server.get("/v1/ip/95.211.0.1").await;
    server.get("/nope").await;
    let text = server.metrics().await;
    let requests = |route: &str, status: &str| {
        metric(
            &text,
            "hostloc_http_requests_total",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
    };
    assert!(requests("/v1/lookup", "200") >= 3.0, "{text}");
    assert!(requests("/v1/ip/{ip}", "200") >= 1.0, "{text}");
    assert!(requests("unmatched", "404") >= 1.0, "{text}");
    assert!(
        text.contains(
            "hostloc_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/lookup\""
        ),
        "{text}"
    );
    assert!(metric(&text, "hostloc_verdicts_total", &[("verdict", "domestic")]) >= 2.0);
    assert!(metric(&text, "hostloc_verdicts_total", &[("verdict", "invalid")]) >= 1.0);
    assert!(metric(&text, "hostloc_dns_cache_total", &[("result", "miss")]) >= 2.0);
    assert!(metric(&text, "hostloc_dns_outcomes_total", &[("outcome", "ok")]) >= 2.0);
    for series in [
        "# TYPE hostloc_dns_cache_entries gauge",
        "hostloc_dns_cache_total{result=\"hit\"}",
        "hostloc_database_build_timestamp_seconds{role=\"country\",source=\"country\"} 1780272000",
        "hostloc_database_build_timestamp_seconds{role=\"asn\",source=\"asn\"} 1780272000",
        "hostloc_database_age_seconds{role=\"country\",source=\"country\"}",
        "hostloc_data_loaded_timestamp_seconds",
        "hostloc_http_requests_in_flight",
        "hostloc_reloads_total{result=\"error\",trigger=\"http\"}",
        "hostloc_reloads_total{result=\"ok\",trigger=\"signal\"}",
        "hostloc_http_requests_shed_total",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
    let age = metric(
        &text,
        "hostloc_database_age_seconds",
        &[("role", "asn"), ("source", "asn")],
    );
    assert!(age > 100.0 * 86_400.0, "age {age}");
}

/// The pooled DNS transport's health and counters, forgeries among them, are in `/metrics`.
#[tokio::test]
async fn dns_server_health_and_forgeries_are_metrics() {
    use crate::support::{Datagram, ScriptedDns, a_record, reply};
    use hickory_server::proto::rr::RecordType;
    let world = TestWorld::new();
    // Every answer comes after a forgery with an ID no query has.
    let dns = ScriptedDns::udp(|query| {
        let question = &query.queries[0];
        let answers = if question.query_type() == RecordType::A {
            vec![a_record(question.name(), Ipv4Addr::new(95, 211, 0, 1))]
        } else {
            Vec::new()
        };
        let mut forged = reply(query, answers.clone());
        forged.metadata.id = query.metadata.id.wrapping_add(1);
        vec![
            Datagram::Reply(forged),
            Datagram::Reply(reply(query, answers)),
        ]
    });
    let server = Server::start(
        support::pipeline(&world, dns.addr()),
        HttpSettings::default(),
    )
    .await;
    assert_eq!(
        server.lookup("files.example.nl").await["verdict"],
        "domestic"
    );
    let text = server.metrics().await;
    let label = dns.addr().to_string();
    let of_server = |name: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![("server", label.as_str())];
        labels.extend_from_slice(extra);
        metric(&text, name, &labels)
    };
    assert_eq!(of_server("hostloc_dns_server_up", &[]), 1.0, "{text}");
    assert!(
        of_server("hostloc_dns_server_rtt_seconds", &[]) > 0.0,
        "{text}"
    );
    assert_eq!(
        of_server("hostloc_dns_queries_total", &[("protocol", "udp")]),
        2.0
    );
    assert_eq!(
        of_server(
            "hostloc_dns_responses_dropped_total",
            &[("reason", "unknown_id")]
        ),
        2.0,
        "{text}"
    );
    // Series exist before anything happened to them, so alerts can watch them.
    let server_label = format!("server=\"{label}\"");
    for (name, label) in [
        ("hostloc_dns_retries_total{", "reason=\"timeout\""),
        ("hostloc_dns_retries_total{", "reason=\"servfail\""),
        (
            "hostloc_dns_responses_dropped_total{",
            "reason=\"wrong_case\"",
        ),
        ("hostloc_dns_socket_rotations_total{", ""),
    ] {
        assert!(
            text.lines().any(|line| line.starts_with(name)
                && line.contains(label)
                && line.contains(&server_label)),
            "missing {name}{label} in\n{text}"
        );
    }
    for series in [
        "hostloc_dns_questions_not_sent_total 0",
        "hostloc_dns_questions_merged_total 0",
        "# HELP hostloc_dns_responses_dropped_total",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
}

/// Data older than `--max-data-age` is named in every result, on `/readyz` and in the metrics;
/// it fails readiness only with `--require-fresh-data`.
#[tokio::test]
async fn stale_data_warns_everywhere_and_fails_readiness_only_when_required() {
    let world = TestWorld::new();
    let dns = dns_world();
    let day = Duration::from_secs(86_400);
    let stale = || {
        support::pipeline_with(
            &world,
            dns.addr(),
            CacheSettings::default(),
            PipelineSettings {
                max_data_age: Some(35 * day),
                ..PipelineSettings::default()
            },
        )
    };
    let server = Server::start(stale(), HttpSettings::default()).await;
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json["status"], "ready");
    assert_eq!(ready.json.get("error"), None);
    assert_eq!(ready.json["max_data_age_seconds"], 35 * 86_400);
    assert_eq!(ready.json["require_fresh_data"], false);
    let ages = ready.json["database_ages"].as_array().unwrap();
    assert_eq!(ages.len(), 2);
    assert_eq!(ages[0]["role"], "country");
    assert_eq!(ages[0]["built"], "2026-06-01T00:00:00Z");
    assert_eq!(ages[0]["stale"], true);
    assert!(ages[0]["age_seconds"].as_u64().unwrap() > 35 * 86_400);
    let warning = ready.json["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with("the country database country.mmdb was built ")
            && warning.contains("days ago (2026-06-01), more than --max-data-age (35 days)"),
        "{warning}"
    );
    let result = server.lookup("files.example.nl").await;
    assert_eq!(
        result["verdict"], "domestic",
        "a warning does not change it"
    );
    assert_eq!(result["warnings"][0], warning);
    assert_eq!(result["warnings"].as_array().unwrap().len(), 2);
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, "hostloc_database_stale", &[("role", "country")]),
        1.0
    );
    assert_eq!(
        metric(&text, "hostloc_data_max_age_seconds", &[]),
        35.0 * 86_400.0
    );

    let strict = HttpSettings {
        require_fresh_data: true,
        ..HttpSettings::default()
    };
    let server = Server::start(stale(), strict.clone()).await;
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.json["status"], "not_ready");
    let why = ready.json["error"].as_str().unwrap();
    assert!(
        why.contains("country database country.mmdb")
            && why.contains("35 days")
            && why.ends_with("(--require-fresh-data)"),
        "{why}"
    );

    let fresh = support::pipeline_with(
        &world,
        dns.addr(),
        CacheSettings::default(),
        PipelineSettings {
            max_data_age: Some(3650 * day),
            ..PipelineSettings::default()
        },
    );
    let server = Server::start(fresh, strict).await;
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json.get("error"), None);
    assert_eq!(ready.json["warnings"], json!([]));
    assert_eq!(ready.json["database_ages"][1]["stale"], false);
    assert_eq!(
        server.lookup("files.example.nl").await["warnings"],
        json!([])
    );
}

// ---------------------------------------------------------------------------------------------
// Cache

/// A cached answer is served until its TTL runs out; then the changed answer is seen.
#[tokio::test]
async fn cached_answer_changes_after_its_ttl() {
    let world = TestWorld::new();
    let dns = TestDns::start();
    let name = "moving.example.nl";
    dns.set(
        name,
        Answer::Records {
            a: vec![Ipv4Addr::new(95, 211, 0, 1)],
            aaaa: vec![],
            ttl: 1,
        },
    );
    let pipeline = support::pipeline_with(
        &world,
        dns.addr(),
        CacheSettings {
            capacity: 1000,
            ..CacheSettings::default()
        },
        PipelineSettings::default(),
    );
    let server = Server::start(pipeline, HttpSettings::default()).await;
    let first_lookup = Instant::now();
    let first = server.lookup(name).await;
    assert_eq!(first["countries"], json!(["NL"]));
    assert_eq!(first["dns"]["from_cache"], false);
    assert_eq!(first["dns"]["ttl"], 1);
    let asked = dns.queries(name);

    dns.set(
        name,
        Answer::Records {
            a: vec![Ipv4Addr::new(46, 4, 0, 1)],
            aaaa: vec![],
            ttl: 1,
        },
    );
    let cached = server.lookup(name).await;
    assert_eq!(cached["countries"], json!(["NL"]), "within the TTL");
    assert_eq!(cached["dns"]["from_cache"], true);
    assert_eq!(dns.queries(name), asked, "the cache answered, not DNS");

    let moved = loop {
        let result = server.lookup(name).await;
        if result["countries"] == json!(["DE"]) {
            break result;
        }
        assert!(
            first_lookup.elapsed() < Duration::from_secs(5),
            "the cache kept the old answer: {result}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        first_lookup.elapsed() >= Duration::from_millis(900),
        "the answer changed before its TTL ran out"
    );
    assert_eq!(moved["verdict"], "foreign");
    assert_eq!(moved["dns"]["from_cache"], false);
    assert!(dns.queries(name) > asked);
}

// ---------------------------------------------------------------------------------------------
// Reload

fn networks_with_hetzner() -> String {
    format!("{}Hetzner,asn,24940,test\n", support::mmdb::NETWORKS_CSV)
}

/// Reloads while four clients send 200 requests each: no request fails, and each answer comes
/// from one whole data set (old or new).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_concurrent_requests_fails_none() {
    let world = TestWorld::new();
    let dns = dns_world();
    let pipeline = support::pipeline_with(
        &world,
        dns.addr(),
        CacheSettings::default(),
        PipelineSettings::default(),
    );
    let server = Arc::new(Server::start(pipeline, HttpSettings::default()).await);
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for request in 0..200 {
                    let reply = if (client + request) % 2 == 0 {
                        server
                            .get(&lookup_path("http://foreign.example.com/x"))
                            .await
                    } else {
                        server.get("/v1/ip/46.4.0.1").await
                    };
                    let address = if reply.json["addresses"].is_array() {
                        &reply.json["addresses"][0]
                    } else {
                        &reply.json
                    };
                    let cdn = &address["cdn"];
                    if reply.status != 200
                        || address["country"] != "DE"
                        || !(cdn.is_null() || *cdn == "Hetzner")
                    {
                        failures.push(format!("{}: {}", reply.status, reply.text));
                    }
                }
                failures
            })
        })
        .collect();
    let networks = world.paths().networks;
    let with_hetzner = networks_with_hetzner();
    for reload in 0..20 {
        let contents = if reload % 2 == 0 {
            with_hetzner.as_str()
        } else {
            support::mmdb::NETWORKS_CSV
        };
        replace_file(&networks, contents.as_bytes());
        let reply = server.post("/admin/reload", &json!({})).await;
        assert_eq!(reply.status, 200, "reload {reload}: {reply:?}");
        assert_eq!(reply.json["status"], "reloaded");
    }
    for client in clients {
        let failures = client.await.unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:#?}");
    }
    // The last reload read the file without Hetzner.
    let address = server.get("/v1/ip/46.4.0.1").await;
    assert_eq!(address.json["cdn"], Value::Null);
}

/// A reload that cannot read a file keeps the old data, says which file, and is counted.
#[tokio::test]
async fn failed_reload_keeps_serving_and_is_reported() {
    let world = TestWorld::new();
    let dns = dns_world();
    let server = Server::start(
        support::pipeline(&world, dns.addr()),
        HttpSettings::default(),
    )
    .await;
    let before = server.lookup("files.example.nl").await;
    let failed_before = metric(
        &server.metrics().await,
        "hostloc_reloads_total",
        &[("result", "error"), ("trigger", "http")],
    );

    let paths = world.paths();
    let country = std::fs::read(&paths.country_db).unwrap();
    let asn = std::fs::read(&paths.asn_db).unwrap();
    let breakages = [
        ("country.mmdb", "garbage"),
        ("asn.mmdb", "truncated"),
        ("country.mmdb", "missing"),
        ("networks.csv", "unknown match kind"),
    ];
    for (file, breakage) in breakages {
        match breakage {
            "garbage" => replace_file(&paths.country_db, b"this is not a MaxMind DB"),
            "truncated" => replace_file(&paths.asn_db, &asn[..asn.len() / 2]),
            "missing" => std::fs::remove_file(&paths.country_db).unwrap(),
            _ => replace_file(
                &paths.networks,
                b"provider,match,value,source\nX,bogus,1,t\n",
            ),
        }
        let reply = server.post("/admin/reload", &json!({})).await;
        let message = reply.error(500);
        assert!(
            message.contains("reload failed") && message.contains(file),
            "{file}: {message}"
        );
        let after = server.lookup("files.example.nl").await;
        assert_eq!(stable(after.clone()), stable(before.clone()), "{file}");
        assert_eq!(server.get("/readyz").await.status, 200);
        // Put everything back for the next breakage.
        replace_file(&paths.country_db, &country);
        replace_file(&paths.asn_db, &asn);
        replace_file(&paths.networks, support::mmdb::NETWORKS_CSV.as_bytes());
    }
    let failed_after = metric(
        &server.metrics().await,
        "hostloc_reloads_total",
        &[("result", "error"), ("trigger", "http")],
    );
    assert!(
        failed_after >= failed_before + 4.0,
        "{failed_before} → {failed_after}"
    );

    replace_file(&paths.networks, networks_with_hetzner().as_bytes());
    let reply = server.post("/admin/reload", &json!({})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let roles: Vec<&str> = reply.json["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|info| info["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["country", "asn"]);
    assert_eq!(reply.json["networks"], 7);
    assert_eq!(server.get("/v1/ip/46.4.0.1").await.json["cdn"], "Hetzner");
}

/// The hotline table and the anycast list are reported like the networks file: in the answer
/// of `POST /admin/reload` (hotlines, countries with one, anycast networks) and as gauges on
/// `/metrics`, before and after a reload that changes them, and unchanged after one that fails.
/// A server process of its own, so that no other test's server sets the same gauges.
#[tokio::test]
async fn reload_and_metrics_report_the_hotline_table_and_the_anycast_list() {
    let world = TestWorld::new();
    let dns = dns_world();
    let hotlines = world.path("my-hotlines.csv");
    let anycast = world.path("my-anycast.csv");
    std::fs::write(
        &hotlines,
        "country,name,website,iccam_id,source\n\
         DE,First,,,test\nDE,Second,,,test\nGB,Third,,,test\n",
    )
    .unwrap();
    std::fs::write(&anycast, support::mmdb::ANYCAST_CSV).unwrap();
    let paths = hostloc::pipeline::DataPaths {
        hotlines: hotlines.clone(),
        anycast: anycast.clone(),
        ..world.paths()
    };
    let mut command = support::hostloc_with(&paths, dns.addr());
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    let child = Child::start(command).await;
    let gauges = |text: &str| {
        [
            "hostloc_hotlines_entries",
            "hostloc_hotline_countries",
            "hostloc_anycast_entries",
            "hostloc_networks_entries",
        ]
        .map(|name| metric(text, name, &[]))
    };
    assert_eq!(
        gauges(&child.get("/metrics").await.text),
        [3.0, 2.0, 2.0, 6.0]
    );

    replace_file(
        &hotlines,
        b"country,name,website,iccam_id,source\n\
          DE,First,,,test\nGB,Third,,,test\nFR,Fourth,,,test\nIE,Fifth,,,test\n",
    );
    replace_file(
        &anycast,
        format!(
            "{}9.9.9.9,Quad9,Quad9 DNS,test\n",
            support::mmdb::ANYCAST_CSV
        )
        .as_bytes(),
    );
    let reply = child.post("/admin/reload", &json!({})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["status"], "reloaded");
    assert_eq!(reply.json["networks"], 6);
    assert_eq!(reply.json["hotlines"], 4);
    assert_eq!(reply.json["hotline_countries"], 4);
    assert_eq!(reply.json["anycast_networks"], 3);
    let text = child.get("/metrics").await.text;
    assert_eq!(gauges(&text), [4.0, 4.0, 3.0, 6.0]);
    for description in [
        "# HELP hostloc_hotlines_entries ",
        "# TYPE hostloc_hotline_countries gauge",
        "# HELP hostloc_anycast_entries ",
    ] {
        assert!(text.contains(description), "{description} in\n{text}");
    }

    // A table that cannot be used: the answer names it, and the numbers stay those in use.
    replace_file(&hotlines, b"country,name\nGermany,Other\n");
    let reply = child.post("/admin/reload", &json!({})).await;
    let message = reply.error(500);
    assert!(message.contains("my-hotlines.csv"), "{message}");
    assert_eq!(
        gauges(&child.get("/metrics").await.text),
        [4.0, 4.0, 3.0, 6.0]
    );
    let log = child.terminate().await;
    assert!(
        log.contains("hotlines=4") && log.contains("anycast_networks=3"),
        "the reload's log line: {log}"
    );
}

/// With `--watch-interval`, a changed file is reloaded without being asked.
#[tokio::test]
async fn watched_files_are_reloaded_when_they_change() {
    let world = TestWorld::new();
    let dns = TestDns::start();
    let settings = HttpSettings {
        watch_interval: Some(Duration::from_millis(50)),
        ..HttpSettings::default()
    };
    let server = Server::start(support::pipeline(&world, dns.addr()), settings).await;
    assert_eq!(server.get("/v1/ip/46.4.0.1").await.json["cdn"], Value::Null);
    replace_file(&world.paths().networks, networks_with_hetzner().as_bytes());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if server.get("/v1/ip/46.4.0.1").await.json["cdn"] == "Hetzner" {
            break;
        }
        assert!(Instant::now() < deadline, "the change was not picked up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Access

#[tokio::test]
async fn the_token_guards_v1_and_admin_but_not_monitoring() {
    let world = TestWorld::new();
    let dns = dns_world();
    let settings = HttpSettings {
        api_token: Some(ApiToken::new("s3cret-t0ken")),
        ..HttpSettings::default()
    };
    let server = Server::start(support::pipeline(&world, dns.addr()), settings).await;
    let send = |method: reqwest::Method, path: &str, authorization: Option<&str>| {
        let mut request = server.client.request(method, server.url(path));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        if path == "/v1/lookup" {
            request = request.json(&json!({ "urls": ["files.example.nl"] }));
        }
        async move { Reply::read(request.send().await.unwrap()).await }
    };
    use reqwest::Method;
    let guarded = [
        (Method::GET, "/v1/lookup?url=files.example.nl"),
        (Method::POST, "/v1/lookup"),
        (Method::GET, "/v1/ip/95.211.0.1"),
        (Method::POST, "/admin/reload"),
    ];
    for (method, path) in &guarded {
        for wrong in [
            None,
            Some("Bearer wrong"),
            Some("Bearer s3cret-t0ke"),
            Some("Basic s3cret-t0ken"),
            Some("s3cret-t0ken"),
        ] {
            let reply = send(method.clone(), path, wrong).await;
            reply.error(401);
            assert_eq!(reply.headers["www-authenticate"], "Bearer", "{path}");
        }
        for right in ["Bearer s3cret-t0ken", "bearer s3cret-t0ken"] {
            let reply = send(method.clone(), path, Some(right)).await;
            assert_eq!(reply.status, 200, "{method} {path}: {reply:?}");
        }
    }
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(send(Method::GET, path, None).await.status, 200, "{path}");
    }
}

/// Without a token, `/v1/*` is open to all and `/admin/*` to loopback clients only.
#[tokio::test]
async fn without_a_token_admin_answers_only_loopback() {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use tower::ServiceExt;

    let world = TestWorld::new();
    let dns = dns_world();
    let pipeline = support::pipeline(&world, dns.addr());
    let server = Server::start(pipeline.clone(), HttpSettings::default()).await;
    let reply = server.post("/admin/reload", &json!({})).await;
    assert_eq!(reply.status, 200, "a loopback client: {reply:?}");

    // Other peers cannot come from a loopback-only test machine; ask the router directly.
    let app = http::app(AppState::new(pipeline, HttpSettings::default()));
    let call = |method: &str, path: &str, peer: Option<&str>| {
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        if let Some(peer) = peer {
            let peer: SocketAddr = peer.parse().unwrap();
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap() }
    };
    for peer in [Some("10.1.2.3:5555"), Some("[2001:db8::1]:443"), None] {
        let response = call("POST", "/admin/reload", peer).await;
        assert_eq!(response.status(), 403, "{peer:?}");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("loopback"),
            "{body}"
        );
        let response = call("GET", "/v1/ip/95.211.0.1", peer).await;
        assert_eq!(response.status(), 200, "/v1 stays open to {peer:?}");
    }
    for peer in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
        let response = call("POST", "/admin/reload", Some(peer)).await;
        assert_eq!(response.status(), 200, "{peer}");
    }
}

// ---------------------------------------------------------------------------------------------
// Limits and shutdown

/// Over the concurrency limit, requests are refused at once with 503 and `Retry-After`, while
/// health checks still answer.
#[tokio::test]
async fn load_is_shed_with_503_and_retry_after() {
    let world = TestWorld::new();
    let dns = dns_world();
    slow_name(&dns, "slow.example.nl", Duration::from_millis(1500));
    let settings = HttpSettings {
        max_concurrent_requests: 1,
        ..HttpSettings::default()
    };
    let server = Arc::new(
        Server::start(
            patient_pipeline(&world, dns.addr(), Duration::from_secs(5)),
            settings,
        )
        .await,
    );
    let shed_before = metric(
        &server.metrics().await,
        "hostloc_http_requests_shed_total",
        &[],
    );
    let holder = tokio::spawn({
        let server = Arc::clone(&server);
        async move { server.lookup("slow.example.nl").await }
    });
    wait_until("the slow lookup reaches DNS", || {
        dns.queries("slow.example.nl") > 0
    })
    .await;

    let started = Instant::now();
    let shed = server.get(&lookup_path("files.example.nl")).await;
    assert!(shed.error(503).contains("retry"), "{shed:?}");
    assert_eq!(shed.headers["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "shed at once"
    );
    server.get("/v1/ip/95.211.0.1").await.error(503);
    assert_eq!(server.get("/healthz").await.status, 200);
    assert_eq!(server.get("/readyz").await.status, 200);
    let metrics = server.metrics().await;
    assert!(metric(&metrics, "hostloc_http_requests_shed_total", &[]) >= shed_before + 2.0);
    assert_eq!(
        metric(&metrics, "hostloc_http_requests_in_flight", &[]),
        1.0
    );

    let held = holder.await.unwrap();
    assert_eq!(held["verdict"], "domestic");
    let after = server.lookup("files.example.nl").await;
    assert_eq!(after["verdict"], "domestic", "the slot is free again");
}

#[tokio::test]
async fn slow_requests_time_out_with_504() {
    let world = TestWorld::new();
    let dns = dns_world();
    slow_name(&dns, "slow.example.nl", Duration::from_secs(3));
    let settings = HttpSettings {
        request_timeout: Duration::from_millis(200),
        ..HttpSettings::default()
    };
    let server = Server::start(
        patient_pipeline(&world, dns.addr(), Duration::from_secs(5)),
        settings,
    )
    .await;
    let started = Instant::now();
    let reply = server.get(&lookup_path("slow.example.nl")).await;
    assert!(reply.error(504).contains("200ms"), "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        server.lookup("files.example.nl").await["verdict"],
        "domestic"
    );
}

/// A client that does not finish its headers is disconnected after the header timeout.
#[tokio::test]
async fn slow_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let world = TestWorld::new();
    let dns = TestDns::start();
    let settings = HttpSettings {
        header_timeout: Duration::from_millis(200),
        ..HttpSettings::default()
    };
    let server = Server::start(support::pipeline(&world, dns.addr()), settings).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: hostloc\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    // Closed (cleanly or by a reset), possibly after a 408; never a regular answer.
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection");
    assert!(!String::from_utf8_lossy(&received).contains("200 OK"));
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(server.get("/healthz").await.status, 200);
}

/// Shutdown stops accepting and lets a request in flight finish.
#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let world = TestWorld::new();
    let dns = dns_world();
    slow_name(&dns, "slow.example.nl", Duration::from_millis(800));
    let server = Server::start(
        patient_pipeline(&world, dns.addr(), Duration::from_secs(5)),
        HttpSettings::default(),
    )
    .await;
    let addr = server.addr;
    let request = server
        .client
        .get(server.url(&lookup_path("slow.example.nl")));
    let in_flight = tokio::spawn(async move { Reply::read(request.send().await.unwrap()).await });
    wait_until("the slow lookup reaches DNS", || {
        dns.queries("slow.example.nl") > 0
    })
    .await;
    let stopped = tokio::spawn(server.stop());
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["verdict"], "domestic");
    stopped.await.unwrap().expect("a clean stop");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting"
    );
}

/// Requests still running when the grace period ends are cut, and the server returns.
#[tokio::test]
async fn shutdown_cuts_requests_after_the_grace_period() {
    let world = TestWorld::new();
    let dns = dns_world();
    slow_name(&dns, "slow.example.nl", Duration::from_secs(4));
    let settings = HttpSettings {
        shutdown_grace: Duration::from_millis(200),
        ..HttpSettings::default()
    };
    let server = Server::start(
        patient_pipeline(&world, dns.addr(), Duration::from_secs(5)),
        settings,
    )
    .await;
    let request = server
        .client
        .get(server.url(&lookup_path("slow.example.nl")));
    let in_flight = tokio::spawn(async move { request.send().await });
    wait_until("the slow lookup reaches DNS", || {
        dns.queries("slow.example.nl") > 0
    })
    .await;
    let started = Instant::now();
    server.stop().await.expect("a clean stop");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(in_flight.await.unwrap().is_err(), "the request was cut");
}

// ---------------------------------------------------------------------------------------------
// The binary: logs and signals

const SECRET_HOST: &str = "secret-report.example.nl";
const SECRET_URL: &str = "https://secret-report.example.nl/evidence/photo-1234.jpg";
const OTHER_SECRET: &str = "hxxp://other-secret.example[.]nl/x";

async fn exercise(child: &Child) {
    let reply = child.get(&lookup_path(SECRET_URL)).await;
    assert_eq!(reply.json["verdict"], "domestic", "{reply:?}");
    let reply = child
        .post("/v1/lookup", &json!({ "urls": [OTHER_SECRET, SECRET_URL] }))
        .await;
    assert_eq!(reply.status, 200);
    child
        .get(&format!("/{SECRET_HOST}/evidence"))
        .await
        .error(404);
    child.get("/v1/ip/95.211.0.77").await;
    child
        .get("/v1/lookup?nothing=secret-report")
        .await
        .error(400);
}

fn serve_command(world: &TestWorld, dns: &TestDns) -> std::process::Command {
    let mut command = support::hostloc(world, dns.addr());
    command
        .env("RUST_LOG", "info,hostloc=trace")
        .args(["serve", "--listen", "127.0.0.1:0"]);
    command
}

/// The server's log, at hostloc's most verbose level, holds no reported URL, host or
/// address; SIGHUP reloads (and a failed reload is logged and counted); SIGTERM stops it
/// cleanly.
#[tokio::test]
async fn the_log_holds_no_reported_url_and_signals_work() {
    let world = TestWorld::new();
    let dns = dns_world();
    dns.set(
        SECRET_HOST,
        Answer::Records {
            a: vec![Ipv4Addr::new(95, 211, 0, 5)],
            aaaa: vec![],
            ttl: 300,
        },
    );
    dns.set(
        "other-secret.example.nl",
        Answer::Records {
            a: vec![Ipv4Addr::new(95, 211, 0, 6)],
            aaaa: vec![],
            ttl: 300,
        },
    );
    let child = Child::start(serve_command(&world, &dns)).await;
    exercise(&child).await;

    let reloads = |text: &str, result: &str| {
        metric(
            text,
            "hostloc_reloads_total",
            &[("result", result), ("trigger", "signal")],
        )
    };
    let country_db = world.paths().country_db;
    let country = std::fs::read(&country_db).unwrap();
    replace_file(&country_db, b"garbage");
    child.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while reloads(&child.get("/metrics").await.text, "error") < 1.0 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = child.get(&lookup_path(SECRET_URL)).await;
    assert_eq!(reply.json["verdict"], "domestic", "still serving");
    replace_file(&country_db, &country);
    child.signal("HUP");
    while reloads(&child.get("/metrics").await.text, "ok") < 1.0 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let log = child.terminate().await;
    for secret in [
        SECRET_HOST,
        "secret-report",
        "photo-1234",
        "other-secret",
        "evidence",
        "95.211.0.5",
        "95.211.0.77",
    ] {
        assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
    }
    for expected in [
        "listening on http://127.0.0.1:",
        "route=/v1/lookup",
        "route=/v1/ip/{ip}",
        "route=unmatched",
        "status=404",
        "reload failed",
        "country.mmdb",
        "reloaded the data",
        "received SIGTERM",
        "stopped",
    ] {
        assert!(log.contains(expected), "the log lacks {expected:?}:\n{log}");
    }
}

/// With `--log-urls` the operator has asked for URLs in the log, and gets them.
#[tokio::test]
async fn log_urls_puts_reported_urls_in_the_log() {
    let world = TestWorld::new();
    let dns = dns_world();
    dns.set(
        SECRET_HOST,
        Answer::Records {
            a: vec![Ipv4Addr::new(95, 211, 0, 5)],
            aaaa: vec![],
            ttl: 300,
        },
    );
    let mut command = serve_command(&world, &dns);
    command.arg("--log-urls");
    let child = Child::start(command).await;
    let reply = child.get(&lookup_path(SECRET_URL)).await;
    assert_eq!(reply.json["verdict"], "domestic", "{reply:?}");
    let log = child.terminate().await;
    assert!(log.contains(SECRET_HOST), "{log}");
}

/// The README's example, options before the command as printed, becomes ready on old data and
/// says in its log how old the data is; with `--require-fresh-data` it says why it is not
/// ready.
#[tokio::test]
async fn the_readme_serve_example_is_ready_on_old_data_and_says_so() {
    let world = TestWorld::new();
    let dns = dns_world();
    let mut command = support::hostloc(&world, dns.addr());
    command.env("HOSTLOC_API_TOKEN", "secret").args([
        "--max-data-age",
        "35d",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--watch-interval",
        "60s",
    ]);
    // Colour only on a terminal: this log goes to a pipe.
    command.env_remove("NO_COLOR");
    let child = Child::start(command).await;
    let ready = child.get("/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    let log = child.terminate().await;
    assert!(!log.contains('\x1b'), "escape codes in a piped log:\n{log}");
    assert!(
        log.contains("WARN") && log.contains("the country database country.mmdb was built"),
        "{log}"
    );
    assert!(!log.contains("not ready"), "{log}");

    let mut command = support::hostloc(&world, dns.addr());
    command.args(["serve", "--listen", "127.0.0.1:0", "--require-fresh-data"]);
    let child = Child::start(command).await;
    assert_eq!(child.get("/readyz").await.status, 503);
    let log = child.terminate().await;
    assert_eq!(
        log.matches("not ready: the country database").count(),
        1,
        "{log}"
    );
}

/// A failure is said once: "cannot listen on ADDRESS: <the system's reason>", not the reason
/// twice.
#[test]
fn an_address_in_use_is_said_once() {
    let world = TestWorld::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let output = support::hostloc(&world, "127.0.0.1:9".parse().unwrap())
        .args(["serve", "--listen", &address.to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = std::io::Error::from(std::io::ErrorKind::AddrInUse).to_string();
    let line = stderr
        .lines()
        .find(|line| line.starts_with("hostloc: error: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.starts_with(&format!("hostloc: error: cannot listen on {address}: ")),
        "{line}"
    );
    assert_eq!(line.matches("in use").count(), 1, "{line} ({reason})");
}
