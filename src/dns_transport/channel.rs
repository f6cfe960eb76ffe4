//! Channel: the queries waiting for an answer on one UDP socket or TCP connection, and the
//! screening every incoming message must pass before it reaches one of them.
//!
//! Owns the pending table (query ID → the query as sent and who waits for it), the choice of a
//! random ID that no pending query uses, and the checks an answer must pass: a DNS header, the
//! response bit, an ID that is pending, a message that decodes, and the question echoed exactly
//! (name, type and class; over UDP the name in the very case it was sent, see "0x20" in
//! `mod.rs`). Every message that fails is dropped and counted by reason in the server's
//! [`Counters`]. It must not send anything, choose servers or log queried names.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hickory_resolver::proto::op::{DnsResponse, MessageType, OpCode, Query};
use std::sync::OnceLock;

use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::server::Counters;

/// How many IDs of queries that gave up without an answer (or were resent) a channel
/// remembers, so that their late or duplicate answers are told apart from forgeries.
const REMEMBERED_ABANDONED: usize = 1024;

/// Why an incoming message was not taken as an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dropped {
    /// Shorter than a DNS header.
    Short,
    /// The response bit is not set.
    NotResponse,
    /// No pending query has its ID, nor had one recently.
    UnknownId,
    /// The ID belonged to a query that had already given up, or was answered already after it
    /// had been resent: a late or duplicate answer, not a forgery.
    Late,
    /// The message does not decode.
    Malformed,
    /// The ID is pending, but the question differs (another name, type or class).
    WrongQuestion,
    /// The ID and question match, but the name's case does not: the server does not preserve
    /// case, or someone guessed the ID but not the case. The query is asked again over TCP.
    WrongCase,
}

impl Dropped {
    /// Every reason, for metrics.
    pub(crate) const ALL: [Dropped; 7] = [
        Dropped::Short,
        Dropped::NotResponse,
        Dropped::UnknownId,
        Dropped::Late,
        Dropped::Malformed,
        Dropped::WrongQuestion,
        Dropped::WrongCase,
    ];

    /// The label used in metrics and logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Dropped::Short => "short",
            Dropped::NotResponse => "not_response",
            Dropped::UnknownId => "unknown_id",
            Dropped::Late => "late",
            Dropped::Malformed => "malformed",
            Dropped::WrongQuestion => "wrong_question",
            Dropped::WrongCase => "wrong_case",
        }
    }

    /// Whether the message is a likely forgery (as opposed to a late answer or noise).
    pub(crate) fn is_suspicious(self) -> bool {
        matches!(
            self,
            Dropped::UnknownId | Dropped::WrongQuestion | Dropped::WrongCase
        )
    }
}

/// What a waiting query gets: its answer, or why it will get none on this channel.
#[derive(Debug)]
pub(super) enum Reply {
    /// The answer, its question matching exactly.
    Answer(DnsResponse),
    /// An answer with the right ID and question in another case.
    CaseMismatch,
    /// The server refused the datagrams (ICMP port unreachable).
    Refused,
    /// The channel closed (TCP) before the answer came.
    Closed,
}

/// The queries waiting on one socket or connection.
pub(super) struct Channel {
    pending: Mutex<PendingQueries>,
    counters: Arc<Counters>,
    /// Whether the exact case of the question is checked (UDP, where 0x20 is used).
    exact_case: bool,
    /// Set when no new query will be registered; the receive task ends once none is pending.
    retired: AtomicBool,
    /// The task receiving for this channel, stopped once it is retired and drained.
    receiver: OnceLock<AbortHandle>,
}

#[derive(Default)]
struct PendingQueries {
    by_id: HashMap<u16, Waiter>,
    /// Tells apart successive queries that drew the same ID, so a finished query never removes
    /// its successor's entry.
    next_ticket: u64,
    /// IDs of queries that gave up without an answer, or were sent more than once, newest last;
    /// the oldest are forgotten.
    abandoned: VecDeque<u16>,
}

