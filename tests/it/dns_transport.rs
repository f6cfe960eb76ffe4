//! The DNS transports on loopback: all give the same resolutions; truncated answers go over
//! TCP; thousands of concurrent queries each get their own answer; late answers after a
//! timeout are told apart and confuse nothing. The binary takes any transport.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use hostloc::dns_transport::{CounterSnapshot, Rotation};
use hostloc::resolve::{DnsOutcome, DnsResolver, DnsSettings, DnsTransport, Resolution};

use crate::support::{self, Answer, TestDns, TestWorld, json_lines};

/// Every transport, for tests that must hold for each.
pub(crate) const ALL_TRANSPORTS: [DnsTransport; 3] = [
    DnsTransport::Pooled,
    DnsTransport::Hickory,
    DnsTransport::HickoryTcp,
];

/// A resolver for `servers` by `transport`: one round over the servers, `timeout_ms` per try.
pub(crate) fn resolver(
    servers: &[SocketAddr],
    timeout_ms: u64,
    transport: DnsTransport,
) -> DnsResolver {
    resolver_with(servers, transport, |settings| {
        settings.timeout = Duration::from_millis(timeout_ms);
    })
}

/// A resolver for `servers` by `transport`, with `adjust` applied to one-round settings.
pub(crate) fn resolver_with(
    servers: &[SocketAddr],
    transport: DnsTransport,
    adjust: impl FnOnce(&mut DnsSettings),
) -> DnsResolver {
    let mut settings = DnsSettings {
        servers: servers.to_vec(),
        timeout: Duration::from_secs(1),
        attempts: 1,
        transport,
        ..DnsSettings::default()
    };
    adjust(&mut settings);
    DnsResolver::new(&settings).expect("resolver builds")
}

pub(crate) fn a_records(a: &[Ipv4Addr], aaaa: &[Ipv6Addr]) -> Answer {
    Answer::Records {
        a: a.to_vec(),
        aaaa: aaaa.to_vec(),
        ttl: 300,
    }
}

/// The parts of a resolution that do not depend on when it was made or how it travelled.
fn comparable(resolution: &Resolution) -> String {
    format!(
        "{:?} {:?} {:?} {:?} ttl {:?} servers {:?} {:?}",
        resolution.outcome,
        resolution.error,
        resolution.addresses,
        resolution.cname_chain,
        resolution.ttl,
        resolution.servers,
        resolution
            .queries
            .iter()
            .map(|query| (
                query.record_type.as_str(),
                query.outcome,
                query.error,
                query.answers,
                query.rcode_name(),
                query.server.clone()
            ))
            .collect::<Vec<_>>()
    )
}

