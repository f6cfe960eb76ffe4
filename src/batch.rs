//! Batch: `hostloc batch`, the enrichment of a CSV, JSONL or plain-lines export of reports.
//!
//! Owns the run of one batch: choosing the format, reading rows on a thread of their own,
//! looking them up with bounded concurrency while writing them back in input order, the
//! progress bar and summary, stopping on SIGINT / SIGTERM, `--resume`, and matching each row
//! to an earlier output for `--compare`. Each input format lives in its own submodule
//! (`csv_rows`, `jsonl_rows`, `line_rows`), which turns input bytes into rows that carry their
//! original text; `output` appends the result (whole or as its ICCAM view); `resume` reads
//! back what an interrupted run wrote; `compare` reads an earlier output and says what moved;
//! `progress` draws the bar and words the summary.
//!
//! Must not: look anything up itself (every row goes through [`Pipeline::lookup`]), hold more
//! than a bounded number of rows in memory, change a byte of the user's columns, or drop,
//! duplicate or reorder a row. The output schema is documented in `docs/batch.md` and, for the
//! CSV result columns, in [`crate::report`].
//!
//! Beyond one machine: `--shard I/N` keeps every N-th data row (by row index, so N runs cover
//! the input exactly once), and [`merge`] interleaves the N outputs back into input order.

mod compare;
mod csv_rows;
mod jsonl_rows;
mod line_rows;
pub mod merge;
mod output;
mod progress;
mod resume;
mod rows;
mod sniff;

use std::fmt;
use std::future::Future;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};

use crate::Pipeline;
use crate::config::{BatchArgs, BatchFormat, OutputFormat};
use crate::plural::count;
use crate::report::Report;
use crate::verdict::Verdict;

pub use self::output::url_list_csv;

use self::compare::{Comparison, Earlier, Facts};
use self::output::{Output, ResultEncoder};
use self::progress::{Progress, Tally};
use self::resume::Existing;
use self::rows::{Event, Row, Target};
pub use self::sniff::NotText;

/// The key (JSONL) under which the result goes, and the stem of the CSV result columns'
/// prefix when a name is taken.
pub const RESULT_KEY: &str = "hostloc";

/// Rows read ahead of the lookups at most, on top of the lookups in flight.
const READ_AHEAD_MAX: usize = 4096;

/// Rows looked up together on one task at most: enough that a task's start and wake-up are
/// shared by many IP-literal rows, few enough that both cores get chunks of a short input.
const CHUNK_ROWS_MAX: usize = 64;

/// Chunks in flight at least (the rows of `--concurrency` are split into this many), so that
/// while the writer drains one chunk every core has the next ones to answer.
const CHUNKS_IN_FLIGHT: usize = 4;

/// One shard of a batch run over several machines: the data rows whose index (from 0, a CSV
/// header not counted) leaves remainder `index` when divided by `count`. Written `I/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u64,
    /// How many shards there are, at least 1.
    pub count: u64,
}

