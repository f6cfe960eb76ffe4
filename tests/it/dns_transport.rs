//! The DNS transports on loopback: both give the same resolutions; truncated answers go over
//! TCP; forged, misrouted and late responses are ignored; thousands of concurrent queries each
//! get their own answer; a silent first server is skipped. The pooled transport's counters show
//! that nothing pending is left behind. The binary takes either transport.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::rdata::{A, CNAME};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hostloc::resolve::{DnsOutcome, DnsResolver, DnsSettings, DnsTransport, Resolution};

use crate::support::{self, Answer, BlackHoleDns, TestDns, TestWorld, json_lines};

fn resolver(servers: &[SocketAddr], timeout_ms: u64, transport: DnsTransport) -> DnsResolver {
    DnsResolver::new(&DnsSettings {
        servers: servers.to_vec(),
        timeout: Duration::from_millis(timeout_ms),
        attempts: servers.len(),
        transport,
    })
    .expect("resolver builds")
}

fn a_records(a: &[Ipv4Addr], aaaa: &[Ipv6Addr]) -> Answer {
    Answer::Records {
        a: a.to_vec(),
        aaaa: aaaa.to_vec(),
        ttl: 300,
    }
}

/// The parts of a resolution that do not depend on when it was made.
fn comparable(resolution: &Resolution) -> String {
    format!(
        "{:?} {:?} {:?} ttl {:?} {:?}",
        resolution.outcome,
        resolution.addresses,
        resolution.cname_chain,
        resolution.ttl,
        resolution
            .queries
            .iter()
            .map(|query| (query.record_type.as_str(), query.outcome, query.answers))
            .collect::<Vec<_>>()
    )
}

#[tokio::test]
async fn both_transports_resolve_every_kind_of_answer_alike() {
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
    let pooled = resolver(&[dns.addr()], 1000, DnsTransport::Pooled);
    let hickory = resolver(&[dns.addr()], 1000, DnsTransport::Hickory);
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
        let expected = comparable(&hickory.resolve(host).await);
        assert_eq!(comparable(&pooled.resolve(host).await), expected, "{host}");
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
        let addresses: Vec<_> = many.iter().copied().map(std::net::IpAddr::V4).collect();
        assert_eq!(resolution.addresses, addresses, "{transport:?}");
        // The UDP answers carry no records at all: every address came over TCP. A and AAAA
        // were each asked over UDP, then over TCP.
        assert_eq!(dns.queries("big.example") - before, 4, "{transport:?}");
    }
}

/// What the scripted server sends back for one query.
struct Datagram {
    message: Message,
    /// Sent from another port than the one the query went to, as an off-path forger would.
    from_elsewhere: bool,
}

