//! Resolve: asks DNS for a host's addresses, and nothing else.
//!
//! Owns the choice of DNS transport ([`DnsTransport`]: the pooled UDP client of
//! `dns_transport.rs` by default, or hickory-resolver) and the classification of what DNS said,
//! the same for both: A and AAAA are asked concurrently, every answer is kept, the CNAME chain
//! is recorded in order, the smallest TTL is kept, and the outcome is classified as one of
//! `ok | nxdomain | nodata | servfail | refused | timeout | error`. A lookup never takes longer
//! than [`DnsSettings::deadline`], whatever the servers do. This module never connects to a
//! reported host; it only talks to the configured name servers. The hosts file is never
//! consulted: evidence comes from DNS alone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hickory_resolver::config::{
    NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Serialize};

use crate::dns_transport::{PooledUdpClient, TransportStats};

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
    /// No answer in time.
    Timeout,
    /// Any other failure (transport, malformed answer, …).
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

/// One of the two queries a lookup makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryOutcome {
    /// `A` or `AAAA`.
    #[serde(rename = "type")]
    pub record_type: String,
    /// How this query ended.
    pub outcome: DnsOutcome,
    /// How many addresses it returned.
    pub answers: usize,
}

/// What DNS said about a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Every address, A answers first, without duplicates.
    pub addresses: Vec<IpAddr>,
    /// The CNAME chain from the host to the name holding the addresses, without the host.
    pub cname_chain: Vec<String>,
    /// The combined outcome.
    pub outcome: DnsOutcome,
    /// The smallest TTL of the answer (or the negative TTL of a no-such-name answer), seconds.
    pub ttl: Option<u32>,
    /// The A and AAAA queries separately.
    pub queries: Vec<QueryOutcome>,
    /// When the answer was received (monotonic, for cache ages).
    pub received_at: Instant,
    /// When the answer was received (wall clock, for the evidence).
    pub resolved_at: SystemTime,
}

/// Name servers and limits.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// Servers to ask; empty means the system configuration (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// Time to wait for one answer from one server.
    pub timeout: Duration,
    /// How many times a query is tried in all (1 = no retry).
    pub attempts: usize,
    /// How queries travel to the servers.
    pub transport: DnsTransport,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            servers: Vec::new(),
            timeout: Duration::from_secs(2),
            attempts: 2,
            transport: DnsTransport::default(),
        }
    }
}

/// How DNS queries travel to the name servers. Both give the same answers and outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DnsTransport {
    /// A few long-lived UDP sockets per server shared by all queries (random IDs, question
    /// checked, TCP for truncated answers). Fast; for a local or trusted resolver.
    #[default]
    Pooled,
    /// hickory-resolver: a new socket with a random source port per query. Several times the
    /// CPU per query, but harder to spoof off-path; for an untrusted path to the resolver.
    Hickory,
}

