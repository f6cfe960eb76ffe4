//! The hickory transports: hickory's name server pool over UDP (TCP on truncation), or over TCP
//! only.
//!
//! Owns building hickory's `NameServerPool` (behind its `RetryDnsHandle`) for the configured
//! servers with hostloc's options (0x20 on, EDNS, no hosts file, no cache), and translating what
//! it returns into the [`Answered`] / [`NoResponse`] every transport gives `chain.rs`. hickory
//! chooses among the servers by smoothed RTT, fails over, merges identical questions in flight,
//! retries over TCP on a case mismatch or truncation, and opens a new UDP socket on a random
//! port for every query. It does not say which of several servers answered.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::config::{NameServerConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer, RetryDnsHandle};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{DnsRequestOptions, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};
use tokio::time::Instant;

use super::chain::{Answered, Ask, NoResponse};
use super::{DnsFailure, DnsSettings, ResolverSetupError};

/// Queries one pooled TCP connection may carry at once for `hickory-tcp` (hickory's default is
/// 32, too few for a batch's concurrency).
const TCP_MAX_ACTIVE_REQUESTS: usize = 1024;

/// The UDP payload size advertised with EDNS0, as the pooled transport does.
const EDNS_PAYLOAD: u16 = 1232;

/// hickory's pool behind its retry handle.
#[derive(Clone)]
pub(super) struct HickoryPool {
    handle: RetryDnsHandle<NameServerPool<TokioRuntimeProvider>>,
    /// The server, when there is only one: then it is the one that answered.
    only_server: Option<SocketAddr>,
}

impl HickoryPool {
    /// A pool over `servers`, over UDP (TCP on truncation) or, with `tcp_only`, TCP alone.
    pub(super) fn new(
        servers: &[SocketAddr],
        settings: &DnsSettings,
        tcp_only: bool,
    ) -> Result<HickoryPool, ResolverSetupError> {
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut config = if tcp_only {
                    NameServerConfig::tcp(server.ip())
                } else {
                    NameServerConfig::udp_and_tcp(server.ip())
                };
                for connection in &mut config.connections {
                    connection.port = server.port();
                }
                config
            })
            .collect::<Vec<_>>();
        let mut options = ResolverOpts::default();
        options.timeout = settings.timeout;
        // hickory counts retries after the first try.
        options.attempts = settings.attempts.max(1) - 1;
        options.case_randomization = true;
        options.edns_payload_len = EDNS_PAYLOAD;
        options.cache_size = 0;
        if tcp_only {
            options.max_active_requests = TCP_MAX_ACTIVE_REQUESTS;
        }
        let attempts = options.attempts;
        let tls = TlsConfig::new().map_err(|error| ResolverSetupError::Build(error.to_string()))?;
        let context = Arc::new(PoolContext::new(options, tls));
        let pool =
            NameServerPool::from_config(name_servers, context, TokioRuntimeProvider::default());
        Ok(HickoryPool {
            handle: RetryDnsHandle::new(pool, attempts),
            only_server: match servers {
                [server] => Some(*server),
                _ => None,
            },
        })
    }
}

impl Ask for HickoryPool {
    async fn ask(
        &self,
        name: &Name,
        record_type: RecordType,
        deadline: Instant,
    ) -> Result<Answered, NoResponse> {
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = true;
        options.use_edns = true;
        options.edns_payload_len = EDNS_PAYLOAD;
        // The retry handle passes requests to the pool as they are, so the pool's own setting
        // does not reach them: 0x20 must be asked for here.
        options.case_randomization = true;
        let query = Query::query(name.clone(), record_type);
        let sent = self.handle.lookup(query, options).first_answer();
        let answered = |response_code, answers, negative_ttl| Answered {
            response_code,
            answers,
            negative_ttl,
            server: self.only_server,
            protocol: None,
        };
        match tokio::time::timeout_at(deadline, sent).await {
            Err(_elapsed) => Err(NoResponse::Timeout),
            Ok(Ok(response)) => Ok(answered(
                response.metadata.response_code,
                response.answers.clone(),
                response.negative_ttl(),
            )),
            // hickory turns answers without records, and failure codes, into errors.
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(no_records)))) => Ok(answered(
                no_records.response_code,
                Vec::new(),
                no_records.negative_ttl,
            )),
            Ok(Err(NetError::Dns(DnsError::ResponseCode(code)))) => {
                Ok(answered(code, Vec::new(), None))
            }
            Ok(Err(NetError::Timeout)) => Err(NoResponse::Timeout),
            Ok(Err(NetError::Io(error)))
                if error.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                Err(NoResponse::Failed(DnsFailure::ConnectionRefused))
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "hickory DNS query failed");
                Err(NoResponse::Failed(DnsFailure::Transport))
            }
        }
    }
}
