//! Where a report goes next: `forward_to` (the bundled hotline table, and an operator's own
//! with `--hotlines`, reloaded with the data) and the `iccam` block, from `hostloc lookup` and
//! `hostloc batch` (including `--output-format iccam`), against a DNS server on loopback and
//! the generated test world. The HTTP API's are in `http_api.rs`.

use hostloc::pipeline::DataPaths;
use serde_json::{Value, json};

use crate::support::dns::a_records;
use crate::support::{self, TestDns, TestWorld, json_lines, run_with_stdin};

/// Names hosted in one country each, a mix, and a CDN.
fn zone() -> TestDns {
    let dns = TestDns::start();
    dns.set("de.example", a_records(&[[46, 4, 0, 1]]));
    dns.set("gb.example", a_records(&[[81, 2, 69, 1]]));
    dns.set("cn.example", a_records(&[[1, 0, 1, 1]]));
    dns.set("us.example", a_records(&[[8, 8, 8, 8]]));
    // partly domestic: a private address, NL, CN, DE twice, a CDN in CA... in US
    dns.set(
        "mixed.example",
        a_records(&[
            [10, 0, 0, 1],
            [1, 0, 1, 1],
            [95, 211, 0, 1],
            [46, 4, 0, 1],
            [46, 4, 0, 2],
            [104, 16, 0, 1],
        ]),
    );
    // domestic, with a CDN address and a private one before the hosting address
    dns.set(
        "nl.example",
        a_records(&[[10, 0, 0, 1], [104, 16, 0, 9], [95, 211, 0, 7]]),
    );
    dns.set(
        "cdn.example",
        a_records(&[[104, 16, 0, 1], [104, 16, 0, 2]]),
    );
    dns.set("unknown.example", a_records(&[[5, 5, 5, 5]]));
    dns
}

/// `hostloc lookup --json` of `urls` with the data files of `paths`.
fn lookup(paths: &DataPaths, dns: &TestDns, urls: &[&str]) -> Vec<Value> {
    let output = support::hostloc_with(paths, dns.addr())
        .arg("lookup")
        .arg("--json")
        .args(urls)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_lines(&output.stdout)
}

/// `hostloc lookup --json` of `urls` in a fresh test world with [`zone`].
fn look_up(urls: &[&str]) -> Vec<Value> {
    let world = TestWorld::new();
    let dns = zone();
    lookup(&world.paths(), &dns, urls)
}

fn by_input<'a>(results: &'a [Value], input: &str) -> &'a Value {
    results
        .iter()
        .find(|result| result["input"] == input)
        .unwrap_or_else(|| panic!("no result for {input}"))
}

