//! The analyst's page at `GET /`, end to end: a real headless Chromium (support/browser.rs)
//! against the real `hostloc serve` binary and the DNS server on loopback. Plus the page's
//! HTTP surface (headers, files) and the CSV answer of `POST /v1/lookup` it downloads, with a
//! plain HTTP client.
//!
//! Screenshots of the page, wide and narrow, are left in `target/tmp/page/`.

use std::net::Ipv4Addr;
use std::time::Duration;

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::support::browser::{Browser, Request};
use crate::support::serve::ServeProcess;
use crate::support::{self, Answer, TestDns, TestWorld};

/// The API tests' DNS world (a name for each verdict), with a name that does not exist and one
/// that answers late.
fn dns_world() -> TestDns {
    let dns = crate::http_api::dns_world();
    dns.set("gone.example.nl", Answer::NxDomain);
    // Answers late, so that the page is caught with a lookup in flight.
    dns.set(
        "slow.example.nl",
        Answer::Delay(
            Duration::from_secs(2),
            Box::new(Answer::Records {
                a: vec![Ipv4Addr::new(95, 211, 0, 3)],
                aaaa: Vec::new(),
                ttl: 300,
            }),
        ),
    );
    dns
}

/// One report of the mixed list and what its row must say.
struct Expected {
    input: &'static str,
    verdict: &'static str,
    badge: &'static str,
    host: Option<&'static str>,
}

const JUNK: &str = "\"><img src=x onerror=alert(1)>";

/// The mixed list of the issue, in order: a domestic IP, a foreign name, a CDN name, an
/// NXDOMAIN, a defanged URL, junk; and a partly domestic name, one that answers late, and a
/// `mailto:`.
const MIXED: [Expected; 9] = [
    Expected {
        input: "95.211.0.1",
        verdict: "domestic",
        badge: "domestic",
        host: Some("95.211.0.1"),
    },
    Expected {
        input: "http://foreign.example.com/gallery/1.jpg",
        verdict: "foreign",
        badge: "foreign",
        host: Some("foreign.example.com"),
    },
    Expected {
        input: "www.cdn-site.example/x.png",
        verdict: "behind_cdn",
        badge: "behind CDN",
        host: Some("www.cdn-site.example"),
    },
    Expected {
        input: "https://gone.example.nl/",
        verdict: "unresolved",
        badge: "unresolved",
        host: Some("gone.example.nl"),
    },
    Expected {
        input: "hxxps://files.example[.]nl/a.jpg",
        verdict: "domestic",
        badge: "domestic",
        host: Some("files.example.nl"),
    },
    Expected {
        input: JUNK,
        verdict: "invalid",
        badge: "invalid",
        host: None,
    },
    Expected {
        input: "'mixed.example.com/set?id=1'",
        verdict: "partly_domestic",
        badge: "partly domestic",
        host: Some("mixed.example.com"),
    },
    Expected {
        input: "slow.example.nl/late.jpg",
        verdict: "domestic",
        badge: "domestic",
        host: Some("slow.example.nl"),
    },
    Expected {
        input: "mailto:abuse@example.nl",
        verdict: "invalid",
        badge: "invalid",
        host: None,
    },
];

/// The action the row must state for `expected`. Foreign countries are named from the
/// result's `forward_to`, with the bundled hotline table: Germany's three hotlines, and the
/// United States' one, which the table knows only by its ICCAM id.
fn action_is_right(expected: &Expected, action: &str) -> bool {
    match expected.verdict {
        "domestic" => action == "refer to police",
        "foreign" => {
            action == "forward to eco (Internet-Beschwerdestelle), FSM or jugendschutz.net (DE)"
        }
        "behind_cdn" => action == "ask Cloudflare for the origin",
        "unresolved" => action == "cannot resolve — retry",
        "invalid" => action == "invalid",
        "partly_domestic" => {
            action == "refer to police; also forward to the hotline with ICCAM id 22 (US)"
        }
        other => unreachable!("no expectation for {other}"),
    }
}

/// `hostloc serve` on the test world with a DNS timeout roomy enough for the late name.
async fn serve(
    world: &TestWorld,
    dns: &TestDns,
    token: Option<&str>,
    extra: &[&str],
) -> ServeProcess {
    let mut command = support::hostloc_with_timeout(&world.paths(), dns.addr(), "5s");
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra);
    if let Some(token) = token {
        command.env("HOSTLOC_API_TOKEN", token);
    }
    ServeProcess::start(command).await
}

