//! Config: every command-line flag and environment variable, parsed once.
//!
//! Owns the clap definition of `hostloc lookup | serve | batch | data | completions | manpage`
//! and the defaults that make the bundled data work with no flags. Options are grouped by
//! concern into [`Args`] structs — [`DataArgs`], [`DnsArgs`], [`CacheArgs`], [`ReferralArgs`],
//! [`LogArgs`], and each command's own ([`LookupArgs`], [`ServeArgs`], [`BatchArgs`]) — and
//! each command flattens only the groups it uses, under a help heading per group. Every
//! setting also reads an environment variable (`HOSTLOC_*`); nothing else in hostloc reads the
//! environment. Turning the groups into a running [`Pipeline`] happens here too, so every front
//! end starts the same way.
//!
//! Options may also be written before the command (`hostloc --jurisdiction BE lookup …`), as
//! they could when they were global: [`Cli::try_parse_args`] moves them behind the command's
//! name before clap sees them, so each command still accepts only its own.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::batch::Shard;
use crate::cache::{CacheSettings, DnsCache};
use crate::data_age;
use crate::data_files::{self, Bundled, DataFile, DataFilesError, GivenFiles, SearchPath};
use crate::dns_transport::Rotation;
use crate::error::StartupError;
use crate::pipeline::{DataPaths, DataSet, Pipeline, PipelineSettings};
use crate::resolve::{DnsResolver, DnsSettings, DnsTransport, NameServerAddr};
use crate::verdict::Jurisdiction;

/// The bundled data directory, as built: `data/` of the source tree (used while it exists).
const SOURCE_DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

/// Where geoipupdate writes its databases: its own default, then the Debian package's and
/// an older default.
const GEOIPUPDATE_DIRS: &str = "/usr/local/share/GeoIP,/var/lib/GeoIP,/usr/share/GeoIP";

/// hostloc: where is this reported URL hosted, and is it in our jurisdiction?
#[derive(Debug, Parser)]
#[command(
    name = "hostloc",
    version = crate::VERSION,
    about,
    long_about = "Where is this reported URL hosted, and is it in our jurisdiction?\n\n\
        hostloc takes reported URLs as they arrive (defanged, without scheme, obfuscated IPs), \
        resolves their hosts in DNS, locates every address in local GeoIP databases, sets aside \
        CDN addresses, and gives a verdict with its reason. It never fetches the reported \
        content.",
    after_help = "Each command has its own options: `hostloc <COMMAND> -h` for the main ones, \
        `--help` for all of them with examples. They may also be written before the command \
        (`hostloc --jurisdiction BE lookup …`)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Look up reported URLs and print a verdict for each (arguments, or one per line on stdin).
    #[command(after_long_help = LOOKUP_EXAMPLES)]
    Lookup(LookupCommand),
    /// Serve the HTTP API for triage tools.
    #[command(after_long_help = SERVE_EXAMPLES)]
    Serve(ServeCommand),
    /// Enrich a CSV / JSONL / plain-lines export of reports with a verdict per row.
    #[command(
        after_long_help = BATCH_EXAMPLES,
        args_conflicts_with_subcommands = true,
        disable_help_subcommand = true
    )]
    Batch(BatchCommand),
    /// Show or maintain the data: databases, networks file, hotline table and anycast list.
    #[command(subcommand)]
    Data(DataCommand),
    /// Ask a running `hostloc serve` on this machine whether it is alive (a container's
    /// HEALTHCHECK): exit status 0 when GET /healthz answers 200, 1 otherwise.
    Healthcheck(HealthcheckArgs),
    /// Print a shell completion script.
    #[command(after_long_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print the man page, or write one per command into a directory.
    #[command(after_long_help = MANPAGE_EXAMPLES)]
    Manpage(ManpageArgs),
}

const LOOKUP_EXAMPLES: &str = "\
Examples:
  hostloc lookup 'hxxps://files.example[.]nl/a.jpg' 95.211.0.1 'http://1607663617/'
  hostloc lookup --json < reports.txt > results.ndjson
  hostloc lookup --evidence 'hxxps://files.example[.]nl/a.jpg' >> case-1234.txt
  hostloc lookup --jurisdiction BE --dns-server 127.0.0.1:5353 example.be";

const SERVE_EXAMPLES: &str = "\
Examples:
  hostloc serve                       # bundled data, system DNS, 127.0.0.1:8080
  HOSTLOC_API_TOKEN=secret hostloc serve --listen 0.0.0.0:8080 --watch-interval 60s
  curl -sG localhost:8080/v1/lookup --data-urlencode 'url=hxxps://files.example[.]nl/a.jpg'

Endpoints, limits, metrics and reloading: docs/serve.md.";

const BATCH_EXAMPLES: &str = "\
Examples:
  hostloc batch reports.csv -o reports.enriched.csv
  hostloc batch --url-column reported_url --delimiter ';' export.csv -o out.csv
  hostloc batch --url-column /report/url queue.jsonl -o queue.enriched.jsonl
  hostloc batch --format lines urls.txt > results.ndjson
  hostloc batch --resume big-export.csv -o big-export.enriched.csv
  hostloc batch --format iccam queue.csv -o queue.iccam.csv
  hostloc batch queue.csv --compare queue.last-week.csv -o queue.today.csv

On N machines, shard I of N each, then the outputs back in input order:
  hostloc batch --shard 0/2 export.csv -o export.0.csv   # and --shard 1/2 elsewhere
  hostloc batch merge -o export.enriched.csv export.0.csv export.1.csv

Output schemas, shards and merge: docs/batch.md; the ICCAM view: docs/iccam.md.";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  hostloc completions bash > ~/.local/share/bash-completion/completions/hostloc
  hostloc completions zsh > ~/.zfunc/_hostloc
  hostloc completions fish > ~/.config/fish/completions/hostloc.fish";

const MANPAGE_EXAMPLES: &str = "\
Examples:
  hostloc manpage | man -l -
  hostloc manpage --dir ~/.local/share/man/man1";

/// `hostloc lookup`: its own options and everything a lookup needs.
#[derive(Debug, Clone, Args)]
pub struct LookupCommand {
    /// What to look up and how to print it.
    #[command(flatten)]
    pub lookup: LookupArgs,
    /// Data, DNS, cache, jurisdiction and logging.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `hostloc serve`: the server's options and everything a lookup needs.
#[derive(Debug, Clone, Args)]
pub struct ServeCommand {
    /// The HTTP server.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Data, DNS, cache, jurisdiction and logging.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `hostloc batch`: the run's options and everything a lookup needs.
#[derive(Debug, Clone, Args)]
pub struct BatchCommand {
    /// A step other than the run itself.
    #[command(subcommand)]
    pub step: Option<BatchStep>,
    /// What to read and write.
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Data, DNS, cache, jurisdiction and logging.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Every group a lookup needs: what `lookup`, `serve` and `batch` share.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Databases, the networks file and the hotline table.
    #[command(flatten)]
    pub data: DataArgs,
    /// Name servers.
    #[command(flatten)]
    pub dns: DnsArgs,
    /// The DNS cache.
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Whose referrals.
    #[command(flatten)]
    pub referral: ReferralArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Data: the GeoIP databases, the CDN / reverse-proxy networks file and the hotline table.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Data")]
pub struct DataArgs {
    /// Country database (.mmdb); repeat to ask several, the first being the primary. Default:
    /// found as docs/data.md says, else both bundled ones.
    ///
    /// Repeat the option or separate paths with commas. MaxMind GeoIP2/GeoLite2 Country, City
    /// or Enterprise, DB-IP, IPinfo Lite or ip-location-db layouts are all read. Every
    /// database is asked about every address; the first is the primary, which fills
    /// `country`. Without this option the primary is looked for in --data-dir, then
    /// geoipupdate's directories, then hostloc's data directories, then the bundled data, and
    /// the bundled geo-whois-asn-country database is asked as a second opinion; giving one
    /// replaces both. See docs/data.md and docs/evidence.md.
    #[arg(
        long,
        env = "HOSTLOC_COUNTRY_DB",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub country_db: Vec<PathBuf>,