impl DnsSettings {
    /// The hard bound on one lookup: every attempt's timeout plus half a second of slack.
    /// With the defaults (2 s × 2) a lookup ends within 4.5 s.
    pub fn deadline(&self) -> Duration {
        let attempts = u32::try_from(self.attempts.max(1)).unwrap_or(u32::MAX);
        self.timeout.saturating_mul(attempts) + Duration::from_millis(500)
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
    deadline: Duration,
    servers: Arc<[SocketAddr]>,
}

/// The transport behind a [`DnsResolver`].
#[derive(Clone)]
enum Backend {
    Pooled(PooledUdpClient),
    Hickory(Arc<TokioResolver>),
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsResolver")
            .field("transport", &self.transport())
            .field("servers", &self.servers)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl DnsResolver {
    /// Builds the resolver for `settings`. The pooled transport opens its sockets here and must
    /// be built inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ResolverSetupError`] when the system configuration is needed and unreadable (or names
    /// no server), or the pooled transport's sockets cannot be opened (no runtime, no socket).
    pub fn new(settings: &DnsSettings) -> Result<DnsResolver, ResolverSetupError> {
        match settings.transport {
            DnsTransport::Pooled => Self::pooled(settings),
            DnsTransport::Hickory => Self::hickory(settings),
        }
    }

    /// The pooled UDP client, aimed at the given servers or those of `/etc/resolv.conf`.
    fn pooled(settings: &DnsSettings) -> Result<DnsResolver, ResolverSetupError> {
        let servers = if settings.servers.is_empty() {
            system_name_servers()?
        } else {
            settings.servers.clone()
        };
        let client = PooledUdpClient::new(servers.clone(), settings.timeout, settings.attempts)
            .map_err(|error| ResolverSetupError::Sockets(Arc::new(error)))?;
        Ok(DnsResolver {
            backend: Backend::Pooled(client),
            deadline: settings.deadline(),
            servers: servers.into(),
        })
    }

    /// hickory-resolver, aimed at the given servers or configured from the system.
    fn hickory(settings: &DnsSettings) -> Result<DnsResolver, ResolverSetupError> {
        let mut builder = if settings.servers.is_empty() {
            Resolver::builder_tokio()
                .map_err(|error| ResolverSetupError::SystemConfig(error.to_string()))?
        } else {
            let name_servers = settings
                .servers
                .iter()
                .map(|server| {
                    let mut config = NameServerConfig::udp_and_tcp(server.ip());
                    for connection in &mut config.connections {
                        connection.port = server.port();
                    }
                    config
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), name_servers),
                TokioRuntimeProvider::default(),
            )
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = settings.timeout;
        // hickory counts retries after the first try.
        options.attempts = settings.attempts.max(1) - 1;
        options.use_hosts_file = ResolveHosts::Never;
        options.preserve_intermediates = true;
        options.ndots = 0;
        // Our own cache (cache.rs) keeps whole resolutions by TTL; a second cache underneath
        // would hide answer changes from it.
        options.cache_size = 0;
        let resolver = builder
            .build()
            .map_err(|error| ResolverSetupError::Build(error.to_string()))?;
        Ok(DnsResolver {
            backend: Backend::Hickory(Arc::new(resolver)),
            deadline: settings.deadline(),
            servers: settings.servers.clone().into(),
        })
    }

    /// The name servers asked, by address; empty when hickory takes them from the system
    /// configuration itself.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// The transport queries travel by.
    pub fn transport(&self) -> DnsTransport {
        match self.backend {
            Backend::Pooled(_) => DnsTransport::Pooled,
            Backend::Hickory(_) => DnsTransport::Hickory,
        }
    }

    /// Counters of the pooled transport (queries in flight, responses dropped as unmatched);
    /// `None` for hickory, which keeps no such counters.
    pub fn transport_stats(&self) -> Option<TransportStats> {
        match &self.backend {
            Backend::Pooled(client) => Some(client.stats()),
            Backend::Hickory(_) => None,
        }
    }

    /// One query through the configured transport.
    async fn lookup(&self, name: Name, record_type: RecordType) -> QueryResult {
        match &self.backend {
            Backend::Pooled(client) => client.lookup(name, record_type).await,
            Backend::Hickory(resolver) => resolver.lookup(name, record_type).await,
        }
    }

    /// Asks for A and AAAA of `host` (a lower-case ASCII name without trailing dot)
    /// concurrently and combines the answers. Never fails: failures are outcomes.
    pub async fn resolve(&self, host: &str) -> Resolution {
        let received = |outcome, queries| Resolution {
            addresses: Vec::new(),
            cname_chain: Vec::new(),
            outcome,
            ttl: None,
            queries,
            received_at: Instant::now(),
            resolved_at: SystemTime::now(),
        };
        let mut name = match Name::from_ascii(host) {
            Ok(name) => name,
            Err(_) => return received(DnsOutcome::Error, Vec::new()),
        };
        name.set_fqdn(true);
        let both = async {
            tokio::join!(
                self.lookup(name.clone(), RecordType::A),
                self.lookup(name.clone(), RecordType::AAAA)
            )
        };
        match tokio::time::timeout(self.deadline, both).await {
            Ok((a, aaaa)) => combine(&name, [(RecordType::A, a), (RecordType::AAAA, aaaa)]),
            Err(_) => received(
                DnsOutcome::Timeout,
                ["A", "AAAA"]
                    .into_iter()
                    .map(|record_type| QueryOutcome {
                        record_type: record_type.to_owned(),
                        outcome: DnsOutcome::Timeout,
                        answers: 0,
                    })
                    .collect(),
            ),
        }
    }
}

type QueryResult = Result<hickory_resolver::lookup::Lookup, NetError>;

/// The name servers of `/etc/resolv.conf` (through hickory's parser), for the pooled transport.
/// Only their addresses and ports are used; timeouts and attempts come from [`DnsSettings`].
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

/// Merges the A and AAAA answers into one resolution.
fn combine(name: &Name, answers: [(RecordType, QueryResult); 2]) -> Resolution {
    let mut addresses: Vec<IpAddr> = Vec::new();
    let mut cname_targets: HashMap<String, String> = HashMap::new();
    let mut ttl: Option<u32> = None;
    let mut negative_ttl: Option<u32> = None;
    let mut queries = Vec::with_capacity(2);
    let min_ttl = |value: u32, slot: &mut Option<u32>| {
        *slot = Some(slot.map_or(value, |current| current.min(value)));
    };
    for (record_type, result) in answers {
        let (outcome, count) = match result {
            Ok(lookup) => {
                let mut count = 0;
                for record in lookup.answers() {
                    match &record.data {
                        RData::A(a) if record_type == RecordType::A => {
                            push_unique(&mut addresses, IpAddr::V4(a.0));
                            count += 1;
                            min_ttl(record.ttl, &mut ttl);
                        }
                        RData::AAAA(aaaa) if record_type == RecordType::AAAA => {
                            push_unique(&mut addresses, IpAddr::V6(aaaa.0));
                            count += 1;
                            min_ttl(record.ttl, &mut ttl);
                        }
                        RData::CNAME(target) => {
                            cname_targets
                                .insert(display_name(&record.name), display_name(&target.0));
                            min_ttl(record.ttl, &mut ttl);
                        }
                        _ => {}
                    }
                }
                let outcome = if count > 0 {
                    DnsOutcome::Ok
                } else if lookup.message().metadata.response_code == ResponseCode::NXDomain {
                    DnsOutcome::NxDomain
                } else {
                    DnsOutcome::NoData
                };
                (outcome, count)
            }
            Err(error) => {
                if let NetError::Dns(DnsError::NoRecordsFound(no_records)) = &error
                    && let Some(negative) = no_records.negative_ttl
                {
                    min_ttl(negative, &mut negative_ttl);
                }
                (classify_error(&error), 0)
            }
        };
        queries.push(QueryOutcome {
            record_type: record_type.to_string(),
            outcome,
            answers: count,
        });
    }
    let outcome = combined_outcome(
        queries[0].outcome,
        queries[1].outcome,
        !addresses.is_empty(),
    );
    let ttl = match outcome {
        DnsOutcome::Ok => ttl,
        DnsOutcome::NxDomain | DnsOutcome::NoData => negative_ttl.or(ttl),
        _ => None,
    };
    Resolution {
        addresses,
        cname_chain: follow_chain(&display_name(name), &cname_targets),
        outcome,
        ttl,
        queries,
        received_at: Instant::now(),
        resolved_at: SystemTime::now(),
    }
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

/// Maps a hickory error to an outcome.
fn classify_error(error: &NetError) -> DnsOutcome {
    if error.is_nx_domain() {
        return DnsOutcome::NxDomain;
    }
    if error.is_no_records_found() {
        return DnsOutcome::NoData;
    }
    match error {
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => DnsOutcome::ServFail,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => DnsOutcome::Refused,
        NetError::Timeout => DnsOutcome::Timeout,
        NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => DnsOutcome::Timeout,
        _ => DnsOutcome::Error,
    }
}

/// Follows CNAMEs from `start`; stops on a loop.
fn follow_chain(start: &str, targets: &HashMap<String, String>) -> Vec<String> {
    let mut chain = Vec::new();
    let mut current = start.to_owned();
    while let Some(next) = targets.get(&current) {
        if next == start || chain.contains(next) || chain.len() >= 32 {
            break;
        }
        chain.push(next.clone());
        current = next.clone();
    }
    chain
}

fn display_name(name: &Name) -> String {
    let text = name.to_ascii().to_ascii_lowercase();
    text.trim_end_matches('.').to_owned()
}

fn push_unique(addresses: &mut Vec<IpAddr>, ip: IpAddr) {
    if !addresses.contains(&ip) {
        addresses.push(ip);
    }
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
    fn the_pooled_transport_takes_the_name_servers_of_resolv_conf() {
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
    fn one_failed_query_keeps_the_other_queries_addresses() {
        use hickory_resolver::lookup::Lookup;
        use hickory_resolver::proto::op::Query;
        use hickory_resolver::proto::rr::Record;
        use hickory_resolver::proto::rr::rdata::A;
        let name = Name::from_ascii("half.example.").unwrap();
        let answer = Record::from_rdata(name.clone(), 120, RData::A(A::new(95, 211, 0, 1)));
        let a: QueryResult = Ok(Lookup::new_with_max_ttl(
            Query::query(name.clone(), RecordType::A),
            [answer],
        ));
        let aaaa: QueryResult = Err(NetError::Dns(DnsError::ResponseCode(
            ResponseCode::ServFail,
        )));
        let resolution = combine(&name, [(RecordType::A, a), (RecordType::AAAA, aaaa)]);
        assert_eq!(resolution.outcome, DnsOutcome::Ok);
        assert_eq!(resolution.addresses, vec![IpAddr::from([95, 211, 0, 1])]);
        assert_eq!(resolution.ttl, Some(120));
        assert_eq!(resolution.queries[1].outcome, DnsOutcome::ServFail);
        assert_eq!(resolution.queries[0].answers, 1);
    }

    #[test]
    fn deadline_bounds_a_lookup() {
        assert_eq!(
            DnsSettings::default().deadline(),
            Duration::from_millis(4500)
        );
    }

    #[test]
    fn cname_chains_are_followed_in_order_and_loops_stop() {
        let targets: HashMap<String, String> = [
            ("a.example", "b.example"),
            ("b.example", "c.example"),
            ("x.example", "y.example"),
            ("y.example", "x.example"),
        ]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), to.to_owned()))
        .collect();
        assert_eq!(
            follow_chain("a.example", &targets),
            vec!["b.example", "c.example"]
        );
        assert_eq!(follow_chain("x.example", &targets), vec!["y.example"]);
        assert!(follow_chain("z.example", &targets).is_empty());
    }
}