#[tokio::test]
async fn every_transport_resolves_every_kind_of_answer_alike() {
    let dns = TestDns::start();
    let v4 = |text: &str| text.parse::<Ipv4Addr>().unwrap();
    let cname = |target: &str, ttl| Answer::Cname {
        target: target.to_owned(),
        ttl,
    };
    dns.set(
        "both.example",
        a_records(
            &[v4("192.0.2.1"), v4("192.0.2.2")],
            &["2001:db8::1".parse().unwrap()],
        ),
    );
    dns.set("v4.example", a_records(&[v4("192.0.2.3")], &[]));
    dns.set("www.chain.example", cname("cdn.chain.example", 3600));
    dns.set("cdn.chain.example", cname("edge.chain.example", 900));
    dns.set("edge.chain.example", a_records(&[v4("192.0.2.4")], &[]));
    dns.set("dangling.example", cname("gone.example", 300));
    dns.set("to-nodata.example", cname("nodata.example", 300));
    dns.set("nodata.example", Answer::NoData);
    dns.set("to-servfail.example", cname("servfail.example", 300));
    dns.set("servfail.example", Answer::ServFail);
    dns.set("refused.example", Answer::Refused);
    dns.set("loop-a.example", cname("loop-b.example", 300));
    dns.set("loop-b.example", cname("loop-a.example", 300));
    dns.set(
        "big.example",
        Answer::Truncated(Box::new(a_records(&[v4("192.0.2.5")], &[]))),
    );
    let resolvers: Vec<DnsResolver> = ALL_TRANSPORTS
        .iter()
        .map(|&transport| resolver(&[dns.addr()], 1000, transport))
        .collect();
    for host in [
        "both.example",
        "v4.example",
        "www.chain.example",
        "dangling.example",
        "never-set.example",
        "to-nodata.example",
        "nodata.example",
        "to-servfail.example",
        "refused.example",
        "loop-a.example",
        "big.example",
    ] {
        let expected = comparable(&resolvers[0].resolve(host).await);
        for resolver in &resolvers[1..] {
            let got = comparable(&resolver.resolve(host).await);
            assert_eq!(got, expected, "{host} by {:?}", resolver.transport());
        }
    }
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let dns = TestDns::start();
    let many: Vec<Ipv4Addr> = (1..=40)
        .map(|last| Ipv4Addr::new(192, 0, 2, last))
        .collect();
    dns.set(
        "big.example",
        Answer::Truncated(Box::new(a_records(&many, &[]))),
    );
    for transport in support::TRANSPORTS {
        let before = dns.queries("big.example");
        let resolution = resolver(&[dns.addr()], 1000, transport)
            .resolve("big.example")
            .await;
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{transport:?}");
        let addresses: Vec<_> = many.iter().copied().map(IpAddr::V4).collect();
        assert_eq!(resolution.ips(), addresses, "{transport:?}");
        // The UDP answers carry no records at all: every address came over TCP. A and AAAA
        // were each asked over UDP, then over TCP.
        assert_eq!(dns.queries("big.example") - before, 4, "{transport:?}");
        if transport == DnsTransport::Pooled {
            assert_eq!(resolution.queries[0].protocol_name(), Some("tcp"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_concurrent_queries_each_get_their_own_answer() {
    const NAMES: u16 = 5_000;
    let dns = TestDns::start();
    let v4 = |i: u16| Ipv4Addr::new(198, 18, (i >> 8) as u8, (i & 0xff) as u8);
    let v6 = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i);
    for i in 0..NAMES {
        dns.set(&format!("n{i}.example"), a_records(&[v4(i)], &[v6(i)]));
    }
    // Time enough for the test server (one thread, a debug build) to answer all 10 000 on a
    // busy machine: this is about every answer reaching its own query, not about speed. Sockets
    // move by their count of queries only, so that their rotations do not depend on how long
    // a loaded machine takes.
    let resolver = resolver_with(&[dns.addr()], DnsTransport::Pooled, |settings| {
        settings.timeout = Duration::from_secs(20);
        settings.rotation = Rotation {
            max_age: Duration::from_secs(3600),
            ..Rotation::default()
        };
    });
    let lookups = (0..NAMES).map(|i| {
        let resolver = resolver.clone();
        tokio::spawn(async move { (i, resolver.resolve(&format!("n{i}.example")).await) })
    });
    for lookup in futures::future::join_all(lookups).await {
        let (i, resolution) = lookup.expect("the lookup task finishes");
        assert_eq!(
            resolution.ips(),
            [IpAddr::V4(v4(i)), IpAddr::V6(v6(i))],
            "n{i}.example: {:?}",
            resolution.queries
        );
    }
    let stats = resolver.transport_stats().expect("pooled has counters");
    assert_eq!(stats.in_flight(), 0);
    assert_eq!(stats.questions_in_flight, 0);
    // Nothing dropped looked forged (a query resent under load may be answered twice: the second
    // answer is late, not suspicious).
    for reason in ["unknown_id", "wrong_question", "wrong_case", "malformed"] {
        let dropped =
            stats.total(|server| CounterSnapshot::count(&server.counters.dropped, reason));
        assert_eq!(dropped, 0, "{reason}: {stats:?}");
    }
    // 10 000 queries over four sockets replace each socket about twice (every 1 024 queries).
    let rotations = stats.total(|server| server.counters.socket_rotations);
    assert!((4..=12).contains(&rotations), "{stats:?}");
}

#[tokio::test]
async fn late_answers_after_a_timeout_neither_leak_nor_confuse_later_queries() {
    let dns = TestDns::start();
    let first = Ipv4Addr::new(192, 0, 2, 1);
    let second = Ipv4Addr::new(192, 0, 2, 2);
    let late = Duration::from_millis(800);
    dns.set(
        "late.example",
        Answer::Delay(late, Box::new(a_records(&[first], &[]))),
    );
    let resolver = resolver(&[dns.addr()], 300, DnsTransport::Pooled);
    let started = Instant::now();
    assert_eq!(
        resolver.resolve("late.example").await.outcome,
        DnsOutcome::Timeout
    );
    assert_eq!(resolver.transport_stats().unwrap().in_flight(), 0);

    // From now on the name answers at once, with another address; the late answers to the
    // queries that gave up arrive meanwhile and must not be taken for the new ones.
    dns.set("late.example", a_records(&[second], &[]));
    while started.elapsed() < late + Duration::from_millis(200) {
        let resolution = resolver.resolve("late.example").await;
        assert_eq!(resolution.ips(), [second]);
    }
    let stats = resolver.transport_stats().unwrap();
    assert_eq!(stats.in_flight(), 0);
    let counters = &stats.servers[0].counters;
    // The late A and AAAA answers arrived and were dropped as late, not as forgeries (on a busy
    // machine a later query may be resent and answered twice: late too).
    assert!(
        CounterSnapshot::count(&counters.dropped, "late") >= 2,
        "{counters:?}"
    );
    assert_eq!(
        CounterSnapshot::count(&counters.dropped, "unknown_id"),
        0,
        "{counters:?}"
    );
}

#[test]
fn the_binary_answers_alike_with_the_transport_from_flag_or_environment() {
    let (world, dns) = (TestWorld::new(), TestDns::start());
    dns.set(
        "www.example",
        a_records(&[Ipv4Addr::new(95, 211, 0, 1)], &[]),
    );
    let mut reports = Vec::new();
    for (flag, environment, expected) in [
        (None, None, "pooled"),
        (Some("pooled"), None, "pooled"),
        (Some("hickory"), None, "hickory"),
        (None, Some("hickory"), "hickory"),
        (Some("hickory-tcp"), None, "hickory-tcp"),
    ] {
        let mut command = support::hostloc(&world, dns.addr());
        if let Some(transport) = flag {
            command.args(["--dns-transport", transport]);
        }
        if let Some(transport) = environment {
            command.env("HOSTLOC_DNS_TRANSPORT", transport);
        }
        let output = command
            .args(["lookup", "--json", "www.example"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{flag:?} {environment:?}");
        let mut report = json_lines(&output.stdout).remove(0);
        assert_eq!(report["dns"]["transport"], expected);
        report["looked_up_at"].take();
        report["dns"]["resolved_at"].take();
        report["dns"]["transport"].take();
        for query in report["dns"]["queries"].as_array_mut().unwrap() {
            query["protocol"].take();
        }
        reports.push(report);
    }
    assert_eq!(reports[0]["dns"]["outcome"], "ok");
    assert!(
        reports.iter().all(|report| *report == reports[0]),
        "{reports:#?}"
    );

    let output = support::hostloc(&world, dns.addr())
        .args(["--dns-transport", "carrier-pigeon", "lookup", "www.example"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
