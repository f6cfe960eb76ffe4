//! A programmable DNS server on loopback for integration tests.
//!
//! [`TestDns`] owns a real `hickory-server` listening on `127.0.0.1` (UDP and TCP on
//! the same port), running on its own thread with its own tokio runtime, so it works
//! from both `#[test]` and `#[tokio::test]` tests. What each name answers lives in a
//! table that tests change at runtime with [`TestDns::set`]; the server also counts
//! the queries it receives per name ([`TestDns::queries`]), so tests can tell whether
//! a cache answered instead of the network.
//!
//! [`BlackHoleDns`] owns a UDP socket that swallows every query, for timeout tests.
//!
//! [`ScriptedDns`] is a server that misbehaves as a test needs, where hickory-server would not:
//! for every query the test's scripts say what goes back over UDP (forged IDs, another case,
//! another port, raw bytes) and over TCP (wrong IDs, short frames, a closed connection). It
//! records what it saw on the wire: the source port and EDNS of every UDP query, and the TCP
//! connections and queries. [`closed_port`] gives a loopback port nothing listens on.
//!
//! The server answers like a recursive resolver would (RA set, CNAME chains followed
//! inside the table) while looking authoritative (AA set, SOA in negative answers), so
//! resolvers cache its answers by the usual rules.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket},
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use hickory_server::{
    Server,
    net::{runtime::Time, xfer::Protocol},
    proto::{
        op::{Edns, Header, HeaderCounts, Message, Metadata, OpCode, ResponseCode},
        rr::{
            Name, RData, Record, RecordType,
            rdata::{A, AAAA, CNAME, SOA},
        },
    },
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
};
use tokio::sync::oneshot;

/// How many CNAMEs the server follows before it gives up with SERVFAIL, so that a
/// CNAME loop in the table cannot hang the server.
const MAX_CNAME_HOPS: usize = 16;

/// TTL of the SOA record in negative answers and its `minimum` field, which together
/// make the negative-caching TTL of NXDOMAIN and no-data answers.
const NEGATIVE_TTL: u32 = 30;

/// How long the server keeps an idle TCP connection open.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many responses may queue per TCP connection (hickory's own tests use 32).
const TCP_RESPONSE_BUFFER: usize = 32;

/// What the server answers for one name.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// A and/or AAAA records with this TTL. A query for a type with no records gets
    /// NOERROR with no data (and an SOA in the authority section).
    Records {
        a: Vec<Ipv4Addr>,
        aaaa: Vec<Ipv6Addr>,
        ttl: u32,
    },
    /// A CNAME to `target`. The response carries the CNAME and then follows the chain
    /// inside this server's table like a recursive resolver would. The rcode is that of
    /// the end of the chain: NXDOMAIN if it ends at a name set to `NxDomain` or not set
    /// at all, SERVFAIL/REFUSED (without records) if it ends at such a name, and
    /// SERVFAIL if the chain is longer than 16 CNAMEs (a loop). A query for type CNAME
    /// gets just this CNAME.
    Cname { target: String, ttl: u32 },
    /// NXDOMAIN with an SOA in the authority section (negative TTL 30 s).
    NxDomain,
    /// NOERROR without answers, with an SOA in the authority section.
    NoData,
    /// SERVFAIL without records.
    ServFail,
    /// REFUSED without records.
    Refused,
    /// Never answers at all: the query is dropped.
    Silent,
    /// Answers as the inner answer after the delay. The wait happens in its own task,
    /// so it holds up neither other queries nor other queries on the same TCP
    /// connection. Delays along a CNAME chain add up.
    Delay(Duration, Box<Answer>),
    /// Over UDP, NOERROR with the TC bit set and no records at all (not even a CNAME
    /// leading here), as a server does when the answer is too large for a datagram;
    /// over TCP, the inner answer.
    Truncated(Box<Answer>),
}

/// A records for `addresses`, with a TTL of 300 s and no AAAA.
pub(crate) fn a_records(addresses: &[[u8; 4]]) -> Answer {
    Answer::Records {
        a: addresses.iter().map(|a| Ipv4Addr::from(*a)).collect(),
        aaaa: vec![],
        ttl: 300,
    }
}

