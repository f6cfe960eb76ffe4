//! CLI: `hostloc lookup`, the analyst's front end.
//!
//! Owns reading reported URLs from arguments or stdin and printing each [`Report`] as one JSON
//! line (`--json`), as its evidence record (`--evidence`, written by [`crate::evidence`]), or
//! as a short aligned summary for a person (colour only on a terminal; `NO_COLOR` is
//! honoured). Lookups run concurrently, bounded, and print in input order. No lookup logic
//! lives here: every line goes through [`Pipeline::lookup`].

use std::ffi::OsString;
use std::io::Write;

use anstyle::{AnsiColor, Style};
use futures::{Stream, StreamExt};
use tokio::io::AsyncBufReadExt;

use crate::Pipeline;
use crate::data_age;
use crate::hotlines::Hotline;
use crate::report::Report;
use crate::verdict::Verdict;

/// Where `hostloc lookup` reads its URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupInput {
    /// The URLs given as arguments, as bytes (an argument need not be UTF-8).
    Arguments(Vec<Vec<u8>>),
    /// One URL per line on stdin.
    Stdin,
}

impl LookupInput {
    /// Arguments, or stdin when there are none or the only one is `-`.
    pub fn from_args(urls: Vec<OsString>) -> LookupInput {
        if urls.is_empty() || urls == ["-"] {
            LookupInput::Stdin
        } else {
            LookupInput::Arguments(urls.into_iter().map(OsString::into_encoded_bytes).collect())
        }
    }
}

/// How `hostloc lookup` prints each result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupOutput {
    /// A few aligned lines for a person.
    Summary,
    /// One JSON Result per line (NDJSON).
    Json,
    /// The evidence record of [`crate::evidence`], records separated by a blank line.
    Evidence,
}

