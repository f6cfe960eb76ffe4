//! Compare: `hostloc batch --compare OLD`, noticing which reports moved since an earlier run.
//!
//! Owns reading an earlier enriched output (CSV, or JSONL / lines output of `hostloc batch`)
//! into what it said about each report — verdict, countries, addresses, AS numbers — keyed by
//! the report's input text, and comparing each new result with it: `moved` and `changes` per
//! row, and the counts of the summary (moved, unchanged, new, vanished). Rows are matched by
//! input text, in order: the first new row with a text takes the first earlier row with it, so
//! a report queued twice is compared twice.
//!
//! Must not: look anything up, or change the earlier file. It holds the earlier file's facts in
//! memory (a few hundred bytes per row), not its text.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use csv::StringRecord;
use serde_json::{Map, Value, json};

use super::csv_rows::find_column;
use super::{BatchError, RESULT_KEY};
use crate::report::Report;

/// The CSV columns a comparison adds, after the result columns.
pub(crate) const CSV_HEADERS: [&str; 2] = ["moved", "changes"];

/// What a result said about a report, as far as moving goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Facts {
    verdict: String,
    countries: BTreeSet<String>,
    addresses: BTreeSet<String>,
    asns: BTreeSet<u32>,
}

impl Facts {
    /// The facts of a new result.
    pub(crate) fn of(report: &Report) -> Facts {
        Facts {
            verdict: report.verdict.as_str().to_owned(),
            countries: report.countries.iter().cloned().collect(),
            addresses: report.addresses.iter().map(|a| a.ip.to_string()).collect(),
            asns: report.addresses.iter().filter_map(|a| a.asn).collect(),
        }
    }
}

/// One thing that changed: what, and its values before and after (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    what: &'static str,
    before: Vec<String>,
    after: Vec<String>,
}

/// A new row compared with the earlier output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Comparison {
    /// The earlier output has no row with this input text.
    New,
    /// The earlier output has one; these changed (none: unchanged).
    Earlier(Vec<Change>),
}

impl Comparison {
    /// Compares `report` with what the earlier output said about the same input, if anything.
    pub(crate) fn of(earlier: Option<&Facts>, report: &Report) -> Comparison {
        let Some(before) = earlier else {
            return Comparison::New;
        };
        let after = Facts::of(report);
        let mut changes = Vec::new();
        let mut note = |what, before: Vec<String>, after: Vec<String>| {
            if before != after {
                changes.push(Change {
                    what,
                    before,
                    after,
                });
            }
        };
        let texts = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>();
        let numbers = |set: &BTreeSet<u32>| set.iter().map(u32::to_string).collect::<Vec<_>>();
        note(
            "countries",
            texts(&before.countries),
            texts(&after.countries),
        );
        note(
            "addresses",
            texts(&before.addresses),
            texts(&after.addresses),
        );
        note("asns", numbers(&before.asns), numbers(&after.asns));
        note(
            "verdict",
            vec![before.verdict.clone()],
            vec![after.verdict.clone()],
        );
        Comparison::Earlier(changes)
    }

    /// Whether the report moved: `None` for a new row.
    pub(crate) fn moved(&self) -> Option<bool> {
        match self {
            Comparison::New => None,
            Comparison::Earlier(changes) => Some(!changes.is_empty()),
        }
    }

