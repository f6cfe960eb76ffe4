//! Verdict: what the hotline should do with a report, and the sentence that says why.
//!
//! Owns the verdict table of `docs/spec.md`: given the addresses of a host (already located and
//! tagged public / CDN), decide `domestic`, `partly_domestic`, `foreign`, `behind_cdn`,
//! `not_public` or `unknown` for a jurisdiction; and word the `invalid` and `unresolved` cases.
//! Pure functions only: no I/O, no clock, no configuration beyond the jurisdiction passed in.
//!
//! # When country sources disagree
//!
//! The locate step gathers every country source's answer per address (`country_sources`);
//! the rule for what a disagreement means is here ([`Placement`]). Sources without data for an
//! address do not take part. If the sources that answer disagree about whether the address
//! is in the jurisdiction, the address is *disputed*: a disputed address makes the verdict
//! `partly_domestic` (a referral an analyst checks first), and the reason names each source
//! and its answer. Sources that agree the address is elsewhere but name different countries
//! keep the verdict as it is (`foreign`, say) and add a warning naming each answer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use std::net::SocketAddr;

use crate::networks::CdnMatch;
use crate::report::AddressReport;
use crate::resolve::{DnsFailure, DnsOutcome};

/// What the hotline does with the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The input has no usable host.
    Invalid,
    /// A domain with no A/AAAA answer (or a hidden service that DNS cannot locate).
    Unresolved,
    /// Every address is in a special-purpose (non-public) range.
    NotPublic,
    /// Every public address belongs to a CDN / reverse proxy: ask the provider for the origin.
    BehindCdn,
    /// Every public, non-CDN address is in the jurisdiction: refer to the police.
    Domestic,
    /// Some public, non-CDN addresses are in the jurisdiction: refer, and forward the rest.
    PartlyDomestic,
    /// None in the jurisdiction and at least one located elsewhere: forward.
    Foreign,
    /// Public, non-CDN addresses exist but none has country data.
    Unknown,
}

impl Verdict {
    /// Every verdict, in table order.
    pub const ALL: [Verdict; 8] = [
        Verdict::Invalid,
        Verdict::Unresolved,
        Verdict::NotPublic,
        Verdict::BehindCdn,
        Verdict::Domestic,
        Verdict::PartlyDomestic,
        Verdict::Foreign,
        Verdict::Unknown,
    ];

    /// The name used in JSON, CSV and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Invalid => "invalid",
            Verdict::Unresolved => "unresolved",
            Verdict::NotPublic => "not_public",
            Verdict::BehindCdn => "behind_cdn",
            Verdict::Domestic => "domestic",
            Verdict::PartlyDomestic => "partly_domestic",
            Verdict::Foreign => "foreign",
            Verdict::Unknown => "unknown",
        }
    }

    /// Whether this verdict means a referral to the police of the jurisdiction.
    pub fn is_referral(self) -> bool {
        matches!(self, Verdict::Domestic | Verdict::PartlyDomestic)
    }

    /// Whether a report with this verdict is forwarded to the hotlines of other countries.
    pub fn forwards(self) -> bool {
        matches!(self, Verdict::Foreign | Verdict::PartlyDomestic)
    }

    /// What the analyst does next, in a few words (for human output).
    pub fn action(self) -> &'static str {
        match self {
            Verdict::Invalid => "fix or discard the report",
            Verdict::Unresolved => "cannot be located now; retry later or investigate",
            Verdict::NotPublic => "not reachable on the internet",
            Verdict::BehindCdn => "ask the provider for the origin",
            Verdict::Domestic => "refer to police and notify the hoster",
            Verdict::PartlyDomestic => "refer to police; forward the rest",
            Verdict::Foreign => "forward to the hosting country's hotline",
            Verdict::Unknown => "no country data; investigate",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The jurisdiction whose police the hotline refers to: ISO 3166-1 alpha-2, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jurisdiction(String);

impl Jurisdiction {
    /// The code, e.g. `NL`.
    pub fn code(&self) -> &str {
        &self.0
    }
}

impl Default for Jurisdiction {
    fn default() -> Self {
        Jurisdiction("NL".to_owned())
    }
}

impl FromStr for Jurisdiction {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let code = text.trim().to_ascii_uppercase();
        if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Jurisdiction(code))
        } else {
            Err(format!(
                "{text:?} is not an ISO 3166-1 alpha-2 country code (e.g. NL, DE, GB)"
            ))
        }
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A verdict with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// One sentence an analyst can act on.
    pub reason: String,
    /// What the analyst should know that does not change the verdict (sources that disagree
    /// about which foreign country an address is in).
    pub warnings: Vec<String>,
}

/// Where the country sources place one address, seen from the jurisdiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Every source that answers says the jurisdiction.
    Inside,
    /// Sources answer, none says the jurisdiction.
    Outside,
    /// Some sources say the jurisdiction, others another country.
    Disputed,
    /// No source has a country for the address.
    NoData,
}

