//! Output: writing rows back with their results, so that a crash leaves whole records.
//!
//! Owns the output file or stdout, the result part of each record (the CSV result columns of
//! [`Report::csv_columns`] or of its ICCAM view, or the [`Report`] or its ICCAM view as JSON,
//! followed by the comparison with an earlier output), and when bytes reach the file. Records
//! are written whole into a buffer that is flushed whenever the run waits (on DNS or on
//! input), when it fills, and at the end, so that a kill or crash leaves complete records
//! followed by at most one partial one, which `--resume` cuts away.
//!
//! An existing output file is not changed until there is something to write: opening only
//! checks that it can be written, and it is cut (to nothing, or with `--resume` to its
//! complete records) at the first write, or at the end of a run that wrote nothing. So a run
//! that fails before its first row (a wrong `--url-column`, an input that is not text, a
//! refused resume) leaves yesterday's file byte for byte as it was.
//!
//! Must not: decide what the original part of a record is (the format modules do), or
//! reorder records.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::compare::{self, Comparison};
use super::csv_rows::{FieldEncoder, result_columns};
use super::rows::Row;
use super::{BatchError, Endpoint};
use crate::config::{BatchFormat, OutputFormat};
use crate::iccam::{self, IccamRecord};
use crate::report::Report;

/// Bytes held before they are written out even while rows keep coming.
const WRITE_BUFFER: usize = 64 * 1024;

/// The room a row's JSON result is written into at first: a full result for one address
/// with the stale-data warnings is about 2.3 kB.
const RESULT_CAPACITY: usize = 4 * 1024;

/// Writes the result part of a record: the report as one JSON object, or the delimiter and
/// the CSV result columns; in full or as its ICCAM view (`--output-format`), with the
/// comparison with an earlier output when there is one (`--compare`). Cheap to clone, so that
/// every lookup task encodes its own result.
#[derive(Debug, Clone)]
pub(crate) struct ResultEncoder {
    /// The CSV delimiter; `None` for JSON.
    delimiter: Option<u8>,
    output: OutputFormat,
    /// Buffers of rows already written, for the next results (see [`ResultEncoder::recycle`]).
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Spare buffers kept at most: more than the rows in flight are never needed at once.
const SPARE_BUFFERS: usize = 1024;

impl ResultEncoder {
    /// The encoder for records of `format` holding `output`.
    pub(crate) fn new(format: BatchFormat, delimiter: u8, output: OutputFormat) -> ResultEncoder {
        ResultEncoder {
            delimiter: (format == BatchFormat::Csv).then_some(delimiter),
            output,
            spare: Arc::default(),
        }
    }

    /// Takes back the buffer of a row that was written, for a later row's result. A result's
    /// buffer is made on a lookup task and dropped by the writer, on another thread: new, it
    /// cost the lookup task a malloc of 4 kB from an arena the writer's frees went to (7 % of
    /// a row's time in the profile).
    pub(crate) fn recycle(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() != RESULT_CAPACITY {
            return;
        }
        buffer.clear();
        if let Ok(mut spare) = self.spare.lock()
            && spare.len() < SPARE_BUFFERS
        {
            spare.push(buffer);
        }
    }

