//! Config: every command-line flag and environment variable, parsed once.
//!
//! Owns the clap definition of `hostloc lookup | serve | batch | data` and the defaults that
//! make the bundled data work with no flags. Every option also reads an environment variable
//! (`HOSTLOC_*`); nothing else in hostloc reads the environment. Turning a [`Common`] into a
//! running [`Pipeline`] happens here too, so every front end starts the same way.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cache::{CacheSettings, DnsCache};
use crate::error::StartupError;
use crate::pipeline::{DataPaths, DataSet, Pipeline, PipelineSettings};
use crate::resolve::{DnsResolver, DnsSettings, DnsTransport, NameServerAddr};
use crate::verdict::Jurisdiction;

/// The bundled data directory, as built: `data/` of the source tree.
const BUNDLED_DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

/// File names of the bundled data inside the data directory.
pub const BUNDLED_COUNTRY_DB: &str = "dbip-country.mmdb";
/// The bundled ASN database, built by `hostloc data import-asn`.
pub const BUNDLED_ASN_DB: &str = "asn.mmdb";
/// The bundled CDN / reverse-proxy list.
pub const BUNDLED_NETWORKS: &str = "networks.csv";

/// hostloc: where is this reported URL hosted, and is it in our jurisdiction?
#[derive(Debug, Parser)]
#[command(name = "hostloc", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub common: Common,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Look up reported URLs and print a verdict for each (arguments, or one per line on stdin).
    Lookup(LookupArgs),
    /// Serve the HTTP API for triage tools.
    Serve(ServeArgs),
    /// Enrich a CSV / JSONL / plain-lines export of reports with a verdict per row.
    Batch(BatchArgs),
    /// Maintain the bundled data.
    #[command(subcommand)]
    Data(DataCommand),
}

/// Options every command shares: data, DNS, jurisdiction, cache and logging.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Country database (.mmdb): MaxMind GeoIP2/GeoLite2 Country/City/Enterprise, DB-IP,
    /// IPinfo Lite or ip-location-db. Default: the bundled DB-IP Lite country database.
    #[arg(long, env = "HOSTLOC_COUNTRY_DB", global = true, value_name = "PATH")]
    pub country_db: Option<PathBuf>,

    /// ASN database (.mmdb): GeoLite2-ASN, GeoIP2-ISP, IPinfo Lite, or the bundled one. May be
    /// the same file as the country database.
    #[arg(long, env = "HOSTLOC_ASN_DB", global = true, value_name = "PATH")]
    pub asn_db: Option<PathBuf>,

    /// CDN / reverse-proxy networks file (CSV, see data/NETWORKS.md).
    #[arg(long, env = "HOSTLOC_NETWORKS", global = true, value_name = "PATH")]
    pub networks: Option<PathBuf>,

    /// Directory holding the bundled data (used for any file not given explicitly).
    #[arg(long, env = "HOSTLOC_DATA_DIR", global = true, value_name = "DIR",
          default_value = BUNDLED_DATA_DIR, hide_default_value = true)]
    pub data_dir: PathBuf,

    /// DNS server to ask, ADDR or ADDR:PORT; repeat or separate with commas. Default: the
    /// system's (/etc/resolv.conf).
    #[arg(
        long = "dns-server",
        env = "HOSTLOC_DNS_SERVERS",
        global = true,
        value_delimiter = ',',
        value_name = "ADDR[:PORT]"
    )]
    pub dns_servers: Vec<NameServerAddr>,

    /// Time to wait for one DNS answer (e.g. 2s, 500ms).
    #[arg(long, env = "HOSTLOC_DNS_TIMEOUT", global = true, default_value = "2s",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub dns_timeout: Duration,

    /// How many times a DNS query is tried in all. A lookup ends within
    /// timeout × attempts + 0.5 s (4.5 s with the defaults).
    #[arg(long, env = "HOSTLOC_DNS_ATTEMPTS", global = true, default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=10), value_name = "N")]
    pub dns_attempts: u16,

    /// How DNS queries travel to the name servers. Both give the same answers.
    #[arg(long, env = "HOSTLOC_DNS_TRANSPORT", global = true, value_enum,
          default_value_t = DnsTransport::Pooled, value_name = "TRANSPORT")]
    pub dns_transport: DnsTransport,

    /// The jurisdiction whose police get referrals: ISO 3166-1 alpha-2.
    #[arg(
        long,
        env = "HOSTLOC_JURISDICTION",
        global = true,
        default_value = "NL",
        value_name = "CC"
    )]
    pub jurisdiction: Jurisdiction,

    /// Hosts kept in the DNS cache (0 disables it).
    #[arg(
        long,
        env = "HOSTLOC_CACHE_CAPACITY",
        global = true,
        default_value_t = 100_000,
        value_name = "N"
    )]
    pub cache_capacity: u64,

    /// Shortest time a DNS answer is cached, whatever its TTL.
    #[arg(long, env = "HOSTLOC_CACHE_MIN_TTL", global = true, default_value = "0s",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cache_min_ttl: Duration,

    /// Longest time a DNS answer is cached, whatever its TTL.
    #[arg(long, env = "HOSTLOC_CACHE_MAX_TTL", global = true, default_value = "1h",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cache_max_ttl: Duration,

    /// Longest time an NXDOMAIN / no-data answer is cached.
    #[arg(long, env = "HOSTLOC_CACHE_NEGATIVE_TTL", global = true, default_value = "60s",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cache_negative_ttl: Duration,

    /// How long a failed DNS lookup (SERVFAIL, REFUSED, timeout) is cached.
    #[arg(long, env = "HOSTLOC_CACHE_FAILURE_TTL", global = true, default_value = "5s",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cache_failure_ttl: Duration,

    /// Warn in every result (and fail /readyz) when a database was built longer ago than this
    /// (e.g. 35d). Default: no limit.
    #[arg(long, env = "HOSTLOC_MAX_DATA_AGE", global = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub max_data_age: Option<Duration>,

    /// Log format on stderr.
    #[arg(long, env = "HOSTLOC_LOG_FORMAT", global = true, value_enum,
          default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Allow reported URLs and hosts in logs. Off by default: they are sensitive.
    #[arg(long, env = "HOSTLOC_LOG_URLS", global = true)]
    pub log_urls: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// `hostloc lookup`.
