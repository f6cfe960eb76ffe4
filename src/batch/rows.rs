//! Rows: what every input format turns its input into, and the thread that reads it.
//!
//! Owns [`Row`] (the URL to look up, or why there is none, plus the row's original bytes for the
//! output), [`Event`], opening the input, and the reader thread that feeds rows through a
//! bounded channel so that reading never runs more than a fixed number of rows ahead of the
//! lookups. Must not: look anything up, or know how a result is written (see `output`).

use std::borrow::Cow;
use std::io::{BufReader, Read};

use tokio::sync::mpsc;

use super::csv_rows::CsvSource;
use super::jsonl_rows::JsonlSource;
use super::line_rows::LineSource;
use super::output::ResultEncoder;
use super::sniff::{TextOnly, as_not_text};
use super::{BatchError, Endpoint, Plan, Shard};
use crate::config::BatchFormat;

/// Size of the read buffer on the input.
const READ_BUFFER: usize = 64 * 1024;

/// What one row asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Look up this report, as the input's bytes (the pipeline replaces what is not UTF-8,
    /// with a warning, as for `hostloc lookup`).
    Url(Vec<u8>),
    /// The row has no usable URL: its result is `invalid` with this reason.
    Unusable {
        /// The report text to show as the result's `input` (empty when there is none).
        input: String,
        /// Where and what the problem is, e.g. `line 4: not valid JSON: …`.
        reason: String,
    },
}

/// One input row, ready to be looked up and written back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// The row's number among the data rows, from 1 (a CSV header is not counted).
    pub(crate) number: u64,
    /// The input line the row starts on, from 1.
    pub(crate) line: u64,
    /// Input bytes read up to the end of this row, for the progress bar.
    pub(crate) end_offset: u64,
    /// What to look up.
    pub(crate) target: Target,
    /// The output bytes that come before the result: the original row (CSV, JSONL).
    pub(crate) prefix: Vec<u8>,
    /// The output bytes that come after the result, ending with the record terminator.
    pub(crate) suffix: Vec<u8>,
}

impl Row {
    /// The report text the row's result will have as its `input` (bytes that are not UTF-8
    /// replaced, as the pipeline replaces them).
    pub(crate) fn report_text(&self) -> Cow<'_, str> {
        match &self.target {
            Target::Url(url) => String::from_utf8_lossy(url),
            Target::Unusable { input, .. } => Cow::Borrowed(input),
        }
    }

    /// The bytes the row's output record starts with whatever the result: its prefix, or for
    /// a bare result (format `lines`) the start of the result object, `{"input":…`.
    pub(crate) fn output_start(&self) -> Vec<u8> {
        if !self.prefix.is_empty() {
            return self.prefix.clone();
        }
        let mut start = b"{\"input\":".to_vec();
        // Serialising a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut start, &self.report_text());
        start
    }
}

/// What the reader produces, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The complete CSV header line of the output (original header plus result columns).
    Header(Vec<u8>),
    /// A row.
    Row(Row),
}

/// A format's reader: the next event, or `None` at the end of the input.
pub(crate) trait RowSource: Send {
    /// Reads the next event.
    ///
    /// # Errors
    ///
    /// [`BatchError::ReadInput`] and, for CSV, [`BatchError::NoUrlColumn`].
    fn next_event(&mut self) -> Result<Option<Event>, BatchError>;
}

/// Opens the input of `plan` with the reader of its format.
///
/// # Errors
///
/// [`BatchError::OpenInput`] when the file cannot be opened.
pub(crate) fn open(plan: &Plan) -> Result<Box<dyn RowSource>, BatchError> {
    let source = open_format(plan)?;
    Ok(match plan.shard {
        Some(shard) => Box::new(Sharded { source, shard }),
        None => source,
    })
}

/// A source that passes on only the rows of one shard (and every header).
struct Sharded {
    source: Box<dyn RowSource>,
    shard: Shard,
}

impl RowSource for Sharded {
    fn next_event(&mut self) -> Result<Option<Event>, BatchError> {
        loop {
            match self.source.next_event()? {
                Some(Event::Row(row)) if !self.shard.has_row(row.number) => {}
                event => return Ok(event),
            }
        }
    }
}

