//! Resolve: asks DNS for a host's addresses, and nothing else.
//!
//! Owns the choice of DNS transport ([`DnsTransport`]: the pooled client of `dns_transport/`
//! by default, or hickory's name server pool over UDP or TCP) and what DNS said, read the same
//! way for all of them (`resolve/chain.rs`): A and AAAA are asked concurrently; only records on
//! the CNAME chain from the host count; the chain is recorded in order; each address keeps the
//! TTL its server gave; the outcome is one of `ok | nxdomain | nodata | servfail | refused |
//! timeout | error`, an `error` saying why ([`DnsFailure`]); and the evidence says which servers
//! answered and by which transport. A lookup never takes longer than [`DnsResolver::deadline`],
//! whatever the servers do. This module never connects to a reported host; it only talks to the
//! configured name servers. The hosts file is never consulted: evidence comes from DNS alone.

mod chain;
mod hickory;

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hickory_resolver::config::{ProtocolConfig, ResolverConfig};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::dns_transport::{
    PooledClient, PooledSettings, Protocol, Rotation, TransportError, TransportStats,
};
use chain::{Answered, Ask, Asked, NoResponse};
use hickory::HickoryPool;

/// How a DNS lookup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsOutcome {
    /// At least one address.
    Ok,
    /// The name does not exist.
    #[serde(rename = "nxdomain")]
    NxDomain,
    /// The name exists but has no record of the type asked.
    #[serde(rename = "nodata")]
    NoData,
    /// The server failed (SERVFAIL).
    #[serde(rename = "servfail")]
    ServFail,
    /// The server refused (REFUSED).
    Refused,
    /// Asked, and no answer in time.
    Timeout,
    /// Any other failure; [`DnsFailure`] says which.
    Error,
}

impl DnsOutcome {
    /// The name used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsOutcome::Ok => "ok",
            DnsOutcome::NxDomain => "nxdomain",
            DnsOutcome::NoData => "nodata",
            DnsOutcome::ServFail => "servfail",
            DnsOutcome::Refused => "refused",
            DnsOutcome::Timeout => "timeout",
            DnsOutcome::Error => "error",
        }
    }

    /// Every outcome, for metrics.
    pub const ALL: [DnsOutcome; 7] = [
        DnsOutcome::Ok,
        DnsOutcome::NxDomain,
        DnsOutcome::NoData,
        DnsOutcome::ServFail,
        DnsOutcome::Refused,
        DnsOutcome::Timeout,
        DnsOutcome::Error,
    ];

    /// Whether the answer is a property of the name (cacheable as such) rather than of the
    /// moment (a failure worth retrying soon).
    pub fn is_definitive(self) -> bool {
        matches!(
            self,
            DnsOutcome::Ok | DnsOutcome::NxDomain | DnsOutcome::NoData
        )
    }
}

/// Why a lookup or query ended in the outcome `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsFailure {
    /// hostloc's own queue of questions was full, or a question waited in it until the lookup's
    /// deadline: it was never sent. Not cached.
    QueueFull,
    /// The CNAME chain leads back to a name already on it. Not cached.
    CnameLoop,
    /// The CNAME chain is longer than hostloc follows (16 CNAMEs, 8 questions). Not cached.
    ChainTooLong,
    /// Nothing listens on the name server's port.
    ConnectionRefused,
    /// The server answered with a response code that is neither an answer nor SERVFAIL or
    /// REFUSED (NOTIMP, FORMERR, an unassigned code, …); `queries[].rcode` says which.
    ResponseCode,
    /// Another transport failure (a broken TCP connection, a socket that cannot be used).
    Transport,
}

impl DnsFailure {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsFailure::QueueFull => "queue_full",
            DnsFailure::CnameLoop => "cname_loop",
            DnsFailure::ChainTooLong => "chain_too_long",
            DnsFailure::ConnectionRefused => "connection_refused",
            DnsFailure::ResponseCode => "response_code",
            DnsFailure::Transport => "transport",
        }
    }

    /// Whether a resolution that failed this way may be cached for the failure TTL. A full
    /// local queue says nothing about the name; a broken chain is reported, not remembered.
    pub fn is_cacheable(self) -> bool {
        !matches!(
            self,
            DnsFailure::QueueFull | DnsFailure::CnameLoop | DnsFailure::ChainTooLong
        )
    }
}

