//! `hostloc data update` and `hostloc data seed` against a data publisher on loopback
//! (`support::publisher`): good, corrupt, stale, wrong-kind and missing files from the DB-IP
//! URL pattern, and MaxMind's update API as `geoipupdate` uses it. The file in place must stay
//! untouched, byte for byte, whenever the download is not a good, newer database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use hostloc::geoip::{Database, DatabaseRole};
use md5::Digest;

use crate::support::mmdb::{self, BUILT, WORLD, geoip2_country, geolite2_asn};
use crate::support::publisher::Publisher;
use crate::support::{self, hostloc_bare};

/// A build time five months after the generated databases' (2026-06-01).
const NEWER: u64 = BUILT + 150 * 86_400;
/// A build time a month before them.
const OLDER: u64 = BUILT - 30 * 86_400;

pub(crate) const COUNTRY_URL: &str = "/free/dbip-country-lite-{YYYY}-{MM}.mmdb.gz";
pub(crate) const ASN_URL: &str = "/free/dbip-asn-lite-{YYYY}-{MM}.mmdb.gz";

pub(crate) fn country_db(built: u64) -> Vec<u8> {
    mmdb::db_bytes("DBIP-Country-Lite", WORLD, geoip2_country, built)
}

pub(crate) fn asn_db(built: u64) -> Vec<u8> {
    mmdb::db_bytes(
        "DBIP-ASN-Lite (compat=GeoLite2-ASN)",
        WORLD,
        geolite2_asn,
        built,
    )
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `{YYYY}-{MM}` of this month and of last month, UTC.
pub(crate) fn months() -> [String; 2] {
    let today = time::OffsetDateTime::now_utc().date();
    let first = today.replace_day(1).unwrap();
    let last_month = first.previous_day().unwrap();
    [today, last_month].map(|date| format!("{:04}-{:02}", date.year(), u8::from(date.month())))
}

pub(crate) fn month_path(template: &str, month: &str) -> String {
    let (year, month) = month.split_once('-').unwrap();
    template.replace("{YYYY}", year).replace("{MM}", month)
}

/// A data folder holding June's country and ASN databases, and a publisher.
struct Setup {
    dir: tempfile::TempDir,
    publisher: Publisher,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dbip-country.mmdb"), country_db(BUILT)).unwrap();
        std::fs::write(dir.path().join("asn.mmdb"), asn_db(BUILT)).unwrap();
        Setup {
            dir,
            publisher: Publisher::start(),
        }
    }

    fn country(&self) -> PathBuf {
        self.dir.path().join("dbip-country.mmdb")
    }

    fn asn(&self) -> PathBuf {
        self.dir.path().join("asn.mmdb")
    }

    /// Serves `body` as both this month's and last month's file of `template`.
    fn publish(&self, template: &str, body: &[u8]) {
        for month in months() {
            self.publisher
                .put(&month_path(template, &month), body.to_vec());
        }
    }

    fn update(&self, extra: &[&str]) -> Output {
        hostloc_bare()
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["data", "update", "--dbip-country-url"])
            .arg(self.publisher.url(COUNTRY_URL))
            .arg("--dbip-asn-url")
            .arg(self.publisher.url(ASN_URL))
            .args(extra)
            .output()
            .unwrap()
    }

    /// Files in the data folder other than the databases: left-over temporary files.
    fn strays(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect()
    }
}

