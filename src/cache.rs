//! Cache: DNS resolutions per host, kept as long as DNS says they hold.
//!
//! Owns the cache between the pipeline and the resolver. An entry lives for the answer's
//! TTL clamped to `[min_ttl, max_ttl]`; a definitive negative answer (NXDOMAIN, no data) for its
//! negative TTL clamped to `[0, negative_max_ttl]`; a failure (SERVFAIL, REFUSED, timeout,
//! error) only for `failure_ttl`, so a retry soon asks again; and a resolution that says
//! nothing about the name (a question hostloc never sent because its queue was full, a CNAME
//! loop or an over-long chain) not at all. Concurrent lookups of the same host share one
//! resolution (quick_cache's placeholder: one lookup asks, the others wait for its answer, and
//! they take it even when it may not be kept). The capacity bounds the number of hosts held
//! (S3-FIFO eviction); an entry past its lifetime is asked again when next looked up, and until
//! then only takes its place. GeoIP lookups are not cached: they cost a fraction of a
//! microsecond (see `bench/`).
//!
//! Why quick_cache rather than moka: a full cache of 100,000 hosts cost moka about 400 bytes
//! per entry of its own (nodes of its access and timer queues, entry metadata, a key `Arc`),
//! quick_cache about 100; and moka's insert path was 5–10 % of the CPU of a batch of distinct
//! names (`bench/batch_names.sh`).

use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::Cache;

use crate::resolve::{DnsOutcome, DnsResolver, Resolution};

/// Host → resolution; without quick_cache's `ahash` feature its hasher is std's SipHash, keyed
/// at random (hosts come from reporters).
type Hosts = Cache<String, Arc<Resolution>>;

/// Bounds of the DNS cache.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Maximum number of hosts held; 0 disables the cache.
    pub capacity: u64,
    /// Shortest time a positive answer is kept, whatever its TTL.
    pub min_ttl: Duration,
    /// Longest time a positive answer is kept, whatever its TTL.
    pub max_ttl: Duration,
    /// Longest time an NXDOMAIN / no-data answer is kept.
    pub negative_max_ttl: Duration,
    /// How long a failed lookup (SERVFAIL, REFUSED, timeout) is kept.
    pub failure_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            min_ttl: Duration::ZERO,
            max_ttl: Duration::from_secs(3600),
            negative_max_ttl: Duration::from_secs(60),
            failure_ttl: Duration::from_secs(5),
        }
    }
}

impl CacheSettings {
    /// How long `resolution` may be served from the cache: not at all when it says nothing
    /// about the name (a question that was never sent, a broken chain).
    pub fn lifetime(&self, resolution: &Resolution) -> Duration {
        if !resolution.is_cacheable() {
            return Duration::ZERO;
        }
        let ttl = Duration::from_secs(u64::from(resolution.ttl.unwrap_or(0)));
        match resolution.outcome {
            DnsOutcome::Ok => ttl.clamp(self.min_ttl, self.max_ttl.max(self.min_ttl)),
            DnsOutcome::NxDomain | DnsOutcome::NoData => ttl.min(self.negative_max_ttl),
            DnsOutcome::ServFail
            | DnsOutcome::Refused
            | DnsOutcome::Timeout
            | DnsOutcome::Error => self.failure_ttl,
        }
    }
}

/// A resolution and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct CachedResolution {
    /// The resolution.
    pub resolution: Arc<Resolution>,
    /// True when it was answered from the cache rather than asked now.
    pub from_cache: bool,
}

impl CachedResolution {
    /// How long ago DNS gave the answer, in whole seconds: 0 unless it came from the cache.
    pub fn age(&self) -> u64 {
        if self.from_cache {
            self.resolution.received_at.elapsed().as_secs()
        } else {
            0
        }
    }
}

/// The resolver behind a TTL-honouring cache.
#[derive(Clone)]
pub struct DnsCache {
    resolver: DnsResolver,
    cache: Option<Arc<Hosts>>,
    settings: CacheSettings,
}

impl DnsCache {
    /// Puts `resolver` behind a cache bounded by `settings`.
    pub fn new(resolver: DnsResolver, settings: CacheSettings) -> DnsCache {
        let cache = (settings.capacity > 0).then(|| {
            let capacity = usize::try_from(settings.capacity).unwrap_or(usize::MAX);
            Arc::new(Cache::new(capacity))
        });
        DnsCache {
            resolver,
            cache,
            settings,
        }
    }

