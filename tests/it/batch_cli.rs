//! `hostloc batch` end to end.
