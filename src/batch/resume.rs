//! Resume: reading back what an earlier, interrupted run wrote.
//!
//! Owns counting the complete records of an output file and finding where they end, so that
//! a partial last record (from a kill or crash mid-write) is cut away and the run continues
//! after the last complete one. A CSV record is complete when the CSV parser has seen its
//! terminator outside quotes; a JSON line when its `\n` is there. Also keeps the first and last
//! complete records, so the caller can check that the file is an earlier run over the same
//! input before anything in it is changed.
//!
//! [`RecordReader`] splits an output into its records for `hostloc batch merge` too.
//!
//! Must not: change the file (the caller truncates, once the check has passed), or hold more
//! than one record at a time.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use csv_core::ReadRecordResult;

use crate::config::BatchFormat;

const READ_BUFFER: usize = 64 * 1024;

/// What an output file already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Existing {
    /// Complete records, a CSV header included.
    pub(crate) records: u64,
    /// Bytes up to the end of the last complete record (and its line ending).
    pub(crate) complete_len: u64,
    /// The first complete record's bytes (for CSV, the header).
    pub(crate) first: Vec<u8>,
    /// The last complete record's bytes.
    pub(crate) last: Vec<u8>,
}

/// Reads the output file at `path` as an earlier run in `format` wrote it; `None` when there
/// is no such file.
///
/// # Errors
///
/// An I/O error reading the file.
pub(crate) fn scan(
    path: &Path,
    format: BatchFormat,
    delimiter: u8,
) -> std::io::Result<Option<Existing>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut reader = RecordReader::new(
        BufReader::with_capacity(READ_BUFFER, file),
        format,
        delimiter,
    );
    let mut existing = Existing {
        records: 0,
        complete_len: 0,
        first: Vec::new(),
        last: Vec::new(),
    };
    while let Some(record) = reader.next_record()? {
        existing.records += 1;
        if existing.records == 1 {
            existing.first.clone_from(&record);
        }
        existing.last = record;
    }
    // Line breaks right after the last record belong to it (the `\n` of a CRLF).
    let breaks = reader
        .partial()
        .iter()
        .take_while(|byte| matches!(byte, b'\r' | b'\n'))
        .count();
    existing.complete_len = reader.complete_len() + breaks as u64;
    Ok(Some(existing))
}

/// Whether two records are the same, ignoring line breaks around them.
pub(crate) fn same_record(a: &[u8], b: &[u8]) -> bool {
    trim_breaks(a) == trim_breaks(b)
}

/// Whether `record` starts with `start`, ignoring line breaks before it.
pub(crate) fn starts_with_row(record: &[u8], start: &[u8]) -> bool {
    trim_breaks(record).starts_with(start)
}

