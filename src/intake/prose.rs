//! Prose: what surrounds a URL in a person's text, and the characters the URL standard drops.
//!
//! Owns the first two steps of intake: removing what the WHATWG URL parser removes before it
//! reads anything (ASCII tab and newline anywhere, C0 controls and spaces at either end), and
//! removing what prose, chat or e-mail wraps around a URL (invisible characters, matching quotes
//! and brackets, a dangling quote, sentence punctuation at the end).
//!
//! Must not: refang, repair a scheme or look at the host; take more than linear time. Every
//! round of [`strip_prose`] removes a character or ends, and the bracket balance it needs is
//! kept by counting the characters it removes, never by counting the text again.

use std::borrow::Cow;

use super::work;

/// Removes every ASCII tab, line feed and carriage return, and the C0 controls and spaces at
/// either end, as the WHATWG URL parser does before it reads a URL. Doing it first means that
/// `ht<TAB>tp://evil.nl/` is read as `http://evil.nl/` by every later step too, not only by
/// the parser at the end.
pub(super) fn remove_tab_and_newline(raw: &str) -> Cow<'_, str> {
    work::step(raw.len());
    let trimmed = raw.trim_matches(|c: char| c <= ' ');
    if trimmed.contains(['\t', '\n', '\r']) {
        Cow::Owned(
            trimmed
                .chars()
                .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                .collect(),
        )
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// Characters that wrap a URL in prose, chat or e-mail, in opening/closing pairs.
const WRAPPERS: &[(char, char)] = &[
    ('"', '"'),
    ('\'', '\''),
    ('`', '`'),
    ('<', '>'),
    ('(', ')'),
    ('[', ']'),
    ('{', '}'),
    ('\u{201C}', '\u{201D}'), // “ ”
    ('\u{2018}', '\u{2019}'), // ‘ ’
    ('\u{201E}', '\u{201C}'), // „ “
    ('\u{00AB}', '\u{00BB}'), // « »
    ('\u{2039}', '\u{203A}'), // ‹ ›
];

/// Punctuation that ends a sentence after a URL, never the URL itself (but see
/// [`colon_belongs_to_the_text`]).
const TRAILING_PROSE: &[char] = &[
    '.', ',', ';', ':', '!', '?', '\u{3002}', '\u{3001}', '\u{FF0C}', '\u{2026}',
];

/// Quote-like characters that may be left dangling on one side only.
const LONE_QUOTES: &[char] = &[
    '"', '\'', '`', '\u{201C}', '\u{201D}', '\u{2018}', '\u{2019}', '\u{201E}', '\u{00AB}',
    '\u{00BB}', '<', '>',
];

/// Whitespace, the C0 controls and the zero-width characters that chat and word processors
/// leave around a pasted URL.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_ascii_control()
        || matches!(
            c,
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
        )
}

/// The text being stripped, with the balance (openings minus closings) of each bracket kind in
/// it, kept up to date as characters are removed from either end.
struct Span<'a> {
    text: &'a str,
    /// `(`, `[`, `{`.
    balance: [i64; 3],
}