impl PendingQueries {
    /// Keeps `id` among those whose answers are late rather than forged.
    fn remember(&mut self, id: u16) {
        if self.abandoned.len() == REMEMBERED_ABANDONED {
            self.abandoned.pop_front();
        }
        self.abandoned.push_back(id);
    }
}

struct Waiter {
    ticket: u64,
    query: Query,
    reply: oneshot::Sender<Reply>,
}

impl Channel {
    pub(super) fn new(counters: Arc<Counters>, exact_case: bool) -> Channel {
        Channel {
            pending: Mutex::new(PendingQueries::default()),
            counters,
            exact_case,
            retired: AtomicBool::new(false),
            receiver: OnceLock::new(),
        }
    }

    /// Reserves an ID that no pending query uses for `query` (as it goes on the wire) and
    /// returns it with the receiver of its reply; `None` once the channel is retired (its
    /// receiving task may have stopped already: an answer would never be read). The
    /// registration ends when the returned guard is dropped, whatever happened.
    pub(super) fn register(self: &Arc<Self>, query: Query) -> Option<Registered> {
        let mut pending = self.pending();
        // Checked under the lock, as `retire` and the last registration check for the end:
        // either this query is pending before they look, or it sees the channel retired.
        if self.is_retired() {
            return None;
        }
        let (reply, receiver) = oneshot::channel();
        let id = free_id(&pending.by_id);
        let ticket = pending.next_ticket;
        pending.next_ticket += 1;
        pending.by_id.insert(
            id,
            Waiter {
                ticket,
                query,
                reply,
            },
        );
        drop(pending);
        let registration = Registration {
            channel: Arc::clone(self),
            id,
            ticket,
            resent: false,
        };
        Some((registration, receiver))
    }

    /// Screens `message` and hands it to the query waiting for it; counts it when dropped.
    pub(super) fn deliver(&self, message: &[u8]) -> Option<Dropped> {
        let dropped = self.screen(message).err();
        if let Some(reason) = dropped {
            self.counters.dropped(reason);
        }
        dropped
    }

    fn screen(&self, message: &[u8]) -> Result<(), Dropped> {
        // Cheap screens first, so a flood of junk costs no decoding.
        let Some(&[high, low, flags, ..]) = message.get(..12) else {
            return Err(Dropped::Short);
        };
        if flags & 0x80 == 0 {
            return Err(Dropped::NotResponse);
        }
        let id = u16::from_be_bytes([high, low]);
        {
            let pending = self.pending();
            if !pending.by_id.contains_key(&id) {
                // Every copy of a late answer (a query resent within its try may be answered
                // several times) is late, not forged.
                return Err(if pending.abandoned.contains(&id) {
                    Dropped::Late
                } else {
                    Dropped::UnknownId
                });
            }
        }
        let response =
            DnsResponse::from_buffer(message.to_vec()).map_err(|_| Dropped::Malformed)?;
        let mut pending = self.pending();
        let Some(waiter) = pending.by_id.get(&id) else {
            // The query gave up between the two looks.
            return Err(Dropped::Late);
        };
        if !echoes(&waiter.query, &response) {
            return Err(Dropped::WrongQuestion);
        }
        let same_case = !self.exact_case || response.queries[0].name().eq_case(waiter.query.name());
        let Some(waiter) = pending.by_id.remove(&id) else {
            return Err(Dropped::Late);
        };
        drop(pending);
        // The waiter may have given up this instant; then the reply is simply unused.
        if same_case {
            let _ = waiter.reply.send(Reply::Answer(response));
            Ok(())
        } else {
            let _ = waiter.reply.send(Reply::CaseMismatch);
            Err(Dropped::WrongCase)
        }
    }

    /// Ends every pending query with `reply` (a refused port, a closed connection).
    pub(super) fn fail_all(&self, reply: fn() -> Reply) {
        let waiters: Vec<Waiter> = self.pending().by_id.drain().map(|(_, w)| w).collect();
        for waiter in waiters {
            let _ = waiter.reply.send(reply());
        }
    }

