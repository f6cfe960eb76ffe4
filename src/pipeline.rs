//! Pipeline: the one lookup every front end calls.
//!
//! Owns the order of a lookup (intake → cache/resolve → locate → CDN tagging → judge → route
//! and ICCAM view → Report) and the reloadable data set (GeoIP databases, the networks file and
//! the hotline table) behind an `ArcSwap`, so that a reload swaps all of it at once while
//! lookups in flight finish on the set they started with. Front ends (cli.rs, http/, batch.rs) only format what [`Pipeline::lookup`] returns.
//!
//! A lookup never fails: every input yields exactly one [`Report`], and problems become the
//! verdict `invalid` or `unresolved` with a reason, or a warning.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::anycast::AnycastNetworks;
use crate::cache::DnsCache;
use crate::data_age::{self, DatabaseAge};
use crate::data_csv::DataFileError;
use crate::geoip::{self, GeoDb, GeoDbError};
use crate::hotlines::HotlineTable;
use crate::iccam;
use crate::intake::{self, Host};
use crate::networks::{CdnMatch, CdnNetworks};
use crate::report::{
    AddressReport, DnsReport, Report, SharedWarnings, Warnings, rfc3339, rfc3339_now,
};
use crate::resolve::Resolution;
use crate::special_purpose::non_public_purpose;
use crate::verdict::{self, Judgement, Jurisdiction};

/// Where the data set is read from; kept so that a reload reads the same files again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    /// The primary country database: it fills each address's `country`.
    pub country_db: PathBuf,
    /// More country databases, asked about every address for a second opinion (their answers
    /// are in `country_sources`); empty with `--single-source`.
    pub second_opinion_dbs: Vec<PathBuf>,
    /// The ASN database (may be the same file).
    pub asn_db: PathBuf,
    /// The CDN / reverse-proxy networks file.
    pub networks: PathBuf,
    /// The INHOPE member hotlines by country.
    pub hotlines: PathBuf,
    /// The known anycast networks.
    pub anycast: PathBuf,
}

impl DataPaths {
    /// Every country database, the primary first.
    pub fn country_dbs(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.country_db).chain(&self.second_opinion_dbs)
    }

    /// Every file of the set, in the order country databases, ASN database, networks file,
    /// hotline table, anycast list.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.country_dbs()
            .chain([&self.asn_db, &self.networks, &self.hotlines, &self.anycast])
    }
}

/// Why the data set could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A GeoIP database.
    #[error(transparent)]
    Geo(#[from] GeoDbError),
    /// The networks file, the hotlines file or the anycast list.
    #[error(transparent)]
    Table(#[from] DataFileError),
}

impl DataError {
    /// A stable short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DataError::Geo(error) => error.kind(),
            DataError::Table(error) => error.table(),
        }
    }
}

/// The databases, the networks file, the hotline table and the anycast list, loaded together
/// and swapped together.
#[derive(Debug)]
pub struct DataSet {
    /// Country and ASN databases.
    pub geo: GeoDb,
    /// CDN / reverse-proxy providers.
    pub networks: CdnNetworks,
    /// INHOPE member hotlines by country.
    pub hotlines: HotlineTable,
    /// Known anycast networks.
    pub anycast: AnycastNetworks,
    /// When this set was loaded.
    pub loaded_at: SystemTime,
}

impl DataSet {
    /// Reads every file of `paths`.
    ///
    /// # Errors
    ///
    /// [`DataError`] naming the file that could not be used.
    pub fn load(paths: &DataPaths) -> Result<DataSet, DataError> {
        let mut geo = GeoDb::open(&paths.country_db, &paths.asn_db)?;
        for path in &paths.second_opinion_dbs {
            geo.add_country_source(path)?;
        }
        Ok(DataSet {
            geo,
            networks: CdnNetworks::load(&paths.networks)?,
            hotlines: HotlineTable::load(&paths.hotlines)?,
            anycast: AnycastNetworks::load(&paths.anycast)?,
            loaded_at: SystemTime::now(),
        })
    }

    /// Age of the oldest database by its build time.
    pub fn age(&self) -> Option<Duration> {
        self.geo
            .oldest_build()
            .and_then(|built| SystemTime::now().duration_since(built).ok())
    }
}

/// Settings of the pipeline that are not data.
#[derive(Debug, Clone, Default)]
pub struct PipelineSettings {
    /// The jurisdiction verdicts are decided for.
    pub jurisdiction: Jurisdiction,
    /// Data older than this adds a warning to every result (`--max-data-age`; none: no
    /// limit).
    pub max_data_age: Option<Duration>,
    /// Whether logs may contain reported URLs and hosts.
    pub log_urls: bool,
}

