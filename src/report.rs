//! Report: the one result object every front end serialises.
//!
//! Owns the wire format. `hostloc lookup --json`, `GET /v1/lookup`, `POST /v1/lookup` and the
//! JSONL output of `hostloc batch` all emit [`Report`] exactly as serde writes it here; the CSV
//! of `hostloc batch` (and of `POST /v1/lookup?format=csv`, which is batch's CSV for a one-column
//! `url` file) flattens it with [`Report::csv_columns`]. The contract is `docs/spec.md`
//! ("Result object"); fields beyond it are additions, never renames.
//!
//! # Wire format
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `input` | string | the report text exactly as received |
//! | `url` | string or null | the URL after refanging and WHATWG normalisation; null when invalid |
//! | `host` | string or null | lower case, punycode, no trailing dot, IPv6 without brackets |
//! | `host_kind` | `"domain"`, `"ipv4"`, `"ipv6"` or null | |
//! | `registrable_domain` | string or null | by the Public Suffix List; null for IP literals |
//! | `verdict` | string | one of the eight verdicts of docs/spec.md |
//! | `referral` | bool | true for `domestic` and `partly_domestic` |
//! | `jurisdiction` | string | ISO 3166-1 alpha-2 the verdict was decided for |
//! | `reason` | string | one sentence an analyst can act on |
//! | `countries` | \[string\] | sorted, unique countries of public addresses with data |
//! | `cdn_providers` | \[string\] | sorted, unique CDN / reverse-proxy providers seen |
//! | `addresses` | \[address\] | every address DNS gave (or the IP literal), in DNS order |
//! | `dns` | object or null | what DNS said (below); null for IP literals and invalid input |
//! | `looked_up_at` | string | RFC 3339 UTC time of the lookup |
//! | `databases` | \[database\] | every database used, country sources first (the primary first), then the ASN database |
//! | `hostloc_version` | string | the program that answered: `0.1.0 (git 1a2b3c4)` from a checkout (`-modified` after the commit when it had changes), `0.1.0` without git |
//! | `warnings` | \[string\] | things the analyst should know that do not change the verdict |
//! | `forward_to` | \[forwarding\] or null | where the report goes abroad: every country abroad that a country source names for a public, non-CDN address; null unless the verdict is `foreign` or `partly_domestic` |
//! | `iccam` | object or null | the hosting fields ICCAM takes; null when there is no public address |
//!
//! An address: `ip`, `ttl` (the TTL of its A/AAAA record as the name server gave it, seconds;
//! null for an IP literal), `public`, `special_purpose` (the IANA block of a non-public
//! address), `located_as` (the IPv4 address looked up for an IPv4-mapped or NAT64 address),
//! `country` (the primary country source's answer, or when it has none the first other
//! source's), `registered_country`, `asn`, `as_org`, `network`, `as_network`, `cdn`, `cdn_match`
//! (`asn`, `prefix`, `cname` or `anycast`; for `anycast`, an address in `data/anycast.csv` or
//! flagged by its database, `cdn` names the operator and service, e.g. `RIPE NCC (K root
//! server)`), `country_sources` (an object: each country source's name → its country or null,
//! in source order, the primary first; `{}` for a non-public address, which no source is asked
//! about). Unknown values are null, never empty strings.
//!
//! `dns`: `cname_chain` (the names from the host to the addresses, in order), `outcome`
//! (`ok`, `nxdomain`, `nodata`, `servfail`, `refused`, `timeout`, `error`), `error` (why an
//! `error`: `queue_full` — hostloc's own queue was full and the question was never sent,
//! `cname_loop`, `chain_too_long`, `connection_refused`, `response_code`, `transport`; else
//! null), `ttl` (the smallest TTL of the answer, or the negative TTL), `queries` (A and AAAA
//! each: `type`, `outcome`, `error`, `answers`, `rcode` as dig names it, `server` that gave the
//! last response, `protocol` `udp`/`tcp`), `servers` (every server that answered, `addr:port`;
//! null when the transport does not say, as hickory with several servers), `transport`
//! (`pooled`, `hickory` or `hickory-tcp`), `resolved_at` (when DNS answered), `from_cache` and
//! `cache_age` (seconds since DNS answered; 0 when asked now).
//!
//! A database: `role` (`country` or `asn`), `type` (the file's `database_type`), `built`
//! (RFC 3339, or null), `file` (the file name, without its directory), `source` (its name,
//! the key of its answers in `country_sources`: the file name without `.mmdb`, `-2`, `-3`, …
//! added when two files share a name), `primary` (true for the country source that fills
//! `country`), `sha256`. `docs/evidence.md` has the rule for sources that disagree and the
//! plain-text evidence record ([`crate::evidence`]).
//!
//! A forwarding (an item of `forward_to`): `country` (ISO 3166-1 alpha-2), `hotlines` (the
//! country's INHOPE member hotlines from the hotline table, each `{name, website, iccam_id}`,
//! any of them null when unknown; empty when the country has none) and `note` (null, or for a
//! country without a member hotline: `no INHOPE member hotline in XX; report to the hosting
//! provider and XX's police through the usual channels`). There is one forwarding per country
//! named for a public, non-CDN address other than the jurisdiction, sorted by country; for a
//! `partly_domestic` result whose other addresses have no country data the list is empty.
//! `behind_cdn` forwards nothing: whom to ask for the origin is `cdn_providers`, and the reason
//! says so. `src/hotlines.rs` and `data/HOTLINES.md` describe the table.
//!
//! The `iccam` block: `hostingCountryCode`, `hostingIpAddress`, `hostingIsp` and
//! `hostingOrganization` (`autonomousSystemNumber`, `organizationName`,
//! `isContentDeliveryNetwork`), named as ICCAM names them, filled from one address of
//! `addresses` chosen by `src/iccam.rs`; `docs/iccam.md` maps each field and says which address
//! is chosen for each verdict.
//!
//! # CSV columns (`hostloc batch`)
//!
//! [`Report::CSV_HEADERS`] in this order, after the input's own columns: `verdict`, `referral`
//! (`true`/`false`), `host`, `registrable_domain`, `countries`, `ips`, `asns`, `as_orgs`, `cdn`
//! (the `cdn_providers`), `dns_outcome`, `reason`, `looked_up_at`, `warnings`. A list is joined
//! with `|`; `ips`, `asns` and `as_orgs` hold one item per address, in the same order, an
//! unknown item being empty. An unknown single value (`host` of an invalid input,
//! `dns_outcome` of an IP literal) is an empty cell: CSV has no null. When the input already has
//! a column of one of these names, batch prefixes the result column with `hostloc_`. In JSONL,
//! batch puts the whole Report under the key `hostloc`. `hostloc batch --format iccam`
//! writes the ICCAM view of `src/iccam.rs` instead, and `--compare` adds `moved` and `changes`;
//! `docs/batch.md` has the full schema.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::geoip::{CountrySources, DatabaseInfo, DatabaseInfos};
use crate::hotlines::Forwarding;
use crate::networks::CdnMatch;
use crate::resolve::{DnsFailure, DnsOutcome, QueryOutcome};
use crate::verdict::Verdict;

