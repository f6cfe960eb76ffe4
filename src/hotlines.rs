//! Hotlines: the operator-replaceable table of INHOPE member hotlines by hosting country.
//!
//! Owns parsing `data/hotlines.csv` (format and sources in `data/HOTLINES.md`) and answering
//! "which hotline takes a report hosted in this country?": the [`Forwarding`] entries of a
//! result's `forward_to`, one per hosting country, with that country's hotlines or, for a
//! country without one, the note saying where the report goes instead. Which countries a report
//! is forwarded to is the verdict's business (`verdict::forwarding_countries`), not this
//! module's. No I/O beyond reading the file once; lookups are in memory.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data_csv::{self, DataFileError};

/// One INHOPE member hotline. Unknown values are `None` (null), never guessed: an ICCAM id
/// only comes from a source that gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hotline {
    /// The hotline's name; null when the table knows the country has a member hotline (by its
    /// ICCAM id) but no source here names it.
    pub name: Option<String>,
    /// The hotline's web site.
    pub website: Option<String>,
    /// The hotline's id in INHOPE's ICCAM platform.
    pub iccam_id: Option<u32>,
}

/// Where a report hosted in one country goes: an entry of a result's `forward_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Forwarding {
    /// The hosting country, ISO 3166-1 alpha-2.
    pub country: String,
    /// The country's INHOPE member hotlines, in the table's order; empty when it has none.
    pub hotlines: Vec<Hotline>,
    /// What to do instead when the country has no member hotline; null when it has one.
    pub note: Option<String>,
}

/// The hotline table, by country.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HotlineTable {
    by_country: BTreeMap<String, Vec<Hotline>>,
    rows: usize,
}

#[derive(Debug, Deserialize)]
struct Row {
    country: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    website: String,
    #[serde(default)]
    iccam_id: String,
}

impl HotlineTable {
    /// Reads a hotlines file.
    ///
    /// # Errors
    ///
    /// [`DataFileError`] naming the file and, for a bad row, the line.
    pub fn load(path: &Path) -> Result<HotlineTable, DataFileError> {
        data_csv::load("hotlines", path, HotlineTable::parse)
    }

    /// Parses the text of a hotlines file; an error is the line and what is wrong.
    fn parse(text: &str) -> Result<HotlineTable, (u64, String)> {
        let mut table = HotlineTable::default();
        let mut iccam_ids = HashSet::new();
        for (line, row) in data_csv::rows::<Row>(text)? {
            let country = country_code(&row.country).ok_or_else(|| {
                (
                    line,
                    format!(
                        "{:?} is not an ISO 3166-1 alpha-2 country code",
                        row.country
                    ),
                )
            })?;
            let iccam_id = match row.iccam_id.as_str() {
                "" => None,
                digits => Some(
                    digits
                        .parse::<u32>()
                        .map_err(|_| (line, format!("{digits:?} is not an ICCAM hotline id")))?,
                ),
            };
            if let Some(id) = iccam_id
                && !iccam_ids.insert(id)
            {
                return Err((line, format!("ICCAM id {id} is given to two hotlines")));
            }
            let name = Some(row.name).filter(|name| !name.is_empty());
            if name.is_none() && iccam_id.is_none() {
                return Err((
                    line,
                    "a hotline needs a name or an ICCAM id; leave out a country without a \
                     member hotline"
                        .to_owned(),
                ));
            }
            table.by_country.entry(country).or_default().push(Hotline {
                name,
                website: Some(row.website).filter(|website| !website.is_empty()),
                iccam_id,
            });
            table.rows += 1;
        }
        Ok(table)
    }

    /// The member hotlines of `country` (ISO 3166-1 alpha-2, upper case); empty when it has
    /// none.
    pub fn hotlines(&self, country: &str) -> &[Hotline] {
        self.by_country.get(country).map_or(&[], Vec::as_slice)
    }

    /// Where a report hosted in `countries` goes: one entry per country, in the order given,
    /// each with its hotlines or a note saying there is no member hotline.
    pub fn forward_to<'a>(&self, countries: impl IntoIterator<Item = &'a str>) -> Vec<Forwarding> {
        countries
            .into_iter()
            .map(|country| {
                let hotlines = self.hotlines(country).to_vec();
                let note = hotlines.is_empty().then(|| no_member_note(country));
                Forwarding {
                    country: country.to_owned(),
                    hotlines,
                    note,
                }
            })
            .collect()
    }

    /// Hotlines in the table.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the table has no hotline at all.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Countries with at least one hotline.
    pub fn country_count(&self) -> usize {
        self.by_country.len()
    }
}

/// The note for a hosting country without an INHOPE member hotline.
pub fn no_member_note(country: &str) -> String {
    format!(
        "no INHOPE member hotline in {country}; report to the hosting provider and {country}'s \
         police through the usual channels"
    )
}

