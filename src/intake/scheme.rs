//! Scheme: finds where the host of a report starts, repairing the scheme on the way.
//!
//! Owns the decision between "this text starts with a scheme", "this text starts with a host"
//! and "this text has no host at all": a missing scheme (`example.nl/a.jpg`), a
//! protocol-relative one (`//example.nl/x`), a scheme with its colon lost or spaced out
//! (`http//example.nl/x`, `http ://example.nl`), a scheme written twice
//! (`http://https://example.nl/`), a scheme with nothing after it (`javascript:`, `http:`),
//! schemes that name no network host (`mailto:`), and a bare path (`/images/a.jpg`).
//!
//! Must not: look inside the host (the WHATWG parser and `dns_name` do), or take more than
//! linear time.

use super::{IntakeError, work};

/// Schemes whose URLs carry a network host, which the WHATWG parser treats as "special".
pub(super) const SPECIAL_SCHEMES: &[&str] = &["http", "https", "ftp", "ws", "wss"];

/// Other schemes seen in reports whose `//authority` names a network host. They are parsed like
/// `http` so that their host gets the same IDNA and IPv4 treatment.
const AUTHORITY_SCHEMES: &[&str] = &[
    "sftp", "ftps", "ssh", "irc", "ircs", "rtmp", "rtmps", "rtsp", "smb", "git", "gopher", "nntp",
    "telnet", "webdav", "dav", "feed", "ipfs", "ipns", "magnet",
];

/// Whether `scheme` (lower case) names a network host.
pub(super) fn is_network_scheme(scheme: &str) -> bool {
    SPECIAL_SCHEMES.contains(&scheme) || AUTHORITY_SCHEMES.contains(&scheme)
}

/// A report split at the start of its authority.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Authority<'a> {
    /// The scheme, lower case (`http` when the report had none).
    pub(super) scheme: String,
    /// Everything after `scheme://`: authority, path, query, fragment.
    pub(super) rest: &'a str,
}

/// Splits refanged text into its scheme and the rest, which starts with the authority.
///
/// # Errors
///
/// [`IntakeError::PathWithoutHost`], [`IntakeError::SchemeWithoutHost`] or
/// [`IntakeError::NoNetworkHost`] when the text cannot name a network host.
pub(super) fn split_scheme(mut text: &str) -> Result<Authority<'_>, IntakeError> {
    let http = |rest| {
        Ok(Authority {
            scheme: "http".to_owned(),
            rest,
        })
    };
    // Protocol-relative, possibly with backslashes: //host/x or \\host\x.
    if text.len() >= 2
        && text.as_bytes()[..2]
            .iter()
            .all(|b| matches!(b, b'/' | b'\\'))
    {
        work::step(text.len());
        return http(text.trim_start_matches(['/', '\\']));
    }
    if text.starts_with(['/', '\\', '?', '#'])
        || ["./", "../", ".\\", "..\\"]
            .iter()
            .any(|prefix| text.starts_with(prefix))
    {
        return Err(IntakeError::PathWithoutHost);
    }
    loop {
        let word_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .unwrap_or(text.len());
        work::step(word_end + 1);
        let word = &text[..word_end];
        if !word.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return http(text);
        }
        let scheme = word.to_ascii_lowercase();
        let after = &text[word_end..];
        if is_network_scheme(&scheme)
            && let Some(rest) = after_network_scheme(&scheme, after)?
        {
            // `http://https://example.nl/`: a scheme pasted twice. The inner one is the URL.
            if starts_with_slashed_scheme(rest) {
                text = rest;
                continue;
            }
            return Ok(Authority { scheme, rest });
        }
        let Some(after_colon) = after.strip_prefix(':') else {
            return http(text);
        };
        if after_colon.is_empty() {
            return Err(IntakeError::NoNetworkHost { scheme });
        }
        if looks_like_host_and_port(word, after_colon) {
            return http(text);
        }
        return Err(IntakeError::NoNetworkHost { scheme });
    }
}

/// Whether `text` starts with a network scheme and slashes (`https://`, `http//`), which
/// after another scheme's `://` means the scheme was pasted twice: no host is named `https`.
fn starts_with_slashed_scheme(text: &str) -> bool {
    let word_end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    work::step(word_end);
    if !is_network_scheme(&text[..word_end].to_ascii_lowercase()) {
        return false;
    }
    let after = &text[word_end..];
    let after = after.strip_prefix(':').unwrap_or(after);
    after.starts_with("//") || after.starts_with("\\\\") || after.starts_with("/\\")
}

/// What follows a network scheme's name: `Some(rest)` after its separator when the word is a
/// scheme, `None` when it only starts a host (`ftp/x`, `ssh:22`).
///
/// # Errors
///
/// [`IntakeError::SchemeWithoutHost`] when nothing follows the separator.
fn after_network_scheme<'a>(scheme: &str, after: &'a str) -> Result<Option<&'a str>, IntakeError> {
    // `http ://`: a space before the colon, as in some reports.
    let separator = after.trim_start_matches(' ');
    let (colon, separator) = match separator.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, separator),
    };
    let unslashed = separator.trim_start_matches(['/', '\\']);
    let slashes = separator.len() - unslashed.len();
    work::step(after.len() - unslashed.len());
    let special = SPECIAL_SCHEMES.contains(&scheme);
    let is_scheme = if colon {
        // A special scheme needs no slashes (`http:example.nl` is fine for WHATWG); another
        // one names a host only with `//`.
        special || slashes >= 2
    } else {
        // `http//example.nl`: the colon is lost.
        slashes >= 2
    };
    if !is_scheme {
        return Ok(None);
    }
    // `http:// example.nl`: spaces after the slashes.
    let rest = if slashes > 0 {
        unslashed.trim_start_matches(' ')
    } else {
        unslashed
    };
    if rest.is_empty() {
        return Err(IntakeError::SchemeWithoutHost {
            scheme: scheme.to_owned(),
        });
    }
    Ok(Some(rest))
}

/// `example.nl:8080/x` and `localhost:80`: what precedes the colon is a host, not a scheme,
/// when a port follows it. A name with a dot followed by a non-port (`evil.nl:x`) is still a
/// host to a careful analyst, not a scheme: real schemes have no dots in practice.
fn looks_like_host_and_port(before_colon: &str, after_colon: &str) -> bool {
    let port_end = after_colon
        .find(['/', '\\', '?', '#'])
        .unwrap_or(after_colon.len());
    work::step(port_end);
    let port = &after_colon[..port_end];
    let is_port = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    is_port || before_colon.contains('.')
}
