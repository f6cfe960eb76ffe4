//! Conformance of intake against test data this project did not write: the WHATWG URL
//! standard's own test suite (`tests/data/whatwg/`) and the refang test suite of ioc-fanger
//! (`tests/data/refang/`); sources, versions and licences are in the READMEs there.
//!
//! Each case ends in one category, and the counts are printed. A case may be refused (`invalid`,
//! counted by reason) where the standard or the refanger finds a host, and the categories of
//! failure entries that intake repairs are listed with the reason it may; but intake must never
//! give a host other than the expected one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hostloc::intake::parse_report;
use serde_json::Value;
use url::Url;

fn data(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A host as intake shows it: IPv6 without brackets, no trailing dot.
fn plain_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// What intake made of `input`: `Ok(host)` or `Err(reason kind)`.
fn intake(input: &str) -> Result<String, &'static str> {
    parse_report(input)
        .map(|target| target.host.to_display_string())
        .map_err(|error| error.kind())
}

/// Counts per category, and the cases where intake picked another host.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, usize>,
    wrong: Vec<String>,
}

impl Tally {
    fn count(&mut self, category: String) {
        *self.counts.entry(category).or_default() += 1;
    }

    /// Compares intake's answer for `input` with the `expected` host (`None`: no host).
    fn compare(&mut self, input: &str, expected: Option<&str>) {
        match (intake(input), expected) {
            (Ok(host), Some(expected)) if host == expected => self.count("same host".into()),
            (Err(kind), Some(_)) => {
                self.count(format!("refused where a host was expected: {kind}"))
            }
            (Err(kind), None) => self.count(format!("no host, refused: {kind}")),
            (Ok(host), expected) => self.wrong.push(format!(
                "{input:?}: intake gives {host:?}, expected {expected:?}"
            )),
        }
    }

    fn report(&self, suite: &str) {
        println!("{suite}:");
        for (category, count) in &self.counts {
            println!("  {count:5}  {category}");
        }
        println!("  {:5}  WRONG HOST", self.wrong.len());
        assert!(
            self.wrong.is_empty(),
            "{suite}: intake picked another host:\n{}",
            self.wrong.join("\n")
        );
    }
}

/// Whether `input` is an absolute URL with an authority in a special network scheme, after
/// what the WHATWG parser strips (so that a base URL, if the entry has one, plays no part).
fn absolute_http(input: &str) -> bool {
    let cleaned: String = input
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect::<String>()
        .to_ascii_lowercase();
    ["http://", "https://", "http:\\\\", "https:\\\\"]
        .iter()
        .any(|prefix| cleaned.starts_with(prefix))
}

#[test]
fn whatwg_url_test_data() {
    let entries: Vec<Value> = serde_json::from_str(&data("whatwg/urltestdata.json")).unwrap();
    let mut successes = Tally::default();
    let mut failures = Tally::default();
    for entry in entries.iter().filter(|entry| entry.is_object()) {
        let input = entry["input"].as_str().unwrap();
        let failure = entry["failure"].as_bool() == Some(true);
        if failure {
            let category = failure_category(entry);
            match intake(input) {
                Err(kind) => failures.count(format!("refused: {kind}")),
                Ok(host) => match category {
                    Some(category) => failures.count(format!("repaired: {category}")),
                    None => failures.wrong.push(format!(
                        "{input:?}: the standard refuses it, intake gives {host:?} for no listed reason"
                    )),
                },
            }
            continue;
        }
        let protocol = entry["protocol"].as_str().unwrap_or_default();
        if !matches!(protocol, "http:" | "https:")
            || !(entry["base"].is_null() || absolute_http(input))
        {
            continue;
        }
        let expected = plain_host(entry["hostname"].as_str().unwrap());
        successes.compare(input, Some(&expected));
    }
    successes.report("WHATWG urltestdata.json, absolute http(s) URLs");
    failures.report("WHATWG urltestdata.json, failure entries");
}

/// Why intake may find a host where the standard fails, for the classes of failure entry it
/// repairs on purpose; `None` for any other.
fn failure_category(entry: &Value) -> Option<&'static str> {
    let input = entry["input"].as_str().unwrap_or_default();
    let has_scheme = input
        .split_once(':')
        .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains(['/', '.']));
    // `test-a-colon.html` against the base `a:`: the standard fails because that base cannot
    // take a relative reference. A report has no base: a text without a scheme is read as a
    // host and path, as `example.nl/a.jpg` is.
    (!entry["base"].is_null() && !has_scheme)
        .then_some("no scheme, so read as host and path (the standard fails on its base URL)")
}

/// Refangers that read bare words (`fooATbar.com` as `foo@bar.com`, `fooDOTcom`, `bad-dot-com`)
/// guess: real names contain these letters (ioc-fanger's own issue 112 is about `www.mdot.…`).
/// Intake reads such text as written, so the expected host is the written one.
fn bare_word_defang(defanged: &str) -> bool {
    let outside_brackets = !defanged.contains(['[', '(', '{']);
    outside_brackets
        && (["AT", "ET", "DOT"]
            .iter()
            .any(|word| defanged.contains(word))
            || defanged.to_ascii_lowercase().contains("-dot-"))
}

/// The host the refanged text names, read as the WHATWG parser reads it (with `http://` in
/// front when it has no scheme), or `None`.
fn refanged_host(fanged: &str) -> Option<String> {
    let url = if fanged.contains("://") {
        Url::parse(fanged).ok()?
    } else {
        Url::parse(&format!("http://{fanged}")).ok()?
    };
    url.host_str()
        .filter(|host| !host.is_empty())
        .map(plain_host)
}

#[test]
fn ioc_fanger_refang_suite() {
    let mut tally = Tally::default();
    for line in data("refang/ioc-fanger-5.1.1.jsonl").lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let (defanged, fanged) = (
            case["defanged"].as_str().unwrap(),
            case["fanged"].as_str().unwrap(),
        );
        if bare_word_defang(defanged)
            && intake(defanged).is_ok()
            && refanged_host(fanged) != refanged_host(defanged)
        {
            assert_eq!(
                intake(defanged).ok(),
                refanged_host(defanged),
                "{defanged:?}"
            );
            tally.count("read as written: a bare-word defang (AT, DOT, -dot-) is a guess".into());
            continue;
        }
        tally.compare(defanged, refanged_host(fanged).as_deref());
    }
    tally.report("ioc-fanger 5.1.1 refang tests");
}
