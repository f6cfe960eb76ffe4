//! The pipeline against a real DNS server on loopback and generated databases: every verdict,
//! every DNS outcome, CNAME chains, and a server that never answers.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hostloc::Report;
use hostloc::Verdict;
use hostloc::cache::CacheSettings;
use hostloc::networks::CdnMatch;
use hostloc::pipeline::PipelineSettings;
use hostloc::resolve::{DnsOutcome, DnsTransport};

use crate::support::{self, Answer, BlackHoleDns, TestDns, TestWorld};

fn v4(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn records(a: &[&str], aaaa: &[&str], ttl: u32) -> Answer {
    Answer::Records {
        a: a.iter().map(|ip| v4(ip)).collect(),
        aaaa: aaaa.iter().map(|ip| v6(ip)).collect(),
        ttl,
    }
}

/// The DNS zone every test below shares.
fn zone() -> TestDns {
    let dns = TestDns::start();
    dns.set(
        "nl.example",
        records(&["95.211.0.1"], &["2a00:c98::1"], 300),
    );
    dns.set(
        "mixed.example",
        records(&["95.211.0.1", "8.8.8.8"], &[], 300),
    );
    dns.set(
        "us.example",
        records(&["8.8.8.8"], &["2001:4860::8888"], 120),
    );
    dns.set("de.example", records(&["46.4.0.1"], &[], 300));
    dns.set(
        "cf.example",
        records(&["104.16.1.1", "104.16.1.2"], &["2606:4700::1"], 300),
    );
    dns.set("akamai.example", records(&["23.32.0.1"], &[], 300));
    dns.set("anycast.example", records(&["9.9.9.9"], &[], 300));
    // A hoster's address, and a public resolver's anycast address the database places in US.
    dns.set(
        "resolver-mixed.example",
        records(&["95.211.0.1"], &["2001:4860:4860::8888"], 300),
    );
    dns.set("lan.example", records(&["10.0.0.1"], &["fd00::1"], 300));
    dns.set(
        "half-private.example",
        records(&["10.0.0.1", "95.211.0.9"], &[], 300),
    );
    dns.set("nocountry.example", records(&["5.5.5.5"], &[], 300));
    dns.set("nodata-geo.example", records(&["7.7.7.7"], &[], 300));
    dns.set(
        "partly-unknown.example",
        records(&["95.211.0.1", "7.7.7.7"], &[], 300),
    );
    dns.set(
        "cdn-and-origin.example",
        records(&["104.16.1.1", "95.211.0.1"], &[], 300),
    );
    dns.set(
        "www.shop.example",
        Answer::Cname {
            target: "shop.example.cdn.cloudflare.net".into(),
            ttl: 600,
        },
    );
    dns.set(
        "shop.example.cdn.cloudflare.net",
        records(&["5.5.5.5"], &[], 60),
    );
    // A CDN recognised by its name while the address is in a hoster's network.
    dns.set(
        "www.proxied.example",
        Answer::Cname {
            target: "proxied.example.cdn.cloudflare.net".into(),
            ttl: 300,
        },
    );
    dns.set(
        "proxied.example.cdn.cloudflare.net",
        records(&["95.211.0.9"], &[], 60),
    );
    dns.set(
        "www.chain.example",
        Answer::Cname {
            target: "cdn.chain.example".into(),
            ttl: 3600,
        },
    );
    dns.set(
        "cdn.chain.example",
        Answer::Cname {
            target: "edge.chain.example".into(),
            ttl: 900,
        },
    );
    dns.set("edge.chain.example", records(&["95.211.0.1"], &[], 200));
    dns.set(
        "dangling.example",
        Answer::Cname {
            target: "gone.example".into(),
            ttl: 300,
        },
    );
    dns.set("xn--bcher-kva.example", records(&["95.211.0.7"], &[], 300));
    dns.set("nodata.example", Answer::NoData);
    dns.set("nxdomain.example", Answer::NxDomain);
    dns.set("servfail.example", Answer::ServFail);
    dns.set("refused.example", Answer::Refused);
    dns.set("silent.example", Answer::Silent);
    dns
}

struct Fixture {
    world: TestWorld,
    dns: TestDns,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            world: TestWorld::new(),
            dns: zone(),
        }
    }

    async fn lookup(&self, raw: &str) -> Report {
        self.lookup_by(DnsTransport::default(), raw).await
    }

    /// A pipeline over the fixture with the default DNS cache.
    fn cached(&self) -> hostloc::Pipeline {
        support::cached_pipeline(&self.world, self.dns.addr())
    }

    /// A pipeline over the fixture without a DNS cache, with `settings`.
    fn uncached(&self, settings: PipelineSettings) -> hostloc::Pipeline {
        let no_cache = CacheSettings {
            capacity: 0,
            ..CacheSettings::default()
        };
        support::pipeline_with(&self.world, self.dns.addr(), no_cache, settings)
    }

    async fn lookup_by(&self, transport: DnsTransport, raw: &str) -> Report {
        support::pipeline_with_transport(&self.world, self.dns.addr(), transport)
            .lookup(raw)
            .await
    }
}

