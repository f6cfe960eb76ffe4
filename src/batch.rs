//! Batch: `hostloc batch` (being built in issue 4).

use crate::Pipeline;
use crate::config::BatchArgs;

/// How a batch run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Every row was written.
    pub complete: bool,
}

/// Runs a batch.
///
/// # Errors
///
/// Always, for now: batch is not built yet.
pub async fn run(_pipeline: &Pipeline, _args: &BatchArgs) -> std::io::Result<BatchOutcome> {
    Err(std::io::Error::other("hostloc batch is not built yet"))
}
