//! CNAME chains a server did not chase: followed the same way by every transport; a loop or a
//! chain longer than hostloc follows is an `error` with its reason, and is not cached.

use std::net::{IpAddr, Ipv4Addr};

use hickory_server::proto::op::Message;
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{RData, Record, RecordType};
use hostloc::resolve::{DnsFailure, DnsOutcome};

use crate::dns_transport::resolver;
use crate::support::{self, Datagram, ScriptedDns, TestWorld, cname_record, reply};

/// A server that answers only what it holds itself, as an authoritative server would: one
/// CNAME per name, never chasing it. `cN.example` leads to `c(N+1).example` up to `c30`.
fn non_chasing() -> ScriptedDns {
    ScriptedDns::udp(|query: &Message| {
        let question = &query.queries[0];
        let asked = question.name().to_ascii().to_ascii_lowercase();
        let answers: Vec<Record> = match asked.as_str() {
            "www.example." => vec![cname_record(&asked, "cdn.example.")],
            "cdn.example." => vec![cname_record(&asked, "edge.example.")],
            "edge.example." if question.query_type() == RecordType::A => {
                vec![Record::from_rdata(
                    question.name().clone(),
                    60,
                    RData::A(A::new(192, 0, 2, 7)),
                )]
            }
            "loop-a.example." => vec![cname_record(&asked, "loop-b.example.")],
            "loop-b.example." => vec![cname_record(&asked, "loop-a.example.")],
            long if long.starts_with('c') => {
                let next: u32 = long[1..long.find('.').unwrap_or(1)].parse().unwrap_or(99);
                if next < 30 {
                    vec![cname_record(&asked, &format!("c{}.example.", next + 1))]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        };
        vec![Datagram::Reply(reply(query, answers))]
    })
}

#[tokio::test]
async fn a_chain_the_server_did_not_chase_is_followed() {
    let server = non_chasing();
    for transport in support::TRANSPORTS {
        let resolution = resolver(&[server.addr()], 1000, transport)
            .resolve("www.example")
            .await;
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{transport:?}");
        assert_eq!(resolution.ips(), [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))]);
        assert_eq!(resolution.cname_chain, ["cdn.example", "edge.example"]);
        assert_eq!(resolution.ttl, Some(60));
        assert_eq!(resolution.addresses[0].ttl, 60);
    }
}

#[tokio::test]
async fn loops_and_overlong_chains_are_errors() {
    let server = non_chasing();
    for transport in support::TRANSPORTS {
        let resolver = resolver(&[server.addr()], 1000, transport);
        for (host, failure) in [
            ("loop-a.example", DnsFailure::CnameLoop),
            ("c0.example", DnsFailure::ChainTooLong),
        ] {
            let resolution = resolver.resolve(host).await;
            assert_eq!(
                resolution.outcome,
                DnsOutcome::Error,
                "{transport:?} {host}"
            );
            assert_eq!(resolution.error, Some(failure), "{transport:?} {host}");
            assert!(!resolution.is_cacheable());
        }
    }
}

#[tokio::test]
async fn a_broken_chain_is_asked_again_rather_than_cached() {
    let world = TestWorld::new();
    let server = non_chasing();
    let pipeline = support::cached_pipeline(&world, server.addr());
    for _ in 0..2 {
        let report = pipeline.lookup("loop-a.example").await;
        let dns = report.dns.as_ref().unwrap();
        assert_eq!(dns.error, Some(DnsFailure::CnameLoop));
        assert!(!dns.from_cache);
        assert!(
            report.reason.contains("CNAME chain loops"),
            "{}",
            report.reason
        );
    }
    // A working chain is cached as usual.
    pipeline.lookup("www.example").await;
    let again = pipeline.lookup("www.example").await;
    assert!(again.dns.as_ref().unwrap().from_cache);
}