/// The answer for one reported URL.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// The report text exactly as received.
    pub input: String,
    /// The normalised URL; null when invalid.
    pub url: Option<String>,
    /// The host that was located; null when invalid.
    pub host: Option<String>,
    /// `domain`, `ipv4` or `ipv6`; null when invalid.
    pub host_kind: Option<String>,
    /// The registrable domain by the Public Suffix List; null for IP literals.
    pub registrable_domain: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the report goes to the police of the jurisdiction.
    pub referral: bool,
    /// The jurisdiction the verdict was decided for.
    pub jurisdiction: String,
    /// One sentence an analyst can act on.
    pub reason: String,
    /// Countries of public addresses with data, sorted and unique.
    pub countries: Vec<String>,
    /// CDN / reverse-proxy providers among the addresses, sorted and unique.
    pub cdn_providers: Vec<String>,
    /// Every address, in DNS order.
    pub addresses: Vec<AddressReport>,
    /// What DNS said; null for IP literals and invalid input.
    pub dns: Option<DnsReport>,
    /// When the lookup was made, RFC 3339 UTC.
    pub looked_up_at: String,
    /// The databases the answer came from (shared by every result of one data set).
    #[schema(value_type = Vec<DatabaseInfo>)]
    pub databases: DatabaseInfos,
    /// The program that answered: version, and the git commit when built from a checkout.
    pub hostloc_version: &'static str,
    /// Things worth knowing that do not change the verdict.
    #[schema(value_type = Vec<String>)]
    pub warnings: Warnings,
    /// Where the report goes abroad: one entry per hosting country other than the
    /// jurisdiction; null unless the verdict is `foreign` or `partly_domestic`.
    pub forward_to: Option<Vec<Forwarding>>,
    /// The hosting fields ICCAM takes, from one public address; null when there is none.
    pub iccam: Option<IccamHosting>,
}

