//! Telemetry: logging setup.
//!
//! Owns the tracing subscriber (human or JSON lines on stderr, filtered by `RUST_LOG`, default
//! `info`; colour only when asked, which config.rs does for a terminal without `NO_COLOR`). Reported URLs and hosts are never put in log fields by hostloc unless the operator
//! passed `--log-urls`; that rule is enforced where events are emitted (pipeline.rs, http/), and
//! a test reads a server's whole log to check it.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber writing to `writer`, with ANSI colours when `colour` is set.
/// Does nothing if one is installed.
pub fn init_logging<W>(format: LogFormat, colour: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colour)
        .with_target(false);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
