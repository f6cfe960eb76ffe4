//! The Result stays the same, byte for byte (issue 14): a fixed set of reports — IP literals of
//! several countries, CDNs and special-purpose ranges, names served by the in-process DNS server
//! with every DNS outcome, hidden services and invalid input — looked up on the bundled data by
//! every front end (`lookup --json` and `--evidence`, `batch` in each format and output format,
//! `GET` (JSON and `format=evidence`) and `POST /v1/lookup`, `GET /v1/ip/{ip}`), compared with
//! the files in `tests/golden/`.
//!
//! Only what is genuinely not reproducible is masked before comparing: the time of a lookup or
//! a resolution (any RFC 3339 time within the test's run, so the databases' build times still
//! count) and the version string. Everything else — field order, escaping, numbers, reasons,
//! the databases' evidence — must match exactly, so that an optimisation that changes a single
//! byte of output fails here.
//!
//! When a change of output is intended, regenerate the files and review their diff:
//! `HOSTLOC_BLESS=1 cargo test --test it golden` (`tests/golden/README.md`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hostloc::Pipeline;
use hostloc::cache::{CacheSettings, DnsCache};
use hostloc::http::HttpSettings;
use hostloc::pipeline::{DataSet, PipelineSettings};
use hostloc::resolve::{DnsResolver, DnsSettings};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::mmdb::bundled_data;
use crate::support::{self, Answer, TestDns, run_with_stdin, serve::Server};

/// IP literals: countries, CDNs (by ASN and prefix), special-purpose ranges, and every form of
/// literal the WHATWG parser accepts.
const IP_LITERALS: &[&str] = &[
    "95.211.0.1",
    "8.8.8.8",
    "1.1.1.1",
    "151.101.1.140",
    "13.32.0.1",
    "2400:cb00::1",
    "114.114.114.114",
    "77.88.8.8",
    "200.160.2.3",
    "41.0.0.1",
    "2c0f:fff0::1",
    "45.12.0.1",
    "6.0.0.1",
    "2d00::1",
    "2a00:1450:4001:80b::200e",
    "2001:4860:4860::8888",
    "2001:67c:2e8:22::c100:68b",
    "3ffe::1",
    "203.0.113.1",
    "10.0.0.1",
    "100.64.0.1",
    "192.88.99.1",
    "240.0.0.1",
    "2001:db8::1",
    "[fe80::1]",
    "[5f00::1]",
    "[::ffff:95.211.0.1]",
    "[64:ff9b::808:808]",
    "http://1607663617/",
    "http://0x5f.0xd3.0.1/x.jpg",
    "http://127.1/",
    "https://[2a0f:ffff::1]:8443/path?q=1#frag",
];

/// Names, each host once (so that no result depends on which lookup filled the cache).
const NAMES: &[&str] = &[
    "files.example.nl",
    "hxxps://www.example[.]nl/a.jpg",
    "http://good.example.com@user.example.nl/",
    "mixed.example.com",
    "dual.example.com/img/1.png",
    "//v6only.example.org/x",
    "shop.example.com",
    "cf.example.com",
    "halfcdn.example.com",
    "private.example.net",
    "nowhere.example.net",
    "chain.example.net",
    "bücher.example",
    "  \"HTTP://UPPER.Example.COM./Path\"). ",
    "nx.example.net",
    "nodata.example.net",
    "servfail.example.net",
    "refused.example.net",
    "silent.example.net",
    "http://duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/",
    "http://files.example.i2p/",
];

/// Reports without a usable host.
const INVALID: &[&str] = &[
    "",
    "not a url at all",
    "mailto:someone@example.nl",
    "javascript:alert(1)",
    "data:text/plain,hi",
    "http://exa mple.com/",
    "http://[::1/",
    "http://localhost/",
];