#[test]
fn forward_to_names_one_several_or_no_hotlines() {
    let results = look_up(&[
        "gb.example",
        "de.example",
        "cn.example",
        "8.8.8.8",
        "mixed.example",
    ]);
    assert_eq!(
        by_input(&results, "gb.example")["forward_to"],
        json!([{"country": "GB", "note": null, "hotlines": [{
            "name": "Internet Watch Foundation (IWF)",
            "website": "https://www.iwf.org.uk",
            "iccam_id": 51}]}])
    );
    assert_eq!(
        by_input(&results, "de.example")["forward_to"],
        json!([{"country": "DE", "note": null, "hotlines": [
            {"name": "eco (Internet-Beschwerdestelle)",
             "website": "https://www.internet-beschwerdestelle.de", "iccam_id": null},
            {"name": "FSM", "website": "https://www.fsm.de", "iccam_id": null},
            {"name": "jugendschutz.net", "website": "https://www.jugendschutz.net",
             "iccam_id": null}]}])
    );
    let no_member = json!({"country": "CN", "hotlines": [],
        "note": "no INHOPE member hotline in CN; report to the hosting provider and CN's \
                 police through the usual channels"});
    assert_eq!(
        by_input(&results, "cn.example")["forward_to"],
        json!([no_member])
    );
    // A member hotline no source here names: its ICCAM id, nothing made up.
    assert_eq!(
        by_input(&results, "8.8.8.8")["forward_to"],
        json!([{"country": "US", "note": null,
                "hotlines": [{"name": null, "website": null, "iccam_id": 22}]}])
    );
    // partly domestic: every country abroad once, sorted; not the CDN's, not the private one's
    let mixed = by_input(&results, "mixed.example");
    assert_eq!(mixed["verdict"], "partly_domestic");
    let countries: Vec<&Value> = mixed["forward_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|forwarding| &forwarding["country"])
        .collect();
    assert_eq!(countries, [&json!("CN"), &json!("DE")]);
    assert_eq!(mixed["forward_to"][0], no_member);
    assert_eq!(
        mixed["forward_to"][1]["hotlines"].as_array().unwrap().len(),
        3
    );
}

#[test]
fn verdicts_that_forward_nothing_have_null() {
    let results = look_up(&[
        "nl.example",
        "cdn.example",
        "unknown.example",
        "nxdomain.example",
        "10.0.0.1",
        "mailto:x@example.nl",
    ]);
    let verdicts: Vec<&Value> = results.iter().map(|r| &r["verdict"]).collect();
    assert_eq!(
        verdicts,
        [
            "domestic",
            "behind_cdn",
            "unknown",
            "unresolved",
            "not_public",
            "invalid"
        ]
    );
    for result in &results {
        assert_eq!(result["forward_to"], Value::Null, "{result}");
    }
    // behind a CDN: whom to ask for the origin is in cdn_providers and the reason
    let cdn = by_input(&results, "cdn.example");
    assert_eq!(cdn["cdn_providers"], json!(["Cloudflare"]));
    assert!(
        cdn["reason"]
            .as_str()
            .unwrap()
            .contains("ask Cloudflare for the origin server")
    );
}

#[test]
fn the_iccam_block_for_domestic_foreign_and_cdn_results() {
    let results = look_up(&[
        "nl.example",
        "mixed.example",
        "de.example",
        "cdn.example",
        "unknown.example",
        "10.0.0.1",
        "nxdomain.example",
    ]);
    let block = |country: &str, ip: &str, asn: u32, org: &str, cdn: bool| {
        json!({"hostingCountryCode": country, "hostingIpAddress": ip, "hostingIsp": org,
               "hostingOrganization": {"autonomousSystemNumber": asn,
                                       "organizationName": org,
                                       "isContentDeliveryNetwork": cdn}})
    };
    let leaseweb = "LeaseWeb Netherlands B.V.";
    // domestic: the address in NL, past the private and the CDN address before it
    assert_eq!(
        by_input(&results, "nl.example")["iccam"],
        block("NL", "95.211.0.7", 60781, leaseweb, false)
    );
    // partly domestic: the address in NL, though a CN one comes first
    assert_eq!(
        by_input(&results, "mixed.example")["iccam"],
        block("NL", "95.211.0.1", 60781, leaseweb, false)
    );
    assert_eq!(
        by_input(&results, "de.example")["iccam"],
        block("DE", "46.4.0.1", 24940, "Hetzner Online GmbH", false)
    );
    // behind a CDN: the CDN's first address, marked as a CDN
    assert_eq!(
        by_input(&results, "cdn.example")["iccam"],
        block("US", "104.16.0.1", 13335, "Cloudflare, Inc.", true)
    );
    // no country data: the address without a country
    assert_eq!(
        by_input(&results, "unknown.example")["iccam"],
        json!({"hostingCountryCode": null, "hostingIpAddress": "5.5.5.5",
               "hostingIsp": "Deutsche Telekom AG",
               "hostingOrganization": {"autonomousSystemNumber": 3320,
                                       "organizationName": "Deutsche Telekom AG",
                                       "isContentDeliveryNetwork": false}})
    );
    // no public address
    assert_eq!(by_input(&results, "10.0.0.1")["iccam"], Value::Null);
    assert_eq!(by_input(&results, "nxdomain.example")["iccam"], Value::Null);
}

#[test]
fn human_output_says_where_to_forward() {
    let world = TestWorld::new();
    let dns = zone();
    let output = support::hostloc(&world, dns.addr())
        .args(["lookup", "gb.example", "cn.example"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(
            "\n  forward  GB  Internet Watch Foundation (IWF)  https://www.iwf.org.uk  ICCAM 51\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "\n  forward  CN  no INHOPE member hotline in CN; report to the hosting provider \
             and CN's police through the usual channels\n"
        ),
        "{text}"
    );
}

/// An operator's own table, given with `--hotlines`, replaces the bundled one, and a reload
/// picks up its changes; a broken one stops hostloc with the file and line.
#[tokio::test]
async fn an_operators_table_replaces_the_bundled_one_and_reloads() {
    let world = TestWorld::new();
    let dns = zone();
    let table = world.path("hotlines.csv");
    std::fs::write(
        &table,
        "country,name,website,iccam_id,source\nCN,Test hotline,https://cn.example,,mine\n",
    )
    .unwrap();
    let paths = DataPaths {
        hotlines: table.clone(),
        ..world.paths()
    };
    let results = lookup(&paths, &dns, &["cn.example", "de.example"]);
    assert_eq!(
        by_input(&results, "cn.example")["forward_to"][0]["hotlines"],
        json!([{"name": "Test hotline", "website": "https://cn.example", "iccam_id": null}])
    );
    assert_eq!(
        by_input(&results, "de.example")["forward_to"][0]["hotlines"],
        json!([])
    );

    let pipeline = support::pipeline_over(paths.clone(), dns.addr());
    let hotlines = |report: &hostloc::Report| {
        let forwarding = &report.forward_to.as_ref().unwrap()[0];
        (forwarding.hotlines.len(), forwarding.note.is_some())
    };
    assert_eq!(hotlines(&pipeline.lookup("cn.example").await), (1, false));
    std::fs::write(&table, "country,name\nDE,Other\n").unwrap();
    pipeline.reload().unwrap();
    assert_eq!(hotlines(&pipeline.lookup("cn.example").await), (0, true));
    // A table that cannot be used leaves the one in use in place.
    std::fs::write(&table, "country,name\nGermany,Other\n").unwrap();
    let error = pipeline.reload().unwrap_err();
    assert_eq!(error.kind(), "hotlines");
    assert_eq!(hotlines(&pipeline.lookup("de.example").await), (1, false));

    let output = support::hostloc_with(&paths, dns.addr())
        .args(["lookup", "de.example"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "hostloc: error: the hotlines file {}, line 2: \"Germany\" is not an ISO 3166-1 \
             alpha-2 country code\n",
            table.display()
        )
    );
}

#[test]
fn batch_rows_carry_forward_to() {
    let world = TestWorld::new();
    let dns = zone();
    let output = run_with_stdin(
        support::hostloc(&world, dns.addr()).args(["batch", "--format", "jsonl", "-q"]),
        "{\"id\":1,\"url\":\"gb.example\"}\n{\"id\":2,\"url\":\"nl.example\"}\n",
    );
    assert!(output.status.success());
    let rows = json_lines(&output.stdout);
    assert_eq!(
        rows[0]["hostloc"]["forward_to"][0]["hotlines"][0]["name"],
        "Internet Watch Foundation (IWF)"
    );
    assert_eq!(rows[1]["hostloc"]["forward_to"], Value::Null);
    assert_eq!(
        rows[1]["hostloc"]["iccam"]["hostingIpAddress"],
        "95.211.0.7"
    );
}

#[test]
fn batch_writes_the_iccam_view_in_every_format() {
    let world = TestWorld::new();
    let dns = zone();
    let batch = |format: &str, input: &str| {
        let output = run_with_stdin(
            support::hostloc(&world, dns.addr()).args([
                "batch",
                "-q",
                "--output-format",
                "iccam",
                "--format",
                format,
            ]),
            input,
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(
        batch(
            "csv",
            "id,url\n1,hxxp://cdn.example/a.jpg\n2,nxdomain.example\n3,de.example\n"
        ),
        "id,url,verdict,urlString,hostingCountryCode,hostingIpAddress,hostingIsp,\
         hostingOrganization.autonomousSystemNumber,hostingOrganization.organizationName,\
         hostingOrganization.isContentDeliveryNetwork\n\
         1,hxxp://cdn.example/a.jpg,behind_cdn,http://cdn.example/a.jpg,US,104.16.0.1,\
         \"Cloudflare, Inc.\",13335,\"Cloudflare, Inc.\",true\n\
         2,nxdomain.example,unresolved,http://nxdomain.example/,,,,,,\n\
         3,de.example,foreign,http://de.example/,DE,46.4.0.1,Hetzner Online GmbH,24940,\
         Hetzner Online GmbH,false\n"
    );
    let lines = json_lines(batch("lines", "de.example\nmailto:x\n").as_bytes());
    assert_eq!(
        lines,
        [
            json!({"input": "de.example", "urlString": "http://de.example/",
                   "verdict": "foreign",
                   "iccam": {"hostingCountryCode": "DE", "hostingIpAddress": "46.4.0.1",
                             "hostingIsp": "Hetzner Online GmbH",
                             "hostingOrganization": {"autonomousSystemNumber": 24940,
                                                     "organizationName": "Hetzner Online GmbH",
                                                     "isContentDeliveryNetwork": false}}}),
            json!({"input": "mailto:x", "urlString": null, "verdict": "invalid",
                   "iccam": null}),
        ]
    );
    let jsonl = json_lines(batch("jsonl", "{\"url\":\"de.example\"}\n").as_bytes());
    assert_eq!(jsonl[0]["hostloc"]["urlString"], "http://de.example/");
    assert_eq!(jsonl[0]["hostloc"]["iccam"]["hostingCountryCode"], "DE");
}

/// `batch --format iccam`, as issue 11 words it: the rows are read and written in the format
/// the extension gives (here .csv, .jsonl and, for any other name, lines), and each result is
/// its ICCAM view, byte for byte what `--output-format iccam` writes. `HOSTLOC_BATCH_FORMAT`
/// says the same, `batch merge` takes the value too, and `--output-format full` beside it is a
/// usage error rather than a silent choice.
#[test]
fn batch_format_iccam_guesses_the_rows_and_writes_the_iccam_view() {
    let world = TestWorld::new();
    let dns = zone();
    let directory = tempfile::tempdir().unwrap();
    let inputs = [
        (
            "queue.csv",
            "id,url\n1,hxxp://cdn.example/a.jpg\n2,mailto:x\n3,de.example\n",
        ),
        (
            "queue.jsonl",
            "{\"id\":1,\"url\":\"de.example\"}\n{\"id\":2,\"url\":\"nl.example\"}\n",
        ),
        ("queue.txt", "de.example\nmailto:x\n"),
    ];
    let batch = |args: &[&str], env: Option<&str>, input: &str, output: &str| {
        let mut command = support::hostloc(&world, dns.addr());
        command
            .args(["batch", "-q"])
            .args(args)
            .arg(directory.path().join(input))
            .arg("-o")
            .arg(directory.path().join(output));
        if let Some(value) = env {
            command.env("HOSTLOC_BATCH_FORMAT", value);
        }
        let result = command.output().unwrap();
        assert!(
            result.status.success(),
            "{args:?} {input}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        std::fs::read_to_string(directory.path().join(output)).unwrap()
    };
    for (name, contents) in inputs {
        std::fs::write(directory.path().join(name), contents).unwrap();
        let extension = name.rsplit_once('.').unwrap().1;
        let expected = batch(
            &["--output-format", "iccam"],
            None,
            name,
            &format!("expected.{extension}"),
        );
        let by_flag = batch(
            &["--format", "iccam"],
            None,
            name,
            &format!("flag.{extension}"),
        );
        let by_env = batch(&[], Some("iccam"), name, &format!("env.{extension}"));
        let both = batch(
            &["--format", "iccam", "--output-format", "iccam"],
            None,
            name,
            &format!("both.{extension}"),
        );
        for (how, output) in [("--format", &by_flag), ("env", &by_env), ("both", &both)] {
            assert_eq!(output, &expected, "{name} by {how}");
        }
        match extension {
            "csv" => assert!(
                expected.starts_with("id,url,verdict,urlString,hostingCountryCode,")
                    && expected.contains("\n3,de.example,foreign,http://de.example/,DE,46.4.0.1,"),
                "{expected}"
            ),
            "jsonl" => {
                let rows = json_lines(expected.as_bytes());
                assert_eq!(rows[0]["id"], 1);
                assert_eq!(rows[0]["hostloc"]["iccam"]["hostingCountryCode"], "DE");
                assert_eq!(
                    rows[1]["hostloc"]["iccam"]["hostingIpAddress"],
                    "95.211.0.7"
                );
                assert_eq!(
                    rows[1]["hostloc"]["countries"],
                    Value::Null,
                    "the view only"
                );
            }
            _ => {
                let rows = json_lines(expected.as_bytes());
                assert_eq!(rows[0]["iccam"]["hostingCountryCode"], "DE");
                assert_eq!(
                    rows[1],
                    json!({"input": "mailto:x", "urlString": null,
                                           "verdict": "invalid", "iccam": null})
                );
            }
        }
    }

    // The shards of a `--format iccam` run merge with the same value.
    let shards: Vec<String> = (0..2)
        .map(|shard| {
            let name = format!("shard{shard}.csv");
            batch(
                &["--format", "iccam", "--shard", &format!("{shard}/2")],
                None,
                "queue.csv",
                &name,
            );
            name
        })
        .collect();
    let merged = support::hostloc_bare()
        .args(["batch", "merge", "--format", "iccam", "-o"])
        .arg(directory.path().join("merged.csv"))
        .args(shards.iter().map(|name| directory.path().join(name)))
        .output()
        .unwrap();
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(directory.path().join("merged.csv")).unwrap(),
        std::fs::read_to_string(directory.path().join("expected.csv")).unwrap()
    );

    // Asking for the whole result and the ICCAM view at once is refused, naming both.
    let conflict = support::hostloc(&world, dns.addr())
        .args(["batch", "--format", "iccam", "--output-format", "full"])
        .arg(directory.path().join("queue.csv"))
        .output()
        .unwrap();
    assert_eq!(conflict.status.code(), Some(2));
    let message = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        message.contains("--format iccam") && message.contains("--output-format full"),
        "{message}"
    );
}
