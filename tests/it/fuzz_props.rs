//! Short proptest versions of the fuzz targets in `fuzz/` (same checks, from
//! `fuzz/src/lib.rs`), plus every input the fuzzers found a problem with, kept as regression
//! cases. The long runs are `cargo +nightly fuzz run http_request` / `batch_rows`
//! (docs/proofs.md).

use std::sync::LazyLock;

use proptest::prelude::*;

#[path = "../../fuzz/src/lib.rs"]
#[allow(unreachable_pub, dead_code)] // A library of the fuzz crate, included as a module.
mod harness;

use harness::{BatchHarness, HttpHarness};

static HTTP: LazyLock<HttpHarness> = LazyLock::new(HttpHarness::new);
static BATCH: LazyLock<BatchHarness> = LazyLock::new(BatchHarness::new);

/// Text that looks like the reports, URLs and JSON a client sends, junk included.
fn reportish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.:/%\\[\\]()@\\\\ -]{0,40}",
        "(hxxps?|https?|ftp|mailto)(://|\\[:\\]//|:)[a-z0-9.\\[\\]]{0,20}(/[a-z0-9%]{0,8})?",
        "[0-9.x]{0,20}",
        "\\PC{0,16}",
        "%[0-9A-Fa-fzZ%]{0,6}",
    ]
}

/// A query string of `GET /v1/lookup`, or a body of `POST /v1/lookup`.
fn http_input() -> impl Strategy<Value = Vec<u8>> {
    let query = prop::collection::vec((reportish(), reportish()), 0..4).prop_map(|pairs| {
        let pairs: Vec<String> = pairs
            .into_iter()
            .enumerate()
            .map(|(index, (key, value))| {
                let key = if index == 0 { "url".to_owned() } else { key };
                format!("{key}={value}")
            })
            .collect();
        [&[0_u8][..], pairs.join("&").as_bytes()].concat()
    });
    let body = prop::collection::vec(reportish(), 0..6).prop_map(|urls| {
        let body = serde_json::json!({ "urls": urls }).to_string();
        [&[1_u8][..], body.as_bytes()].concat()
    });
    let junk = prop::collection::vec(any::<u8>(), 0..200);
    prop_oneof![query, body, junk]
}

/// Rows of a CSV or lines of a JSONL file, quotes, separators and broken bytes included.
fn batch_input() -> impl Strategy<Value = Vec<u8>> {
    let csv_rows = prop::collection::vec(
        prop::collection::vec(
            prop_oneof![reportish(), "\"[a-z,\"\r\n]{0,8}\"?", "[;,\r\n\"]{0,3}"],
            0..5,
        ),
        0..6,
    )
    .prop_map(|rows| {
        let text: Vec<String> = rows.into_iter().map(|row| row.join(",")).collect();
        [&[0_u8][..], text.join("\n").as_bytes()].concat()
    });
    let json_lines = prop::collection::vec(
        prop_oneof![
            reportish().prop_map(|url| serde_json::json!({ "url": url }).to_string()),
            reportish().prop_map(|url| format!("{{\"hostloc\":1, \"url\" : {url:?}}}  ")),
            reportish(),
            "\\{[a-z\":,\\[\\]{}]{0,16}\\}?",
        ],
        0..6,
    )
    .prop_map(|lines| [&[2_u8][..], lines.join("\n").as_bytes()].concat());
    let junk = prop::collection::vec(any::<u8>(), 0..200);
    prop_oneof![csv_rows, json_lines, junk]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn http_requests_are_answered_as_documented(data in http_input()) {
        HTTP.check(&data);
    }

    #[test]
    fn batch_rows_come_out_once_in_order_unchanged(data in batch_input()) {
        BATCH.check(&data);
    }
}

/// Inputs the fuzzers or these properties found a problem with (none so far beyond the
/// seeds below, which pin the corners the targets were written for).
#[test]
fn regressions() {
    let http: [&[u8]; 5] = [
        b"\x00url=%FF%FE",
        b"\x00url=a&url=b",
        b"\x00",
        b"\x01{\"urls\":[\"a\",\"a\"],\"urls\":[]}",
        b"\x01{\"urls\":[\"\\ud800\"]}",
    ];
    for data in http {
        HTTP.check(data);
    }
    let batch: [&[u8]; 8] = [
        b"\x001,\"a.nl\n",
        b"\x01\xef\xbb\xbfurl\r\na.nl\r\n\r\n",
        b"\x01url\n\"",
        b"\x02{\"url\":\"a.nl\"}\r\n\n{}",
        b"\x02\xef\xbb\xbf{\"hostloc\":{},\"hostloc\":2}",
        b"\x02\xff{\"url\":1}",
        // cargo fuzz run batch_rows, 2026-12-02: a file that starts like a JPEG is refused as
        // not text, which the harness took for a failed run.
        b"\xb2\xff\xd8\xff",
        b"\x02%PDF-1.7\n{\"url\":\"a.nl\"}\n",
    ];
    for data in batch {
        BATCH.check(data);
    }
}