impl Shard {
    /// Whether the data row numbered `number` (from 1) belongs to this shard.
    pub fn has_row(self, number: u64) -> bool {
        number.saturating_sub(1) % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("{text:?} is not a shard I/N (e.g. 0/4: the first of four)");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = index.trim().parse().map_err(|_| usage())?;
        let count: u64 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 {
            return Err(format!("{text:?}: the number of shards must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "{text:?}: shards are numbered from 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where rows come from or go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Standard input.
    Stdin,
    /// Standard output.
    Stdout,
    /// A file.
    File(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Stdin => f.write_str("stdin"),
            Endpoint::Stdout => f.write_str("stdout"),
            Endpoint::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why a batch could not run to the end. Rows that cannot be looked up are not errors: they
/// come out with verdict `invalid`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The input file cannot be opened.
    #[error("cannot open the input {input}")]
    OpenInput {
        /// The input.
        input: Endpoint,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Reading the input failed part way.
    #[error("cannot read the input {input} at line {line}")]
    ReadInput {
        /// The input.
        input: Endpoint,
        /// The line being read.
        line: u64,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The input is not text (a workbook, a compressed file, a PDF, UTF-16): refused before a
    /// row is read.
    #[error("the input {input} is {what}")]
    NotText {
        /// The input.
        input: Endpoint,
        /// What it is, and what to do instead.
        what: NotText,
    },
    /// A CSV header without the URL column: every row would be `invalid`, so nothing is done.
    #[error(
        "the CSV header of {input} has no column {column:?} (its columns: {columns}); \
             name the URL column with --url-column"
    )]
    NoUrlColumn {
        /// The input.
        input: Endpoint,
        /// The column asked for.
        column: String,
        /// The header's column names, comma-separated.
        columns: String,
    },
    /// The output cannot be created or opened.
    #[error("cannot open the output {output}")]
    OpenOutput {
        /// The output.
        output: Endpoint,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Writing the output failed part way.
    #[error("cannot write the output {output} (after {})", count(*rows, "row", "rows"))]
    WriteOutput {
        /// The output.
        output: Endpoint,
        /// Rows known to be completely written before the failure.
        rows: u64,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// `--resume` cannot read back the output file.
    #[error("cannot read back the output {output} to resume")]
    ReadOutput {
        /// The output.
        output: Endpoint,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The output file is the input file; writing would destroy the input.
    #[error("the output {output} is the input file; write the results to another file")]
    OutputIsInput {
        /// The file.
        output: PathBuf,
    },
    /// The earlier output of `--compare` cannot be read.
    #[error("cannot read the earlier output {path} to compare with")]
    ReadEarlier {
        /// The earlier output.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The earlier output of `--compare` is not an enriched output hostloc can compare with.
    #[error(
        "cannot compare with {path}: {problem}; --compare takes a CSV or JSONL output of \
         hostloc batch with the full result"
    )]
    Earlier {
        /// The earlier output.
        path: PathBuf,
        /// What does not fit.
        problem: String,
    },
    /// The earlier output of `--compare` is the output file, which the run would overwrite.
    #[error(
        "the output {output} is the earlier output to compare with; write the results to \
         another file"
    )]
    CompareIsOutput {
        /// The file.
        output: PathBuf,
    },
    /// `--resume` found an output that is not an earlier run over this input.
    #[error("cannot resume into {output}: {problem}")]
    Resume {
        /// The output file.
        output: Endpoint,
        /// What does not fit.
        problem: ResumeProblem,
    },
}

/// Why an output file cannot be resumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeProblem {
    /// Resuming needs a file to read back.
    #[error("resuming needs an output file (-o FILE), not stdout")]
    NotAFile,
    /// The CSV header differs from the one this input and these options give.
    #[error(
        "its header is not the one this input gives (a different input, --url-column or \
         --delimiter?)"
    )]
    HeaderDiffers,
    /// The output holds more rows than the input has.
    #[error(
        "it already holds {} but the input has only {input_rows}",
        count(*rows, "row", "rows")
    )]
    MoreRowsThanInput {
        /// Complete rows in the output.
        rows: u64,
        /// Rows in the input.
        input_rows: u64,
    },
    /// The last complete row of the output is not the same row of the input.
    #[error(
        "its row {row} is not row {row} of the input (a different input, format or \
         --url-column?)"
    )]
    RowDiffers {
        /// The row number (1-based, header not counted).
        row: u64,
    },
}

/// What ended a run early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        })
    }
}

/// How a batch run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Every row was written.
    pub complete: bool,
    /// Rows that were already in the output (`--resume`) and were kept.
    pub resumed: u64,
    /// Rows written by this run.
    pub written: u64,
    /// The last input line read into a written row (0 when none).
    pub last_line: u64,
    /// Rows of this run per verdict, in [`Verdict::ALL`] order.
    pub verdicts: [u64; 8],
    /// Rows of this run whose DNS lookup failed (SERVFAIL, REFUSED, timeout, error).
    pub dns_failures: u64,
    /// The signal that stopped the run, if one did.
    pub stopped_by: Option<Stop>,
    /// How long the run took.
    pub elapsed: Duration,
    /// With `--compare`, how this run's rows compare with the earlier output.
    pub compared: Option<Compared>,
}

/// How the rows of a run compare with an earlier output (`--compare`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    /// The earlier output.
    pub earlier: PathBuf,
    /// Rows of this run whose countries, addresses, AS numbers or verdict changed.
    pub moved: u64,
    /// Rows of this run that are as they were.
    pub unchanged: u64,
    /// Rows of this run that the earlier output does not have.
    pub new: u64,
    /// Earlier rows that no row of the input has (known only when the run is complete).
    pub vanished: Option<u64>,
    /// Lines or records of the earlier output that held no readable result.
    pub unreadable: u64,
}

