//! Evidence and the second opinion on the country, end to end: the built binary and a real
//! server, a DNS server on loopback, generated databases that disagree.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use hostloc::http::{self, AppState, HttpSettings};
use hostloc::pipeline::DataPaths;
use serde_json::{Value, json};

use crate::support::mmdb::{WORLD, WorldRow, geoip2_country, geolite2_asn, write_db};
use crate::support::{self, Answer, TestDns, TestWorld, json_lines};

/// A second country source that disagrees with the test world's `country.mmdb` here and there,
/// as a registered view and a located view do:
/// - 95.211.0.0/16: DE (the world says NL): disputed for NL
/// - 46.4.0.0/16: FR (the world says DE): both foreign, different countries
/// - 8.8.8.0/24: US, as the world
/// - 5.5.5.0/24: NL (the world has no country there)
/// - 2a00:c98::/32: NL, as the world
const WHOIS: &[WorldRow] = &[
    ("95.211.0.0/16", Some("DE"), None, None, None, false),
    ("46.4.0.0/16", Some("FR"), None, None, None, false),
    ("8.8.8.0/24", Some("US"), None, None, None, false),
    ("5.5.5.0/24", Some("NL"), None, None, None, false),
    ("2a00:c98::/32", Some("NL"), None, None, None, false),
];

/// The hotlines these tests forward to: one named, one known only by its ICCAM id.
const HOTLINES: &str = "\
country,name,website,iccam_id,source
DE,Example Hotline,https://hotline.example.de,9,test
US,,,22,test
";

/// The networks of the shared test world that the primary country database and the ASN
/// database of these tests hold (GeoIP2-Country and GeoLite2-ASN layouts): a fixed part of
/// that world, so that the checksums below do not change when it grows.
const LOCATED: [&str; 6] = [
    "95.211.0.0/16",
    "2a00:c98::/32",
    "8.8.8.0/24",
    "46.4.0.0/16",
    "104.16.0.0/13",
    "5.5.5.0/24",
];

/// SHA-256 of the generated files (`sha256sum`), so the evidence is checked against a value
/// computed outside hostloc. They change only when the rows above or mmdb-writer's output do.
const COUNTRY_SHA256: &str = "5664509f51c7f7070f2fe6fd79453de5939e187577b80a6502945e4aee18a35d";
const WHOIS_SHA256: &str = "bcd7f996693a44cdb8b09a62ac8833513bea9c8c36553fc66dd375e96aff8d18";
const ASN_SHA256: &str = "814a81e55e9c97bd3e04f3193d558761305a635bd0e9ed1637a57558213c6406";

/// The test world's directory (networks file) with the databases of [`LOCATED`], the hotlines
/// of [`HOTLINES`], and `whois.mmdb` as a second country source.
fn two_sources() -> (TestWorld, DataPaths) {
    let world = TestWorld::new();
    let located: Vec<WorldRow> = WORLD
        .iter()
        .filter(|row| LOCATED.contains(&row.0))
        .copied()
        .collect();
    assert_eq!(
        located.len(),
        LOCATED.len(),
        "the test world has every network"
    );
    write_db(
        &world.path("country.mmdb"),
        "GeoIP2-Country",
        &located,
        geoip2_country,
    );
    write_db(
        &world.path("asn.mmdb"),
        "GeoLite2-ASN",
        &located,
        geolite2_asn,
    );
    let whois = world.write_country_source("whois.mmdb", WHOIS);
    let hotlines = world.path("hotlines.csv");
    std::fs::write(&hotlines, HOTLINES).expect("hotlines file");
    let paths = DataPaths {
        second_opinion_dbs: vec![whois],
        hotlines,
        ..world.paths()
    };
    (world, paths)
}

fn zone() -> TestDns {
    let dns = TestDns::start();
    dns.set(
        "files.example.nl",
        Answer::Records {
            a: vec![Ipv4Addr::new(95, 211, 0, 1)],
            aaaa: vec![],
            ttl: 300,
        },
    );
    dns.set(
        "mixed.example.nl",
        Answer::Records {
            a: vec![
                Ipv4Addr::new(46, 4, 0, 1),
                Ipv4Addr::new(95, 211, 0, 2),
                Ipv4Addr::new(104, 16, 0, 1),
            ],
            aaaa: vec!["2a00:c98::1".parse().unwrap()],
            ttl: 120,
        },
    );
    dns
}

