//! DNS names: whether a host the URL parser accepted can exist in DNS at all.
//!
//! The WHATWG parser accepts hosts that no name server can hold (`juanita(at)example.com`,
//! `1,2,3,4`, `-evil-.nl`); sent to a resolver they come back as failures that look as if a
//! retry might help. This module owns the rule that refuses them first, label by label, with a
//! reason naming the label: letters, digits, hyphens and underscores (real host names carry
//! `_`, though RFC 952/1123 host names may not), no hyphen at either end of a label, 1 to 63
//! octets per label, at most 253 in all, and at least two labels. One trailing dot (the DNS
//! root, `example.nl.`) is allowed and removed; a second one is an empty label, as `a..b` is.
//!
//! Must not: change a name (apart from that one trailing dot), or look names up.

use super::{IntakeError, work};

/// The longest name DNS can carry, in characters, without the trailing dot.
pub(super) const MAX_NAME: usize = 253;

/// The longest label DNS can carry, in octets.
pub(super) const MAX_LABEL: usize = 63;

/// Checks a domain from the WHATWG parser (lower case, punycode) and returns it without its
/// trailing dot.
///
/// # Errors
///
/// The [`IntakeError`] naming the first thing DNS cannot carry.
pub(super) fn check_domain(name: &str) -> Result<String, IntakeError> {
    work::step(name.len());
    let host = || name.to_owned();
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(IntakeError::EmptyLabel { host: host() });
    }
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err(IntakeError::EmptyLabel { host: host() });
        }
        if let Some(character) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(IntakeError::LabelCharacter {
                label: label.to_owned(),
                character,
            });
        }
        if label.len() > MAX_LABEL {
            return Err(IntakeError::LabelTooLong {
                label: label.to_owned(),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(IntakeError::LabelHyphen {
                label: label.to_owned(),
            });
        }
    }
    if trimmed.len() > MAX_NAME {
        return Err(IntakeError::HostTooLong { len: trimmed.len() });
    }
    if !trimmed.contains('.') {
        return Err(IntakeError::SingleLabel {
            host: trimmed.to_owned(),
        });
    }
    Ok(trimmed.to_ascii_lowercase())
}
