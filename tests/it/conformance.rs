//! Conformance of the GeoIP layer: MaxMind's official test databases must answer exactly as
//! their source JSON says, every other supported layout is read from generated files, and
//! every corrupt file is rejected or survived without a panic or a hang.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hostloc::geoip::{CountrySources, Database, DatabaseRole, GeoDb, IpFacts, SourceAnswer};
use ipnet::IpNet;
use mmdb_writer::Value;
use serde_json::Value as Json;

use crate::support::fixtures;
use crate::support::mmdb::{WorldRow, flat_country_code, write_db};

/// What a lookup must return, read from a source JSON record.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    country: Option<String>,
    registered_country: Option<String>,
    asn: Option<u32>,
    as_org: Option<String>,
}

fn text(value: &Json, path: &[&str]) -> Option<String> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    current.as_str().map(str::to_owned)
}

fn number(value: &Json, path: &[&str]) -> Option<u32> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    current.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// The expected facts of a source record, by the field precedence documented in geoip.rs.
fn expected(record: &Json) -> Expected {
    let asn = number(record, &["autonomous_system_number"])
        .or_else(|| number(record, &["traits", "autonomous_system_number"]));
    let as_org = asn.and_then(|_| {
        text(record, &["autonomous_system_organization"])
            .or_else(|| text(record, &["traits", "autonomous_system_organization"]))
            .or_else(|| text(record, &["organization"]))
            .or_else(|| text(record, &["isp"]))
            .or_else(|| text(record, &["traits", "organization"]))
            .or_else(|| text(record, &["traits", "isp"]))
    });
    Expected {
        country: text(record, &["country", "iso_code"]),
        registered_country: text(record, &["registered_country", "iso_code"]),
        asn,
        as_org,
    }
}

/// `::1.2.3.0/120` is how the source data writes IPv4 networks in an IPv6 tree.
fn parse_network(text: &str) -> IpNet {
    let net: IpNet = text.parse().expect("source network");
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && v6.addr().segments()[..6] == [0, 0, 0, 0, 0, 0]
    {
        let [.., a, b, c, d] = v6.addr().octets();
        return IpNet::new(IpAddr::from([a, b, c, d]), v6.prefix_len() - 96).expect("v4 network");
    }
    net
}

/// Every network of `source` answered by `database` as the most specific source record says.
fn check_against_source(database_file: &str, source_file: &str) -> usize {
    let fixtures = fixtures().join("maxmind");
    let bytes = std::fs::read(fixtures.join("test-data").join(database_file)).expect("test db");
    let database = Arc::new(Database::from_bytes(bytes, database_file.to_owned()).expect("opens"));
    let geo = GeoDb::from_databases(Arc::clone(&database), database);
    let source: Vec<serde_json::Map<String, Json>> = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("source-data").join(source_file)).expect("json"),
    )
    .expect("source json");
    let entries: Vec<(IpNet, &Json)> = source
        .iter()
        .flat_map(|map| map.iter().map(|(net, record)| (parse_network(net), record)))
        .collect();
    let mut checked = 0;
    for (network, _) in &entries {
        let ip = network.network();
        // The answer for an address is the most specific network holding it (later wins).
        let (_, record) = entries
            .iter()
            .filter(|(other, _)| other.contains(&ip))
            .max_by_key(|(other, _)| other.prefix_len())
            .expect("the network holds its own address");
        let facts: IpFacts = geo.locate(ip);
        let got = Expected {
            country: facts.country,
            registered_country: facts.registered_country,
            asn: facts.asn,
            as_org: facts.as_org,
        };
        assert_eq!(got, expected(record), "{database_file}: {ip} ({network})");
        assert!(facts.warnings.is_empty(), "{database_file}: {ip}");
        checked += 1;
    }
    checked
}

