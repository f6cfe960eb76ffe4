//! Merge: `hostloc batch merge`, the outputs of a sharded run put back in input order.
//!
//! Shard `I` of `N` (`batch --shard I/N`) writes data rows `I`, `I+N`, `I+2N`, … in input order,
//! so the input order is one record from each shard's output in turn, shard 0 first; a CSV
//! header (the same in every output) comes once, at the top. Owns that interleaving and the
//! checks that the files fit it: every shard holds as many rows as shard 0 or one fewer, in
//! shard order, and none ends in a partial record.
//!
//! Must not: change a record's bytes, drop or duplicate one, or leave a partial output file
//! (a file output is written to a temporary sibling and renamed when complete).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use super::resume::{RecordReader, same_record};
use super::{Endpoint, endpoint, format_of, same_file};
use crate::atomic_file;
use crate::config::{BatchFormat, BatchFormatArg, MergeArgs};

const BUFFER: usize = 64 * 1024;

/// Why the shard outputs could not be merged. Nothing was written to a file output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A shard output cannot be opened or read.
    #[error("cannot read the shard output {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The merged output cannot be written.
    #[error("cannot write the merged output {output}")]
    Write {
        /// The output.
        output: Endpoint,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The output is one of the shard outputs.
    #[error("the output {output} is one of the shard outputs; write the merge to another file")]
    OutputIsInput {
        /// The file.
        output: PathBuf,
    },
    /// A CSV header differs from shard 0's.
    #[error("the CSV header of {path} differs from that of {first}: not one sharded run")]
    HeaderDiffers {
        /// The odd file.
        path: PathBuf,
        /// Shard 0's output.
        first: PathBuf,
    },
    /// A shard output ends in a partial record.
    #[error(
        "{path} ends in a partial record after {rows} rows: that shard did not finish (run it \
         again with --resume)"
    )]
    Partial {
        /// The file.
        path: PathBuf,
        /// Its complete data rows.
        rows: u64,
    },
    /// The row counts do not fit N shards of one input.
    #[error(
        "{path} (shard {shard}) has {rows} rows, but shard 0 has {first_rows}: each shard holds \
         as many rows as the ones before it or one fewer. Are the files all from one run, \
         complete, and given in shard order 0, 1, …?"
    )]
    Uneven {
        /// The odd file.
        path: PathBuf,
        /// Its shard index.
        shard: usize,
        /// Its data rows (as far as read).
        rows: u64,
        /// Shard 0's data rows (as far as read).
        first_rows: u64,
    },
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    /// Data rows written (a CSV header not counted).
    pub rows: u64,
    /// Shard outputs read.
    pub shards: usize,
}

/// One shard's output being read.
struct ShardOutput {
    path: PathBuf,
    records: RecordReader<BufReader<File>>,
    rows: u64,
    ended: bool,
}

impl ShardOutput {
    /// The next data row, or `None` when the file has no complete one left (a partial record
    /// is an error).
    fn next(&mut self) -> Result<Option<Vec<u8>>, MergeError> {
        if self.ended {
            return Ok(None);
        }
        let record = self
            .records
            .next_record()
            .map_err(|source| MergeError::Read {
                path: self.path.clone(),
                source,
            })?;
        match record {
            Some(record) => {
                self.rows += 1;
                Ok(Some(record))
            }
            None => {
                self.ended = true;
                if self
                    .records
                    .partial()
                    .iter()
                    .any(|byte| !matches!(byte, b'\r' | b'\n'))
                {
                    return Err(MergeError::Partial {
                        path: self.path.clone(),
                        rows: self.rows,
                    });
                }
                Ok(None)
            }
        }
    }
}