impl BatchOutcome {
    /// Rows of this run with `verdict`.
    pub fn count(&self, verdict: Verdict) -> u64 {
        Verdict::ALL
            .iter()
            .position(|candidate| *candidate == verdict)
            .map_or(0, |index| self.verdicts[index])
    }
}

/// Runs `hostloc batch` until the input ends or SIGINT / SIGTERM arrives. Progress and the
/// summary go to stderr (unless `--quiet`).
///
/// # Errors
///
/// [`BatchError`] when the input or output cannot be used, naming the file and the line; the
/// summary printed before says how far the run got. A stop by signal is not an error: the
/// outcome says `complete: false`.
pub async fn run(pipeline: &Pipeline, args: &BatchArgs) -> Result<BatchOutcome, BatchError> {
    run_until(pipeline, args, stop_signal()).await
}

/// [`run`], stopping when `stop` completes instead of on a signal.
///
/// # Errors
///
/// As [`run`].
pub async fn run_until(
    pipeline: &Pipeline,
    args: &BatchArgs,
    stop: impl Future<Output = Stop>,
) -> Result<BatchOutcome, BatchError> {
    let started = Instant::now();
    let plan = Plan::from_args(args)?;
    let mut progress = Progress::new(
        !args.quiet && std::io::stderr().is_terminal(),
        plan.input_len,
        started,
    );
    let mut tally = Tally::default();
    let result = execute(pipeline, &plan, stop, &mut progress, &mut tally).await;
    progress.finish();
    let mut outcome = tally.outcome(result.as_ref().ok().copied(), started.elapsed());
    if let Some(earlier) = &plan.compare {
        let left = plan
            .earlier
            .lock()
            .ok()
            .and_then(|e| e.as_ref().map(|e| (e.left(), e.unreadable)));
        outcome.compared = left.map(|(left, unreadable)| Compared {
            earlier: earlier.clone(),
            moved: tally.moved,
            unchanged: tally.unchanged,
            new: tally.new,
            // One shard reads a part of the input by design: the earlier rows of the other
            // shards are not vanished, so the count is left out.
            vanished: (outcome.complete && plan.shard.is_none()).then_some(left),
            unreadable,
        });
    }
    if let Err(BatchError::WriteOutput { rows, .. }) = &result {
        // Rows still in the buffer when writing failed may not have reached the file, so the
        // summary gives only the rows known to be there.
        outcome = BatchOutcome {
            written: *rows,
            last_line: 0,
            verdicts: [0; 8],
            dns_failures: 0,
            compared: None,
            ..outcome
        };
    }
    // The summary says how far a run got; a run that never got going (no input, no URL
    // column, an input that is not text, a refused resume, a read error before the first row)
    // only gets the error, and a closed pipe nothing at all.
    let got_going = match &result {
        Ok(_) => true,
        Err(BatchError::WriteOutput { source, .. }) => {
            source.kind() != std::io::ErrorKind::BrokenPipe
        }
        Err(BatchError::ReadInput { .. }) => outcome.written + outcome.resumed > 0,
        Err(_) => false,
    };
    if !args.quiet && got_going {
        eprintln!("{}", progress::summary(&outcome, &plan.input, &plan.output));
    }
    result.map(|_| outcome)
}

/// What a run reads and writes, decided from the arguments once.
struct Plan {
    format: BatchFormat,
    delimiter: u8,
    url_column: String,
    input: Endpoint,
    input_len: Option<u64>,
    output: Endpoint,
    output_format: OutputFormat,
    compare: Option<PathBuf>,
    /// With `--compare`, the earlier output's rows not yet matched (loaded when the run
    /// starts). Taken from in input order, as rows are read.
    earlier: Mutex<Option<Earlier>>,
    resume: bool,
    concurrency: usize,
    shard: Option<Shard>,
}

