//! hostloc: where is a reported URL hosted, and is it in the hotline's jurisdiction?
//!
//! # Codemap
//!
//! One pipeline, thin front ends. A lookup flows through:
//!
//! - [`intake`]: reported text → [`intake::Target`] (refang, clean, WHATWG URL parse). No I/O.
//! - [`cache`] → [`resolve`]: host → [`resolve::Resolution`] (A/AAAA, CNAME chain, TTL, outcome),
//!   over the pooled UDP client of [`dns_transport`] or hickory-resolver.
//! - [`geoip`]: address → [`geoip::IpFacts`] from in-memory `.mmdb` files;
//!   [`special_purpose`] says which addresses are not public; [`networks`] which belong to a
//!   CDN / reverse proxy.
//! - [`verdict`]: addresses → verdict + reason, and the countries a report is forwarded to.
//!   Pure.
//! - [`hotlines`]: hosting country → INHOPE member hotlines (`forward_to`); [`iccam`]: the
//!   result as the hosting fields of an ICCAM report.
//! - [`pipeline`]: runs the above in order and owns the reloadable data set;
//!   [`pipeline::Pipeline::lookup`] is the one function every front end calls.
//! - [`report`]: the result object and its wire format; [`evidence`]: the same result as a
//!   plain-text case-file record.
//!
//! Front ends: [`cli`] (`hostloc lookup`), [`http`] (`hostloc serve`), [`batch`]
//! (`hostloc batch`). [`config`] parses flags and environment; [`manual`] turns that
//! definition into shell completions and man pages; [`asn_import`] builds the bundled ASN
//! database; [`data_csv`] reads the networks and hotlines tables; [`agreement`] measures how
//! often the country sources disagree; [`data_update`] fetches current databases from their
//! publishers (the only HTTP client, never used in a lookup); [`healthcheck`] probes a running
//! server for a container's HEALTHCHECK; [`utc`] writes the times results and log lines
//! carry. See `ARCHITECTURE.md` for the invariants.

pub mod agreement;
pub mod anycast;
pub mod asn_import;
pub mod atomic_file;
pub mod batch;
pub mod cache;
pub mod cli;
pub mod config;
pub mod data_age;
pub mod data_csv;
pub mod data_files;
pub mod data_update;
pub mod dns_transport;
pub mod error;
pub mod evidence;
pub mod geoip;
pub mod healthcheck;
pub mod hotlines;
pub mod http;
pub mod iccam;
pub mod intake;
pub mod manual;
pub mod networks;
pub mod pipeline;
pub mod plural;
pub mod report;
pub mod resolve;
pub mod special_purpose;
pub mod telemetry;
pub mod utc;
pub mod verdict;

pub use pipeline::Pipeline;
pub use report::Report;
pub use verdict::Verdict;

/// This program's version as every result reports it (`hostloc_version`) and `--version`
/// prints it: the package version, plus the git commit when built from a checkout, e.g.
/// `0.1.0 (git 1a2b3c4)`; `-modified` after the commit when tracked files differed from it.
/// Built from a source archive without `.git` (or without `git`), it is the package version
/// alone. Tags are ignored (`--exclude=*`), so the commit is always a plain abbreviated hash.
pub const VERSION: &str = git_version::git_version!(
    args = ["--always", "--abbrev=7", "--dirty=-modified", "--exclude=*"],
    prefix = concat!(env!("CARGO_PKG_VERSION"), " (git "),
    suffix = ")",
    cargo_prefix = "",
    fallback = env!("CARGO_PKG_VERSION")
);
