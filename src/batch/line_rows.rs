//! Lines: the `lines` input format, one reported URL per line.
//!
//! Owns splitting the input into lines (`\n`, with a `\r` before it dropped) and turning each
//! into a [`Row`] whose output is the bare result object. Every line is a row, blank ones
//! included (they come out `invalid`), so the output has exactly as many lines as the input.
//! Must not: trim or otherwise change the text handed to the pipeline; intake owns cleaning.

use std::io::BufRead;

use super::rows::{Event, Lines, Row, RowSource, Target, line_text, utf8};
use super::{BatchError, Endpoint};

/// Reads one URL per line.
pub(crate) struct LineSource<R> {
    lines: Lines<R>,
}

impl<R: BufRead> LineSource<R> {
    /// Lines of `reader`, which is `input`.
    pub(crate) fn new(reader: R, input: Endpoint) -> LineSource<R> {
        LineSource {
            lines: Lines::new(reader, input),
        }
    }
}

impl<R: BufRead + Send> RowSource for LineSource<R> {
    fn next_event(&mut self) -> Result<Option<Event>, BatchError> {
        let Some((line, end_offset)) = self.lines.advance()? else {
            return Ok(None);
        };
        let mut text = line_text(self.lines.text());
        if line == 1 {
            // A byte order mark marks the encoding; it is not part of the first URL.
            text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(text);
        }
        let target = match utf8(text) {
            Ok(url) => Target::Url(url.to_owned()),
            Err(problem) => Target::Unusable {
                input: String::from_utf8_lossy(text).into_owned(),
                reason: format!("line {line}: {problem}"),
            },
        };
        Ok(Some(Event::Row(Row {
            number: line,
            line,
            end_offset,
            target,
            prefix: Vec::new(),
            suffix: b"\n".to_vec(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(input: &[u8]) -> Vec<Target> {
        let mut source = LineSource::new(input, Endpoint::Stdin);
        let mut targets = Vec::new();
        while let Some(Event::Row(row)) = source.next_event().unwrap() {
            targets.push(row.target);
        }
        targets
    }

    #[test]
    fn every_line_is_a_row_blank_and_broken_ones_included() {
        let url = |text: &str| Target::Url(text.to_owned());
        assert_eq!(
            targets(b"a.nl\r\n\n  \nb\xffc.nl\nlast.nl"),
            [
                url("a.nl"),
                url(""),
                url("  "),
                Target::Unusable {
                    input: "b\u{fffd}c.nl".to_owned(),
                    reason: "line 4: not valid UTF-8 (byte 2 cannot be decoded)".to_owned(),
                },
                url("last.nl"),
            ]
        );
        assert_eq!(
            targets("\u{feff}a.nl\n\u{feff}b.nl".as_bytes()),
            [url("a.nl"), url("\u{feff}b.nl")]
        );
        assert_eq!(targets(b""), []);
        assert_eq!(targets(b"\n"), [url("")]);
    }
}