/// A UDP name server on loopback whose replies are written by the test: for each query it
/// sends back the datagrams `script` returns, in order. Dropping it stops its thread.
struct ScriptedDns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedDns {
    fn start(script: impl Fn(&Message) -> Vec<Datagram> + Send + 'static) -> ScriptedDns {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the scripted DNS");
        let elsewhere = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a forger");
        let addr = socket.local_addr().expect("scripted DNS address");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("set a read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                let mut buffer = [0_u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((length, client)) = socket.recv_from(&mut buffer) else {
                        continue;
                    };
                    let Ok(query) = Message::from_vec(&buffer[..length]) else {
                        continue;
                    };
                    for datagram in script(&query) {
                        let bytes = datagram.message.to_vec().expect("encode a scripted reply");
                        let sender = if datagram.from_elsewhere {
                            &elsewhere
                        } else {
                            &socket
                        };
                        sender
                            .send_to(&bytes, client)
                            .expect("send a scripted reply");
                    }
                }
            }
        });
        ScriptedDns {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ScriptedDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// A response to `query` with `id`, asking `question` and answering `answers`.
fn response(query: &Message, id: u16, question: Query, answers: Vec<Record>) -> Message {
    let mut message = Message::response(id, OpCode::Query);
    message.metadata.recursion_desired = query.metadata.recursion_desired;
    message.metadata.recursion_available = true;
    message.metadata.response_code = ResponseCode::NoError;
    message.add_query(question);
    message.add_answers(answers);
    message
}

fn from_server(message: Message) -> Datagram {
    Datagram {
        message,
        from_elsewhere: false,
    }
}

#[tokio::test]
async fn forged_and_mismatched_responses_are_ignored() {
    let genuine = Ipv4Addr::new(192, 0, 2, 1);
    let forged = Ipv4Addr::new(203, 0, 113, 66);
    let server = ScriptedDns::start(move |query| {
        let id = query.metadata.id;
        let question = query.queries[0].clone();
        let a = |owner: &Name, ip| Record::from_rdata(owner.clone(), 300, RData::A(A(ip)));
        let wants_a = question.query_type() == RecordType::A;
        let answer = |ip| {
            if wants_a {
                vec![a(question.name(), ip)]
            } else {
                vec![]
            }
        };
        let evil = Query::query(name("evil.example."), question.query_type());
        let other_type = Query::query(
            question.name().clone(),
            if wants_a {
                RecordType::AAAA
            } else {
                RecordType::A
            },
        );
        vec![
            // The right ID, another question.
            from_server(response(query, id, evil, answer(forged))),
            // The right ID and name, another type.
            from_server(response(query, id, other_type, answer(forged))),
            // The right question, another ID.
            from_server(response(
                query,
                id.wrapping_add(1),
                question.clone(),
                answer(forged),
            )),
            // Everything right, but from another port.
            Datagram {
                message: response(query, id, question.clone(), answer(forged)),
                from_elsewhere: true,
            },
            // Not a response at all.
            from_server({
                let mut reflected = response(query, id, question.clone(), answer(forged));
                reflected.metadata.message_type = hickory_server::proto::op::MessageType::Query;
                reflected
            }),
            // The answer.
            from_server(response(query, id, question.clone(), answer(genuine))),
        ]
    });
    for transport in support::TRANSPORTS {
        let resolver = resolver(&[server.addr], 1000, transport);
        let resolution = resolver.resolve("www.example").await;
        assert!(
            !resolution.addresses.contains(&forged.into()),
            "{transport:?}: {:?}",
            resolution.addresses
        );
        // hickory-resolver 0.26 fails the query on the reflected query instead of waiting for
        // the answer; the pooled transport drops every forgery and takes the answer.
        if let Some(stats) = resolver.transport_stats() {
            assert_eq!(resolution.outcome, DnsOutcome::Ok);
            assert_eq!(resolution.addresses, [std::net::IpAddr::V4(genuine)]);
            assert_eq!(stats.in_flight, 0);
            // Four forgeries per query reach the socket (the kernel drops the one from
            // another port), for A and AAAA.
            assert_eq!(stats.dropped_responses, 8, "{stats:?}");
        }
    }
}

#[tokio::test]
async fn a_cname_chain_the_server_did_not_chase_is_followed() {
    let server = ScriptedDns::start(|query| {
        let question = query.queries[0].clone();
        let id = query.metadata.id;
        let cname = |from: &str, to: &str| {
            Record::from_rdata(name(from), 600, RData::CNAME(CNAME(name(to))))
        };
        let answers = match (question.name().to_ascii().as_str(), question.query_type()) {
            ("www.example.", _) => vec![cname("www.example.", "cdn.example.")],
            ("cdn.example.", _) => vec![cname("cdn.example.", "edge.example.")],
            ("edge.example.", RecordType::A) => vec![Record::from_rdata(
                name("edge.example."),
                60,
                RData::A(A::new(192, 0, 2, 7)),
            )],
            ("loop-a.example.", _) => vec![cname("loop-a.example.", "loop-b.example.")],
            ("loop-b.example.", _) => vec![cname("loop-b.example.", "loop-a.example.")],
            _ => vec![],
        };
        vec![from_server(response(query, id, question, answers))]
    });
    for transport in support::TRANSPORTS {
        let resolver = resolver(&[server.addr], 1000, transport);
        let resolution = resolver.resolve("www.example").await;
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{transport:?}");
        assert_eq!(resolution.addresses, [Ipv4Addr::new(192, 0, 2, 7)]);
        assert_eq!(resolution.cname_chain, ["cdn.example", "edge.example"]);
        assert_eq!(resolution.ttl, Some(60));

        let started = Instant::now();
        let resolution = resolver.resolve("loop-a.example").await;
        assert_eq!(resolution.outcome, DnsOutcome::NoData, "{transport:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "{transport:?}");
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
    let resolver = resolver(&[dns.addr()], 2000, DnsTransport::Pooled);
    let lookups = (0..NAMES).map(|i| {
        let resolver = resolver.clone();
        tokio::spawn(async move { (i, resolver.resolve(&format!("n{i}.example")).await) })
    });
    for lookup in futures::future::join_all(lookups).await {
        let (i, resolution) = lookup.expect("the lookup task finishes");
        assert_eq!(
            resolution.addresses,
            [std::net::IpAddr::V4(v4(i)), std::net::IpAddr::V6(v6(i))],
            "n{i}.example: {:?}",
            resolution.outcome
        );
    }
    let stats = resolver.transport_stats().expect("pooled has counters");
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.dropped_responses, 0);
}

#[tokio::test]
async fn a_silent_first_server_is_skipped_on_the_next_attempt() {
    let black_hole = BlackHoleDns::start();
    let dns = TestDns::start();
    dns.set(
        "www.example",
        a_records(&[Ipv4Addr::new(192, 0, 2, 9)], &[]),
    );
    for transport in support::TRANSPORTS {
        let resolver = resolver(&[black_hole.addr(), dns.addr()], 300, transport);
        let started = Instant::now();
        let resolution = resolver.resolve("www.example").await;
        let elapsed = started.elapsed();
        assert_eq!(resolution.outcome, DnsOutcome::Ok, "{transport:?}");
        assert_eq!(resolution.addresses, [Ipv4Addr::new(192, 0, 2, 9)]);
        assert!(elapsed < Duration::from_millis(1100), "{elapsed:?}");
        if transport == DnsTransport::Pooled {
            // The first server is always tried first, and given its whole attempt.
            assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        }
    }
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
    assert_eq!(resolver.transport_stats().unwrap().in_flight, 0);

    // From now on the name answers at once, with another address; the late answers to the
    // queries that gave up arrive meanwhile and must not be taken for the new ones.
    dns.set("late.example", a_records(&[second], &[]));
    while started.elapsed() < late + Duration::from_millis(200) {
        let resolution = resolver.resolve("late.example").await;
        assert_eq!(resolution.addresses, [second]);
    }
    let stats = resolver.transport_stats().unwrap();
    assert_eq!(stats.in_flight, 0);
    // The late A and AAAA answers arrived and were dropped.
    assert_eq!(stats.dropped_responses, 2, "{stats:?}");
}

#[test]
fn the_binary_answers_alike_with_the_transport_from_flag_or_environment() {
    let (world, dns) = (TestWorld::new(), TestDns::start());
    dns.set(
        "www.example",
        a_records(&[Ipv4Addr::new(95, 211, 0, 1)], &[]),
    );
    let mut reports = Vec::new();
    for (flag, environment) in [
        (None, None),
        (Some("pooled"), None),
        (Some("hickory"), None),
        (None, Some("hickory")),
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
        report["looked_up_at"].take();
        report["dns"]["resolved_at"].take();
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