impl Plan {
    fn from_args(args: &BatchArgs) -> Result<Plan, BatchError> {
        let input = endpoint(args.input.as_deref(), Endpoint::Stdin);
        let output = endpoint(args.output.as_deref(), Endpoint::Stdout);
        // The extension that decides: the input's, or for stdin the output's.
        let named = match (&input, &output) {
            (Endpoint::File(path), _) | (Endpoint::Stdin, Endpoint::File(path)) => Some(path),
            _ => None,
        };
        let (format, delimiter) = format_of(
            named.map(PathBuf::as_path),
            args.row_format(),
            args.delimiter,
        );
        if let (Endpoint::File(input_path), Endpoint::File(output_path)) = (&input, &output)
            && same_file(input_path, output_path)
        {
            return Err(BatchError::OutputIsInput {
                output: output_path.clone(),
            });
        }
        if let (Some(compare), Endpoint::File(output_path)) = (&args.compare, &output)
            && same_file(compare, output_path)
        {
            return Err(BatchError::CompareIsOutput {
                output: output_path.clone(),
            });
        }
        if args.resume && output == Endpoint::Stdout {
            return Err(BatchError::Resume {
                output,
                problem: ResumeProblem::NotAFile,
            });
        }
        let input_len = match &input {
            Endpoint::File(path) => std::fs::metadata(path)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|metadata| metadata.len()),
            _ => None,
        };
        Ok(Plan {
            format,
            delimiter,
            url_column: args.url_column.clone(),
            input,
            input_len,
            output,
            output_format: args.output_format(),
            compare: args.compare.clone(),
            earlier: Mutex::new(None),
            resume: args.resume,
            concurrency: usize::try_from(args.concurrency).unwrap_or(256).max(1),
            shard: args.shard,
        })
    }
}

/// The format and CSV delimiter: as given, or guessed from `path`'s extension (.csv and .tsv:
/// csv, with a tab for .tsv; .jsonl and .ndjson: jsonl; anything else: lines).
fn format_of(
    path: Option<&Path>,
    format: Option<BatchFormat>,
    delimiter: Option<u8>,
) -> (BatchFormat, u8) {
    let extension = path
        .and_then(|path| path.extension())
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let guessed = match extension.as_str() {
        "csv" | "tsv" => BatchFormat::Csv,
        "jsonl" | "ndjson" => BatchFormat::Jsonl,
        _ => BatchFormat::Lines,
    };
    let delimiter = delimiter.unwrap_or(if extension == "tsv" { b'\t' } else { b',' });
    (format.unwrap_or(guessed), delimiter)
}

/// `-` and no path both mean the standard stream.
fn endpoint(path: Option<&Path>, standard: Endpoint) -> Endpoint {
    match path {
        None => standard,
        Some(path) if path.as_os_str() == "-" => standard,
        Some(path) => Endpoint::File(path.to_owned()),
    }
}

/// Whether two paths name one existing file (through symlinks, and on Unix hard links too).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// What one input row became, in input order.
enum Done {
    Header(Vec<u8>),
    Row(Row, Answered),
}

/// A row's result, encoded, with what the tally needs to know of it.
struct Answered {
    verdict: Verdict,
    dns_failed: bool,
    /// With `--compare`: `Some(moved)`, where `moved` is `None` for a row the earlier output
    /// does not have.
    moved: Option<Option<bool>>,
    result: std::io::Result<Vec<u8>>,
}

/// The run proper. `Ok(Some(stop))` when a signal stopped it, `Ok(None)` when the input ended.
///
/// The output is opened first, so that one that cannot be written is refused before any work,
/// but it is changed only from the first write on: a run that ends before that leaves it as it
/// was (see `output`).
async fn execute(
    pipeline: &Pipeline,
    plan: &Plan,
    stop: impl Future<Output = Stop>,
    progress: &mut Progress,
    tally: &mut Tally,
) -> Result<Option<Stop>, BatchError> {
    let existing =
        match (&plan.output, plan.resume) {
            (Endpoint::File(path), true) => resume::scan(path, plan.format, plan.delimiter)
                .map_err(|source| BatchError::ReadOutput {
                    output: plan.output.clone(),
                    source,
                })?,
            _ => None,
        };
    if let Some(path) = &plan.compare {
        let earlier = Earlier::load(path, &plan.url_column, plan.delimiter)?;
        if let Ok(mut slot) = plan.earlier.lock() {
            *slot = Some(earlier);
        }
    }
    let keep_bytes = existing
        .as_ref()
        .map_or(0, |existing| existing.complete_len);
    let mut output = Output::open(&plan.output, existing.is_some(), keep_bytes)?;
    let ended = match write_rows(pipeline, plan, existing, stop, progress, tally, &mut output).await
    {
        Ok(None) => output.finish().map(|()| None),
        Ok(Some(stopped)) => output.flush().map(|()| Some(stopped)),
        Err(error) => output.flush().and(Err(error)),
    };
    if !matches!(ended, Ok(None)) {
        output.abandon();
    }
    ended
}