/// The DNS server the names above are looked up in.
fn zone() -> TestDns {
    let dns = TestDns::start();
    let records = |a: &[[u8; 4]], aaaa: &[&str]| Answer::Records {
        a: a.iter().map(|a| Ipv4Addr::from(*a)).collect(),
        aaaa: aaaa
            .iter()
            .map(|a| a.parse::<Ipv6Addr>().unwrap())
            .collect(),
        ttl: 300,
    };
    let cname = |target: &str| Answer::Cname {
        target: target.to_owned(),
        ttl: 600,
    };
    dns.set("files.example.nl", records(&[[95, 211, 0, 1]], &[]));
    dns.set("www.example.nl", records(&[[95, 211, 0, 2]], &[]));
    dns.set("user.example.nl", records(&[[95, 211, 0, 3]], &[]));
    dns.set(
        "mixed.example.com",
        records(&[[95, 211, 0, 1], [8, 8, 8, 8]], &[]),
    );
    dns.set(
        "dual.example.com",
        records(&[[8, 8, 4, 4]], &["2a00:1450:4001:80b::200e"]),
    );
    dns.set(
        "v6only.example.org",
        records(&[], &["2001:67c:2e8:22::c100:68b"]),
    );
    dns.set("shop.example.com", cname("shop.example.com.edgekey.net"));
    dns.set(
        "shop.example.com.edgekey.net",
        records(&[[95, 211, 0, 4]], &[]),
    );
    dns.set(
        "cf.example.com",
        records(&[[104, 16, 0, 1]], &["2606:4700::1"]),
    );
    dns.set(
        "halfcdn.example.com",
        records(&[[104, 16, 0, 1], [95, 211, 0, 5]], &[]),
    );
    dns.set(
        "private.example.net",
        records(&[[10, 0, 0, 1], [192, 168, 1, 1]], &["fd00::1"]),
    );
    dns.set("nowhere.example.net", records(&[], &["3ffe::1"]));
    dns.set("chain.example.net", cname("a.chain.example.net"));
    dns.set("a.chain.example.net", cname("b.chain.example.net"));
    dns.set("b.chain.example.net", records(&[[77, 88, 8, 8]], &[]));
    dns.set("xn--bcher-kva.example", records(&[[41, 0, 0, 1]], &[]));
    dns.set("upper.example.com", records(&[[114, 114, 114, 114]], &[]));
    dns.set("nx.example.net", Answer::NxDomain);
    dns.set("nodata.example.net", Answer::NoData);
    dns.set("servfail.example.net", Answer::ServFail);
    dns.set("refused.example.net", Answer::Refused);
    dns.set("silent.example.net", Answer::Silent);
    dns
}

/// Every report, in a fixed order.
fn reports() -> Vec<&'static str> {
    IP_LITERALS
        .iter()
        .chain(NAMES)
        .chain(INVALID)
        .copied()
        .collect()
}

/// How long a DNS query may take: long enough that only the silent name times out, even on a
/// machine busy with other tests.
const DNS_TIMEOUT: &str = "2s";

/// `hostloc` on the bundled data, asking `dns`; no age limit on the data, so that no warning
/// depends on the day the test runs.
fn hostloc(dns: &TestDns) -> Command {
    let mut command = support::hostloc_with_timeout(&bundled_data(), dns.addr(), DNS_TIMEOUT);
    command.args(["--max-data-age", "36500d"]);
    command
}

