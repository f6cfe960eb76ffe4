//! Output: writing rows back with their results, so that a crash leaves whole records.
//!
//! Owns the output file or stdout, the result part of each record (the CSV result columns of
//! [`Report::csv_columns`] or of its ICCAM view, or the [`Report`] or its ICCAM view as JSON,
//! followed by the comparison with an earlier output), and when bytes reach the file. Records
//! are written whole into a buffer that is flushed whenever the run waits (on DNS or on
//! input), when it fills, and at the end, so that a kill or crash leaves complete records
//! followed by at most one partial one, which `--resume` cuts away.
//!
//! Must not: decide what the original part of a record is (the format modules do), or
//! reorder records.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};

use super::compare::{self, Comparison};
use super::csv_rows::{FieldEncoder, result_columns};
use super::rows::Row;
use super::{BatchError, Endpoint};
use crate::config::{BatchFormat, OutputFormat};
use crate::iccam::{self, IccamRecord};
use crate::report::Report;

/// Bytes held before they are written out even while rows keep coming.
const WRITE_BUFFER: usize = 64 * 1024;

/// Writes the result part of a record: the report as one JSON object, or the delimiter and
/// the CSV result columns; in full or as its ICCAM view (`--output-format`), with the
/// comparison with an earlier output when there is one (`--compare`). Cheap to copy, so that
/// every lookup task encodes its own result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResultEncoder {
    /// The CSV delimiter; `None` for JSON.
    delimiter: Option<u8>,
    output: OutputFormat,
}

impl ResultEncoder {
    /// The encoder for records of `format` holding `output`.
    pub(crate) fn new(format: BatchFormat, delimiter: u8, output: OutputFormat) -> ResultEncoder {
        ResultEncoder {
            delimiter: (format == BatchFormat::Csv).then_some(delimiter),
            output,
        }
    }

    /// The names of the CSV result columns, in order.
    pub(crate) fn csv_headers(output: OutputFormat, compared: bool) -> Vec<&'static str> {
        let mut names = match output {
            OutputFormat::Full => Report::CSV_HEADERS.to_vec(),
            OutputFormat::Iccam => iccam::CSV_HEADERS.to_vec(),
        };
        if compared {
            names.extend(compare::CSV_HEADERS);
        }
        names
    }

    /// The bytes of `report` (and its `comparison`) as this format's result part.
    ///
    /// # Errors
    ///
    /// Should the report not serialise (it always does), the serialiser's error.
    pub(crate) fn encode(
        self,
        report: &Report,
        comparison: Option<&Comparison>,
    ) -> std::io::Result<Vec<u8>> {
        let Some(delimiter) = self.delimiter else {
            let mut bytes = match self.output {
                OutputFormat::Full => serde_json::to_vec(report),
                OutputFormat::Iccam => serde_json::to_vec(&IccamRecord::of(report)),
            }
            .map_err(std::io::Error::other)?;
            if let Some(comparison) = comparison {
                // The result is one JSON object; the comparison's members go before its `}`.
                bytes.pop();
                for (key, value) in comparison.json_members() {
                    bytes.push(b',');
                    serde_json::to_writer(&mut bytes, &key).map_err(std::io::Error::other)?;
                    bytes.push(b':');
                    serde_json::to_writer(&mut bytes, &value).map_err(std::io::Error::other)?;
                }
                bytes.push(b'}');
            }
            return Ok(bytes);
        };
        let mut cells: Vec<String> = match self.output {
            OutputFormat::Full => report.csv_columns().into(),
            OutputFormat::Iccam => iccam::csv_columns(report).into(),
        };
        cells.extend(comparison.map(Comparison::csv_cells).into_iter().flatten());
        let mut bytes = vec![delimiter];
        bytes.extend(FieldEncoder::new(delimiter).encode(cells));
        Ok(bytes)
    }
}