/// One of the two queries a lookup makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryOutcome {
    /// `A` or `AAAA`.
    #[serde(rename = "type")]
    pub record_type: String,
    /// How this query ended.
    pub outcome: DnsOutcome,
    /// Why, when the outcome is `error`.
    pub error: Option<DnsFailure>,
    /// How many addresses it returned.
    pub answers: usize,
    /// The response code of the last response (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, …); null
    /// when none came.
    pub rcode: Option<String>,
    /// The server that gave the last response, `addr:port`; null when none did, or when the
    /// transport does not say (hickory with several servers).
    pub server: Option<String>,
    /// How the last response travelled: `udp` or `tcp`; null when unknown.
    pub protocol: Option<String>,
}

/// The record type of one of a lookup's two queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl QueryType {
    /// `A` or `AAAA`, as in the evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryType::A => "A",
            QueryType::Aaaa => "AAAA",
        }
    }
}

impl std::fmt::Display for QueryType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of the two queries of a [`Resolution`], as the cache holds it: the same facts as the
/// reported [`QueryOutcome`] in 32 bytes without an allocation of its own (the response code and
/// protocol as codes, named when a Report is made; the server's text one `Arc<str>` per
/// configured server, shared by every resolution it answered), so that a full cache of 100,000
/// hosts stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedQuery {
    /// `A` or `AAAA`.
    pub record_type: QueryType,
    /// How this query ended.
    pub outcome: DnsOutcome,
    /// Why, when the outcome is `error`.
    pub error: Option<DnsFailure>,
    /// How the last response travelled; `None` when unknown.
    pub protocol: Option<Protocol>,
    /// The response code of the last response; `None` when none came.
    pub rcode: Option<ResponseCode>,
    /// How many addresses it returned.
    pub answers: u32,
    /// The server that gave the last response, `addr:port`; `None` when none did or the
    /// transport does not say.
    pub server: Option<Arc<str>>,
}

impl ResolvedQuery {
    /// The response code as dig names it (`NOERROR`, `SERVFAIL`, …, `RCODE11`).
    pub fn rcode_name(&self) -> Option<Cow<'static, str>> {
        self.rcode.map(rcode_name)
    }

    /// `udp` or `tcp`.
    pub fn protocol_name(&self) -> Option<&'static str> {
        self.protocol.map(Protocol::as_str)
    }
}

impl From<&ResolvedQuery> for QueryOutcome {
    fn from(query: &ResolvedQuery) -> QueryOutcome {
        QueryOutcome {
            record_type: query.record_type.as_str().to_owned(),
            outcome: query.outcome,
            error: query.error,
            answers: query.answers as usize,
            rcode: query.rcode_name().map(Cow::into_owned),
            server: query.server.as_deref().map(str::to_owned),
            protocol: query.protocol_name().map(str::to_owned),
        }
    }
}

/// An address and the TTL its server gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedAddress {
    /// The address.
    pub ip: IpAddr,
    /// Its record's TTL as the server gave it, seconds.
    pub ttl: u32,
}

/// What DNS said about a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Every address, A answers first, without duplicates; two (the common A + AAAA) inline.
    pub addresses: SmallVec<[ResolvedAddress; 2]>,
    /// The CNAME chain from the host to the name holding the addresses, without the host.
    pub cname_chain: Vec<String>,
    /// The combined outcome.
    pub outcome: DnsOutcome,
    /// Why, when the outcome is `error`.
    pub error: Option<DnsFailure>,
    /// The smallest TTL of the answer (or the negative TTL of a no-such-name answer), seconds.
    pub ttl: Option<u32>,
    /// The A and AAAA queries separately, A first.
    pub queries: [ResolvedQuery; 2],
    /// The servers that answered any question of this lookup, once each, in order; `None` when
    /// the transport does not say (hickory with several servers). The usual lists (none, or
    /// one configured server) are shared by every resolution that has them.
    pub servers: Option<Arc<[SocketAddr]>>,
    /// The transport the questions travelled by.
    pub transport: DnsTransport,
    /// When the answer was received (monotonic, for cache ages).
    pub received_at: Instant,
    /// When the answer was received (wall clock, for the evidence).
    pub resolved_at: SystemTime,
}

