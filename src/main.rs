//! The `hostloc` binary: parse the configuration, set up logging, run one command.
//!
//! No lookup logic lives here. Errors from the library arrive typed and are printed once, as
//! one line naming what to fix, with the exit status of docs/spec.md: 0 when every input got a
//! result, 1 when hostloc itself could not work, 2 for usage errors (clap's own).

use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use hostloc::config::{BatchStep, Cli, Command, DataCommand, DataUpdateArgs};
use hostloc::data_files::{Bundled, DataFile};
use hostloc::data_update::{self, DbIpFile, GeoIpConf, SecondSourceFile, UpdatePlan};
use hostloc::geoip::DatabaseRole;
use hostloc::plural::count;
use hostloc::{agreement, asn_import, batch, cli, data_age, healthcheck, http, manual, telemetry};

/// mimalloc instead of the system allocator: a Result is a few dozen small allocations, freed
/// on another thread in batch and serve; glibc's malloc was 10–15 % of every profile
/// (BENCHMARKS.md). Only the binary chooses it; the library leaves the choice to its user.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The bundled data, carried inside the binary so that an installed hostloc finds data
/// wherever it runs (the last place `hostloc::data_files` looks). Only this binary carries it,
/// not the library and its test binaries.
const BUNDLED: Bundled = Bundled {
    country_db: include_bytes!("../data/dbip-country.mmdb"),
    second_opinion_db: include_bytes!("../data/geo-whois-asn-country.mmdb"),
    asn_db: include_bytes!("../data/asn.mmdb"),
    networks: include_bytes!("../data/networks.csv"),
    hotlines: include_bytes!("../data/hotlines.csv"),
    anycast: include_bytes!("../data/anycast.csv"),
};

fn main() -> ExitCode {
    let args = Cli::parse_args();
    let log = args.command.log();
    telemetry::init_logging(log.log_format, log.colour(), std::io::stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hostloc: error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hostloc: error: {}", hostloc::error::chain(error.as_ref()));
            ExitCode::from(1)
        }
    }
}

