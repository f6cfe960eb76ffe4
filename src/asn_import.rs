//! ASN import: builds the bundled ASN database from ip-location-db's CSV.
//!
//! Owns `hostloc data import-asn`: reads `range_start,range_end,asn,organisation` rows (IPv4 and
//! IPv6, inclusive ranges, as published in the `@ip-location-db/asn` package) and writes a
//! MaxMind DB in the GeoLite2-ASN layout (`autonomous_system_number`,
//! `autonomous_system_organization`) with mmdb-writer, so that hostloc and any other MaxMind
//! reader can use it. Runs offline on files the operator downloaded.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mmdb_writer::{IpVersion, Value, Writer};

/// Database type written to the metadata.
pub const DATABASE_TYPE: &str = "ip-location-db-ASN";

/// Why the import failed; names the file and line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A CSV file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The CSV / I/O error.
        #[source]
        source: csv::Error,
    },
    /// A row is malformed.
    #[error("{path}, line {line}: {problem}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The writer refused the data.
    #[error("cannot build the database")]
    Write(#[from] mmdb_writer::Error),
    /// The output could not be written.
    #[error("cannot write {path}")]
    Output {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rows written.
    pub ranges: usize,
    /// Rows skipped because their AS number is 0 (unrouted).
    pub skipped: usize,
    /// Rows skipped because they fall in 6to4 / Teredo space, which aliases IPv4.
    pub aliased: usize,
    /// Size of the database written, bytes.
    pub bytes: usize,
}

/// Reads every CSV in `inputs` and writes the database to `output`.
///
/// # Errors
///
/// [`ImportError`] naming the file (and line) that could not be used.
pub fn import_asn(
    inputs: &[PathBuf],
    output: &Path,
    built: SystemTime,
    source: &str,
) -> Result<ImportSummary, ImportError> {
    let description = format!("IP to ASN, built by hostloc from {source}");
    let mut writer = Writer::builder(DATABASE_TYPE)
        .ip_version(IpVersion::V6)
        .description(&[("en", description.as_str())])
        .build_epoch(built)
        .build();
    let mut summary = ImportSummary {
        ranges: 0,
        skipped: 0,
        aliased: 0,
        bytes: 0,
    };
    for path in inputs {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .map_err(|source| ImportError::Read {
                path: path.clone(),
                source,
            })?;
        for record in reader.records() {
            let record = record.map_err(|source| ImportError::Read {
                path: path.clone(),
                source,
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let row_error = |problem: String| ImportError::Row {
                path: path.clone(),
                line,
                problem,
            };
            let field = |index: usize| record.get(index).unwrap_or("").trim();
            let start: IpAddr = field(0)
                .parse()
                .map_err(|_| row_error(format!("{:?} is not an IP address", field(0))))?;
            let end: IpAddr = field(1)
                .parse()
                .map_err(|_| row_error(format!("{:?} is not an IP address", field(1))))?;
            let asn: u32 = field(2)
                .parse()
                .map_err(|_| row_error(format!("{:?} is not an AS number", field(2))))?;
            if asn == 0 {
                summary.skipped += 1;
                continue;
            }
            let mut entries = vec![("autonomous_system_number", Value::from(asn))];
            let organisation = field(3);
            if !organisation.is_empty() {
                entries.push(("autonomous_system_organization", Value::from(organisation)));
            }
            match writer.insert_range(start, end, &Value::map(entries)) {
                Ok(()) => summary.ranges += 1,
                // 6to4 and Teredo space is served by the IPv4 data it embeds (the writer
                // aliases it), so the relays' own AS numbers are left out.
                Err(mmdb_writer::Error::AliasedNetwork(_)) => summary.aliased += 1,
                Err(error) => return Err(row_error(error.to_string())),
            }
        }
    }
    let bytes = writer.to_bytes()?;
    summary.bytes = bytes.len();
    std::fs::write(output, &bytes).map_err(|source| ImportError::Output {
        path: output.to_owned(),
        source,
    })?;
    Ok(summary)
}