impl Resolution {
    /// The addresses without their TTLs.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.addresses.iter().map(|address| address.ip).collect()
    }

    /// The A and AAAA queries as reported.
    pub fn query_outcomes(&self) -> Vec<QueryOutcome> {
        self.queries.iter().map(QueryOutcome::from).collect()
    }

    /// Whether the cache may keep this resolution: not when a question was never sent, nor
    /// when the chain is broken.
    pub fn is_cacheable(&self) -> bool {
        self.error.is_none_or(DnsFailure::is_cacheable)
            && self
                .queries
                .iter()
                .all(|query| query.error != Some(DnsFailure::QueueFull))
    }
}

/// Name servers and limits.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// Servers to ask; empty means the system configuration (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// Time to wait for one answer from one server.
    pub timeout: Duration,
    /// Rounds over the servers before a question fails (1 = each server once).
    pub attempts: usize,
    /// How queries travel to the servers.
    pub transport: DnsTransport,
    /// When the pooled transport replaces a UDP socket by one on a fresh port.
    pub rotation: Rotation,
    /// Questions the pooled transport lets wait for room at busy servers; more fail at once
    /// with `queue_full`.
    pub queue: usize,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            servers: Vec::new(),
            timeout: Duration::from_secs(2),
            attempts: 2,
            transport: DnsTransport::default(),
            rotation: Rotation::default(),
            queue: 10_000,
        }
    }
}

/// How DNS queries travel to the name servers. All give the same answers and outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DnsTransport {
    /// A few UDP sockets per server shared by all queries, on fresh random ports every 1 024
    /// queries or 10 s; random IDs, 0x20, exact question checked, TCP when truncated. Fast.
    #[default]
    Pooled,
    /// hickory's name server pool: a new UDP socket on a random port for every query, 0x20.
    /// Several times the CPU per name; the hardest to spoof off-path over UDP.
    Hickory,
    /// hickory's name server pool over TCP only: no off-path spoofing at all, but against
    /// servers that limit connections or queries per connection many lookups fail.
    HickoryTcp,
}

impl DnsTransport {
    /// The name used on the command line and in the evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsTransport::Pooled => "pooled",
            DnsTransport::Hickory => "hickory",
            DnsTransport::HickoryTcp => "hickory-tcp",
        }
    }
}

impl DnsSettings {
    /// The hard bound on one lookup over `servers` name servers: every try's timeout (a round
    /// over every server, `attempts` times) plus half a second of slack. With the defaults and
    /// one server a lookup ends within 4.5 s.
    pub fn deadline(&self, servers: usize) -> Duration {
        let tries = self.attempts.max(1).saturating_mul(servers.max(1));
        let tries = u32::try_from(tries).unwrap_or(u32::MAX);
        self.timeout.saturating_mul(tries) + Duration::from_millis(500)
    }
}

/// A name server address as given on the command line: `ADDR` or `ADDR:PORT` (`[V6]:PORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameServerAddr(pub SocketAddr);

impl FromStr for NameServerAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(socket) = text.parse::<SocketAddr>() {
            return Ok(NameServerAddr(socket));
        }
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>()
            .map(|ip| NameServerAddr(SocketAddr::new(ip, 53)))
            .map_err(|_| {
                format!("{text:?} is not a name server address (ADDR or ADDR:PORT, e.g. 9.9.9.9 or [::1]:5353)")
            })
    }
}

/// Why the resolver could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolverSetupError {
    /// The system DNS configuration could not be read.
    #[error(
        "cannot read the system DNS configuration (/etc/resolv.conf): {0}; \
         pass --dns-server ADDR[:PORT]"
    )]
    SystemConfig(String),
    /// hickory rejected the configuration.
    #[error("cannot set up the DNS resolver: {0}")]
    Build(String),
    /// The sockets of the pooled transport could not be opened.
    #[error("cannot open the DNS sockets: {0}")]
    Sockets(Arc<std::io::Error>),
}