/// An ISO 3166-1 alpha-2 code in upper case. `UK`, which ISO reserves for the United Kingdom
/// but which is not its code, is read as `GB`: hotline sources use it (SCART's table does).
fn country_code(text: &str) -> Option<String> {
    let code = text.to_ascii_uppercase();
    if code.len() != 2 || !code.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return None;
    }
    Some(if code == "UK" { "GB".to_owned() } else { code })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
# a comment
country,name,website,iccam_id,source
de,eco,https://eco.example,,a
DE,FSM,,,b
DE,jugendschutz.net,https://js.example,,c
uk,IWF,https://iwf.example,51,scart-2022
US,,,22,scart-2022
";

    fn hotline(name: Option<&str>, website: Option<&str>, iccam_id: Option<u32>) -> Hotline {
        Hotline {
            name: name.map(str::to_owned),
            website: website.map(str::to_owned),
            iccam_id,
        }
    }

    #[test]
    fn countries_have_one_several_or_no_hotlines() {
        let table = HotlineTable::parse(TABLE).unwrap();
        assert_eq!((table.len(), table.country_count()), (5, 3));
        let forwarded = table.forward_to(["GB", "DE", "CN", "US"]);
        assert_eq!(
            forwarded,
            [
                Forwarding {
                    country: "GB".to_owned(),
                    hotlines: vec![hotline(Some("IWF"), Some("https://iwf.example"), Some(51))],
                    note: None,
                },
                Forwarding {
                    country: "DE".to_owned(),
                    hotlines: vec![
                        hotline(Some("eco"), Some("https://eco.example"), None),
                        hotline(Some("FSM"), None, None),
                        hotline(Some("jugendschutz.net"), Some("https://js.example"), None),
                    ],
                    note: None,
                },
                Forwarding {
                    country: "CN".to_owned(),
                    hotlines: vec![],
                    note: Some(
                        "no INHOPE member hotline in CN; report to the hosting provider and \
                         CN's police through the usual channels"
                            .to_owned()
                    ),
                },
                Forwarding {
                    country: "US".to_owned(),
                    hotlines: vec![hotline(None, None, Some(22))],
                    note: None,
                },
            ]
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        for (text, line, problem) in [
            (
                "country,name\nGBR,x\n",
                2,
                "\"GBR\" is not an ISO 3166-1 alpha-2",
            ),
            (
                "country,name,iccam_id\nGB,x,five\n",
                2,
                "\"five\" is not an ICCAM",
            ),
            (
                "country,name,iccam_id\nGB,,\n",
                2,
                "needs a name or an ICCAM id",
            ),
            (
                "# comment\ncountry,name,iccam_id\nGB,a,5\nDE,b,5\n",
                4,
                "ICCAM id 5 is given to two",
            ),
        ] {
            let (at, message) = HotlineTable::parse(text).unwrap_err();
            assert_eq!(at, line, "{text:?}");
            assert!(message.contains(problem), "{message:?} lacks {problem:?}");
        }
    }

    #[test]
    fn the_bundled_table_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/hotlines.csv");
        let table = HotlineTable::load(&path).unwrap();
        assert_eq!(table.hotlines("DE").len(), 3);
        assert_eq!(table.hotlines("GB")[0].iccam_id, Some(51));
        assert!(table.hotlines("CN").is_empty());
    }

    /// Every ICCAM id of the bundled table comes from SCART's table, for the same country (its
    /// `uk` read as `GB`), and every one of SCART's ids is there but Germany's 32: SCART gives
    /// it to "Germany" without saying which of the three German hotlines has it, so no row of
    /// ours can carry it. None invented, none lost otherwise.
    #[test]
    fn bundled_iccam_ids_are_exactly_scarts() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let table = HotlineTable::load(&data.join("hotlines.csv")).unwrap();
        let ours: std::collections::BTreeSet<(u32, String)> = table
            .by_country
            .iter()
            .flat_map(|(country, hotlines)| {
                hotlines
                    .iter()
                    .filter_map(|hotline| Some((hotline.iccam_id?, country.clone())))
            })
            .collect();
        let seed =
            std::fs::read_to_string(data.join("sources/scart-iccam-hotline-ids.csv")).unwrap();
        let mut reader = csv::Reader::from_reader(seed.as_bytes());
        let scart: std::collections::BTreeSet<(u32, String)> = reader
            .records()
            .map(|record| {
                let record = record.unwrap();
                (record[0].parse().unwrap(), record[3].to_owned())
            })
            .collect();
        assert_eq!(scart.len(), 32);
        let attributable: std::collections::BTreeSet<(u32, String)> = scart
            .into_iter()
            .filter(|entry| *entry != (32, "DE".to_owned()))
            .collect();
        assert_eq!(ours, attributable);
    }
}