    /// Queries pending now.
    pub(super) fn in_flight(&self) -> usize {
        self.pending().by_id.len()
    }

    /// Names the task that receives for this channel, to be stopped once the channel is
    /// retired and nothing is pending.
    pub(super) fn set_receiver(&self, receiver: AbortHandle) {
        let _ = self.receiver.set(receiver);
    }

    /// Takes no new queries from now on; the receiving task stops once none is pending.
    pub(super) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        if self.pending().by_id.is_empty() {
            self.stop_receiver();
        }
    }

    pub(super) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    fn stop_receiver(&self) {
        if let Some(receiver) = self.receiver.get() {
            receiver.abort();
        }
    }

    /// The pending table. A panic while it was held left it consistent (every change is one
    /// insert or remove), so poisoning is ignored.
    fn pending(&self) -> MutexGuard<'_, PendingQueries> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A query's registration and the receiver of its reply.
pub(super) type Registered = (Registration, oneshot::Receiver<Reply>);

/// A query's place in a channel's pending table, given back when the query ends however it ends
/// (answer, timeout, cancellation).
pub(super) struct Registration {
    channel: Arc<Channel>,
    id: u16,
    ticket: u64,
    /// Whether the query went out more than once, so more than one answer may come back.
    resent: bool,
}

impl Registration {
    /// The query ID on the wire.
    pub(super) fn id(&self) -> u16 {
        self.id
    }