/// The DNS client every lookup goes through.
#[derive(Clone)]
pub struct DnsResolver {
    backend: Backend,
    transport: DnsTransport,
    deadline: Duration,
    servers: Arc<[SocketAddr]>,
    /// Each server's `addr:port`, written once and shared by every resolution it answered.
    server_names: Arc<[Arc<str>]>,
    /// The lists of servers most resolutions have, shared: none, then each server alone.
    server_lists: Arc<[Arc<[SocketAddr]>]>,
}

/// The transport behind a [`DnsResolver`].
#[derive(Clone)]
enum Backend {
    Pooled(PooledClient),
    Hickory(HickoryPool),
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsResolver")
            .field("transport", &self.transport)
            .field("servers", &self.servers)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl DnsResolver {
    /// Builds the resolver for `settings`, aimed at its servers or those of `/etc/resolv.conf`.
    /// The pooled transport opens its sockets here and must be built inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ResolverSetupError`] when the system configuration is needed and unreadable (or names
    /// no server), or the pooled transport's sockets cannot be opened (no runtime, no socket).
    pub fn new(settings: &DnsSettings) -> Result<DnsResolver, ResolverSetupError> {
        let servers = if settings.servers.is_empty() {
            system_name_servers()?
        } else {
            settings.servers.clone()
        };
        let backend = match settings.transport {
            DnsTransport::Pooled => {
                let client = PooledClient::new(PooledSettings {
                    servers: servers.clone(),
                    timeout: settings.timeout,
                    attempts: settings.attempts,
                    rotation: settings.rotation,
                    queue: settings.queue,
                })
                .map_err(|error| ResolverSetupError::Sockets(Arc::new(error)))?;
                Backend::Pooled(client)
            }
            DnsTransport::Hickory => Backend::Hickory(HickoryPool::new(&servers, settings, false)?),
            DnsTransport::HickoryTcp => {
                Backend::Hickory(HickoryPool::new(&servers, settings, true)?)
            }
        };
        // The pooled client leaves out servers it cannot use.
        let servers: Vec<SocketAddr> = match &backend {
            Backend::Pooled(client) => client.servers(),
            Backend::Hickory(_) => servers,
        };
        Ok(DnsResolver {
            backend,
            transport: settings.transport,
            deadline: settings.deadline(servers.len()),
            server_names: servers
                .iter()
                .map(|server| Arc::from(server.to_string()))
                .collect(),
            server_lists: std::iter::once(Arc::from([]))
                .chain(servers.iter().map(|server| Arc::from([*server])))
                .collect(),
            servers: servers.into(),
        })
    }

    /// The transport queries travel by.
    pub fn transport(&self) -> DnsTransport {
        self.transport
    }

    /// The name servers asked, in the configured order.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// The hard bound on one lookup.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Counters of the pooled transport (per server: health, RTT, queries, dropped responses,
    /// retries; merged and unsent questions); `None` for hickory, which keeps its own.
    pub fn transport_stats(&self) -> Option<TransportStats> {
        match &self.backend {
            Backend::Pooled(client) => Some(client.stats()),
            Backend::Hickory(_) => None,
        }
    }

    /// Asks for A and AAAA of `host` (a lower-case ASCII name without trailing dot)
    /// concurrently and combines the answers. Never fails: failures are outcomes.
    pub async fn resolve(&self, host: &str) -> Resolution {
        // Two questions through any transport make a large state (kilobytes); boxed, it is
        // allocated once rather than copied with every future that holds a lookup (batch spawns
        // one per row, and tokio and the ordering stream move each several times).
        Box::pin(self.resolve_in_place(host)).await
    }

    async fn resolve_in_place(&self, host: &str) -> Resolution {
        let mut name = match Name::from_ascii(host) {
            Ok(name) => name,
            Err(_) => return self.unasked(DnsOutcome::Error, Some(DnsFailure::Transport)),
        };
        name.set_fqdn(true);
        let deadline = tokio::time::Instant::now() + self.deadline;
        let both = async {
            tokio::join!(
                chain::ask_following_cnames(self, &name, RecordType::A, deadline),
                chain::ask_following_cnames(self, &name, RecordType::AAAA, deadline)
            )
        };
        // Every transport stops at the deadline itself; this is the backstop.
        let backstop = deadline + Duration::from_millis(100);
        match tokio::time::timeout_at(backstop, both).await {
            Ok((a, aaaa)) => self.combine(&name, [a, aaaa]),
            Err(_) => self.unasked(DnsOutcome::Timeout, None),
        }
    }

    /// A resolution without any answer.
    fn unasked(&self, outcome: DnsOutcome, error: Option<DnsFailure>) -> Resolution {
        Resolution {
            addresses: SmallVec::new(),
            cname_chain: Vec::new(),
            outcome,
            error,
            ttl: None,
            queries: [QueryType::A, QueryType::Aaaa].map(|record_type| ResolvedQuery {
                record_type,
                outcome,
                error,
                answers: 0,
                rcode: None,
                server: None,
                protocol: None,
            }),
            servers: Some(self.server_list(&[])),
            transport: self.transport,
            received_at: Instant::now(),
            resolved_at: SystemTime::now(),
        }
    }

    /// Merges the A and AAAA answers into one resolution.
    fn combine(&self, name: &Name, asked: [Asked; 2]) -> Resolution {
        let mut addresses: SmallVec<[ResolvedAddress; 2]> = SmallVec::new();
        let mut ttl: Option<u32> = None;
        let mut negative_ttl: Option<u32> = None;
        let mut servers: Option<Vec<SocketAddr>> = Some(Vec::new());
        let keep_min = |slot: &mut Option<u32>, value: u32| {
            *slot = Some(slot.map_or(value, |current| current.min(value)));
        };
        for query in &asked {
            for record in &query.records {
                let ip = match &record.data {
                    RData::A(a) => IpAddr::V4(a.0),
                    RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                    _ => continue,
                };
                if !addresses.iter().any(|known| known.ip == ip) {
                    addresses.push(ResolvedAddress {
                        ip,
                        ttl: record.ttl,
                    });
                }
                keep_min(&mut ttl, record.ttl);
            }
            if query.outcome == DnsOutcome::Ok {
                for cname in &query.cnames {
                    keep_min(&mut ttl, cname.ttl);
                }
            }
            if let Some(negative) = query.negative_ttl {
                keep_min(&mut negative_ttl, negative);
            }
            for server in &query.servers {
                match (server, servers.as_mut()) {
                    (Some(server), Some(known)) if !known.contains(server) => known.push(*server),
                    (None, _) => servers = None,
                    _ => {}
                }
            }
        }
        let [a, aaaa] = &asked;
        let outcome = combined_outcome(a.outcome, aaaa.outcome, !addresses.is_empty());
        let error = asked
            .iter()
            .find(|query| query.outcome == outcome)
            .and_then(|query| query.failure);
        let ttl = match outcome {
            DnsOutcome::Ok => ttl,
            DnsOutcome::NxDomain | DnsOutcome::NoData => negative_ttl,
            _ => None,
        };
        // Both queries follow the same chain; the one that got further tells it.
        let chain = if a.cnames.len() >= aaaa.cnames.len() {
            &a.cnames
        } else {
            &aaaa.cnames
        };
        // Held by the cache for up to an hour: no spare capacity.
        addresses.shrink_to_fit();
        Resolution {
            addresses,
            cname_chain: chain_names(name, chain),
            outcome,
            error,
            ttl,
            queries: [self.resolved_query(a), self.resolved_query(aaaa)],
            servers: servers.map(|servers| self.server_list(&servers)),
            transport: self.transport,
            received_at: Instant::now(),
            resolved_at: SystemTime::now(),
        }
    }
}

impl DnsResolver {
    /// One query's outcome as the resolution keeps it.
    fn resolved_query(&self, asked: &Asked) -> ResolvedQuery {
        let answers = asked
            .records
            .iter()
            .filter(|record| matches!(record.data, RData::A(_) | RData::AAAA(_)))
            .count();
        ResolvedQuery {
            record_type: if asked.record_type == RecordType::AAAA {
                QueryType::Aaaa
            } else {
                QueryType::A
            },
            outcome: asked.outcome,
            error: asked.failure,
            answers: u32::try_from(answers).unwrap_or(u32::MAX),
            rcode: asked.response_code,
            server: asked
                .servers
                .last()
                .copied()
                .flatten()
                .map(|server| self.server_name(server)),
            protocol: asked.protocol,
        }
    }