    /// Ask one country database only: the first --country-db, or the one found by default.
    ///
    /// No second opinion, so no `partly_domestic` from sources that disagree. A usage error
    /// with more than one --country-db.
    #[arg(long, env = "HOSTLOC_SINGLE_SOURCE", hide_short_help = true)]
    pub single_source: bool,

    /// ASN database (.mmdb); may be the same file as the country database. Default: as for
    /// --country-db.
    ///
    /// GeoLite2-ASN, GeoIP2-ISP, IPinfo Lite, or the bundled one (built by
    /// `hostloc data import-asn`).
    #[arg(long, env = "HOSTLOC_ASN_DB", value_name = "PATH")]
    pub asn_db: Option<PathBuf>,

    /// CDN / reverse-proxy networks file (CSV, see data/NETWORKS.md). Default: bundled.
    #[arg(
        long,
        env = "HOSTLOC_NETWORKS",
        hide_short_help = true,
        value_name = "PATH"
    )]
    pub networks: Option<PathBuf>,

    /// INHOPE member hotlines by country, where results are forwarded (CSV, see
    /// data/HOTLINES.md). Default: bundled.
    #[arg(
        long,
        env = "HOSTLOC_HOTLINES",
        hide_short_help = true,
        value_name = "PATH"
    )]
    pub hotlines: Option<PathBuf>,

    /// Known anycast networks, whose addresses are set aside rather than located (CSV, see
    /// docs/data.md). Default: bundled.
    #[arg(
        long,
        env = "HOSTLOC_ANYCAST",
        hide_short_help = true,
        value_name = "PATH"
    )]
    pub anycast: Option<PathBuf>,

    /// The one directory the files not given above are read from.
    ///
    /// It may hold each file under its bundled name (dbip-country.mmdb,
    /// geo-whois-asn-country.mmdb, asn.mmdb, networks.csv, hotlines.csv, anycast.csv) or
    /// MaxMind's (GeoLite2-Country.mmdb, GeoLite2-ASN.mmdb, …). Default: the search of
    /// docs/data.md.
    #[arg(
        long,
        env = "HOSTLOC_DATA_DIR",
        value_name = "DIR",
        hide_short_help = true
    )]
    pub data_dir: Option<PathBuf>,

    /// geoipupdate's database directory, searched for MaxMind databases; repeat or separate
    /// with commas ("" for none).
    #[arg(long = "geoipupdate-dir", env = "HOSTLOC_GEOIPUPDATE_DIRS", value_delimiter = ',',
          default_value = GEOIPUPDATE_DIRS, hide_short_help = true, value_name = "DIR",
          value_parser = parse_search_dir)]
    pub geoipupdate_dirs: Vec<PathBuf>,

    /// Warn in every result when a database was built longer ago than this ("off": never).
    ///
    /// The warning names the database and its age; it is also logged when `hostloc serve`
    /// starts or reloads, and shown on /readyz (which fails only with --require-fresh-data).
    /// 35 days suits monthly data such as the bundled DB-IP Lite.
    #[arg(long, env = "HOSTLOC_MAX_DATA_AGE", default_value = "35d",
          value_parser = data_age::parse_max_age, value_name = "DURATION")]
    // Spelt out so that clap takes the whole `Option` from the parser ("off" is `None`)
    // instead of making the option itself optional.
    pub max_data_age: std::option::Option<Duration>,
}

/// DNS: which name servers are asked, and how.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "DNS")]
pub struct DnsArgs {
    /// DNS server to ask; repeat or separate with commas. Default: the system's.
    ///
    /// An IP address, with a port after a colon when it is not 53 (`[…]:PORT` for IPv6). The
    /// system's servers are those of /etc/resolv.conf. hostloc asks no other server.
    #[arg(
        long = "dns-server",
        env = "HOSTLOC_DNS_SERVERS",
        value_delimiter = ',',
        value_name = "ADDR[:PORT]"
    )]
    pub dns_servers: Vec<NameServerAddr>,

    /// Time to wait for one DNS answer (e.g. 2s, 500ms).
    #[arg(long, env = "HOSTLOC_DNS_TIMEOUT", default_value = "2s",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub dns_timeout: Duration,

    /// Rounds over every DNS server before a query fails.
    ///
    /// Each round asks each server once, skipping servers that are down. A lookup ends within
    /// timeout × attempts × servers + 0.5 s (4.5 s with the defaults and one server).
    #[arg(long, env = "HOSTLOC_DNS_ATTEMPTS", default_value_t = 2, hide_short_help = true,
          value_parser = clap::value_parser!(u16).range(1..=10), value_name = "N")]
    pub dns_attempts: u16,

    /// How DNS queries travel to the name servers; all give the same answers.
    ///
    /// docs/dns.md compares their speed, CPU and spoofing resistance and says which to use
    /// when.
    #[arg(long, env = "HOSTLOC_DNS_TRANSPORT", value_enum, hide_short_help = true,
          default_value_t = DnsTransport::Pooled, value_name = "TRANSPORT")]
    pub dns_transport: DnsTransport,

    /// Pooled transport: queries one UDP socket carries before it moves to a fresh random port.
    #[arg(long, env = "HOSTLOC_DNS_SOCKET_QUERIES", default_value_t = 1024,
          hide_short_help = true, value_parser = clap::value_parser!(u32).range(1..),
          value_name = "N")]
    pub dns_socket_queries: u32,

    /// Pooled transport: age at which a UDP socket moves to a fresh random port.
    #[arg(long, env = "HOSTLOC_DNS_SOCKET_LIFETIME", default_value = "10s",
          hide_short_help = true, value_parser = humantime::parse_duration,
          value_name = "DURATION")]
    pub dns_socket_lifetime: Duration,

    /// Pooled transport: DNS questions that may wait for room at busy servers.
    ///
    /// More fail at once with outcome error, queue_full (never sent, not cached).
    #[arg(
        long,
        env = "HOSTLOC_DNS_QUEUE",
        default_value_t = 10_000,
        hide_short_help = true,
        value_name = "N"
    )]
    pub dns_queue: usize,
}