fn built(path: &Path, role: DatabaseRole) -> Option<u64> {
    let database = Database::open(path, role).unwrap();
    database.built().map(mmdb::epoch)
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn newer_dbip_files_replace_the_old_ones_and_a_second_run_finds_them_current() {
    let setup = Setup::new();
    setup.publish(COUNTRY_URL, &gzip(&country_db(NEWER)));
    setup.publish(ASN_URL, &gzip(&asn_db(NEWER)));

    let output = setup.update(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("updated  DB-IP country"), "{stdout}");
    assert!(stdout.contains("updated  DB-IP asn"), "{stdout}");
    assert!(stdout.contains("(was 2026-06-01T00:00:00Z)"), "{stdout}");
    assert_eq!(built(&setup.country(), DatabaseRole::Country), Some(NEWER));
    assert_eq!(built(&setup.asn(), DatabaseRole::Asn), Some(NEWER));
    assert_eq!(setup.strays(), Vec::<String>::new());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(setup.country())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o644,
            "the server's user must be able to read it"
        );
    }
    // This month's file is the one asked for first.
    let seen = setup.publisher.seen();
    assert_eq!(seen[0].target, month_path(COUNTRY_URL, &months()[0]));

    let again = setup.update(&[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("current  DB-IP country"), "{stdout}");
    assert!(stdout.contains("current  DB-IP asn"), "{stdout}");
}

#[test]
fn last_months_file_is_used_until_this_months_is_published() {
    let setup = Setup::new();
    let [this_month, last_month] = months();
    setup.publisher.put(
        &month_path(COUNTRY_URL, &last_month),
        gzip(&country_db(NEWER)),
    );
    setup.publish(ASN_URL, &gzip(&asn_db(NEWER)));

    let output = setup.update(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(built(&setup.country(), DatabaseRole::Country), Some(NEWER));
    let asked: Vec<String> = setup
        .publisher
        .seen()
        .into_iter()
        .map(|seen| seen.target)
        .filter(|target| target.contains("country"))
        .collect();
    assert_eq!(
        asked,
        [
            month_path(COUNTRY_URL, &this_month),
            month_path(COUNTRY_URL, &last_month)
        ]
    );
}

/// Every bad download: the run fails (status 1) with a message, the file in place keeps its
/// bytes, no temporary file stays behind, and the other file is still updated.
#[test]
fn bad_downloads_leave_the_file_in_place_untouched() {
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("missing", None, "no file at"),
        (
            "corrupt gzip",
            Some(b"\x1f\x8b\x08\x00garbage that is not deflate".to_vec()),
            "cannot be unpacked",
        ),
        (
            "not gzip at all",
            Some(country_db(NEWER)),
            "cannot be unpacked",
        ),
        (
            "gzip of a truncated database",
            Some(gzip(&country_db(NEWER)[..1000])),
            "is not a valid MaxMind DB file",
        ),
        (
            "gzip of something else",
            Some(gzip(b"<html>Please log in</html>")),
            "is not a valid MaxMind DB file",
        ),
        ("stale", Some(gzip(&country_db(OLDER))), "is older than"),
        (
            "an ASN file for the country",
            Some(gzip(&asn_db(NEWER))),
            "has no country data",
        ),
    ];
    for (case, body, message) in cases {
        let setup = Setup::new();
        let before = std::fs::read(setup.country()).unwrap();
        if let Some(body) = body {
            setup.publish(COUNTRY_URL, &body);
        }
        setup.publish(ASN_URL, &gzip(&asn_db(NEWER)));

        let output = setup.update(&[]);
        assert_eq!(output.status.code(), Some(1), "{case}: {}", text(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("failed   DB-IP country") && stdout.contains(message),
            "{case}: {stdout}"
        );
        assert_eq!(std::fs::read(setup.country()).unwrap(), before, "{case}");
        assert_eq!(setup.strays(), Vec::<String>::new(), "{case}");
        assert_eq!(
            built(&setup.asn(), DatabaseRole::Asn),
            Some(NEWER),
            "{case}"
        );
    }
}

#[test]
fn a_server_error_is_reported_with_its_status() {
    let setup = Setup::new();
    for month in months() {
        setup.publisher.put_status(
            &month_path(COUNTRY_URL, &month),
            503,
            b"try again later".to_vec(),
        );
    }
    let output = setup.update(&["--no-dbip"]);
    // --no-dbip: nothing to do, nothing asked.
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(setup.publisher.seen().is_empty());

    let output = setup.update(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("answered HTTP 503: try again later"),
        "{stdout}"
    );
}

/// A MaxMind edition as the download API ships it: a .tar.gz holding a dated folder with the
/// database and its licence files.
fn maxmind_archive(edition: &str, database: &[u8]) -> Vec<u8> {
    tar_gz(&[
        (
            format!("{edition}_20261201/LICENSE.txt"),
            b"licence".to_vec(),
        ),
        (
            format!("{edition}_20261201/COPYRIGHT.txt"),
            b"copyright".to_vec(),
        ),
        (
            format!("{edition}_20261201/{edition}.mmdb"),
            database.to_vec(),
        ),
    ])
}

/// A .tar.gz of `entries` (path, contents).
fn tar_gz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    gzip(&builder.into_inner().unwrap())
}

