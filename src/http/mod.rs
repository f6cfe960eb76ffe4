//! HTTP: `hostloc serve` (being built in issue 3).

use crate::Pipeline;
use crate::config::ServeArgs;

/// Serves the HTTP API until shutdown.
///
/// # Errors
///
/// Always, for now: the HTTP API is not built yet.
pub async fn serve(_pipeline: Pipeline, _args: &ServeArgs) -> std::io::Result<()> {
    Err(std::io::Error::other("hostloc serve is not built yet"))
}
