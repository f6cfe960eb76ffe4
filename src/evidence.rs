//! Evidence: the case-file record of one lookup, as plain text.
//!
//! Owns [`render`]: a [`Report`] written as a short, stable, line-oriented record an analyst
//! pastes into a case file — what was asked, what came back, from which data, which DNS
//! answer (from which servers, by which transport, how old), when, and by which program.
//! `hostloc lookup --evidence`, `GET /v1/lookup?format=evidence` and
//! `POST /v1/lookup?evidence=true` (whose records the analyst page shows and copies) all give
//! exactly this; none builds its own text.
//! It is a serialisation of the `Report`, nothing more: it must not look anything up, read a
//! clock or the configuration, or leave out a fact the `Report` has that the record covers.
//! `docs/evidence.md` documents every line.
//!
//! # Format
//!
//! The first line is `hostloc evidence record`. Every other line is a label, padded to 15
//! columns, then its value; lines about one address are indented by two spaces under their
//! `address N` line. Labels and their order are fixed. A value that is unknown is written
//! `unknown`; one that does not apply says why (`not asked: the host is an IP address`). Text
//! that came from outside (the report, names, organisations) has its control and
//! bidirectional-formatting characters written as `\u{…}`, so that every fact stays on its
//! own line and reads as it is stored.

use std::fmt::Write;

use crate::geoip::DatabaseInfo;
use crate::report::{AddressReport, Report};

/// Width of the label column.
const LABEL_WIDTH: usize = 15;

/// The evidence record of `report`, ending in a newline.
pub fn render(report: &Report) -> String {
    let mut record = Record::default();
    record.text.push_str("hostloc evidence record\n");
    record.line("reported", &clean(&report.input));
    record.line(
        "url",
        &or_none(report.url.as_deref(), "none: no usable host"),
    );
    record.line("host", &host_line(report));
    record.line("looked up at", &report.looked_up_at);
    record.line("program", &format!("hostloc {}", report.hostloc_version));
    record.line("jurisdiction", &report.jurisdiction);
    record.line(
        "verdict",
        &format!("{}: {}", report.verdict, report.verdict.action()),
    );
    record.line("referral", if report.referral { "yes" } else { "no" });
    record.line("reason", &clean(&report.reason));
    record.line("countries", &list_or(&report.countries, "none"));
    dns_lines(&mut record, report);
    if report.addresses.is_empty() {
        record.line("addresses", "none");
    }
    for (index, address) in report.addresses.iter().enumerate() {
        address_lines(&mut record, index + 1, address);
    }
    forward_lines(&mut record, report);
    for database in report.databases.iter() {
        record.line("database", &database_line(database));
    }
    for warning in &report.warnings {
        record.line("warning", &clean(warning));
    }
    record.text
}

/// The record being written.
#[derive(Default)]
struct Record {
    text: String,
}

impl Record {
    /// `label`, padded, then `value`; at least one space between them whatever the label.
    fn line(&mut self, label: &str, value: &str) {
        let _ = writeln!(
            self.text,
            "{label:<width$} {value}",
            width = LABEL_WIDTH - 1
        );
    }

    /// A line under an `address N` line.
    fn detail(&mut self, label: &str, value: &str) {
        let _ = writeln!(
            self.text,
            "  {label:<width$} {value}",
            width = LABEL_WIDTH - 3
        );
    }
}

fn host_line(report: &Report) -> String {
    let Some(host) = &report.host else {
        return "none: the report has no usable host".to_owned();
    };
    let kind = report.host_kind.as_deref().unwrap_or("unknown");
    match &report.registrable_domain {
        Some(domain) => format!(
            "{} ({kind}; registrable domain {})",
            clean(host),
            clean(domain)
        ),
        None => format!("{} ({kind})", clean(host)),
    }
}

