//! Intake: turns the text of a report into the host that must be located.
//!
//! Owns everything between "what the reporter typed" and a [`Target`]: prose clean-up
//! (whitespace, quotes, brackets, trailing punctuation), refanging of the defanged forms used in
//! abuse reporting, scheme repair, and finally the WHATWG URL parser (the `url` crate), which
//! decides the host exactly as a browser would (userinfo, backslashes, IDNA to punycode, IPv4 in
//! decimal/hex/octal/short forms, bracketed IPv6).
//!
//! Intake does no I/O and never guesses: when the text has no usable network host it returns an
//! [`IntakeError`] whose message is the `reason` of an `invalid` verdict.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

/// Inputs longer than this are refused rather than parsed: no real URL is this long, and a
/// bound keeps a hostile batch row from costing unbounded time.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// The host a report points at, with the normalised URL it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL after refanging and WHATWG normalisation.
    pub url: String,
    /// The host to locate.
    pub host: Host,
}

/// The host of a reported URL: a DNS name or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name: lower case, punycode (A-labels), no trailing dot.
    Domain(String),
    /// An IPv4 literal, in whatever form the report wrote it.
    Ipv4(Ipv4Addr),
    /// An IPv6 literal (written in brackets in the URL).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// The host as the result object shows it: IPv6 without brackets.
    pub fn to_display_string(&self) -> String {
        match self {
            Host::Domain(name) => name.clone(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        }
    }

    /// `"domain"`, `"ipv4"` or `"ipv6"`, as in the result's `host_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Host::Domain(_) => "domain",
            Host::Ipv4(_) => "ipv4",
            Host::Ipv6(_) => "ipv6",
        }
    }

    /// The IP address of an IP-literal host.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        }
    }

    /// The registrable domain ("eTLD+1") by the Public Suffix List; `None` for IP literals and
    /// for names that are themselves a public suffix (e.g. `co.uk`).
    pub fn registrable_domain(&self) -> Option<String> {
        match self {
            Host::Domain(name) => psl::domain_str(name).map(str::to_owned),
            Host::Ipv4(_) | Host::Ipv6(_) => None,
        }
    }

    /// The special-use top-level domain that makes this name impossible to locate by DNS
    /// (Tor and I2P hidden services), if any.
    pub fn hidden_service_network(&self) -> Option<&'static str> {
        let Host::Domain(name) = self else {
            return None;
        };
        let tld = name.rsplit('.').next().unwrap_or(name);
        match tld {
            "onion" => Some("Tor"),
            "i2p" => Some("I2P"),
            _ => None,
        }
    }
}

/// Why a report has no usable host. The `Display` text is the `reason` of an `invalid` verdict,
/// written for the analyst who has to decide what to do with the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntakeError {
    /// Nothing left after removing whitespace, quotes and brackets.
    #[error("the report is empty")]
    Empty,
    /// Input over [`MAX_INPUT_BYTES`].
    #[error("the report is {len} bytes long, more than the {MAX_INPUT_BYTES} a URL may have")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// A scheme such as `mailto:`, `javascript:` or `data:` that names no network host.
    #[error("a {scheme}: URL names no network host, so there is no hosting location")]
    NoNetworkHost {
        /// The scheme as found, lower case.
        scheme: String,
    },
    /// The WHATWG parser rejected the URL.
    #[error("not a usable URL: {detail}")]
    Unparseable {
        /// What the URL parser objected to, in words.
        detail: String,
    },
    /// The host contains an empty label (`a..b`).
    #[error("the host {host:?} has an empty label")]
    EmptyLabel {
        /// The host as parsed.
        host: String,
    },
    /// The host is longer than DNS allows.
    #[error("the host is {len} characters long; DNS names have at most 253")]
    HostTooLong {
        /// Length of the host.
        len: usize,
    },
}

impl IntakeError {
    /// A stable short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            IntakeError::Empty => "empty",
            IntakeError::TooLong { .. } => "too_long",
            IntakeError::NoNetworkHost { .. } => "no_network_host",
            IntakeError::Unparseable { .. } => "unparseable",
            IntakeError::EmptyLabel { .. } => "empty_label",
            IntakeError::HostTooLong { .. } => "host_too_long",
        }
    }
}

