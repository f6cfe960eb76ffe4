//! CSV: the `csv` input format, a header row and then one report per record.
//!
//! Owns parsing records with the csv crate while keeping each record's original bytes, so
//! that the output record is the input record's text, byte for byte, followed by the delimiter
//! and the result columns. The text is kept only when it provably parses back to the same
//! fields with the result columns after it (it always does for well-formed CSV); otherwise,
//! for example for a final record whose quote is never closed, the fields are written anew by
//! the csv writer, quoted only where needed, so that their values are still exactly the input's.
//! Either way, a CSV reader gets the original values back, whatever their bytes (UTF-8 or not).
//!
//! Also owns the CSV's row-level problem (a ragged record) and the naming of the result
//! columns, prefixed with `hostloc_` when the input has a column of that name. Records are separated in the output by the input's own line ending (CRLF when
//! the header ends with CRLF, else LF); blank lines between records are not records, as for
//! every CSV reader, and are not written.
//!
//! Must not: change a field of the user's data, or hold more than one record.

use std::io::Read;

use csv::ByteRecord;

use super::rows::{Event, Row, RowSource, Target};
use super::{BatchError, Endpoint, RESULT_KEY};

/// Reads CSV records, keeping the text of each.
pub(crate) struct CsvSource {
    reader: csv::Reader<Capture<Box<dyn Read + Send>>>,
    delimiter: u8,
    url_column: String,
    input: Endpoint,
    header: Option<Header>,
    result_names: Vec<&'static str>,
    record: ByteRecord,
    rows: u64,
    /// Line breaks before the first byte still held by the capture.
    newlines: u64,
    encoder: FieldEncoder,
}

/// What the header row says about the rows.
struct Header {
    width: usize,
    url_index: usize,
    terminator: &'static [u8],
}

impl CsvSource {
    /// Records of `reader` (which is `input`) separated by `delimiter`, with the URL in the
    /// column named `url_column`; the output header gets the result columns `result_names`.
    pub(crate) fn new(
        reader: Box<dyn Read + Send>,
        delimiter: u8,
        url_column: &str,
        input: Endpoint,
        result_names: Vec<&'static str>,
    ) -> CsvSource {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .buffer_capacity(64 * 1024)
            .from_reader(Capture {
                inner: reader,
                bytes: Vec::new(),
                base: 0,
            });
        CsvSource {
            reader,
            delimiter,
            url_column: url_column.to_owned(),
            input,
            header: None,
            result_names,
            record: ByteRecord::new(),
            rows: 0,
            newlines: 0,
            encoder: FieldEncoder::new(delimiter),
        }
    }

    /// Takes the text of the record just read out of the capture: the record without the
    /// line breaks before it and without its terminator. Also returns the line the record
    /// starts on and the terminator byte, if there was one.
    fn take_text(&mut self) -> (Vec<u8>, u64, Option<u8>) {
        let end = self.reader.position().byte();
        let capture = self.reader.get_mut();
        let length = usize::try_from(end - capture.base)
            .unwrap_or(usize::MAX)
            .min(capture.bytes.len());
        let taken = &capture.bytes[..length];
        // A record never starts with a line break: these end the previous record or are blank
        // lines.
        let leading = taken
            .iter()
            .take_while(|byte| matches!(byte, b'\r' | b'\n'))
            .count();
        let line = 1 + self.newlines + count_newlines(&taken[..leading]);
        let mut text = &taken[leading..];
        let terminator = match text.last() {
            Some(&byte @ (b'\r' | b'\n')) => {
                text = &text[..text.len() - 1];
                Some(byte)
            }
            _ => None,
        };
        let text = text.to_vec();
        self.newlines += count_newlines(taken);
        capture.bytes.drain(..length);
        capture.base = end;
        (text, line, terminator)
    }

    /// The record's output text: its original text when that parses back to the same fields,
    /// else the fields written anew.
    fn original(&mut self, text: Vec<u8>) -> Vec<u8> {
        if keeps_fields(&text, &self.record, self.delimiter) {
            text
        } else {
            self.encoder.encode(&self.record)
        }
    }

