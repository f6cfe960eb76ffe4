//! The `hostloc` binary: parse the configuration, set up logging, run one command.
//!
//! No lookup logic lives here. Errors from the library arrive typed and are printed once, as
//! one line naming what to fix, with the exit status of docs/spec.md: 0 when every input got a
//! result, 1 when hostloc itself could not work, 2 for usage errors (clap's own).

use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use hostloc::config::{Cli, Command, DataCommand};
use hostloc::data_files::Bundled;
use hostloc::plural::count;
use hostloc::{asn_import, batch, cli, data_age, http, manual, telemetry};

/// The bundled data, carried inside the binary so that an installed hostloc finds data
/// wherever it runs (the last place `hostloc::data_files` looks). Only this binary carries it,
/// not the library and its test binaries.
const BUNDLED: Bundled = Bundled {
    country_db: include_bytes!("../data/dbip-country.mmdb"),
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
                lookup.json,
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
        Command::Batch(command) => {
            let pipeline = command.pipeline.pipeline(Some(&BUNDLED))?;
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
                "wrote {} ({}; skipped {} unrouted and {} in 6to4/Teredo space; {})",
                import.output.display(),
                count(summary.ranges as u64, "range", "ranges"),
                summary.skipped,
                summary.aliased,
                count(summary.bytes as u64, "byte", "bytes")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Data(DataCommand::Info(info)) => {
            let (paths, data) = info.data.load(Some(&BUNDLED))?;
            let mut stdout = std::io::stdout().lock();
            for info in data.geo.infos() {
                writeln!(
                    stdout,
                    "{:<8} {:<28} built {:<22} sha256 {}  {}",
                    info.role.to_string(),
                    info.database_type,
                    info.built.as_deref().unwrap_or("unknown"),
                    info.sha256,
                    match info.role {
                        hostloc::geoip::DatabaseRole::Country => paths.country_db.display(),
                        hostloc::geoip::DatabaseRole::Asn => paths.asn_db.display(),
                    }
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

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    })
}