    /// `servers` as a shared list when it is one of the usual ones, else a list of its own.
    fn server_list(&self, servers: &[SocketAddr]) -> Arc<[SocketAddr]> {
        match self.server_lists.iter().find(|list| ***list == *servers) {
            Some(list) => Arc::clone(list),
            None => Arc::from(servers),
        }
    }

    /// `server` as `addr:port`, shared when it is a configured server (it always is).
    fn server_name(&self, server: SocketAddr) -> Arc<str> {
        match self.servers.iter().position(|known| *known == server) {
            Some(index) => Arc::clone(&self.server_names[index]),
            None => Arc::from(server.to_string()),
        }
    }
}

impl Ask for DnsResolver {
    async fn ask(
        &self,
        name: &Name,
        record_type: RecordType,
        deadline: tokio::time::Instant,
    ) -> Result<Answered, NoResponse> {
        match &self.backend {
            Backend::Hickory(pool) => pool.ask(name, record_type, deadline).await,
            Backend::Pooled(client) => match client.query(name, record_type, deadline).await {
                Ok(exchange) => {
                    let response = exchange.response;
                    Ok(Answered {
                        response_code: response.metadata.response_code,
                        negative_ttl: response.negative_ttl(),
                        answers: response.into_message().answers,
                        server: Some(exchange.server),
                        protocol: Some(exchange.protocol),
                    })
                }
                Err(TransportError::Timeout) => Err(NoResponse::Timeout),
                Err(TransportError::NotSent) => Err(NoResponse::Failed(DnsFailure::QueueFull)),
                Err(TransportError::ConnectionRefused) => {
                    Err(NoResponse::Failed(DnsFailure::ConnectionRefused))
                }
                Err(TransportError::Tcp(_) | TransportError::Io(_)) => {
                    Err(NoResponse::Failed(DnsFailure::Transport))
                }
            },
        }
    }
}

/// The names a chain leads through, after the host, lower case and without trailing dot.
fn chain_names(host: &Name, chain: &[Record]) -> Vec<String> {
    let mut names = Vec::with_capacity(chain.len());
    for record in chain {
        if let RData::CNAME(target) = &record.data {
            let target = display_name(&target.0);
            if target != display_name(host) && !names.contains(&target) {
                names.push(target);
            }
        }
    }
    names
}

/// The name servers of `/etc/resolv.conf` (through hickory's parser). Only their addresses and
/// ports are used; timeouts and attempts come from [`DnsSettings`].
fn system_name_servers() -> Result<Vec<SocketAddr>, ResolverSetupError> {
    let (config, _options) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|error| ResolverSetupError::SystemConfig(error.to_string()))?;
    name_servers_of(&config)
}