/// A browser showing the page at `address`.
async fn open_page(address: &str) -> Browser {
    let browser = Browser::start().await;
    browser.client.goto(address).await.expect("open the page");
    assert_eq!(
        browser.client.title().await.unwrap(),
        "hostloc: where is it hosted?"
    );
    browser
}

/// The rows of the results table as the analyst sees them.
async fn rows(browser: &Browser) -> Vec<Value> {
    let rows = browser
        .run(
            "return [...document.querySelectorAll('#rows tr.result')].map((row) => ({
                number: row.querySelector('td.number').textContent,
                input: row.querySelector('td.input').textContent,
                host: row.querySelector('td.host').textContent,
                verdict: row.dataset.verdict,
                badge: row.querySelector('.badge').textContent,
                action: row.querySelector('.action').textContent,
                countries: row.querySelector('td.countries').textContent,
                addresses: row.querySelector('td.addresses').textContent,
                reason: row.querySelector('td.reason').textContent,
            }));",
        )
        .await;
    rows.as_array().cloned().unwrap_or_default()
}

/// Whether the element `id` is displayed (not hidden by an attribute or a style).
async fn shown(browser: &Browser, id: &str) -> bool {
    browser
        .run(&format!("return {};", shown_js(id)))
        .await
        .as_bool()
        .unwrap_or_else(|| panic!("no element {id}"))
}

/// A script expression: whether the element `id` is displayed.
fn shown_js(id: &str) -> String {
    format!("document.getElementById('{id}').getClientRects().length > 0")
}

/// Waits until the status line `test`s (`startsWith`, `includes`) `text`.
async fn wait_for_status(browser: &Browser, test: &str, text: &str) {
    browser
        .wait_for(
            &format!("document.getElementById('status').textContent.{test}({text:?})"),
            &format!("the status line to say {text:?}"),
        )
        .await;
}

async fn status(browser: &Browser) -> String {
    browser
        .run("return document.getElementById('status').textContent;")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Nothing the page was given is kept in the browser: no storage, no cookie, and the page's
/// address is still the bare `/`.
async fn assert_nothing_kept(browser: &Browser, server: &ServeProcess) {
    let kept = browser
        .run(
            "return {
                local: Object.entries(localStorage),
                session: Object.entries(sessionStorage),
                cookie: document.cookie,
                address: location.href,
            };",
        )
        .await;
    assert_eq!(kept["local"], json!([]), "{kept}");
    assert_eq!(kept["session"], json!([]), "{kept}");
    assert_eq!(kept["cookie"], "", "{kept}");
    assert_eq!(kept["address"], server.url("/"), "{kept}");
    let databases = browser
        .run_async(
            "const done = arguments[arguments.length - 1];
             indexedDB.databases().then((list) => done(list.length), () => done(-1));",
        )
        .await;
    assert_eq!(databases, 0, "IndexedDB databases");
}