#[test]
fn official_country_city_and_enterprise_databases() {
    for (db, json) in [
        ("GeoIP2-Country-Test.mmdb", "GeoIP2-Country-Test.json"),
        ("GeoLite2-Country-Test.mmdb", "GeoLite2-Country-Test.json"),
        ("GeoIP2-City-Test.mmdb", "GeoIP2-City-Test.json"),
        ("GeoLite2-City-Test.mmdb", "GeoLite2-City-Test.json"),
        ("GeoIP2-Enterprise-Test.mmdb", "GeoIP2-Enterprise-Test.json"),
    ] {
        let checked = check_against_source(db, json);
        assert!(checked > 30, "{db}: only {checked} networks checked");
    }
}

#[test]
fn official_asn_and_isp_databases() {
    for (db, json) in [
        ("GeoLite2-ASN-Test.mmdb", "GeoLite2-ASN-Test.json"),
        ("GeoIP2-ISP-Test.mmdb", "GeoIP2-ISP-Test.json"),
    ] {
        let checked = check_against_source(db, json);
        assert!(checked > 500, "{db}: only {checked} networks checked");
    }
}

#[test]
fn handy_addresses_from_the_fixture_readme() {
    let fixtures = fixtures().join("maxmind/test-data");
    let geo = GeoDb::open(
        &fixtures.join("GeoIP2-Country-Test.mmdb"),
        &fixtures.join("GeoLite2-ASN-Test.mmdb"),
    )
    .expect("official databases open");
    for (ip, country) in [
        ("81.2.69.142", Some("GB")),
        ("2.125.160.216", Some("GB")),
        ("89.160.20.112", Some("SE")),
        ("216.160.83.56", Some("US")),
        ("2001:218::1", Some("JP")),
        ("10.0.0.1", None),
    ] {
        assert_eq!(
            geo.locate(ip.parse().unwrap()).country.as_deref(),
            country,
            "{ip}"
        );
    }
    let telstra = geo.locate("1.128.0.1".parse().unwrap());
    assert_eq!(telstra.asn, Some(1221));
    assert_eq!(telstra.as_org.as_deref(), Some("Telstra Pty Ltd"));
    let infos = geo.infos();
    assert_eq!(infos[0].role, DatabaseRole::Country);
    assert_eq!(infos[0].database_type, "GeoIP2-Country");
    assert_eq!(infos[1].database_type, "GeoLite2-ASN");
    assert!(infos.iter().all(|info| info.built.is_some()));
    assert!(infos.iter().all(|info| info.sha256.len() == 64));
}

#[test]
fn anycast_trait_is_read() {
    let fixtures = fixtures().join("maxmind");
    let source = std::fs::read_to_string(fixtures.join("source-data/GeoIP2-Country-Test.json"))
        .expect("json");
    let source: Vec<serde_json::Map<String, Json>> = serde_json::from_str(&source).unwrap();
    let (network, _) = source
        .iter()
        .flat_map(|map| map.iter())
        .find(|(_, record)| record.pointer("/traits/is_anycast") == Some(&Json::Bool(true)))
        .expect("the fixture has an anycast network");
    let ip = parse_network(network).network();
    let path = fixtures.join("test-data/GeoIP2-Country-Test.mmdb");
    let database = Arc::new(Database::open(&path, DatabaseRole::Country).unwrap());
    let geo = GeoDb::from_databases(Arc::clone(&database), database);
    assert!(geo.locate(ip).is_anycast, "{ip}");
    assert!(!geo.locate("81.2.69.142".parse().unwrap()).is_anycast);
}

/// The layouts hostloc reads besides MaxMind's, each written from the same rows.
fn ipinfo_lite(row: &WorldRow) -> Option<Value> {
    let (_, country, _, asn, org, _) = *row;
    let mut entries = Vec::new();
    if let Some(code) = country {
        entries.push(("country", Value::from(format!("Country {code}"))));
        entries.push(("country_code", Value::from(code)));
        entries.push(("continent", Value::from("Europe")));
    }
    if let Some(asn) = asn {
        entries.push(("asn", Value::from(format!("AS{asn}"))));
        entries.push(("as_domain", Value::from("example.net")));
    }
    if let Some(org) = org {
        entries.push(("as_name", Value::from(org)));
    }
    (!entries.is_empty()).then(|| Value::map(entries))
}

