//! Chain: what one question's answers say, read once and the same way for every transport.
//!
//! Owns the walk along a CNAME chain in an answer section (only records on the chain count:
//! the CNAMEs from the name asked, in order, and the records of the type asked at the chain's
//! end), following a chain the server did not chase with a further question, and the
//! classification of how a question ended: an answer, NXDOMAIN, no data (with the negative TTL
//! of RFC 2308), SERVFAIL, REFUSED, another response code, a loop, a chain too long, or no
//! answer at all. It asks through [`Ask`] and knows nothing of sockets or servers.

use std::net::SocketAddr;

use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::rdata::CNAME;
use hickory_resolver::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::time::Instant;

use super::{DnsFailure, DnsOutcome};
use crate::dns_transport::Protocol;

/// Questions one lookup may ask while following a CNAME chain the servers did not chase, as
/// hickory-resolver allows.
pub(super) const MAX_QUESTIONS: usize = 8;

/// CNAMEs a chain may have; a longer one is an error (hickory-server follows 16).
pub(super) const MAX_CHAIN: usize = 16;

/// One response to one question, as any transport delivers it.
#[derive(Debug, Clone)]
pub(super) struct Answered {
    pub(super) response_code: ResponseCode,
    pub(super) answers: Vec<Record>,
    /// The negative TTL from the SOA in the authority section, if there is one.
    pub(super) negative_ttl: Option<u32>,
    /// The server that answered, when the transport says.
    pub(super) server: Option<SocketAddr>,
    /// How the answer travelled, when the transport says.
    pub(super) protocol: Option<Protocol>,
}

/// Why a question got no response at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoResponse {
    /// Sent; nothing came in time.
    Timeout,
    /// Another failure, never a response.
    Failed(DnsFailure),
}

/// Asks one question of the configured servers.
pub(super) trait Ask {
    async fn ask(
        &self,
        name: &Name,
        record_type: RecordType,
        deadline: Instant,
    ) -> Result<Answered, NoResponse>;
}

/// How one question (with the questions its chain needed) ended.
#[derive(Debug, Clone)]
pub(super) struct Asked {
    pub(super) record_type: RecordType,
    pub(super) outcome: DnsOutcome,
    pub(super) failure: Option<DnsFailure>,
    /// The CNAMEs from the host onwards, in chain order.
    pub(super) cnames: Vec<Record>,
    /// The records of the type asked at the chain's end.
    pub(super) records: Vec<Record>,
    pub(super) negative_ttl: Option<u32>,
    /// The response code of the last response.
    pub(super) response_code: Option<ResponseCode>,
    /// Every server that answered one of the questions, in order, once each; `None` in the list
    /// when the transport does not say.
    pub(super) servers: Vec<Option<SocketAddr>>,
    /// How the last response travelled.
    pub(super) protocol: Option<Protocol>,
}

impl Asked {
    fn new(record_type: RecordType) -> Asked {
        Asked {
            record_type,
            outcome: DnsOutcome::Error,
            failure: None,
            cnames: Vec::new(),
            records: Vec::new(),
            negative_ttl: None,
            response_code: None,
            servers: Vec::new(),
            protocol: None,
        }
    }

    fn ended(mut self, outcome: DnsOutcome, failure: Option<DnsFailure>) -> Asked {
        self.outcome = outcome;
        self.failure = failure;
        self
    }
}

/// Asks `record_type` of `name` through `asker`, following the CNAME chain until its end is
/// answered, and classifies how it ended.
pub(super) async fn ask_following_cnames(
    asker: &impl Ask,
    name: &Name,
    record_type: RecordType,
    deadline: Instant,
) -> Asked {
    let mut asked = Asked::new(record_type);
    let mut current = name.clone();
    let mut visited = vec![name.clone()];
    for _ in 0..MAX_QUESTIONS {
        let answered = match asker.ask(&current, record_type, deadline).await {
            Ok(answered) => answered,
            Err(NoResponse::Timeout) => return asked.ended(DnsOutcome::Timeout, None),
            Err(NoResponse::Failed(failure)) => {
                return asked.ended(DnsOutcome::Error, Some(failure));
            }
        };
        if !asked.servers.contains(&answered.server) {
            asked.servers.push(answered.server);
        }
        asked.response_code = Some(answered.response_code);
        asked.protocol = answered.protocol;
        let walk = walk(&current, record_type, &answered.answers);
        for cname in walk.cnames {
            let RData::CNAME(CNAME(target)) = &cname.data else {
                continue;
            };
            if visited.contains(target) {
                return asked.ended(DnsOutcome::Error, Some(DnsFailure::CnameLoop));
            }
            visited.push(target.clone());
            asked.cnames.push(cname);
            if asked.cnames.len() > MAX_CHAIN {
                return asked.ended(DnsOutcome::Error, Some(DnsFailure::ChainTooLong));
            }
        }
        if !walk.records.is_empty() {
            asked.records = walk.records;
            return asked.ended(DnsOutcome::Ok, None);
        }
        let followed = current != walk.end;
        match answered.response_code {
            // RFC 6604: with CNAMEs, NXDOMAIN is about the chain's end.
            ResponseCode::NXDomain => {
                asked.negative_ttl = answered.negative_ttl;
                return asked.ended(DnsOutcome::NxDomain, None);
            }
            // No records: no data, unless the response only led on through CNAMEs without
            // saying (with an SOA) that the end has no data; then the server did not chase the
            // chain, and its end is asked next.
            ResponseCode::NoError if !followed || answered.negative_ttl.is_some() => {
                asked.negative_ttl = answered.negative_ttl;
                return asked.ended(DnsOutcome::NoData, None);
            }
            ResponseCode::NoError => current = walk.end,
            ResponseCode::ServFail => return asked.ended(DnsOutcome::ServFail, None),
            ResponseCode::Refused => return asked.ended(DnsOutcome::Refused, None),
            _ => {
                return asked.ended(DnsOutcome::Error, Some(DnsFailure::ResponseCode));
            }
        }
    }
    asked.ended(DnsOutcome::Error, Some(DnsFailure::ChainTooLong))
}