    fn header(&mut self, text: Vec<u8>, terminator: Option<u8>) -> Result<Event, BatchError> {
        let url_index = find_column(&self.record, &self.url_column).ok_or_else(|| {
            let mut columns: Vec<String> = self
                .record
                .iter()
                .take(30)
                .map(|name| format!("{:?}", String::from_utf8_lossy(name)))
                .collect();
            if self.record.len() > 30 {
                columns.push("…".to_owned());
            }
            BatchError::NoUrlColumn {
                input: self.input.clone(),
                column: self.url_column.clone(),
                columns: columns.join(", "),
            }
        })?;
        let terminator: &'static [u8] = if terminator == Some(b'\r') {
            b"\r\n"
        } else {
            b"\n"
        };
        let names = result_columns(&self.record, &self.result_names);
        let mut line = self.original(text);
        line.push(self.delimiter);
        line.extend_from_slice(&self.encoder.encode(&names));
        line.extend_from_slice(terminator);
        self.header = Some(Header {
            width: self.record.len(),
            url_index,
            terminator,
        });
        Ok(Event::Header(line))
    }

    fn row(&mut self, text: Vec<u8>, line: u64, width: usize, url_index: usize) -> Row {
        self.rows += 1;
        let location = format!("row {} (line {line})", self.rows);
        let cell = self.record.get(url_index);
        let target = if self.record.len() == width {
            Target::Url(cell.unwrap_or_default().to_vec())
        } else {
            Target::Unusable {
                input: String::from_utf8_lossy(cell.unwrap_or_default()).into_owned(),
                reason: format!(
                    "{location}: {} fields where the header has {width}; the row is kept \
                     as it is, but its URL cannot be told for sure",
                    self.record.len()
                ),
            }
        };
        let mut prefix = self.original(text);
        // A short row is padded with empty cells so that the result columns line up.
        for _ in self.record.len()..width {
            prefix.push(self.delimiter);
        }
        Row {
            number: self.rows,
            line,
            end_offset: self.reader.position().byte(),
            target,
            prefix,
            suffix: Vec::new(),
        }
    }
}

impl RowSource for CsvSource {
    fn next_event(&mut self) -> Result<Option<Event>, BatchError> {
        let read = self.reader.read_byte_record(&mut self.record);
        let read = read.map_err(|error| BatchError::ReadInput {
            input: self.input.clone(),
            line: self.newlines + 1,
            source: match error.into_kind() {
                csv::ErrorKind::Io(source) => source,
                other => std::io::Error::other(format!("{other:?}")),
            },
        })?;
        if !read {
            return Ok(None);
        }
        let (text, line, terminator) = self.take_text();
        let (width, url_index, row_terminator) = match &self.header {
            None => return self.header(text, terminator).map(Some),
            Some(header) => (header.width, header.url_index, header.terminator),
        };
        let mut row = self.row(text, line, width, url_index);
        row.suffix = row_terminator.to_vec();
        Ok(Some(Event::Row(row)))
    }
}

/// The names of the result columns for `header`: `names` (such as
/// [`crate::report::Report::CSV_HEADERS`]),
/// each prefixed with `hostloc_` as often as it takes to differ from every input column.
pub(crate) fn result_columns(header: &ByteRecord, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|name| {
            let mut name = (*name).to_owned();
            while header.iter().any(|column| column == name.as_bytes()) {
                name.insert_str(0, &format!("{RESULT_KEY}_"));
            }
            name
        })
        .collect()
}

/// The URL column: the first named exactly `name`, else the only one whose name matches it
/// ignoring ASCII case and surrounding spaces (exports often say `URL` or ` url`).
pub(crate) fn find_column(header: &ByteRecord, name: &str) -> Option<usize> {
    if let Some(index) = header.iter().position(|column| column == name.as_bytes()) {
        return Some(index);
    }
    let loose = |column: &[u8]| {
        column
            .trim_ascii()
            .eq_ignore_ascii_case(name.trim().as_bytes())
    };
    let mut matches = header
        .iter()
        .enumerate()
        .filter(|(_, column)| loose(column));
    match (matches.next(), matches.next()) {
        (Some((index, _)), None) => Some(index),
        _ => None,
    }
}

/// Whether `text` followed by the delimiter and another field parses as exactly `fields`
/// and that field: then it can stand in the output unchanged.
fn keeps_fields(text: &[u8], fields: &ByteRecord, delimiter: u8) -> bool {
    let mut probe = Vec::with_capacity(text.len() + 3);
    probe.extend_from_slice(text);
    probe.push(delimiter);
    probe.extend_from_slice(b"x\n");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(probe.len().max(64))
        .from_reader(&probe[..]);
    let mut parsed = ByteRecord::new();
    let one = matches!(reader.read_byte_record(&mut parsed), Ok(true));
    let only = matches!(reader.read_byte_record(&mut ByteRecord::new()), Ok(false));
    one && only
        && parsed.len() == fields.len() + 1
        && parsed.iter().zip(fields.iter()).all(|(a, b)| a == b)
        && parsed.get(fields.len()) == Some(b"x")
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|byte| **byte == b'\n').count() as u64
}

/// Writes fields as CSV text without a terminator, quoting only where needed.
pub(crate) struct FieldEncoder {
    builder: csv::WriterBuilder,
}