/// The hosting fields of an ICCAM report, named as ICCAM names them. Filled from one address
/// of the result (`src/iccam.rs` chooses it); unknown values are null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IccamHosting {
    /// The address's located country, ISO 3166-1 alpha-2.
    pub hosting_country_code: Option<String>,
    /// The address.
    pub hosting_ip_address: String,
    /// The organisation of the address's autonomous system.
    pub hosting_isp: Option<String>,
    /// The network the address belongs to.
    pub hosting_organization: IccamOrganization,
}

/// `hostingOrganization` of an ICCAM report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IccamOrganization {
    /// The autonomous system number.
    pub autonomous_system_number: Option<u32>,
    /// The autonomous system's organisation.
    pub organization_name: Option<String>,
    /// Whether the address belongs to a CDN / reverse proxy (by the networks list, a CNAME,
    /// or anycast).
    pub is_content_delivery_network: bool,
}

/// One address and what the databases say about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AddressReport {
    /// The address as DNS gave it (or the IP literal).
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// The TTL of the address's record as the name server gave it, seconds; null for an IP
    /// literal.
    pub ttl: Option<u32>,
    /// Whether the address is globally reachable.
    pub public: bool,
    /// For a non-public address, the IANA special-purpose block it is in.
    pub special_purpose: Option<String>,
    /// For an IPv4-mapped or NAT64 IPv6 address, the IPv4 address that was located.
    pub located_as: Option<String>,
    /// Where the address is located, ISO 3166-1 alpha-2: the primary country source's answer,
    /// or when it has none, the first other source's that has one.
    pub country: Option<String>,
    /// Where the block is registered, ISO 3166-1 alpha-2.
    pub registered_country: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub as_org: Option<String>,
    /// The country database's matching network.
    pub network: Option<String>,
    /// The ASN database's matching network.
    pub as_network: Option<String>,
    /// The CDN / reverse-proxy provider, or null.
    pub cdn: Option<String>,
    /// How the provider was recognised.
    pub cdn_match: Option<CdnMatch>,
    /// Each country source's answer (source name → country or null), the primary first;
    /// empty for a non-public address, which no source is asked about.
    #[schema(value_type = std::collections::BTreeMap<String, Option<String>>)]
    pub country_sources: CountrySources,
}

impl AddressReport {
    /// An address about which nothing is known yet: every fact `None`.
    pub fn unknown(ip: IpAddr) -> AddressReport {
        AddressReport {
            ip,
            ttl: None,
            public: false,
            special_purpose: None,
            located_as: None,
            country: None,
            registered_country: None,
            asn: None,
            as_org: None,
            network: None,
            as_network: None,
            cdn: None,
            cdn_match: None,
            country_sources: CountrySources::default(),
        }
    }
}

/// What DNS said about a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DnsReport {
    /// The CNAME chain from the host to the name holding the addresses.
    pub cname_chain: Vec<String>,
    /// `ok`, `nxdomain`, `nodata`, `servfail`, `refused`, `timeout` or `error`.
    pub outcome: DnsOutcome,
    /// Why, when the outcome is `error`.
    pub error: Option<DnsFailure>,
    /// The smallest TTL of the answer, seconds; for a negative answer its negative TTL.
    pub ttl: Option<u32>,
    /// The A and AAAA queries separately.
    pub queries: Vec<QueryOutcome>,
    /// The servers that answered, `addr:port`; null when the transport does not say.
    pub servers: Option<Vec<String>>,
    /// The DNS transport: `pooled`, `hickory` or `hickory-tcp`.
    pub transport: String,
    /// When DNS gave this answer, RFC 3339 UTC (earlier than `looked_up_at` when cached).
    pub resolved_at: String,
    /// Whether the answer came from hostloc's cache.
    pub from_cache: bool,
    /// Seconds since DNS gave this answer: 0 when asked now.
    pub cache_age: u64,
}