async fn run(args: Cli) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Lookup(command) => {
            let pipeline = command.pipeline.pipeline(Some(&BUNDLED))?;
            let lookup = command.lookup;
            let mut stdout = std::io::stdout();
            cli::run_lookup(
                &pipeline,
                cli::LookupInput::from_args(lookup.urls),
                match (lookup.json, lookup.evidence) {
                    (true, _) => cli::LookupOutput::Json,
                    (false, true) => cli::LookupOutput::Evidence,
                    (false, false) => cli::LookupOutput::Summary,
                },
                usize::try_from(lookup.concurrency).unwrap_or(64),
                &mut stdout,
            )
            .await
            .context("cannot write the results")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(command) => {
            let pipeline = command.pipeline.pipeline(Some(&BUNDLED))?;
            http::serve(pipeline, &command.serve).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Batch(command) if command.step.is_some() => {
            let Some(BatchStep::Merge(merge)) = &command.step else {
                unreachable!("the guard saw a step")
            };
            let summary = batch::merge::run(merge)?;
            eprintln!(
                "merged {} rows from {} shard outputs",
                summary.rows, summary.shards
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Batch(command) => {
            let pipeline = command.pipeline.pipeline(Some(&BUNDLED))?;
            let outcome = batch::run(&pipeline, &command.batch).await?;
            // Every result is written and flushed by now, and the process ends next: dropping
            // the pipeline would only free its memory entry by entry (a full DNS cache of
            // 100,000 hosts took 4 % of a batch of names), which the exit does at once. Nothing
            // in it has an effect on drop that matters (no buffered output, no files to close
            // but read-only ones, the DNS sockets need no goodbye).
            std::mem::forget(pipeline);
            Ok(if outcome.complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Data(DataCommand::ImportAsn(import)) => {
            let built = match &import.built {
                Some(text) => {
                    let time = time::OffsetDateTime::parse(
                        text,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .with_context(|| format!("--built {text:?} is not an RFC 3339 time"))?;
                    SystemTime::from(time)
                }
                None => SystemTime::now(),
            };
            let summary =
                asn_import::import_asn(&import.inputs, &import.output, built, &import.source)?;
            eprintln!(
                "wrote {} ({}; skipped {} unrouted and {} in 6to4/Teredo space; {})",
                import.output.display(),
                count(summary.ranges as u64, "range", "ranges"),
                summary.skipped,
                summary.aliased,
                count(summary.bytes as u64, "byte", "bytes")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Data(DataCommand::Agreement(measure)) => {
            let (_, data) = measure.data.load(Some(&BUNDLED))?;
            let settings = agreement::AgreementSettings {
                addresses: measure.addresses,
                seed: measure.seed,
                jurisdiction: measure.referral.jurisdiction.clone(),
                examples: measure.examples,
            };
            let outcome = agreement::measure(&data, &settings)?;
            print!("{outcome}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck(health) => Ok(
            match healthcheck::check(health.listen, health.timeout).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("hostloc: unhealthy: {error}");
                    ExitCode::from(1)
                }
            },
        ),
        Command::Data(DataCommand::Seed(seed)) => {
            let paths = seed.data.files_in_data_dir()?;
            let from = |file: DataFile| seed.from.join(file.names()[0]);
            let mut files = vec![
                (from(DataFile::CountryDb), paths.country_db),
                (from(DataFile::AsnDb), paths.asn_db),
                (from(DataFile::Networks), paths.networks),
                (from(DataFile::Hotlines), paths.hotlines),
                (from(DataFile::Anycast), paths.anycast),
            ];
            // The bundled second opinion, where the configuration asks for it by its name.
            let second_opinion = DataFile::SecondOpinionDb.names()[0];
            files.extend(
                paths
                    .second_opinion_dbs
                    .into_iter()
                    .filter(|path| path.ends_with(second_opinion))
                    .map(|path| (from(DataFile::SecondOpinionDb), path)),
            );
            let written = data_update::seed(&files)?;
            for (_, target) in &files {
                let what = if written.contains(target) {
                    "seeded "
                } else {
                    "present"
                };
                eprintln!("{what}  {}", target.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Data(DataCommand::Update(update)) => {
            let updates = data_update::run(&update_plan(&update)?)
                .await
                .context("cannot set up the HTTP client")?;
            let mut stdout = std::io::stdout().lock();
            for file in &updates {
                writeln!(stdout, "{file}")?;
            }
            Ok(if updates.iter().all(|file| file.result.is_ok()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Data(DataCommand::Info(info)) => {
            let (paths, data) = info.data.load(Some(&BUNDLED))?;
            let mut stdout = std::io::stdout().lock();
            // The infos come in the order of the files: country databases, then ASN.
            let files = paths.country_dbs().chain(std::iter::once(&paths.asn_db));
            for (info, path) in data.geo.infos().iter().zip(files) {
                let role = match (info.role, info.primary) {
                    (hostloc::geoip::DatabaseRole::Country, true) => "country (primary)".to_owned(),
                    (role, _) => role.to_string(),
                };
                writeln!(
                    stdout,
                    "{role:<17} {:<24} {:<28} built {:<22} sha256 {}  {}",
                    info.source,
                    info.database_type,
                    info.built.as_deref().unwrap_or("unknown"),
                    info.sha256,
                    path.display()
                )?;
            }
            writeln!(
                stdout,
                "networks {}, {}  {}",
                count(data.networks.len() as u64, "row", "rows"),
                count(
                    data.networks.provider_count() as u64,
                    "provider",
                    "providers"
                ),
                paths.networks.display()
            )?;
            writeln!(
                stdout,
                "hotlines {}, {}  {}",
                count(data.hotlines.len() as u64, "row", "rows"),
                count(data.hotlines.country_count() as u64, "country", "countries"),
                paths.hotlines.display()
            )?;
            writeln!(
                stdout,
                "anycast  {}  {}",
                count(data.anycast.len() as u64, "network", "networks"),
                paths.anycast.display()
            )?;
            let ages =
                data_age::database_ages(&data.geo, info.data.max_data_age, SystemTime::now());
            for warning in data_age::stale_warnings(&ages) {
                writeln!(stdout, "note: {warning}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(completions) => {
            manual::write_completions(completions.shell, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpage(manpage) => {
            match &manpage.dir {
                Some(dir) => manual::write_manpages(dir).with_context(|| {
                    format!("cannot write the man pages into {}", dir.display())
                })?,
                None => manual::write_manpage(&mut std::io::stdout().lock())?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What `hostloc data update` fetches, and which files it replaces.
fn update_plan(args: &DataUpdateArgs) -> anyhow::Result<UpdatePlan> {
    let paths = args.data.files_in_data_dir()?;
    // MaxMind editions go where the GeoIP.conf says, else into --data-dir, else beside the
    // country database.
    let maxmind_dir = match (&args.data.data_dir, paths.country_db.parent()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir.to_owned(),
        (None, None) => std::path::PathBuf::from("."),
    };
    let update = &args.update;
    let dbip = if update.no_dbip {
        Vec::new()
    } else {
        vec![
            DbIpFile {
                url_template: update.dbip_country_url.clone(),
                target: paths.country_db,
                role: DatabaseRole::Country,
            },
            DbIpFile {
                url_template: update.dbip_asn_url.clone(),
                target: paths.asn_db,
                role: DatabaseRole::Asn,
            },
        ]
    };
    // The second country source, where the configuration asks for it by its name (as
    // `data seed` copies it); with no URL, only a file in place is reported, since it ages.
    let second_source_name = DataFile::SecondOpinionDb.names()[0];
    let second_source = paths
        .second_opinion_dbs
        .iter()
        .find(|path| path.ends_with(second_source_name))
        .filter(|path| update.geo_whois_url.is_some() || path.exists())
        .map(|target| SecondSourceFile {
            url: update.geo_whois_url.clone(),
            target: target.clone(),
        });
    let maxmind = match &update.geoip_conf {
        Some(path) => {
            Some(GeoIpConf::read(path)?.plan(path, update.maxmind_url.as_deref(), &maxmind_dir)?)
        }
        None => None,
    };
    Ok(UpdatePlan {
        dbip,
        second_source,
        maxmind,
        timeout: update.download_timeout,
    })
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    })
}
