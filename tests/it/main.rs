//! hostloc's integration tests: one binary, real components on loopback.

mod support;

mod batch_cli;
mod batch_compare;
mod conformance;
mod data_cli;
mod dns_transport;
mod evidence;
mod http_api;
mod lookup_cli;
mod page;
mod pipeline_dns;
mod routing;