    /// The resolution of `host`, from the cache while it holds, else asked now. Concurrent
    /// calls for the same host share one DNS lookup.
    pub async fn resolve(&self, host: &str) -> CachedResolution {
        let Some(cache) = &self.cache else {
            return CachedResolution {
                resolution: Arc::new(self.resolver.resolve(host).await),
                from_cache: false,
            };
        };
        let asked_at = std::time::Instant::now();
        loop {
            match cache.get_value_or_guard_async(host).await {
                Ok(resolution) => {
                    // Answered while this lookup waited for it (shared, even when it is not to
                    // be kept), or held and still within its lifetime.
                    let fresh = resolution.received_at >= asked_at
                        || resolution.received_at.elapsed() < self.settings.lifetime(&resolution);
                    if fresh {
                        return CachedResolution {
                            resolution,
                            from_cache: true,
                        };
                    }
                    // Expired: take it out (unless another lookup replaced it meanwhile) and
                    // ask again, as the one lookup that asks for this host.
                    cache.remove_if(host, |held| Arc::ptr_eq(held, &resolution));
                }
                Err(guard) => {
                    let resolution = Arc::new(self.resolver.resolve(host).await);
                    // Inserted even when it is not to be kept: those waiting get it through
                    // the placeholder, and the next lookup finds it expired.
                    let _ = guard.insert(Arc::clone(&resolution));
                    return CachedResolution {
                        resolution,
                        from_cache: false,
                    };
                }
            }
        }
    }

    /// The resolver behind the cache.
    pub fn resolver(&self) -> &DnsResolver {
        &self.resolver
    }

    /// Number of hosts currently held (expired ones until they are asked again or evicted).
    pub fn entry_count(&self) -> u64 {
        self.cache.as_ref().map_or(0, |cache| cache.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use crate::resolve::{DnsFailure, DnsTransport, QueryType, ResolvedQuery};

    fn resolution(outcome: DnsOutcome, ttl: Option<u32>) -> Resolution {
        Resolution {
            addresses: smallvec::SmallVec::new(),
            cname_chain: Vec::new(),
            outcome,
            error: None,
            ttl,
            queries: [QueryType::A, QueryType::Aaaa].map(|record_type| ResolvedQuery {
                record_type,
                outcome,
                error: None,
                protocol: None,
                rcode: None,
                answers: 0,
                server: None,
            }),
            servers: Some(Arc::from([])),
            transport: DnsTransport::Pooled,
            received_at: Instant::now(),
            resolved_at: std::time::SystemTime::now(),
        }
    }

    #[test]
    fn lifetimes_follow_ttl_within_bounds() {
        let settings = CacheSettings {
            capacity: 10,
            min_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(600),
            negative_max_ttl: Duration::from_secs(30),
            failure_ttl: Duration::from_secs(2),
        };
        let secs = |s| Duration::from_secs(s);
        for (outcome, ttl, expected) in [
            (DnsOutcome::Ok, Some(300), secs(300)),
            (DnsOutcome::Ok, Some(1), secs(10)),
            (DnsOutcome::Ok, Some(86_400), secs(600)),
            (DnsOutcome::Ok, None, secs(10)),
            (DnsOutcome::NxDomain, Some(3600), secs(30)),
            (DnsOutcome::NoData, Some(5), secs(5)),
            (DnsOutcome::NxDomain, None, secs(0)),
            (DnsOutcome::ServFail, None, secs(2)),
            (DnsOutcome::Timeout, None, secs(2)),
            (DnsOutcome::Error, None, secs(2)),
        ] {
            assert_eq!(
                settings.lifetime(&resolution(outcome, ttl)),
                expected,
                "{outcome:?} {ttl:?}"
            );
        }
        for failure in [
            DnsFailure::QueueFull,
            DnsFailure::CnameLoop,
            DnsFailure::ChainTooLong,
        ] {
            let broken = Resolution {
                error: Some(failure),
                ..resolution(DnsOutcome::Error, None)
            };
            assert_eq!(settings.lifetime(&broken), Duration::ZERO, "{failure:?}");
        }
    }
}