impl Report {
    /// The column names [`Report::csv_columns`] fills, in order.
    pub const CSV_HEADERS: [&'static str; 13] = [
        "verdict",
        "referral",
        "host",
        "registrable_domain",
        "countries",
        "ips",
        "asns",
        "as_orgs",
        "cdn",
        "dns_outcome",
        "reason",
        "looked_up_at",
        "warnings",
    ];

    /// The result as CSV cells. Lists are joined with `|` (which appears in none of the values
    /// except, in principle, an AS organisation or a warning), keeping one value per address in
    /// `ips`, `asns` and `as_orgs` so they line up; an unknown value in such a list is empty.
    pub fn csv_columns(&self) -> [String; 13] {
        let per_address = |value: &dyn Fn(&AddressReport) -> Option<String>| {
            self.addresses
                .iter()
                .map(|a| value(a).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("|")
        };
        [
            self.verdict.as_str().to_owned(),
            self.referral.to_string(),
            self.host.clone().unwrap_or_default(),
            self.registrable_domain.clone().unwrap_or_default(),
            self.countries.join("|"),
            per_address(&|a| Some(a.ip.to_string())),
            per_address(&|a| a.asn.map(|n| n.to_string())),
            per_address(&|a| a.as_org.clone()),
            self.cdn_providers.join("|"),
            self.dns
                .as_ref()
                .map(|dns| dns.outcome.as_str().to_owned())
                .unwrap_or_default(),
            self.reason.clone(),
            self.looked_up_at.clone(),
            self.warnings.join("|"),
        ]
    }
}

/// The `warnings` of a result: first those every result of the data set carries (stale data,
/// [`SharedWarnings`], one `Arc` for all results), then the result's own, in the order they
/// were added. Reads and serialises as one list of strings, exactly as a `Vec<String>` would.
#[derive(Clone, Default)]
pub struct Warnings {
    shared: Option<Arc<SharedWarnings>>,
    own: Vec<String>,
}

/// Warnings every result of one data set carries (in one minute's wording), and each one's JSON
/// string, escaped once: the JSON of a result splices these bytes instead of escaping the same
/// sentences (about 0.5 kB) again for every result.
pub struct SharedWarnings {
    texts: Vec<String>,
    /// Each of `texts` as a JSON string; empty should serialising fail (it does not), in which
    /// case `texts` are serialised per result.
    json: Vec<Box<serde_json::value::RawValue>>,
}

impl SharedWarnings {
    /// `texts`, serialised once.
    pub fn new(texts: Vec<String>) -> SharedWarnings {
        let json = texts
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_default();
        SharedWarnings { texts, json }
    }

    /// The warnings.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }
}

impl std::fmt::Debug for SharedWarnings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.texts).finish()
    }
}

impl Warnings {
    /// The warnings of a data set (none: `None`), to which a result adds its own.
    pub fn starting_with(shared: Option<Arc<SharedWarnings>>) -> Warnings {
        Warnings {
            shared: shared.filter(|shared| !shared.texts.is_empty()),
            own: Vec::new(),
        }
    }

    /// Adds a warning after the others.
    pub fn push(&mut self, warning: String) {
        self.own.push(warning);
    }

    /// The warnings, in order.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.shared_texts().iter().chain(&self.own)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.shared_texts().len() + self.own.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only the warnings `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&String) -> bool) {
        if let Some(shared) = self.shared.take() {
            let own = std::mem::take(&mut self.own);
            self.own = shared.texts.iter().cloned().chain(own).collect();
        }
        self.own.retain(|warning| keep(warning));
    }

    /// The warnings joined by `separator`.
    pub fn join(&self, separator: &str) -> String {
        let mut joined = String::new();
        for (index, warning) in self.iter().enumerate() {
            if index > 0 {
                joined.push_str(separator);
            }
            joined.push_str(warning);
        }
        joined
    }

    fn shared_texts(&self) -> &[String] {
        self.shared.as_deref().map_or(&[], SharedWarnings::texts)
    }
}

impl Extend<String> for Warnings {
    fn extend<I: IntoIterator<Item = String>>(&mut self, warnings: I) {
        self.own.extend(warnings);
    }
}

impl From<Vec<String>> for Warnings {
    fn from(own: Vec<String>) -> Warnings {
        Warnings { shared: None, own }
    }
}