/// The page's whole flow on the mixed list: rows in order with badge and action, the summary,
/// the progress while a chunk is in flight, an expanded row's evidence, copying it, the CSV
/// download compared with `hostloc batch`, nothing kept, no request outside the service, and
/// screenshots wide and narrow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_looks_up_a_mixed_list_and_downloads_the_csv() {
    let world = TestWorld::new();
    let dns = dns_world();
    // Three URLs per request: the nine reports go in three chunks, the late one in the third.
    let server = serve(&world, &dns, None, &["--max-batch-urls", "3"]).await;
    let browser = open_page(&server.url("/")).await;
    browser
        .wait_for("document.getElementById('reports')", "the page")
        .await;

    // Paste the list and press Ctrl+Enter in the box.
    let reports = browser
        .client
        .find(Locator::Id("reports"))
        .await
        .expect("the report box");
    let list: Vec<&str> = MIXED.iter().map(|expected| expected.input).collect();
    reports.send_keys(&list.join("\n")).await.unwrap();
    let ctrl_enter: String = [char::from(Key::Control), char::from(Key::Enter)]
        .into_iter()
        .chain([char::from(Key::Null)])
        .collect();
    reports.send_keys(&ctrl_enter).await.unwrap();

    // While the late name is being looked up, the first chunks are on screen with the progress.
    let progress = browser
        .wait_for(
            &format!(
                "{} && document.querySelectorAll('#rows tr.result').length === 6
                 && document.getElementById('progress-text').textContent",
                shown_js("progress-box")
            ),
            "the progress after two chunks",
        )
        .await;
    assert_eq!(progress, "Looking up: 6 of 9");
    wait_for_status(&browser, "startsWith", "Done").await;
    assert_eq!(status(&browser).await, "Done: 9 reports looked up.");
    assert!(!shown(&browser, "progress-box").await);
    assert!(!shown(&browser, "token-box").await);

    // One row per report, in order, each with its badge, its action in words, host and reason.
    let rows = rows(&browser).await;
    assert_eq!(rows.len(), MIXED.len(), "{rows:#?}");
    for (index, (row, expected)) in rows.iter().zip(&MIXED).enumerate() {
        assert_eq!(row["number"], (index + 1).to_string(), "{row}");
        assert_eq!(row["input"], expected.input, "{row}");
        assert_eq!(row["verdict"], expected.verdict, "{row}");
        assert_eq!(row["badge"], expected.badge, "{row}");
        let action = row["action"].as_str().unwrap();
        assert!(
            action_is_right(expected, action),
            "{}: action {action:?}",
            expected.input
        );
        assert_eq!(row["host"], expected.host.unwrap_or("—"), "{row}");
        assert!(!row["reason"].as_str().unwrap().is_empty(), "{row}");
    }
    assert_eq!(rows[1]["countries"], "DE");
    assert!(
        rows[0]["addresses"]
            .as_str()
            .unwrap()
            .contains("95.211.0.1 · NL · AS60781 LeaseWeb Netherlands B.V."),
        "{}",
        rows[0]
    );
    assert!(
        rows[2]["addresses"]
            .as_str()
            .unwrap()
            .contains("CDN: Cloudflare"),
        "{}",
        rows[2]
    );
    assert!(
        rows[3]["reason"].as_str().unwrap().contains("NXDOMAIN")
            || rows[3]["reason"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("does not exist"),
        "{}",
        rows[3]
    );

    // The summary counts the verdicts, each with its word.
    let summary = browser
        .run("return document.getElementById('summary').textContent;")
        .await;
    assert_eq!(
        summary,
        "9 reports:domestic3partly domestic1foreign1behind CDN1unresolved1invalid2"
    );

    // Nothing from a result became markup or a link: the junk is text, the URLs are not links.
    let markup = browser
        .run(
            "return {
                links: document.querySelectorAll('#results a, #results [href]').length,
                images: document.querySelectorAll('img').length,
            };",
        )
        .await;
    assert_eq!(markup, json!({ "links": 0, "images": 0 }));

    // Expand the CDN row's evidence with the keyboard: focus its "Show" button, press Enter.
    let show = browser
        .client
        .find(Locator::Css("#rows tr.result[data-number='3'] button.show"))
        .await
        .expect("the Show button of row 3");
    assert_eq!(show.attr("aria-expanded").await.unwrap().unwrap(), "false");
    browser
        .run("document.querySelector('#rows tr.result[data-number=\"3\"] button.show').focus();")
        .await;
    show.send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    assert_eq!(show.attr("aria-expanded").await.unwrap().unwrap(), "true");
    let evidence = browser
        .wait_for(
            &format!(
                "{} && document.querySelector('#evidence-3 pre').innerText",
                shown_js("evidence-3")
            ),
            "the evidence of row 3",
        )
        .await;
    let evidence = evidence.as_str().unwrap().to_owned();
    for expected in [
        "hostloc evidence record\n",
        "\nreported       www.cdn-site.example/x.png\n",
        "\nverdict        behind_cdn: ",
        "\ncname chain    site.cdn.cloudflare.net\n",
        "\naddress 1      104.16.0.1 (public)\n",
        "\n  cdn          Cloudflare (matched by ",
        "\ndatabase       country (primary) country: GeoIP2-Country, built 2026-06-01T00:00:00Z, file country.mmdb, sha256 ",
    ] {
        assert!(
            evidence.contains(expected),
            "{expected:?} not in\n{evidence}"
        );
    }

    // Every row's evidence is the server's record of that very lookup: what
    // `GET /v1/lookup?format=evidence` answers for the same report, but for the two facts a
    // second lookup cannot repeat.
    let records = browser
        .run("return [...document.querySelectorAll('#rows tr.evidence pre')].map((pre) => pre.textContent);")
        .await;
    let records: Vec<String> = serde_json::from_value(records).unwrap();
    assert_eq!(records.len(), MIXED.len());
    for (record, expected) in records.iter().zip(&MIXED) {
        assert_same_record(record, &server_evidence(&server, expected.input).await);
    }

    // "Copy evidence" puts exactly that record on the clipboard.
    browser.grant("clipboard-read").await;
    browser.grant("clipboard-write").await;
    browser
        .click("#rows tr.result[data-number='3'] button.copy")
        .await;
    wait_for_status(&browser, "includes", "on the clipboard").await;
    let clipboard = browser
        .run_async(
            "const done = arguments[arguments.length - 1];
             navigator.clipboard.readText().then(done, (error) => done('error: ' + error));",
        )
        .await;
    assert_eq!(clipboard.as_str().unwrap(), records[2]);
    assert_eq!(records[2].trim_end(), evidence.trim_end());

    browser.screenshot("page-wide", 1400).await;

    // Download the CSV and compare it with `hostloc batch` on the same list.
    browser.click("#download").await;
    let downloaded = browser.downloaded("hostloc-").await;
    assert!(
        downloaded.to_string_lossy().ends_with(".csv"),
        "{downloaded:?}"
    );
    let downloaded = std::fs::read_to_string(&downloaded).unwrap();
    let batch = batch_csv(&world, &dns, &list);
    assert_same_csv(&downloaded, &batch, MIXED.len());
    wait_for_status(&browser, "startsWith", "Downloaded").await;

    assert_nothing_kept(&browser, &server).await;

    // Every request the page made went to this server: the page, its files and the API. (The
    // browser's own start page, before the page was opened, loads `chrome://` files.)
    let origin = server.url("");
    let requests = browser.requests().await;
    let from_page: Vec<&Request> = requests
        .iter()
        .filter(|request| request.document.starts_with(&format!("{origin}/")))
        .collect();
    let outside = |request: &Request| {
        !(request.url.starts_with(&format!("{origin}/"))
            || request.url.starts_with(&format!("blob:{origin}/")))
    };
    let outside_page: Vec<&&Request> = from_page
        .iter()
        .filter(|request| outside(request))
        .collect();
    assert!(
        outside_page.is_empty(),
        "requests outside the service: {outside_page:?}"
    );
    let to_network: Vec<&Request> = requests
        .iter()
        .filter(|request| {
            ["http:", "https:", "ws:", "wss:"]
                .iter()
                .any(|scheme| request.url.starts_with(scheme))
        })
        .filter(|request| outside(request))
        .collect();
    assert!(
        to_network.is_empty(),
        "network requests elsewhere: {to_network:?}"
    );
    let count = |method: &str, path: &str| {
        from_page
            .iter()
            .filter(|request| request.method == method && request.url == format!("{origin}{path}"))
            .count()
    };
    assert_eq!(count("GET", "/"), 1, "{from_page:?}");
    assert_eq!(count("GET", "/page.js"), 1, "{from_page:?}");
    assert_eq!(count("GET", "/page.css"), 1, "{from_page:?}");
    // Three chunks of JSON with their evidence records, then three of CSV.
    assert_eq!(
        count("POST", "/v1/lookup?evidence=true"),
        3,
        "{from_page:?}"
    );
    assert_eq!(count("POST", "/v1/lookup?format=csv"), 3, "{from_page:?}");

    // No script error and no Content-Security-Policy violation on the way.
    let problems: Vec<Value> = browser
        .log("browser")
        .await
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
        .collect();
    assert!(problems.is_empty(), "browser console: {problems:#?}");

    // A narrow window: the rows become labelled cards, and nothing needs sideways scrolling.
    browser.screenshot("page-narrow", 420).await;
    let narrow = browser
        .run(
            "const row = document.querySelector('#rows tr.result');
             const cell = row.querySelector('td.verdict');
             return {
                 display: getComputedStyle(row).display,
                 label: getComputedStyle(cell, '::before').content,
                 overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
             };",
        )
        .await;
    assert_eq!(narrow["display"], "block", "{narrow}");
    assert_eq!(narrow["label"], "\"Verdict and action\"", "{narrow}");
    assert_eq!(narrow["overflow"], 0, "{narrow}");

    browser.close().await;
}

