//! Resume: reading back what an earlier, interrupted run wrote.
//!
//! Owns counting the complete records of an output file and finding where they end, so that
//! a partial last record (from a kill or crash mid-write) is cut away and the run continues
//! after the last complete one. A CSV record is complete when the CSV parser has seen its
//! terminator outside quotes; a JSON line when its `\n` is there. Also keeps the first and last
//! complete records, so the caller can check that the file is an earlier run over the same
//! input before anything in it is changed.
//!
//! Must not: change the file (the caller truncates, once the check has passed), or read more
//! than a buffer's worth at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
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
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let records = match format {
        BatchFormat::Csv => csv_records(&mut file, delimiter)?,
        BatchFormat::Jsonl | BatchFormat::Lines => line_records(&mut file)?,
    };
    let mut complete_len = records.last.end;
    // Line breaks right after the last record belong to it (the `\n` of a CRLF).
    file.seek(SeekFrom::Start(complete_len))?;
    for byte in BufReader::new(&mut file).bytes() {
        match byte? {
            b'\r' | b'\n' => complete_len += 1,
            _ => break,
        }
    }
    Ok(Some(Existing {
        records: records.count,
        complete_len,
        first: read_range(&mut file, records.first)?,
        last: read_range(&mut file, records.last)?,
    }))
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

/// Complete records of a file: their count and the byte ranges of the first and last.
#[derive(Debug, Default)]
struct Records {
    count: u64,
    first: Range<u64>,
    last: Range<u64>,
}

impl Records {
    fn push(&mut self, range: Range<u64>) {
        self.count += 1;
        if self.count == 1 {
            self.first = range.clone();
        }
        self.last = range;
    }
}

/// Counts CSV records that end with a terminator outside quotes.
fn csv_records(file: &mut File, delimiter: u8) -> std::io::Result<Records> {
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut input = BufReader::with_capacity(READ_BUFFER, file);
    // Field contents are not needed; these buffers are overwritten whenever they fill.
    let mut fields = vec![0_u8; READ_BUFFER];
    let mut ends = vec![0_usize; 1024];
    let mut records = Records::default();
    let (mut offset, mut start) = (0_u64, 0_u64);
    loop {
        let chunk = input.fill_buf()?;
        let at_end = chunk.is_empty();
        let (result, read, _, _) = reader.read_record(chunk, &mut fields, &mut ends);
        input.consume(read);
        offset += read as u64;
        match result {
            // Given the end of the input, the parser hands over the unfinished last record:
            // it has no terminator, so it is partial.
            ReadRecordResult::Record if at_end => break,
            ReadRecordResult::Record => {
                records.push(start..offset);
                start = offset;
            }
            ReadRecordResult::End => break,
            ReadRecordResult::InputEmpty if at_end => break,
            ReadRecordResult::InputEmpty
            | ReadRecordResult::OutputFull
            | ReadRecordResult::OutputEndsFull => {}
        }
    }
    Ok(records)
}

/// Counts lines that end with `\n`.
fn line_records(file: &mut File) -> std::io::Result<Records> {
    let mut input = BufReader::with_capacity(READ_BUFFER, file);
    let mut records = Records::default();
    let (mut offset, mut start) = (0_u64, 0_u64);
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        for (index, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            let end = offset + index as u64 + 1;
            records.push(start..end);
            start = end;
        }
        let read = chunk.len();
        input.consume(read);
        offset += read as u64;
    }
    Ok(records)
}

fn read_range(file: &mut File, range: Range<u64>) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(range.start))?;
    let mut bytes = Vec::new();
    file.take(range.end.saturating_sub(range.start))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
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
