//! Lines: the `lines` input format, one reported URL per line.
//!
//! Owns splitting the input into lines (`\n`, with a `\r` before it dropped) and turning each
//! into a [`Row`] whose output is the bare result object. Every line is a row, blank ones
//! included (they come out `invalid`), so the output has exactly as many lines as the input.
//! Must not: trim or otherwise change the text handed to the pipeline; intake owns cleaning.

use std::io::BufRead;

use super::rows::{Event, Lines, Row, RowSource, Target, line_text};
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
        let target = Target::Url(text.to_vec());
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
        let url = |text: &[u8]| Target::Url(text.to_vec());
        assert_eq!(
            targets(b"a.nl\r\n\n  \nb\xffc.nl\nlast.nl"),
            [
                url(b"a.nl"),
                url(b""),
                url(b"  "),
                url(b"b\xffc.nl"),
                url(b"last.nl"),
            ]
        );
        assert_eq!(
            targets("\u{feff}a.nl\n\u{feff}b.nl".as_bytes()),
            [url(b"a.nl"), url("\u{feff}b.nl".as_bytes())]
        );
        assert_eq!(targets(b""), []);
        assert_eq!(targets(b"\n"), [url(b"")]);
    }
}
