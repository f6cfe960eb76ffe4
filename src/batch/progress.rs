//! Progress: the bar on stderr while a batch runs, the tally, and the summary at the end.
//!
//! Owns counting what was written (rows, verdicts, DNS failures) and saying it: an indicatif
//! bar when stderr is a terminal (rows, rate, and with a file's size known, a bar by bytes
//! read with an ETA), and the summary lines. Must not: write to stdout, or slow the run down
//! (the bar redraws at most a few times a second).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{BatchOutcome, Endpoint, Stop};
use crate::plural::count;
use crate::verdict::Verdict;

/// How often the bar's text is updated.
const REDRAW: Duration = Duration::from_millis(200);

/// What the run has written so far.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    /// Rows kept from an earlier run.
    pub(crate) resumed: u64,
    /// Rows written by this run.
    pub(crate) written: u64,
    /// The input line of the last row written (or skipped).
    pub(crate) last_line: u64,
    verdicts: [u64; 8],
    dns_failures: u64,
    /// With `--compare`: rows that moved, are unchanged, are new.
    pub(crate) moved: u64,
    pub(crate) unchanged: u64,
    pub(crate) new: u64,
}

impl Tally {
    /// Counts one written row, which started on input line `line`.
    pub(crate) fn add(&mut self, verdict: Verdict, dns_failed: bool, line: u64) {
        self.written += 1;
        self.last_line = line;
        if let Some(index) = Verdict::ALL.iter().position(|v| *v == verdict) {
            self.verdicts[index] += 1;
        }
        if dns_failed {
            self.dns_failures += 1;
        }
    }

    /// Counts one written row's comparison with the earlier output: `None` without
    /// `--compare`, `Some(None)` for a row the earlier output does not have.
    pub(crate) fn compared(&mut self, moved: Option<Option<bool>>) {
        match moved {
            None => {}
            Some(None) => self.new += 1,
            Some(Some(true)) => self.moved += 1,
            Some(Some(false)) => self.unchanged += 1,
        }
    }

    /// The outcome: `stopped` is `Some(None)` when the input ended, `Some(Some(signal))` when a
    /// signal stopped the run, `None` after an error.
    pub(crate) fn outcome(&self, stopped: Option<Option<Stop>>, elapsed: Duration) -> BatchOutcome {
        BatchOutcome {
            complete: stopped == Some(None),
            resumed: self.resumed,
            written: self.written,
            last_line: self.last_line,
            verdicts: self.verdicts,
            dns_failures: self.dns_failures,
            stopped_by: stopped.flatten(),
            elapsed,
            compared: None,
        }
    }
}

/// The progress bar, or nothing when stderr is not a terminal.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_redraw: Instant,
}

impl Progress {
    /// A bar when `enabled`; by bytes when the input's length is known, else a spinner.
    pub(crate) fn new(enabled: bool, input_len: Option<u64>, started: Instant) -> Progress {
        let bar = enabled.then(|| {
            let (bar, template) = match input_len {
                Some(length) => (
                    ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr()),
                    "{spinner} {msg} {wide_bar} {percent:>3}% ETA {eta}",
                ),
                None => (
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                    "{spinner} {msg} [{elapsed}]",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_message("starting");
            bar.enable_steady_tick(REDRAW);
            bar
        });
        Progress {
            bar,
            started,
            last_redraw: started,
        }
    }

    /// Rows kept from an earlier run, ending at input byte `offset`.
    pub(crate) fn skipped(&mut self, rows: u64, offset: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(offset);
            bar.reset_eta();
            bar.set_message(format!("{} kept from before", count(rows, "row", "rows")));
        }
    }

    /// A row was written; the input is read up to `offset`.
    pub(crate) fn row_written(&mut self, tally: &Tally, offset: u64) {
        let Some(bar) = &self.bar else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(self.last_redraw) < REDRAW {
            return;
        }
        self.last_redraw = now;
        bar.set_position(offset);
        let rate = per_second(tally.written, now.duration_since(self.started));
        bar.set_message(format!(
            "{}, {rate:.0} rows/s",
            count(tally.resumed + tally.written, "row", "rows")
        ));
    }

    /// Removes the bar, so the summary stands alone.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn per_second(rows: u64, elapsed: Duration) -> f64 {
    // Precision loss only above 2^52 rows.
    #[allow(clippy::cast_precision_loss)]
    let rows = rows as f64;
    rows / elapsed.as_secs_f64().max(0.001)
}