/// What an answer section says about `name`: the CNAMEs from it, in chain order, the name the
/// chain ends at, and the records of `record_type` there. Records off the chain are ignored.
#[derive(Debug)]
struct Walk {
    cnames: Vec<Record>,
    end: Name,
    records: Vec<Record>,
}

fn walk(name: &Name, record_type: RecordType, answers: &[Record]) -> Walk {
    let mut cnames: Vec<Record> = Vec::new();
    let mut end = name.clone();
    if !matches!(record_type, RecordType::CNAME | RecordType::ANY) {
        // Each step takes a different record, so this bounds the walk even on a loop; a loop
        // shows as a CNAME whose target is already on the chain, which the caller catches.
        for _ in 0..answers.len() {
            let next = answers.iter().find(|record| {
                record.dns_class == DNSClass::IN
                    && record.name == end
                    && matches!(record.data, RData::CNAME(_))
            });
            let Some(record) = next else { break };
            let RData::CNAME(CNAME(target)) = &record.data else {
                break;
            };
            let looped = *target == *name || cnames.iter().any(|link| link.name == *target);
            cnames.push(record.clone());
            if looped {
                break;
            }
            end = target.clone();
        }
    }
    let records = answers
        .iter()
        .filter(|record| {
            record.dns_class == DNSClass::IN
                && record.record_type() == record_type
                && record.name == end
        })
        .cloned()
        .collect();
    Walk {
        cnames,
        end,
        records,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::A;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 300, RData::CNAME(CNAME(name(target))))
    }

    fn a(owner: &str) -> Record {
        Record::from_rdata(name(owner), 60, RData::A(A::new(192, 0, 2, 1)))
    }

    fn check(answers: Vec<Record>, expected: &str) {
        let walked = walk(&name("www.example."), RecordType::A, &answers);
        let owners = |records: &[Record]| -> Vec<String> {
            records
                .iter()
                .map(|record| format!("{} {}", record.name, record.record_type()))
                .collect()
        };
        let got = format!(
            "{:?} end {} {:?}",
            owners(&walked.cnames),
            walked.end,
            owners(&walked.records)
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn only_records_on_the_chain_count() {
        check(
            vec![a("www.example.")],
            r#"[] end www.example. ["www.example. A"]"#,
        );
        check(
            vec![
                cname("www.example.", "cdn.example."),
                cname("cdn.example.", "edge.example."),
                a("edge.example."),
            ],
            r#"["www.example. CNAME", "cdn.example. CNAME"] end edge.example. ["edge.example. A"]"#,
        );
        // Out of order, with an unrelated CNAME and addresses of names off the chain.
        check(
            vec![
                a("edge.example."),
                cname("other.example.", "edge.example."),
                a("evil.example."),
                cname("www.example.", "edge.example."),
            ],
            r#"["www.example. CNAME"] end edge.example. ["edge.example. A"]"#,
        );
        // An address for the name asked next to its CNAME is off the chain.
        check(
            vec![cname("www.example.", "edge.example."), a("www.example.")],
            r#"["www.example. CNAME"] end edge.example. []"#,
        );
        check(
            vec![cname("www.example.", "gone.example.")],
            r#"["www.example. CNAME"] end gone.example. []"#,
        );
        // A loop inside one response ends with the CNAME that closes it.
        check(
            vec![
                cname("www.example.", "b.example."),
                cname("b.example.", "www.example."),
            ],
            r#"["www.example. CNAME", "b.example. CNAME"] end b.example. []"#,
        );
    }
}