/// Reads the input, looks its rows up and writes them to `output` in order, until the input
/// ends (`Ok(None)`) or a signal stops the run.
async fn write_rows(
    pipeline: &Pipeline,
    plan: &Plan,
    existing: Option<Existing>,
    stop: impl Future<Output = Stop>,
    progress: &mut Progress,
    tally: &mut Tally,
    output: &mut Output,
) -> Result<Option<Stop>, BatchError> {
    let source = rows::open(plan)?;
    let read_ahead = plan.concurrency.clamp(64, READ_AHEAD_MAX);
    let mut events = rows::spawn_reader(source, plan.input.clone(), read_ahead);
    let mut stop = pin!(stop.fuse());

    // Resuming: read past the rows the output already holds, checking that they are this
    // input's, before anything in the output is changed.
    let mut header_written = false;
    if let Some(existing) = &existing {
        let skipped = tokio::select! {
            skipped = skip_existing(&mut events, existing, plan) => skipped?,
            stopped = &mut stop => return Ok(Some(stopped)),
        };
        header_written = skipped.header;
        tally.resumed = skipped.rows;
        tally.last_line = skipped.last_line;
        progress.skipped(skipped.rows, skipped.offset);
    }
    let encoder = ResultEncoder::new(plan.format, plan.delimiter, plan.output_format);

    // Rows travel in chunks of what the reader has ready, each chunk looked up on a task of
    // its own, so that lookups use every core of the runtime while this task writes in input
    // order. A row that needs no DNS (an IP literal, an invalid report) is answered at its
    // first poll, without a task, allocation or wake-up of its own.
    let chunk_rows = (plan.concurrency / CHUNKS_IN_FLIGHT).clamp(1, CHUNK_ROWS_MAX);
    let chunks = futures::stream::unfold(events, move |mut events| async move {
        let mut chunk = Vec::with_capacity(chunk_rows);
        (events.recv_many(&mut chunk, chunk_rows).await > 0).then_some((chunk, events))
    });
    let mut results = pin!(
        chunks
            .map(|chunk| {
                // Chunks are formed in input order, so duplicates take the earlier output's
                // rows in order too.
                let items: Vec<Item> = chunk
                    .into_iter()
                    .map(|event| match event {
                        Ok(Event::Row(row)) => {
                            let earlier = plan.take_earlier(&row);
                            Item::Row(row, earlier)
                        }
                        Ok(Event::Header(line)) => Item::Header(line),
                        Err(error) => Item::Failed(error),
                    })
                    .collect();
                let task = tokio::spawn(answer_chunk(pipeline.clone(), items, encoder.clone()));
                async move {
                    task.await
                        .unwrap_or_else(|error| match error.try_into_panic() {
                            // Each row's lookup has its own guard (`answer_row`); a panic
                            // around them is a bug that loses rows, so it is not hidden.
                            Ok(panic) => std::panic::resume_unwind(panic),
                            Err(error) => unreachable!("a chunk task is never cancelled: {error}"),
                        })
                }
            })
            .buffered(plan.concurrency.div_ceil(chunk_rows))
            .flat_map(futures::stream::iter)
    );

    loop {
        if let Some(stopped) = stop.as_mut().now_or_never() {
            return Ok(Some(stopped));
        }
        let next = match results.next().now_or_never() {
            Some(next) => next,
            None => {
                // Nothing is ready: the lookups are waiting on DNS or the input on its
                // reader, so this is the moment to put what is done on disk.
                output.flush()?;
                tokio::select! {
                    next = results.next() => next,
                    stopped = &mut stop => return Ok(Some(stopped)),
                }
            }
        };
        match next {
            None => return Ok(None),
            Some(Err(error)) => return Err(error),
            Some(Ok(Done::Header(line))) => {
                if !header_written {
                    output.write_raw(&line)?;
                    header_written = true;
                }
            }
            Some(Ok(Done::Row(row, answered))) => {
                output.write_row(&row, answered.result, &encoder)?;
                tally.add(answered.verdict, answered.dns_failed, row.line);
                tally.compared(answered.moved);
                progress.row_written(tally, row.end_offset);
            }
        }
    }
}