/// The summary printed on stderr at the end of a run. A run that is neither complete nor
/// stopped by a signal ended on an error, which is printed after the summary.
pub(crate) fn summary(outcome: &BatchOutcome, input: &Endpoint, output: &Endpoint) -> String {
    let seconds = outcome.elapsed.as_secs_f64();
    let rate = per_second(outcome.written, outcome.elapsed);
    let total = outcome.resumed + outcome.written;
    let rows = if outcome.resumed > 0 {
        format!(
            "{} in {output} ({} kept from before, {} added)",
            count(total, "row", "rows"),
            outcome.resumed,
            outcome.written
        )
    } else {
        format!("{} written to {output}", count(total, "row", "rows"))
    };
    let mut text = if outcome.complete {
        format!("hostloc batch: done: {rows} in {seconds:.1}s ({rate:.0} rows/s)")
    } else {
        let why = match outcome.stopped_by {
            Some(signal) => format!("stopped by {signal}"),
            None => "stopped by the error below".to_owned(),
        };
        let mut text = format!("hostloc batch: INCOMPLETE, {why} after {seconds:.1}s: {rows}");
        if outcome.last_line > 0 {
            text.push_str(&format!(", up to line {} of {input}", outcome.last_line));
        }
        if total > 0 && matches!(output, Endpoint::File(_)) {
            text.push_str("; run the same command with --resume to add the rest");
        }
        text
    };
    let verdicts: Vec<String> = Verdict::ALL
        .iter()
        .zip(outcome.verdicts)
        .filter(|(_, count)| *count > 0)
        .map(|(verdict, count)| format!("{verdict} {count}", verdict = verdict.as_str()))
        .collect();
    if !verdicts.is_empty() {
        let of = if outcome.resumed > 0 {
            " (of the rows added)"
        } else {
            ""
        };
        text.push_str(&format!("\n  verdicts{of}: {}", verdicts.join(", ")));
    }
    text.push_str(&format!(
        "\n  DNS failures (SERVFAIL, REFUSED, timeout; worth a retry later): {}",
        outcome.dns_failures
    ));
    if let Some(compared) = &outcome.compared {
        let of = if outcome.resumed > 0 {
            " (of the rows added)"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n  compared with {}{of}: {} moved, {} unchanged, {} new",
            compared.earlier.display(),
            compared.moved,
            compared.unchanged,
            compared.new
        ));
        if let Some(vanished) = compared.vanished {
            text.push_str(&format!(
                ", {vanished} vanished (in the earlier output only)"
            ));
        }
        if compared.unreadable > 0 {
            text.push_str(&format!(
                "; {} of its records held no readable result and were left out",
                compared.unreadable
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> BatchOutcome {
        BatchOutcome {
            complete: true,
            resumed: 0,
            written: 40,
            last_line: 41,
            verdicts: [1, 2, 0, 0, 30, 0, 7, 0],
            dns_failures: 2,
            stopped_by: None,
            elapsed: Duration::from_secs(2),
            compared: None,
        }
    }

    #[test]
    fn summaries_say_how_far_the_run_got() {
        let input = Endpoint::File("in.csv".into());
        let output = Endpoint::File("out.csv".into());
        assert_eq!(
            summary(&outcome(), &input, &output),
            "hostloc batch: done: 40 rows written to out.csv in 2.0s (20 rows/s)\n  \
             verdicts: invalid 1, unresolved 2, domestic 30, foreign 7\n  \
             DNS failures (SERVFAIL, REFUSED, timeout; worth a retry later): 2"
        );
        let stopped = BatchOutcome {
            complete: false,
            resumed: 10,
            verdicts: [0; 8],
            stopped_by: Some(Stop::Interrupt),
            ..outcome()
        };
        assert_eq!(
            summary(&stopped, &input, &output),
            "hostloc batch: INCOMPLETE, stopped by SIGINT after 2.0s: 50 rows in out.csv (10 \
             kept from before, 40 added), up to line 41 of in.csv; run the same command with \
             --resume to add the rest\n  \
             DNS failures (SERVFAIL, REFUSED, timeout; worth a retry later): 2"
        );
        let failed = BatchOutcome {
            complete: false,
            ..outcome()
        };
        assert!(
            summary(&failed, &Endpoint::Stdin, &Endpoint::Stdout).starts_with(
                "hostloc batch: INCOMPLETE, stopped by the error below after 2.0s: 40 rows \
                 written to stdout, up to line 41 of stdin\n"
            )
        );
    }
}