    /// An empty buffer of [`RESULT_CAPACITY`], recycled when there is one.
    fn buffer(&self) -> Vec<u8> {
        let spare = self.spare.lock().ok().and_then(|mut spare| spare.pop());
        spare.unwrap_or_else(|| Vec::with_capacity(RESULT_CAPACITY))
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
        &self,
        report: &Report,
        comparison: Option<&Comparison>,
    ) -> std::io::Result<Vec<u8>> {
        let Some(delimiter) = self.delimiter else {
            // Room for a whole result at once: grown from serde_json's 128 bytes, a 2-3 kB
            // result was reallocated (and copied) five times.
            let mut bytes = self.buffer();
            match self.output {
                OutputFormat::Full => serde_json::to_writer(&mut bytes, report),
                OutputFormat::Iccam => serde_json::to_writer(&mut bytes, &IccamRecord::of(report)),
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
/// page's download has exactly the columns of `hostloc batch`, from the same encoders. With
/// `evidence`, a last column `evidence` holds each result's evidence record
/// (`POST /v1/lookup?format=csv&evidence=true`).
pub fn url_list_csv(reports: &[Report], evidence: bool) -> Vec<u8> {
    const DELIMITER: u8 = b',';
    const URL_COLUMN: &str = "url";
    const EVIDENCE_COLUMN: &str = "evidence";
    let encoder = FieldEncoder::new(DELIMITER);
    let results = ResultEncoder::new(BatchFormat::Csv, DELIMITER, OutputFormat::Full);
    let header = csv::ByteRecord::from(vec![URL_COLUMN]);
    let mut table = encoder.encode([URL_COLUMN]);
    table.push(DELIMITER);
    table.extend(encoder.encode(result_columns(
        &header,
        &ResultEncoder::csv_headers(OutputFormat::Full, false),
    )));
    if evidence {
        table.push(DELIMITER);
        table.extend(encoder.encode([EVIDENCE_COLUMN]));
    }
    table.push(b'\n');
    for report in reports {
        table.extend(encoder.encode([report.input.as_str()]));
        // Encoding into memory cannot fail; a report always serialises.
        table.extend(results.encode(report, None).unwrap_or_default());
        if evidence {
            table.push(DELIMITER);
            table.extend(encoder.encode([crate::evidence::render(report).as_str()]));
        }
        table.push(b'\n');
    }
    table
}

/// Where the records go.
pub(crate) struct Output {
    sink: Sink,
    endpoint: Endpoint,
    record: Vec<u8>,
    /// Rows handed to the buffer.
    rows: u64,
    /// Rows known to have reached the operating system (at the last successful flush).
    flushed_rows: u64,
}

/// The output before and after its first write.
enum Sink {
    /// A file opened for writing but not changed yet: at the first write it is cut to `keep`
    /// bytes and written after them.
    Waiting {
        file: File,
        keep: u64,
        /// Whether this run created the file (so that a run that never writes removes it).
        created: bool,
        path: PathBuf,
    },
    /// Writing.
    Open(BufWriter<Box<dyn Write + Send>>),
}

impl Output {
    /// Opens `endpoint`. A file is created when missing; an existing one is only opened, and
    /// at the first write (or [`Output::finish`]) cut to nothing, or with `resume` to its first
    /// `keep` bytes, and appended to.
    ///
    /// # Errors
    ///
    /// [`BatchError::OpenOutput`] naming the file.
    pub(crate) fn open(endpoint: &Endpoint, resume: bool, keep: u64) -> Result<Output, BatchError> {
        let sink = match endpoint {
            Endpoint::File(path) => {
                let (file, created) =
                    open_unchanged(path).map_err(|source| BatchError::OpenOutput {
                        output: endpoint.clone(),
                        source,
                    })?;
                Sink::Waiting {
                    file,
                    keep: if resume { keep } else { 0 },
                    created,
                    path: path.clone(),
                }
            }
            _ => Sink::Open(BufWriter::with_capacity(
                WRITE_BUFFER,
                Box::new(std::io::stdout()),
            )),
        };
        Ok(Output {
            sink,
            endpoint: endpoint.clone(),
            record: Vec::new(),
            rows: 0,
            flushed_rows: 0,
        })
    }

    /// The writer, cutting the file first if this is the first write.
    fn writer(&mut self) -> Result<&mut BufWriter<Box<dyn Write + Send>>, BatchError> {
        if let Sink::Waiting { file, keep, .. } = &mut self.sink {
            // Only a regular file is cut; a device or pipe (`-o /dev/stdout`) is written to as
            // it is. The clone is the same open file; the waiting handle is dropped below.
            let cut = file.metadata().and_then(|metadata| {
                if metadata.is_file() {
                    file.set_len(*keep)?;
                    file.seek(SeekFrom::End(0))?;
                }
                file.try_clone()
            });
            let file = cut.map_err(|source| BatchError::OpenOutput {
                output: self.endpoint.clone(),
                source,
            })?;
            self.sink = Sink::Open(BufWriter::with_capacity(WRITE_BUFFER, Box::new(file)));
        }
        match &mut self.sink {
            Sink::Open(writer) => Ok(writer),
            Sink::Waiting { .. } => unreachable!("the sink was opened above"),
        }
    }

    /// Writes bytes as they are (the CSV header line).
    ///
    /// # Errors
    ///
    /// [`BatchError::WriteOutput`].
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) -> Result<(), BatchError> {
        let written = self.writer()?.write_all(bytes);
        written.map_err(|source| self.error(source))
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
        encoder: &ResultEncoder,
    ) -> Result<(), BatchError> {
        let result = result.map_err(|source| self.error(source))?;
        let written = self.write_record(row, &result);
        encoder.recycle(result);
        written
    }

    fn write_record(&mut self, row: &Row, result: &[u8]) -> Result<(), BatchError> {
        let parts = [row.prefix.as_slice(), result, row.suffix.as_slice()];
        let length: usize = parts.iter().map(|part| part.len()).sum();
        // The buffer never holds half a record when it fills: it is flushed first unless the
        // whole record fits, and then the parts go into it without a copy in between. A
        // record larger than the buffer is written in one write of its own.
        let writer = self.writer()?;
        if length < writer.capacity() {
            let mut written = Ok(());
            if writer.capacity() - writer.buffer().len() <= length {
                written = writer.flush();
            }
            for part in parts {
                if written.is_ok() {
                    written = writer.write_all(part);
                }
            }
            written.map_err(|source| self.error(source))?;
            self.rows += 1;
            return Ok(());
        }
        self.record.clear();
        self.record.extend_from_slice(&row.prefix);
        self.record.extend_from_slice(result);
        self.record.extend_from_slice(&row.suffix);
        let record = std::mem::take(&mut self.record);
        let written = self.writer()?.write_all(&record);
        self.record = record;
        written.map_err(|source| self.error(source))?;
        self.rows += 1;
        Ok(())
    }

    /// Hands everything written so far to the operating system. An output not written to yet
    /// stays as it is.
    ///
    /// # Errors
    ///
    /// [`BatchError::WriteOutput`].
    pub(crate) fn flush(&mut self) -> Result<(), BatchError> {
        if let Sink::Open(writer) = &mut self.sink {
            let flushed = writer.flush();
            flushed.map_err(|source| self.error(source))?;
        }
        self.flushed_rows = self.rows;
        Ok(())
    }

    /// Ends a run that read its whole input: the output holds exactly what was written, even
    /// when that is nothing (an empty input empties an existing file).
    ///
    /// # Errors
    ///
    /// [`BatchError::OpenOutput`] or [`BatchError::WriteOutput`].
    pub(crate) fn finish(&mut self) -> Result<(), BatchError> {
        self.writer()?;
        self.flush()
    }

    /// Ends a run that stopped before writing anything: the output is left as it was, and a
    /// file this run created is removed again. Does nothing once something was written.
    pub(crate) fn abandon(self) {
        if let Sink::Waiting {
            file,
            created: true,
            path,
            ..
        } = self.sink
        {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }

    fn error(&self, source: std::io::Error) -> BatchError {
        BatchError::WriteOutput {
            output: self.endpoint.clone(),
            rows: self.flushed_rows,
            source,
        }
    }
}

/// Opens `path` for writing without changing it, creating it when missing; says whether it
/// was created.
fn open_unchanged(path: &Path) -> std::io::Result<(File, bool)> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => Ok((file, true)),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = OpenOptions::new().write(true).open(path)?;
            Ok((file, false))
        }
        Err(error) => Err(error),
    }
}