/// The DNS cache: how many hosts, and for how long.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "DNS cache")]
pub struct CacheArgs {
    /// Hosts kept in the DNS cache (0 turns it off).
    #[arg(
        long,
        env = "HOSTLOC_CACHE_CAPACITY",
        default_value_t = 100_000,
        value_name = "N"
    )]
    pub cache_capacity: u64,

    /// Shortest time a DNS answer is cached, whatever its TTL.
    #[arg(long, env = "HOSTLOC_CACHE_MIN_TTL", default_value = "0s", hide_short_help = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cache_min_ttl: Duration,

    /// Longest time a DNS answer is cached, whatever its TTL.
    #[arg(long, env = "HOSTLOC_CACHE_MAX_TTL", default_value = "1h", hide_short_help = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cache_max_ttl: Duration,

    /// Longest time an NXDOMAIN / no-data answer is cached.
    #[arg(long, env = "HOSTLOC_CACHE_NEGATIVE_TTL", default_value = "60s",
          hide_short_help = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cache_negative_ttl: Duration,

    /// How long a failed DNS lookup (SERVFAIL, REFUSED, timeout) is cached.
    #[arg(long, env = "HOSTLOC_CACHE_FAILURE_TTL", default_value = "5s", hide_short_help = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cache_failure_ttl: Duration,
}

/// Referral: whose jurisdiction the verdicts are decided for.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Referral")]
pub struct ReferralArgs {
    /// The jurisdiction whose police get referrals: ISO 3166-1 alpha-2 (e.g. NL, BE, DE).
    #[arg(
        long,
        env = "HOSTLOC_JURISDICTION",
        default_value = "NL",
        value_name = "CC"
    )]
    pub jurisdiction: Jurisdiction,
}

/// Logging: format of the log on stderr, and whether it may name reported URLs.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log format on stderr. The level comes from RUST_LOG (default: info).
    #[arg(long, env = "HOSTLOC_LOG_FORMAT", value_enum,
          default_value_t = LogFormat::Human, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Allow reported URLs and hosts in logs. Off by default: they are sensitive.
    #[arg(long, env = "HOSTLOC_LOG_URLS")]
    pub log_urls: bool,
}

impl LogArgs {
    /// Whether the log on stderr gets colours: only on a terminal, and never when `NO_COLOR`
    /// is set to anything but the empty string (no-color.org).
    pub fn colour(&self) -> bool {
        use std::io::IsTerminal;
        self.log_format == LogFormat::Human
            && std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// `hostloc lookup`'s own options.
#[derive(Debug, Clone, Args)]
pub struct LookupArgs {
    /// Print one JSON result per line (NDJSON) instead of the summary.
    #[arg(long, env = "HOSTLOC_JSON", conflicts_with = "evidence")]
    pub json: bool,

    /// Print each result as its evidence record, plain text for a case file.
    ///
    /// What was reported, what came back, from which data (with SHA-256), which DNS answer,
    /// when, and by which program; every line is documented in docs/evidence.md.
    #[arg(long, env = "HOSTLOC_EVIDENCE")]
    pub evidence: bool,

    /// Lookups in flight at once when reading many URLs; output stays in input order.
    #[arg(long, env = "HOSTLOC_CONCURRENCY", default_value_t = 64, hide_short_help = true,
          value_parser = clap::value_parser!(u32).range(1..=10_000), value_name = "N")]
    pub concurrency: u32,

    /// Reported URLs. None, or "-": read one per line from stdin. Bytes that are not UTF-8
    /// are replaced, with a warning in the result, as in `hostloc batch`.
    #[arg(value_name = "URL")]
    pub urls: Vec<std::ffi::OsString>,
}

/// `hostloc serve`'s own options: where it listens, who may call it, its limits.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "HOSTLOC_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR:PORT"
    )]
    pub listen: SocketAddr,

    /// When set, /v1/* and /admin/* require `Authorization: Bearer <TOKEN>`.
    #[arg(
        long,
        env = "HOSTLOC_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// Largest request body accepted; larger is refused with 413.
    #[arg(long, env = "HOSTLOC_MAX_BODY_BYTES", default_value_t = 1024 * 1024,
          hide_short_help = true, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// Most URLs accepted in one POST /v1/lookup; more is refused with 413.
    #[arg(
        long,
        env = "HOSTLOC_MAX_BATCH_URLS",
        default_value_t = 1000,
        hide_short_help = true,
        value_name = "N"
    )]
    pub max_batch_urls: usize,

    /// Time limit for one request, its lookups included; longer is 504.
    #[arg(long, env = "HOSTLOC_REQUEST_TIMEOUT", default_value = "30s", hide_short_help = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,

    /// Time a client has to send its request headers, counted from the connection's opening
    /// (a client that sends nothing is disconnected) or from the previous answer.
    #[arg(long, env = "HOSTLOC_HEADER_TIMEOUT", default_value = "10s", hide_short_help = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub header_timeout: Duration,

    /// Close a connection when no request has run on it for this long (after its first one).
    #[arg(long, env = "HOSTLOC_IDLE_TIMEOUT", default_value = "60s", hide_short_help = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub idle_timeout: Duration,

    /// Connections open at once; at the limit, new ones wait in the listen queue.
    ///
    /// New connections wait until one closes. Keep it below the open-files limit (ulimit -n).
    #[arg(
        long,
        env = "HOSTLOC_MAX_CONNECTIONS",
        default_value_t = 10_000,
        hide_short_help = true,
        value_name = "N"
    )]
    pub max_connections: usize,

    /// Largest request line plus headers; larger is refused with 431.
    #[arg(long, env = "HOSTLOC_MAX_HEADER_BYTES", default_value_t = 128 * 1024,
          hide_short_help = true, value_name = "BYTES")]
    pub max_header_bytes: usize,

    /// Connections the system queues before they are accepted (capped by net.core.somaxconn).
    #[arg(
        long,
        env = "HOSTLOC_LISTEN_BACKLOG",
        default_value_t = 1024,
        hide_short_help = true,
        value_name = "N"
    )]
    pub listen_backlog: usize,

    /// Requests handled at once; more are refused with 503 and Retry-After, not queued.
    #[arg(
        long,
        env = "HOSTLOC_MAX_CONCURRENT_REQUESTS",
        default_value_t = 512,
        hide_short_help = true,
        value_name = "N"
    )]
    pub max_concurrent_requests: usize,

    /// Lookups in flight at once within one POST /v1/lookup.
    #[arg(
        long,
        env = "HOSTLOC_CONCURRENCY",
        default_value_t = 64,
        hide_short_help = true,
        value_name = "N"
    )]
    pub concurrency: u32,

    /// Check the data files this often and reload when they changed (e.g. 60s). Default: off.
    #[arg(long, env = "HOSTLOC_WATCH_INTERVAL",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub watch_interval: Option<Duration>,

    /// Answer /readyz with 503 while a database is older than --max-data-age.
    ///
    /// Without it the server is ready with stale data, and says so in every result, in its
    /// log and on /readyz.
    #[arg(long, env = "HOSTLOC_REQUIRE_FRESH_DATA")]
    pub require_fresh_data: bool,

    /// How long shutdown (SIGTERM, SIGINT) waits for requests in flight.
    #[arg(long, env = "HOSTLOC_SHUTDOWN_GRACE", default_value = "10s", hide_short_help = true,
          value_parser = humantime::parse_duration, value_name = "DURATION")]
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