fn md5_hex(bytes: &[u8]) -> String {
    md5::Md5::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Publishes `database` as `edition` the way MaxMind's API does, with `published_md5` in the
/// metadata.
fn publish_edition(publisher: &Publisher, edition: &str, database: &[u8], published_md5: &str) {
    publisher.put(
        &format!("/geoip/updates/metadata?edition_id={edition}"),
        format!(
            r#"{{"databases":[{{"edition_id":"{edition}","md5":"{published_md5}","date":"2026-12-01"}}]}}"#
        )
        .into_bytes(),
    );
    publisher.put(
        &format!("/geoip/databases/{edition}/download?date=20261201&suffix=tar.gz"),
        maxmind_archive(edition, database),
    );
}

fn geoip_conf(dir: &Path, key: &str) -> PathBuf {
    let path = dir.join("GeoIP.conf");
    std::fs::write(
        &path,
        format!(
            "# GeoIP.conf file for `geoipupdate`\nAccountID 424242\nLicenseKey {key}\n\
             EditionIDs GeoLite2-Country GeoLite2-ASN\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn maxmind_editions_come_from_the_update_api_like_geoipupdate() {
    let setup = Setup::new();
    // "424242:s3cret-licence-key" in Base64.
    setup
        .publisher
        .require_authorization("Basic NDI0MjQyOnMzY3JldC1saWNlbmNlLWtleQ==");
    let country = mmdb::db_bytes("GeoLite2-Country", WORLD, geoip2_country, NEWER);
    let asn = mmdb::db_bytes("GeoLite2-ASN", WORLD, geolite2_asn, NEWER);
    publish_edition(
        &setup.publisher,
        "GeoLite2-Country",
        &country,
        &md5_hex(&country),
    );
    publish_edition(&setup.publisher, "GeoLite2-ASN", &asn, &md5_hex(&asn));
    let conf = geoip_conf(setup.dir.path(), "s3cret-licence-key");
    let maxmind_args = |conf: &Path| {
        vec![
            "--no-dbip".to_owned(),
            "--geoip-conf".to_owned(),
            conf.display().to_string(),
            "--maxmind-url".to_owned(),
            setup.publisher.url(""),
        ]
    };
    let args = maxmind_args(&conf);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let output = setup.update(&args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let country_path = setup.dir.path().join("GeoLite2-Country.mmdb");
    let asn_path = setup.dir.path().join("GeoLite2-ASN.mmdb");
    assert_eq!(std::fs::read(&country_path).unwrap(), country);
    assert_eq!(std::fs::read(&asn_path).unwrap(), asn);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("s3cret"),
        "the key is never shown: {stdout}"
    );
    assert!(
        setup
            .publisher
            .seen()
            .iter()
            .all(|seen| seen.authorization.is_some())
    );

    // The same MD5 as the file in place: nothing is downloaded.
    let requests_before = setup.publisher.seen().len();
    let again = setup.update(&args);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("current  MaxMind GeoLite2-Country"),
        "{stdout}"
    );
    let asked: Vec<String> = setup.publisher.seen()[requests_before..]
        .iter()
        .map(|seen| seen.target.clone())
        .collect();
    assert!(
        asked.iter().all(|target| target.contains("/metadata")),
        "{asked:?}"
    );

    // The databases serve: hostloc loads them as country and ASN data.
    let world = support::TestWorld::new();
    let lookup = support::hostloc_with(
        &hostloc::pipeline::DataPaths {
            country_db: country_path.clone(),
            asn_db: asn_path.clone(),
            ..world.paths()
        },
        "127.0.0.1:9".parse().unwrap(),
    )
    .args(["lookup", "--json", "95.211.0.1"])
    .output()
    .unwrap();
    let result = &support::json_lines(&lookup.stdout)[0];
    assert_eq!(result["verdict"], "domestic", "{result}");
    assert_eq!(result["addresses"][0]["asn"], 60781, "{result}");

    // A wrong key: MaxMind's 401 is reported, the files stay.
    let wrong = geoip_conf(setup.dir.path(), "wrong-key");
    let args = maxmind_args(&wrong);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = setup.update(&args);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(stdout.contains("answered HTTP 401"), "{stdout}");
    assert!(!stdout.contains("wrong-key"), "{stdout}");
    assert_eq!(std::fs::read(&country_path).unwrap(), country);
}

#[test]
fn maxmind_downloads_that_do_not_match_are_refused() {
    let setup = Setup::new();
    let country = mmdb::db_bytes("GeoLite2-Country", WORLD, geoip2_country, NEWER);
    let asn = mmdb::db_bytes("GeoLite2-ASN", WORLD, geolite2_asn, NEWER);
    // A damaged download: the published MD5 is another file's.
    publish_edition(
        &setup.publisher,
        "GeoLite2-Country",
        &country,
        &md5_hex(b"other"),
    );
    // The wrong edition in the archive.
    publish_edition(
        &setup.publisher,
        "GeoLite2-ASN",
        &country,
        &md5_hex(&country),
    );
    let conf = geoip_conf(setup.dir.path(), "key");
    let output = setup.update(&[
        "--no-dbip",
        "--geoip-conf",
        conf.to_str().unwrap(),
        "--maxmind-url",
        &setup.publisher.url(""),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("has MD5"), "{stdout}");
    assert!(
        stdout.contains("is a GeoLite2-Country database, not GeoLite2-ASN"),
        "{stdout}"
    );
    assert!(!setup.dir.path().join("GeoLite2-Country.mmdb").exists());
    assert!(!setup.dir.path().join("GeoLite2-ASN.mmdb").exists());
    assert_eq!(setup.strays(), Vec::<String>::new());
    drop(asn);
}

#[test]
fn a_dbip_download_never_replaces_a_maxmind_database() {
    let setup = Setup::new();
    let maxmind = mmdb::db_bytes("GeoLite2-Country", WORLD, geoip2_country, BUILT);
    std::fs::write(setup.country(), &maxmind).unwrap();
    setup.publish(COUNTRY_URL, &gzip(&country_db(NEWER)));
    setup.publish(ASN_URL, &gzip(&asn_db(NEWER)));
    let output = setup.update(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("use --no-dbip"),
        "{}",
        text(&output)
    );
    assert_eq!(std::fs::read(setup.country()).unwrap(), maxmind);
}

#[test]
fn a_geoip_conf_without_a_licence_key_is_refused_before_any_download() {
    let setup = Setup::new();
    let conf = setup.dir.path().join("GeoIP.conf");
    std::fs::write(&conf, "AccountID 1\nEditionIDs GeoLite2-ASN\n").unwrap();
    let output = setup.update(&["--geoip-conf", conf.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("has no LicenseKey"),
        "{}",
        text(&output)
    );
    assert!(setup.publisher.seen().is_empty());
}

#[test]
fn seed_copies_the_bundled_files_only_where_they_are_missing() {
    let bundled = support::TestWorld::new();
    std::fs::copy(
        &bundled.paths().country_db,
        bundled.path("dbip-country.mmdb"),
    )
    .unwrap();
    std::fs::copy(&bundled.paths().hotlines, bundled.path("hotlines.csv")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/geo-whois-asn-country.mmdb"),
        bundled.path("geo-whois-asn-country.mmdb"),
    )
    .unwrap();
    let volume = tempfile::tempdir().unwrap();
    std::fs::write(volume.path().join("asn.mmdb"), b"already here").unwrap();
    let output = hostloc_bare()
        .arg("--data-dir")
        .arg(volume.path())
        .args(["data", "seed", "--from"])
        .arg(bundled.dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    for name in [
        "dbip-country.mmdb",
        "geo-whois-asn-country.mmdb",
        "networks.csv",
        "hotlines.csv",
    ] {
        assert_eq!(
            std::fs::read(volume.path().join(name)).unwrap(),
            std::fs::read(bundled.path(name)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        std::fs::read(volume.path().join("asn.mmdb")).unwrap(),
        b"already here"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("present") && stderr.contains("seeded"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// The second country source

/// The second source's file name, which names it in results.
const SECOND: &str = "geo-whois-asn-country.mmdb";
/// Where the loopback publisher serves it.
pub(crate) const SECOND_URL: &str = "/releases/latest/download/geo-whois-asn-country.mmdb";

/// A geo-whois-asn-country database in ip-location-db's flat layout, built at `built`.
pub(crate) fn second_db(built: u64) -> Vec<u8> {
    mmdb::db_bytes("country ipvAll", WORLD, mmdb::flat_country_code, built)
}

/// An npm package tarball of `@ip-location-db/geo-whois-asn-country-mmdb`: the file beside the
/// IPv4-only and IPv6-only ones and the package's own files, under `package/`.
fn npm_tarball(database: &[u8]) -> Vec<u8> {
    tar_gz(&[
        ("package/package.json".to_owned(), b"{}".to_vec()),
        (
            "package/geo-whois-asn-country-ipv4.mmdb".to_owned(),
            second_db(OLDER),
        ),
        (format!("package/{SECOND}"), database.to_vec()),
        (
            "package/geo-whois-asn-country-ipv6.mmdb".to_owned(),
            second_db(OLDER),
        ),
    ])
}

impl Setup {
    /// The same folder with the second source in place, built in June.
    fn with_second_source() -> Setup {
        let setup = Setup::new();
        std::fs::write(setup.second(), second_db(BUILT)).unwrap();
        setup
    }

    fn second(&self) -> PathBuf {
        self.dir.path().join(SECOND)
    }

    /// `data update` of the second source alone, from the publisher's `SECOND_URL`.
    fn update_second(&self, extra: &[&str]) -> Output {
        let url = self.publisher.url(SECOND_URL);
        let mut args = vec!["--no-dbip", "--geo-whois-url", url.as_str()];
        args.extend_from_slice(extra);
        self.update(&args)
    }
}

/// The second source's current file replaces the one in place whether the URL serves it plain,
/// gzipped, or as the npm package's tarball (the file of that name, not the IPv4-only one
/// before it); a second run finds it current.
#[test]
fn the_second_source_is_refreshed_from_the_url_given_in_any_packing() {
    for (packing, body) in [
        ("plain", second_db(NEWER)),
        ("gzip", gzip(&second_db(NEWER))),
        ("npm tarball", npm_tarball(&second_db(NEWER))),
    ] {
        let setup = Setup::with_second_source();
        setup.publisher.put(SECOND_URL, body);
        let output = setup.update_second(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{packing}: {}",
            text(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!(
                "updated  geo-whois-asn-country: {} is now country ipvAll built ",
                setup.second().display()
            )) && stdout.contains("(was 2026-06-01T00:00:00Z)"),
            "{packing}: {stdout}"
        );
        assert_eq!(
            std::fs::read(setup.second()).unwrap(),
            second_db(NEWER),
            "{packing}"
        );
        assert_eq!(setup.strays(), Vec::<String>::new(), "{packing}");
        let again = setup.update_second(&[]);
        assert_eq!(again.status.code(), Some(0), "{packing}: {}", text(&again));
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("current  geo-whois-asn-country"),
            "{packing}: {}",
            text(&again)
        );
        // The DB-IP files were not asked for.
        assert_eq!(built(&setup.country(), DatabaseRole::Country), Some(BUILT));
    }

    // A fresh volume without the file: the download is installed.
    let setup = Setup::new();
    setup.publisher.put(SECOND_URL, gzip(&second_db(NEWER)));
    let output = setup.update_second(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(std::fs::read(setup.second()).unwrap(), second_db(NEWER));
}

/// Whatever is wrong with the download, the file in place stays byte for byte and the run
/// fails naming the file and why.
#[test]
fn a_bad_second_source_download_leaves_the_file_in_place() {
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("missing", None, "answered HTTP 404"),
        ("stale", Some(second_db(OLDER)), "is older than"),
        (
            "an ASN file",
            Some(gzip(&asn_db(NEWER))),
            "has no country data",
        ),
        (
            "a web page",
            Some(b"<html>Please log in</html>".to_vec()),
            "is not a valid MaxMind DB file",
        ),
        (
            "corrupt gzip",
            Some(b"\x1f\x8b\x08\x00garbage that is not deflate".to_vec()),
            "cannot be unpacked",
        ),
        (
            "a tarball of other files",
            Some(tar_gz(&[
                ("package/a-ipv4.mmdb".to_owned(), second_db(NEWER)),
                ("package/a-ipv6.mmdb".to_owned(), second_db(NEWER)),
            ])),
            "holds no geo-whois-asn-country.mmdb (only package/a-ipv4.mmdb, package/a-ipv6.mmdb)",
        ),
    ];
    for (case, body, message) in cases {
        let setup = Setup::with_second_source();
        if let Some(body) = body {
            setup.publisher.put(SECOND_URL, body);
        }
        let before = std::fs::read(setup.second()).unwrap();
        let output = setup.update_second(&[]);
        assert_eq!(output.status.code(), Some(1), "{case}: {}", text(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("failed   geo-whois-asn-country: ") && stdout.contains(message),
            "{case}: {stdout}"
        );
        assert_eq!(std::fs::read(setup.second()).unwrap(), before, "{case}");
        assert_eq!(setup.strays(), Vec::<String>::new(), "{case}");
    }
}

/// Without a URL, a second source in place fails the run (it would only grow older, until
/// `--require-fresh-data` takes the servers out of service), saying what to do; the DB-IP files
/// are refreshed all the same. With `--single-source`, or without the file, nothing is said;
/// a URL with `--single-source` is a usage error.
#[test]
fn a_second_source_without_a_url_fails_the_run_and_says_what_to_do() {
    let setup = Setup::with_second_source();
    setup.publish(COUNTRY_URL, &gzip(&country_db(NEWER)));
    setup.publish(ASN_URL, &gzip(&asn_db(NEWER)));
    let output = setup.update(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "failed   geo-whois-asn-country: {} not updated: no --geo-whois-url \
             (HOSTLOC_GEO_WHOIS_URL) says where its current file is, so it only grows older \
             (built 2026-06-01T00:00:00Z); give the URL of the publisher's current file, or ask \
             DB-IP alone with --single-source (HOSTLOC_SINGLE_SOURCE)",
            setup.second().display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("updated  DB-IP country"), "{stdout}");
    assert_eq!(built(&setup.country(), DatabaseRole::Country), Some(NEWER));

    let single = setup.update(&["--single-source"]);
    assert_eq!(single.status.code(), Some(0), "{}", text(&single));
    assert!(!String::from_utf8_lossy(&single.stdout).contains("geo-whois"));

    let fresh = Setup::new();
    fresh.publish(COUNTRY_URL, &gzip(&country_db(NEWER)));
    fresh.publish(ASN_URL, &gzip(&asn_db(NEWER)));
    let output = fresh.update(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(!fresh.second().exists());

    let conflict = setup.update_second(&["--single-source"]);
    assert_eq!(conflict.status.code(), Some(2), "{}", text(&conflict));
    assert!(
        String::from_utf8_lossy(&conflict.stderr).contains("--geo-whois-url"),
        "{}",
        text(&conflict)
    );
    assert!(
        setup
            .publisher
            .seen()
            .iter()
            .all(|seen| !seen.target.contains("geo-whois"))
    );
}