/// The UDP address of every name server in `config`, without duplicates.
fn name_servers_of(config: &ResolverConfig) -> Result<Vec<SocketAddr>, ResolverSetupError> {
    let mut servers: Vec<SocketAddr> = Vec::new();
    for name_server in config.name_servers() {
        let port = name_server
            .connections
            .iter()
            .find(|connection| matches!(connection.protocol, ProtocolConfig::Udp))
            .map_or(53, |connection| connection.port);
        let server = SocketAddr::new(name_server.ip, port);
        if !servers.contains(&server) {
            servers.push(server);
        }
    }
    if servers.is_empty() {
        return Err(ResolverSetupError::SystemConfig(
            "it names no name server".to_owned(),
        ));
    }
    Ok(servers)
}

/// The outcome of the lookup as a whole. Addresses win; without them, "the name does not
/// exist" is authoritative, a failure means we cannot know, and "no data" needs both queries to
/// say so.
fn combined_outcome(a: DnsOutcome, aaaa: DnsOutcome, any_address: bool) -> DnsOutcome {
    if any_address {
        return DnsOutcome::Ok;
    }
    if a == DnsOutcome::NxDomain || aaaa == DnsOutcome::NxDomain {
        return DnsOutcome::NxDomain;
    }
    for failure in [
        DnsOutcome::ServFail,
        DnsOutcome::Refused,
        DnsOutcome::Timeout,
        DnsOutcome::Error,
    ] {
        if a == failure || aaaa == failure {
            return failure;
        }
    }
    DnsOutcome::NoData
}