/// A DNS server on `127.0.0.1` (UDP and TCP on one port) that answers from a table
/// the test controls. Dropping it shuts the server down and joins its thread.
pub(crate) struct TestDns {
    addr: SocketAddr,
    table: Arc<Mutex<Table>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestDns {
    /// Starts a server on a free loopback port; names never [`set`](Self::set)
    /// answer NXDOMAIN.
    ///
    /// # Panics
    ///
    /// If no loopback port is free for both UDP and TCP, or the server's thread or
    /// runtime cannot be created.
    pub(crate) fn start() -> TestDns {
        TestDns::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// [`TestDns::start`] on another loopback address, e.g. `::1`.
    ///
    /// # Panics
    ///
    /// As [`TestDns::start`].
    pub(crate) fn start_on(ip: IpAddr) -> TestDns {
        let (udp, tcp) = bind_udp_and_tcp(ip).expect("bind the test DNS server on loopback");
        let addr = udp
            .local_addr()
            .expect("read the test DNS server's address");
        let table = Arc::new(Mutex::new(Table::default()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build the test DNS server's runtime");
        // Set the server up here, inside the new runtime's context, so that any
        // failure panics in the test that called `start`. Its tasks run once the
        // server thread drives the runtime.
        let mut server = {
            let _context = runtime.enter();
            let udp = tokio::net::UdpSocket::from_std(udp).expect("hand the UDP socket to tokio");
            let tcp =
                tokio::net::TcpListener::from_std(tcp).expect("hand the TCP listener to tokio");
            let mut server = Server::new(TableHandler {
                table: Arc::clone(&table),
            });
            server.register_socket(udp);
            server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
            server
        };
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("test-dns-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    // Dropping the `TestDns` sends or drops the sender; either ends the wait.
                    let _ = shutdown_rx.await;
                    // An error here only says a listener had already died; the test is
                    // over either way.
                    let _ = server.shutdown_gracefully().await;
                });
            })
            .expect("spawn the test DNS server's thread");
        TestDns {
            addr,
            table,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The address (UDP and TCP) the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces what `name` answers, from the next query on. Names are matched
    /// case-insensitively, with or without a trailing dot.
    ///
    /// # Panics
    ///
    /// If `name` or a CNAME target in `answer` is not a valid domain name.
    pub(crate) fn set(&self, name: &str, answer: Answer) {
        check_targets(&answer);
        self.table().answers.insert(key(name), answer);
    }

    /// How many queries (of any type) the server has received for `name` so far.
    ///
    /// Only queries asking for `name` itself count, not CNAME chains passing through
    /// it. Note that hickory-resolver queries the end of a chain directly when the
    /// chained answer is negative (NXDOMAIN or no data), so such targets do get counted.
    pub(crate) fn queries(&self, name: &str) -> usize {
        self.table().queries.get(&key(name)).copied().unwrap_or(0)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may already be gone (its thread panicked); nothing to stop then.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has already been printed; re-raising it here
            // could abort a test that is already unwinding.
            let _ = thread.join();
        }
    }
}

/// A UDP socket on `127.0.0.1` that reads and drops every datagram: a name server
/// that never answers. It keeps reading (rather than letting the socket buffer fill)
/// until dropped.
pub(crate) struct BlackHoleDns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BlackHoleDns {
    /// How often the reading thread checks whether it should stop.
    const POLL: Duration = Duration::from_millis(50);

    /// Binds the socket and starts draining it.
    ///
    /// # Panics
    ///
    /// If the socket or its thread cannot be created.
    pub(crate) fn start() -> BlackHoleDns {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the black hole");
        let addr = socket.local_addr().expect("read the black hole's address");
        socket
            .set_read_timeout(Some(Self::POLL))
            .expect("set the black hole's read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(format!("black-hole-dns-{}", addr.port()))
            .spawn({
                let stop = Arc::clone(&stop);
                move || drain(&socket, &stop)
            })
            .expect("spawn the black hole's thread");
        BlackHoleDns {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// The UDP address that swallows queries.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BlackHoleDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads and discards datagrams until `stop` is set.
fn drain(socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = [0_u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // Linux reports an earlier ICMP error to a later read; it is not ours to act on.
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(_) => return,
        }
    }
}

/// Binds UDP on a free loopback port and TCP on the same port, retrying with another
/// port when TCP finds that port taken.
fn bind_udp_and_tcp(ip: IpAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last_error = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind((ip, 0))?;
        match TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => {
                // Tokio needs non-blocking sockets to take them over.
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                return Ok((udp, tcp));
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port")))
}

/// The programmable part of the server: answers and query counts per name.
#[derive(Default)]
struct Table {
    /// Keyed by [`key`].
    answers: HashMap<String, Answer>,
    /// Keyed by [`key`].
    queries: HashMap<String, usize>,
}

/// Locks the table, ignoring poisoning: a test that panicked while holding the lock
/// left the table in a consistent state, since every update is a single insert.
fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The table key for a name: lowercase ASCII (IDNs as punycode), without trailing dot.
///
/// # Panics
///
/// If `name` is not a valid domain name.
fn key(name: &str) -> String {
    let parsed = Name::from_utf8(name)
        .unwrap_or_else(|error| panic!("test DNS: {name:?} is not a domain name: {error}"));
    name_key(&parsed)
}

fn name_key(name: &Name) -> String {
    let ascii = name.to_ascii().to_ascii_lowercase();
    match ascii.strip_suffix('.') {
        Some(stripped) => stripped.to_owned(),
        None => ascii,
    }
}

/// Parses a CNAME target from the table as an absolute name.
fn target_name(target: &str) -> Option<Name> {
    let mut name = Name::from_utf8(target).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// Panics (in the test calling [`TestDns::set`]) on a CNAME target that is not a
/// domain name, rather than letting the server answer SERVFAIL for no visible reason.
fn check_targets(answer: &Answer) {
    match answer {
        Answer::Cname { target, .. } if target_name(target).is_none() => {
            panic!("test DNS: CNAME target {target:?} is not a domain name")
        }
        Answer::Delay(_, inner) | Answer::Truncated(inner) => check_targets(inner),
        _ => {}
    }
}

/// The response the table calls for: `reply`, sent after `delay`.
struct Plan {
    delay: Duration,
    reply: Reply,
}

/// The variable parts of a response.
struct Reply {
    rcode: ResponseCode,
    answers: Vec<Record>,
    /// The SOA for the authority section of a negative answer.
    soa: Option<Record>,
    /// Whether to set the TC bit.
    truncated: bool,
}

impl Reply {
    fn error(rcode: ResponseCode) -> Reply {
        Reply {
            rcode,
            answers: Vec::new(),
            soa: None,
            truncated: false,
        }
    }
}

/// Where one name of a CNAME chain leads.
enum Step {
    /// The chain ends here; `negative` says whether to add an SOA.
    End { rcode: ResponseCode, negative: bool },
    /// Continue with the CNAME target.
    Follow(Name),
    /// The whole answer is this error, without records.
    Fail(ResponseCode),
    /// Drop the query.
    Silent,
    /// The whole answer is an empty NOERROR with the TC bit set.
    Truncated,
}

impl Table {
    /// Works out the response to a `qtype` query for `qname`, received over TCP or UDP,
    /// from the current table, following CNAMEs like a recursive resolver; `None` means
    /// no response at all.
    fn plan(&self, qname: &Name, qtype: RecordType, over_tcp: bool) -> Option<Plan> {
        let mut delay = Duration::ZERO;
        let mut answers = Vec::new();
        let mut owner = qname.clone();
        for _ in 0..=MAX_CNAME_HOPS {
            let answer = self
                .answers
                .get(&name_key(&owner))
                .unwrap_or(&Answer::NxDomain);
            match step(answer, &owner, qtype, over_tcp, &mut delay, &mut answers) {
                Step::End { rcode, negative } => {
                    let soa = negative.then(|| soa_for(&owner));
                    let reply = Reply {
                        rcode,
                        answers,
                        soa,
                        truncated: false,
                    };
                    return Some(Plan { delay, reply });
                }
                Step::Follow(target) => owner = target,
                Step::Fail(rcode) => {
                    let reply = Reply::error(rcode);
                    return Some(Plan { delay, reply });
                }
                Step::Silent => return None,
                Step::Truncated => {
                    let reply = Reply {
                        truncated: true,
                        ..Reply::error(ResponseCode::NoError)
                    };
                    return Some(Plan { delay, reply });
                }
            }
        }
        let reply = Reply::error(ResponseCode::ServFail);
        Some(Plan { delay, reply })
    }
}

/// Applies `answer` for `owner` to a query received over TCP or UDP: adds its records
/// to `answers`, its delay to `delay`, and says where the chain goes next.
fn step(
    answer: &Answer,
    owner: &Name,
    qtype: RecordType,
    over_tcp: bool,
    delay: &mut Duration,
    answers: &mut Vec<Record>,
) -> Step {
    let record = |ttl: u32, data: RData| Record::from_rdata(owner.clone(), ttl, data);
    match answer {
        Answer::Records { a, aaaa, ttl } => {
            let before = answers.len();
            if matches!(qtype, RecordType::A | RecordType::ANY) {
                answers.extend(a.iter().map(|ip| record(*ttl, RData::A(A(*ip)))));
            }
            if matches!(qtype, RecordType::AAAA | RecordType::ANY) {
                answers.extend(aaaa.iter().map(|ip| record(*ttl, RData::AAAA(AAAA(*ip)))));
            }
            Step::End {
                rcode: ResponseCode::NoError,
                negative: answers.len() == before,
            }
        }
        Answer::Cname { target, ttl } => {
            let Some(target) = target_name(target) else {
                return Step::Fail(ResponseCode::ServFail);
            };
            answers.push(record(*ttl, RData::CNAME(CNAME(target.clone()))));
            // A query for the CNAME itself is answered by it; any other type follows it.
            if matches!(qtype, RecordType::CNAME | RecordType::ANY) {
                Step::End {
                    rcode: ResponseCode::NoError,
                    negative: false,
                }
            } else {
                Step::Follow(target)
            }
        }
        Answer::NxDomain => Step::End {
            rcode: ResponseCode::NXDomain,
            negative: true,
        },
        Answer::NoData => Step::End {
            rcode: ResponseCode::NoError,
            negative: true,
        },
        Answer::ServFail => Step::Fail(ResponseCode::ServFail),
        Answer::Refused => Step::Fail(ResponseCode::Refused),
        Answer::Silent => Step::Silent,
        Answer::Delay(wait, inner) => {
            *delay += *wait;
            step(inner, owner, qtype, over_tcp, delay, answers)
        }
        Answer::Truncated(inner) if over_tcp => step(inner, owner, qtype, over_tcp, delay, answers),
        Answer::Truncated(_) => Step::Truncated,
    }
}

/// An SOA for the zone `name` would live in (its parent), as an authoritative server
/// puts in negative answers; resolvers take the negative-caching TTL from it.
fn soa_for(name: &Name) -> Record {
    let zone = if name.num_labels() > 1 {
        name.base_name()
    } else {
        Name::root()
    };
    let in_zone = |label: &str| {
        Name::from_ascii(label)
            .and_then(|label| label.append_domain(&zone))
            .unwrap_or_else(|_| zone.clone())
    };
    let soa = SOA::new(
        in_zone("ns"),
        in_zone("hostmaster"),
        1,
        3600,
        600,
        86400,
        NEGATIVE_TTL,
    );
    Record::from_rdata(zone.clone(), NEGATIVE_TTL, RData::SOA(soa))
}

/// The `RequestHandler` that answers from the table.
struct TableHandler {
    table: Arc<Mutex<Table>>,
}

impl TableHandler {
    async fn handle<R: ResponseHandler>(&self, request: &Request, response: R) -> ResponseInfo {
        let Ok(info) = request.request_info() else {
            return send(request, &Reply::error(ResponseCode::FormErr), response).await;
        };
        if info.metadata.op_code != OpCode::Query {
            return send(request, &Reply::error(ResponseCode::NotImp), response).await;
        }
        let qname = info.query.original().name().clone();
        let plan = {
            let mut table = lock(&self.table);
            *table.queries.entry(name_key(&qname)).or_default() += 1;
            let over_tcp = request.protocol() == Protocol::Tcp;
            table.plan(&qname, info.query.query_type(), over_tcp)
        };
        match plan {
            None => not_sent(request),
            Some(Plan { delay, reply }) if delay.is_zero() => send(request, &reply, response).await,
            Some(Plan { delay, reply }) => {
                // The server handles the queries of one TCP connection one after the
                // other, so waiting here would hold up every later query on it. The
                // request borrows from the server, so the task re-reads it from its bytes.
                let bytes = request.as_slice().to_vec();
                let (src, protocol) = (request.src(), request.protocol());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Ok(request) = Request::from_bytes(bytes, src, protocol) {
                        send(&request, &reply, response).await;
                    }
                });
                not_sent(request)
            }
        }
    }
}

/// `RequestHandler` is declared with `#[async_trait]`; this is that macro's expansion
/// written out, so the tests need no `async-trait` dependency of their own.
impl RequestHandler for TableHandler {
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: 'async_trait + ResponseHandler,
        T: 'async_trait + Time,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.handle(request, response_handle))
    }
}

/// Sends `reply` to `request`: AA and RA set, the question echoed, EDNS answered if
/// the query used it.
async fn send<R: ResponseHandler>(
    request: &Request,
    reply: &Reply,
    mut response: R,
) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.authoritative = true;
    metadata.recursion_available = true;
    metadata.response_code = reply.rcode;
    metadata.truncation = reply.truncated;

    let edns = request.edns.as_ref().map(|query_edns| {
        let mut edns = Edns::new();
        edns.set_max_payload(query_edns.max_payload().max(512));
        edns
    });
    let mut builder = MessageResponseBuilder::from_message_request(request);
    if let Some(edns) = &edns {
        builder.edns(edns);
    }
    let message = builder.build(
        metadata,
        reply.answers.iter(),
        std::iter::empty(),
        reply.soa.iter(),
        std::iter::empty(),
    );
    // A failed send means the client has gone away; there is nobody left to tell.
    response
        .send_response(message)
        .await
        .unwrap_or_else(|_| not_sent(request))
}

/// The `ResponseInfo` for a query that got no response (yet). The server only logs it.
fn not_sent(request: &Request) -> ResponseInfo {
    let header = Header {
        metadata: Metadata::response_from_request(&request.metadata),
        counts: HeaderCounts::default(),
    };
    ResponseInfo::from(header)
}

/// A loopback UDP (and TCP) port that nothing listens on: queries sent there get ICMP "port
/// unreachable" (UDP) or a refused connection (TCP).
///
/// # Panics
///
/// If no loopback port can be bound to find one.
pub(crate) fn closed_port() -> SocketAddr {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a port to close");
    socket.local_addr().expect("read the port")
}

/// What a [`ScriptedDns`] sends back over UDP for one query.
pub(crate) enum Datagram {
    /// This message, from the server's address and port.
    Reply(Message),
    /// This message from another port of the same address, as an off-path forger would send.
    FromElsewhere(Message),
}

/// What a [`ScriptedDns`] sends back over TCP for one query.
pub(crate) enum Frame {
    /// This message, with its two-byte length.
    Reply(Message),
    /// These bytes as they are (e.g. a length prefix promising more than follows).
    Raw(Vec<u8>),
    /// Close the connection.
    Close,
}

/// What a [`ScriptedDns`] saw on the wire.
#[derive(Debug, Default, Clone)]
pub(crate) struct WireLog {
    /// The source port of every UDP query, in arrival order.
    pub(crate) udp_ports: Vec<u16>,
    /// Every UDP query.
    pub(crate) udp_queries: Vec<Message>,
    /// TCP connections accepted.
    pub(crate) tcp_connections: usize,
    /// Every TCP query.
    pub(crate) tcp_queries: Vec<Message>,
}

type UdpScript = dyn Fn(&Message) -> Vec<Datagram> + Send + Sync;
type TcpScript = dyn Fn(&Message) -> Vec<Frame> + Send + Sync;

/// A name server on loopback whose every reply is written by the test (see the module doc).
/// Dropping it stops its threads.
pub(crate) struct ScriptedDns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<WireLog>>,
    threads: Vec<JoinHandle<()>>,
}

impl ScriptedDns {
    /// How often the threads check whether they should stop.
    const POLL: Duration = Duration::from_millis(20);

    /// A UDP-only server on `127.0.0.1` (nothing listens on its TCP port).
    pub(crate) fn udp(
        script: impl Fn(&Message) -> Vec<Datagram> + Send + Sync + 'static,
    ) -> ScriptedDns {
        ScriptedDns::start(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            script,
            None::<fn(&Message) -> Vec<Frame>>,
        )
    }

    /// A server on `ip` answering UDP by `udp` and, when given, TCP on the same port by `tcp`.
    ///
    /// # Panics
    ///
    /// If the sockets or threads cannot be created.
    pub(crate) fn start(
        ip: IpAddr,
        udp: impl Fn(&Message) -> Vec<Datagram> + Send + Sync + 'static,
        tcp: Option<impl Fn(&Message) -> Vec<Frame> + Send + Sync + 'static>,
    ) -> ScriptedDns {
        let (socket, listener) = bind_udp_and_tcp(ip).expect("bind the scripted DNS");
        let addr = socket.local_addr().expect("scripted DNS address");
        let forger = UdpSocket::bind((ip, 0)).expect("bind a forger");
        socket.set_nonblocking(false).expect("blocking UDP");
        socket
            .set_read_timeout(Some(Self::POLL))
            .expect("set a read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(WireLog::default()));
        let mut threads = Vec::new();
        let udp: Arc<UdpScript> = Arc::new(udp);
        threads.push(std::thread::spawn({
            let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
            move || serve_udp(&socket, &forger, &*udp, &stop, &log)
        }));
        if let Some(tcp) = tcp {
            let tcp: Arc<TcpScript> = Arc::new(tcp);
            threads.push(std::thread::spawn({
                let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
                move || serve_tcp(&listener, &tcp, &stop, &log)
            }));
        } else {
            drop(listener);
        }
        ScriptedDns {
            addr,
            stop,
            log,
            threads,
        }
    }

    /// The address (UDP, and TCP when scripted) the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server saw so far.
    pub(crate) fn log(&self) -> WireLog {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for ScriptedDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve_udp(
    socket: &UdpSocket,
    forger: &UdpSocket,
    script: &UdpScript,
    stop: &AtomicBool,
    log: &Mutex<WireLog>,
) {
    let mut buffer = [0_u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let Ok((length, client)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buffer[..length]) else {
            continue;
        };
        {
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            log.udp_ports.push(client.port());
            log.udp_queries.push(query.clone());
        }
        for datagram in script(&query) {
            let (sender, message) = match datagram {
                Datagram::Reply(message) => (socket, message),
                Datagram::FromElsewhere(message) => (forger, message),
            };
            let bytes = message.to_vec().expect("encode a scripted reply");
            // The client may be gone already; nothing to do then.
            let _ = sender.send_to(&bytes, client);
        }
    }
}

fn serve_tcp(
    listener: &TcpListener,
    script: &Arc<TcpScript>,
    stop: &Arc<AtomicBool>,
    log: &Arc<Mutex<WireLog>>,
) {
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let mut connections = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .tcp_connections += 1;
                let (script, stop, log) = (Arc::clone(script), Arc::clone(stop), Arc::clone(log));
                connections.push(std::thread::spawn(move || {
                    serve_connection(stream, &*script, &stop, &log);
                }));
            }
            Err(_) => std::thread::sleep(ScriptedDns::POLL),
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

fn serve_connection(
    mut stream: std::net::TcpStream,
    script: &TcpScript,
    stop: &AtomicBool,
    log: &Mutex<WireLog>,
) {
    use std::io::{Read, Write};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(ScriptedDns::POLL));
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => pending.extend_from_slice(&buffer[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        }
        while pending.len() >= 2 {
            let length = usize::from(u16::from_be_bytes([pending[0], pending[1]]));
            if pending.len() < 2 + length {
                break;
            }
            let frame: Vec<u8> = pending.drain(..2 + length).skip(2).collect();
            let Ok(query) = Message::from_vec(&frame) else {
                continue;
            };
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .tcp_queries
                .push(query.clone());
            for reply in script(&query) {
                let bytes = match reply {
                    Frame::Reply(message) => {
                        let body = message.to_vec().expect("encode a scripted reply");
                        let mut framed = u16::try_from(body.len())
                            .expect("a short reply")
                            .to_be_bytes()
                            .to_vec();
                        framed.extend_from_slice(&body);
                        framed
                    }
                    Frame::Raw(bytes) => bytes,
                    Frame::Close => {
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                };
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
        }
    }
}

/// The reply a well-behaved server would send to `query`: same ID, the question echoed exactly
/// (case included), recursion available, `answers`.
pub(crate) fn reply(query: &Message, answers: Vec<Record>) -> Message {
    let mut message = Message::response(query.metadata.id, OpCode::Query);
    message.metadata.recursion_desired = query.metadata.recursion_desired;
    message.metadata.recursion_available = true;
    message.metadata.response_code = ResponseCode::NoError;
    message.add_queries(query.queries.iter().cloned());
    message.add_answers(answers);
    message
}

/// An A record (TTL 300) for `owner`.
pub(crate) fn a_record(owner: &Name, ip: Ipv4Addr) -> Record {
    Record::from_rdata(owner.clone(), 300, RData::A(A(ip)))
}

/// The answer to `query` holding `ip` when it asks for A, nothing otherwise.
pub(crate) fn a_answer(query: &Message, ip: Ipv4Addr) -> Vec<Record> {
    let question = &query.queries[0];
    if question.query_type() == RecordType::A {
        vec![a_record(question.name(), ip)]
    } else {
        Vec::new()
    }
}

/// A CNAME record (TTL 300) from `owner` to `target`.
pub(crate) fn cname_record(owner: &str, target: &str) -> Record {
    let name = |text: &str| Name::from_ascii(text).expect("a test name");
    Record::from_rdata(name(owner), 300, RData::CNAME(CNAME(name(target))))
}