fn open_format(plan: &Plan) -> Result<Box<dyn RowSource>, BatchError> {
    let raw: Box<dyn Read + Send> = match &plan.input {
        Endpoint::File(path) => Box::new(TextOnly::new(std::fs::File::open(path).map_err(
            |source| BatchError::OpenInput {
                input: plan.input.clone(),
                source,
            },
        )?)),
        _ => Box::new(TextOnly::new(std::io::stdin())),
    };
    Ok(match plan.format {
        BatchFormat::Csv => Box::new(CsvSource::new(
            raw,
            plan.delimiter,
            &plan.url_column,
            plan.input.clone(),
            ResultEncoder::csv_headers(plan.output_format, plan.compare.is_some()),
        )),
        BatchFormat::Jsonl => Box::new(JsonlSource::new(
            BufReader::with_capacity(READ_BUFFER, raw),
            &plan.url_column,
            plan.input.clone(),
        )),
        BatchFormat::Lines => Box::new(LineSource::new(
            BufReader::with_capacity(READ_BUFFER, raw),
            plan.input.clone(),
        )),
    })
}

/// Reads `source` on a thread of its own into a channel of `capacity` events. The thread ends
/// at the end of the input, after an error (sent as the last item), or when the receiver is
/// dropped. It is a plain thread rather than a blocking task so that a read blocked on a
/// terminal or pipe never holds up the process's exit.
pub(crate) fn spawn_reader(
    mut source: Box<dyn RowSource>,
    input: Endpoint,
    capacity: usize,
) -> mpsc::Receiver<Result<Event, BatchError>> {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let spawned = std::thread::Builder::new()
        .name("hostloc-batch-reader".to_owned())
        .spawn({
            let sender = sender.clone();
            move || {
                loop {
                    let event = source.next_event().map_err(not_text);
                    let last = !matches!(event, Ok(Some(_)));
                    let Some(event) = event.transpose() else {
                        return;
                    };
                    if sender.blocking_send(event).is_err() || last {
                        return;
                    }
                }
            }
        });
    if let Err(source) = spawned {
        // Without a thread there is no input; say so in order, as the only item.
        let _ = sender.try_send(Err(BatchError::ReadInput {
            input,
            line: 0,
            source,
        }));
    }
    receiver
}

/// An input refused by [`TextOnly`] as not text: its own error rather than a read error at
/// line 1, since nothing of it was read as rows.
fn not_text(error: BatchError) -> BatchError {
    if let BatchError::ReadInput { input, source, .. } = &error
        && let Some(what) = as_not_text(source)
    {
        return BatchError::NotText {
            input: input.clone(),
            what,
        };
    }
    error
}

/// An input read line by line, counting lines and bytes so that every row knows where it ends
/// (for messages, and for `--resume`). Shared by the `jsonl` and `lines` formats.
pub(crate) struct Lines<R> {
    reader: R,
    input: Endpoint,
    line: u64,
    offset: u64,
    buffer: Vec<u8>,
}

impl<R: std::io::BufRead> Lines<R> {
    /// Lines of `reader`, which is `input`.
    pub(crate) fn new(reader: R, input: Endpoint) -> Lines<R> {
        Lines {
            reader,
            input,
            line: 0,
            offset: 0,
            buffer: Vec::new(),
        }
    }

    /// Reads the next line; returns its 1-based number and the input offset just after it, or
    /// `None` at the end. The line itself, `\n` included when present, is [`Lines::text`].
    ///
    /// # Errors
    ///
    /// [`BatchError::ReadInput`] naming the input and the line that could not be read.
    pub(crate) fn advance(&mut self) -> Result<Option<(u64, u64)>, BatchError> {
        self.buffer.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.buffer)
            .map_err(|source| BatchError::ReadInput {
                input: self.input.clone(),
                line: self.line + 1,
                source,
            })?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        self.offset += read as u64;
        Ok(Some((self.line, self.offset)))
    }

    /// The line read by the last [`Lines::advance`].
    pub(crate) fn text(&self) -> &[u8] {
        &self.buffer
    }
}

/// Splits one line read with `read_until(b'\n')` from its terminator: the text without `\n`
/// and a `\r` before it.
pub(crate) fn line_text(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Decodes a line or cell as UTF-8, or says where it stops being UTF-8.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|error| {
        format!(
            "not valid UTF-8 (byte {} cannot be decoded)",
            error.valid_up_to() + 1
        )
    })
}