/// The values of `hostloc batch --format`: a format rows are read and written in, or `iccam`,
/// the ICCAM view of each row's result in the format the file's extension gives (issue 11's
/// `batch --format iccam`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BatchFormatArg {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// One URL per line in, one JSON result per line out.
    Lines,
    /// The format from the extension, as without --format; each result as its ICCAM view.
    Iccam,
}

impl BatchFormatArg {
    /// The format rows are read and written in; `None` when the extension decides.
    pub fn rows(self) -> Option<BatchFormat> {
        match self {
            BatchFormatArg::Csv => Some(BatchFormat::Csv),
            BatchFormatArg::Jsonl => Some(BatchFormat::Jsonl),
            BatchFormatArg::Lines => Some(BatchFormat::Lines),
            BatchFormatArg::Iccam => None,
        }
    }
}

/// What the result part of each `hostloc batch` output record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// The whole result.
    #[default]
    Full,
    /// The result as the hosting fields of an ICCAM report (see docs/iccam.md).
    Iccam,
}

/// `hostloc batch`'s own options: what to read, where to write, how.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// Input format. Default: from the file extension (.csv/.tsv, .jsonl/.ndjson, else lines).
    ///
    /// .csv and .tsv are csv, .jsonl and .ndjson are jsonl, anything else is lines. For stdin,
    /// the output file's extension decides. `iccam` keeps that choice and writes each row's
    /// result as its ICCAM view, like --output-format iccam (docs/iccam.md).
    #[arg(long, env = "HOSTLOC_BATCH_FORMAT", value_enum, value_name = "FORMAT")]
    pub format: Option<BatchFormatArg>,

    /// The column (CSV) or field (JSONL) holding the reported URL.
    ///
    /// For JSONL, a JSON Pointer such as /report/url names a nested field.
    #[arg(
        long,
        env = "HOSTLOC_URL_COLUMN",
        default_value = "url",
        value_name = "NAME"
    )]
    pub url_column: String,

    /// CSV field delimiter: one ASCII character, or "tab". Default: tab for .tsv, else ",".
    ///
    /// One ASCII character, e.g. ";"; "\t" or "tab" for a tab.
    #[arg(long, env = "HOSTLOC_DELIMITER", value_parser = parse_delimiter, value_name = "CHAR")]
    pub delimiter: Option<u8>,

    /// Write here instead of stdout ("-" is stdout too).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// What each row's result holds: the whole result (default), or its ICCAM view.
    ///
    /// The ICCAM view is the verdict, the URL and the hosting fields ICCAM takes
    /// (docs/iccam.md), whatever the input format. Default: full, or iccam with --format iccam.
    #[arg(
        long,
        env = "HOSTLOC_OUTPUT_FORMAT",
        value_enum,
        hide_short_help = true,
        value_name = "FORMAT"
    )]
    pub output_format: Option<OutputFormat>,

    /// An earlier enriched output of these reports (CSV or JSONL): mark what moved since.
    ///
    /// Adds the columns `moved` and `changes` to each row (whose countries, addresses, AS
    /// numbers or verdict changed; rows are matched by their report text) and counts moved,
    /// unchanged, new and vanished rows in the summary.
    #[arg(
        long,
        env = "HOSTLOC_COMPARE",
        hide_short_help = true,
        value_name = "PATH"
    )]
    pub compare: Option<PathBuf>,

    /// Continue an interrupted run into the same --output file.
    ///
    /// Keeps the complete rows already in the output file (a partial last one is cut away),
    /// skips as many input rows, and appends the rest. A missing output file simply starts the
    /// run.
    #[arg(long, requires = "output")]
    pub resume: bool,

    /// Lookups in flight at once; output stays in input order.
    #[arg(long, env = "HOSTLOC_CONCURRENCY", default_value_t = 256, hide_short_help = true,
          value_parser = clap::value_parser!(u32).range(1..=10_000), value_name = "N")]
    pub concurrency: u32,

    /// No progress bar and no summary on stderr (errors are still printed).
    #[arg(short, long, env = "HOSTLOC_QUIET")]
    pub quiet: bool,

    /// Process only shard I of N (I from 0): the data rows whose index leaves remainder I.
    ///
    /// Rows are counted from 0, a CSV header not counted (it is kept). N runs with I = 0 … N-1
    /// cover every row once; `hostloc batch merge` puts their outputs back in input order. In
    /// a Kubernetes Indexed Job: the completion index as I.
    #[arg(
        long,
        env = "HOSTLOC_SHARD",
        hide_short_help = true,
        value_name = "I/N"
    )]
    pub shard: Option<Shard>,

    /// Input file; "-" or none reads stdin.
    #[arg(value_name = "PATH")]
    pub input: Option<PathBuf>,
}

/// Steps of `hostloc batch` other than the run itself.
#[derive(Debug, Clone, Subcommand)]
pub enum BatchStep {
    /// Put the outputs of `--shard 0/N` … `N-1/N` back in input order.
    ///
    /// The outputs, given in shard order, are interleaved one record at a time, with one CSV
    /// header. The output file is written whole or not at all.
    // Hidden from `batch -h` to keep it short; `batch --help` shows it in the examples.
    #[command(hide = true)]
    Merge(MergeArgs),
}

/// `hostloc batch merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Format of the shard outputs. Default: from the first file's extension, as for a run.
    ///
    /// `iccam` (as the run had it) is the format from the extension too.
    #[arg(long, env = "HOSTLOC_BATCH_FORMAT", value_enum, value_name = "FORMAT")]
    pub format: Option<BatchFormatArg>,

    /// CSV field delimiter, as for a run.
    #[arg(long, env = "HOSTLOC_DELIMITER", value_parser = parse_delimiter, value_name = "CHAR")]
    pub delimiter: Option<u8>,

    /// Write here instead of stdout ("-" is stdout too).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// The outputs of shards 0, 1, … N-1, in that order.
    #[arg(required = true, value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
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

/// Parses a directory to search; unlike a path option, it may be empty, which means none.
fn parse_search_dir(text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(text))
}

/// `hostloc data ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum DataCommand {
    /// Show what the configured databases, networks file, hotline table and anycast list are,
    /// and how old the databases are.
    Info(DataInfoArgs),
    /// Build a GeoLite2-ASN-layout database from ip-location-db's asn CSV files.
    ImportAsn(ImportAsnArgs),
    /// Measure how often the country databases in use disagree, on random public IPv4
    /// addresses: about the country, and about whether an address is in the jurisdiction.
    Agreement(AgreementArgs),
    /// Download current databases from their publishers and replace the configured files.
    ///
    /// DB-IP Lite country and ASN (monthly), and MaxMind editions when a GeoIP.conf is given.
    /// Each file is replaced atomically, and only when the download opens as the right kind and
    /// is not older than the file in place. Exit status 1 when any file was not updated.
    Update(DataUpdateArgs),
    /// Copy the bundled data files into --data-dir where they are missing (a fresh volume).
    ///
    /// So that a server can start before the first `data update`. Never overwrites a file.
    Seed(DataSeedArgs),
}

