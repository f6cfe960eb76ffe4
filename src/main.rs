//! The `hostloc` binary: parse the configuration, set up logging, run one command.
//!
//! No lookup logic lives here. Errors from the library arrive typed and are printed once, as
//! one line naming what to fix, with the exit status of SPEC.md: 0 when every input got a
//! result, 1 when hostloc itself could not work, 2 for usage errors (clap's own).

use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use hostloc::config::{Cli, Command, DataCommand};
use hostloc::{agreement, asn_import, batch, cli, http, manual, telemetry};

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

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    })
}
