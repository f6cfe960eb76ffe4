//! hostloc's integration tests: one binary, real components on loopback.

mod support;

mod bad_swaps;
mod batch_cli;
mod batch_compare;
mod batch_crash;
mod conformance;
mod data_cli;
mod data_update;
mod deploy;
mod dns_chains;
mod dns_servers;
mod dns_spoofing;
mod dns_transport;
mod evidence;
mod fuzz_props;
mod golden;
mod http_abuse;
mod http_api;
mod intake_conformance;
mod lookup_cli;
mod never_fetches;
mod page;
mod pipeline_dns;
mod routing;