/// Runs `hostloc lookup`: one result per input, in input order, written to `out`.
///
/// # Errors
///
/// An I/O error reading stdin or writing `out` (a closed pipe included; the caller decides
/// what a broken pipe means).
pub async fn run_lookup(
    pipeline: &Pipeline,
    input: LookupInput,
    output: LookupOutput,
    concurrency: usize,
    out: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    let lines: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Vec<u8>>> + Send>> = match input
    {
        LookupInput::Arguments(urls) => Box::pin(futures::stream::iter(urls.into_iter().map(Ok))),
        LookupInput::Stdin => Box::pin(stdin_lines()),
    };
    let mut reports = lines
        .map(|line| async move {
            match line {
                Ok(line) => Ok(pipeline.lookup_bytes(&line).await),
                Err(error) => Err(error),
            }
        })
        .buffered(concurrency.max(1));
    let color = anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    // Every result carries the warnings about the data's age; a person reads them once, after
    // the summaries, rather than under each one. JSON and the evidence record keep them.
    let data_warnings = data_age::stale_warnings(&pipeline.database_ages());
    let mut first = true;
    while let Some(report) = reports.next().await {
        let mut report = report?;
        match output {
            LookupOutput::Json => {
                serde_json::to_writer(&mut *out, &report)?;
                out.write_all(b"\n")?;
            }
            LookupOutput::Summary => {
                report
                    .warnings
                    .retain(|warning| !data_warnings.contains(warning));
                out.write_all(render_summary(&report, color).as_bytes())?;
            }
            LookupOutput::Evidence => {
                if !first {
                    out.write_all(b"\n")?;
                }
                out.write_all(crate::evidence::render(&report).as_bytes())?;
            }
        }
        first = false;
        out.flush()?;
    }
    if output == LookupOutput::Summary {
        for warning in &data_warnings {
            let note = paint(color, warning_style(), "note:");
            out.write_all(format!("{note} {warning}\n").as_bytes())?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Lines of stdin, split on `\n` with a trailing `\r` removed, as bytes: the pipeline replaces
/// what is not UTF-8 and says so, as for every front end.
fn stdin_lines() -> impl Stream<Item = std::io::Result<Vec<u8>>> + Send {
    let reader = tokio::io::BufReader::new(tokio::io::stdin());
    futures::stream::unfold(reader, |mut reader| async move {
        let mut buffer = Vec::new();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) => None,
            Ok(_) => {
                if buffer.last() == Some(&b'\n') {
                    buffer.pop();
                }
                if buffer.last() == Some(&b'\r') {
                    buffer.pop();
                }
                Some((Ok(buffer), reader))
            }
            Err(error) => Some((Err(error), reader)),
        }
    })
}

/// `Stopline  https://www.stopline.at  ICCAM 23`, leaving out what is unknown.
fn describe_hotline(hotline: &Hotline) -> String {
    let mut parts = vec![
        hotline
            .name
            .clone()
            .unwrap_or_else(|| "member hotline (name not in the hotline table)".to_owned()),
    ];
    parts.extend(hotline.website.clone());
    parts.extend(hotline.iccam_id.map(|id| format!("ICCAM {id}")));
    parts.join("  ")
}

fn verdict_style(verdict: Verdict) -> Style {
    let color = match verdict {
        Verdict::Domestic | Verdict::PartlyDomestic => AnsiColor::Red,
        Verdict::Foreign => AnsiColor::Yellow,
        Verdict::BehindCdn => AnsiColor::Magenta,
        Verdict::NotPublic => AnsiColor::Blue,
        Verdict::Invalid | Verdict::Unresolved | Verdict::Unknown => AnsiColor::Cyan,
    };
    Style::new().bold().fg_color(Some(color.into()))
}

fn warning_style() -> Style {
    Style::new().fg_color(Some(AnsiColor::Yellow.into()))
}

/// `text` in `style` when `color` is on.
fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// The human summary of one report: a few aligned lines and a blank line after.
pub fn render_summary(report: &Report, color: bool) -> String {
    let paint = |style: Style, text: &str| paint(color, style, text);
    let label = |name: &str| paint(Style::new().dimmed(), &format!("{name:<9}"));
    let mut text = String::new();
    text.push_str(&paint(Style::new().bold(), &report.input));
    text.push('\n');
    text.push_str(&format!(
        "  {}{}  {}\n",
        label("verdict"),
        paint(verdict_style(report.verdict), report.verdict.as_str()),
        paint(
            Style::new().dimmed(),
            &format!("({})", report.verdict.action())
        )
    ));
    text.push_str(&format!("  {}{}\n", label("reason"), report.reason));
    if let (Some(host), Some(kind)) = (&report.host, &report.host_kind) {
        let registrable = report
            .registrable_domain
            .as_ref()
            .filter(|domain| *domain != host)
            .map(|domain| format!(", registrable domain {domain}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "  {}{host}  ({kind}{registrable})\n",
            label("host")
        ));
    }
    if let Some(dns) = &report.dns {
        let mut line = dns.outcome.as_str().to_owned();
        if let Some(ttl) = dns.ttl {
            line.push_str(&format!(", ttl {ttl}s"));
        }
        if dns.from_cache {
            line.push_str(", cached");
        }
        if !dns.cname_chain.is_empty() {
            line.push_str(&format!(", cname → {}", dns.cname_chain.join(" → ")));
        }
        text.push_str(&format!("  {}{line}\n", label("dns")));
    }
    let ip_width = report
        .addresses
        .iter()
        .map(|a| a.ip.to_string().len())
        .max()
        .unwrap_or(0);
    for address in &report.addresses {
        let mut columns = vec![format!("{:<ip_width$}", address.ip.to_string())];
        if let Some(located) = &address.located_as {
            columns.push(format!("(located as {located})"));
        }
        if let Some(purpose) = &address.special_purpose {
            columns.push(format!("not public: {purpose}"));
        } else {
            columns.push(address.country.clone().unwrap_or_else(|| "??".to_owned()));
            columns.push(
                address
                    .asn
                    .map(|asn| format!("AS{asn:<6}"))
                    .unwrap_or_else(|| "AS?    ".to_owned()),
            );
            if let Some(org) = &address.as_org {
                columns.push(org.clone());
            }
            if let Some(network) = &address.network {
                columns.push(paint(Style::new().dimmed(), network));
            }
            let mut answers = address.country_sources.iter().map(|a| &a.country);
            let first = answers.next();
            if answers.any(|answer| Some(answer) != first) {
                let each: Vec<String> = address
                    .country_sources
                    .iter()
                    .map(|a| format!("{} {}", a.source, a.country.as_deref().unwrap_or("??")))
                    .collect();
                columns.push(paint(
                    verdict_style(Verdict::PartlyDomestic),
                    &format!("[sources: {}]", each.join(", ")),
                ));
            }
            if let Some(cdn) = &address.cdn {
                columns.push(paint(
                    verdict_style(Verdict::BehindCdn),
                    &format!("[CDN: {cdn}]"),
                ));
            }
        }
        text.push_str(&format!("  {}{}\n", label("address"), columns.join("  ")));
    }
    for forwarding in report.forward_to.iter().flatten() {
        let whom = match (&forwarding.note, forwarding.hotlines.as_slice()) {
            (Some(note), []) => note.clone(),
            (_, hotlines) => hotlines
                .iter()
                .map(describe_hotline)
                .collect::<Vec<_>>()
                .join("; "),
        };
        text.push_str(&format!(
            "  {}{}  {whom}\n",
            label("forward"),
            forwarding.country
        ));
    }
    for warning in &report.warnings {
        text.push_str(&format!(
            "  {}{warning}\n",
            paint(warning_style(), &format!("{:<9}", "warning"))
        ));
    }
    text.push('\n');
    text
}