/// What [`skip_existing`] read past.
struct Skipped {
    rows: u64,
    header: bool,
    offset: u64,
    last_line: u64,
}

/// Reads the rows an earlier run already wrote, checking the CSV header and the last row
/// against the output.
async fn skip_existing(
    events: &mut tokio::sync::mpsc::Receiver<Result<Event, BatchError>>,
    existing: &Existing,
    plan: &Plan,
) -> Result<Skipped, BatchError> {
    let problem = |problem| BatchError::Resume {
        output: plan.output.clone(),
        problem,
    };
    let mut skipped = Skipped {
        rows: 0,
        header: false,
        offset: 0,
        last_line: 0,
    };
    let mut records = existing.records;
    if records == 0 {
        return Ok(skipped);
    }
    if plan.format == BatchFormat::Csv {
        match events.recv().await.transpose()? {
            Some(Event::Header(line)) => {
                if !resume::same_record(&line, &existing.first) {
                    return Err(problem(ResumeProblem::HeaderDiffers));
                }
            }
            _ => return Err(problem(ResumeProblem::HeaderDiffers)),
        }
        skipped.header = true;
        records -= 1;
    }
    let mut last = None;
    while skipped.rows < records {
        match events.recv().await.transpose()? {
            Some(Event::Row(row)) => {
                // A kept row was compared by the run that wrote it; it is not vanished.
                let _ = plan.take_earlier(&row);
                skipped.rows += 1;
                skipped.offset = row.end_offset;
                skipped.last_line = row.line;
                last = Some(row);
            }
            Some(Event::Header(_)) => {}
            None => {
                return Err(problem(ResumeProblem::MoreRowsThanInput {
                    rows: records,
                    input_rows: skipped.rows,
                }));
            }
        }
    }
    if let Some(row) = last
        && !resume::starts_with_row(&existing.last, &row.output_start())
    {
        return Err(problem(ResumeProblem::RowDiffers { row: row.number }));
    }
    Ok(skipped)
}

/// The report for one row: a lookup of its URL, or for a row without a usable URL the
/// pipeline's `invalid` result with the row's problem as the reason.
async fn answer(pipeline: &Pipeline, target: &Target) -> Report {
    match target {
        Target::Url(url) => pipeline.lookup_bytes(url).await,
        Target::Unusable { input, reason } => pipeline.unusable(input, reason),
    }
}

/// With `--compare`, what the earlier output said about a row: `Some(None)` when it has no
/// row with its text; `None` without `--compare`.
type EarlierFacts = Option<Option<Facts>>;

impl Plan {
    /// Takes the earlier output's next row with `row`'s report text (see [`EarlierFacts`]).
    fn take_earlier(&self, row: &Row) -> EarlierFacts {
        let mut earlier = self.earlier.lock().ok()?;
        let earlier = earlier.as_mut()?;
        Some(earlier.take(&row.report_text()))
    }
}

/// One input event on its way to a chunk's task: a row with what `--compare`'s earlier output
/// says about it (taken in input order), the CSV header, or the reader's error.
enum Item {
    Row(Row, EarlierFacts),
    Header(Vec<u8>),
    Failed(BatchError),
}

/// Answers the rows of a chunk, all at once, and returns the chunk in its order. A row whose
/// lookup completes at its first poll (no DNS) reuses the allocation of the row before; only
/// a row that waits (for DNS) keeps one of its own while it waits beside the others.
async fn answer_chunk(
    pipeline: Pipeline,
    items: Vec<Item>,
    encoder: ResultEncoder,
) -> Vec<Result<Done, BatchError>> {
    let mut answers: Vec<Option<Answered>> = Vec::with_capacity(items.len());
    {
        let mut waiting = futures::stream::FuturesUnordered::new();
        let mut spare = None;
        for (index, item) in items.iter().enumerate() {
            let Item::Row(row, earlier) = item else {
                answers.push(None);
                continue;
            };
            let lookup = answer_row(&pipeline, row, &encoder, earlier.as_ref());
            let mut slot = match spare.take() {
                Some(slot) => refill(slot, lookup),
                None => Box::pin(lookup),
            };
            match slot.as_mut().now_or_never() {
                Some(answered) => {
                    answers.push(Some(answered));
                    spare = Some(slot);
                }
                None => {
                    answers.push(None);
                    waiting.push(slot.map(move |answered| (index, answered)));
                }
            }
        }
        while let Some((index, answered)) = waiting.next().await {
            answers[index] = Some(answered);
        }
    }
    items
        .into_iter()
        .zip(answers)
        .map(|(item, answered)| match (item, answered) {
            (Item::Row(row, _), Some(answered)) => Ok(Done::Row(row, answered)),
            (Item::Header(line), _) => Ok(Done::Header(line)),
            (Item::Failed(error), _) => Err(error),
            (Item::Row(..), None) => unreachable!("every row of a chunk is answered"),
        })
        .collect()
}