/// The IANA mnemonic of a response code, as dig prints it (`NOERROR`, `SERVFAIL`, …), or
/// `RCODE` and its number for one without a mnemonic here.
fn rcode_name(code: ResponseCode) -> Cow<'static, str> {
    let name = match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        other => return Cow::Owned(format!("RCODE{}", u16::from(other))),
    };
    Cow::Borrowed(name)
}

fn display_name(name: &Name) -> String {
    let text = name.to_ascii().to_ascii_lowercase();
    text.trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_server_addresses() {
        for (text, expected) in [
            ("9.9.9.9", "9.9.9.9:53"),
            ("127.0.0.1:5353", "127.0.0.1:5353"),
            ("::1", "[::1]:53"),
            ("[::1]", "[::1]:53"),
            ("[::1]:5353", "[::1]:5353"),
        ] {
            assert_eq!(
                text.parse::<NameServerAddr>().unwrap().0.to_string(),
                expected
            );
        }
        assert!("dns.google".parse::<NameServerAddr>().is_err());
        assert!("1.2.3.4:99999".parse::<NameServerAddr>().is_err());
    }

    #[test]
    fn the_name_servers_of_resolv_conf_are_taken() {
        let resolv_conf = "search example.nl\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n\
                           nameserver 192.0.2.53\noptions timeout:1 attempts:5\n";
        let (config, _) = hickory_resolver::system_conf::parse_resolv_conf(resolv_conf).unwrap();
        let servers: Vec<String> = name_servers_of(&config)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(servers, ["192.0.2.53:53", "[2001:db8::53]:53"]);

        let empty = ResolverConfig::from_parts(None, Vec::new(), Vec::new());
        assert!(matches!(
            name_servers_of(&empty),
            Err(ResolverSetupError::SystemConfig(_))
        ));
    }

    #[test]
    fn outcomes_combine_as_documented() {
        use DnsOutcome::*;
        for (a, aaaa, any, expected) in [
            (Ok, ServFail, true, Ok),
            (NxDomain, NxDomain, false, NxDomain),
            (NxDomain, Timeout, false, NxDomain),
            (NoData, NoData, false, NoData),
            (NoData, Timeout, false, Timeout),
            (ServFail, NoData, false, ServFail),
            (Refused, Refused, false, Refused),
            (Error, NoData, false, Error),
        ] {
            assert_eq!(combined_outcome(a, aaaa, any), expected, "{a:?} {aaaa:?}");
        }
    }

    #[test]
    fn the_deadline_covers_every_try_at_every_server() {
        let settings = DnsSettings::default();
        assert_eq!(settings.deadline(1), Duration::from_millis(4500));
        assert_eq!(settings.deadline(3), Duration::from_millis(12_500));
        assert_eq!(settings.deadline(0), Duration::from_millis(4500));
    }

    #[test]
    fn response_codes_are_named_as_dig_names_them() {
        assert_eq!(rcode_name(ResponseCode::NoError), "NOERROR");
        assert_eq!(rcode_name(ResponseCode::ServFail), "SERVFAIL");
        assert_eq!(rcode_name(ResponseCode::Unknown(3841)), "RCODE3841");
    }

    #[test]
    fn a_cached_resolution_stays_small() {
        // The cache holds up to 100,000 (bench/memory.sh); each byte here is 100 kB there.
        assert!(
            size_of::<ResolvedQuery>() <= 32,
            "{}",
            size_of::<ResolvedQuery>()
        );
        assert!(
            size_of::<Resolution>() <= 208,
            "{}",
            size_of::<Resolution>()
        );
    }

    #[test]
    fn failures_that_say_nothing_about_the_name_are_not_cached() {
        for (failure, cacheable) in [
            (DnsFailure::QueueFull, false),
            (DnsFailure::CnameLoop, false),
            (DnsFailure::ChainTooLong, false),
            (DnsFailure::ConnectionRefused, true),
            (DnsFailure::ResponseCode, true),
            (DnsFailure::Transport, true),
        ] {
            assert_eq!(failure.is_cacheable(), cacheable, "{failure:?}");
        }
    }
}