/// `hostloc data agreement`: the sample, the data and the jurisdiction.
#[derive(Debug, Clone, Args)]
pub struct AgreementArgs {
    /// How many random public IPv4 addresses to draw.
    #[arg(long, env = "HOSTLOC_AGREEMENT_ADDRESSES", default_value_t = 100_000,
          value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub addresses: u32,

    /// Seed of the random draw: the same seed, data and hostloc build draw the same addresses.
    #[arg(
        long,
        env = "HOSTLOC_AGREEMENT_SEED",
        default_value_t = 1,
        value_name = "N"
    )]
    pub seed: u64,

    /// How many disagreements about the jurisdiction to list as examples.
    #[arg(
        long,
        env = "HOSTLOC_AGREEMENT_EXAMPLES",
        default_value_t = 10,
        value_name = "N"
    )]
    pub examples: usize,

    /// Databases and the networks file.
    #[command(flatten)]
    pub data: DataArgs,
    /// Whose jurisdiction.
    #[command(flatten)]
    pub referral: ReferralArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `hostloc data update`: where from, and the data files it replaces.
#[derive(Debug, Clone, Args)]
pub struct DataUpdateArgs {
    /// Where the databases come from.
    #[command(flatten)]
    pub update: UpdateArgs,
    /// The files to replace.
    #[command(flatten)]
    pub data: DataArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Where `hostloc data update` downloads from.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sources")]
pub struct UpdateArgs {
    /// DB-IP Lite country file, downloaded into --country-db; {YYYY} and {MM} are filled in.
    ///
    /// The year and month are UTC; last month's file is used until this month's is published.
    #[arg(long, env = "HOSTLOC_DBIP_COUNTRY_URL", value_name = "URL",
          default_value = crate::data_update::DBIP_COUNTRY_URL)]
    pub dbip_country_url: String,

    /// DB-IP Lite ASN file, downloaded into --asn-db, as --dbip-country-url.
    #[arg(long, env = "HOSTLOC_DBIP_ASN_URL", value_name = "URL",
          default_value = crate::data_update::DBIP_ASN_URL)]
    pub dbip_asn_url: String,

    /// Do not download the DB-IP files (e.g. when MaxMind's are used instead).
    #[arg(long, env = "HOSTLOC_NO_DBIP")]
    pub no_dbip: bool,

    /// Where the current geo-whois-asn-country.mmdb is: the second country source's URL.
    ///
    /// A plain, gzipped or npm-packed (.tgz) .mmdb, e.g. the asset of the publisher's latest
    /// GitHub release (https://github.com/sapics/ip-location-db/releases). There is no default:
    /// without it, a second source in place fails the update (it only grows older); ask DB-IP
    /// alone with --single-source instead. See docs/deploy.md.
    #[arg(long, env = "HOSTLOC_GEO_WHOIS_URL", value_name = "URL")]
    pub geo_whois_url: Option<String>,

    /// geoipupdate's GeoIP.conf: also update its MaxMind editions.
    ///
    /// AccountID, LicenseKey and EditionIDs are read; each edition is written as
    /// {EditionID}.mmdb in its DatabaseDirectory, or else in --data-dir.
    #[arg(long, env = "HOSTLOC_GEOIP_CONF", value_name = "PATH")]
    pub geoip_conf: Option<PathBuf>,

    /// MaxMind's update server. Default: the GeoIP.conf Host, else https://updates.maxmind.com.
    #[arg(long, env = "HOSTLOC_MAXMIND_URL", value_name = "URL")]
    pub maxmind_url: Option<String>,

    /// Time limit for one download.
    #[arg(long, env = "HOSTLOC_DOWNLOAD_TIMEOUT", default_value = "5m",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub download_timeout: Duration,
}

/// `hostloc data seed`.
#[derive(Debug, Clone, Args)]
pub struct DataSeedArgs {
    /// Where the bundled files are (in the container image: its own data folder).
    #[arg(long, env = "HOSTLOC_SEED_FROM", value_name = "DIR",
          default_value = SOURCE_DATA_DIR, hide_default_value = true)]
    pub from: PathBuf,
    /// The files to seed.
    #[command(flatten)]
    pub data: DataArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `hostloc healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The address `hostloc serve` listens on; an unspecified one (0.0.0.0, ::) is asked on
    /// loopback.
    #[arg(
        long,
        env = "HOSTLOC_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR:PORT"
    )]
    pub listen: SocketAddr,

    /// How long to wait for the answer.
    #[arg(long, env = "HOSTLOC_HEALTHCHECK_TIMEOUT", default_value = "5s",
          value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

/// `hostloc data info`: which data, nothing else.
#[derive(Debug, Clone, Args)]
pub struct DataInfoArgs {
    /// Databases, the networks file and the hotline table.
    #[command(flatten)]
    pub data: DataArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `hostloc data import-asn`.
#[derive(Debug, Clone, Args)]
pub struct ImportAsnArgs {
    /// CSV files `range_start,range_end,asn,organisation` (asn-ipv4.csv, asn-ipv6.csv).
    #[arg(required = true, value_name = "CSV")]
    pub inputs: Vec<PathBuf>,

    /// Where to write the .mmdb.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,

    /// Build time to record, RFC 3339 (the date of the source data). Default: now.
    #[arg(long, value_name = "TIME")]
    pub built: Option<String>,

    /// Where the CSV came from, recorded in the database description.
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "ip-location-db asn (RouteViews, RIRs via NRO, DB-IP; CC BY 4.0)"
    )]
    pub source: String,
}

/// `hostloc completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `hostloc manpage`.
#[derive(Debug, Clone, Args)]
pub struct ManpageArgs {
    /// Write hostloc.1 and one page per command (hostloc-lookup.1, …) into this directory,
    /// instead of printing hostloc.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl Cli {
    /// Parses the process's arguments, exiting with clap's message (status 2) on a usage error
    /// and printing help or version when asked.
    pub fn parse_args() -> Cli {
        match Cli::try_parse_args(std::env::args_os()) {
            Ok(cli) => cli,
            Err(error) => error.exit(),
        }
    }

    /// Parses `args` (the program name first), with options written before the command moved
    /// behind it.
    ///
    /// # Errors
    ///
    /// clap's error for a usage error, or for `--help` / `--version`.
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args = args.into_iter().map(Into::into).collect();
        let cli = Cli::try_parse_from(command_first(&Cli::command(), args))?;
        cli.check()?;
        Ok(cli)
    }

    /// Settings that clap cannot check on its own.
    ///
    /// # Errors
    ///
    /// A usage error (exit status 2) for `--single-source` with more than one `--country-db`:
    /// which one to keep would be a guess.
    fn check(&self) -> Result<(), clap::Error> {
        let data = match &self.command {
            Command::Lookup(command) => &command.pipeline.data,
            Command::Serve(command) => &command.pipeline.data,
            Command::Batch(command) => &command.pipeline.data,
            Command::Data(DataCommand::Info(info)) => &info.data,
            Command::Data(DataCommand::Agreement(agreement)) => &agreement.data,
            Command::Data(DataCommand::Update(update)) => &update.data,
            Command::Data(DataCommand::Seed(seed)) => &seed.data,
            Command::Data(DataCommand::ImportAsn(_))
            | Command::Healthcheck(_)
            | Command::Completions(_)
            | Command::Manpage(_) => return Ok(()),
        };
        if let Command::Batch(command) = &self.command
            && command.batch.format == Some(BatchFormatArg::Iccam)
            && command.batch.output_format == Some(OutputFormat::Full)
        {
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "--format iccam writes the ICCAM view of each result, but --output-format full \
                 (or HOSTLOC_OUTPUT_FORMAT) asks for the whole result; drop one of them",
            ));
        }
        if let Command::Data(DataCommand::Update(update)) = &self.command
            && update.update.geo_whois_url.is_some()
            && !data.uses_second_source()
        {
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--geo-whois-url names the second country source's file, but the country \
                     databases to update do not include {} (--single-source, or a --country-db \
                     list without it); drop --geo-whois-url, or use the second source",
                    DataFile::SecondOpinionDb.names()[0]
                ),
            ));
        }
        if data.single_source && data.country_db.len() > 1 {
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--single-source asks one country database, but {} were given with \
                     --country-db / HOSTLOC_COUNTRY_DB; give one, or drop --single-source",
                    data.country_db.len()
                ),
            ));
        }
        Ok(())
    }
}