/// With an API token set, the page asks for it after the first 401, keeps it in memory only,
/// says when it is wrong, uses it for the lookups and the CSV, and forgets it on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_asks_for_the_api_token_and_keeps_it_in_memory_only() {
    const TOKEN: &str = "open-sesame-4711";
    let world = TestWorld::new();
    let dns = dns_world();
    let server = serve(&world, &dns, Some(TOKEN), &[]).await;
    let browser = open_page(&server.url("/")).await;
    assert!(!shown(&browser, "token-box").await);

    let reports = browser.client.find(Locator::Id("reports")).await.unwrap();
    reports
        .send_keys("hxxps://files.example[.]nl/a.jpg")
        .await
        .unwrap();
    let look_up = browser.client.find(Locator::Id("lookup")).await.unwrap();
    look_up.click().await.unwrap();
    browser
        .wait_for(&shown_js("token-box"), "the token field")
        .await;
    assert_eq!(
        status(&browser).await,
        "This server needs its API token: enter it above and press Look up."
    );
    assert_eq!(
        browser.run("return document.activeElement.id;").await,
        "token",
        "the token field has the focus"
    );
    assert!(rows(&browser).await.is_empty());

    // A wrong token is refused and asked for again; Enter in the field looks up.
    let token = browser.client.find(Locator::Id("token")).await.unwrap();
    token
        .send_keys(&format!("wrong-token{}", char::from(Key::Enter)))
        .await
        .unwrap();
    wait_for_status(&browser, "includes", "not accepted").await;
    assert!(rows(&browser).await.is_empty());

    // The right one.
    token
        .send_keys(&format!("{TOKEN}{}", char::from(Key::Enter)))
        .await
        .unwrap();
    wait_for_status(&browser, "startsWith", "Done").await;
    let rows_now = rows(&browser).await;
    assert_eq!(rows_now.len(), 1);
    assert_eq!(rows_now[0]["verdict"], "domestic");
    let state = browser
        .run(
            "return {
                field: document.getElementById('token').value,
                forget: !document.getElementById('forget-token').hidden,
            };",
        )
        .await;
    assert_eq!(state, json!({ "field": "", "forget": true }));

    // The CSV download carries the token too.
    browser.click("#download").await;
    let csv = std::fs::read_to_string(browser.downloaded("hostloc-").await).unwrap();
    assert!(
        csv.starts_with("url,verdict,")
            && csv.contains("hxxps://files.example[.]nl/a.jpg,domestic,"),
        "{csv}"
    );

    // The token is in no storage, no cookie, not in the page's markup or address.
    assert_nothing_kept(&browser, &server).await;
    let markup = browser
        .run("return document.documentElement.outerHTML;")
        .await;
    assert!(!markup.as_str().unwrap().contains(TOKEN));

    // Forgotten, it is asked for again.
    browser.click("#forget-token").await;
    look_up.click().await.unwrap();
    wait_for_status(&browser, "includes", "needs its API token").await;

    browser.close().await;
}