#[derive(Debug, Clone, Args)]
pub struct LookupArgs {
    /// Print one JSON result per line (NDJSON) instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Lookups in flight at once when reading many URLs; output stays in input order.
    #[arg(long, env = "HOSTLOC_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// Reported URLs. None, or "-": read one per line from stdin.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
}

/// `hostloc serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOSTLOC_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// When set, /v1/* and /admin/* require `Authorization: Bearer <token>`.
    #[arg(long, env = "HOSTLOC_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "HOSTLOC_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most URLs accepted in one POST /v1/lookup.
    #[arg(long, env = "HOSTLOC_MAX_BATCH_URLS", default_value_t = 1000)]
    pub max_batch_urls: usize,

    /// Time limit for one request (its lookups included).
    #[arg(long, env = "HOSTLOC_REQUEST_TIMEOUT", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Time limit for a client to send its request headers.
    #[arg(long, env = "HOSTLOC_HEADER_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// Requests handled at once; more are refused with 503 and Retry-After, not queued.
    #[arg(long, env = "HOSTLOC_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,

    /// Lookups in flight at once within one POST /v1/lookup.
    #[arg(long, env = "HOSTLOC_CONCURRENCY", default_value_t = 64)]
    pub concurrency: u32,

    /// Check the data files every interval and reload when they changed (e.g. 60s).
    #[arg(long, env = "HOSTLOC_WATCH_INTERVAL", value_parser = humantime::parse_duration)]
    pub watch_interval: Option<Duration>,

    /// How long shutdown waits for requests in flight.
    #[arg(long, env = "HOSTLOC_SHUTDOWN_GRACE", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

/// Input / output formats of `hostloc batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BatchFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// One URL per line in, one JSON result per line out.
    Lines,
}

/// `hostloc batch`.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// Input format; guessed from the file extension when not given (.csv and .tsv: csv,
    /// .jsonl and .ndjson: jsonl, anything else: lines). For stdin, the output's extension.
    #[arg(long, value_enum)]
    pub format: Option<BatchFormat>,

    /// The column (CSV) or field (JSONL; a JSON Pointer such as /report/url for a nested one)
    /// holding the reported URL.
    #[arg(long, env = "HOSTLOC_URL_COLUMN", default_value = "url")]
    pub url_column: String,

    /// CSV field delimiter: one ASCII character, e.g. ";", or "\t" / "tab" for a tab.
    /// Default: a tab for .tsv files, else ",".
    #[arg(long, value_parser = parse_delimiter, value_name = "CHAR")]
    pub delimiter: Option<u8>,

    /// Write here instead of stdout ("-" is stdout too).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Continue an interrupted run: keep the complete rows already in the output file (a
    /// partial last one is cut away), skip as many input rows, and append the rest. A missing
    /// output file simply starts the run.
    #[arg(long, requires = "output")]
    pub resume: bool,

    /// Lookups in flight at once; output stays in input order.
    #[arg(long, env = "HOSTLOC_CONCURRENCY", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// No progress bar and no summary on stderr (errors are still printed).
    #[arg(short, long)]
    pub quiet: bool,

    /// Input file; "-" or none reads stdin.
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,
}

/// Parses `--delimiter`: one ASCII character other than the quote and line breaks; `\t` and
/// `tab` mean a tab, since a literal tab is awkward to type in a shell.
fn parse_delimiter(text: &str) -> Result<u8, String> {
    let byte = match text {
        "\\t" | "tab" | "TAB" => b'\t',
        _ => match text.as_bytes() {
            [byte] if byte.is_ascii() => *byte,
            _ => return Err(format!("{text:?} is not one ASCII character")),
        },
    };
    if matches!(byte, b'"' | b'\n' | b'\r') {
        return Err(format!("{text:?} cannot separate fields"));
    }
    Ok(byte)
}

