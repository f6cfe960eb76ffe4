//! Manual: shell completions and man pages, generated from the clap definition in config.rs.
//!
//! Owns `hostloc completions <SHELL>` and `hostloc manpage`. Nothing here is written by hand,
//! so the completions and pages cannot drift from the options the binary accepts; it must not
//! describe an option itself (that is the `///` text in config.rs).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::config::Cli;

/// Writes the completion script for `shell` to `out`.
///
/// # Errors
///
/// The error of writing to `out` (a closed pipe included: clap_complete itself would panic on
/// it, so the script is made in memory first).
pub fn write_completions(shell: Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    out.write_all(&script)
}

/// Writes the `hostloc(1)` man page (roff) to `out`.
///
/// # Errors
///
/// The error of writing to `out`.
pub fn write_manpage(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(manual_command(Cli::command())).render(out)
}

/// Writes `hostloc.1` and one page per command (`hostloc-lookup.1`, `hostloc-data-info.1`, …)
/// into `dir`, creating it when missing.
///
/// # Errors
///
/// The error of creating the directory or writing a page.
pub fn write_manpages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(manual_command(Cli::command()), dir)
}

/// `command` with every option shown as in `--help`: clap_mangen leaves out the text of an
/// option kept out of the short `-h`, and a man page is the long form.
fn manual_command(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| arg.hide_short_help(false))
        .mut_subcommands(manual_command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_know_every_command_and_a_grouped_option() {
        let mut script = Vec::new();
        write_completions(Shell::Bash, &mut script).unwrap();
        let script = String::from_utf8(script).unwrap();
        for word in [
            "lookup",
            "serve",
            "batch",
            "import-asn",
            "--dns-server",
            "--listen",
        ] {
            assert!(script.contains(word), "bash completion lacks {word}");
        }
    }

    /// A closed pipe (`hostloc completions bash | head`) is an error to report, not a panic.
    #[test]
    fn a_closed_pipe_is_an_error_not_a_panic() {
        struct ClosedPipe;
        impl Write for ClosedPipe {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let error = write_completions(Shell::Bash, &mut ClosedPipe).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
        let error = write_manpage(&mut ClosedPipe).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn the_man_page_documents_the_commands_and_every_command_gets_a_page() {
        let mut page = Vec::new();
        write_manpage(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with(".ie"), "{}", &page[..80]);
        assert!(page.contains("hostloc\\-lookup(1)"), "{page}");
        let dir = tempfile::tempdir().unwrap();
        write_manpages(dir.path()).unwrap();
        for name in ["hostloc.1", "hostloc-serve.1", "hostloc-data-import-asn.1"] {
            let page = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(page.contains(".TH"), "{name}");
        }
        let serve = std::fs::read_to_string(dir.path().join("hostloc-serve.1")).unwrap();
        assert!(serve.contains("HOSTLOC_LISTEN"), "{serve}");
    }
}