/// A chunk that fails (here: the late name outlasts `--request-timeout`) stops the lookup with a
/// message saying how far it got and why; the rows so far stay, and the CSV of an incomplete
/// list cannot be downloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_chunk_stops_the_lookup_and_says_how_far_it_got() {
    let world = TestWorld::new();
    let dns = dns_world();
    let server = serve(
        &world,
        &dns,
        None,
        &["--max-batch-urls", "2", "--request-timeout", "500ms"],
    )
    .await;
    let browser = open_page(&server.url("/")).await;
    let reports = browser.client.find(Locator::Id("reports")).await.unwrap();
    reports
        .send_keys("95.211.0.1\nforeign.example.com\nslow.example.nl\nmailto:x")
        .await
        .unwrap();
    browser.click("#lookup").await;
    wait_for_status(&browser, "startsWith", "Stopped").await;
    assert_eq!(
        status(&browser).await,
        "Stopped after 2 of 4 reports: the request did not finish within 500ms \
         (--request-timeout). Press the button again to retry."
    );
    let rows = rows(&browser).await;
    let verdicts: Vec<&str> = rows
        .iter()
        .map(|row| row["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["domestic", "foreign"]);
    let controls = browser
        .run(
            "return {
                download: document.getElementById('download').disabled,
                lookup: document.getElementById('lookup').disabled,
                problem: document.getElementById('status').classList.contains('problem'),
            };",
        )
        .await;
    assert_eq!(
        controls,
        json!({ "download": true, "lookup": false, "problem": true })
    );
    assert!(!shown(&browser, "progress-box").await);
    browser.close().await;
}

