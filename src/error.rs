//! Errors that stop hostloc from working at all, as opposed to a lookup's problems (which
//! become verdicts and reasons, never errors).
//!
//! Owns [`StartupError`]: each variant names the file or setting to fix. The front ends turn it
//! into their own form at the edge: a one-line message and exit status 1 for the CLI, a failed
//! reload in the HTTP API.

use crate::data_files::DataFilesError;
use crate::pipeline::DataError;
use crate::resolve::ResolverSetupError;

/// hostloc cannot start: a database, the networks or hotlines file, or the DNS setup is
/// unusable.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A data file cannot be found.
    #[error(transparent)]
    DataFiles(#[from] DataFilesError),
    /// A data file.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The DNS resolver.
    #[error(transparent)]
    Resolver(#[from] ResolverSetupError),
}
