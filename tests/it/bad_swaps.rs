//! A database replaced badly while `hostloc serve --watch-interval` runs: truncated mid-write,
//! replaced by a directory, by a database of the wrong kind, or overwritten in place with a
//! copy. The server keeps answering from the data it has, says why in its log, `/readyz` and
//! `/metrics`, and picks up the next good file.

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::mmdb::{WORLD, WorldRow, geoip2_country, write_db};
use crate::support::serve::{Child, lookup_path, metric};
use crate::support::{self, Answer, TestDns, TestWorld, replace_file};

/// Asks the server until `done` holds for `/readyz`, or fails after 10 s.
async fn until_ready_says(child: &Child, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = child.get("/readyz").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        if done(&reply.json) {
            return reply.json;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never said {what}: {}",
            reply.json
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn failing(child: &Child) -> f64 {
    metric(
        &child.get("/metrics").await.text,
        "hostloc_data_reload_failing",
        &[],
    )
}

async fn country_of(child: &Child) -> Value {
    let reply = child.get(&lookup_path("files.example.nl")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json["addresses"][0]["country"].clone()
}

/// Checks that the server is still answering from the old data and reports `expected` as
/// the reason of the failed reload; returns that reason.
async fn reports_failure(child: &Child, breakage: &str, expected: &str) -> String {
    let readiness = until_ready_says(child, "why the reload failed", |json| {
        json["reload_failure"]["error"]
            .as_str()
            .is_some_and(|error| error.contains(expected))
    })
    .await;
    assert_eq!(
        country_of(child).await,
        "NL",
        "{breakage}: still the old data"
    );
    assert_eq!(failing(child).await, 1.0, "{breakage}");
    assert_eq!(readiness["reload_failure"]["trigger"], "watch");
    readiness["reload_failure"]["error"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until a good file has been picked up: no failure reported any more.
async fn recovers(child: &Child, breakage: &str) {
    until_ready_says(child, "the reload succeeded", |json| {
        json["reload_failure"].is_null()
    })
    .await;
    assert_eq!(failing(child).await, 0.0, "{breakage}");
}

#[tokio::test]
async fn badly_replaced_databases_keep_the_old_data_and_say_why() {
    let world = TestWorld::new();
    let dns = TestDns::start();
    dns.set(
        "files.example.nl",
        Answer::Records {
            a: vec![Ipv4Addr::new(95, 211, 0, 1)],
            aaaa: vec![],
            ttl: 300,
        },
    );
    let paths = world.paths();
    let good = std::fs::read(&paths.country_db).unwrap();
    let mut command = support::hostloc(&world, dns.addr());
    command.args([
        "--cache-capacity",
        "0",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--watch-interval",
        "50ms",
    ]);
    let child = Child::start(command).await;
    assert_eq!(country_of(&child).await, "NL");
    assert_eq!(failing(&child).await, 0.0);

    // Truncated mid-write: the first half is there, the writer is still busy.
    let mut file = std::fs::File::create(&paths.country_db).unwrap();
    file.write_all(&good[..good.len() / 2]).unwrap();
    file.flush().unwrap();
    let error = reports_failure(&child, "truncated", "country.mmdb").await;
    assert!(error.contains("not a valid MaxMind DB"), "{error}");
    // The writer finishes: the next good file.
    file.write_all(&good[good.len() / 2..]).unwrap();
    drop(file);
    recovers(&child, "truncated").await;

    // Replaced by a directory.
    std::fs::remove_file(&paths.country_db).unwrap();
    std::fs::create_dir(&paths.country_db).unwrap();
    reports_failure(&child, "directory", "cannot read the country database").await;
    std::fs::remove_dir(&paths.country_db).unwrap();
    replace_file(&paths.country_db, &good);
    recovers(&child, "directory").await;

    // A database of the wrong kind: the ASN file where the country file belongs.
    let asn = std::fs::read(&paths.asn_db).unwrap();
    replace_file(&paths.country_db, &asn);
    reports_failure(&child, "wrong kind", "has no country data").await;
    replace_file(&paths.country_db, &good);
    recovers(&child, "wrong kind").await;

    // Overwritten in place (`cp new country.mmdb`) by a good database where the address is
    // in DE now: whatever the watcher saw half-way, the new data arrives.
    let moved: Vec<WorldRow> = WORLD
        .iter()
        .map(|row| {
            if row.0 == "95.211.0.0/16" {
                ("95.211.0.0/16", Some("DE"), Some("DE"), row.3, row.4, row.5)
            } else {
                *row
            }
        })
        .collect();
    let new_path = world.path("new-country.mmdb");
    write_db(&new_path, "GeoIP2-Country", &moved, geoip2_country);
    std::fs::copy(&new_path, &paths.country_db).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while country_of(&child).await != "DE" {
        assert!(
            Instant::now() < deadline,
            "the copied file was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    recovers(&child, "cp in place").await;

    let log = child.terminate().await;
    for expected in [
        "reload failed; still serving the data loaded before",
        "kind=\"invalid\"",
        "kind=\"read\"",
        "kind=\"wrong_role\"",
        "reloaded the data",
    ] {
        assert!(log.contains(expected), "the log lacks {expected:?}:\n{log}");
    }
}