/// A hosting country without an INHOPE member hotline: the action says so, and the row's
/// evidence is the server's record with the note of `forward_to` and the `forward to` line
/// for each country; for the foreign name the hotlines come from the bundled table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_words_forward_to_and_shows_the_servers_evidence() {
    let world = TestWorld::new();
    let dns = dns_world();
    dns.set(
        "cn.example.com",
        crate::support::dns::a_records(&[[1, 0, 1, 1]]),
    );
    let server = serve(&world, &dns, None, &[]).await;
    let browser = open_page(&server.url("/")).await;
    let list = [
        "http://foreign.example.com/gallery/1.jpg",
        "cn.example.com/x",
        "95.211.0.1",
    ];
    let reports = browser.client.find(Locator::Id("reports")).await.unwrap();
    reports.send_keys(&list.join("\n")).await.unwrap();
    browser.click("#lookup").await;
    wait_for_status(&browser, "startsWith", "Done").await;
    let rows = rows(&browser).await;
    let actions: Vec<&str> = rows
        .iter()
        .map(|row| row["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "forward to eco (Internet-Beschwerdestelle), FSM or jugendschutz.net (DE)",
            "no hotline to forward to in CN",
            "refer to police",
        ]
    );

    browser
        .click("#rows tr.result[data-number='2'] button.show")
        .await;
    let evidence = browser
        .wait_for(
            &format!(
                "{} && document.querySelector('#evidence-2 pre').textContent",
                shown_js("evidence-2")
            ),
            "the evidence of row 2",
        )
        .await;
    let evidence = evidence.as_str().unwrap();
    assert!(
        evidence.contains(
            "\nforward to     CN: no INHOPE member hotline in CN; report to the hosting provider \
             and CN's police through the usual channels\n"
        ),
        "{evidence}"
    );
    assert_same_record(evidence, &server_evidence(&server, list[1]).await);
    let first = browser
        .run("return document.querySelector('#evidence-1 pre').textContent;")
        .await;
    let first = first.as_str().unwrap();
    assert!(
        first.contains("\nforward to     DE: eco (Internet-Beschwerdestelle) (https://"),
        "{first}"
    );
    assert_same_record(first, &server_evidence(&server, list[0]).await);
    // The hotlines' websites are text, not links.
    assert_eq!(
        browser
            .run("return document.querySelectorAll('a').length;")
            .await,
        0
    );
    browser.close().await;
}