/// One row of the verdict table: input, verdict, referral, countries, a reason fragment.
async fn check(fixture: &Fixture, raw: &str, verdict: Verdict, countries: &[&str], reason: &str) {
    let report = fixture.lookup(raw).await;
    assert_eq!(report.verdict, verdict, "{raw}: {}", report.reason);
    assert_eq!(report.referral, verdict.is_referral(), "{raw}");
    assert_eq!(report.countries, countries, "{raw}");
    assert!(
        report.reason.contains(reason),
        "{raw}: reason {:?} lacks {reason:?}",
        report.reason
    );
}

#[tokio::test]
async fn every_verdict_is_reachable() {
    let fixture = Fixture::new();
    use Verdict::*;
    for (raw, verdict, countries, reason) in [
        (
            "hxxps://nl[.]example/a.jpg",
            Domestic,
            &["NL"][..],
            "both addresses (95.211.0.1, 2a00:c98::1) are located in NL, at AS60781 LeaseWeb Netherlands B.V.",
        ),
        (
            "http://mixed.example/",
            PartlyDomestic,
            &["NL", "US"][..],
            "8.8.8.8 in US",
        ),
        (
            "partly-unknown.example",
            PartlyDomestic,
            &["NL"][..],
            "7.7.7.7 without country data",
        ),
        (
            "us.example/x",
            Foreign,
            &["US"][..],
            "forward to the hotline of US",
        ),
        ("de.example", Foreign, &["DE"][..], "located in DE, not NL"),
        (
            "cf.example",
            BehindCdn,
            &["US"][..],
            "ask Cloudflare for the origin server",
        ),
        (
            "akamai.example",
            BehindCdn,
            &["NL"][..],
            "ask Akamai for the origin",
        ),
        (
            "anycast.example",
            BehindCdn,
            &["CH"][..],
            "anycast network of Quad9",
        ),
        (
            "resolver-mixed.example",
            Domestic,
            &["NL", "US"][..],
            "the address 95.211.0.1 is located in NL, at AS60781 LeaseWeb Netherlands B.V.; \
             2001:4860:4860::8888, anycast (Google (Google Public DNS)), set aside",
        ),
        (
            "http://95.211.0.53/",
            BehindCdn,
            &["NL"][..],
            "the address 95.211.0.53 is anycast (RIPE NCC (K root server)): announced from many \
             places at once, so no database can say where it is served from",
        ),
        (
            "http://www.shop.example/img.png",
            BehindCdn,
            &[][..],
            "ask Cloudflare",
        ),
        (
            "cdn-and-origin.example",
            Domestic,
            &["NL", "US"][..],
            "104.16.1.1 of Cloudflare set aside",
        ),
        (
            "lan.example",
            NotPublic,
            &[][..],
            "private (10.0.0.0/8); unique local (fc00::/7)",
        ),
        (
            "half-private.example",
            Domestic,
            &["NL"][..],
            "non-public 10.0.0.1 ignored",
        ),
        (
            "nocountry.example",
            Unknown,
            &[][..],
            "no location for 5.5.5.5",
        ),
        (
            "nodata-geo.example",
            Unknown,
            &[][..],
            "no location for 7.7.7.7",
        ),
        (
            "nxdomain.example",
            Unresolved,
            &[][..],
            "does not exist in DNS (NXDOMAIN)",
        ),
        (
            "javascript:alert(1)",
            Invalid,
            &[][..],
            "names no network host",
        ),
        (
            "http://exa mple.nl/",
            Invalid,
            &[][..],
            "the host contains a space",
        ),
    ] {
        check(&fixture, raw, verdict, countries, reason).await;
    }
}