impl Command {
    /// The logging options of this command (the defaults for a command that has none).
    pub fn log(&self) -> LogArgs {
        match self {
            Command::Lookup(command) => command.pipeline.log.clone(),
            Command::Serve(command) => command.pipeline.log.clone(),
            Command::Batch(command) => command.pipeline.log.clone(),
            Command::Data(DataCommand::Info(info)) => info.log.clone(),
            Command::Data(DataCommand::Agreement(agreement)) => agreement.log.clone(),
            Command::Data(DataCommand::Update(update)) => update.log.clone(),
            Command::Data(DataCommand::Seed(seed)) => seed.log.clone(),
            Command::Data(DataCommand::ImportAsn(_))
            | Command::Healthcheck(_)
            | Command::Completions(_)
            | Command::Manpage(_) => LogArgs::default(),
        }
    }
}

/// Moves the options written before the command (`hostloc --dns-server X lookup …`) to just
/// behind its name (`hostloc lookup --dns-server X …`), where clap looks for them.
///
/// Returns `args` unchanged when there is nothing to move, or when a leading word is not an
/// option of any command (or asks for help or the version): clap then reports it as written.
fn command_first(root: &clap::Command, args: Vec<OsString>) -> Vec<OsString> {
    let Some((program, rest)) = args.split_first() else {
        return args;
    };
    let mut leading = 0;
    while let Some(word) = rest.get(leading).and_then(|word| word.to_str()) {
        if !word.starts_with('-') || word == "-" || word == "--" {
            break;
        }
        let (name, inline_value) = match word.split_once('=') {
            Some((name, _)) => (name, true),
            None => (word, false),
        };
        match option_takes_value(root, name) {
            None => return args,
            Some(true) if !inline_value => leading += 2,
            Some(_) => leading += 1,
        }
    }
    let mut command = root;
    let mut path_end = leading;
    while let Some(sub) = rest
        .get(path_end)
        .and_then(|word| word.to_str())
        .and_then(|word| command.find_subcommand(word))
    {
        command = sub;
        path_end += 1;
    }
    if leading == 0 || leading > rest.len() || path_end == leading {
        return args;
    }
    let mut moved = Vec::with_capacity(args.len());
    moved.push(program.clone());
    moved.extend_from_slice(&rest[leading..path_end]);
    moved.extend_from_slice(&rest[..leading]);
    moved.extend_from_slice(&rest[path_end..]);
    moved
}

/// Whether the option `name` (`--long` or `-s`) of some command takes a value; `None` when no
/// command has it, or when it is help or version (which belong where they were written).
fn option_takes_value(command: &clap::Command, name: &str) -> Option<bool> {
    if matches!(name, "-h" | "--help" | "-V" | "--version") {
        return None;
    }
    let found = command
        .get_arguments()
        .find(|arg| match name.strip_prefix("--") {
            Some(long) => arg.get_long() == Some(long),
            None => {
                let mut short = name.chars().skip(1);
                name.starts_with('-') && short.next() == arg.get_short() && short.next().is_none()
            }
        });
    match found {
        Some(arg) => Some(arg.get_action().takes_values()),
        None => command
            .get_subcommands()
            .find_map(|sub| option_takes_value(sub, name)),
    }
}

impl DataArgs {
    /// Whether these settings ask the bundled second country source, by its file name: by
    /// default, unless `--single-source`; with `--country-db`, when one after the first has it.
    pub fn uses_second_source(&self) -> bool {
        let name = DataFile::SecondOpinionDb.names()[0];
        match self.country_db.split_first() {
            _ if self.single_source => false,
            None => true,
            Some((_, others)) => others.iter().any(|path| path.ends_with(name)),
        }
    }

    /// The data files: those given, and the others found by the search of
    /// [`crate::data_files`], ending with `bundled` (the copy a binary carries, if any).
    ///
    /// # Errors
    ///
    /// [`DataFilesError`] when a file cannot be found.
    pub fn data_paths(&self, bundled: Option<&Bundled>) -> Result<DataPaths, DataFilesError> {
        data_files::find(&self.given_files(), &self.search_path(), bundled)
    }

    /// Where files not given are looked for: the options, and the XDG base directories of
    /// the environment.
    fn search_path(&self) -> SearchPath {
        // The XDG base directory specification: unset, empty or relative values are ignored.
        let absolute = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|path| path.is_absolute())
        };
        let home = absolute("HOME");
        let data_home = absolute("XDG_DATA_HOME")
            .or_else(|| home.as_ref().map(|home| home.join(".local/share")));
        let data_dirs: Vec<PathBuf> = match std::env::var_os("XDG_DATA_DIRS") {
            Some(dirs) if !dirs.is_empty() => std::env::split_paths(&dirs)
                .filter(|path| path.is_absolute())
                .collect(),
            _ => vec!["/usr/local/share".into(), "/usr/share".into()],
        };
        let cache_home =
            absolute("XDG_CACHE_HOME").or_else(|| home.as_ref().map(|home| home.join(".cache")));
        SearchPath {
            data_dir: self.data_dir.clone(),
            geoipupdate_dirs: self
                .geoipupdate_dirs
                .iter()
                .filter(|dir| !dir.as_os_str().is_empty())
                .cloned()
                .collect(),
            data_dirs: data_home
                .into_iter()
                .chain(data_dirs)
                .map(|dir| dir.join("hostloc"))
                .collect(),
            source_dir: Some(PathBuf::from(SOURCE_DATA_DIR)).filter(|dir| dir.is_dir()),
            cache_dir: cache_home.map(|dir| dir.join("hostloc")),
        }
    }

    /// The files `hostloc data update` and `data seed` write: each file's own flag, else its
    /// bundled name in `--data-dir` (no search: a command that writes must be told where).
    ///
    /// # Errors
    ///
    /// [`DataFilesError::NoTarget`] when a file has no flag and `--data-dir` is not given.
    pub fn files_in_data_dir(&self) -> Result<DataPaths, DataFilesError> {
        data_files::in_data_dir(&self.given_files(), self.data_dir.as_deref())
    }

    /// The files given by their own flag or variable.
    fn given_files(&self) -> GivenFiles {
        GivenFiles {
            country_db: self.country_db.clone(),
            single_source: self.single_source,
            asn_db: self.asn_db.clone(),
            networks: self.networks.clone(),
            hotlines: self.hotlines.clone(),
            anycast: self.anycast.clone(),
        }
    }

    /// Finds and loads the databases and the networks file.
    ///
    /// # Errors
    ///
    /// [`StartupError`] naming the file that could not be found or used.
    pub fn load(&self, bundled: Option<&Bundled>) -> Result<(DataPaths, DataSet), StartupError> {
        let paths = self.data_paths(bundled)?;
        let data = DataSet::load(&paths)?;
        Ok((paths, data))
    }
}