/// `GET /v1/lookup?url=REPORT&format=evidence` of `server`: its evidence record of `report`.
async fn server_evidence(server: &ServeProcess, report: &str) -> String {
    let response = client()
        .get(server.url("/v1/lookup"))
        .query(&[("url", report), ("format", "evidence")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The page's evidence record and the server's for the same report are the same text, but
/// for what a second lookup cannot repeat: the moment of the lookup, and whether the DNS answer
/// was asked for or came from hostloc's cache, and how old it was there (when it was answered
/// must be the same).
fn assert_same_record(page: &str, server: &str) {
    let repeatable = |record: &str| -> String {
        record
            .split_inclusive('\n')
            .filter(|line| !line.starts_with("dns cache age "))
            .map(|line| {
                if line.starts_with("looked up at ") {
                    "looked up at   <the lookup's time>\n".to_owned()
                } else if line.starts_with("dns ") {
                    line.replace("(from hostloc's cache)", "(<asked or cached>)")
                        .replace("(asked for this lookup)", "(<asked or cached>)")
                } else {
                    line.to_owned()
                }
            })
            .collect()
    };
    assert!(page.starts_with("hostloc evidence record\n"), "{page}");
    assert_eq!(repeatable(page), repeatable(server));
}

/// `hostloc batch` on a CSV of the one column `url` holding `list`: its output.
fn batch_csv(world: &TestWorld, dns: &TestDns, list: &[&str]) -> String {
    let directory = tempfile::tempdir().unwrap();
    let input = directory.path().join("reports.csv");
    let output = directory.path().join("reports.enriched.csv");
    let mut writer = csv::Writer::from_path(&input).unwrap();
    writer.write_record(["url"]).unwrap();
    for url in list {
        writer.write_record([url]).unwrap();
    }
    writer.flush().unwrap();
    let result = support::hostloc_with_timeout(&world.paths(), dns.addr(), "5s")
        .arg("batch")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .output()
        .expect("hostloc batch runs");
    assert!(result.status.success(), "{result:?}");
    std::fs::read_to_string(output).unwrap()
}

/// The two CSV texts have the same header and the same `rows` records, but for
/// `looked_up_at`.
fn assert_same_csv(page: &str, batch: &str, rows: usize) {
    let header = |text: &str| text.lines().next().unwrap_or_default().to_owned();
    assert_eq!(header(page), header(batch));
    let records = |text: &str| -> Vec<Vec<String>> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let stamp = reader
            .headers()
            .unwrap()
            .iter()
            .position(|name| name == "looked_up_at")
            .expect("a looked_up_at column");
        reader
            .records()
            .map(|record| {
                let record = record.unwrap();
                record
                    .iter()
                    .enumerate()
                    .map(|(index, field)| {
                        if index == stamp {
                            assert!(field.ends_with('Z'), "{field}");
                            String::new()
                        } else {
                            field.to_owned()
                        }
                    })
                    .collect()
            })
            .collect()
    };
    let (page_records, batch_records) = (records(page), records(batch));
    assert_eq!(page_records.len(), rows);
    assert_eq!(page_records, batch_records);
}

// ---------------------------------------------------------------------------------------------
// The page's HTTP surface and the CSV answer, without a browser

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// Every page file comes with its type and the security headers, without a token even when
/// one is set; the HTML carries the server's limits and jurisdiction.
#[tokio::test]
async fn the_page_files_carry_a_strict_content_security_policy() {
    let world = TestWorld::new();
    let dns = dns_world();
    let server = serve(
        &world,
        &dns,
        Some("a-token"),
        &["--max-batch-urls", "250", "--concurrency", "8"],
    )
    .await;
    let client = client();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/page.js", "text/javascript; charset=utf-8"),
        ("/page.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(
            headers["content-security-policy"],
            hostloc::http::CONTENT_SECURITY_POLICY,
            "{path}"
        );
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
            ("cross-origin-opener-policy", "same-origin"),
        ] {
            assert_eq!(headers[name], value, "{path} {name}");
        }
        let policy = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(policy.contains(directive), "{directive}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{path}");
        if path == "/" {
            assert!(
                body.contains(
                    "data-max-batch-urls=\"250\" data-max-body-bytes=\"1048576\" \
                     data-concurrency=\"8\" data-jurisdiction=\"NL\""
                ),
                "{body}"
            );
            assert!(!body.contains("{{"), "an unfilled placeholder: {body}");
        }
    }
    // The API the page calls is still guarded.
    let response = client
        .post(server.url("/v1/lookup"))
        .json(&json!({ "urls": ["95.211.0.1"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// `POST /v1/lookup` answers CSV for `format=csv` and for `Accept: text/csv`: the bytes
/// `hostloc batch` writes for the same URLs in a one-column CSV, timestamps aside.
#[tokio::test]
async fn the_lookup_api_answers_the_batch_csv_when_asked() {
    let world = TestWorld::new();
    let dns = dns_world();
    let server = serve(&world, &dns, None, &[]).await;
    let client = client();
    let list = [
        "95.211.0.1",
        "hxxps://files.example[.]nl/a.jpg",
        "www.cdn-site.example",
        "gone.example.nl",
        "not, a \"url\"",
        "mailto:x",
    ];
    let post = |path: &str, accept: &str| {
        client
            .post(server.url(path))
            .header("accept", accept)
            .json(&json!({ "urls": list }))
            .send()
    };
    let by_query = post("/v1/lookup?format=csv", "*/*").await.unwrap();
    assert_eq!(by_query.status(), 200);
    assert_eq!(
        by_query.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        by_query.headers()["content-disposition"],
        "attachment; filename=\"hostloc.csv\""
    );
    let by_query = by_query.text().await.unwrap();
    let by_accept = post("/v1/lookup", "text/html;q=0.9, text/csv")
        .await
        .unwrap();
    assert_eq!(
        by_accept.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let by_accept = by_accept.text().await.unwrap();

    let batch = batch_csv(&world, &dns, &list);
    assert_same_csv(&by_query, &batch, list.len());
    assert_same_csv(&by_accept, &batch, list.len());
    assert_eq!(by_query.lines().count(), list.len() + 1);
    assert!(by_query.ends_with('\n'));

    // JSON stays the default, and an unknown format is a 400 naming the choices.
    let json_answer = post("/v1/lookup", "*/*").await.unwrap();
    assert_eq!(json_answer.headers()["content-type"], "application/json");
    let results: Value = json_answer.json().await.unwrap();
    assert_eq!(results["results"].as_array().unwrap().len(), list.len());
    // The OpenAPI document says so.
    let document: Value = client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operation = &document["paths"]["/v1/lookup"]["post"];
    let answers = &operation["responses"]["200"]["content"];
    assert!(answers["application/json"].is_object(), "{operation}");
    assert!(answers["text/csv"].is_object(), "{operation}");
    let format = &operation["parameters"][0];
    assert_eq!(format["name"], "format", "{operation}");
    assert_eq!(
        format["schema"]["enum"],
        json!(["json", "csv"]),
        "{operation}"
    );
    let unknown = post("/v1/lookup?format=xml", "text/csv").await.unwrap();
    assert_eq!(unknown.status(), 400);
    let message: Value = unknown.json().await.unwrap();
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("`json` or `csv`"),
        "{message}"
    );
}

/// `POST /v1/lookup?evidence=true`, which the page calls: beside each result its evidence
/// record, written from that same result (its time, verdict and reason), the text
/// `GET /v1/lookup?format=evidence` answers; none without the parameter, and a 400 naming the
/// problem when asked for with CSV.
#[tokio::test]
async fn the_lookup_api_gives_each_results_evidence_record_when_asked() {
    let world = TestWorld::new();
    let dns = dns_world();
    let server = serve(&world, &dns, None, &[]).await;
    let client = client();
    let list = [
        "95.211.0.1",
        "hxxps://files.example[.]nl/a.jpg",
        "www.cdn-site.example",
        "gone.example.nl",
        JUNK,
    ];
    let post = |path: &str| {
        client
            .post(server.url(path))
            .json(&json!({ "urls": list }))
            .send()
    };
    let answer: Value = post("/v1/lookup?evidence=true")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results = answer["results"].as_array().unwrap();
    let records = answer["evidence"].as_array().unwrap();
    assert_eq!((results.len(), records.len()), (list.len(), list.len()));
    for ((result, record), report) in results.iter().zip(records).zip(list) {
        let record = record.as_str().unwrap();
        for line in [
            format!(
                "looked up at   {}\n",
                result["looked_up_at"].as_str().unwrap()
            ),
            format!("verdict        {}: ", result["verdict"].as_str().unwrap()),
            format!("reason         {}\n", result["reason"].as_str().unwrap()),
        ] {
            assert!(record.contains(&line), "{line:?} not in\n{record}");
        }
        assert_same_record(record, &server_evidence(&server, report).await);
    }

    let plain: Value = post("/v1/lookup").await.unwrap().json().await.unwrap();
    assert_eq!(plain["evidence"], Value::Null, "{plain}");
    assert_eq!(plain["results"].as_array().unwrap().len(), list.len());

    // In CSV, the records are a last column, one per row, each the record of that row's result.
    let csv_answer = post("/v1/lookup?format=csv&evidence=true").await.unwrap();
    assert_eq!(csv_answer.status(), 200);
    let text = csv_answer.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.iter().next_back(), Some("evidence"), "{header:?}");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), list.len());
    let column = |name: &str| header.iter().position(|c| c == name).unwrap();
    for (row, report) in rows.iter().zip(list) {
        let record = &row[header.len() - 1];
        assert!(
            record.starts_with("hostloc evidence record\n")
                && record.contains(&format!("reported       {report}\n"))
                && record.contains(&format!("verdict        {}: ", &row[column("verdict")])),
            "{report}: {record}"
        );
    }
}