/// `command` without the warnings about the test databases' age (built 2026-06-01; the data-age
/// warnings are tested in `http_api` and `pipeline_dns`), so that the evidence here is exact.
fn fresh(mut command: std::process::Command) -> std::process::Command {
    command.args(["--max-data-age", "off"]);
    command
}

/// `hostloc lookup --json` of `inputs` over `paths`.
fn lookup_json(paths: &DataPaths, dns: &TestDns, inputs: &[&str]) -> Vec<Value> {
    let output = fresh(support::hostloc_with(paths, dns.addr()))
        .args(["lookup", "--json"])
        .args(inputs)
        .output()
        .unwrap();
    support::assert_exit(&output, 0);
    json_lines(&output.stdout)
}

#[test]
fn sources_that_disagree_about_the_jurisdiction_make_a_checked_referral() {
    let ((_world, paths), dns) = (two_sources(), zone());
    let results = lookup_json(
        &paths,
        &dns,
        &[
            "95.211.0.1",
            "46.4.0.1",
            "8.8.8.8",
            "5.5.5.5",
            "7.7.7.7",
            "10.0.0.1",
        ],
    );
    let summary: Vec<(&str, &str, &Value, &Value)> = results
        .iter()
        .map(|result| {
            (
                result["verdict"].as_str().unwrap(),
                result["reason"].as_str().unwrap(),
                &result["warnings"],
                &result["addresses"][0]["country_sources"],
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "partly_domestic",
                "the country sources disagree whether the address 95.211.0.1 is in NL: \
                 country says NL, whois says DE; check before referring",
                &json!([]),
                &json!({"country": "NL", "whois": "DE"}),
            ),
            (
                "foreign",
                "the address 46.4.0.1 is located in DE, not NL; forward to the hotline of DE",
                &json!([
                    "the country sources disagree where 46.4.0.1 is (country says DE, whois \
                     says FR); its country is taken from country"
                ]),
                &json!({"country": "DE", "whois": "FR"}),
            ),
            (
                "foreign",
                "the address 8.8.8.8 is located in US, not NL; forward to the hotline of US",
                &json!([]),
                &json!({"country": "US", "whois": "US"}),
            ),
            (
                "domestic",
                "the address 5.5.5.5 is located in NL, at AS3320 Deutsche Telekom AG",
                &json!([]),
                &json!({"country": null, "whois": "NL"}),
            ),
            (
                "unknown",
                "none of the country databases has a location for 7.7.7.7; the hosting \
                 country must be established another way",
                &json!([]),
                &json!({"country": null, "whois": null}),
            ),
            (
                "not_public",
                "the address 10.0.0.1 is not on the public internet: private (10.0.0.0/8)",
                &json!([]),
                &json!({}),
            ),
        ]
    );
    // Every country a source names abroad is a country to forward to.
    let forward_to: Vec<Value> = results
        .iter()
        .map(|result| match result["forward_to"].as_array() {
            Some(entries) => json!(entries.iter().map(|e| &e["country"]).collect::<Vec<_>>()),
            None => Value::Null,
        })
        .collect();
    assert_eq!(
        forward_to,
        [
            json!(["DE"]),
            json!(["DE", "FR"]),
            json!(["US"]),
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    // The primary fills `country`; when it has none, the next source that has one does.
    assert_eq!(results[0]["addresses"][0]["country"], "NL");
    assert_eq!(results[3]["addresses"][0]["country"], "NL");
    assert_eq!(results[3]["countries"], json!(["NL"]));
    // The result says which sources were used, the primary first, each with its checksum.
    let databases: Vec<Value> = results[0]["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!([d["role"], d["source"], d["primary"], d["file"], d["sha256"]]))
        .collect();
    assert_eq!(
        databases,
        [
            json!(["country", "country", true, "country.mmdb", COUNTRY_SHA256]),
            json!(["country", "whois", false, "whois.mmdb", WHOIS_SHA256]),
            json!(["asn", "asn", false, "asn.mmdb", ASN_SHA256]),
        ]
    );
}

#[test]
fn the_summary_marks_an_address_whose_sources_disagree() {
    let ((_world, paths), dns) = (two_sources(), zone());
    let output = support::hostloc_with(&paths, dns.addr())
        .args(["lookup", "95.211.0.1", "8.8.8.8"])
        .output()
        .unwrap();
    support::assert_exit(&output, 0);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let addresses: Vec<&str> = stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("address"))
        .collect();
    assert_eq!(
        addresses,
        [
            "  address  95.211.0.1  NL  AS60781   LeaseWeb Netherlands B.V.  95.211.0.0/16  \
             [sources: country NL, whois DE]",
            "  address  8.8.8.8  US  AS15169   Google LLC  8.8.8.0/24",
        ]
    );
}

/// A reload reads every country source again, and a broken second opinion fails it like a
/// broken primary: the old set stays, and the error names the file.
#[test]
fn a_reload_rereads_every_country_source() {
    let ((world, paths), dns) = (two_sources(), zone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let pipeline = support::pipeline_over(paths.clone(), dns.addr());
    let sources = |pipeline: &hostloc::Pipeline| {
        let address = pipeline.locate_ip("95.211.0.1".parse().unwrap());
        serde_json::to_value(&address).unwrap()["country_sources"].clone()
    };
    assert_eq!(sources(&pipeline), json!({"country": "NL", "whois": "DE"}));
    let agreeing: &[WorldRow] = &[("95.211.0.0/16", Some("NL"), None, None, None, false)];
    world.write_country_source("whois.mmdb", agreeing);
    pipeline.reload().expect("the new files load");
    assert_eq!(sources(&pipeline), json!({"country": "NL", "whois": "NL"}));

    std::fs::write(&paths.second_opinion_dbs[0], b"not a database").unwrap();
    let error = pipeline.reload().unwrap_err().to_string();
    assert!(error.contains("whois.mmdb"), "{error}");
    assert_eq!(sources(&pipeline), json!({"country": "NL", "whois": "NL"}));
}

#[test]
fn a_host_with_a_disputed_address_among_others_names_each() {
    let ((_world, paths), dns) = (two_sources(), zone());
    let result = &lookup_json(&paths, &dns, &["http://mixed.example.nl/x"])[0];
    assert_eq!(result["verdict"], "partly_domestic");
    assert_eq!(
        result["reason"],
        "1 of 3 addresses is in NL (2a00:c98::1); the country sources disagree whether the \
         address 95.211.0.2 is in NL: country says NL, whois says DE; check before referring; \
         the others are not: 46.4.0.1 in DE; 104.16.0.1 of Cloudflare set aside"
    );
    assert_eq!(
        result["warnings"],
        json!([
            "the country sources disagree where 46.4.0.1 is (country says DE, whois says FR); \
             its country is taken from country"
        ])
    );
}

#[test]
fn country_databases_repeat_by_flag_or_environment_and_single_source_keeps_one() {
    let ((world, paths), dns) = (two_sources(), zone());
    let by_flags = lookup_json(&paths, &dns, &["95.211.0.1"]);
    let joined = format!(
        "{},{}",
        paths.country_db.display(),
        paths.second_opinion_dbs[0].display()
    );
    let output = support::hostloc_with(&world.paths(), dns.addr())
        .env("HOSTLOC_COUNTRY_DB", &joined)
        .args(["lookup", "--json", "95.211.0.1"])
        .env_remove("HOSTLOC_SINGLE_SOURCE")
        .output()
        .unwrap();
    // Flags win over the environment: the world's one --country-db is given as a flag here.
    assert_eq!(json_lines(&output.stdout)[0]["verdict"], "domestic");
    let mut by_environment = support::hostloc_bare();
    by_environment
        .env("HOSTLOC_COUNTRY_DB", &joined)
        .arg("--asn-db")
        .arg(&paths.asn_db)
        .arg("--networks")
        .arg(&paths.networks)
        .args(["--dns-server", &dns.addr().to_string()])
        .args(["lookup", "--json", "95.211.0.1"]);
    let output = by_environment.output().unwrap();
    let by_environment = json_lines(&output.stdout);
    assert_eq!(by_environment[0]["verdict"], "partly_domestic");
    assert_eq!(
        by_environment[0]["addresses"][0]["country_sources"],
        by_flags[0]["addresses"][0]["country_sources"]
    );

    let three = DataPaths {
        second_opinion_dbs: vec![
            paths.second_opinion_dbs[0].clone(),
            world.write_country_source("whois-copy.mmdb", WHOIS),
        ],
        ..paths.clone()
    };
    let result = &lookup_json(&three, &dns, &["95.211.0.1"])[0];
    assert_eq!(
        result["addresses"][0]["country_sources"],
        json!({"country": "NL", "whois": "DE", "whois-copy": "DE"})
    );
    assert_eq!(
        result["reason"],
        "the country sources disagree whether the address 95.211.0.1 is in NL: country says \
         NL, whois says DE, whois-copy says DE; check before referring"
    );

    let output = support::hostloc_with(&paths, dns.addr())
        .args(["lookup", "--json", "95.211.0.1"])
        .output()
        .unwrap();
    assert_eq!(json_lines(&output.stdout)[0]["verdict"], "partly_domestic");
    let output = support::hostloc_with(&world.paths(), dns.addr())
        .args(["--single-source", "lookup", "--json", "95.211.0.1"])
        .output()
        .unwrap();
    let result = &json_lines(&output.stdout)[0];
    assert_eq!(result["verdict"], "domestic");
    assert_eq!(
        result["addresses"][0]["country_sources"],
        json!({"country": "NL"})
    );

    // --single-source with two databases: which to keep would be a guess.
    let output = support::hostloc_with(&paths, dns.addr())
        .args(["--single-source", "lookup", "95.211.0.1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--single-source"), "{stderr}");
}

#[test]
fn the_version_is_the_package_version_and_the_commit_built_from() {
    let package = env!("CARGO_PKG_VERSION");
    let commit = match hostloc::VERSION.strip_prefix(package) {
        Some("") => None,
        Some(rest) => Some(
            rest.strip_prefix(" (git ")
                .and_then(|rest| rest.strip_suffix(')'))
                .map(|commit| commit.trim_end_matches("-modified"))
                .unwrap_or_else(|| panic!("{:?} is not VERSION (git COMMIT)", hostloc::VERSION)),
        ),
        None => panic!("{:?} does not start with {package}", hostloc::VERSION),
    };
    // Built from a checkout, the commit is the checkout's (abbreviated).
    let head = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8(output.stdout).unwrap().trim().to_owned());
    match (commit, head) {
        (Some(commit), Some(head)) => {
            assert!(
                commit.len() >= 7 && head.starts_with(commit),
                "{commit} is not HEAD {head}"
            );
        }
        (None, Some(head)) => panic!("built in a checkout at {head}, but no commit in VERSION"),
        (_, None) => {}
    }

    let output = support::hostloc_bare().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("hostloc {}\n", hostloc::VERSION)
    );
    let output = support::hostloc_bare()
        .args(["--single-source", "lookup", "--json", "95.211.0.1"])
        .output()
        .unwrap();
    assert_eq!(
        json_lines(&output.stdout)[0]["hostloc_version"],
        hostloc::VERSION
    );
}

/// The record of one lookup, exactly, with the moment of the lookup replaced by `<now>` (it is
/// checked to be a time first).
fn evidence_without_the_time(text: &str) -> String {
    let now = |time: &str| {
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|error| panic!("{time:?}: {error}"));
        "<now>"
    };
    text.lines()
        .map(|line| {
            if let Some(time) = line.strip_prefix("looked up at   ") {
                format!("looked up at   {}", now(time))
            } else if let Some((before, after)) = line.split_once("answered at ") {
                let (time, rest) = after.split_once(' ').unwrap_or((after, ""));
                format!("{before}answered at {} {rest}", now(time))
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect()
}

/// `hostloc lookup --evidence` of `inputs` over `paths`.
fn evidence_from_cli(paths: &DataPaths, dns: &TestDns, inputs: &[&str]) -> String {
    let output = fresh(support::hostloc_with(paths, dns.addr()))
        .args(["lookup", "--evidence"])
        .args(inputs)
        .output()
        .unwrap();
    support::assert_exit(&output, 0);
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_evidence_record_is_exact() {
    let ((_world, paths), dns) = (two_sources(), zone());
    let text = evidence_from_cli(&paths, &dns, &["hxxps://files.example[.]nl/a.jpg"]);
    let expected = format!(
        "\
hostloc evidence record
reported       hxxps://files.example[.]nl/a.jpg
url            https://files.example.nl/a.jpg
host           files.example.nl (domain; registrable domain example.nl)
looked up at   <now>
program        hostloc {version}
jurisdiction   NL
verdict        partly_domestic: refer to police; forward the rest
referral       yes
reason         the country sources disagree whether the address 95.211.0.1 is in NL: country says NL, whois says DE; check before referring
countries      NL
dns            ok, ttl 300 s, answered at <now> (asked for this lookup)
dns servers    {server}
dns transport  pooled
dns query      A ok, 1 address (NOERROR from {server} over udp)
dns query      AAAA nodata, 0 addresses (NOERROR from {server} over udp)
cname chain    none
address 1      95.211.0.1 (public)
  ttl          300 s
  country      NL (country NL, whois DE)
  registered   NL
  network      95.211.0.0/16
  as           AS60781 LeaseWeb Netherlands B.V. (network 95.211.0.0/16)
  cdn          none
forward to     DE: Example Hotline (https://hotline.example.de, ICCAM id 9)
database       country (primary) country: GeoIP2-Country, built 2026-06-01T00:00:00Z, file country.mmdb, sha256 {COUNTRY_SHA256}
database       country whois: country ipvAll, built 2026-06-01T00:00:00Z, file whois.mmdb, sha256 {WHOIS_SHA256}
database       asn asn: GeoLite2-ASN, built 2026-06-01T00:00:00Z, file asn.mmdb, sha256 {ASN_SHA256}
",
        version = hostloc::VERSION,
        server = dns.addr(),
    );
    assert_eq!(evidence_without_the_time(&text), expected);
}

/// Inputs whose records cover every kind of line: a CNAME-free domain with several addresses
/// and a CDN, an IP literal, a non-public address, a name that does not exist, no host at all,
/// a report with a line break and a right-to-left override in it, and a country whose hotline
/// is known only by its ICCAM id.
const RECORD_INPUTS: [&str; 7] = [
    "http://mixed.example.nl/x",
    "http://[::ffff:95.211.0.1]/",
    "10.0.0.1",
    "missing.example.nl",
    "mailto:someone@example.nl",
    "files.example.nl/a\u{202e}gpj.exe\nsecond line",
    "8.8.8.8",
];

#[tokio::test]
async fn http_format_evidence_gives_the_text_lookup_prints() {
    let ((_world, paths), dns) = (two_sources(), zone());
    let from_cli = {
        let (paths, dns_addr) = (paths.clone(), dns.addr());
        tokio::task::spawn_blocking(move || {
            let output = fresh(support::hostloc_with(&paths, dns_addr))
                .args(["lookup", "--evidence"])
                .args(RECORD_INPUTS)
                .output()
                .unwrap();
            String::from_utf8(output.stdout).unwrap()
        })
        .await
        .unwrap()
    };
    let records: Vec<&str> = from_cli.split("\n\n").collect();
    assert_eq!(records.len(), RECORD_INPUTS.len(), "{from_cli}");

    let pipeline = support::pipeline_over(paths.clone(), dns.addr());
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::run(
        listener,
        AppState::new(pipeline, HttpSettings::default()),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for (input, record) in RECORD_INPUTS.iter().zip(&records) {
        let response = client
            .get(format!("http://{addr}/v1/lookup"))
            .query(&[("url", *input), ("format", "evidence")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        let from_http = response.text().await.unwrap();
        let record = format!("{}\n", record.trim_end_matches('\n'));
        assert_eq!(
            evidence_without_the_time(&from_http),
            evidence_without_the_time(&record),
            "{input:?}"
        );
    }
    // Each line of a record is one fact: the report's own line break and its right-to-left
    // override are written out, not obeyed.
    assert!(
        records[5].contains("reported       files.example.nl/a\\u{202e}gpj.exe\\u{a}second line\n"),
        "{}",
        records[5]
    );
    // Where to forward: a named hotline, a country without one, one known only by its id.
    let forwards = |record: &str| -> Vec<String> {
        record
            .lines()
            .filter_map(|line| line.strip_prefix("forward to     "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        forwards(records[0]),
        [
            "DE: Example Hotline (https://hotline.example.de, ICCAM id 9)",
            "FR: no INHOPE member hotline in FR; report to the hosting provider and FR's police \
             through the usual channels",
        ]
    );
    assert_eq!(
        forwards(records[6]),
        ["US: a member hotline not named here (ICCAM id 22)"]
    );
    assert_eq!(forwards(records[2]), ["none"]);
    let reply = client
        .get(format!("http://{addr}/v1/lookup?url=x&format=xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    // The address endpoint reports every source's answer too.
    let get_json = |path: &str| {
        let request = client.get(format!("http://{addr}{path}"));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let address = get_json("/v1/ip/95.211.0.1").await;
    assert_eq!(
        address["country_sources"],
        json!({"country": "NL", "whois": "DE"})
    );
    // The OpenAPI document describes the parameter and both kinds of answer.
    let document = get_json("/openapi.json").await;
    let operation = &document["paths"]["/v1/lookup"]["get"];
    let format = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == "format")
        .expect("a format parameter");
    assert_eq!(format["schema"]["enum"], json!(["json", "evidence"]));
    let content = &operation["responses"]["200"]["content"];
    assert_eq!(
        content["text/plain; charset=utf-8"]["schema"]["type"],
        "string"
    );
    assert_eq!(
        content["application/json"]["schema"]["$ref"],
        "#/components/schemas/Report"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[test]
fn data_agreement_counts_disagreements_reproducibly() {
    // Two databases covering all of IPv4: the first says NL for the lower half and DE for the
    // upper; the second agrees except for 64.0.0.0/2, which it puts in FR.
    let world = TestWorld::new();
    let lower_nl: &[WorldRow] = &[
        ("0.0.0.0/1", Some("NL"), None, None, None, false),
        ("128.0.0.0/1", Some("DE"), None, None, None, false),
    ];
    let quarter_fr: &[WorldRow] = &[
        ("0.0.0.0/2", Some("NL"), None, None, None, false),
        ("64.0.0.0/2", Some("FR"), None, None, None, false),
        ("128.0.0.0/1", Some("DE"), None, None, None, false),
    ];
    let first = world.write_country_source("first.mmdb", lower_nl);
    let second = world.write_country_source("second.mmdb", quarter_fr);
    let run = |sources: &[&PathBuf]| {
        let mut command = support::hostloc_bare();
        for source in sources {
            command.arg("--country-db").arg(source);
        }
        command
            .arg("--asn-db")
            .arg(world.path("asn.mmdb"))
            .arg("--networks")
            .arg(world.path("networks.csv"))
            .args([
                "data",
                "agreement",
                "--addresses",
                "4000",
                "--examples",
                "3",
            ])
            .output()
            .unwrap()
    };
    let output = run(&[&first, &second]);
    support::assert_exit(&output, 0);
    let text = String::from_utf8(output.stdout).unwrap();
    let count = |label: &str| -> u32 {
        text.lines()
            .find_map(|line| line.trim_start().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no count for {label:?} in\n{text}"))
    };
    assert_eq!(count("both give a country"), 4000, "{text}");
    assert_eq!(count("neither gives one"), 0);
    let different = count("different ones");
    assert_eq!(
        count("NL against another country"),
        different,
        "every disagreement is NL against FR"
    );
    assert_eq!(count("NL against no data"), 0);
    // About a quarter of the space, less the special-purpose ranges redrawn.
    assert!((700..1300).contains(&different), "{different} in\n{text}");
    let examples = text
        .lines()
        .find(|line| line.contains("examples"))
        .expect("examples");
    assert_eq!(examples.matches(" NL/FR").count(), 3, "{examples}");
    for example in examples.split(": ").nth(1).unwrap().split(", ") {
        let ip: Ipv4Addr = example.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(ip.octets()[0] >> 6, 1, "{ip} is not in 64.0.0.0/2");
    }
    // The same seed draws the same addresses.
    assert_eq!(
        String::from_utf8(run(&[&first, &second]).stdout).unwrap(),
        text
    );

    let output = run(&[&first]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("only one country database is in use (first)"),
        "{stderr}"
    );
}

/// The DNS lines of the record for an answer from hostloc's cache, and for a server that is not
/// there: how old the cached answer is, and why a failed lookup failed with no server named
/// as having answered.
#[tokio::test]
async fn the_record_says_how_old_a_cached_answer_is_and_why_dns_failed() {
    let world = TestWorld::new();
    let dns = zone();
    let pipeline = support::cached_pipeline(&world, dns.addr());
    pipeline.lookup("files.example.nl").await;
    let cached = hostloc::evidence::render(&pipeline.lookup("files.example.nl").await);
    let age = cached
        .lines()
        .find_map(|line| line.strip_prefix("dns cache age  "))
        .unwrap_or_else(|| panic!("no cache age in\n{cached}"));
    // Two lookups in a row: the answer is at most a few seconds old, however slow the machine.
    assert!(
        age.strip_suffix(" s")
            .and_then(|seconds| seconds.parse::<u64>().ok())
            .is_some_and(|seconds| seconds < 60),
        "{age}"
    );
    assert!(cached.contains("(from hostloc's cache)\n"), "{cached}");

    let closed = support::closed_port();
    let failed = hostloc::evidence::render(
        &support::pipeline(&world, closed)
            .lookup("files.example.nl")
            .await,
    );
    for line in [
        "dns error      connection_refused\n",
        "dns servers    none answered\n",
        "dns transport  pooled\n",
    ] {
        assert!(failed.contains(line), "{line:?} missing from\n{failed}");
    }
    assert!(!failed.contains("dns cache age"), "{failed}");
}
