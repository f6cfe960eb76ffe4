//! Generated GeoIP databases for tests, written with mmdb-writer from small Rust tables.
//!
//! [`TestWorld`] is a small, known internet: a few networks with countries and AS numbers in
//! the MaxMind GeoIP2-Country and GeoLite2-ASN layouts, plus a networks file, in a temporary
//! directory. Other layouts (IPinfo Lite, ip-location-db, Enterprise) are written by
//! [`write_db`] for the conformance tests.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hostloc::pipeline::DataPaths;
use mmdb_writer::{Value, Writer};

/// Build time written into every generated database: 2026-06-01T00:00:00Z.
pub(crate) const BUILT: u64 = 1_780_272_000;

/// One network of the test world: (network, country, registered country, AS number, AS org,
/// anycast).
pub(crate) type WorldRow = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<u32>,
    Option<&'static str>,
    bool,
);

/// The test world. Addresses used by tests:
/// - 95.211.0.0/16 and 2a00:c98::/32: NL, AS60781 LeaseWeb Netherlands B.V.
/// - 8.8.8.0/24 and 2001:4860::/32: US, AS15169 Google LLC
/// - 46.4.0.0/16: DE (registered DE), AS24940 Hetzner Online GmbH
/// - 104.16.0.0/13 and 2606:4700::/32: US, AS13335 Cloudflare, Inc. (a CDN in the networks file)
/// - 23.32.0.0/11: NL, AS20940 Akamai International B.V. (CDN by ASN in the networks file)
/// - 9.9.9.0/24: CH, AS19281 Quad9, anycast
/// - 5.5.5.0/24: no country, AS3320 Deutsche Telekom AG
/// - 81.2.69.0/24: GB, AS20712 Andrews & Arnold Ltd
/// - 1.0.1.0/24: CN, AS4134 CHINANET (a country without an INHOPE member hotline)
/// - 7.7.7.0/24: no data at all
pub(crate) const WORLD: &[WorldRow] = &[
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
        Some("NL"),
        Some(60781),
        Some("LeaseWeb Netherlands B.V."),
        false,
    ),
    (
        "8.8.8.0/24",
        Some("US"),
        Some("US"),
        Some(15169),
        Some("Google LLC"),
        false,
    ),
    (
        "2001:4860::/32",
        Some("US"),
        Some("US"),
        Some(15169),
        Some("Google LLC"),
        false,
    ),
    (
        "46.4.0.0/16",
        Some("DE"),
        Some("DE"),
        Some(24940),
        Some("Hetzner Online GmbH"),
        false,
    ),
    (
        "104.16.0.0/13",
        Some("US"),
        Some("US"),
        Some(13335),
        Some("Cloudflare, Inc."),
        false,
    ),
    (
        "2606:4700::/32",
        Some("US"),
        Some("US"),
        Some(13335),
        Some("Cloudflare, Inc."),
        false,
    ),
    (
        "23.32.0.0/11",
        Some("NL"),
        Some("US"),
        Some(20940),
        Some("Akamai International B.V."),
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
    (
        "5.5.5.0/24",
        None,
        None,
        Some(3320),
        Some("Deutsche Telekom AG"),
        false,
    ),
    (
        "81.2.69.0/24",
        Some("GB"),
        Some("GB"),
        Some(20712),
        Some("Andrews & Arnold Ltd"),
        false,
    ),
    (
        "1.0.1.0/24",
        Some("CN"),
        Some("CN"),
        Some(4134),
        Some("CHINANET"),
        false,
    ),
];

/// The networks file of the test world.
pub(crate) const NETWORKS_CSV: &str = "\
# test networks
provider,match,value,source
Cloudflare,asn,13335,test
Cloudflare,prefix,104.16.0.0/13,test
Cloudflare,prefix,2606:4700::/32,test
Cloudflare,cname,cdn.cloudflare.net,test
Akamai,asn,20940,test
Akamai,cname,edgekey.net,test
";

/// The anycast list of the test world: Google Public DNS's IPv6 network, inside the world's
/// Google row (located in US), and a single address of the world's Leaseweb row.
pub(crate) const ANYCAST_CSV: &str = "\
# test anycast networks
network,operator,service,source
2001:4860:4860::/48,Google,Google Public DNS,test
95.211.0.53,RIPE NCC,K root server,test
";

/// The bundled hotline table, `data/hotlines.csv`: the test world routes with the real one.
pub(crate) fn bundled_hotlines() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/hotlines.csv")
}