/// `hostloc data ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum DataCommand {
    /// Build a GeoLite2-ASN-layout database from ip-location-db's asn CSV files.
    ImportAsn(ImportAsnArgs),
    /// Show what the configured databases and networks file are.
    Info,
}

/// `hostloc data import-asn`.
#[derive(Debug, Clone, Args)]
pub struct ImportAsnArgs {
    /// CSV files `range_start,range_end,asn,organisation` (asn-ipv4.csv, asn-ipv6.csv).
    #[arg(required = true, value_name = "CSV")]
    pub inputs: Vec<PathBuf>,

    /// Where to write the .mmdb.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Build time to record, RFC 3339 (the date of the source data). Default: now.
    #[arg(long, value_name = "TIME")]
    pub built: Option<String>,

    /// Where the CSV came from, recorded in the database description.
    #[arg(
        long,
        default_value = "ip-location-db asn (RouteViews, RIRs via NRO, DB-IP; CC BY 4.0)"
    )]
    pub source: String,
}

impl Common {
    /// The data files, with bundled defaults for any not given.
    pub fn data_paths(&self) -> DataPaths {
        DataPaths {
            country_db: self
                .country_db
                .clone()
                .unwrap_or_else(|| self.data_dir.join(BUNDLED_COUNTRY_DB)),
            asn_db: self
                .asn_db
                .clone()
                .unwrap_or_else(|| self.data_dir.join(BUNDLED_ASN_DB)),
            networks: self
                .networks
                .clone()
                .unwrap_or_else(|| self.data_dir.join(BUNDLED_NETWORKS)),
        }
    }

    /// DNS servers and limits.
    pub fn dns_settings(&self) -> DnsSettings {
        DnsSettings {
            servers: self.dns_servers.iter().map(|server| server.0).collect(),
            timeout: self.dns_timeout,
            attempts: usize::from(self.dns_attempts),
            transport: self.dns_transport,
        }
    }

    /// Cache bounds.
    pub fn cache_settings(&self) -> CacheSettings {
        CacheSettings {
            capacity: self.cache_capacity,
            min_ttl: self.cache_min_ttl,
            max_ttl: self.cache_max_ttl,
            negative_max_ttl: self.cache_negative_ttl,
            failure_ttl: self.cache_failure_ttl,
        }
    }

    /// Loads the data and sets up DNS: the pipeline every command uses.
    ///
    /// # Errors
    ///
    /// [`StartupError`] naming the file or setting that could not be used.
    pub fn pipeline(&self) -> Result<Pipeline, StartupError> {
        let paths = self.data_paths();
        let data = DataSet::load(&paths)?;
        let resolver = DnsResolver::new(&self.dns_settings())?;
        Ok(Pipeline::new(
            data,
            Some(paths),
            DnsCache::new(resolver, self.cache_settings()),
            PipelineSettings {
                jurisdiction: self.jurisdiction.clone(),
                max_data_age: self.max_data_age,
                log_urls: self.log_urls,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_point_at_the_bundled_data() {
        let cli = Cli::try_parse_from(["hostloc", "lookup", "example.nl"]).unwrap();
        let paths = cli.common.data_paths();
        assert!(paths.country_db.ends_with("data/dbip-country.mmdb"));
        assert!(paths.asn_db.ends_with("data/asn.mmdb"));
        assert!(paths.networks.ends_with("data/networks.csv"));
        assert_eq!(cli.common.jurisdiction.code(), "NL");
    }

    #[test]
    fn dns_servers_repeat_or_comma_separate() {
        let cli = Cli::try_parse_from([
            "hostloc",
            "lookup",
            "--dns-server",
            "127.0.0.1:5353,9.9.9.9",
            "--dns-server",
            "[::1]:53",
        ])
        .unwrap();
        let servers: Vec<String> = cli
            .common
            .dns_settings()
            .servers
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(servers, ["127.0.0.1:5353", "9.9.9.9:53", "[::1]:53"]);
    }

    #[test]
    fn the_dns_transport_is_pooled_unless_hickory_is_asked_for() {
        let cli = Cli::try_parse_from(["hostloc", "lookup"]).unwrap();
        assert_eq!(cli.common.dns_settings().transport, DnsTransport::Pooled);
        let cli = Cli::try_parse_from(["hostloc", "lookup", "--dns-transport", "hickory"]).unwrap();
        assert_eq!(cli.common.dns_settings().transport, DnsTransport::Hickory);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["hostloc", "--jurisdiction", "NLD", "lookup"][..],
            &["hostloc", "--dns-server", "dns.google", "lookup"][..],
            &["hostloc", "--dns-timeout", "soon", "lookup"][..],
            &["hostloc", "--dns-transport", "tcp", "lookup"][..],
            &["hostloc", "batch", "--format", "xml"][..],
            &["hostloc", "batch", "--delimiter", ";;"][..],
            &["hostloc", "batch", "--delimiter", "\""][..],
            &["hostloc", "batch", "--resume", "in.csv"][..],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }
}