fn dns_lines(record: &mut Record, report: &Report) {
    let Some(dns) = &report.dns else {
        let why = match report.host_kind.as_deref() {
            Some("ipv4" | "ipv6") => "not asked: the host is an IP address",
            Some(_) => "not asked: a hidden service has no address in DNS",
            None => "not asked: the report has no usable host",
        };
        record.line("dns", why);
        return;
    };
    let ttl = dns
        .ttl
        .map_or_else(|| "ttl unknown".to_owned(), |ttl| format!("ttl {ttl} s"));
    let cache = if dns.from_cache {
        "from hostloc's cache"
    } else {
        "asked for this lookup"
    };
    record.line(
        "dns",
        &format!(
            "{}, {ttl}, answered at {} ({cache})",
            dns.outcome.as_str(),
            dns.resolved_at
        ),
    );
    if let Some(error) = dns.error {
        record.line("dns error", error.as_str());
    }
    record.line(
        "dns servers",
        &match &dns.servers {
            Some(servers) if servers.is_empty() => "none answered".to_owned(),
            Some(servers) => servers.join(", "),
            None => "unknown: the transport does not say which of several answered".to_owned(),
        },
    );
    record.line("dns transport", &dns.transport);
    if dns.from_cache {
        record.line("dns cache age", &format!("{} s", dns.cache_age));
    }
    for query in &dns.queries {
        let mut line = format!(
            "{} {}, {} {}",
            query.record_type,
            query.outcome.as_str(),
            query.answers,
            if query.answers == 1 {
                "address"
            } else {
                "addresses"
            }
        );
        // How the answer came: its response code, from which server, over which protocol.
        if let Some(rcode) = &query.rcode {
            let _ = write!(line, " ({rcode}");
            if let Some(server) = &query.server {
                let _ = write!(line, " from {server}");
            }
            if let Some(protocol) = &query.protocol {
                let _ = write!(line, " over {protocol}");
            }
            line.push(')');
        }
        record.line("dns query", &line);
    }
    record.line(
        "cname chain",
        &if dns.cname_chain.is_empty() {
            "none".to_owned()
        } else {
            dns.cname_chain
                .iter()
                .map(|name| clean(name))
                .collect::<Vec<_>>()
                .join(" -> ")
        },
    );
}

fn address_lines(record: &mut Record, number: usize, address: &AddressReport) {
    let label = format!("address {number}");
    let Some(purpose) = &address.special_purpose else {
        record.line(&label, &format!("{} (public)", address.ip));
        ttl_line(record, address);
        if let Some(located) = &address.located_as {
            record.detail("located as", located);
        }
        record.detail("country", &country_line(address));
        record.detail(
            "registered",
            or_unknown(address.registered_country.as_deref()),
        );
        record.detail("network", or_unknown(address.network.as_deref()));
        let asn = match (address.asn, &address.as_org) {
            (Some(asn), Some(org)) => format!("AS{asn} {}", clean(org)),
            (Some(asn), None) => format!("AS{asn}"),
            (None, _) => "unknown".to_owned(),
        };
        let asn = match &address.as_network {
            Some(network) => format!("{asn} (network {network})"),
            None => asn,
        };
        record.detail("as", &asn);
        let cdn = match (&address.cdn, address.cdn_match) {
            (Some(provider), Some(how)) => {
                format!("{} (matched by {})", clean(provider), cdn_match_name(how))
            }
            (Some(provider), None) => clean(provider),
            (None, _) => "none".to_owned(),
        };
        record.detail("cdn", &cdn);
        return;
    };
    record.line(
        &label,
        &format!("{} (not public: {})", address.ip, clean(purpose)),
    );
    ttl_line(record, address);
}

/// The TTL of an address's record as its name server gave it (none for an IP literal).
fn ttl_line(record: &mut Record, address: &AddressReport) {
    if let Some(ttl) = address.ttl {
        record.detail("ttl", &format!("{ttl} s"));
    }
}