impl<'a> Span<'a> {
    fn new(text: &'a str) -> Span<'a> {
        let mut span = Span {
            text,
            balance: [0; 3],
        };
        work::step(text.len());
        for c in text.chars() {
            span.count(c, 1);
        }
        span
    }

    fn count(&mut self, c: char, sign: i64) {
        let (kind, delta) = match c {
            '(' => (0, 1),
            ')' => (0, -1),
            '[' => (1, 1),
            ']' => (1, -1),
            '{' => (2, 1),
            '}' => (2, -1),
            _ => return,
        };
        self.balance[kind] += sign * delta;
    }

    fn first(&self) -> Option<char> {
        self.text.chars().next()
    }

    fn last(&self) -> Option<char> {
        self.text.chars().next_back()
    }

    fn pop_front(&mut self) {
        if let Some(c) = self.first() {
            work::step(1);
            self.text = &self.text[c.len_utf8()..];
            self.count(c, -1);
        }
    }

    fn pop_back(&mut self) {
        if let Some(c) = self.last() {
            work::step(1);
            self.text = &self.text[..self.text.len() - c.len_utf8()];
            self.count(c, -1);
        }
    }

    fn trim_invisible(&mut self) {
        while self.first().is_some_and(is_invisible) {
            self.pop_front();
        }
        while self.last().is_some_and(is_invisible) {
            self.pop_back();
        }
    }

    /// A closing bracket at the end that no opening bracket in the text matches, as in
    /// `(see http://example.nl/a)`; one the URL opened itself (`/wiki/Foo_(bar)`) is kept.
    fn unbalanced_close(&self, c: char) -> bool {
        match c {
            ')' => self.balance[0] < 0,
            ']' => self.balance[1] < 0,
            '}' => self.balance[2] < 0,
            _ => false,
        }
    }
}

/// Removes what prose wraps around a URL: invisible characters, matching quotes and brackets,
/// a dangling quote, and sentence punctuation at the end. A closing bracket is kept when the
/// URL itself opened it (`https://en.wikipedia.org/wiki/Foo_(bar)`), and a colon is kept when
/// it is part of the address (see [`colon_belongs_to_the_text`]).
pub(super) fn strip_prose(raw: &str) -> &str {
    let mut span = Span::new(raw);
    loop {
        work::step(1);
        let before = span.text.len();
        span.trim_invisible();
        for &(open, close) in WRAPPERS {
            let text = span.text;
            if text.len() >= open.len_utf8() + close.len_utf8()
                && text.starts_with(open)
                && text.ends_with(close)
            {
                span.pop_front();
                span.pop_back();
                span.trim_invisible();
            }
        }
        while span.first().is_some_and(|c| LONE_QUOTES.contains(&c)) {
            span.pop_front();
        }
        if let Some(last) = span.last() {
            let prose = match last {
                ':' => !colon_belongs_to_the_text(span.text),
                _ => TRAILING_PROSE.contains(&last),
            };
            if prose || LONE_QUOTES.contains(&last) || span.unbalanced_close(last) {
                span.pop_back();
            }
        }
        span.trim_invisible();
        if span.text.len() == before {
            return span.text;
        }
    }
}

/// Longest word read as a bare scheme before a final colon; longer words are never schemes,
/// and the bound keeps this check constant-time.
const LONGEST_BARE_SCHEME: usize = 32;

/// Whether the colon that ends `text` is part of what was reported rather than prose: the end
/// of an IPv6 address (`2001:db8::`), or of a bare scheme with nothing after it (`javascript:`,
/// `http:`), which must be refused as a scheme, not read as a host named after it.
fn colon_belongs_to_the_text(text: &str) -> bool {
    let before = &text[..text.len() - 1];
    if before.ends_with(':') {
        return true;
    }
    let word = before;
    word.len() <= LONGEST_BARE_SCHEME
        && word.starts_with(|c: char| c.is_ascii_alphabetic())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatwg_removes_tab_and_newline_anywhere_and_controls_at_the_ends() {
        assert_eq!(
            remove_tab_and_newline("ht\ttp://evil.nl/x"),
            "http://evil.nl/x"
        );
        assert_eq!(
            remove_tab_and_newline("http://ev\r\nil.nl/"),
            "http://evil.nl/"
        );
        assert_eq!(
            remove_tab_and_newline("\u{0}\u{1f} evil.nl \u{7}"),
            "evil.nl"
        );
        assert_eq!(remove_tab_and_newline("a\u{7}b"), "a\u{7}b");
    }

    #[test]
    fn prose_is_stripped_and_the_address_kept() {
        for (raw, stripped) in [
            ("(http://example.nl/a)", "http://example.nl/a"),
            (
                "http://example.nl/wiki/Foo_(bar)",
                "http://example.nl/wiki/Foo_(bar)",
            ),
            ("http://example.nl/a)))", "http://example.nl/a"),
            ("2001:218::", "2001:218::"),
            ("[2001:218::].", "2001:218::"),
            ("javascript:", "javascript:"),
            ("(http:)", "http:"),
            ("example.nl:", "example.nl"),
            ("see:", "see:"),
            ("\"'example.nl'\"", "example.nl"),
        ] {
            assert_eq!(strip_prose(raw), stripped, "{raw:?}");
        }
    }
}