/// The lookup pipeline. Cheap to clone; clones share the data set and the cache.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    data: ArcSwap<DataSet>,
    paths: Option<DataPaths>,
    dns: DnsCache,
    settings: PipelineSettings,
    data_warnings: ArcSwap<DataWarnings>,
}

/// The data-age warnings of one data set, as worded in one minute.
#[derive(Debug, Default)]
struct DataWarnings {
    loaded_at: Option<SystemTime>,
    minute: u64,
    warnings: Option<Arc<SharedWarnings>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("paths", &self.inner.paths)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline over an already loaded data set. `paths` (when known) are re-read by
    /// [`Pipeline::reload`].
    pub fn new(
        data: DataSet,
        paths: Option<DataPaths>,
        dns: DnsCache,
        settings: PipelineSettings,
    ) -> Pipeline {
        Pipeline {
            inner: Arc::new(Inner {
                data: ArcSwap::from_pointee(data),
                paths,
                dns,
                settings,
                data_warnings: ArcSwap::default(),
            }),
        }
    }

    /// The data set lookups are using now.
    pub fn data(&self) -> Arc<DataSet> {
        self.inner.data.load_full()
    }

    /// The pipeline's settings.
    pub fn settings(&self) -> &PipelineSettings {
        &self.inner.settings
    }

    /// The DNS cache (for metrics).
    pub fn dns_cache(&self) -> &DnsCache {
        &self.inner.dns
    }

    /// The files [`Pipeline::reload`] re-reads (for watching them); `None` when the data did
    /// not come from files.
    pub fn data_paths(&self) -> Option<&DataPaths> {
        self.inner.paths.as_ref()
    }