fn enterprise(row: &WorldRow) -> Option<Value> {
    let (_, country, registered, asn, org, anycast) = *row;
    let mut traits = Vec::new();
    if let Some(asn) = asn {
        traits.push(("autonomous_system_number", Value::from(asn)));
    }
    if let Some(org) = org {
        traits.push(("autonomous_system_organization", Value::from(org)));
    }
    traits.push(("is_anycast", Value::from(anycast)));
    let mut entries = vec![("traits", Value::map(traits))];
    if let Some(code) = country {
        entries.push(("country", Value::map([("iso_code", Value::from(code))])));
    }
    if let Some(code) = registered {
        entries.push((
            "registered_country",
            Value::map([("iso_code", Value::from(code))]),
        ));
    }
    Some(Value::map(entries))
}

const ROWS: &[WorldRow] = &[
    (
        "95.211.0.0/16",
        Some("NL"),
        Some("NL"),
        Some(60781),
        Some("LeaseWeb Netherlands B.V."),
        false,
    ),
    (
        "2a00:c98::/32",
        Some("NL"),
        Some("DE"),
        Some(60781),
        Some("LeaseWeb Netherlands B.V."),
        false,
    ),
    (
        "9.9.9.0/24",
        Some("CH"),
        Some("CH"),
        Some(19281),
        Some("Quad9"),
        true,
    ),
    ("5.5.5.0/24", None, None, Some(3320), None, false),
];

#[test]
fn generated_layouts_serve_their_roles() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    write_db(&path("ipinfo.mmdb"), "ipinfo lite.mmdb", ROWS, ipinfo_lite);
    write_db(
        &path("ipldb.mmdb"),
        "country ipvAll",
        ROWS,
        flat_country_code,
    );
    write_db(
        &path("dbip.mmdb"),
        "DBIP-Country-Lite",
        ROWS,
        crate::support::mmdb::geoip2_country,
    );
    write_db(
        &path("enterprise.mmdb"),
        "GeoIP2-Enterprise",
        ROWS,
        enterprise,
    );
    write_db(
        &path("asn.mmdb"),
        "GeoLite2-ASN",
        ROWS,
        crate::support::mmdb::geolite2_asn,
    );

    // IPinfo Lite alone serves both roles from one file.
    let ipinfo = GeoDb::open(&path("ipinfo.mmdb"), &path("ipinfo.mmdb")).expect("both roles");
    let facts = ipinfo.locate("95.211.1.2".parse().unwrap());
    assert_eq!(facts.country.as_deref(), Some("NL"));
    assert_eq!(facts.registered_country, None, "IPinfo Lite has none");
    assert_eq!(facts.asn, Some(60781));
    assert_eq!(facts.as_org.as_deref(), Some("LeaseWeb Netherlands B.V."));
    assert_eq!(facts.network.as_deref(), Some("95.211.0.0/16"));

    // Enterprise alone serves both roles, anycast included.
    let enterprise = GeoDb::open(&path("enterprise.mmdb"), &path("enterprise.mmdb")).unwrap();
    let facts = enterprise.locate("2a00:c98::1".parse().unwrap());
    assert_eq!(
        (
            facts.country.as_deref(),
            facts.registered_country.as_deref(),
            facts.asn
        ),
        (Some("NL"), Some("DE"), Some(60781))
    );
    assert!(enterprise.locate("9.9.9.9".parse().unwrap()).is_anycast);

    // Flat country_code and DB-IP's GeoIP2 layout, each with a separate ASN file.
    for country_file in ["ipldb.mmdb", "dbip.mmdb"] {
        let geo = GeoDb::open(&path(country_file), &path("asn.mmdb")).unwrap();
        let facts = geo.locate("95.211.0.1".parse().unwrap());
        assert_eq!(facts.country.as_deref(), Some("NL"), "{country_file}");
        assert_eq!(facts.asn, Some(60781), "{country_file}");
        assert_eq!(facts.as_network.as_deref(), Some("95.211.0.0/16"));
        // A network with an AS but no country is unknown, not a guess.
        let facts = geo.locate("5.5.5.5".parse().unwrap());
        assert_eq!(
            (facts.country, facts.asn),
            (None, Some(3320)),
            "{country_file}"
        );
        assert_eq!(facts.as_org, None);
        // No record at all: every fact unknown, no error; the one source is named, without
        // an answer.
        let facts = geo.locate("7.7.7.7".parse().unwrap());
        let source = country_file.trim_end_matches(".mmdb");
        assert_eq!(
            facts,
            IpFacts {
                country_sources: CountrySources(vec![SourceAnswer {
                    source: source.into(),
                    country: None
                }]),
                ..IpFacts::default()
            },
            "{country_file}"
        );
    }

    // A file without ASN data cannot be the ASN database, and says so.
    let error = GeoDb::open(&path("ipldb.mmdb"), &path("ipldb.mmdb")).unwrap_err();
    assert!(error.to_string().contains("has no asn data"), "{error}");
    let error = GeoDb::open(&path("asn.mmdb"), &path("asn.mmdb")).unwrap_err();
    assert!(error.to_string().contains("has no country data"), "{error}");
}

