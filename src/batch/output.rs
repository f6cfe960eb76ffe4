//! Output: writing rows back with their results, so that a crash leaves whole records.
//!
//! Owns the output file or stdout, the result part of each record (the CSV result columns of
//! [`Report::csv_columns`], or the [`Report`] as JSON), and when bytes reach the file. Records
//! are written whole into a buffer that is flushed whenever the run waits (on DNS or on
//! input), when it fills, and at the end, so that a kill or crash leaves complete records
//! followed by at most one partial one, which `--resume` cuts away.
//!
//! Must not: decide what the original part of a record is (the format modules do), or
//! reorder records.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};

use super::csv_rows::FieldEncoder;
use super::rows::Row;
use super::{BatchError, Endpoint};
use crate::config::BatchFormat;
use crate::report::Report;

/// Bytes held before they are written out even while rows keep coming.
const WRITE_BUFFER: usize = 64 * 1024;

/// How the result part of a record is written.
enum ResultPart {
    /// The report as one JSON object.
    Json,
    /// The delimiter and the CSV result columns.
    Csv {
        delimiter: u8,
        encoder: Box<FieldEncoder>,
    },
}

/// Where the records go.
pub(crate) struct Output {
    writer: BufWriter<Box<dyn Write + Send>>,
    endpoint: Endpoint,
    result: ResultPart,
    record: Vec<u8>,
}

impl Output {
    /// Opens `endpoint` for records of `format`. A file is created or truncated, or with
    /// `resume`, cut to its first `keep` bytes and appended to.
    ///
    /// # Errors
    ///
    /// [`BatchError::OpenOutput`] naming the file.
    pub(crate) fn open(
        endpoint: &Endpoint,
        format: BatchFormat,
        delimiter: u8,
        resume: bool,
        keep: u64,
    ) -> Result<Output, BatchError> {
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
        let result = match format {
            BatchFormat::Csv => ResultPart::Csv {
                delimiter,
                encoder: Box::new(FieldEncoder::new(delimiter)),
            },
            BatchFormat::Jsonl | BatchFormat::Lines => ResultPart::Json,
        };
        Ok(Output {
            writer: BufWriter::with_capacity(WRITE_BUFFER, sink),
            endpoint: endpoint.clone(),
            result,
            record: Vec::new(),
        })
    }

    /// Writes bytes as they are (the CSV header line). `rows` is how many rows are already
    /// written, for the error.
    ///
    /// # Errors
    ///
    /// [`BatchError::WriteOutput`].
    pub(crate) fn write_raw(&mut self, bytes: &[u8], rows: u64) -> Result<(), BatchError> {
        self.writer
            .write_all(bytes)
            .map_err(|source| self.error(rows, source))
    }

    /// Writes one row with its result.
    ///
    /// # Errors
    ///
    /// [`BatchError::WriteOutput`].
    pub(crate) fn write_row(
        &mut self,
        row: &Row,
        report: &Report,
        rows: u64,
    ) -> Result<(), BatchError> {
        self.record.clear();
        self.record.extend_from_slice(&row.prefix);
        match &mut self.result {
            ResultPart::Json => {
                if let Err(error) = serde_json::to_writer(&mut self.record, report) {
                    return Err(self.error(rows, std::io::Error::other(error)));
                }
            }
            ResultPart::Csv { delimiter, encoder } => {
                self.record.push(*delimiter);
                let columns = encoder.encode(report.csv_columns());
                self.record.extend_from_slice(&columns);
            }
        }
        self.record.extend_from_slice(&row.suffix);
        self.writer
            .write_all(&self.record)
            .map_err(|source| self.error(rows, source))
    }

    /// Hands everything written so far to the operating system.
    ///
    /// # Errors
    ///
    /// [`BatchError::WriteOutput`].
    pub(crate) fn flush(&mut self, rows: u64) -> Result<(), BatchError> {
        self.writer
            .flush()
            .map_err(|source| self.error(rows, source))
    }

    fn error(&self, rows: u64, source: std::io::Error) -> BatchError {
        BatchError::WriteOutput {
            output: self.endpoint.clone(),
            rows,
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