impl BatchArgs {
    /// The format rows are read and written in, when the arguments name one; `None` when the
    /// file's extension decides.
    pub fn row_format(&self) -> Option<BatchFormat> {
        self.format.and_then(BatchFormatArg::rows)
    }

    /// What each row's result holds: `--output-format`, else the ICCAM view for
    /// `--format iccam`, else the whole result.
    pub fn output_format(&self) -> OutputFormat {
        match (self.output_format, self.format) {
            (Some(output), _) => output,
            (None, Some(BatchFormatArg::Iccam)) => OutputFormat::Iccam,
            (None, _) => OutputFormat::Full,
        }
    }
}

impl DnsArgs {
    /// DNS servers and limits.
    pub fn dns_settings(&self) -> DnsSettings {
        DnsSettings {
            servers: self.dns_servers.iter().map(|server| server.0).collect(),
            timeout: self.dns_timeout,
            attempts: usize::from(self.dns_attempts),
            transport: self.dns_transport,
            rotation: Rotation {
                max_queries: self.dns_socket_queries,
                max_age: self.dns_socket_lifetime,
            },
            queue: self.dns_queue,
        }
    }
}

impl CacheArgs {
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
}

impl PipelineArgs {
    /// The settings of the pipeline that are not data.
    pub fn pipeline_settings(&self) -> PipelineSettings {
        PipelineSettings {
            jurisdiction: self.referral.jurisdiction.clone(),
            max_data_age: self.data.max_data_age,
            log_urls: self.log.log_urls,
        }
    }