#[test]
fn missing_and_unreadable_files_name_the_file() {
    let missing = Path::new("/nonexistent/GeoLite2-Country.mmdb");
    let error = Database::open(missing, DatabaseRole::Country).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("/nonexistent/GeoLite2-Country.mmdb"),
        "{error}"
    );
    assert_eq!(error.kind(), "read");
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.mmdb");
    let whole =
        std::fs::read(fixtures().join("maxmind/test-data/GeoIP2-Country-Test.mmdb")).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let error = Database::open(&truncated, DatabaseRole::Country).unwrap_err();
    assert!(error.to_string().contains("truncated.mmdb"), "{error}");
    assert_eq!(error.kind(), "invalid");
}

/// Every corrupt file is refused with an error, or, where the damage is only in records, is
/// opened and answers lookups without panicking; none may hang.
#[test]
fn corrupt_databases_never_crash_or_hang() {
    let fixtures = fixtures().join("maxmind");
    let mut files: Vec<_> = std::fs::read_dir(fixtures.join("bad-data"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "mmdb"))
        .collect();
    for broken in [
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        "MaxMind-DB-test-broken-pointers-24.mmdb",
        "MaxMind-DB-test-broken-search-tree-24.mmdb",
    ] {
        files.push(fixtures.join("test-data").join(broken));
    }
    assert!(files.len() >= 20, "the corrupt set is there");
    for path in files {
        let (done, finished) = std::sync::mpsc::channel();
        let probe = path.clone();
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(|| {
                match Database::open(&probe, DatabaseRole::Country)
                    .or_else(|_| Database::open(&probe, DatabaseRole::Asn))
                {
                    Err(error) => format!("refused: {error}"),
                    Ok(database) => {
                        let database = Arc::new(database);
                        let geo = GeoDb::from_databases(Arc::clone(&database), database);
                        for ip in ["1.1.1.1", "81.2.69.160", "::1", "2001:218::1", "1.2.3.4"] {
                            let _ = geo.locate(ip.parse().unwrap());
                        }
                        "opened".to_owned()
                    }
                }
            });
            let _ = done.send(outcome.is_ok());
        });
        match finished.recv_timeout(Duration::from_secs(20)) {
            Ok(no_panic) => assert!(no_panic, "{} panicked", path.display()),
            Err(_) => panic!("{} hung", path.display()),
        }
    }
}