    /// The `moved` and `changes` cells: `true`/`false` (empty for a new row) and the changes
    /// as `countries NL -> DE; verdict domestic -> foreign` (empty when unchanged, `new: not in
    /// the earlier output` for a new row).
    pub(crate) fn csv_cells(&self) -> [String; 2] {
        match self {
            Comparison::New => [String::new(), "new: not in the earlier output".to_owned()],
            Comparison::Earlier(changes) => {
                let text = changes
                    .iter()
                    .map(|change| {
                        let side = |values: &[String]| match values {
                            [] => "none".to_owned(),
                            values => values.join(" "),
                        };
                        format!(
                            "{} {} -> {}",
                            change.what,
                            side(&change.before),
                            side(&change.after)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                [(!changes.is_empty()).to_string(), text]
            }
        }
    }

    /// The `moved` and `changes` members of a JSON result: `"moved": true|false|null` and
    /// `"changes": {"countries": {"before": [...], "after": [...]}, "verdict": {"before": "…",
    /// "after": "…"}, …}` (empty when unchanged, null for a new row).
    pub(crate) fn json_members(&self) -> Map<String, Value> {
        let changes = match self {
            Comparison::New => Value::Null,
            Comparison::Earlier(changes) => Value::Object(
                changes
                    .iter()
                    .map(|change| {
                        let (before, after) = if change.what == "verdict" {
                            (json!(change.before[0]), json!(change.after[0]))
                        } else {
                            (json!(change.before), json!(change.after))
                        };
                        (
                            change.what.to_owned(),
                            json!({"before": before, "after": after}),
                        )
                    })
                    .collect(),
            ),
        };
        let mut members = Map::new();
        members.insert("moved".to_owned(), json!(self.moved()));
        members.insert("changes".to_owned(), changes);
        members
    }
}

/// What an earlier enriched output said, by input text, not yet matched to a new row.
#[derive(Debug)]
pub(crate) struct Earlier {
    path: PathBuf,
    by_input: HashMap<String, VecDeque<Facts>>,
    left: u64,
    /// Lines or records that held no readable result (a cut last line, a ragged record).
    pub(crate) unreadable: u64,
}

impl Earlier {
    /// Reads the earlier output at `path`: CSV when its extension is `.csv` or `.tsv` (a tab
    /// for `.tsv`, else `delimiter`), JSONL when it is `.jsonl`, `.ndjson` or `.json`, else by
    /// its first character (`{` for JSONL). In CSV the report text is in `url_column` and the
    /// results in the result columns of the last enrichment (the most `hostloc_`-prefixed
    /// ones); in JSONL the result is the line itself (`lines` output) or under the most
    /// prefixed `hostloc` key.
    ///
    /// # Errors
    ///
    /// [`BatchError::ReadEarlier`] when the file cannot be read, [`BatchError::Earlier`] when
    /// it is not an enriched output.
    pub(crate) fn load(
        path: &Path,
        url_column: &str,
        delimiter: u8,
    ) -> Result<Earlier, BatchError> {
        let read_error = |source| BatchError::ReadEarlier {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut reader = BufReader::new(file);
        let extension = path
            .extension()
            .map(|extension| extension.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let json = match extension.as_str() {
            "csv" | "tsv" => false,
            "jsonl" | "ndjson" | "json" => true,
            _ => {
                let start = reader.fill_buf().map_err(read_error)?;
                start
                    .iter()
                    .find(|byte| !byte.is_ascii_whitespace())
                    .is_some_and(|byte| *byte == b'{')
            }
        };
        let mut earlier = Earlier {
            path: path.to_owned(),
            by_input: HashMap::new(),
            left: 0,
            unreadable: 0,
        };
        if json {
            earlier.read_json(reader).map_err(read_error)?;
        } else {
            let delimiter = if extension == "tsv" { b'\t' } else { delimiter };
            earlier.read_csv(reader, url_column, delimiter)?;
        }
        Ok(earlier)
    }

    fn add(&mut self, input: String, facts: Facts) {
        self.by_input.entry(input).or_default().push_back(facts);
        self.left += 1;
    }

    fn read_json(&mut self, reader: impl BufRead) -> std::io::Result<()> {
        for line in reader.split(b'\n') {
            let line = line?;
            let parsed = serde_json::from_slice::<Value>(&line).ok();
            match parsed
                .as_ref()
                .and_then(result_of_line)
                .and_then(json_facts)
            {
                Some((input, facts)) => self.add(input, facts),
                None if line.trim_ascii().is_empty() => {}
                None => self.unreadable += 1,
            }
        }
        Ok(())
    }

    fn read_csv(
        &mut self,
        reader: impl std::io::Read,
        url_column: &str,
        delimiter: u8,
    ) -> Result<(), BatchError> {
        let problem = |problem: String| BatchError::Earlier {
            path: self.path.clone(),
            problem,
        };
        let mut csv = csv::ReaderBuilder::new()
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(reader);
        let header = csv
            .byte_headers()
            .map_err(|error| problem(error.to_string()))?
            .clone();
        let url = find_column(&header, url_column)
            .ok_or_else(|| problem(format!("its header has no column {url_column:?}")))?;
        let header = StringRecord::from_byte_record_lossy(header);
        let column = |name: &str| {
            last_result_column(header.iter(), name)
                .ok_or_else(|| problem(format!("it has no {name:?} result column")))
        };
        let (verdict, countries, ips, asns) = (
            column("verdict")?,
            column("countries")?,
            column("ips")?,
            column("asns")?,
        );
        let mut record = csv::ByteRecord::new();
        loop {
            match csv.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(error) if error.is_io_error() => {
                    return Err(BatchError::ReadEarlier {
                        path: self.path.clone(),
                        source: match error.into_kind() {
                            csv::ErrorKind::Io(source) => source,
                            other => std::io::Error::other(format!("{other:?}")),
                        },
                    });
                }
                Err(_) => {
                    self.unreadable += 1;
                    continue;
                }
            }
            let cell = |index: usize| record.get(index).map(String::from_utf8_lossy);
            let (Some(input), Some(verdict), Some(countries), Some(ips), Some(asns)) = (
                cell(url),
                cell(verdict),
                cell(countries),
                cell(ips),
                cell(asns),
            ) else {
                self.unreadable += 1;
                continue;
            };
            let items = |text: &str| {
                text.split('|')
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect::<BTreeSet<_>>()
            };
            let facts = Facts {
                verdict: verdict.into_owned(),
                countries: items(&countries),
                addresses: items(&ips),
                asns: items(&asns)
                    .iter()
                    .filter_map(|asn| asn.parse().ok())
                    .collect(),
            };
            self.add(input.into_owned(), facts);
        }
        Ok(())
    }

    /// What the earlier output said about the next row with `input`, taken out of it.
    pub(crate) fn take(&mut self, input: &str) -> Option<Facts> {
        let queue = self.by_input.get_mut(input)?;
        let facts = queue.pop_front()?;
        if queue.is_empty() {
            self.by_input.remove(input);
        }
        self.left -= 1;
        Some(facts)
    }

    /// Earlier rows no new row has taken (so far).
    pub(crate) fn left(&self) -> u64 {
        self.left
    }
}

/// The most `hostloc_`-prefixed column named `name` (`verdict`, `hostloc_verdict`, …): the
/// result of the last enrichment, whatever the input's own columns were called.
fn last_result_column<'a>(header: impl Iterator<Item = &'a str>, name: &str) -> Option<usize> {
    header
        .enumerate()
        .filter_map(|(index, column)| {
            let mut rest = column;
            let mut depth = 0;
            while let Some(inner) = rest
                .strip_prefix(RESULT_KEY)
                .and_then(|r| r.strip_prefix('_'))
            {
                rest = inner;
                depth += 1;
            }
            (rest == name).then_some((depth, index))
        })
        .max()
        .map(|(_, index)| index)
}

/// The result object of an earlier JSONL line: the line itself when it is a bare result
/// (`lines` output), else the value of its most prefixed `hostloc` key.
fn result_of_line(line: &Value) -> Option<&Map<String, Value>> {
    let object = line.as_object()?;
    if object.contains_key("input") && object.contains_key("verdict") {
        return Some(object);
    }
    let mut key = RESULT_KEY.to_owned();
    let mut found = None;
    while let Some(value) = object.get(&key) {
        found = value.as_object().or(found);
        key.insert_str(0, &format!("{RESULT_KEY}_"));
    }
    found
}

/// The input text and facts of an earlier result object.
fn json_facts(result: &Map<String, Value>) -> Option<(String, Facts)> {
    let input = result.get("input")?.as_str()?.to_owned();
    let verdict = result.get("verdict")?.as_str()?.to_owned();
    let countries = result
        .get("countries")?
        .as_array()?
        .iter()
        .filter_map(|country| country.as_str().map(str::to_owned))
        .collect();
    let addresses = result.get("addresses")?.as_array()?;
    let facts = Facts {
        verdict,
        countries,
        addresses: addresses
            .iter()
            .filter_map(|address| Some(address.get("ip")?.as_str()?.to_owned()))
            .collect(),
        asns: addresses
            .iter()
            .filter_map(|address| u32::try_from(address.get("asn")?.as_u64()?).ok())
            .collect(),
    };
    Some((input, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(verdict: &str, countries: &[&str], addresses: &[&str], asns: &[u32]) -> Facts {
        Facts {
            verdict: verdict.to_owned(),
            countries: countries.iter().map(|c| (*c).to_owned()).collect(),
            addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
            asns: asns.iter().copied().collect(),
        }
    }

    #[test]
    fn the_last_enrichments_columns_are_read() {
        let header = [
            "verdict",
            "url",
            "hostloc_verdict",
            "countries",
            "x_verdict",
        ];
        assert_eq!(last_result_column(header.into_iter(), "verdict"), Some(2));
        assert_eq!(last_result_column(header.into_iter(), "countries"), Some(3));
        assert_eq!(last_result_column(header.into_iter(), "ips"), None);
    }

    #[test]
    fn json_lines_give_their_result() {
        let line = json!({"id": 1, "hostloc": 0, "hostloc_hostloc": {
            "input": "a.example", "verdict": "foreign", "countries": ["DE"],
            "addresses": [{"ip": "46.4.0.1", "asn": 24940}, {"ip": "10.0.0.1", "asn": null}]}});
        let (input, got) = json_facts(result_of_line(&line).unwrap()).unwrap();
        assert_eq!(input, "a.example");
        assert_eq!(
            got,
            facts("foreign", &["DE"], &["10.0.0.1", "46.4.0.1"], &[24940])
        );
        assert!(result_of_line(&json!({"raw_line": "x"})).is_none());
    }

    #[test]
    fn changes_read_as_cells_and_json() {
        let changes = vec![
            Change {
                what: "countries",
                before: vec!["NL".to_owned()],
                after: vec![],
            },
            Change {
                what: "verdict",
                before: vec!["domestic".to_owned()],
                after: vec!["unresolved".to_owned()],
            },
        ];
        let moved = Comparison::Earlier(changes);
        assert_eq!(
            moved.csv_cells(),
            [
                "true".to_owned(),
                "countries NL -> none; verdict domestic -> unresolved".to_owned()
            ]
        );
        assert_eq!(
            Value::Object(moved.json_members()),
            json!({"moved": true, "changes": {
                "countries": {"before": ["NL"], "after": []},
                "verdict": {"before": "domestic", "after": "unresolved"}}})
        );
        let same = Comparison::Earlier(vec![]);
        assert_eq!(same.csv_cells(), ["false".to_owned(), String::new()]);
        assert_eq!(
            Value::Object(Comparison::New.json_members()),
            json!({"moved": null, "changes": null})
        );
    }

    #[test]
    fn duplicates_are_matched_in_order() {
        let mut earlier = Earlier {
            path: PathBuf::new(),
            by_input: HashMap::new(),
            left: 0,
            unreadable: 0,
        };
        earlier.add("a".to_owned(), facts("domestic", &[], &[], &[]));
        earlier.add("a".to_owned(), facts("foreign", &[], &[], &[]));
        earlier.add("b".to_owned(), facts("invalid", &[], &[], &[]));
        assert_eq!(earlier.take("a").unwrap().verdict, "domestic");
        assert_eq!(earlier.take("a").unwrap().verdict, "foreign");
        assert_eq!(earlier.take("a"), None);
        assert_eq!(earlier.left(), 1);
    }
}
