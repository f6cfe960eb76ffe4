//! Data CSV: how hostloc reads its operator-editable CSV tables (`networks.csv`,
//! `hotlines.csv`).
//!
//! Owns the format they share: a header row naming the columns (extra columns, such as a
//! `source`, are ignored), `#` comment lines, cells trimmed, and every problem reported with
//! the file and its 1-based line. The module that owns a table (`networks`, `hotlines`) says
//! what a row means. Must not: know any table's columns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

/// Why a data table could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DataFileError {
    /// The file could not be read.
    #[error("cannot read the {table} file {path}")]
    Read {
        /// Which table: `networks` or `hotlines`.
        table: &'static str,
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A row is malformed.
    #[error("the {table} file {path}, line {line}: {problem}")]
    Row {
        /// Which table: `networks` or `hotlines`.
        table: &'static str,
        /// The path as given.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        problem: String,
    },
}

impl DataFileError {
    /// Which table the error is about: `networks` or `hotlines` (a stable name for metrics).
    pub fn table(&self) -> &'static str {
        match self {
            DataFileError::Read { table, .. } | DataFileError::Row { table, .. } => table,
        }
    }
}

/// Reads the `table` file at `path` and makes it into a `T` with `parse`, which gets the file's
/// text and says what is wrong as a line and a problem.
///
/// # Errors
///
/// [`DataFileError`] naming the table, the file and, for a bad row, the line.
pub(crate) fn load<T>(
    table: &'static str,
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, (u64, String)>,
) -> Result<T, DataFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataFileError::Read {
        table,
        path: path.to_owned(),
        source: Arc::new(source),
    })?;
    parse(&text).map_err(|(line, problem)| DataFileError::Row {
        table,
        path: path.to_owned(),
        line,
        problem,
    })
}

/// The rows of a table's text, each with the line it is on, read into `R` by the column names
/// of the header.
///
/// # Errors
///
/// The line and the problem of the first row that is not CSV or lacks a column `R` needs.
pub(crate) fn rows<R: DeserializeOwned>(text: &str) -> Result<Vec<(u64, R)>, (u64, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| (1, error.to_string()))?
        .clone();
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|error| {
                let line = error.position().map_or(0, |p| p.line());
                (line, error.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let row = record
                .deserialize(Some(&headers))
                .map_err(|error| (line, error.to_string()))?;
            Ok((line, row))
        })
        .collect()
}