/// Every bundled data file (`data/`): the databases, networks list and hotline table that
/// hostloc ships with.
pub(crate) fn bundled_data() -> DataPaths {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    DataPaths {
        country_db: data.join("dbip-country.mmdb"),
        second_opinion_dbs: vec![data.join("geo-whois-asn-country.mmdb")],
        asn_db: data.join("asn.mmdb"),
        networks: data.join("networks.csv"),
        hotlines: bundled_hotlines(),
        anycast: data.join("anycast.csv"),
    }
}

/// Generated databases and networks file in a temporary directory.
pub(crate) struct TestWorld {
    pub(crate) dir: tempfile::TempDir,
}

impl TestWorld {
    /// Writes the GeoIP2-Country and GeoLite2-ASN databases and the networks file.
    pub(crate) fn new() -> TestWorld {
        let dir = tempfile::tempdir().expect("temp dir");
        write_db(
            &dir.path().join("country.mmdb"),
            "GeoIP2-Country",
            WORLD,
            geoip2_country,
        );
        write_db(
            &dir.path().join("asn.mmdb"),
            "GeoLite2-ASN",
            WORLD,
            geolite2_asn,
        );
        std::fs::write(dir.path().join("networks.csv"), NETWORKS_CSV).expect("networks file");
        std::fs::write(dir.path().join("anycast.csv"), ANYCAST_CSV).expect("anycast file");
        TestWorld { dir }
    }

    /// Paths of the three files.
    pub(crate) fn paths(&self) -> DataPaths {
        DataPaths {
            country_db: self.dir.path().join("country.mmdb"),
            second_opinion_dbs: Vec::new(),
            asn_db: self.dir.path().join("asn.mmdb"),
            networks: self.dir.path().join("networks.csv"),
            hotlines: bundled_hotlines(),
            anycast: self.dir.path().join("anycast.csv"),
        }
    }

    /// Writes another country database, `file` in the world's directory, from `rows` (a
    /// network and its country; the other columns are not used) in ip-location-db's flat
    /// layout, like the bundled second opinion. Returns its path.
    pub(crate) fn write_country_source(&self, file: &str, rows: &[WorldRow]) -> PathBuf {
        let path = self.path(file);
        write_db(&path, "country ipvAll", rows, flat_country_code);
        path
    }

    /// A path inside the world's directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A record in the MaxMind GeoIP2-Country layout.
pub(crate) fn geoip2_country(row: &WorldRow) -> Option<Value> {
    let (_, country, registered, _, _, anycast) = *row;
    let mut entries = Vec::new();
    if let Some(code) = country {
        entries.push((
            "country",
            Value::map([
                ("iso_code", Value::from(code)),
                (
                    "names",
                    Value::map([("en", Value::from(format!("Country {code}")))]),
                ),
            ]),
        ));
    }
    if let Some(code) = registered {
        entries.push((
            "registered_country",
            Value::map([("iso_code", Value::from(code))]),
        ));
    }
    if anycast {
        entries.push(("traits", Value::map([("is_anycast", Value::from(true))])));
    }
    (!entries.is_empty()).then(|| Value::map(entries))
}

/// A record in ip-location-db's flat layout (`country_code` only), the layout of the bundled
/// country files.
pub(crate) fn flat_country_code(row: &WorldRow) -> Option<Value> {
    row.1
        .map(|code| Value::map([("country_code", Value::from(code))]))
}

/// A record in the GeoLite2-ASN layout.
pub(crate) fn geolite2_asn(row: &WorldRow) -> Option<Value> {
    let (_, _, _, asn, org, _) = *row;
    let asn = asn?;
    let mut entries = vec![("autonomous_system_number", Value::from(asn))];
    if let Some(org) = org {
        entries.push(("autonomous_system_organization", Value::from(org)));
    }
    Some(Value::map(entries))
}

/// Writes `rows` as a database of `database_type`, each record made by `record`.
pub(crate) fn write_db(
    path: &Path,
    database_type: &str,
    rows: &[WorldRow],
    record: fn(&WorldRow) -> Option<Value>,
) {
    std::fs::write(path, db_bytes(database_type, rows, record, BUILT)).expect("write mmdb");
}

/// The bytes of a database of `database_type` built at `built` (Unix seconds), each record of
/// `rows` made by `record`.
pub(crate) fn db_bytes(
    database_type: &str,
    rows: &[WorldRow],
    record: fn(&WorldRow) -> Option<Value>,
    built: u64,
) -> Vec<u8> {
    let mut writer = Writer::builder(database_type)
        .build_epoch(UNIX_EPOCH + Duration::from_secs(built))
        .build();
    for row in rows {
        if let Some(value) = record(row) {
            writer
                .insert_value(row.0.parse::<ipnet::IpNet>().expect("network"), value)
                .expect("insert");
        }
    }
    writer.to_bytes().expect("serialise")
}

/// Seconds since the epoch of `time`.
pub(crate) fn epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