#[tokio::test]
async fn every_dns_outcome_is_classified() {
    let fixture = Fixture::new();
    for transport in support::TRANSPORTS {
        every_dns_outcome_is_classified_by(&fixture, transport).await;
    }
}

async fn every_dns_outcome_is_classified_by(fixture: &Fixture, transport: DnsTransport) {
    for (host, outcome, ttl, reason) in [
        ("nl.example", DnsOutcome::Ok, Some(300), ""),
        (
            "nxdomain.example",
            DnsOutcome::NxDomain,
            Some(30),
            "NXDOMAIN",
        ),
        (
            "never-set.example",
            DnsOutcome::NxDomain,
            Some(30),
            "NXDOMAIN",
        ),
        (
            "nodata.example",
            DnsOutcome::NoData,
            Some(30),
            "no A or AAAA record",
        ),
        ("servfail.example", DnsOutcome::ServFail, None, "SERVFAIL"),
        ("refused.example", DnsOutcome::Refused, None, "REFUSED"),
        ("silent.example", DnsOutcome::Timeout, None, "timed out"),
        (
            "dangling.example",
            DnsOutcome::NxDomain,
            Some(30),
            "NXDOMAIN",
        ),
    ] {
        let report = fixture.lookup_by(transport, host).await;
        let dns = report.dns.as_ref().expect("a domain has a dns section");
        assert_eq!(dns.outcome, outcome, "{transport:?} {host}");
        assert_eq!(dns.ttl, ttl, "{transport:?} {host}");
        assert_eq!(dns.queries.len(), 2, "{host}: A and AAAA both asked");
        assert!(!dns.from_cache);
        if outcome != DnsOutcome::Ok {
            assert_eq!(report.verdict, Verdict::Unresolved, "{transport:?} {host}");
            assert!(report.addresses.is_empty());
            assert!(
                report.reason.contains(reason),
                "{transport:?} {host}: {}",
                report.reason
            );
        }
    }
}