/// Schemes whose URLs carry a network host, which the WHATWG parser treats as "special".
const SPECIAL_SCHEMES: &[&str] = &["http", "https", "ftp", "ws", "wss"];

/// Other schemes seen in reports whose `//authority` names a network host. They are parsed like
/// `http` so that their host gets the same IDNA and IPv4 treatment.
const AUTHORITY_SCHEMES: &[&str] = &[
    "sftp", "ftps", "ssh", "irc", "ircs", "rtmp", "rtmps", "rtsp", "smb", "git", "gopher", "nntp",
    "telnet", "webdav", "dav", "feed", "ipfs", "ipns", "magnet",
];

/// Turns the text of one report into a [`Target`].
///
/// ```
/// use hostloc::intake::{parse_report, Host};
///
/// let target = parse_report("hxxps://Files.Example[.]nl/a.jpg").unwrap();
/// assert_eq!(target.host, Host::Domain("files.example.nl".into()));
/// assert_eq!(target.url, "https://files.example.nl/a.jpg");
/// assert_eq!(target.host.registrable_domain().as_deref(), Some("example.nl"));
///
/// let target = parse_report("http://1607663617/").unwrap();
/// assert_eq!(target.host.to_display_string(), "95.211.0.1");
///
/// let error = parse_report("mailto:abuse@example.nl").unwrap_err();
/// assert_eq!(error.to_string(), "a mailto: URL names no network host, so there is no hosting location");
/// ```
///
/// # Errors
///
/// Returns an [`IntakeError`] when the text holds no usable network host; its message says why.
pub fn parse_report(raw: &str) -> Result<Target, IntakeError> {
    if raw.len() > MAX_INPUT_BYTES {
        return Err(IntakeError::TooLong { len: raw.len() });
    }
    let cleaned = strip_prose(raw);
    if cleaned.is_empty() {
        return Err(IntakeError::Empty);
    }
    let refanged = refang(cleaned);
    // A bare IPv6 address (reports often give one without brackets, or prose brackets around
    // it were just removed) is a host only in brackets.
    if let Ok(ip) = refanged.parse::<Ipv6Addr>() {
        return parse_url(&format!("http://[{ip}]/"));
    }
    let with_scheme = repair_scheme(&refanged)?;
    parse_url(&with_scheme)
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

/// Punctuation that ends a sentence after a URL, never the URL itself.
const TRAILING_PROSE: &[char] = &[
    '.', ',', ';', ':', '!', '?', '\u{3002}', '\u{3001}', '\u{FF0C}', '\u{2026}',
];

/// Quote-like characters that may be left dangling on one side only.
const LONE_QUOTES: &[char] = &[
    '"', '\'', '`', '\u{201C}', '\u{201D}', '\u{2018}', '\u{2019}', '\u{201E}', '\u{00AB}',
    '\u{00BB}', '<', '>',
];

fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
        )
}

/// Removes what prose wraps around a URL: whitespace, matching quotes and brackets, a dangling
/// quote, and sentence punctuation at the end. A closing bracket is kept when the URL itself
/// opened it (`https://en.wikipedia.org/wiki/Foo_(bar)`).
fn strip_prose(raw: &str) -> &str {
    let mut text = raw.trim_matches(is_invisible);
    loop {
        let before = text;
        for &(open, close) in WRAPPERS {
            if let Some(inner) = text
                .strip_prefix(open)
                .and_then(|rest| rest.strip_suffix(close))
            {
                text = inner.trim_matches(is_invisible);
            }
        }
        text = text.trim_start_matches(LONE_QUOTES);
        if let Some(last) = text.chars().last() {
            let unbalanced_close = match last {
                ')' => count(text, '(') < count(text, ')'),
                ']' => count(text, '[') < count(text, ']'),
                '}' => count(text, '{') < count(text, '}'),
                _ => false,
            };
            if TRAILING_PROSE.contains(&last) || LONE_QUOTES.contains(&last) || unbalanced_close {
                text = &text[..text.len() - last.len_utf8()];
            }
        }
        text = text.trim_matches(is_invisible);
        if text == before {
            return text;
        }
    }
}

fn count(text: &str, needle: char) -> usize {
    text.chars().filter(|&c| c == needle).count()
}