/// The CSV `hostloc batch` writes for a CSV file whose only column is `url`, holding each
/// report's input in order: the header `url` and the result columns, then one record per
/// report, each ending in LF. `POST /v1/lookup?format=csv` answers this, so that the analyst
/// page's download has exactly the columns of `hostloc batch`, from the same encoders.
pub fn url_list_csv(reports: &[Report]) -> Vec<u8> {
    const DELIMITER: u8 = b',';
    const URL_COLUMN: &str = "url";
    let encoder = FieldEncoder::new(DELIMITER);
    let results = ResultEncoder::new(BatchFormat::Csv, DELIMITER, OutputFormat::Full);
    let header = csv::ByteRecord::from(vec![URL_COLUMN]);
    let mut table = encoder.encode([URL_COLUMN]);
    table.push(DELIMITER);
    table.extend(encoder.encode(result_columns(
        &header,
        &ResultEncoder::csv_headers(OutputFormat::Full, false),
    )));
    table.push(b'\n');
    for report in reports {
        table.extend(encoder.encode([report.input.as_str()]));
        // Encoding into memory cannot fail; a report always serialises.
        table.extend(results.encode(report, None).unwrap_or_default());
        table.push(b'\n');
    }
    table
}

/// Where the records go.
pub(crate) struct Output {
    writer: BufWriter<Box<dyn Write + Send>>,
    endpoint: Endpoint,
    record: Vec<u8>,
    /// Rows handed to the buffer.
    rows: u64,
    /// Rows known to have reached the operating system (at the last successful flush).
    flushed_rows: u64,
}

impl Output {
    /// Opens `endpoint`. A file is created or truncated, or with `resume`, cut to its first
    /// `keep` bytes and appended to.
    ///
    /// # Errors
    ///
    /// [`BatchError::OpenOutput`] naming the file.
    pub(crate) fn open(endpoint: &Endpoint, resume: bool, keep: u64) -> Result<Output, BatchError> {
        let sink: Box<dyn Write + Send> = match endpoint {
            Endpoint::File(path) => {
                let opened = if resume {
                    open_at(path, keep)
                } else {
                    File::create(path)
                };
                Box::new(opened.map_err(|source| BatchError::OpenOutput {
                    output: endpoint.clone(),
                    source,
                })?)
            }
            _ => Box::new(std::io::stdout()),
        };
        Ok(Output {
            writer: BufWriter::with_capacity(WRITE_BUFFER, sink),
            endpoint: endpoint.clone(),
            record: Vec::new(),
            rows: 0,
            flushed_rows: 0,
        })
    }

    /// Writes bytes as they are (the CSV header line).
    ///
    /// # Errors
    ///
    /// [`BatchError::WriteOutput`].
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) -> Result<(), BatchError> {
        self.writer
            .write_all(bytes)
            .map_err(|source| self.error(source))
    }

    /// Writes one row with its encoded result (see [`ResultEncoder`]).
    ///
    /// # Errors
    ///
    /// [`BatchError::WriteOutput`].
    pub(crate) fn write_row(
        &mut self,
        row: &Row,
        result: std::io::Result<Vec<u8>>,
    ) -> Result<(), BatchError> {
        let result = result.map_err(|source| self.error(source))?;
        // One write per record, so that the buffer never holds half a record when it fills.
        self.record.clear();
        self.record.extend_from_slice(&row.prefix);
        self.record.extend_from_slice(&result);
        self.record.extend_from_slice(&row.suffix);
        self.writer
            .write_all(&self.record)
            .map_err(|source| self.error(source))?;
        self.rows += 1;
        Ok(())
    }

    /// Hands everything written so far to the operating system.
    ///
    /// # Errors
    ///
    /// [`BatchError::WriteOutput`].
    pub(crate) fn flush(&mut self) -> Result<(), BatchError> {
        self.writer.flush().map_err(|source| self.error(source))?;
        self.flushed_rows = self.rows;
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> BatchError {
        BatchError::WriteOutput {
            output: self.endpoint.clone(),
            rows: self.flushed_rows,
            source,
        }
    }
}

/// Opens `path` for appending after its first `keep` bytes (creating it when missing).
fn open_at(path: &std::path::Path, keep: u64) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.set_len(keep)?;
    file.seek(SeekFrom::End(0))?;
    Ok(file)
}
