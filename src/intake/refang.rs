//! Refang: undoes the defanging conventions of abuse and threat-intelligence reporting.
//!
//! Owns three rewrites, each chosen so that it cannot turn a real URL into a different one:
//! bracketed tokens anywhere in the text (`[.]`, `(dot)`, `[://]`, `[@]`, …: brackets never
//! occur in a host, so these are unambiguous), the defanged spellings of a scheme at the start
//! (`hxxp`, `fxp`, `xxxx`, `[http]`, …), and escaped dots inside the host part (`\.`, `^.`: a
//! backslash or caret ends or breaks a host, so in the host they can only be a defanged dot).
//!
//! Must not: guess at bare words (`DOT`, `AT`, `-dot-`): real host names contain them
//! (`www.mdot.example`, `accounts.dot-example.online`), so such text is read as written and then
//! accepted or refused as a host name like any other. Linear time: one pass per rewrite.

use std::borrow::Cow;

use super::work;

/// Bracketed defanging tokens and what they stand for, matched without regard to case. At one
/// position the first match wins, so a token comes before any token it starts with.
const DEFANG_TOKENS: &[(&str, &str)] = &[
    ("[://]", "://"),
    ("(://)", "://"),
    ("{://}", "://"),
    ("[:]//", "://"),
    ("[:/]/", "://"),
    ("[dot]", "."),
    ("(dot)", "."),
    ("{dot}", "."),
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("<.>", "."),
    ("[.[", "."),
    ("].]", "."),
    ("].[", "."),
    ("{.{", "."),
    ("}.}", "."),
    ("}.{", "."),
    ("[,]", "."),
    ("(,)", "."),
    ("{,}", "."),
    ("[:]", ":"),
    ("(:)", ":"),
    ("{:}", ":"),
    ("[/]", "/"),
    ("[-]", "-"),
    ("[@]", "@"),
    ("(@)", "@"),
    ("{@}", "@"),
    ("[at]", "@"),
];

/// Defanged spellings of a scheme and the scheme they stand for, matched without regard to
/// case at the start of the text, before `:`, `//` or `\\`.
const DEFANGED_SCHEMES: &[(&str, &str)] = &[
    ("hxxps", "https"),
    ("hxxp", "http"),
    ("hxtps", "https"),
    ("hxtp", "http"),
    ("htxps", "https"),
    ("htxp", "http"),
    ("fxps", "ftps"),
    ("fxp", "ftp"),
    ("xxxxx", "https"),
    ("xxxxs", "https"),
    ("xxxx", "http"),
];

/// Undoes bracketed tokens anywhere and a defanged scheme at the start.
pub(super) fn refang(text: &str) -> Cow<'_, str> {
    let text = replace_tokens(text);
    match refang_scheme(&text) {
        Some(repaired) => Cow::Owned(repaired),
        None => text,
    }
}

fn replace_tokens(text: &str) -> Cow<'_, str> {
    // Every token starts with one of these; most texts have none and are returned as they are.
    let starts = |c: char| matches!(c, '[' | '(' | '{' | '<' | ']' | '}');
    work::step(text.len());
    if !text.contains(starts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(c) = rest.chars().next() {
        work::step(1);
        if starts(c) {
            for &(token, replacement) in DEFANG_TOKENS {
                if rest
                    .get(..token.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(token))
                {
                    out.push_str(replacement);
                    rest = &rest[token.len()..];
                    continue 'scan;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// The text with its defanged or bracketed scheme (`hXXps://`, `[http]://`, `(https)//`)
/// written plainly, or `None` when it starts with no such scheme.
fn refang_scheme(text: &str) -> Option<String> {
    let (inner, skip) = match text.chars().next()? {
        open @ ('[' | '(' | '{') => {
            let close = match open {
                '[' => ']',
                '(' => ')',
                _ => '}',
            };
            // Schemes are short: look no further than a few characters for the closing one.
            let (end, _) = text.char_indices().take(12).find(|&(_, c)| c == close)?;
            (&text[1..end], end + 1)
        }
        _ => {
            let end = text
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(text.len());
            (&text[..end], end)
        }
    };
    let after = &text[skip..];
    let separator = after.trim_start_matches(' ');
    if !(separator.starts_with(':') || separator.starts_with("//") || separator.starts_with("\\\\"))
    {
        return None;
    }
    let plain = DEFANGED_SCHEMES
        .iter()
        .find(|(defanged, _)| inner.eq_ignore_ascii_case(defanged))
        .map(|(_, scheme)| *scheme)
        .or_else(|| {
            // `[http]://`: a known scheme in brackets.
            (skip > inner.len() && super::scheme::is_network_scheme(&inner.to_ascii_lowercase()))
                .then_some(inner)
        })?;
    Some(format!("{plain}{after}"))
}

/// In the authority (the part after `scheme://`, up to the first `/`, `?`, `#` or a backslash
/// that ends it), writes `\.` and `^.` as the dots they stand for. A WHATWG parser would end
/// the host at the backslash (`46.166.132\.140` would become `46.166.0.132`) or refuse the
/// caret; neither can be what the reporter meant.
pub(super) fn unescape_authority(rest: &str) -> Cow<'_, str> {
    let end = authority_end(rest);
    let authority = &rest[..end];
    if !(authority.contains("\\.") || authority.contains("^.")) {
        return Cow::Borrowed(rest);
    }
    let mut out = String::with_capacity(rest.len());
    let mut chars = authority.chars().peekable();
    while let Some(c) = chars.next() {
        work::step(1);
        if matches!(c, '\\' | '^') && chars.peek() == Some(&'.') {
            continue;
        }
        out.push(c);
    }
    out.push_str(&rest[end..]);
    Cow::Owned(out)
}

/// Where the authority of `rest` ends: at `/`, `?`, `#`, or a backslash that is not an escaped
/// dot.
fn authority_end(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        work::step(1);
        match bytes[index] {
            b'/' | b'?' | b'#' => return index,
            b'\\' if bytes.get(index + 1) != Some(&b'.') => return index,
            _ => index += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_schemes_and_escaped_dots() {
        for (raw, refanged) in [
            ("hxxps://example[.]nl/a[.]php", "https://example.nl/a.php"),
            ("HXXP[://]EXAMPLE(DOT)NL", "http://EXAMPLE.NL"),
            ("www[.[example].]com", "www.example.com"),
            ("5[,]6[,]7(,)8", "5.6.7.8"),
            ("1<.>1<.>1<.>1", "1.1.1.1"),
            ("foo[-]bar.com", "foo-bar.com"),
            ("[http]://example.com/", "http://example.com/"),
            ("(HTTPS)://example.com/", "HTTPS://example.com/"),
            ("xxxxx://example.com/", "https://example.com/"),
            ("hxxp//example.com/", "http//example.com/"),
            ("hxxpexample.com", "hxxpexample.com"),
            ("(ssh)://host.example[.]nl", "ssh://host.example.nl"),
            ("(www).example.com", "(www).example.com"),
            ("example.com/dot/[x]", "example.com/dot/[x]"),
        ] {
            assert_eq!(refang(raw), refanged, "{raw:?}");
        }
        for (rest, unescaped) in [
            ("46.166.132\\.140/x\\.y", "46.166.132.140/x\\.y"),
            ("example^.com", "example.com"),
            ("evil.nl\\@good.com", "evil.nl\\@good.com"),
            ("example.nl\\x\\.y", "example.nl\\x\\.y"),
        ] {
            assert_eq!(unescape_authority(rest), unescaped, "{rest:?}");
        }
    }
}