    /// Notes that the query is sent again: from now on, an answer to one copy after another
    /// was taken is late, not forged.
    pub(super) fn resent(&mut self) {
        if !self.resent {
            self.resent = true;
            self.channel.pending().remember(self.id);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut pending = self.channel.pending();
        // After an answer the entry is gone already, and the ID may belong to a newer query by
        // now; the ticket tells.
        let abandoned = pending
            .by_id
            .get(&self.id)
            .is_some_and(|waiter| waiter.ticket == self.ticket);
        if abandoned {
            pending.by_id.remove(&self.id);
            if !self.resent {
                pending.remember(self.id);
            }
        }
        // Checked under the lock, so that this and `retire` cannot both miss the last query.
        let drained = pending.by_id.is_empty() && self.channel.is_retired();
        drop(pending);
        if drained {
            self.channel.stop_receiver();
        }
    }
}

/// A random ID not in use on the channel. At most a window's worth of the 65 536 IDs are taken,
/// so the first draw almost always fits; the scan only makes the bound certain.
fn free_id(in_use: &HashMap<u16, Waiter>) -> u16 {
    for _ in 0..16 {
        let id: u16 = rand::random();
        if !in_use.contains_key(&id) {
            return id;
        }
    }
    let start: u16 = rand::random();
    (0..=u16::MAX)
        .map(|offset| start.wrapping_add(offset))
        .find(|id| !in_use.contains_key(id))
        .unwrap_or(start)
}

/// Whether `response` is a standard query response echoing `query`'s question (the name
/// compared without regard to case).
fn echoes(query: &Query, response: &DnsResponse) -> bool {
    response.metadata.message_type == MessageType::Response
        && response.metadata.op_code == OpCode::Query
        && matches!(&response.queries[..], [question]
            if question.name() == query.name()
                && question.query_type() == query.query_type()
                && question.query_class() == query.query_class())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::op::Message;
    use hickory_resolver::proto::rr::{Name, RecordType};

    fn query(name: &str) -> Query {
        Query::query(Name::from_ascii(name).unwrap(), RecordType::A)
    }

    fn response_bytes(id: u16, question: Query) -> Vec<u8> {
        let mut message = Message::response(id, OpCode::Query);
        message.add_query(question);
        message.to_vec().unwrap()
    }

    fn channel(exact_case: bool) -> Arc<Channel> {
        Arc::new(Channel::new(
            Arc::new(Counters::new(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                53,
            )))),
            exact_case,
        ))
    }

    #[test]
    fn only_the_exact_question_is_accepted() {
        let channel = channel(true);
        let sent = query("wWw.ExAmple.");
        let (registration, mut reply) = channel.register(sent.clone()).unwrap();
        let id = registration.id();
        for (bytes, expected) in [
            (vec![0_u8; 5], Some(Dropped::Short)),
            (
                {
                    let mut not_response = response_bytes(id, sent.clone());
                    not_response[2] &= 0x7f;
                    not_response
                },
                Some(Dropped::NotResponse),
            ),
            (
                response_bytes(id.wrapping_add(1), sent.clone()),
                Some(Dropped::UnknownId),
            ),
            (
                response_bytes(id, query("evil.example.")),
                Some(Dropped::WrongQuestion),
            ),
            (
                response_bytes(id, Query::query(sent.name().clone(), RecordType::AAAA)),
                Some(Dropped::WrongQuestion),
            ),
            (response_bytes(id, sent.clone()), None),
        ] {
            assert_eq!(channel.deliver(&bytes), expected);
        }
        assert!(matches!(reply.try_recv(), Ok(Reply::Answer(_))));
        assert_eq!(channel.in_flight(), 0);
        drop(registration);
    }

    #[test]
    fn another_case_is_a_mismatch_over_udp_only() {
        let sent = query("wWw.ExAmple.");
        for (exact_case, expected) in [(true, Some(Dropped::WrongCase)), (false, None)] {
            let channel = channel(exact_case);
            let (registration, mut reply) = channel.register(sent.clone()).unwrap();
            let lower = response_bytes(registration.id(), query("www.example."));
            assert_eq!(channel.deliver(&lower), expected);
            let got = reply.try_recv().unwrap();
            assert_eq!(
                matches!(got, Reply::CaseMismatch),
                exact_case,
                "{exact_case}: {got:?}"
            );
        }
    }

    #[test]
    fn an_answer_after_its_query_gave_up_is_late_not_forged() {
        let channel = channel(true);
        let sent = query("late.example.");
        let (registration, _reply) = channel.register(sent.clone()).unwrap();
        let id = registration.id();
        drop(registration);
        for _copy in 0..3 {
            assert_eq!(
                channel.deliver(&response_bytes(id, sent.clone())),
                Some(Dropped::Late)
            );
        }
        assert_eq!(
            channel.deliver(&response_bytes(id.wrapping_add(1), sent)),
            Some(Dropped::UnknownId)
        );
    }

    #[test]
    fn a_retired_channel_takes_no_new_query_but_answers_those_pending() {
        let channel = channel(true);
        let sent = query("pending.example.");
        let (registration, mut reply) = channel.register(sent.clone()).unwrap();
        channel.retire();
        // Its receiving task may stop as soon as nothing is pending: a query registered now
        // could wait for an answer no one reads.
        assert!(channel.register(query("new.example.")).is_none());
        assert_eq!(
            channel.deliver(&response_bytes(registration.id(), sent)),
            None
        );
        assert!(matches!(reply.try_recv(), Ok(Reply::Answer(_))));
    }

    #[test]
    fn a_second_answer_to_a_resent_query_is_late_not_forged() {
        let channel = channel(true);
        let sent = query("twice.example.");
        let (mut registration, _reply) = channel.register(sent.clone()).unwrap();
        registration.resent();
        let id = registration.id();
        assert_eq!(channel.deliver(&response_bytes(id, sent.clone())), None);
        drop(registration);
        assert_eq!(
            channel.deliver(&response_bytes(id, sent)),
            Some(Dropped::Late)
        );
    }

    #[test]
    fn ids_in_use_are_never_handed_out() {
        let mut in_use = HashMap::new();
        for id in 0..=u16::MAX {
            if id != 12_345 {
                let (reply, _) = oneshot::channel();
                in_use.insert(
                    id,
                    Waiter {
                        ticket: 0,
                        query: query("www.example."),
                        reply,
                    },
                );
            }
        }
        assert_eq!(free_id(&in_use), 12_345);
    }
}
