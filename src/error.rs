//! Errors that stop hostloc from working at all, as opposed to a lookup's problems (which
//! become verdicts and reasons, never errors).
//!
//! Owns [`StartupError`]: each variant names the file or setting to fix. The front ends turn it
//! into their own form at the edge: a one-line message and exit status 1 for the CLI, a failed
//! reload in the HTTP API. Also owns [`chain`], the one way an error and its causes become that
//! line: each error's own message leaves its cause to `source()`, and the edge joins them.

use crate::data_files::DataFilesError;
use crate::pipeline::DataError;
use crate::resolve::ResolverSetupError;

/// An error and its causes as one line, `outer: inner: innermost`, each said once: a cause
/// whose text the line already ends with (a library that also puts its cause in its own
/// message) is not repeated.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let text = error.to_string();
        if !text.is_empty() && !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = error.source();
    }
    line
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot listen on 127.0.0.1:8080")]
    struct Listen(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("a library's message: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn each_cause_is_said_once() {
        let in_use = || std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let line = chain(&Listen(in_use()));
        assert_eq!(
            line,
            format!("cannot listen on 127.0.0.1:8080: {}", in_use())
        );
        let line = chain(&Repeats(in_use()));
        assert_eq!(line, format!("a library's message: {}", in_use()));
    }
}