    /// Loads the data (ending the search with `bundled`, the copy a binary carries) and sets
    /// up DNS: the pipeline every lookup command uses.
    ///
    /// # Errors
    ///
    /// [`StartupError`] naming the file or setting that could not be used.
    pub fn pipeline(&self, bundled: Option<&Bundled>) -> Result<Pipeline, StartupError> {
        let (paths, data) = self.data.load(bundled)?;
        let resolver = DnsResolver::new(&self.dns.dns_settings())?;
        Ok(Pipeline::new(
            data,
            Some(paths),
            DnsCache::new(resolver, self.cache.cache_settings()),
            self.pipeline_settings(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_args(args).unwrap_or_else(|error| panic!("{args:?}: {error}"))
    }

    fn lookup_pipeline(args: &[&str]) -> PipelineArgs {
        match parse(args).command {
            Command::Lookup(lookup) => lookup.pipeline,
            other => unreachable!("parsed {other:?}"),
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_point_at_the_bundled_data() {
        let pipeline =
            lookup_pipeline(&["hostloc", "lookup", "--geoipupdate-dir", "", "example.nl"]);
        let search = pipeline.data.search_path();
        assert!(search.geoipupdate_dirs.is_empty());
        let source = search.source_dir.clone().expect("the source tree's data/");
        assert!(source.ends_with("data"));
        let paths = data_files::find(
            &GivenFiles::default(),
            &SearchPath {
                data_dirs: Vec::new(),
                ..search
            },
            None,
        )
        .unwrap();
        assert_eq!(paths.country_db, source.join("dbip-country.mmdb"));
        assert_eq!(paths.asn_db, source.join("asn.mmdb"));
        assert_eq!(paths.networks, source.join("networks.csv"));
        assert_eq!(paths.hotlines, source.join("hotlines.csv"));
        assert_eq!(paths.anycast, source.join("anycast.csv"));
        assert_eq!(pipeline.referral.jurisdiction.code(), "NL");
        assert_eq!(
            pipeline.data.max_data_age,
            Some(data_age::DEFAULT_MAX_DATA_AGE)
        );
        let off = lookup_pipeline(&["hostloc", "lookup", "--max-data-age", "off"]);
        assert_eq!(off.data.max_data_age, None);
        let defaults = lookup_pipeline(&["hostloc", "lookup"])
            .data
            .geoipupdate_dirs;
        assert_eq!(defaults.len(), 3, "{defaults:?}");
    }

    #[test]
    fn country_databases_repeat_the_first_being_the_primary() {
        let paths = |args: &[&str]| {
            lookup_pipeline(args)
                .data
                .data_paths(None)
                .unwrap()
                .country_dbs()
                .map(|path| path.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            paths(&["hostloc", "lookup", "--country-db", "a.mmdb"]),
            ["a.mmdb"],
            "a given database replaces both bundled ones"
        );
        assert_eq!(
            paths(&[
                "hostloc",
                "--country-db",
                "a.mmdb,b.mmdb",
                "lookup",
                "--country-db",
                "c.mmdb",
            ]),
            ["a.mmdb", "b.mmdb", "c.mmdb"]
        );
        assert_eq!(
            paths(&[
                "hostloc",
                "lookup",
                "--single-source",
                "--country-db",
                "a.mmdb"
            ]),
            ["a.mmdb"]
        );
        let bundled = paths(&[
            "hostloc",
            "--single-source",
            "lookup",
            "--geoipupdate-dir",
            "",
        ]);
        assert_eq!(bundled.len(), 1);
        assert!(bundled[0].ends_with("data/dbip-country.mmdb"));
    }

    #[test]
    fn single_source_with_several_databases_is_a_usage_error() {
        for command in [&["lookup"][..], &["serve"], &["data", "info"]] {
            let mut args = vec![
                "hostloc",
                "--single-source",
                "--country-db",
                "a.mmdb,b.mmdb",
            ];
            args.extend_from_slice(command);
            let error = Cli::try_parse_args(&args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
            assert!(error.to_string().contains("2 were given"), "{error}");
        }
    }

    #[test]
    fn dns_servers_repeat_or_comma_separate() {
        let pipeline = lookup_pipeline(&[
            "hostloc",
            "lookup",
            "--dns-server",
            "127.0.0.1:5353,9.9.9.9",
            "--dns-server",
            "[::1]:53",
        ]);
        let servers: Vec<String> = pipeline
            .dns
            .dns_settings()
            .servers
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(servers, ["127.0.0.1:5353", "9.9.9.9:53", "[::1]:53"]);
    }

    #[test]
    fn the_dns_transport_is_pooled_unless_another_is_asked_for() {
        let settings = lookup_pipeline(&["hostloc", "lookup"]).dns.dns_settings();
        assert_eq!(settings.transport, DnsTransport::Pooled);
        assert_eq!(settings.rotation, Rotation::default());
        assert_eq!(settings.queue, DnsSettings::default().queue);
        for (name, transport) in [
            ("hickory", DnsTransport::Hickory),
            ("hickory-tcp", DnsTransport::HickoryTcp),
        ] {
            let pipeline = lookup_pipeline(&["hostloc", "lookup", "--dns-transport", name]);
            assert_eq!(pipeline.dns.dns_settings().transport, transport);
            assert_eq!(transport.as_str(), name);
        }
        let settings = lookup_pipeline(&[
            "hostloc",
            "lookup",
            "--dns-socket-queries",
            "1",
            "--dns-socket-lifetime",
            "500ms",
            "--dns-queue",
            "7",
        ])
        .dns
        .dns_settings();
        assert_eq!(settings.rotation.max_queries, 1);
        assert_eq!(settings.rotation.max_age, Duration::from_millis(500));
        assert_eq!(settings.queue, 7);
    }

    #[test]
    fn options_before_the_command_are_the_commands_options() {
        for args in [
            &[
                "hostloc",
                "--jurisdiction",
                "BE",
                "--dns-timeout=5s",
                "lookup",
                "x.be",
            ][..],
            &[
                "hostloc",
                "lookup",
                "--jurisdiction",
                "BE",
                "--dns-timeout=5s",
                "x.be",
            ][..],
            &[
                "hostloc",
                "--jurisdiction",
                "BE",
                "lookup",
                "--dns-timeout",
                "5s",
                "x.be",
            ][..],
        ] {
            let Command::Lookup(lookup) = parse(args).command else {
                unreachable!("{args:?}")
            };
            assert_eq!(
                lookup.pipeline.referral.jurisdiction.code(),
                "BE",
                "{args:?}"
            );
            assert_eq!(lookup.pipeline.dns.dns_timeout, Duration::from_secs(5));
            assert_eq!(lookup.lookup.urls, ["x.be"], "{args:?}");
        }
        let Command::Data(DataCommand::Info(info)) =
            parse(&["hostloc", "--country-db", "c.mmdb", "data", "info"]).command
        else {
            unreachable!()
        };
        assert_eq!(info.data.country_db, [PathBuf::from("c.mmdb")]);
        let Command::Batch(batch) = parse(&["hostloc", "-q", "batch", "in.csv"]).command else {
            unreachable!()
        };
        assert!(batch.batch.quiet);
    }

    #[test]
    fn a_command_refuses_the_options_it_does_not_use() {
        for args in [
            &[
                "hostloc",
                "data",
                "import-asn",
                "--dns-server",
                "127.0.0.1",
                "-o",
                "x",
                "a.csv",
            ][..],
            &[
                "hostloc",
                "--dns-server",
                "127.0.0.1",
                "data",
                "import-asn",
                "-o",
                "x",
                "a.csv",
            ][..],
            &["hostloc", "data", "info", "--dns-server", "127.0.0.1"][..],
            &["hostloc", "lookup", "--listen", "127.0.0.1:1"][..],
            &["hostloc", "--listen", "127.0.0.1:1", "batch"][..],
        ] {
            let error = Cli::try_parse_args(args).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{args:?}"
            );
        }
    }

    #[test]
    fn each_command_lists_only_the_groups_it_uses() {
        let root = Cli::command();
        let options = |path: &[&str]| -> Vec<String> {
            let mut command = &root;
            for name in path {
                command = command.find_subcommand(name).unwrap();
            }
            command
                .get_arguments()
                .filter_map(|arg| arg.get_long().map(str::to_owned))
                .collect()
        };
        let import_asn = options(&["data", "import-asn"]);
        assert!(
            !import_asn.iter().any(|long| long.starts_with("dns")),
            "{import_asn:?}"
        );
        assert!(!import_asn.contains(&"country-db".to_owned()));
        let info = options(&["data", "info"]);
        assert!(info.contains(&"country-db".to_owned()));
        assert!(!info.iter().any(|long| long.starts_with("dns")), "{info:?}");
        for command in ["lookup", "serve", "batch"] {
            let options = options(&[command]);
            for long in ["country-db", "dns-server", "cache-capacity", "jurisdiction"] {
                assert!(
                    options.contains(&long.to_owned()),
                    "{command} lacks --{long}"
                );
            }
        }
        assert!(options(&["serve"]).contains(&"listen".to_owned()));
    }

    /// The placeholders that say what to write: a unit, a form or a choice.
    const PLACEHOLDERS: &[&str] = &[
        "PATH",
        "DIR",
        "DURATION",
        "N",
        "BYTES",
        "ADDR:PORT",
        "ADDR[:PORT]",
        "CC",
        "TOKEN",
        "FORMAT",
        "TRANSPORT",
        "CHAR",
        "NAME",
        "TIME",
        "TEXT",
        "URL",
        "I/N",
    ];

    #[test]
    fn every_setting_has_an_environment_variable_and_a_placeholder_with_a_unit() {
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if ["help", "version"].contains(&long) {
                    continue;
                }
                // What to read and where to write belong to one run, not to the environment.
                let per_run = ["output", "resume", "built", "source", "dir"].contains(&long);
                if !per_run {
                    let env = arg.get_env().map(|env| env.to_string_lossy().into_owned());
                    assert!(
                        env.as_deref()
                            .is_some_and(|env| env.starts_with("HOSTLOC_")),
                        "{path} --{long} has no HOSTLOC_* variable"
                    );
                }
                if arg.get_action().takes_values() {
                    // clap's fallback is the field name in capitals (`<REQUEST_TIMEOUT>`),
                    // which says neither the unit nor the form.
                    let names = arg.get_value_names().unwrap_or_default();
                    assert!(
                        names.len() == 1 && PLACEHOLDERS.contains(&names[0].as_str()),
                        "{path} --{long} has the placeholder {names:?}"
                    );
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "hostloc");
    }

    #[test]
    fn short_help_is_short_and_long_help_has_examples() {
        let mut root = Cli::command();
        root.build();
        for name in ["lookup", "serve", "batch"] {
            let command = root.find_subcommand_mut(name).unwrap();
            let short = command.render_help().to_string();
            let long = command.render_long_help().to_string();
            assert!(short.lines().count() <= 50, "{name} -h: {short}");
            assert!(long.contains("Examples:"), "{name} --help: {long}");
            for heading in ["Data:", "DNS:", "Referral:", "Logging:"] {
                assert!(
                    short.contains(heading),
                    "{name} -h lacks {heading}: {short}"
                );
            }
        }
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["hostloc", "--jurisdiction", "NLD", "lookup"][..],
            &["hostloc", "--dns-server", "dns.google", "lookup"][..],
            &["hostloc", "--dns-timeout", "soon", "lookup"][..],
            &["hostloc", "--dns-transport", "tcp", "lookup"][..],
            &["hostloc", "--dns-socket-queries", "0", "lookup"][..],
            &["hostloc", "batch", "--format", "xml"][..],
            &["hostloc", "batch", "--delimiter", ";;"][..],
            &["hostloc", "batch", "--delimiter", "\""][..],
            &["hostloc", "batch", "--resume", "in.csv"][..],
            &["hostloc", "--no-such-flag", "lookup"][..],
            &["hostloc", "--dns-timeout"][..],
        ] {
            let error = Cli::try_parse_args(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }
}
