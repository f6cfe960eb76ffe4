//! Spoofing, seen from the wire: forged and mismatched answers are dropped and counted; an answer
//! in the wrong case (0x20) is asked again over TCP; the pooled sockets move to fresh random
//! ports; identical questions in flight go out once; records off the CNAME chain are ignored.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_server::proto::op::{Message, MessageType, Query};
use hickory_server::proto::rr::{Name, RecordType};
use hostloc::dns_transport::{CounterSnapshot, Rotation};
use hostloc::resolve::{DnsOutcome, DnsTransport};

use crate::dns_transport::{a_records, resolver, resolver_with};
use crate::support::{
    self, Answer, Datagram, Frame, ScriptedDns, TestDns, TestWorld, a_answer, a_record,
    cname_record, reply,
};

const GENUINE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FORGED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);

/// `name` with the case of every letter flipped.
fn swapped_case(name: &Name) -> Name {
    let flipped: String = name
        .to_ascii()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    Name::from_ascii(flipped).expect("a name")
}

#[tokio::test]
async fn forged_and_mismatched_responses_are_ignored() {
    let server = ScriptedDns::udp(|query| {
        let id = query.metadata.id;
        let question = query.queries[0].clone();
        let with = |id: u16, question: Query| {
            let mut message = reply(query, a_answer(query, FORGED));
            message.metadata.id = id;
            message.queries = vec![question];
            message
        };
        let other_type = match question.query_type() {
            RecordType::A => RecordType::AAAA,
            _ => RecordType::A,
        };
        let mut reflected = reply(query, a_answer(query, FORGED));
        reflected.metadata.message_type = MessageType::Query;
        vec![
            // The right ID, another question.
            Datagram::Reply(with(
                id,
                Query::query(Name::from_ascii("evil.example.").unwrap(), other_type),
            )),
            // The right ID and name, another type.
            Datagram::Reply(with(id, Query::query(question.name().clone(), other_type))),
            // The right question, another ID.
            Datagram::Reply(with(id.wrapping_add(1), question.clone())),
            // Everything right, but from another port.
            Datagram::FromElsewhere(reply(query, a_answer(query, FORGED))),
            // Not a response at all.
            Datagram::Reply(reflected),
            // The answer.
            Datagram::Reply(reply(query, a_answer(query, GENUINE))),
        ]
    });
    for transport in support::TRANSPORTS {
        let resolver = resolver(&[server.addr()], 1000, transport);
        let resolution = resolver.resolve("www.example").await;
        assert!(
            !resolution.ips().contains(&FORGED.into()),
            "{transport:?}: {:?}",
            resolution.addresses
        );
        // hickory fails the query on the reflected query instead of waiting for the answer;
        // the pooled transport drops every forgery and takes the answer.
        if let Some(stats) = resolver.transport_stats() {
            assert_eq!(resolution.outcome, DnsOutcome::Ok);
            assert_eq!(resolution.ips(), [IpAddr::V4(GENUINE)]);
            assert_eq!(stats.in_flight(), 0);
            // Per query (A and AAAA): two with the wrong question, one with an unknown ID, one
            // that is no response; the kernel drops the one from another port.
            let dropped = &stats.servers[0].counters.dropped;
            for (reason, count) in [
                ("wrong_question", 4),
                ("unknown_id", 2),
                ("not_response", 2),
                ("wrong_case", 0),
            ] {
                assert_eq!(
                    CounterSnapshot::count(dropped, reason),
                    count,
                    "{reason}: {dropped:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_answer_in_the_wrong_case_is_asked_again_over_tcp() {
    let server = ScriptedDns::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        |query: &Message| {
            // The right port, ID and question, but the name in another case: someone who
            // guessed the ID but not the case.
            let mut forged = reply(query, a_answer(query, FORGED));
            forged.queries[0].name = swapped_case(query.queries[0].name());
            vec![Datagram::Reply(forged)]
        },
        Some(|query: &Message| vec![Frame::Reply(reply(query, a_answer(query, GENUINE)))]),
    );
    for transport in support::TRANSPORTS {
        let before = server.log().tcp_queries.len();
        let resolver = resolver(&[server.addr()], 1000, transport);
        let resolution = resolver.resolve("www.example").await;
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{transport:?}");
        assert_eq!(resolution.ips(), [IpAddr::V4(GENUINE)], "{transport:?}");
        // A and AAAA were both asked again over TCP.
        assert_eq!(server.log().tcp_queries.len() - before, 2, "{transport:?}");
        if let Some(stats) = resolver.transport_stats() {
            let counters = &stats.servers[0].counters;
            assert_eq!(CounterSnapshot::count(&counters.dropped, "wrong_case"), 2);
            assert_eq!(
                CounterSnapshot::count(&counters.retries, "case_mismatch"),
                2
            );
            assert_eq!(resolution.queries[0].protocol_name(), Some("tcp"));
        }
    }
}

/// A server that answers every query properly and logs it.
fn honest_server() -> ScriptedDns {
    ScriptedDns::udp(|query| vec![Datagram::Reply(reply(query, a_answer(query, GENUINE)))])
}

#[tokio::test]
async fn the_pooled_sockets_move_to_fresh_ports_and_randomise_the_case() {
    let server = honest_server();
    let every_query = resolver_with(&[server.addr()], DnsTransport::Pooled, |settings| {
        settings.rotation = Rotation {
            max_queries: 1,
            max_age: Duration::from_secs(3600),
        };
    });
    for _ in 0..20 {
        let resolution = every_query.resolve("www.example").await;
        assert_eq!(resolution.ips(), [IpAddr::V4(GENUINE)]);
    }
    let log = server.log();
    assert_eq!(log.udp_ports.len(), 40);
    let ports: BTreeSet<u16> = log.udp_ports.iter().copied().collect();
    // Forty queries, each from a fresh socket on a random port (two may draw the same).
    assert!(ports.len() >= 35, "{:?}", log.udp_ports);
    assert!(ports.iter().all(|&port| port >= 1024));
    let stats = every_query.transport_stats().unwrap();
    assert!(
        stats.servers[0].counters.socket_rotations >= 30,
        "{stats:?}"
    );

    // 0x20: about half the letters of the names on the wire are upper case.
    let letters: Vec<char> = log
        .udp_queries
        .iter()
        .flat_map(|query| {
            query.queries[0]
                .name()
                .to_ascii()
                .chars()
                .collect::<Vec<_>>()
        })
        .filter(char::is_ascii_alphabetic)
        .collect();
    let upper = letters.iter().filter(|c| c.is_ascii_uppercase()).count();
    assert!(
        (letters.len() / 4..letters.len() * 3 / 4).contains(&upper),
        "{upper} of {} letters upper case",
        letters.len()
    );

    // By default the same forty queries share the first four sockets' ports.
    let steady = honest_server();
    let default = resolver(&[steady.addr()], 1000, DnsTransport::Pooled);
    for _ in 0..20 {
        default.resolve("www.example").await;
    }
    let ports: BTreeSet<u16> = steady.log().udp_ports.into_iter().collect();
    assert!(ports.len() <= 4, "{ports:?}");
}

#[tokio::test]
async fn identical_questions_in_flight_go_on_the_wire_once() {
    let world = TestWorld::new();
    let dns = TestDns::start();
    // Slow enough that every lookup below starts while the first is still waiting.
    dns.set(
        "same.example",
        Answer::Delay(
            Duration::from_millis(100),
            Box::new(a_records(&[Ipv4Addr::new(95, 211, 0, 1)], &[])),
        ),
    );
    for transport in support::TRANSPORTS {
        let before = dns.queries("same.example");
        let pipeline = support::pipeline_with_transport(&world, dns.addr(), transport);
        let lookups = (0..50).map(|i| {
            let pipeline = pipeline.clone();
            async move { pipeline.lookup(&format!("http://same.example/{i}")).await }
        });
        let reports = futures::future::join_all(lookups).await;
        for report in &reports {
            let dns = report.dns.as_ref().unwrap();
            assert!(!dns.from_cache, "the cache is off");
            assert_eq!(dns.outcome, DnsOutcome::Ok, "{transport:?}");
        }
        assert_eq!(
            dns.queries("same.example") - before,
            2,
            "{transport:?}: one A and one AAAA on the wire"
        );
    }
}

#[tokio::test]
async fn records_off_the_cname_chain_are_ignored() {
    let server = ScriptedDns::udp(|query| {
        let question = &query.queries[0];
        let edge = Name::from_ascii("edge.example.").unwrap();
        let answers = if *question.name() == edge {
            a_answer(query, GENUINE)
        } else if question.query_type() == RecordType::A {
            let asked = question.name().to_ascii();
            vec![
                cname_record(&asked, "edge.example."),
                a_record(&Name::from_ascii("edge.example.").unwrap(), GENUINE),
                // Addresses for names off the chain, the name asked among them.
                a_record(&Name::from_ascii("evil.example.").unwrap(), FORGED),
                a_record(question.name(), Ipv4Addr::new(203, 0, 113, 67)),
            ]
        } else {
            vec![cname_record(&question.name().to_ascii(), "edge.example.")]
        };
        vec![Datagram::Reply(reply(query, answers))]
    });
    for transport in support::TRANSPORTS {
        let resolution = resolver(&[server.addr()], 1000, transport)
            .resolve("www.example")
            .await;
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{transport:?}");
        assert_eq!(resolution.ips(), [IpAddr::V4(GENUINE)], "{transport:?}");
        assert_eq!(resolution.cname_chain, ["edge.example"], "{transport:?}");
    }
}

#[tokio::test]
async fn a_pipeline_reports_which_server_answered_how() {
    let world = TestWorld::new();
    let server = honest_server();
    let pipeline = support::cached_pipeline(&world, server.addr());
    let report = pipeline.lookup("www.example").await;
    let dns = report.dns.as_ref().unwrap();
    let address = server.addr().to_string();
    assert_eq!(dns.servers.as_deref(), Some(&[address.clone()][..]));
    assert_eq!(dns.transport, "pooled");
    for query in &dns.queries {
        assert_eq!(query.server.as_deref(), Some(address.as_str()));
        assert_eq!(query.protocol.as_deref(), Some("udp"));
        assert_eq!(query.rcode.as_deref(), Some("NOERROR"));
    }
    assert_eq!(report.addresses[0].ttl, Some(300));
}
