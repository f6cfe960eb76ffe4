//! `hostloc data`: building the ASN database from CSV, and sanity of the bundled data files.

use std::path::Path;

use hostloc::geoip::{Database, DatabaseRole};
use hostloc::networks::CdnNetworks;

use crate::support;

#[test]
fn import_asn_builds_a_geolite2_asn_layout_database() {
    let dir = tempfile::tempdir().unwrap();
    let ipv4 = dir.path().join("asn-ipv4.csv");
    let ipv6 = dir.path().join("asn-ipv6.csv");
    std::fs::write(
        &ipv4,
        "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
         95.211.0.0,95.211.255.255,60781,LeaseWeb Netherlands B.V.\n\
         10.0.0.0,10.255.255.255,0,unrouted\n",
    )
    .unwrap();
    std::fs::write(
        &ipv6,
        "2a00:c98::,2a00:c98:ffff:ffff:ffff:ffff:ffff:ffff,60781,LeaseWeb Netherlands B.V.\n\
         2002::,2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff,6939,6to4 relay\n",
    )
    .unwrap();
    let output_path = dir.path().join("asn.mmdb");
    let output = support::hostloc_bare()
        .args(["data", "import-asn"])
        .arg(&ipv4)
        .arg(&ipv6)
        .arg("--output")
        .arg(&output_path)
        .args(["--built", "2026-06-17T19:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("3 ranges; skipped 1 unrouted and 1 in 6to4/Teredo space"),
        "{stderr}"
    );

    let database = Database::open(&output_path, DatabaseRole::Asn).unwrap();
    let info = database.info(DatabaseRole::Asn);
    assert_eq!(info.database_type, "ip-location-db-ASN");
    assert_eq!(info.built.as_deref(), Some("2026-06-17T19:00:00Z"));
    // Any MaxMind reader sees the GeoLite2-ASN layout.
    let reader = maxminddb::Reader::open_readfile(&output_path).unwrap();
    let record: maxminddb::geoip2::Asn = reader
        .lookup("1.0.0.7".parse().unwrap())
        .unwrap()
        .decode()
        .unwrap()
        .expect("a record");
    assert_eq!(record.autonomous_system_number, Some(13335));
    assert_eq!(
        record.autonomous_system_organization,
        Some("Cloudflare, Inc.")
    );
    for (ip, asn) in [
        ("95.211.4.4", Some(60781)),
        ("2a00:c98::1", Some(60781)),
        ("10.1.1.1", None),
    ] {
        let found = reader.lookup(ip.parse().unwrap()).unwrap();
        let record: Option<maxminddb::geoip2::Asn> = found.decode().unwrap();
        assert_eq!(record.and_then(|r| r.autonomous_system_number), asn, "{ip}");
    }
}

#[test]
fn import_asn_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "1.0.0.0,1.0.0.255,13335,ok\n1.0.1.0,not-an-ip,1,x\n").unwrap();
    let output = support::hostloc_bare()
        .args(["data", "import-asn"])
        .arg(&csv)
        .arg("--output")
        .arg(dir.path().join("out.mmdb"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("bad.csv, line 2") && stderr.contains("not-an-ip"),
        "{stderr}"
    );
}