/// Bracketed/parenthesised defanging tokens and what they stand for. Matched without regard to
/// case. Order matters: longer tokens first.
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
    ("[:]", ":"),
    ("(:)", ":"),
    ("[/]", "/"),
    ("[@]", "@"),
    ("(@)", "@"),
    ("[at]", "@"),
];

/// Undoes the defanging conventions of abuse reporting: `hxxp`/`hxxps`/`fxp` schemes and
/// bracketed separators. Only bracketed tokens are replaced, so an ordinary word such as
/// "dot" in a path is left alone.
fn refang(text: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(text.len());
    let lower = text.to_ascii_lowercase();
    let mut changed = false;
    let mut index = 0;
    'scan: while index < text.len() {
        let rest_lower = &lower[index..];
        for &(token, replacement) in DEFANG_TOKENS {
            if rest_lower.starts_with(token) {
                out.push_str(replacement);
                index += token.len();
                changed = true;
                continue 'scan;
            }
        }
        let ch = text[index..].chars().next().unwrap_or_default();
        out.push(ch);
        index += ch.len_utf8();
    }
    let mut text = if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    };
    // Defanged schemes: hxxp, hXXps, hxtp, fxp. Only at the very start, before a ':'.
    let lower = text.to_ascii_lowercase();
    for (defanged, scheme) in [
        ("hxxps", "https"),
        ("hxxp", "http"),
        ("hxtps", "https"),
        ("hxtp", "http"),
        ("htxps", "https"),
        ("htxp", "http"),
        ("fxp", "ftp"),
        ("fxps", "ftps"),
    ] {
        if lower.starts_with(defanged) && lower[defanged.len()..].starts_with(':') {
            text = Cow::Owned(format!("{scheme}{}", &text[defanged.len()..]));
            break;
        }
    }
    text
}

/// Adds `http://` when the report has no scheme, and refuses schemes without a network host.
fn repair_scheme(text: &str) -> Result<Cow<'_, str>, IntakeError> {
    // Protocol-relative, possibly with backslashes: //host/x or \\host\x.
    if text.starts_with("//") || text.starts_with("\\\\") || text.starts_with("/\\") {
        return Ok(Cow::Owned(format!("http:{text}")));
    }
    if let Some(scheme) = leading_scheme(text) {
        let scheme_lower = scheme.to_ascii_lowercase();
        let rest = &text[scheme.len() + 1..];
        if SPECIAL_SCHEMES.contains(&scheme_lower.as_str()) {
            return Ok(Cow::Borrowed(text));
        }
        if AUTHORITY_SCHEMES.contains(&scheme_lower.as_str())
            && (rest.starts_with("//") || rest.starts_with("\\\\"))
        {
            return Ok(Cow::Borrowed(text));
        }
        // `host:port/...` looks like a scheme to a URL parser; a port is all digits.
        if !looks_like_host_and_port(scheme, rest) {
            return Err(IntakeError::NoNetworkHost {
                scheme: scheme_lower,
            });
        }
    }
    Ok(Cow::Owned(format!("http://{text}")))
}