/// One `forward to` line per hosting country abroad: its hotlines, or the note saying there
/// is none; `none` when the verdict forwards nowhere.
fn forward_lines(record: &mut Record, report: &Report) {
    let entries = report.forward_to.as_deref().unwrap_or_default();
    if entries.is_empty() {
        record.line("forward to", "none");
    }
    for entry in entries {
        let mut parts: Vec<String> = entry
            .hotlines
            .iter()
            .map(|hotline| {
                let name = hotline
                    .name
                    .as_deref()
                    .map_or_else(|| "a member hotline not named here".to_owned(), clean);
                let about: Vec<String> = [
                    hotline.website.as_deref().map(clean),
                    hotline.iccam_id.map(|id| format!("ICCAM id {id}")),
                ]
                .into_iter()
                .flatten()
                .collect();
                if about.is_empty() {
                    name
                } else {
                    format!("{name} ({})", about.join(", "))
                }
            })
            .collect();
        parts.extend(entry.note.as_deref().map(clean));
        record.line(
            "forward to",
            &format!("{}: {}", clean(&entry.country), parts.join("; ")),
        );
    }
}

/// `NL (dbip-country NL, geo-whois-asn-country DE)`: the address's country, then every
/// source's answer.
fn country_line(address: &AddressReport) -> String {
    let country = or_unknown(address.country.as_deref());
    if address.country_sources.is_empty() {
        return country.to_owned();
    }
    let answers: Vec<String> = address
        .country_sources
        .iter()
        .map(|answer| {
            format!(
                "{} {}",
                clean(&answer.source),
                answer.country.as_deref().unwrap_or("no data")
            )
        })
        .collect();
    format!("{country} ({})", answers.join(", "))
}

fn cdn_match_name(how: crate::networks::CdnMatch) -> &'static str {
    use crate::networks::CdnMatch;
    match how {
        CdnMatch::Asn => "AS number",
        CdnMatch::Prefix => "network prefix",
        CdnMatch::Cname => "CNAME",
        CdnMatch::Anycast => "anycast",
    }
}

/// `country (primary) dbip-country: country ipvAll, built …, file dbip-country.mmdb, sha256 …`
fn database_line(database: &DatabaseInfo) -> String {
    let role = if database.primary {
        format!("{} (primary)", database.role)
    } else {
        database.role.to_string()
    };
    format!(
        "{role} {}: {}, built {}, file {}, sha256 {}",
        clean(&database.source),
        clean(&database.database_type),
        or_unknown(database.built.as_deref()),
        clean(&database.file),
        database.sha256
    )
}

fn or_unknown(value: Option<&str>) -> &str {
    value.unwrap_or("unknown")
}

fn or_none(value: Option<&str>, none: &str) -> String {
    value.map_or_else(|| none.to_owned(), clean)
}

fn list_or(values: &[String], empty: &str) -> String {
    if values.is_empty() {
        empty.to_owned()
    } else {
        values.join(", ")
    }
}

/// `text` with control characters and the bidirectional-formatting and invisible characters
/// that could make a line read differently from what it stores written as `\u{…}`.
fn clean(text: &str) -> String {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c,
                '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
                | '\u{feff}')
    };
    if !text.contains(hidden) {
        return text.to_owned();
    }
    let mut cleaned = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            let _ = write!(cleaned, "{}", c.escape_unicode());
        } else {
            cleaned.push(c);
        }
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_written_out() {
        for (text, expected) in [
            ("example.nl", "example.nl"),
            ("a\nb", "a\\u{a}b"),
            ("x\u{202e}gpj.exe", "x\\u{202e}gpj.exe"),
            ("tab\there", "tab\\u{9}here"),
            ("http:\\\\example.nl\\x", "http:\\\\example.nl\\x"),
            ("bücher", "bücher"),
        ] {
            assert_eq!(clean(text), expected, "{text:?}");
        }
    }
}