impl Placement {
    /// Where `address` is, by its sources' answers (`country_sources`), or by `country` alone
    /// when it has no per-source answers.
    pub fn of(jurisdiction: &Jurisdiction, address: &AddressReport) -> Placement {
        let here = jurisdiction.code();
        let (mut inside, mut outside) = (false, false);
        let mut answered = false;
        for country in address.country_sources.countries() {
            answered = true;
            if country == here {
                inside = true;
            } else {
                outside = true;
            }
        }
        if !answered {
            match address.country.as_deref() {
                Some(country) if country == here => inside = true,
                Some(_) => outside = true,
                None => {}
            }
        }
        match (inside, outside) {
            (true, true) => Placement::Disputed,
            (true, false) => Placement::Inside,
            (false, true) => Placement::Outside,
            (false, false) => Placement::NoData,
        }
    }
}

/// The input had no usable host; `why` is the intake error's message.
pub fn invalid(why: &str) -> Judgement {
    Judgement {
        verdict: Verdict::Invalid,
        reason: why.to_owned(),
        warnings: Vec::new(),
    }
}

/// A Tor or I2P hidden service: DNS cannot say where it is hosted.
pub fn hidden_service(host: &str, network: &str) -> Judgement {
    Judgement {
        verdict: Verdict::Unresolved,
        reason: format!(
            "{host} is a hidden service on the {network} network: its hosting location cannot \
             be found through DNS or GeoIP"
        ),
        warnings: Vec::new(),
    }
}

/// A domain for which DNS gave no address.
///
/// `servers` are the name servers that were asked (empty when they are the system's and not
/// known by address): a timeout names them, since a server that is not there at all (a closed
/// port, a wrong `--dns-server`) looks exactly like one that is slow. `failure` says why an
/// `error` outcome failed.
pub fn unresolved(
    host: &str,
    outcome: DnsOutcome,
    failure: Option<DnsFailure>,
    servers: &[SocketAddr],
) -> Judgement {
    let asked = || {
        if servers.is_empty() {
            "the system's DNS servers (/etc/resolv.conf)".to_owned()
        } else {
            join_words(&servers.iter().map(ToString::to_string).collect::<Vec<_>>())
        }
    };
    let reason = match (outcome, failure) {
        (DnsOutcome::NxDomain, _) => format!("{host} does not exist in DNS (NXDOMAIN)"),
        (DnsOutcome::NoData, _) => format!("{host} exists in DNS but has no A or AAAA record"),
        (DnsOutcome::ServFail, _) => format!(
            "the DNS lookup of {host} failed (SERVFAIL): its name servers are broken or \
             unreachable; retry later"
        ),
        (DnsOutcome::Refused, _) => {
            format!("the DNS server refused to resolve {host} (REFUSED); check --dns-server")
        }
        (DnsOutcome::Timeout, _) => format!(
            "no DNS server is answering for {host}: {} gave no answer in time (timed out); \
             check that the server runs and that --dns-server names it, or retry later if only \
             some names time out",
            asked()
        ),
        (_, Some(DnsFailure::QueueFull)) => format!(
            "hostloc's own DNS queue was full, so {host} was never asked; retry later \
             (or raise --dns-queue)"
        ),
        (_, Some(DnsFailure::CnameLoop)) => {
            format!("the DNS lookup of {host} failed: its CNAME chain loops")
        }
        (_, Some(DnsFailure::ChainTooLong)) => format!(
            "the DNS lookup of {host} failed: its CNAME chain is longer than hostloc follows"
        ),
        (_, Some(DnsFailure::ConnectionRefused)) => {
            let refused = if servers.len() == 1 {
                format!("nothing listens at {}", asked())
            } else {
                format!(
                    "{} gave no answer, and nothing listens at one of them",
                    asked()
                )
            };
            format!(
                "no DNS server is answering for {host}: {refused} (connection refused); check \
                 that the server runs and that --dns-server names it"
            )
        }
        (_, Some(DnsFailure::ResponseCode)) => format!(
            "the DNS lookup of {host} failed: the server answered with an unexpected response \
             code (see dns.queries); retry later"
        ),
        (DnsOutcome::Error | DnsOutcome::Ok, _) => {
            format!("the DNS lookup of {host} failed; retry later")
        }
    };
    Judgement {
        verdict: Verdict::Unresolved,
        reason,
        warnings: Vec::new(),
    }
}

/// The countries a report with `verdict` is forwarded to: every country named for a public,
/// non-CDN address other than the jurisdiction, sorted and unique; `None` when the verdict
/// forwards nothing (see [`Verdict::forwards`]). A CDN's country is not where the content is
/// hosted, so it is never forwarded to.
pub fn forwarding_countries(
    jurisdiction: &Jurisdiction,
    verdict: Verdict,
    addresses: &[AddressReport],
) -> Option<Vec<String>> {
    if !verdict.forwards() {
        return None;
    }
    let countries = addresses
        .iter()
        .filter(|a| a.public && a.cdn.is_none())
        .flat_map(countries_named)
        .filter(|country| *country != jurisdiction.code())
        .map(str::to_owned);
    Some(sorted_unique(countries))
}

