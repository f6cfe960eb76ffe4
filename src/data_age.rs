//! Data age: how old each database is, and when that is too old.
//!
//! Owns [`DatabaseAge`] (a database's build time and age against `--max-data-age`) and the one
//! sentence that says a database is stale, which every place that reports it uses: the
//! warning in each result, the log at start and reload, and `/readyz`. A database's age is
//! the time since the build time in its metadata; a database without one has no age and is
//! never stale (hostloc does not guess).
//!
//! Must not: decide what staleness does (the pipeline adds warnings; `hostloc serve` decides
//! readiness), or read the clock itself: callers pass `now`.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::geoip::{DatabaseRole, GeoDb};
use crate::report::rfc3339;

/// The default of `--max-data-age`: monthly data (DB-IP Lite, IPinfo Lite) plus a few days'
/// grace for the update to arrive.
pub const DEFAULT_MAX_DATA_AGE: Duration = Duration::from_secs(35 * 86_400);

const DAY: u64 = 86_400;

/// How old one database is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DatabaseAge {
    /// `country` or `asn`.
    pub role: DatabaseRole,
    /// The database's source name, as in the result's `databases` and `country_sources`.
    pub source: String,
    /// The file name.
    pub file: String,
    /// The build time from the database's metadata, RFC 3339 UTC; null when it has none.
    pub built: Option<String>,
    /// Seconds since the build time; null when there is none.
    pub age_seconds: Option<u64>,
    /// Whether it is older than the maximum age (`--max-data-age`).
    pub stale: bool,
    /// Why it is stale, in the words of the result's warning; absent when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The age of each database of `geo` at `now`, against `max_age` (none: never stale).
pub fn database_ages(geo: &GeoDb, max_age: Option<Duration>, now: SystemTime) -> Vec<DatabaseAge> {
    geo.databases()
        .into_iter()
        .map(|(info, database)| {
            let role = info.role;
            let age = database
                .built()
                .map(|built| now.duration_since(built).unwrap_or_default());
            let warning = match (age, max_age) {
                (Some(age), Some(max_age)) if age > max_age => Some(format!(
                    "the {role} database {file} was built {days} ago ({date}), more than \
                     --max-data-age ({max}): hosting may have moved since; use current data \
                     (docs/data.md)",
                    file = info.file,
                    days = days(age),
                    date = info
                        .built
                        .as_deref()
                        .map_or("", |built| built.get(..10).unwrap_or(built)),
                    max = readable_age(max_age),
                )),
                _ => None,
            };
            DatabaseAge {
                role,
                source: info.source,
                file: info.file,
                built: database.built().map(rfc3339),
                age_seconds: age.map(|age| age.as_secs()),
                stale: warning.is_some(),
                warning,
            }
        })
        .collect()
}

/// The warnings of the stale databases among `ages`.
pub fn stale_warnings(ages: &[DatabaseAge]) -> Vec<String> {
    ages.iter().filter_map(|age| age.warning.clone()).collect()
}

/// Whole days, in words: "1 day", "184 days".
fn days(age: Duration) -> String {
    match age.as_secs() / DAY {
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    }
}

/// A maximum age as an operator would write it: whole days as days, anything else exactly.
pub fn readable_age(age: Duration) -> String {
    match age.as_secs() {
        seconds if seconds >= DAY && seconds % DAY == 0 && age.subsec_nanos() == 0 => days(age),
        _ => humantime::format_duration(age).to_string(),
    }
}

/// Parses `--max-data-age`: a duration such as `35d` or `12h`, or `off` for no maximum.
///
/// # Errors
///
/// humantime's message for a duration it cannot read.
pub fn parse_max_age(text: &str) -> Result<Option<Duration>, String> {
    match text.trim() {
        "off" | "none" => Ok(None),
        duration => humantime::parse_duration(duration)
            .map(Some)
            .map_err(|error| format!("{error} (e.g. 35d, 12h, or off)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_an_operator_writes_them() {
        assert_eq!(readable_age(Duration::from_secs(35 * DAY)), "35 days");
        assert_eq!(readable_age(Duration::from_secs(DAY)), "1 day");
        assert_eq!(readable_age(Duration::from_secs(36 * 3600)), "1day 12h");
        assert_eq!(
            parse_max_age("35d"),
            Ok(Some(Duration::from_secs(35 * DAY)))
        );
        assert_eq!(parse_max_age("off"), Ok(None));
        assert!(parse_max_age("soon").unwrap_err().contains("e.g. 35d"));
    }
}
