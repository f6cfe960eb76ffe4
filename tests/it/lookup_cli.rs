//! The CLI binary end to end.
