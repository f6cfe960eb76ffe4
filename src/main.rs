//! The `hostloc` binary: parse the configuration, set up logging, run one command.
//!
//! No lookup logic lives here. Errors from the library arrive typed and are printed once, as
//! one line naming what to fix, with the exit status of SPEC.md: 0 when every input got a
//! result, 1 when hostloc itself could not work, 2 for usage errors (clap's own).

use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use hostloc::config::{
    BUNDLED_ASN_DB, BUNDLED_COUNTRY_DB, BUNDLED_HOTLINES, BUNDLED_NETWORKS,
    BUNDLED_SECOND_OPINION_DB, BatchStep, Cli, Command, DataCommand, DataUpdateArgs,
};
use hostloc::data_update::{self, DbIpFile, GeoIpConf, UpdatePlan};
use hostloc::geoip::DatabaseRole;
use hostloc::{agreement, asn_import, batch, cli, healthcheck, http, manual, telemetry};

fn main() -> ExitCode {
    let args = Cli::parse_args();
    telemetry::init_logging(args.command.log().log_format, std::io::stderr);
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
            eprintln!("hostloc: error: {error:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Cli) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Lookup(command) => {
            let pipeline = command.pipeline.pipeline()?;
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
            let pipeline = command.pipeline.pipeline()?;
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
            let pipeline = command.pipeline.pipeline()?;
            let outcome = batch::run(&pipeline, &command.batch).await?;
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
                "wrote {} ({} ranges; skipped {} unrouted and {} in 6to4/Teredo space; {} bytes)",
                import.output.display(),
                summary.ranges,
                summary.skipped,
                summary.aliased,
                summary.bytes
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Data(DataCommand::Agreement(measure)) => {
            let data = measure.data.load()?;
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
            let paths = seed.data.data_paths();
            let mut files = vec![
                (seed.from.join(BUNDLED_COUNTRY_DB), paths.country_db),
                (seed.from.join(BUNDLED_ASN_DB), paths.asn_db),
                (seed.from.join(BUNDLED_NETWORKS), paths.networks),
                (seed.from.join(BUNDLED_HOTLINES), paths.hotlines),
            ];
            // The bundled second opinion, where the configuration asks for it by its name.
            files.extend(
                paths
                    .second_opinion_dbs
                    .into_iter()
                    .filter(|path| path.ends_with(BUNDLED_SECOND_OPINION_DB))
                    .map(|path| (seed.from.join(BUNDLED_SECOND_OPINION_DB), path)),
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
            let paths = info.data.data_paths();
            let data = info.data.load()?;
            let mut stdout = std::io::stdout().lock();
            // The infos come in the order of the files: country databases, then ASN.
            let files = paths.country_dbs().chain(std::iter::once(&paths.asn_db));
            for (info, path) in data.geo.infos().into_iter().zip(files) {
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
                "networks {} rows, {} providers  {}",
                data.networks.len(),
                data.networks.provider_count(),
                paths.networks.display()
            )?;
            writeln!(
                stdout,
                "hotlines {} rows, {} countries  {}",
                data.hotlines.len(),
                data.hotlines.country_count(),
                paths.hotlines.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(completions) => {
            manual::write_completions(completions.shell, &mut std::io::stdout().lock());
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
    let paths = args.data.data_paths();
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
    let maxmind = match &update.geoip_conf {
        Some(path) => Some(GeoIpConf::read(path)?.plan(
            path,
            update.maxmind_url.as_deref(),
            &args.data.data_dir,
        )?),
        None => None,
    };
    Ok(UpdatePlan {
        dbip,
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
