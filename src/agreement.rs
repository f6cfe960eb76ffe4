//! `hostloc data agreement`: how often the country sources in use disagree.
//!
//! Owns the measurement behind the figures in `docs/evidence.md`: draw random public IPv4
//! addresses (uniform over the address space, special-purpose ranges redrawn, from a seeded
//! generator so a run can be repeated), ask every country source about each through
//! [`GeoDb::locate`](crate::geoip::GeoDb::locate) exactly as a lookup does, and count, for each source beside the primary,
//! how often the two give different countries and how often they disagree about whether an
//! address is in the jurisdiction (and how many of those are CDN addresses, which a lookup sets
//! aside). It reads databases only; it must not run during lookups or decide verdicts.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use rand::{RngExt, SeedableRng};

use crate::pipeline::DataSet;
use crate::special_purpose::non_public_purpose;
use crate::verdict::Jurisdiction;

/// What to measure.
#[derive(Debug, Clone)]
pub struct AgreementSettings {
    /// How many random public IPv4 addresses to draw.
    pub addresses: u32,
    /// Seed of the generator; the same seed, data and hostloc build draw the same addresses.
    pub seed: u64,
    /// The jurisdiction whose "in or not" is compared.
    pub jurisdiction: Jurisdiction,
    /// How many examples of an in-or-not disagreement to list per pair.
    pub examples: usize,
}

/// One source compared with the primary over the sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairCounts {
    /// The primary source's name.
    pub primary: String,
    /// The other source's name.
    pub other: String,
    /// Both give a country, the same one.
    pub same: u32,
    /// Both give a country, different ones.
    pub different: u32,
    /// Only the primary gives a country.
    pub only_primary: u32,
    /// Only the other gives a country.
    pub only_other: u32,
    /// Neither gives a country.
    pub neither: u32,
    /// At least one of the two says the jurisdiction.
    pub either_inside: u32,
    /// One says the jurisdiction, the other another country: `partly_domestic` by the rule in
    /// `verdict.rs`, unless the address belongs to a CDN.
    pub disagree_inside: u32,
    /// Of those, addresses of a CDN / reverse proxy (by the networks file or an anycast mark),
    /// which a lookup sets aside before judging.
    pub disagree_inside_cdn: u32,
    /// One says the jurisdiction, the other has no data (no disagreement by that rule).
    pub inside_and_no_data: u32,
    /// Some of the in-or-not disagreements: address, primary's answer, other's answer.
    pub examples: Vec<(IpAddr, String, String)>,
}

/// The outcome of a measurement.
#[derive(Debug, Clone)]
pub struct Agreement {
    /// What was measured.
    pub settings: AgreementSettings,
    /// The source names, the primary first.
    pub sources: Vec<String>,
    /// One entry per source beside the primary.
    pub pairs: Vec<PairCounts>,
}

/// Why the measurement cannot run.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AgreementError {
    /// Only one country source is configured.
    #[error(
        "only one country database is in use ({0}); give at least two with --country-db, or \
         drop --single-source to compare the bundled ones"
    )]
    OneSource(String),
}

/// Draws the sample and counts the agreement of each source with the primary.
///
/// # Errors
///
/// [`AgreementError::OneSource`] when `geo` has a single country source.
pub fn measure(data: &DataSet, settings: &AgreementSettings) -> Result<Agreement, AgreementError> {
    let geo = &data.geo;
    let sources: Vec<String> = geo
        .country_source_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let [primary, others @ ..] = sources.as_slice() else {
        return Err(AgreementError::OneSource(String::new()));
    };
    if others.is_empty() {
        return Err(AgreementError::OneSource(primary.clone()));
    }
    let mut pairs: Vec<PairCounts> = others
        .iter()
        .map(|other| PairCounts {
            primary: primary.clone(),
            other: other.clone(),
            ..PairCounts::default()
        })
        .collect();
    let here = settings.jurisdiction.code();
    let mut random = rand::rngs::StdRng::seed_from_u64(settings.seed);
    let mut drawn = 0;
    while drawn < settings.addresses {
        let ip = IpAddr::V4(Ipv4Addr::from(random.random::<u32>()));
        if non_public_purpose(ip).is_some() {
            continue;
        }
        drawn += 1;
        let facts = geo.locate(ip);
        let answers: Vec<Option<&str>> = facts
            .country_sources
            .iter()
            .map(|answer| answer.country.as_deref())
            .collect();
        let cdn = facts.is_anycast || data.networks.classify(ip, facts.asn).is_some();
        for (pair, other_answer) in pairs.iter_mut().zip(&answers[1..]) {
            let answers = (answers[0], *other_answer);
            count(pair, ip, answers, cdn, here, settings.examples);
        }
    }
    Ok(Agreement {
        settings: settings.clone(),
        sources,
        pairs,
    })
}