/// Guards against edits of the bundled files that would mislead analysts.
#[test]
fn bundled_networks_list_cloudflare_and_not_dutch_hosters() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let networks = CdnNetworks::load(&data.join("networks.csv")).expect("bundled networks load");
    assert_eq!(networks.provider_for_asn(13335), Some("Cloudflare"));
    for range in [
        "173.245.48.0",
        "103.21.244.0",
        "103.22.200.0",
        "103.31.4.0",
        "141.101.64.0",
        "108.162.192.0",
        "190.93.240.0",
        "188.114.96.0",
        "197.234.240.0",
        "198.41.128.0",
        "162.158.0.0",
        "104.16.0.0",
        "104.24.0.0",
        "172.64.0.0",
        "131.0.72.0",
        "2400:cb00::",
        "2606:4700::",
        "2803:f800::",
        "2405:b500::",
        "2405:8100::",
        "2a06:98c0::",
        "2c0f:f248::",
    ] {
        assert_eq!(
            networks.provider_for_ip(range.parse().unwrap()),
            Some("Cloudflare"),
            "Cloudflare's published range at {range}"
        );
    }
    // Leaseweb hosting (AS60781, AS16265) and Voxility are hosters, not CDNs.
    for hoster in [60781, 16265, 3223, 24940] {
        assert_eq!(networks.provider_for_asn(hoster), None, "AS{hoster}");
    }
    assert_eq!(
        networks.provider_for_name("d111111abcdef8.cloudfront.net"),
        Some("Amazon CloudFront")
    );
    assert_eq!(networks.provider_for_name("example.nl"), None);
}

#[test]
fn data_info_shows_what_is_loaded() {
    let world = support::TestWorld::new();
    let output = support::hostloc_data(&world.paths())
        .args(["data", "info"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("GeoIP2-Country") && stdout.contains("GeoLite2-ASN"),
        "{stdout}"
    );
    assert!(stdout.contains("built 2026-06-01T00:00:00Z"), "{stdout}");
    assert!(stdout.contains("networks 6 rows, 2 providers"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "hotlines 38 rows, 36 countries  {}",
            support::mmdb::bundled_hotlines().display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("anycast  2 networks  "), "{stdout}");
    // The test world's databases were built on 2026-06-01: older than the default 35 days.
    assert!(
        stdout.contains("\nnote: the country database country.mmdb was built ")
            && stdout.contains("\nnote: the asn database asn.mmdb was built "),
        "{stdout}"
    );
}

/// The bundled anycast list holds every root server's two addresses (from IANA's root hints)
/// and the big public resolvers, and no hoster.
#[test]
fn bundled_anycast_list_has_the_root_servers_and_public_resolvers() {
    use hostloc::anycast::AnycastNetworks;
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let anycast = AnycastNetworks::load(&data.join("anycast.csv")).expect("bundled list loads");
    for letter in 'A'..='M' {
        let service = format!("{letter} root server");
        let count = [
            "198.41.0.4",
            "2001:503:ba3e::2:30",
            "170.247.170.2",
            "2801:1b8:10::b",
            "192.33.4.12",
            "2001:500:2::c",
            "199.7.91.13",
            "2001:500:2d::d",
            "192.203.230.10",
            "2001:500:a8::e",
            "192.5.5.241",
            "2001:500:2f::f",
            "192.112.36.4",
            "2001:500:12::d0d",
            "198.97.190.53",
            "2001:500:1::53",
            "192.36.148.17",
            "2001:7fe::53",
            "192.58.128.30",
            "2001:503:c27::2:30",
            "193.0.14.129",
            "2001:7fd::1",
            "199.7.83.42",
            "2001:500:9f::42",
            "202.12.27.33",
            "2001:dc3::35",
        ]
        .iter()
        .filter(|ip| {
            anycast
                .find(ip.parse().unwrap())
                .is_some_and(|network| network.service == service)
        })
        .count();
        assert_eq!(count, 2, "{service}");
    }
    for (ip, service) in [
        ("8.8.8.8", "Google Public DNS"),
        ("2001:4860:4860::8844", "Google Public DNS"),
        ("9.9.9.9", "Quad9 DNS"),
        ("2620:fe::fe", "Quad9 DNS"),
        ("208.67.222.222", "OpenDNS"),
        ("1.1.1.1", "Cloudflare DNS 1.1.1.1"),
    ] {
        let found = anycast
            .find(ip.parse().unwrap())
            .map(|n| n.service.as_str());
        assert_eq!(found, Some(service), "{ip}");
    }
    for hoster in ["95.211.0.1", "46.4.0.1", "8.8.9.9"] {
        assert_eq!(anycast.find(hoster.parse().unwrap()), None, "{hoster}");
    }
}