fn trim_breaks(bytes: &[u8]) -> &[u8] {
    let is_break = |byte: &u8| matches!(byte, b'\r' | b'\n');
    let start = bytes
        .iter()
        .position(|b| !is_break(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_break(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

/// The complete records of an output, one at a time, each with its original bytes. A CSV record
/// is complete when the parser has seen its terminator outside quotes (line breaks right after
/// it are kept with it); a JSON line when its `\n` is there. What follows the last complete
/// record is [`RecordReader::partial`].
pub(crate) struct RecordReader<R> {
    input: R,
    csv: Option<csv_core::Reader>,
    fields: Vec<u8>,
    ends: Vec<usize>,
    complete_len: u64,
    pending: Vec<u8>,
    done: bool,
}

impl<R: BufRead> RecordReader<R> {
    /// Records of `input`, written in `format`.
    pub(crate) fn new(input: R, format: BatchFormat, delimiter: u8) -> RecordReader<R> {
        let csv = (format == BatchFormat::Csv)
            .then(|| csv_core::ReaderBuilder::new().delimiter(delimiter).build());
        RecordReader {
            input,
            csv,
            // Field contents are not needed; these buffers are overwritten whenever they fill.
            fields: vec![0_u8; READ_BUFFER],
            ends: vec![0_usize; 1024],
            complete_len: 0,
            pending: Vec::new(),
            done: false,
        }
    }

    /// The next complete record, or `None` when none is left.
    ///
    /// # Errors
    ///
    /// An I/O error reading the input.
    pub(crate) fn next_record(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let record = match self.csv.as_mut() {
            Some(_) => self.next_csv()?,
            None => self.next_line()?,
        };
        match record {
            Some(record) => {
                self.complete_len += record.len() as u64;
                Ok(Some(record))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }

    /// Bytes after the last complete record (a partial record, or trailing line breaks); read
    /// in full once [`RecordReader::next_record`] has returned `None`.
    pub(crate) fn partial(&self) -> &[u8] {
        &self.pending
    }

    /// Bytes up to the end of the last complete record.
    pub(crate) fn complete_len(&self) -> u64 {
        self.complete_len
    }

    fn next_csv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let Some(reader) = self.csv.as_mut() else {
            return Ok(None);
        };
        loop {
            let chunk = self.input.fill_buf()?;
            let at_end = chunk.is_empty();
            let (result, read, _, _) = reader.read_record(chunk, &mut self.fields, &mut self.ends);
            self.pending.extend_from_slice(&chunk[..read]);
            self.input.consume(read);
            match result {
                // Given the end of the input, the parser hands over the unfinished last
                // record: it has no terminator, so it is partial.
                ReadRecordResult::Record if at_end => return Ok(None),
                ReadRecordResult::Record => break,
                ReadRecordResult::End => return Ok(None),
                ReadRecordResult::InputEmpty if at_end => return Ok(None),
                ReadRecordResult::InputEmpty
                | ReadRecordResult::OutputFull
                | ReadRecordResult::OutputEndsFull => {}
            }
        }
        // Line breaks right after the record belong to it (the `\n` of a CRLF); the parser
        // skips them anyway at the start of the next record.
        loop {
            let chunk = self.input.fill_buf()?;
            let breaks = chunk
                .iter()
                .take_while(|byte| matches!(byte, b'\r' | b'\n'))
                .count();
            let more = breaks > 0 && breaks == chunk.len();
            self.pending.extend_from_slice(&chunk[..breaks]);
            self.input.consume(breaks);
            if !more {
                break;
            }
        }
        Ok(Some(std::mem::take(&mut self.pending)))
    }

    fn next_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = std::mem::take(&mut self.pending);
        self.input.read_until(b'\n', &mut line)?;
        if line.last() == Some(&b'\n') {
            Ok(Some(line))
        } else {
            self.pending = line;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(format: BatchFormat, contents: &[u8], records: u64, complete: &[u8], last: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, contents).unwrap();
        let existing = scan(&path, format, b',').unwrap().unwrap();
        assert_eq!(existing.records, records, "{contents:?}");
        assert_eq!(
            existing.complete_len,
            complete.len() as u64,
            "{contents:?} should keep {complete:?}"
        );
        assert_eq!(trim_breaks(&existing.last), last, "{contents:?}");
    }

    #[test]
    fn partial_csv_records_are_not_counted() {
        let csv = BatchFormat::Csv;
        check(csv, b"", 0, b"", b"");
        check(csv, b"h,v\n", 1, b"h,v\n", b"h,v");
        check(csv, b"h,v\na,b\r\n", 2, b"h,v\na,b\r\n", b"a,b");
        check(csv, b"h,v\na,b\r", 2, b"h,v\na,b\r", b"a,b");
        check(csv, b"h,v\na,", 1, b"h,v\n", b"h,v");
        // Cut right after a line break inside quotes: still inside the record.
        check(csv, b"h,v\na,\"b\n", 1, b"h,v\n", b"h,v");
        check(
            csv,
            b"h,v\na,\"b\nc\"\nd",
            2,
            b"h,v\na,\"b\nc\"\n",
            b"a,\"b\nc\"",
        );
        check(csv, b"h,v\na,\"b\"\"", 1, b"h,v\n", b"h,v");
    }

    #[test]
    fn partial_lines_are_not_counted() {
        let lines = BatchFormat::Lines;
        check(lines, b"", 0, b"", b"");
        check(lines, b"{}\n{\"a\"", 1, b"{}\n", b"{}");
        check(lines, b"{}\n{}\n", 2, b"{}\n{}\n", b"{}");
    }

    #[test]
    fn a_missing_file_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.csv");
        assert_eq!(scan(&missing, BatchFormat::Csv, b',').unwrap(), None);
    }
}
