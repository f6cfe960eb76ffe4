//! Name servers that misbehave: dead, silent, refusing, without EDNS, failing, on IPv6, with
//! broken TCP; and hostloc's own queue overflowing. Each ends in the right outcome, and a bad
//! server does not hold up the good ones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hickory_server::proto::op::{Message, ResponseCode};
use hostloc::cache::CacheSettings;
use hostloc::dns_transport::CounterSnapshot;
use hostloc::pipeline::PipelineSettings;
use hostloc::resolve::{DnsFailure, DnsOutcome, DnsSettings, DnsTransport};

use crate::dns_transport::{a_records, resolver, resolver_with};
use crate::support::{
    self, Answer, BlackHoleDns, Datagram, Frame, ScriptedDns, TestDns, TestWorld, a_answer,
    closed_port, reply,
};

const GENUINE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FORGED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_server_does_not_hold_up_the_others() {
    const NAMES: usize = 1_000;
    let black_hole = BlackHoleDns::start();
    let dns = TestDns::start();
    for i in 0..NAMES {
        dns.set(&format!("n{i}.example"), a_records(&[GENUINE], &[]));
    }
    // One round, two seconds per try, so a lookup ends within 4.5 s: before per-server health,
    // every question had to get room at the dead server first (128 at a time, two seconds each),
    // so most of these 2 000 never got past it before their deadline.
    let resolver = resolver(&[black_hole.addr(), dns.addr()], 2000, DnsTransport::Pooled);
    let lookups = (0..NAMES).map(|i| {
        let resolver = resolver.clone();
        tokio::spawn(async move { resolver.resolve(&format!("n{i}.example")).await })
    });
    for lookup in futures::future::join_all(lookups).await {
        let resolution = lookup.expect("the lookup task finishes");
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{resolution:?}");
        assert_eq!(resolution.servers.as_deref(), Some(&[dns.addr()][..]));
    }
    let stats = resolver.transport_stats().unwrap();
    let dead = &stats.servers[0];
    assert!(!dead.up, "{dead:?}");
    // Only the first window's worth (and a probe or two) went to the dead server.
    assert!(dead.counters.udp_queries <= 140, "{dead:?}");
    assert!(stats.servers[1].up);
}

#[tokio::test]
async fn a_silent_first_server_is_skipped_on_the_next_try() {
    let black_hole = BlackHoleDns::start();
    let dns = TestDns::start();
    dns.set("www.example", a_records(&[GENUINE], &[]));
    for transport in support::TRANSPORTS {
        let resolver = resolver(&[black_hole.addr(), dns.addr()], 300, transport);
        let resolution = resolver.resolve("www.example").await;
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{transport:?}");
        assert_eq!(resolution.ips(), [IpAddr::V4(GENUINE)]);
    }
}

#[tokio::test]
async fn a_closed_port_is_an_error_not_a_timeout_and_is_skipped() {
    let closed = closed_port();
    // Long tries: without noticing the refusal, a lookup would wait them out.
    let alone = resolver(&[closed], 10_000, DnsTransport::Pooled);
    let resolution = alone.resolve("www.example").await;
    assert_eq!(resolution.outcome, DnsOutcome::Error);
    assert_eq!(resolution.error, Some(DnsFailure::ConnectionRefused));

    let dns = TestDns::start();
    dns.set("www.example", a_records(&[GENUINE], &[]));
    let resolver = resolver(&[closed, dns.addr()], 10_000, DnsTransport::Pooled);
    let resolution = resolver.resolve("www.example").await;
    assert_eq!(resolution.outcome, DnsOutcome::Ok);
    let stats = resolver.transport_stats().unwrap();
    assert!(!stats.servers[0].up, "{stats:?}");
    assert!(
        CounterSnapshot::count(&stats.servers[0].counters.retries, "connection_refused") >= 1,
        "{stats:?}"
    );
    // From now on the refusing server is left alone.
    let asked = stats.servers[0].counters.udp_queries;
    for _ in 0..5 {
        assert_eq!(
            resolver.resolve("www.example").await.outcome,
            DnsOutcome::Ok
        );
    }
    let stats = resolver.transport_stats().unwrap();
    assert_eq!(stats.servers[0].counters.udp_queries, asked);
}