/// `slot`, its finished future dropped, holding `future` instead.
fn refill<F: Future>(mut slot: std::pin::Pin<Box<F>>, future: F) -> std::pin::Pin<Box<F>> {
    slot.set(future);
    slot
}

/// [`answer`] and the encoding of its result (compared with `earlier`). Should a lookup panic,
/// the row still comes out, `invalid`, with the bug as its reason.
async fn answer_row(
    pipeline: &Pipeline,
    row: &Row,
    encoder: &ResultEncoder,
    earlier: Option<&Option<Facts>>,
) -> Answered {
    let lookup = std::panic::AssertUnwindSafe(async {
        answered(&answer(pipeline, &row.target).await, encoder, earlier)
    });
    match lookup.catch_unwind().await {
        Ok(answered) => answered,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a panic");
            tracing::error!(row = row.number, %message, "the lookup of a row failed");
            let reason = format!(
                "row {} (line {}): hostloc failed on this row ({message}); this is a bug, \
                 please report it",
                row.number, row.line
            );
            answered(&pipeline.unusable("", &reason), encoder, earlier)
        }
    }
}

fn answered(report: &Report, encoder: &ResultEncoder, earlier: Option<&Option<Facts>>) -> Answered {
    let comparison = earlier.map(|facts| Comparison::of(facts.as_ref(), report));
    Answered {
        verdict: report.verdict,
        dns_failed: report
            .dns
            .as_ref()
            .is_some_and(|dns| !dns.outcome.is_definitive()),
        moved: comparison.as_ref().map(Comparison::moved),
        result: encoder.encode(report, comparison.as_ref()),
    }
}

/// Completes on the first SIGINT or SIGTERM, so that the run stops cleanly; a second one ends
/// the process at once (exit status 1), should the clean stop itself hang, e.g. on a write to
/// a stalled pipe. The handlers are installed now, not on the first poll, so that a signal
/// arriving early is not lost.
fn stop_signal() -> impl Future<Output = Stop> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let mut sender = Some(sender);
    let mut on_signal = move |stop: Stop| match sender.take() {
        Some(sender) => {
            let _ = sender.send(stop);
        }
        None => {
            eprintln!("hostloc batch: second {stop}, stopping at once");
            std::process::exit(1);
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn next(signal: &mut Option<Signal>) {
            if let Some(signal) = signal
                && signal.recv().await.is_some()
            {
                return;
            }
            std::future::pending::<()>().await;
        }
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = next(&mut interrupt) => on_signal(Stop::Interrupt),
                    () = next(&mut terminate) => on_signal(Stop::Terminate),
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                on_signal(Stop::Interrupt);
            }
        });
    }
    async move {
        match receiver.await {
            Ok(stop) => stop,
            Err(_) => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_belongs_to_exactly_one_shard() {
        for count in 1..=7 {
            let shards: Vec<Shard> = (0..count)
                .map(|index| format!("{index}/{count}").parse().unwrap())
                .collect();
            for number in 1..=50 {
                let owners = shards.iter().filter(|shard| shard.has_row(number)).count();
                assert_eq!(owners, 1, "row {number} of {count} shards");
            }
            // Row 1 (index 0) is shard 0's, the rows then go round in shard order.
            assert!(shards[0].has_row(1));
            assert!(shards[usize::try_from(count - 1).unwrap()].has_row(count));
        }
        assert_eq!("2/5".parse::<Shard>().unwrap().to_string(), "2/5");
        for bad in ["5/5", "0/0", "1", "x/2", "1/-2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