/// Runs `hostloc batch merge`.
///
/// # Errors
///
/// [`MergeError`] naming the file that does not fit; a file output is then left as it was.
pub fn run(args: &MergeArgs) -> Result<MergeSummary, MergeError> {
    let output = endpoint(args.output.as_deref(), Endpoint::Stdout);
    let (format, delimiter) = format_of(
        args.inputs.first().map(PathBuf::as_path),
        args.format.and_then(BatchFormatArg::rows),
        args.delimiter,
    );
    if let Endpoint::File(output_path) = &output
        && args
            .inputs
            .iter()
            .any(|input| same_file(input, output_path))
    {
        return Err(MergeError::OutputIsInput {
            output: output_path.clone(),
        });
    }
    let mut shards = args
        .inputs
        .iter()
        .map(|path| {
            let file = File::open(path).map_err(|source| MergeError::Read {
                path: path.clone(),
                source,
            })?;
            Ok(ShardOutput {
                path: path.clone(),
                records: RecordReader::new(
                    BufReader::with_capacity(BUFFER, file),
                    format,
                    delimiter,
                ),
                rows: 0,
                ended: false,
            })
        })
        .collect::<Result<Vec<_>, MergeError>>()?;

    let write_error = |source| MergeError::Write {
        output: output.clone(),
        source,
    };
    match &output {
        Endpoint::File(path) => {
            let mut temporary =
                atomic_file::sibling(path, ".hostloc-merge-").map_err(write_error)?;
            let summary = {
                let mut writer = BufWriter::with_capacity(BUFFER, temporary.as_file_mut());
                let summary = interleave(&mut shards, format, &mut writer, &write_error)?;
                writer.flush().map_err(write_error)?;
                summary
            };
            atomic_file::publish(temporary, path, true).map_err(write_error)?;
            Ok(summary)
        }
        _ => {
            let stdout = std::io::stdout();
            let mut writer = BufWriter::with_capacity(BUFFER, stdout.lock());
            let summary = interleave(&mut shards, format, &mut writer, &write_error)?;
            writer.flush().map_err(write_error)?;
            Ok(summary)
        }
    }
}

/// Writes the header (CSV) and then one row of each shard in turn until all are used up,
/// checking that the shards end where N shards of one input must.
fn interleave(
    shards: &mut [ShardOutput],
    format: BatchFormat,
    out: &mut impl Write,
    write_error: &impl Fn(std::io::Error) -> MergeError,
) -> Result<MergeSummary, MergeError> {
    if format == BatchFormat::Csv {
        let mut header: Option<(Vec<u8>, PathBuf)> = None;
        for shard in shards.iter_mut() {
            let this = shard.next()?;
            // The header is not a data row.
            shard.rows = 0;
            match (&header, this) {
                (None, Some(this)) => {
                    out.write_all(&this).map_err(write_error)?;
                    header = Some((this, shard.path.clone()));
                }
                (Some((first, first_path)), this) => {
                    if !this.is_some_and(|this| same_record(first, &this)) {
                        return Err(MergeError::HeaderDiffers {
                            path: shard.path.clone(),
                            first: first_path.clone(),
                        });
                    }
                }
                (None, None) => {}
            }
        }
    }
    let mut rows = 0;
    // The first shard to run out; every later one must have run out in the same round, and
    // every earlier one in the next.
    let mut ran_out: Option<usize> = None;
    loop {
        for index in 0..shards.len() {
            match shards[index].next()? {
                Some(record) if ran_out.is_none() => {
                    out.write_all(&record).map_err(write_error)?;
                    rows += 1;
                }
                Some(_) => return Err(uneven(shards, index)),
                None => {
                    ran_out.get_or_insert(index);
                }
            }
        }
        if let Some(first_out) = ran_out {
            for index in 0..first_out {
                if shards[index].next()?.is_some() {
                    return Err(uneven(shards, index));
                }
            }
            return Ok(MergeSummary {
                rows,
                shards: shards.len(),
            });
        }
    }
}

fn uneven(shards: &[ShardOutput], index: usize) -> MergeError {
    MergeError::Uneven {
        path: shards[index].path.clone(),
        shard: index,
        rows: shards[index].rows,
        first_rows: shards[0].rows,
    }
}