#[tokio::test]
async fn an_ipv6_name_server_is_asked() {
    let dns = TestDns::start_on(IpAddr::V6(Ipv6Addr::LOCALHOST));
    dns.set(
        "www.example",
        a_records(&[GENUINE], &["2001:db8::1".parse().unwrap()]),
    );
    assert!(dns.addr().is_ipv6());
    for transport in crate::dns_transport::ALL_TRANSPORTS {
        let resolution = resolver(&[dns.addr()], 1000, transport)
            .resolve("www.example")
            .await;
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{transport:?}");
        assert_eq!(resolution.addresses.len(), 2, "{transport:?}");
        assert_eq!(
            resolution.servers.as_deref(),
            Some(&[dns.addr()][..]),
            "{transport:?}"
        );
    }
}

#[tokio::test]
async fn a_server_without_edns_is_asked_again_without_it() {
    // Like old servers (RFC 6891 section 7): FORMERR, without an OPT record, to any query that
    // has one.
    let server = ScriptedDns::udp(|query| {
        let response = if query.edns.is_some() {
            let mut refusal = reply(query, Vec::new());
            refusal.metadata.response_code = ResponseCode::FormErr;
            refusal
        } else {
            reply(query, a_answer(query, GENUINE))
        };
        vec![Datagram::Reply(response)]
    });
    let resolver = resolver(&[server.addr()], 1000, DnsTransport::Pooled);
    for _ in 0..3 {
        let resolution = resolver.resolve("www.example").await;
        assert_eq!(resolution.outcome, DnsOutcome::Ok);
        assert_eq!(resolution.ips(), [IpAddr::V4(GENUINE)]);
    }
    let log = server.log();
    let with_edns = log.udp_queries.iter().filter(|q| q.edns.is_some()).count();
    // Only the first lookup's two queries offered EDNS; the server is remembered.
    assert_eq!(with_edns, 2, "{} queries", log.udp_queries.len());

    // hickory does not retry without EDNS: the response code is reported.
    let hickory = resolver_with(&[server.addr()], DnsTransport::Hickory, |_| {});
    let resolution = hickory.resolve("www.example").await;
    assert_eq!(resolution.outcome, DnsOutcome::Error);
    assert_eq!(resolution.error, Some(DnsFailure::ResponseCode));
    assert_eq!(
        resolution.queries[0].rcode_name().as_deref(),
        Some("FORMERR")
    );
}

#[tokio::test]
async fn servfail_and_refused_are_asked_of_the_next_server_and_a_third_is_asked() {
    let failing = TestDns::start();
    failing.set("www.example", Answer::ServFail);
    let refusing = TestDns::start();
    refusing.set("www.example", Answer::Refused);
    let dns = TestDns::start();
    dns.set("www.example", a_records(&[GENUINE], &[]));
    let servers = [failing.addr(), refusing.addr(), dns.addr()];
    let resolution = resolver(&servers, 1000, DnsTransport::Pooled)
        .resolve("www.example")
        .await;
    assert_eq!(resolution.outcome, DnsOutcome::Ok);
    // The evidence names the server whose answer was used.
    assert_eq!(resolution.servers.as_deref(), Some(&[dns.addr()][..]));
    let answered_by = dns.addr().to_string();
    assert_eq!(resolution.queries[0].server.as_deref(), Some(&*answered_by));

    // When every server fails, the failure is reported, once per server asked.
    let resolution = resolver(&servers[..2], 1000, DnsTransport::Pooled)
        .resolve("www.example")
        .await;
    assert_eq!(resolution.outcome, DnsOutcome::ServFail);

    // The default two rounds still reach a third server behind two silent ones.
    let silent = (BlackHoleDns::start(), BlackHoleDns::start());
    let resolver = resolver_with(
        &[silent.0.addr(), silent.1.addr(), dns.addr()],
        DnsTransport::Pooled,
        |settings| {
            settings.timeout = Duration::from_millis(300);
            settings.attempts = DnsSettings::default().attempts;
        },
    );
    assert_eq!(
        resolver.resolve("www.example").await.outcome,
        DnsOutcome::Ok
    );
}

#[tokio::test]
async fn an_unknown_response_code_is_an_error_not_an_answer() {
    let server = ScriptedDns::udp(|query| {
        let mut odd = reply(query, Vec::new());
        odd.metadata.response_code = ResponseCode::Unknown(11);
        vec![Datagram::Reply(odd)]
    });
    for transport in support::TRANSPORTS {
        let resolution = resolver(&[server.addr()], 1000, transport)
            .resolve("www.example")
            .await;
        assert_eq!(resolution.outcome, DnsOutcome::Error, "{transport:?}");
        assert_eq!(resolution.error, Some(DnsFailure::ResponseCode));
        assert_eq!(
            resolution.queries[0].rcode_name().as_deref(),
            Some("RCODE11")
        );
    }
}