/// The scheme of `text` if it starts with one by RFC 3986 (`ALPHA *( ALPHA / DIGIT / + - . ) :`).
fn leading_scheme(text: &str) -> Option<&str> {
    let colon = text.find(':')?;
    let scheme = &text[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// `example.nl:8080/x` and `localhost:80`: what precedes the colon is a host, not a scheme,
/// when a port follows it. A name with a dot followed by a non-port (`evil.nl:x`) is still a
/// host to a careful analyst, not a scheme: real schemes have no dots in practice.
fn looks_like_host_and_port(before_colon: &str, after_colon: &str) -> bool {
    let port: String = after_colon
        .chars()
        .take_while(|c| !matches!(c, '/' | '\\' | '?' | '#'))
        .collect();
    let is_port = !port.is_empty() && port.len() <= 5 && port.chars().all(|c| c.is_ascii_digit());
    is_port || before_colon.contains('.')
}

fn parse_url(text: &str) -> Result<Target, IntakeError> {
    let scheme_end = text.find(':').unwrap_or(0);
    let scheme = text[..scheme_end].to_ascii_lowercase();
    // Parse non-special authority schemes as http so the host gets WHATWG host parsing, then
    // put the reporter's scheme back in the normalised URL.
    let (parse_text, foreign_scheme) = if SPECIAL_SCHEMES.contains(&scheme.as_str()) {
        (Cow::Borrowed(text), None)
    } else {
        (
            Cow::Owned(format!("http{}", &text[scheme_end..])),
            Some(scheme),
        )
    };
    let url = Url::parse(&parse_text).map_err(|error| IntakeError::Unparseable {
        detail: describe_parse_error(error),
    })?;
    let host = match url.host() {
        None => {
            return Err(IntakeError::Unparseable {
                detail: "there is no host".to_owned(),
            });
        }
        Some(url::Host::Ipv4(ip)) => Host::Ipv4(ip),
        Some(url::Host::Ipv6(ip)) => Host::Ipv6(ip),
        Some(url::Host::Domain(name)) => Host::Domain(check_domain(name)?),
    };
    let mut normalised = url.to_string();
    if let Host::Domain(name) = &host {
        // The URL keeps the reporter's trailing dot; the host we locate does not.
        if url.host_str() != Some(name.as_str()) {
            normalised = normalised.replacen(url.host_str().unwrap_or_default(), name, 1);
        }
    }
    if let Some(scheme) = foreign_scheme {
        normalised = format!("{scheme}{}", &normalised["http".len()..]);
    }
    Ok(Target {
        url: normalised,
        host,
    })
}

/// Lower case, no trailing dot, no empty labels, at most 253 characters.
fn check_domain(name: &str) -> Result<String, IntakeError> {
    let trimmed = name.trim_end_matches('.');
    if trimmed.is_empty() || trimmed.split('.').any(str::is_empty) {
        return Err(IntakeError::EmptyLabel {
            host: name.to_owned(),
        });
    }
    if trimmed.len() > 253 {
        return Err(IntakeError::HostTooLong { len: trimmed.len() });
    }
    Ok(trimmed.to_ascii_lowercase())
}

fn describe_parse_error(error: url::ParseError) -> String {
    match error {
        url::ParseError::EmptyHost => "the host is empty".to_owned(),
        url::ParseError::IdnaError => {
            "the host is not a valid internationalised domain name".to_owned()
        }
        url::ParseError::InvalidPort => "the port is not a number from 0 to 65535".to_owned(),
        url::ParseError::InvalidIpv4Address => "the host is not a valid IPv4 address".to_owned(),
        url::ParseError::InvalidIpv6Address => "the host is not a valid IPv6 address".to_owned(),
        url::ParseError::InvalidDomainCharacter => {
            "the host contains a character that is not allowed in a host name".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One intake case: the report text and the expected host (or the expected error kind).
    fn check(raw: &str, expected: &str) {
        let got = match parse_report(raw) {
            Ok(target) => target.host.to_display_string(),
            Err(error) => format!("invalid:{}", error.kind()),
        };
        assert_eq!(got, expected, "input {raw:?}");
    }

    #[test]
    fn prose_around_urls() {
        for (raw, host) in [
            ("  http://example.nl/a.jpg  ", "example.nl"),
            ("\t\"http://example.nl/a\"\n", "example.nl"),
            ("'example.nl/a'", "example.nl"),
            ("<http://example.nl/a>", "example.nl"),
            ("(http://example.nl/a)", "example.nl"),
            ("[http://example.nl/a]", "example.nl"),
            ("http://example.nl/a.jpg.", "example.nl"),
            ("http://example.nl/a.jpg),", "example.nl"),
            ("see http://example.nl/a;", "invalid:unparseable"),
            ("“http://example.nl/a”", "example.nl"),
            ("«http://example.nl/a»", "example.nl"),
            ("\u{200B}http://example.nl/\u{FEFF}", "example.nl"),
            ("http://example.nl/wiki/Foo_(bar)", "example.nl"),
            ("example.nl!", "example.nl"),
            ("example.nl...", "example.nl"),
            ("example.nl?", "example.nl"),
            ("\"<example.nl>\"", "example.nl"),
        ] {
            check(raw, host);
        }
    }

    #[test]
    fn missing_or_relative_scheme() {
        for (raw, host) in [
            ("example.nl/a.jpg", "example.nl"),
            ("www.example.nl:8080/x", "www.example.nl"),
            ("localhost:8080", "localhost"),
            ("//example.nl/x", "example.nl"),
            ("\\\\example.nl\\x", "example.nl"),
            ("example.nl", "example.nl"),
            ("http:example.nl/x", "example.nl"),
            ("http:/example.nl/x", "example.nl"),
            ("http:///example.nl/x", "example.nl"),
            ("HTTP://EXAMPLE.NL/X", "example.nl"),
            ("ftp://files.example.nl/x", "files.example.nl"),
            ("sftp://Files.Example.NL/x", "files.example.nl"),
            ("wss://chat.example.nl/s", "chat.example.nl"),
        ] {
            check(raw, host);
        }
    }

    #[test]
    fn defanged_forms() {
        for (raw, host) in [
            ("hxxp://example[.]nl/a", "example.nl"),
            ("hxxps://files.example[.]nl/a.jpg", "files.example.nl"),
            ("hXXps://example[.]nl", "example.nl"),
            ("HXXP://EXAMPLE[.]NL", "example.nl"),
            ("example(.)nl/a", "example.nl"),
            ("example[dot]nl", "example.nl"),
            ("example[DOT]nl", "example.nl"),
            ("example(dot)nl", "example.nl"),
            ("example{.}nl", "example.nl"),
            ("http[:]//example.nl", "example.nl"),
            ("hxxp[://]example.nl", "example.nl"),
            ("http[://]example[.]nl/x", "example.nl"),
            ("https[:]//www[.]example[.]co[.]uk/x", "www.example.co.uk"),
            ("[http://example[.]nl/a]", "example.nl"),
            ("fxp://files[.]example[.]nl", "files.example.nl"),
            ("1[.]2[.]3[.]4", "1.2.3.4"),
            ("hxxp://95[.]211[.]0[.]1/", "95.211.0.1"),
        ] {
            check(raw, host);
        }
    }

    #[test]
    fn case_dots_backslashes() {
        for (raw, host) in [
            ("http://Example.NL./a", "example.nl"),
            ("http://example.nl.:80/", "example.nl"),
            ("http:\\\\example.nl\\x", "example.nl"),
            ("https:\\\\example.nl/x", "example.nl"),
            ("http://example..nl/", "invalid:empty_label"),
            ("http://./", "invalid:empty_label"),
            ("http://example.nl%2E/", "example.nl"),
            ("http://ex%61mple.nl/", "example.nl"),
        ] {
            check(raw, host);
        }
    }

    #[test]
    fn userinfo_never_hides_the_host() {
        for (raw, host) in [
            ("http://user:pw@host.example/", "host.example"),
            ("http://good.com@evil.nl/", "evil.nl"),
            ("http://good.com:80@evil.nl/", "evil.nl"),
            ("http://good.com%40x@evil.nl/", "evil.nl"),
            ("evil.nl#@good.com", "evil.nl"),
            ("http://evil.nl\\@good.com/", "evil.nl"),
            ("user@evil.nl/x", "evil.nl"),
            ("http://a@b@evil.nl/", "evil.nl"),
        ] {
            check(raw, host);
        }
    }

    #[test]
    fn internationalised_names_become_punycode() {
        for (raw, host) in [
            ("bücher.example", "xn--bcher-kva.example"),
            ("http://BÜCHER.example/x", "xn--bcher-kva.example"),
            ("http://xn--bcher-kva.example/", "xn--bcher-kva.example"),
            ("http://пример.рф/", "xn--e1afmkfd.xn--p1ai"),
            ("http://例子。测试/", "xn--fsqu00a.xn--0zwm56d"),
            ("http://ｅｘａｍｐｌｅ.nl/", "example.nl"),
        ] {
            check(raw, host);
        }
    }

    #[test]
    fn ip_literals_in_every_whatwg_form() {
        for (raw, host) in [
            ("http://95.211.0.1/", "95.211.0.1"),
            ("http://1607663617/", "95.211.0.1"),
            ("http://0x5f.0xd3.0.1/", "95.211.0.1"),
            ("http://0x5fd30001/", "95.211.0.1"),
            ("http://0137.0323.0.01/", "95.211.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://10.1.1/", "10.1.0.1"),
            ("95.211.0.1", "95.211.0.1"),
            ("95.211.0.1:8080/x", "95.211.0.1"),
            ("http://[2001:db8::1]/", "2001:db8::1"),
            ("http://[2001:DB8:0:0::1]:8080/x", "2001:db8::1"),
            ("[2001:db8::1]/x", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            (" 2a00:c98::1. ", "2a00:c98::1"),
            ("::ffff:95.211.0.1", "::ffff:95.211.0.1"),
            ("http://[::ffff:95.211.0.1]/", "::ffff:95.211.0.1"),
            ("http://256.1.1.1/", "invalid:unparseable"),
            ("http://1.2.3.4.5/", "invalid:unparseable"),
            ("http://[2001:db8::zz]/", "invalid:unparseable"),
        ] {
            check(raw, host);
        }
    }

    #[test]
    fn schemes_without_network_host_and_bad_hosts() {
        for (raw, expected) in [
            ("mailto:abuse@example.nl", "invalid:no_network_host"),
            ("javascript:alert(1)", "invalid:no_network_host"),
            ("data:text/html,<b>x</b>", "invalid:no_network_host"),
            ("about:blank", "invalid:no_network_host"),
            ("tel:+31201234567", "invalid:no_network_host"),
            ("", "invalid:empty"),
            ("   ", "invalid:empty"),
            ("\"\"", "invalid:empty"),
            ("<>", "invalid:empty"),
            ("http://", "invalid:unparseable"),
            ("http:///", "invalid:unparseable"),
            ("http://exa mple.nl/", "invalid:unparseable"),
            ("http://exa<mple.nl/", "invalid:unparseable"),
            ("http://example.nl:99999/", "invalid:unparseable"),
            ("http://example.nl/path with spaces", "example.nl"),
            ("file:///etc/passwd", "invalid:no_network_host"),
        ] {
            check(raw, expected);
        }
    }

    #[test]
    fn normalised_url_and_registrable_domain() {
        let target = parse_report("hxxps://Files.Example[.]co[.]uk./a b.jpg").unwrap();
        assert_eq!(target.url, "https://files.example.co.uk/a%20b.jpg");
        assert_eq!(
            target.host.registrable_domain().as_deref(),
            Some("example.co.uk")
        );
        let target = parse_report("sftp://Example.NL/x").unwrap();
        assert_eq!(target.url, "sftp://example.nl/x");
        assert_eq!(
            Host::Domain("co.uk".into()).registrable_domain(),
            None,
            "a public suffix has no registrable domain"
        );
        assert_eq!(
            Host::Domain("xn--bcher-kva.example".into()).registrable_domain(),
            Some("xn--bcher-kva.example".into())
        );
        assert_eq!(Host::Ipv4(Ipv4Addr::LOCALHOST).registrable_domain(), None);
    }

    #[test]
    fn hidden_services_are_recognised() {
        let target = parse_report("http://abcdefghijklmnop.onion/x").unwrap();
        assert_eq!(target.host.hidden_service_network(), Some("Tor"));
        let target = parse_report("http://example.nl/x.onion").unwrap();
        assert_eq!(target.host.hidden_service_network(), None);
    }

    #[test]
    fn oversized_input_is_refused() {
        let huge = format!("http://example.nl/{}", "a".repeat(MAX_INPUT_BYTES));
        assert_eq!(
            parse_report(&huge).unwrap_err().kind(),
            "too_long",
            "bounded work per row"
        );
    }

    proptest::proptest! {
        #[test]
        fn intake_never_panics(raw in proptest::prelude::any::<String>()) {
            let _ = parse_report(&raw);
        }

        #[test]
        fn intake_never_panics_on_url_like_text(raw in "[a-zA-Z0-9:/.\\[\\]()@%\\\\#?\"'<> x-]{0,40}") {
            if let Ok(target) = parse_report(&raw) {
                let host = target.host.to_display_string();
                proptest::prop_assert!(!host.is_empty());
                proptest::prop_assert!(!host.ends_with('.'));
                proptest::prop_assert_eq!(host.to_ascii_lowercase(), host);
            }
        }
    }
}