/// Counts one address's `(primary, other)` answers into `pair`.
fn count(
    pair: &mut PairCounts,
    ip: IpAddr,
    (primary, other): (Option<&str>, Option<&str>),
    cdn: bool,
    here: &str,
    examples: usize,
) {
    match (primary, other) {
        (Some(a), Some(b)) if a == b => pair.same += 1,
        (Some(_), Some(_)) => pair.different += 1,
        (Some(_), None) => pair.only_primary += 1,
        (None, Some(_)) => pair.only_other += 1,
        (None, None) => pair.neither += 1,
    }
    let inside = |answer: Option<&str>| answer == Some(here);
    if inside(primary) || inside(other) {
        pair.either_inside += 1;
        match (primary, other) {
            (Some(a), Some(b)) if a != b => {
                pair.disagree_inside += 1;
                pair.disagree_inside_cdn += u32::from(cdn);
                if pair.examples.len() < examples {
                    pair.examples.push((ip, a.to_owned(), b.to_owned()));
                }
            }
            (Some(_), None) | (None, Some(_)) => pair.inside_and_no_data += 1,
            _ => {}
        }
    }
}

/// `12.34 %` of `whole`, or `-` when there is nothing to divide by.
fn percent(part: u32, whole: u32) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.2} %", f64::from(part) * 100.0 / f64::from(whole))
    }
}

impl fmt::Display for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.settings;
        let here = settings.jurisdiction.code();
        writeln!(
            f,
            "sample        {} random public IPv4 addresses (seed {})",
            settings.addresses, settings.seed
        )?;
        writeln!(
            f,
            "sources       {} (primary), {}",
            self.sources[0],
            self.sources[1..].join(", ")
        )?;
        writeln!(f, "jurisdiction  {here}")?;
        for pair in &self.pairs {
            let both = pair.same + pair.different;
            writeln!(f)?;
            writeln!(f, "{} against {}", pair.other, pair.primary)?;
            let those = |part: u32, whole: u32| format!("{} of those", percent(part, whole));
            let rows: [(String, u32, String); 10] = [
                ("both give a country".into(), both, String::new()),
                ("  the same one".into(), pair.same, those(pair.same, both)),
                (
                    "  different ones".into(),
                    pair.different,
                    those(pair.different, both),
                ),
                (
                    format!("only {} gives one", pair.primary),
                    pair.only_primary,
                    String::new(),
                ),
                (
                    format!("only {} gives one", pair.other),
                    pair.only_other,
                    String::new(),
                ),
                ("neither gives one".into(), pair.neither, String::new()),
                (
                    format!("either says {here}"),
                    pair.either_inside,
                    String::new(),
                ),
                (
                    format!("  {here} against another country"),
                    pair.disagree_inside,
                    those(pair.disagree_inside, pair.either_inside) + "; partly_domestic",
                ),
                (
                    "    of which CDN addresses (set aside)".into(),
                    pair.disagree_inside_cdn,
                    String::new(),
                ),
                (
                    format!("  {here} against no data"),
                    pair.inside_and_no_data,
                    those(pair.inside_and_no_data, pair.either_inside),
                ),
            ];
            for (label, value, note) in rows {
                if note.is_empty() {
                    writeln!(f, "  {label:<44}{value:>9}")?;
                } else {
                    writeln!(f, "  {label:<44}{value:>9}  ({note})")?;
                }
            }
            if !pair.examples.is_empty() {
                let examples: Vec<String> = pair
                    .examples
                    .iter()
                    .map(|(ip, a, b)| format!("{ip} {a}/{b}"))
                    .collect();
                writeln!(
                    f,
                    "  examples ({}/{}): {}",
                    pair.primary,
                    pair.other,
                    examples.join(", ")
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_disagreement_rule() {
        let mut pair = PairCounts::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for (answers, cdn) in [
            ((Some("NL"), Some("NL")), false),
            ((Some("NL"), Some("DE")), false),
            ((Some("FR"), Some("NL")), true),
            ((Some("DE"), Some("FR")), false),
            ((Some("NL"), None), false),
            ((None, Some("US")), false),
            ((None, None), false),
        ] {
            count(&mut pair, ip, answers, cdn, "NL", 1);
        }
        assert_eq!(
            (
                pair.same,
                pair.different,
                pair.only_primary,
                pair.only_other,
                pair.neither
            ),
            (1, 3, 1, 1, 1)
        );
        assert_eq!(
            (
                pair.either_inside,
                pair.disagree_inside,
                pair.disagree_inside_cdn,
                pair.inside_and_no_data
            ),
            (4, 2, 1, 1)
        );
        assert_eq!(pair.examples, [(ip, "NL".to_owned(), "DE".to_owned())]);
    }
}