/// The countries the data names for one address. Every country any source names counts, so
/// that when sources disagree the analyst sees each hotline that may be responsible: the
/// located `country` and every answer in `country_sources`.
fn countries_named(address: &AddressReport) -> impl Iterator<Item = &str> {
    address
        .country
        .as_deref()
        .into_iter()
        .chain(address.country_sources.countries())
}

/// A name on the way to the addresses (the host itself, or a target in its CNAME chain) that
/// ends in a CDN provider's suffix: how the provider was recognised when the addresses
/// themselves are not in its listed networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameMatch<'a> {
    /// The name that matched.
    pub name: &'a str,
    /// Whether it is a CNAME target rather than the host itself.
    pub is_cname: bool,
    /// The provider whose suffix it ends in.
    pub provider: &'a str,
}

/// Decides the verdict for a host's located addresses (at least one).
pub fn judge_addresses(jurisdiction: &Jurisdiction, addresses: &[AddressReport]) -> Judgement {
    judge_host(jurisdiction, addresses, None)
}

/// [`judge_addresses`] for a domain whose name or CNAME chain matched a CDN provider
/// (`name_match`), so that the reason says what matched and where the addresses really are.
pub fn judge_host(
    jurisdiction: &Jurisdiction,
    addresses: &[AddressReport],
    name_match: Option<NameMatch<'_>>,
) -> Judgement {
    let here = jurisdiction.code();
    let public: Vec<&AddressReport> = addresses.iter().filter(|a| a.public).collect();
    let non_public: Vec<&AddressReport> = addresses.iter().filter(|a| !a.public).collect();
    if public.is_empty() {
        let mut purposes: Vec<String> = Vec::new();
        for purpose in non_public.iter().filter_map(|a| a.special_purpose.clone()) {
            if !purposes.contains(&purpose) {
                purposes.push(purpose);
            }
        }
        return Judgement {
            verdict: Verdict::NotPublic,
            reason: format!(
                "{} not on the public internet: {}",
                describe_ips(&non_public, "is", "are"),
                purposes.join("; ")
            ),
            warnings: Vec::new(),
        };
    }
    let (cdn, origin): (Vec<&AddressReport>, Vec<&AddressReport>) =
        public.iter().partition(|a| a.cdn.is_some());
    let ignored = if non_public.is_empty() {
        String::new()
    } else {
        format!(" (non-public {} ignored)", list_ips(&non_public))
    };
    if origin.is_empty() {
        if let Some(matched) = name_match
            && cdn.iter().all(|a| a.cdn_match == Some(CdnMatch::Cname))
        {
            return behind_cdn_by_name(matched, &cdn, &ignored);
        }
        if cdn.iter().all(|a| a.cdn_match == Some(CdnMatch::Anycast)) {
            let operators = join_words(&sorted_unique(cdn.iter().filter_map(|a| a.cdn.clone())));
            return Judgement {
                verdict: Verdict::BehindCdn,
                reason: format!(
                    "{} anycast ({operators}): announced from many places at once, so no \
                     database can say where it is served from; ask {operators} where the \
                     content is served from{ignored}",
                    describe_ips(&cdn, "is", "are"),
                ),
                warnings: Vec::new(),
            };
        }
        let providers = sorted_unique(cdn.iter().filter_map(|a| a.cdn.clone()));
        let provider_text = join_words(&providers);
        return Judgement {
            verdict: Verdict::BehindCdn,
            reason: format!(
                "{} to {provider_text}, a CDN or reverse proxy that hides the real hosting \
                 location; ask {provider_text} for the origin server{ignored}",
                describe_ips(&cdn, "belongs", "belong"),
            ),
            warnings: Vec::new(),
        };
    }
    // Addresses set aside: those of a CDN, and anycast ones, said apart.
    let (anycast, proxied): (Vec<&AddressReport>, Vec<&AddressReport>) = cdn
        .iter()
        .partition(|a| a.cdn_match == Some(CdnMatch::Anycast));
    let mut cdn_note = String::new();
    if !proxied.is_empty() {
        let providers = sorted_unique(proxied.iter().filter_map(|a| a.cdn.clone()));
        cdn_note.push_str(&format!(
            "; {} of {} set aside",
            list_ips(&proxied),
            join_words(&providers)
        ));
    }
    if !anycast.is_empty() {
        let operators = sorted_unique(anycast.iter().filter_map(|a| a.cdn.clone()));
        cdn_note.push_str(&format!(
            "; {}, anycast ({}), set aside",
            list_ips(&anycast),
            join_words(&operators)
        ));
    }
    let placed = |wanted: Placement| -> Vec<&AddressReport> {
        origin
            .iter()
            .copied()
            .filter(|a| Placement::of(jurisdiction, a) == wanted)
            .collect()
    };
    let domestic = placed(Placement::Inside);
    let disputed = placed(Placement::Disputed);
    let elsewhere = placed(Placement::Outside);
    let no_data = placed(Placement::NoData);
    let elsewhere_countries = sorted_unique(elsewhere.iter().filter_map(|a| a.country.clone()));
    let (verdict, reason) = if domestic.len() == origin.len() {
        (
            Verdict::Domestic,
            format!(
                "{} located in {here}{}",
                describe_ips(&domestic, "is", "are"),
                as_orgs(&domestic)
            ),
        )
    } else if !domestic.is_empty() || !disputed.is_empty() {
        let mut parts = Vec::new();
        if !domestic.is_empty() {
            parts.push(format!(
                "{} of {} addresses {} in {here} ({})",
                domestic.len(),
                origin.len(),
                if domestic.len() == 1 { "is" } else { "are" },
                list_ips(&domestic),
            ));
        }
        match disputed.as_slice() {
            [] => {}
            [one] => parts.push(format!(
                "the country sources disagree whether the address {} is in {here}: {}; check \
                 before referring",
                one.ip,
                each_source_says(one)
            )),
            many => parts.push(format!(
                "the country sources disagree whether {} addresses are in {here}: {}; check \
                 before referring",
                many.len(),
                source_answers(many)
            )),
        }
        let mut others = Vec::new();
        if !elsewhere.is_empty() {
            others.push(format!(
                "{} in {}",
                list_ips(&elsewhere),
                join_words(&elsewhere_countries)
            ));
        }
        if !no_data.is_empty() {
            others.push(format!("{} without country data", list_ips(&no_data)));
        }
        if !others.is_empty() {
            parts.push(format!("the others are not: {}", others.join(", ")));
        }
        (Verdict::PartlyDomestic, parts.join("; "))
    } else if !elsewhere.is_empty() {
        let missing = if no_data.is_empty() {
            String::new()
        } else {
            format!("; {} without country data", list_ips(&no_data))
        };
        (
            Verdict::Foreign,
            format!(
                "{} located in {}, not {here}; forward to the hotline of {}{missing}",
                describe_ips(&elsewhere, "is", "are"),
                join_words(&elsewhere_countries),
                join_words(&elsewhere_countries),
            ),
        )
    } else {
        let asked = no_data
            .iter()
            .map(|a| a.country_sources.iter().count())
            .max()
            .unwrap_or(0);
        (
            Verdict::Unknown,
            format!(
                "{} for {}; the hosting country must be established another way",
                if asked > 1 {
                    "none of the country databases has a location"
                } else {
                    "the country database has no location"
                },
                list_ips(&no_data)
            ),
        )
    };
    Judgement {
        verdict,
        reason: format!("{reason}{cdn_note}{ignored}"),
        warnings: foreign_disagreements(&elsewhere),
    }
}