fn successful(output: Output) -> Vec<u8> {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// What one run of the test cannot reproduce in another: the time (a timestamp within the
/// run, with a margin, is the time of a lookup or a resolution) and the test DNS server's port.
struct Run {
    start: OffsetDateTime,
    dns_server: String,
}

impl Run {
    fn new(dns: &TestDns) -> Run {
        Run {
            start: OffsetDateTime::now_utc() - time::Duration::minutes(5),
            dns_server: dns.addr().to_string(),
        }
    }

    fn holds(&self, time: OffsetDateTime) -> bool {
        time >= self.start && time <= OffsetDateTime::now_utc() + time::Duration::minutes(5)
    }
}

/// `text` with what is not reproducible replaced: RFC 3339 times (`2026-12-02T10:00:00Z`)
/// within `run` become `<now>`, the DNS server's address `<dns server>`, and this build's
/// version string ([`hostloc::VERSION`], with its git commit) `<version>`.
fn mask(text: &str, run: &Run) -> String {
    const STAMP: usize = "2026-12-02T10:00:00Z".len();
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let stamp = rest
            .get(..STAMP)
            .filter(|candidate| candidate.as_bytes()[4] == b'-' && candidate.ends_with('Z'))
            .and_then(|candidate| OffsetDateTime::parse(candidate, &Rfc3339).ok());
        if stamp.is_some_and(|stamp| run.holds(stamp)) {
            masked.push_str("<now>");
            rest = &rest[STAMP..];
            continue;
        }
        let replaced = [
            (hostloc::VERSION, "<version>"),
            (run.dns_server.as_str(), "<dns server>"),
        ]
        .into_iter()
        .find_map(|(found, mask)| rest.strip_prefix(found).map(|after| (mask, after)));
        if let Some((mask, after)) = replaced {
            masked.push_str(mask);
            rest = after;
            continue;
        }
        let next = rest.chars().next().map_or(1, char::len_utf8);
        masked.push_str(&rest[..next]);
        rest = &rest[next..];
    }
    masked
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` (masked) with `tests/golden/NAME`; with `HOSTLOC_BLESS=1`, writes it there
/// instead.
fn check(name: &str, actual: &[u8], run: &Run) {
    let actual = mask(
        std::str::from_utf8(actual).expect("hostloc writes UTF-8"),
        run,
    );
    let path = golden_path(name);
    if std::env::var_os("HOSTLOC_BLESS").is_some_and(|bless| bless == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; write it with HOSTLOC_BLESS=1 cargo test --test it golden",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let expected_lines: Vec<&str> = expected.lines().collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    let differing = (0..expected_lines.len().max(actual_lines.len()))
        .find(|&index| expected_lines.get(index) != actual_lines.get(index))
        .unwrap_or(0);
    panic!(
        "{} differs from this run, first at line {} (of {} expected, {} now):\n\
         expected: {}\n\
         now:      {}\n\
         If the change is intended, regenerate with HOSTLOC_BLESS=1 cargo test --test it golden \
         and review the diff.",
        path.display(),
        differing + 1,
        expected_lines.len(),
        actual_lines.len(),
        expected_lines.get(differing).unwrap_or(&"(no line)"),
        actual_lines.get(differing).unwrap_or(&"(no line)"),
    );
}

#[test]
fn lookup_json_is_the_golden_result() {
    let dns = zone();
    let run = Run::new(&dns);
    let output = hostloc(&dns)
        .args(["lookup", "--json", "--"])
        .args(reports())
        .output()
        .unwrap();
    check("lookup.jsonl", &successful(output), &run);
    let output = hostloc(&dns)
        .args(["lookup", "--evidence", "--"])
        .args(reports())
        .output()
        .unwrap();
    check("lookup-evidence.txt", &successful(output), &run);
}

/// The reports as a CSV export with columns of the user's own around the URL, a row without its
/// URL cell, and quoting.
fn csv_input() -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["id", "url", "note"]).unwrap();
    for (index, report) in reports().iter().enumerate() {
        writer
            .write_record([&index.to_string(), *report, "kept, as \"is\""])
            .unwrap();
    }
    let mut input = writer.into_inner().unwrap();
    input.extend_from_slice(b"short-row\n");
    input
}

/// The reports as JSONL records, with a line that is not JSON and a record without a URL.
fn jsonl_input() -> Vec<u8> {
    let mut input = Vec::new();
    for (index, report) in reports().iter().enumerate() {
        let record = json!({"id": index, "url": report, "seen": [1, 2]});
        input.extend_from_slice(record.to_string().as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"{not json\n{\"id\": 99}\n");
    input
}

/// The reports one per line (the empty one left out: an empty line is not a report), with a
/// line that is not UTF-8.
fn lines_input() -> Vec<u8> {
    let mut input = Vec::new();
    for report in reports().iter().filter(|report| !report.is_empty()) {
        input.extend_from_slice(report.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"http://95.211.0.9/\xffpath\n");
    input
}

#[test]
fn batch_output_is_the_golden_result_in_every_format() {
    let dns = zone();
    let run = Run::new(&dns);
    let runs: [(&str, &[&str], Vec<u8>); 5] = [
        ("batch.csv", &["--format", "csv"], csv_input()),
        (
            "batch-iccam.csv",
            &["--format", "csv", "--output-format", "iccam"],
            csv_input(),
        ),
        ("batch.jsonl", &["--format", "jsonl"], jsonl_input()),
        (
            "batch-iccam.jsonl",
            &["--format", "jsonl", "--output-format", "iccam"],
            jsonl_input(),
        ),
        ("batch-lines.jsonl", &["--format", "lines"], lines_input()),
    ];
    for (name, options, input) in runs {
        let output = run_with_stdin(
            hostloc(&dns).args(["batch", "--quiet"]).args(options),
            input,
        );
        check(name, &successful(output), &run);
    }
}

#[tokio::test]
async fn http_answers_are_the_golden_result() {
    let dns = zone();
    let run = Run::new(&dns);
    let paths = bundled_data();
    let resolver = DnsResolver::new(&DnsSettings {
        timeout: humantime::parse_duration(DNS_TIMEOUT).unwrap(),
        ..support::dns_settings(dns.addr())
    })
    .unwrap();
    let pipeline = Pipeline::new(
        DataSet::load(&paths).unwrap(),
        Some(paths),
        // No cache: every request of the same report asks DNS, as the files record.
        DnsCache::new(
            resolver,
            CacheSettings {
                capacity: 0,
                ..CacheSettings::default()
            },
        ),
        PipelineSettings::default(),
    );
    let server = Server::start(pipeline, HttpSettings::default()).await;

    let mut gets = Vec::new();
    for report in reports() {
        let reply = server.get(&support::serve::lookup_path(report)).await;
        assert_eq!(reply.status, 200, "{report}: {}", reply.text);
        gets.extend_from_slice(reply.text.as_bytes());
        gets.push(b'\n');
    }
    check("http-get-lookup.jsonl", &gets, &run);

    let mut records = Vec::new();
    for report in reports() {
        let path = format!("{}&format=evidence", support::serve::lookup_path(report));
        let reply = server.get(&path).await;
        assert_eq!(reply.status, 200, "{report}: {}", reply.text);
        records.extend_from_slice(reply.text.as_bytes());
        records.extend_from_slice(b"\n--\n");
    }
    check("http-get-evidence.txt", &records, &run);

    let reply = server
        .post("/v1/lookup", &json!({ "urls": reports() }))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    check("http-post-lookup.json", reply.text.as_bytes(), &run);

    let mut addresses = Vec::new();
    for ip in IP_LITERALS
        .iter()
        .map(|literal| literal.trim_matches(['[', ']']))
        .filter(|literal| literal.parse::<std::net::IpAddr>().is_ok())
    {
        let reply = server.get(&format!("/v1/ip/{ip}")).await;
        assert_eq!(reply.status, 200, "{ip}: {}", reply.text);
        addresses.extend_from_slice(reply.text.as_bytes());
        addresses.push(b'\n');
    }
    check("http-ip.jsonl", &addresses, &run);
    server.stop().await.unwrap();
}

#[test]
fn masking_hides_only_the_times_of_this_run_the_dns_server_and_the_version() {
    let dns = TestDns::start();
    let run = Run::new(&dns);
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let (version, server) = (hostloc::VERSION, dns.addr());
    let text = format!(
        "{{\"looked_up_at\":\"{now}\",\"built\":\"2026-06-01T00:00:00Z\",\
         \"hostloc_version\":\"{version}\",\"reason\":\"ünïcode {now} {server}\"}}\n\
         program        hostloc {version}\n"
    );
    assert_eq!(
        mask(&text, &run),
        "{\"looked_up_at\":\"<now>\",\"built\":\"2026-06-01T00:00:00Z\",\
         \"hostloc_version\":\"<version>\",\"reason\":\"ünïcode <now> <dns server>\"}\n\
         program        hostloc <version>\n"
    );
}