#[tokio::test]
async fn the_report_carries_its_evidence() {
    let fixture = Fixture::new();
    let report = fixture.lookup("hxxps://NL[.]example./a.jpg").await;
    assert_eq!(report.input, "hxxps://NL[.]example./a.jpg");
    assert_eq!(report.url.as_deref(), Some("https://nl.example/a.jpg"));
    assert_eq!(report.host.as_deref(), Some("nl.example"));
    assert_eq!(report.host_kind.as_deref(), Some("domain"));
    assert_eq!(report.registrable_domain.as_deref(), Some("nl.example"));
    assert_eq!(report.jurisdiction, "NL");
    let dns = report.dns.as_ref().unwrap();
    assert_eq!(dns.cname_chain, Vec::<String>::new());
    let [a, aaaa] = &dns.queries[..] else {
        panic!("two queries")
    };
    assert_eq!((a.record_type.as_str(), a.answers), ("A", 1));
    assert_eq!((aaaa.record_type.as_str(), aaaa.answers), ("AAAA", 1));
    assert_eq!(
        dns.servers.as_deref(),
        Some(&[fixture.dns.addr().to_string()][..])
    );
    assert_eq!(dns.transport, "pooled");
    assert_eq!((dns.from_cache, dns.cache_age), (false, 0));
    assert_eq!(dns.error, None);
    let address = &report.addresses[0];
    assert_eq!(address.ip.to_string(), "95.211.0.1");
    assert_eq!(address.ttl, Some(300), "as the server gave it");
    assert!(address.public);
    assert_eq!(address.country.as_deref(), Some("NL"));
    assert_eq!(address.registered_country.as_deref(), Some("NL"));
    assert_eq!(address.asn, Some(60781));
    assert_eq!(address.as_org.as_deref(), Some("LeaseWeb Netherlands B.V."));
    assert_eq!(address.network.as_deref(), Some("95.211.0.0/16"));
    assert_eq!(address.cdn, None);
    assert_eq!(report.databases.len(), 2);
    assert_eq!(report.databases[0].database_type, "GeoIP2-Country");
    assert_eq!(
        report.databases[0].built.as_deref(),
        Some("2026-06-01T00:00:00Z")
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // Every field of docs/spec.md's result object is present under its name.
    let json = serde_json::to_value(&report).unwrap();
    for field in [
        "input",
        "url",
        "host",
        "host_kind",
        "registrable_domain",
        "verdict",
        "referral",
        "jurisdiction",
        "reason",
        "countries",
        "addresses",
        "dns",
        "looked_up_at",
        "databases",
    ] {
        assert!(json.get(field).is_some(), "missing {field}");
    }
    assert_eq!(json["dns"]["outcome"], "ok");
    assert_eq!(json["verdict"], "domestic");
}

#[tokio::test]
async fn cname_chains_are_recorded_in_order_with_the_smallest_ttl() {
    let fixture = Fixture::new();
    for transport in support::TRANSPORTS {
        let report = fixture
            .lookup_by(transport, "http://www.chain.example/x")
            .await;
        let dns = report.dns.as_ref().unwrap();
        assert_eq!(
            dns.cname_chain,
            ["cdn.chain.example", "edge.chain.example"],
            "{transport:?}"
        );
        assert_eq!(dns.ttl, Some(200), "{transport:?}");
        assert_eq!(report.verdict, Verdict::Domestic, "{transport:?}");

        let report = fixture.lookup_by(transport, "www.shop.example").await;
        let dns = report.dns.as_ref().unwrap();
        assert_eq!(
            dns.cname_chain,
            ["shop.example.cdn.cloudflare.net"],
            "{transport:?}"
        );
        assert_eq!(report.addresses[0].cdn.as_deref(), Some("Cloudflare"));
        assert_eq!(report.addresses[0].cdn_match, Some(CdnMatch::Cname));
        assert_eq!(report.cdn_providers, ["Cloudflare"], "{transport:?}");

        // The reason says what matched (the CNAME target), not that the address is the CDN's.
        let report = fixture.lookup_by(transport, "www.proxied.example").await;
        assert_eq!(report.verdict, Verdict::BehindCdn, "{transport:?}");
        assert_eq!(
            report.reason,
            "the CNAME target proxied.example.cdn.cloudflare.net is a name of Cloudflare, a CDN \
             or reverse proxy that hides the real hosting location; its address 95.211.0.9 is \
             in AS60781 LeaseWeb Netherlands B.V. (95.211.0.0/16, NL); ask Cloudflare for the \
             origin server"
        );
    }
}

#[tokio::test]
async fn hosts_are_asked_in_punycode_and_hidden_services_not_at_all() {
    let fixture = Fixture::new();
    let report = fixture.lookup("http://BÜCHER.example/x").await;
    assert_eq!(report.host.as_deref(), Some("xn--bcher-kva.example"));
    assert_eq!(report.verdict, Verdict::Domestic);

    let onion = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion";
    let report = fixture.lookup(&format!("http://{onion}/x")).await;
    assert_eq!(report.verdict, Verdict::Unresolved);
    assert!(
        report.reason.contains("hidden service on the Tor network"),
        "{}",
        report.reason
    );
    assert!(report.dns.is_none());
    assert_eq!(
        fixture.dns.queries(onion),
        0,
        "DNS is never asked for .onion"
    );
}

#[tokio::test]
async fn ip_literals_skip_dns() {
    let fixture = Fixture::new();
    for (raw, ip, located_as, verdict) in [
        ("http://1607663617/", "95.211.0.1", None, Verdict::Domestic),
        (
            "http://[::ffff:95.211.0.1]/",
            "::ffff:95.211.0.1",
            Some("95.211.0.1"),
            Verdict::Domestic,
        ),
        (
            "http://[2606:4700::6810:1]/",
            "2606:4700::6810:1",
            None,
            Verdict::BehindCdn,
        ),
        ("http://127.1/", "127.0.0.1", None, Verdict::NotPublic),
        ("http://0x08.8.8.8/", "8.8.8.8", None, Verdict::Foreign),
    ] {
        let report = fixture.lookup(raw).await;
        assert!(report.dns.is_none(), "{raw}");
        assert_eq!(report.addresses.len(), 1, "{raw}");
        assert_eq!(report.addresses[0].ip.to_string(), ip, "{raw}");
        assert_eq!(
            report.addresses[0].located_as.as_deref(),
            located_as,
            "{raw}"
        );
        assert_eq!(report.verdict, verdict, "{raw}: {}", report.reason);
        assert_eq!(report.registrable_domain, None);
    }
}

#[tokio::test]
async fn the_jurisdiction_decides_domestic() {
    let fixture = Fixture::new();
    let germany = fixture.uncached(PipelineSettings {
        jurisdiction: "DE".parse().unwrap(),
        ..PipelineSettings::default()
    });
    let report = germany.lookup("de.example").await;
    assert_eq!((report.verdict, report.referral), (Verdict::Domestic, true));
    assert_eq!(report.jurisdiction, "DE");
    let report = germany.lookup("nl.example").await;
    assert_eq!(report.verdict, Verdict::Foreign);
    assert!(report.reason.contains("not DE"), "{}", report.reason);
}

#[tokio::test]
async fn a_server_that_never_answers_gives_timeout_in_bounded_time() {
    let world = TestWorld::new();
    let black_hole = BlackHoleDns::start();
    for transport in support::TRANSPORTS {
        let pipeline = support::pipeline_with_transport(&world, black_hole.addr(), transport);
        let started = Instant::now();
        let report = pipeline.lookup("anything.example").await;
        let elapsed = started.elapsed();
        assert_eq!(
            report.dns.as_ref().unwrap().outcome,
            DnsOutcome::Timeout,
            "{transport:?}"
        );
        assert_eq!(report.verdict, Verdict::Unresolved);
        // 300 ms × 1 attempt + 500 ms slack is the documented bound.
        assert!(
            elapsed < Duration::from_millis(800) + Duration::from_millis(700),
            "{transport:?}: {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn repeated_hosts_are_resolved_once_while_cached() {
    let fixture = Fixture::new();
    let pipeline = fixture.cached();
    let lookups = (0..20).map(|i| {
        let pipeline = pipeline.clone();
        async move { pipeline.lookup(&format!("http://us.example/{i}")).await }
    });
    let reports = futures::future::join_all(lookups).await;
    assert!(reports.iter().all(|r| r.verdict == Verdict::Foreign));
    assert_eq!(
        fixture.dns.queries("us.example"),
        2,
        "one A and one AAAA query in all"
    );
    assert!(
        reports
            .iter()
            .filter(|r| r.dns.as_ref().unwrap().from_cache)
            .count()
            >= 19
    );
}

#[tokio::test]
async fn a_cached_answer_says_how_old_it_is() {
    let fixture = Fixture::new();
    let pipeline = fixture.cached();
    let fresh = pipeline.lookup("us.example").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cached = pipeline.lookup("us.example").await;
    let (fresh_dns, cached_dns) = (fresh.dns.unwrap(), cached.dns.unwrap());
    assert_eq!((fresh_dns.from_cache, fresh_dns.cache_age), (false, 0));
    assert!(cached_dns.from_cache);
    assert!(cached_dns.cache_age >= 1, "{cached_dns:?}");
    assert_eq!(cached_dns.resolved_at, fresh_dns.resolved_at);
    // The TTLs stay as the server gave them; the age says how much of them has passed.
    assert_eq!(cached.addresses[0].ttl, Some(120));
    assert_eq!(cached_dns.ttl, Some(120));
}

#[tokio::test]
async fn stale_data_is_flagged_in_every_result() {
    let fixture = Fixture::new();
    let strict = fixture.uncached(PipelineSettings {
        max_data_age: Some(Duration::from_secs(86_400)),
        ..PipelineSettings::default()
    });
    let report = strict.lookup("95.211.0.1").await;
    assert_eq!(
        report.verdict,
        Verdict::Domestic,
        "a warning does not change the verdict"
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("more than --max-data-age (1 day)")),
        "{:?}",
        report.warnings
    );
}