impl<'a> IntoIterator for &'a Warnings {
    type Item = &'a String;
    type IntoIter = std::iter::Chain<std::slice::Iter<'a, String>, std::slice::Iter<'a, String>>;

    fn into_iter(self) -> Self::IntoIter {
        self.shared_texts().iter().chain(self.own.iter())
    }
}

impl std::fmt::Debug for Warnings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Warnings {
    fn eq(&self, other: &Warnings) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Warnings {}

impl Serialize for Warnings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut list = serializer.serialize_seq(Some(self.len()))?;
        match self.shared.as_deref() {
            Some(shared) if shared.json.len() == shared.texts.len() => {
                for json in &shared.json {
                    list.serialize_element(json)?;
                }
            }
            Some(shared) => {
                for text in &shared.texts {
                    list.serialize_element(text)?;
                }
            }
            None => {}
        }
        for warning in &self.own {
            list.serialize_element(warning)?;
        }
        list.end()
    }
}

/// [`rfc3339`] of the current time, from the second's text `utc.rs` formats once a second per
/// thread: the text has whole seconds, so it is the same for every lookup of that second.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now();
    now.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| crate::utc::with_second_text(since, |text| format!("{text}Z")))
        .unwrap_or_else(|| rfc3339(now))
}

/// RFC 3339 UTC with seconds, e.g. `2026-11-29T10:00:00Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let time = time::OffsetDateTime::from(time);
    let time = time.replace_nanosecond(0).unwrap_or(time);
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// The shared warnings and database evidence are spliced as JSON written once; the bytes
    /// must be exactly those of the plain lists (the golden test covers the databases with the
    /// bundled data, this also the warnings and strings that need escaping).
    #[test]
    fn spliced_json_is_the_plain_json() {
        let shared = vec![
            "the country database \"x\".mmdb was built 183 days ago\n\u{1}, ü".to_owned(),
            "second".to_owned(),
        ];
        let mut warnings =
            Warnings::starting_with(Some(Arc::new(SharedWarnings::new(shared.clone()))));
        warnings.push("own </script>".to_owned());
        let mut plain = shared.clone();
        plain.push("own </script>".to_owned());
        assert_eq!(
            serde_json::to_string(&warnings).unwrap(),
            serde_json::to_string(&plain).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&warnings).unwrap(),
            serde_json::to_value(&plain).unwrap()
        );
        assert_eq!(
            warnings.iter().collect::<Vec<_>>(),
            plain.iter().collect::<Vec<_>>()
        );
        assert_eq!(warnings.join("|"), plain.join("|"));
        warnings.retain(|warning| warning != "second");
        assert_eq!(
            serde_json::to_string(&warnings).unwrap(),
            serde_json::to_string(&[&plain[0], &plain[2]]).unwrap()
        );
        let empty = Warnings::starting_with(Some(Arc::new(SharedWarnings::new(Vec::new()))));
        assert_eq!(serde_json::to_string(&empty).unwrap(), "[]");

        let infos = vec![
            DatabaseInfo {
                role: crate::geoip::DatabaseRole::Country,
                database_type: "country \"ipvAll\"".to_owned(),
                built: Some("2026-06-01T20:32:58Z".to_owned()),
                file: "dbip-country\\ü.mmdb".to_owned(),
                source: "dbip-country".to_owned(),
                primary: true,
                sha256: "4e7f".to_owned(),
            },
            DatabaseInfo {
                role: crate::geoip::DatabaseRole::Asn,
                database_type: "asn".to_owned(),
                built: None,
                file: "asn.mmdb".to_owned(),
                source: "asn".to_owned(),
                primary: false,
                sha256: "aa7c".to_owned(),
            },
        ];
        let spliced = DatabaseInfos::new(infos.clone());
        assert_eq!(
            serde_json::to_string(&spliced).unwrap(),
            serde_json::to_string(&infos).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&spliced).unwrap(),
            serde_json::to_value(&infos).unwrap()
        );
        assert_eq!(&*spliced, infos.as_slice());
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        let time = UNIX_EPOCH + Duration::from_millis(1_780_272_000_123);
        assert_eq!(rfc3339(time), "2026-06-01T00:00:00Z");
        let before = rfc3339(SystemTime::now());
        let now = rfc3339_now();
        let after = rfc3339(SystemTime::now());
        assert!(now == before || now == after, "{before} {now} {after}");
    }
}