#[tokio::test]
async fn a_full_queue_is_its_own_outcome_and_is_not_cached() {
    let world = TestWorld::new();
    let black_hole = BlackHoleDns::start();
    let dns = DnsSettings {
        servers: vec![black_hole.addr()],
        timeout: Duration::from_millis(500),
        attempts: 1,
        queue: 10,
        ..DnsSettings::default()
    };
    let pipeline = support::build_pipeline(
        world.paths(),
        &dns,
        CacheSettings::default(),
        PipelineSettings::default(),
    );
    // 400 questions: 128 fill the silent server's window, 10 wait, the rest find the queue full.
    let lookups = (0..200).map(|i| {
        let pipeline = pipeline.clone();
        async move { pipeline.lookup(&format!("n{i}.example")).await }
    });
    let reports = futures::future::join_all(lookups).await;
    let never_asked: Vec<&hostloc::Report> = reports
        .iter()
        .filter(|report| report.dns.as_ref().unwrap().error == Some(DnsFailure::QueueFull))
        .collect();
    assert!(never_asked.len() >= 100, "{}", never_asked.len());
    for report in &never_asked {
        assert_eq!(report.dns.as_ref().unwrap().outcome, DnsOutcome::Error);
        assert!(report.reason.contains("never asked"), "{}", report.reason);
    }
    let stats = pipeline.dns_cache().resolver().transport_stats().unwrap();
    assert!(stats.not_sent >= 262, "{stats:?}");
    // Not cached: asked again, it is asked of DNS (and times out, the server being silent).
    let again = pipeline.lookup(never_asked[0].input.as_str()).await;
    let dns = again.dns.as_ref().unwrap();
    assert!(!dns.from_cache);
    assert_eq!(dns.outcome, DnsOutcome::Timeout);
}

/// A server whose UDP answers are always truncated and whose TCP behaves as `tcp` says.
fn truncating(tcp: Option<fn(&Message) -> Vec<Frame>>) -> ScriptedDns {
    ScriptedDns::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        |query: &Message| {
            let mut truncated = reply(query, Vec::new());
            truncated.metadata.truncation = true;
            vec![Datagram::Reply(truncated)]
        },
        tcp,
    )
}

#[tokio::test]
async fn tcp_fallback_that_fails_never_yields_an_answer() {
    fn wrong_id(query: &Message) -> Vec<Frame> {
        let mut forged = reply(query, a_answer(query, FORGED));
        forged.metadata.id = query.metadata.id.wrapping_add(1);
        vec![Frame::Reply(forged)]
    }
    fn short_frame(_query: &Message) -> Vec<Frame> {
        // A length of 100 bytes, then only 5 of them, then the end of the connection.
        vec![Frame::Raw(vec![0, 100, 1, 2, 3, 4, 5]), Frame::Close]
    }
    for (tcp, outcome, failure) in [
        (None, DnsOutcome::Error, Some(DnsFailure::ConnectionRefused)),
        (
            Some(wrong_id as fn(&Message) -> Vec<Frame>),
            DnsOutcome::Timeout,
            None,
        ),
        (
            Some(short_frame),
            DnsOutcome::Error,
            Some(DnsFailure::Transport),
        ),
    ] {
        let server = truncating(tcp);
        let resolver = resolver(&[server.addr()], 500, DnsTransport::Pooled);
        let resolution = resolver.resolve("www.example").await;
        assert_eq!(resolution.outcome, outcome, "{resolution:?}");
        assert_eq!(resolution.error, failure, "{resolution:?}");
        assert!(resolution.addresses.is_empty());
        let counters = &resolver.transport_stats().unwrap().servers[0].counters;
        assert_eq!(CounterSnapshot::count(&counters.retries, "truncated"), 2);
    }
}

#[tokio::test]
async fn truncated_answers_share_one_pipelined_tcp_connection() {
    fn genuine(query: &Message) -> Vec<Frame> {
        vec![Frame::Reply(reply(query, a_answer(query, GENUINE)))]
    }
    let server = truncating(Some(genuine));
    let resolver = resolver(&[server.addr()], 2000, DnsTransport::Pooled);
    let lookups = (0..20).map(|i| {
        let resolver = resolver.clone();
        async move { resolver.resolve(&format!("n{i}.example")).await }
    });
    for resolution in futures::future::join_all(lookups).await {
        assert_eq!(resolution.ips(), [IpAddr::V4(GENUINE)]);
    }
    let log = server.log();
    assert_eq!(log.tcp_queries.len(), 40);
    assert_eq!(log.tcp_connections, 1);
}