impl FieldEncoder {
    /// An encoder for `delimiter`.
    pub(crate) fn new(delimiter: u8) -> FieldEncoder {
        let mut builder = csv::WriterBuilder::new();
        builder
            .delimiter(delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(1024);
        FieldEncoder { builder }
    }

    /// The CSV text of `fields`.
    pub(crate) fn encode<I, T>(&self, fields: I) -> Vec<u8>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let mut text = Vec::new();
        {
            let mut writer = self.builder.from_writer(&mut text);
            // Writing into a Vec cannot fail.
            let _ = writer.write_record(fields);
            let _ = writer.flush();
        }
        if text.last() == Some(&b'\n') {
            text.pop();
        }
        text
    }
}

/// Keeps a copy of every byte read until the record it belongs to has been taken.
struct Capture<R> {
    inner: R,
    bytes: Vec<u8>,
    /// Input offset of `bytes[0]`.
    base: u64,
}

impl<R: Read> Read for Capture<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.bytes.extend_from_slice(&buffer[..read]);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;

    /// Reads `input` (delimiter `,`, URL column `url`) and returns the output lines with `R`
    /// as the result, and each row's target.
    fn read(input: &'static [u8]) -> Result<(String, Vec<Target>), BatchError> {
        let mut source = CsvSource::new(
            Box::new(input),
            b',',
            "url",
            Endpoint::Stdin,
            Report::CSV_HEADERS.to_vec(),
        );
        let mut output = Vec::new();
        let mut targets = Vec::new();
        while let Some(event) = source.next_event()? {
            match event {
                Event::Header(line) => output.extend_from_slice(&line),
                Event::Row(row) => {
                    output.extend_from_slice(&row.prefix);
                    output.extend_from_slice(b",R");
                    output.extend_from_slice(&row.suffix);
                    targets.push(row.target);
                }
            }
        }
        Ok((String::from_utf8_lossy(&output).into_owned(), targets))
    }

    const RESULT_HEADER: &str = "verdict,referral,host,registrable_domain,countries,ips,asns,\
                                 as_orgs,cdn,dns_outcome,reason,looked_up_at,warnings";

    #[test]
    fn records_keep_their_text() {
        let (output, targets) = read(
            b"id,\"url\",note\n\
              1,a.nl,\"say \"\"hi\"\", then\nbye\"\n\
              \n\
              2,\"b.nl\",  spaced  \n\
              3,\"\",caf\xc3\xa9\n",
        )
        .unwrap();
        assert_eq!(
            output,
            format!(
                "id,\"url\",note,{RESULT_HEADER}\n\
                 1,a.nl,\"say \"\"hi\"\", then\nbye\",R\n\
                 2,\"b.nl\",  spaced  ,R\n\
                 3,\"\",café,R\n"
            )
        );
        let url = |text: &[u8]| Target::Url(text.to_vec());
        assert_eq!(targets, [url(b"a.nl"), url(b"b.nl"), url(b"")]);
    }

    #[test]
    fn crlf_bom_and_a_missing_final_terminator_are_handled() {
        let (output, targets) = read(b"\xef\xbb\xbfurl,verdict\r\na.nl,x\r\nb.nl,y").unwrap();
        let prefixed = RESULT_HEADER.replacen("verdict", "hostloc_verdict", 1);
        assert_eq!(
            output,
            format!("\u{feff}url,verdict,{prefixed}\r\na.nl,x,R\r\nb.nl,y,R\r\n")
        );
        assert_eq!(targets.len(), 2);
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_written_anew() {
        let (output, targets) = read(b"url,note\na.nl,\"open\n").unwrap();
        assert!(
            output.ends_with("a.nl,\"open\n\",R\n"),
            "{output:?} must keep the value \"open\\n\" intact"
        );
        assert_eq!(targets, [Target::Url(b"a.nl".to_vec())]);
    }

    #[test]
    fn ragged_rows_are_invalid_and_kept_and_broken_cells_looked_up() {
        let (output, targets) = read(b"url,a,b\nx.nl\nx.nl,1,2,3\n\xffx.nl,1,2\n").unwrap();
        assert!(
            output.ends_with("\nx.nl,,,R\nx.nl,1,2,3,R\n\u{fffd}x.nl,1,2,R\n"),
            "{output:?}"
        );
        let reasons: Vec<&str> = targets
            .iter()
            .map(|target| match target {
                Target::Unusable { reason, .. } => reason.as_str(),
                Target::Url(_) => "",
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "row 1 (line 2): 1 fields where the header has 3; the row is kept as it is, \
                 but its URL cannot be told for sure",
                "row 2 (line 3): 4 fields where the header has 3; the row is kept as it is, \
                 but its URL cannot be told for sure",
                "",
            ]
        );
    }

    #[test]
    fn the_url_column_is_found_loosely_or_reported() {
        assert!(read(b"id, URL \n1,a.nl\n").is_ok());
        let error = read(b"id,link,Url,URL\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the CSV header of stdin has no column \"url\" (its columns: \"id\", \"link\", \
             \"Url\", \"URL\"); name the URL column with --url-column"
        );
        assert_eq!(read(b"").unwrap().0, "");
    }
}