    /// Re-reads the data files and swaps them in at once. On failure the current set stays.
    ///
    /// # Errors
    ///
    /// [`DataError`] naming the file that could not be used; nothing is changed then.
    pub fn reload(&self) -> Result<Arc<DataSet>, DataError> {
        let Some(paths) = &self.inner.paths else {
            return Ok(self.data());
        };
        let fresh = Arc::new(DataSet::load(paths)?);
        self.inner.data.store(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// The `invalid` result for an input that a front end could not even read as a report
    /// (a batch row without its URL cell, a line that is not JSON): `input` is what was
    /// received, `reason` names the problem.
    pub fn unusable(&self, input: &str, reason: &str) -> Report {
        let data = self.data();
        let settings = &self.inner.settings;
        finish(
            self.empty_report(input, &data),
            verdict::invalid(reason),
            &data,
            &settings.jurisdiction,
        )
    }

    /// A report with no host, verdict or addresses yet: the evidence every result carries.
    fn empty_report(&self, raw: &str, data: &DataSet) -> Report {
        Report {
            input: raw.to_owned(),
            url: None,
            host: None,
            host_kind: None,
            registrable_domain: None,
            verdict: verdict::Verdict::Invalid,
            referral: false,
            jurisdiction: self.inner.settings.jurisdiction.code().to_owned(),
            reason: String::new(),
            countries: Vec::new(),
            cdn_providers: Vec::new(),
            addresses: Vec::new(),
            dns: None,
            looked_up_at: rfc3339_now(),
            databases: data.geo.infos(),
            hostloc_version: crate::VERSION,
            warnings: self.data_warnings(data),
            forward_to: None,
            iccam: None,
        }
    }

    /// [`Pipeline::lookup`] of a report received as bytes, which every front end that reads
    /// bytes (stdin, files, arguments) uses: bytes that are not UTF-8 are replaced by U+FFFD
    /// and a warning in the result says so ([`intake::decode_report`]).
    pub async fn lookup_bytes(&self, raw: &[u8]) -> Report {
        let (text, replaced) = intake::decode_report(raw);
        let mut report = self.lookup(&text).await;
        if let Some(replaced) = replaced {
            report.warnings.push(replaced.to_string());
        }
        report
    }

    /// Answers one report: where is it hosted, and what should the hotline do.
    pub async fn lookup(&self, raw: &str) -> Report {
        let data = self.data();
        let jurisdiction = &self.inner.settings.jurisdiction;
        let mut report = self.empty_report(raw, &data);
        let target = match intake::parse_report(raw) {
            Ok(target) => target,
            Err(error) => {
                tracing::debug!(problem = error.kind(), "report has no usable host");
                return finish(
                    report,
                    verdict::invalid(&error.to_string()),
                    &data,
                    jurisdiction,
                );
            }
        };
        report.url = Some(target.url.clone());
        report.host = Some(target.host.to_display_string());
        report.host_kind = Some(target.host.kind().to_owned());
        report.registrable_domain = target.host.registrable_domain();
        if self.inner.settings.log_urls {
            tracing::info!(url = %target.url, "looking up report");
        }
        let judgement = match &target.host {
            Host::Domain(name) => {
                if let Some(network) = target.host.hidden_service_network() {
                    verdict::hidden_service(name, network)
                } else {
                    // Boxed: the cache's future is over 8 kB, and without the box every
                    // lookup's future would carry it, also the many that need no DNS.
                    let cached = Box::pin(self.inner.dns.resolve(name)).await;
                    let resolution: &Resolution = &cached.resolution;
                    report.dns = Some(DnsReport {
                        cname_chain: resolution.cname_chain.clone(),
                        outcome: resolution.outcome,
                        error: resolution.error,
                        ttl: resolution.ttl,
                        queries: resolution.query_outcomes(),
                        servers: resolution
                            .servers
                            .as_ref()
                            .map(|servers| servers.iter().map(ToString::to_string).collect()),
                        transport: resolution.transport.as_str().to_owned(),
                        resolved_at: rfc3339(resolution.resolved_at),
                        from_cache: cached.from_cache,
                        cache_age: cached.age(),
                    });
                    if cached.from_cache {
                        metrics::counter!("hostloc_dns_cache_total", "result" => "hit")
                            .increment(1);
                    } else {
                        metrics::counter!("hostloc_dns_cache_total", "result" => "miss")
                            .increment(1);
                        metrics::counter!("hostloc_dns_outcomes_total",
                            "outcome" => resolution.outcome.as_str())
                        .increment(1);
                    }
                    note_partial_failure(&mut report, resolution);
                    if resolution.addresses.is_empty() {
                        verdict::unresolved(
                            name,
                            resolution.outcome,
                            resolution.error,
                            self.inner.dns.resolver().servers(),
                        )
                    } else {
                        let name_match = std::iter::once(name.as_str())
                            .chain(resolution.cname_chain.iter().map(String::as_str))
                            .enumerate()
                            .find_map(|(index, link)| {
                                let provider = data.networks.provider_for_name(link)?;
                                Some(verdict::NameMatch {
                                    name: link,
                                    is_cname: index > 0,
                                    provider,
                                })
                            });
                        for resolved in &resolution.addresses {
                            let (mut address, warnings) = locate_address(
                                &data,
                                resolved.ip,
                                name_match.map(|matched| matched.provider),
                            );
                            address.ttl = Some(resolved.ttl);
                            report.addresses.push(address);
                            report.warnings.extend(warnings);
                        }
                        verdict::judge_host(jurisdiction, &report.addresses, name_match)
                    }
                }
            }
            Host::Ipv4(_) | Host::Ipv6(_) => {
                let ip = target.host.ip().unwrap_or(IpAddr::from([0, 0, 0, 0]));
                let (address, warnings) = locate_address(&data, ip, None);
                report.addresses.push(address);
                report.warnings.extend(warnings);
                verdict::judge_addresses(jurisdiction, &report.addresses)
            }
        };
        finish(report, judgement, &data, jurisdiction)
    }

    /// What the databases and the networks file say about one address (`GET /v1/ip/{ip}`).
    pub fn locate_ip(&self, ip: IpAddr) -> AddressReport {
        locate_address(&self.data(), ip, None).0
    }

    /// How old each database in use is now, against `--max-data-age`.
    pub fn database_ages(&self) -> Vec<DatabaseAge> {
        data_age::database_ages(
            &self.data().geo,
            self.inner.settings.max_data_age,
            SystemTime::now(),
        )
    }

    /// Logs each database that is older than `--max-data-age` (at start and after a reload).
    pub fn log_stale_data(&self) {
        for age in self.database_ages() {
            if let Some(warning) = &age.warning {
                tracing::warn!(
                    role = %age.role,
                    file = %age.file,
                    built = age.built.as_deref().unwrap_or("unknown"),
                    "{warning}"
                );
            }
        }
    }

    /// The warnings about `data`'s age every result carries. Worded (and serialised) once a
    /// minute per data set, not per lookup, and shared by the results.
    fn data_warnings(&self, data: &DataSet) -> Warnings {
        if self.inner.settings.max_data_age.is_none() {
            return Warnings::default();
        }
        let now = SystemTime::now();
        let minute = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() / 60);
        let cached = self.inner.data_warnings.load();
        if cached.loaded_at == Some(data.loaded_at) && cached.minute == minute {
            return Warnings::starting_with(cached.warnings.clone());
        }
        let ages = data_age::database_ages(&data.geo, self.inner.settings.max_data_age, now);
        let warnings = Some(Arc::new(SharedWarnings::new(data_age::stale_warnings(
            &ages,
        ))));
        self.inner.data_warnings.store(Arc::new(DataWarnings {
            loaded_at: Some(data.loaded_at),
            minute,
            warnings: warnings.clone(),
        }));
        Warnings::starting_with(warnings)
    }
}

/// Fills the verdict fields and what derives from the addresses: the summaries, where the
/// report is forwarded (from `data`'s hotline table) and the ICCAM view.
fn finish(
    mut report: Report,
    judgement: Judgement,
    data: &DataSet,
    jurisdiction: &Jurisdiction,
) -> Report {
    report.verdict = judgement.verdict;
    report.referral = judgement.verdict.is_referral();
    report.reason = judgement.reason;
    report.warnings.extend(judgement.warnings);
    report.countries = verdict::sorted_unique(
        report
            .addresses
            .iter()
            .filter(|a| a.public)
            .filter_map(|a| a.country.clone()),
    );
    report.cdn_providers =
        verdict::sorted_unique(report.addresses.iter().filter_map(|a| a.cdn.clone()));
    report.forward_to =
        verdict::forwarding_countries(jurisdiction, report.verdict, &report.addresses).map(
            |countries| {
                data.hotlines
                    .forward_to(countries.iter().map(String::as_str))
            },
        );
    report.iccam = iccam::hosting(jurisdiction.code(), &report.addresses);
    metrics::counter!("hostloc_verdicts_total", "verdict" => report.verdict.as_str()).increment(1);
    report
}

/// When one of A/AAAA failed but the other gave addresses, the verdict stands on what was found,
/// and the analyst is told what is missing.
fn note_partial_failure(report: &mut Report, resolution: &Resolution) {
    if resolution.addresses.is_empty() {
        return;
    }
    for query in &resolution.queries {
        if !query.outcome.is_definitive() {
            report.warnings.push(format!(
                "the {} query failed ({}); addresses of that type may be missing",
                query.record_type,
                query.outcome.as_str()
            ));
        }
    }
}

/// Locates one address and tags it public / CDN; also returns the databases' warnings.
fn locate_address(
    data: &DataSet,
    ip: IpAddr,
    chain_cdn: Option<&str>,
) -> (AddressReport, Vec<String>) {
    let located = geoip::located_address(ip);
    let purpose = non_public_purpose(located);
    let mut address = AddressReport {
        ip,
        public: purpose.is_none(),
        special_purpose: purpose.map(str::to_owned),
        located_as: (located != ip).then(|| located.to_string()),
        ..AddressReport::unknown(ip)
    };
    if purpose.is_some() {
        // Special-purpose space has no hosting location; whatever a database says about it is
        // noise (some databases label private ranges with a country).
        return (address, Vec::new());
    }
    let facts = data.geo.locate(located);
    address.country = facts.country;
    address.registered_country = facts.registered_country;
    address.asn = facts.asn;
    address.as_org = facts.as_org;
    address.network = facts.network;
    address.as_network = facts.as_network;
    address.country_sources = facts.country_sources;
    let matched = data
        .networks
        .classify(located, address.asn)
        .or_else(|| chain_cdn.map(|provider| (provider.to_owned(), CdnMatch::Cname)))
        .or_else(|| {
            data.anycast
                .find(located)
                .map(|network| (network.name(), CdnMatch::Anycast))
        })
        .or_else(|| {
            facts.is_anycast.then(|| {
                let provider = match (&address.as_org, address.asn) {
                    (Some(org), _) => format!("anycast network of {org}"),
                    (None, Some(asn)) => format!("anycast network AS{asn}"),
                    (None, None) => "an anycast network".to_owned(),
                };
                (provider, CdnMatch::Anycast)
            })
        });
    if let Some((provider, how)) = matched {
        address.cdn = Some(provider);
        address.cdn_match = Some(how);
    }
    (address, facts.warnings)
}