/// `behind_cdn` because a name matched, not the addresses: says which name, and where the
/// addresses are (they may be the provider's edge in someone else's network, or the origin).
fn behind_cdn_by_name(matched: NameMatch<'_>, cdn: &[&AddressReport], ignored: &str) -> Judgement {
    const SHOWN: usize = 5;
    let NameMatch {
        name,
        is_cname,
        provider,
    } = matched;
    let what = if is_cname {
        "the CNAME target"
    } else {
        "the host"
    };
    let mut places: Vec<String> = cdn
        .iter()
        .take(SHOWN)
        .map(|a| format!("{} {}", a.ip, network_of(a)))
        .collect();
    if cdn.len() > SHOWN {
        places.push(format!("{} more", cdn.len() - SHOWN));
    }
    let addresses = if cdn.len() == 1 {
        format!("its address {}", places[0])
    } else {
        format!("its addresses: {}", places.join("; "))
    };
    Judgement {
        verdict: Verdict::BehindCdn,
        reason: format!(
            "{what} {name} is a name of {provider}, a CDN or reverse proxy that hides the real \
             hosting location; {addresses}; ask {provider} for the origin server{ignored}"
        ),
        warnings: Vec::new(),
    }
}

/// "is in AS60781 LeaseWeb Netherlands B.V. (95.211.0.0/16, NL)", as much as is known.
fn network_of(address: &AddressReport) -> String {
    let owner = match (address.asn, &address.as_org) {
        (Some(asn), Some(org)) => Some(format!("AS{asn} {org}")),
        (Some(asn), None) => Some(format!("AS{asn}")),
        (None, Some(org)) => Some(org.clone()),
        (None, None) => None,
    };
    let details: Vec<&str> = [address.network.as_deref(), address.country.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    match (owner, details.is_empty()) {
        (Some(owner), true) => format!("is in {owner}"),
        (Some(owner), false) => format!("is in {owner} ({})", details.join(", ")),
        (None, false) => format!("is in {}", details.join(", ")),
        (None, true) => "has no network data".to_owned(),
    }
}

/// "85.151.65.231 (dbip-country says NL, geo-whois-asn-country says DE)" for each address, at
/// most five.
fn source_answers(addresses: &[&AddressReport]) -> String {
    const SHOWN: usize = 5;
    let mut text = addresses
        .iter()
        .take(SHOWN)
        .map(|a| format!("{} ({})", a.ip, each_source_says(a)))
        .collect::<Vec<_>>()
        .join(", ");
    if addresses.len() > SHOWN {
        text.push_str(&format!(" and {} more", addresses.len() - SHOWN));
    }
    text
}

/// "dbip-country says NL, geo-whois-asn-country has no data".
fn each_source_says(address: &AddressReport) -> String {
    address
        .country_sources
        .iter()
        .map(|answer| match &answer.country {
            Some(country) => format!("{} says {country}", answer.source),
            None => format!("{} has no data", answer.source),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A warning for each address placed outside the jurisdiction by sources that name different
/// countries: the verdict stands, the analyst should know where else it may be.
fn foreign_disagreements(elsewhere: &[&AddressReport]) -> Vec<String> {
    elsewhere
        .iter()
        .filter(|a| {
            let mut countries = a.country_sources.countries();
            let first = countries.next();
            countries.any(|country| Some(country) != first)
        })
        .map(|a| {
            format!(
                "the country sources disagree where {} is ({}); its country is taken from {}",
                a.ip,
                each_source_says(a),
                a.country_sources
                    .iter()
                    .find(|answer| answer.country.is_some())
                    .map_or("the primary source", |answer| &*answer.source)
            )
        })
        .collect()
}

/// "the address 1.2.3.4 is" / "both addresses (a, b) are" / "all 3 addresses (a, b, c) are".
fn describe_ips(addresses: &[&AddressReport], singular: &str, plural: &str) -> String {
    match addresses.len() {
        1 => format!("the address {} {singular}", addresses[0].ip),
        2 => format!("both addresses ({}) {plural}", list_ips(addresses)),
        n => format!("all {n} addresses ({}) {plural}", list_ips(addresses)),
    }
}

/// At most five addresses, then a count, so a reason stays one readable sentence.
fn list_ips(addresses: &[&AddressReport]) -> String {
    const SHOWN: usize = 5;
    let mut text = addresses
        .iter()
        .take(SHOWN)
        .map(|a| a.ip.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if addresses.len() > SHOWN {
        text.push_str(&format!(" and {} more", addresses.len() - SHOWN));
    }
    text
}

/// ", at AS60781 LeaseWeb Netherlands B.V." when the addresses share one AS.
fn as_orgs(addresses: &[&AddressReport]) -> String {
    let networks = sorted_unique(addresses.iter().filter_map(|a| {
        a.asn.map(|asn| match &a.as_org {
            Some(org) => format!("AS{asn} {org}"),
            None => format!("AS{asn}"),
        })
    }));
    match networks.as_slice() {
        [] => String::new(),
        [one] => format!(", at {one}"),
        many => format!(", at {}", many.join(" and ")),
    }
}

/// `items` sorted, each once (as a `BTreeSet` gives them, without allocating its nodes): the
/// lists a reason names, and a result's `countries` and `cdn_providers` (pipeline.rs).
pub(crate) fn sorted_unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut items: Vec<String> = items.collect();
    items.sort_unstable();
    items.dedup();
    items
}

fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(ip: &str, country: Option<&str>, cdn: Option<&str>) -> AddressReport {
        let ip_addr: std::net::IpAddr = ip.parse().unwrap();
        let purpose = crate::special_purpose::non_public_purpose(ip_addr);
        AddressReport {
            ip: ip_addr,
            public: purpose.is_none(),
            special_purpose: purpose.map(str::to_owned),
            country: country.map(str::to_owned),
            cdn: cdn.map(str::to_owned),
            cdn_match: cdn.map(|_| crate::networks::CdnMatch::Asn),
            ..AddressReport::unknown(ip_addr)
        }
    }

    /// One table row: addresses as (ip, country, cdn), the verdict, and a fragment the reason
    /// must contain.
    fn check(addresses: &[(&str, Option<&str>, Option<&str>)], verdict: Verdict, fragment: &str) {
        let addresses: Vec<AddressReport> = addresses
            .iter()
            .map(|&(ip, country, cdn)| address(ip, country, cdn))
            .collect();
        let judgement = judge_addresses(&Jurisdiction::default(), &addresses);
        assert_eq!(judgement.verdict, verdict, "{addresses:?}");
        assert!(
            judgement.reason.contains(fragment),
            "reason {:?} lacks {fragment:?}",
            judgement.reason
        );
    }

    #[test]
    fn verdict_table() {
        let nl = Some("NL");
        let us = Some("US");
        let cf = Some("Cloudflare");
        check(
            &[("95.211.0.1", nl, None)],
            Verdict::Domestic,
            "the address 95.211.0.1 is located in NL",
        );
        check(
            &[("95.211.0.1", nl, None), ("2a00::1", nl, None)],
            Verdict::Domestic,
            "both addresses (95.211.0.1, 2a00::1) are located in NL",
        );
        check(
            &[("95.211.0.1", nl, None), ("8.8.8.8", us, None)],
            Verdict::PartlyDomestic,
            "1 of 2 addresses is in NL (95.211.0.1); the others are not: 8.8.8.8 in US",
        );
        check(
            &[("95.211.0.1", nl, None), ("8.8.8.8", None, None)],
            Verdict::PartlyDomestic,
            "8.8.8.8 without country data",
        );
        check(
            &[("8.8.8.8", us, None)],
            Verdict::Foreign,
            "forward to the hotline of US",
        );
        check(
            &[("8.8.8.8", us, None), ("1.2.3.4", Some("DE"), None)],
            Verdict::Foreign,
            "located in DE and US",
        );
        check(
            &[("8.8.8.8", us, None), ("1.2.3.4", None, None)],
            Verdict::Foreign,
            "1.2.3.4 without country data",
        );
        check(&[("8.8.8.8", None, None)], Verdict::Unknown, "no location");
        check(
            &[("104.16.0.1", us, cf), ("104.16.0.2", us, cf)],
            Verdict::BehindCdn,
            "ask Cloudflare for the origin server",
        );
        check(
            &[("104.16.0.1", us, cf), ("95.211.0.1", nl, None)],
            Verdict::Domestic,
            "104.16.0.1 of Cloudflare set aside",
        );
        check(
            &[("10.0.0.1", None, None), ("::1", None, None)],
            Verdict::NotPublic,
            "private (10.0.0.0/8); loopback",
        );
        check(
            &[("10.0.0.1", None, None), ("95.211.0.1", nl, None)],
            Verdict::Domestic,
            "non-public 10.0.0.1 ignored",
        );
        check(
            &[("10.0.0.1", nl, None), ("8.8.8.8", us, None)],
            Verdict::Foreign,
            "8.8.8.8 is located in US",
        );
    }

    /// An address with two sources' answers, as the locate step fills them: `country` is the
    /// first answer there is.
    fn sourced(ip: &str, dbip: Option<&str>, whois: Option<&str>) -> AddressReport {
        use crate::geoip::{CountrySources, SourceAnswer};
        let answer = |source: &str, country: Option<&str>| SourceAnswer {
            source: source.into(),
            country: country.map(str::to_owned),
        };
        AddressReport {
            country_sources: CountrySources(vec![
                answer("dbip-country", dbip),
                answer("geo-whois-asn-country", whois),
            ]),
            ..address(ip, dbip.or(whois), None)
        }
    }

    /// Each row: addresses as (ip, first source, second source); verdict, the exact reason,
    /// the exact warnings.
    #[test]
    fn sources_that_disagree() {
        type Row<'a> = (
            &'a [(&'a str, Option<&'a str>, Option<&'a str>)],
            Verdict,
            &'a str,
            &'a [&'a str],
        );
        let (nl, de, fr) = (Some("NL"), Some("DE"), Some("FR"));
        let rows: &[Row] = &[
            (
                &[("85.151.65.231", nl, de)],
                Verdict::PartlyDomestic,
                "the country sources disagree whether the address 85.151.65.231 is in NL: \
                 dbip-country says NL, geo-whois-asn-country says DE; check before referring",
                &[],
            ),
            (
                &[("2.21.135.217", fr, nl)],
                Verdict::PartlyDomestic,
                "the country sources disagree whether the address 2.21.135.217 is in NL: \
                 dbip-country says FR, geo-whois-asn-country says NL; check before referring",
                &[],
            ),
            (
                &[
                    ("95.211.0.1", nl, nl),
                    ("85.151.65.231", nl, de),
                    ("8.8.8.8", Some("US"), None),
                ],
                Verdict::PartlyDomestic,
                "1 of 3 addresses is in NL (95.211.0.1); the country sources disagree whether \
                 the address 85.151.65.231 is in NL: dbip-country says NL, \
                 geo-whois-asn-country says DE; check before referring; the others are not: \
                 8.8.8.8 in US",
                &[],
            ),
            (
                &[("85.151.65.231", nl, de), ("2.21.135.217", fr, nl)],
                Verdict::PartlyDomestic,
                "the country sources disagree whether 2 addresses are in NL: 85.151.65.231 \
                 (dbip-country says NL, geo-whois-asn-country says DE), 2.21.135.217 \
                 (dbip-country says FR, geo-whois-asn-country says NL); check before referring",
                &[],
            ),
            (
                &[("46.4.0.1", de, fr)],
                Verdict::Foreign,
                "the address 46.4.0.1 is located in DE, not NL; forward to the hotline of DE",
                &[
                    "the country sources disagree where 46.4.0.1 is (dbip-country says DE, \
                   geo-whois-asn-country says FR); its country is taken from dbip-country",
                ],
            ),
            (
                &[("46.4.0.1", None, fr)],
                Verdict::Foreign,
                "the address 46.4.0.1 is located in FR, not NL; forward to the hotline of FR",
                &[],
            ),
            (
                &[("95.211.0.1", nl, nl)],
                Verdict::Domestic,
                "the address 95.211.0.1 is located in NL",
                &[],
            ),
            (
                &[("95.211.0.1", nl, None)],
                Verdict::Domestic,
                "the address 95.211.0.1 is located in NL",
                &[],
            ),
            (
                &[("95.211.0.1", None, nl)],
                Verdict::Domestic,
                "the address 95.211.0.1 is located in NL",
                &[],
            ),
            (
                &[("95.211.0.1", None, None)],
                Verdict::Unknown,
                "none of the country databases has a location for 95.211.0.1; the hosting \
                 country must be established another way",
                &[],
            ),
        ];
        for &(addresses, verdict, reason, warnings) in rows {
            let addresses: Vec<AddressReport> = addresses
                .iter()
                .map(|&(ip, dbip, whois)| sourced(ip, dbip, whois))
                .collect();
            let judgement = judge_addresses(&Jurisdiction::default(), &addresses);
            assert_eq!(judgement.verdict, verdict, "{addresses:?}");
            assert_eq!(judgement.reason, reason);
            assert_eq!(judgement.warnings, warnings);
        }
    }

    #[test]
    fn every_source_s_country_abroad_is_forwarded_to() {
        let nl = Jurisdiction::default();
        for (addresses, expected) in [
            (
                vec![sourced("85.151.65.231", Some("NL"), Some("DE"))],
                vec!["DE"],
            ),
            (
                vec![sourced("2.21.135.217", Some("FR"), Some("NL"))],
                vec!["FR"],
            ),
            (
                vec![sourced("46.4.0.1", Some("DE"), Some("FR"))],
                vec!["DE", "FR"],
            ),
            (vec![sourced("46.4.0.1", None, Some("FR"))], vec!["FR"]),
        ] {
            let verdict = judge_addresses(&nl, &addresses).verdict;
            assert_eq!(
                forwarding_countries(&nl, verdict, &addresses),
                Some(expected.iter().map(|c| (*c).to_owned()).collect()),
                "{addresses:?}"
            );
        }
    }

    #[test]
    fn a_disputed_cdn_address_is_set_aside_like_any_other() {
        let mut cdn = sourced("2.21.135.217", Some("FR"), Some("NL"));
        cdn.cdn = Some("Akamai".to_owned());
        let judgement = judge_addresses(&Jurisdiction::default(), &[cdn]);
        assert_eq!(judgement.verdict, Verdict::BehindCdn);
        assert!(judgement.warnings.is_empty());
    }

    #[test]
    fn forwarding_countries_are_the_hosting_countries_abroad() {
        let check = |addresses: &[(&str, Option<&str>, Option<&str>)],
                     expected: Option<&[&str]>| {
            let addresses: Vec<AddressReport> = addresses
                .iter()
                .map(|&(ip, country, cdn)| address(ip, country, cdn))
                .collect();
            let nl = Jurisdiction::default();
            let verdict = judge_addresses(&nl, &addresses).verdict;
            let expected = expected.map(|countries| {
                countries
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                forwarding_countries(&nl, verdict, &addresses),
                expected,
                "{addresses:?}"
            );
        };
        let cf = Some("Cloudflare");
        // foreign: every country abroad, sorted, once
        check(
            &[
                ("8.8.8.8", Some("US"), None),
                ("1.2.3.4", Some("DE"), None),
                ("8.8.4.4", Some("US"), None),
            ],
            Some(&["DE", "US"]),
        );
        // partly domestic: the others; an address without data adds nothing
        check(
            &[
                ("95.211.0.1", Some("NL"), None),
                ("8.8.8.8", Some("US"), None),
                ("1.2.3.4", None, None),
            ],
            Some(&["US"]),
        );
        check(
            &[("95.211.0.1", Some("NL"), None), ("1.2.3.4", None, None)],
            Some(&[]),
        );
        // a CDN's country and a non-public address's are never forwarded to
        check(
            &[
                ("104.16.0.1", Some("CA"), cf),
                ("8.8.8.8", Some("US"), None),
            ],
            Some(&["US"]),
        );
        check(
            &[
                ("10.0.0.1", Some("DE"), None),
                ("8.8.8.8", Some("US"), None),
            ],
            Some(&["US"]),
        );
        // verdicts that forward nothing
        check(&[("95.211.0.1", Some("NL"), None)], None);
        check(&[("104.16.0.1", Some("CA"), cf)], None);
        check(&[("8.8.8.8", None, None)], None);
        check(&[("10.0.0.1", None, None)], None);
    }

    #[test]
    fn referral_only_for_domestic_verdicts() {
        for verdict in Verdict::ALL {
            assert_eq!(
                verdict.is_referral(),
                matches!(verdict, Verdict::Domestic | Verdict::PartlyDomestic)
            );
        }
    }

    #[test]
    fn jurisdiction_parsing() {
        assert_eq!("nl".parse::<Jurisdiction>().unwrap().code(), "NL");
        assert_eq!(" de ".parse::<Jurisdiction>().unwrap().code(), "DE");
        assert!("NLD".parse::<Jurisdiction>().is_err());
        assert!("N1".parse::<Jurisdiction>().is_err());
        assert!("".parse::<Jurisdiction>().is_err());
    }

    #[test]
    fn another_jurisdiction_turns_foreign_into_domestic() {
        let addresses = vec![address("8.8.8.8", Some("US"), None)];
        let us: Jurisdiction = "US".parse().unwrap();
        assert_eq!(judge_addresses(&us, &addresses).verdict, Verdict::Domestic);
    }

    #[test]
    fn unresolved_reasons_say_why_a_lookup_failed() {
        for (failure, fragment) in [
            (DnsFailure::QueueFull, "never asked"),
            (DnsFailure::CnameLoop, "CNAME chain loops"),
            (DnsFailure::ChainTooLong, "longer than hostloc follows"),
            (DnsFailure::ConnectionRefused, "connection refused"),
            (DnsFailure::ResponseCode, "unexpected response code"),
            (DnsFailure::Transport, "failed"),
        ] {
            let judgement = unresolved("x.example", DnsOutcome::Error, Some(failure), &[]);
            assert!(judgement.reason.contains(fragment), "{}", judgement.reason);
        }
    }

    #[test]
    fn unresolved_reasons_name_the_outcome() {
        for (outcome, fragment) in [
            (DnsOutcome::NxDomain, "NXDOMAIN"),
            (DnsOutcome::NoData, "no A or AAAA"),
            (DnsOutcome::ServFail, "SERVFAIL"),
            (DnsOutcome::Refused, "REFUSED"),
            (DnsOutcome::Timeout, "timed out"),
            (DnsOutcome::Error, "failed"),
        ] {
            let judgement = unresolved("x.example", outcome, None, &[]);
            assert_eq!(judgement.verdict, Verdict::Unresolved);
            assert!(judgement.reason.contains(fragment), "{}", judgement.reason);
        }
    }

    #[test]
    fn a_cdn_found_by_cname_says_what_matched_and_where_the_address_is() {
        let leaseweb = AddressReport {
            public: true,
            country: Some("NL".into()),
            asn: Some(60781),
            as_org: Some("LeaseWeb Netherlands B.V.".into()),
            network: Some("95.211.0.0/16".into()),
            cdn: Some("Cloudflare".into()),
            cdn_match: Some(CdnMatch::Cname),
            ..AddressReport::unknown("95.211.0.1".parse().unwrap())
        };
        let matched = NameMatch {
            name: "site.cdn.cloudflare.net",
            is_cname: true,
            provider: "Cloudflare",
        };
        let judgement = judge_host(
            &Jurisdiction::default(),
            std::slice::from_ref(&leaseweb),
            Some(matched),
        );
        assert_eq!(judgement.verdict, Verdict::BehindCdn);
        assert_eq!(
            judgement.reason,
            "the CNAME target site.cdn.cloudflare.net is a name of Cloudflare, a CDN or reverse \
             proxy that hides the real hosting location; its address 95.211.0.1 is in AS60781 \
             LeaseWeb Netherlands B.V. (95.211.0.0/16, NL); ask Cloudflare for the origin server"
        );
        let bare = AddressReport {
            public: true,
            cdn: Some("Cloudflare".into()),
            cdn_match: Some(CdnMatch::Cname),
            ..AddressReport::unknown("198.51.100.7".parse().unwrap())
        };
        let host = NameMatch {
            is_cname: false,
            name: "x.cdn.cloudflare.net",
            ..matched
        };
        let reason = judge_host(&Jurisdiction::default(), &[leaseweb, bare], Some(host)).reason;
        assert!(
            reason.starts_with("the host x.cdn.cloudflare.net is a name of Cloudflare")
                && reason.contains("its addresses: 95.211.0.1 is in AS60781")
                && reason.contains("; 198.51.100.7 has no network data;"),
            "{reason}"
        );
    }

    #[test]
    fn a_closed_port_says_no_server_is_answering_and_names_it() {
        let one = ["127.0.0.1:9".parse().unwrap()];
        let refused = Some(DnsFailure::ConnectionRefused);
        assert_eq!(
            unresolved("x.example", DnsOutcome::Error, refused, &one).reason,
            "no DNS server is answering for x.example: nothing listens at 127.0.0.1:9 \
             (connection refused); check that the server runs and that --dns-server names it"
        );
        let two = ["127.0.0.1:9".parse().unwrap(), "[::1]:53".parse().unwrap()];
        let reason = unresolved("x.example", DnsOutcome::Error, refused, &two).reason;
        assert!(
            reason
                .contains(": 127.0.0.1:9 and [::1]:53 gave no answer, and nothing listens at one"),
            "{reason}"
        );
    }

    #[test]
    fn a_timeout_says_no_server_is_answering_and_names_the_servers() {
        let one = ["127.0.0.1:9".parse().unwrap()];
        assert_eq!(
            unresolved("x.example", DnsOutcome::Timeout, None, &one).reason,
            "no DNS server is answering for x.example: 127.0.0.1:9 gave no answer in time \
             (timed out); check that the server runs and that --dns-server names it, or retry \
             later if only some names time out"
        );
        let two = ["127.0.0.1:9".parse().unwrap(), "[::1]:53".parse().unwrap()];
        let reason = unresolved("x.example", DnsOutcome::Timeout, None, &two).reason;
        assert!(
            reason.contains(": 127.0.0.1:9 and [::1]:53 gave no answer"),
            "{reason}"
        );
        let reason = unresolved("x.example", DnsOutcome::Timeout, None, &[]).reason;
        assert!(
            reason.contains("the system's DNS servers (/etc/resolv.conf)"),
            "{reason}"
        );
    }
}
