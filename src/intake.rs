//! Intake: turns the text of a report into the host that must be located.
//!
//! Owns everything between "what the reporter typed" and a [`Target`], in this order:
//! bytes that are not UTF-8 ([`decode_report`]), what the URL standard drops and what prose
//! wraps around a URL (`prose`), the defanged forms of abuse reporting (`refang`), the scheme
//! and where the host starts (`scheme`), then the WHATWG URL parser (the `url` crate), which
//! decides the host exactly as a browser would (userinfo, backslashes, IDNA to punycode, IPv4 in
//! decimal/hex/octal/short forms, bracketed IPv6), and last whether DNS can carry that name
//! (`dns_name`).
//!
//! Intake does no I/O and never guesses: when the text has no usable network host it returns an
//! [`IntakeError`] whose message is the `reason` of an `invalid` verdict. It runs in time linear
//! in the length of the text (a unit test counts its steps on inputs up to 1 MB).

mod dns_name;
mod prose;
mod refang;
mod scheme;

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
    /// A network scheme with nothing after it (`http:`, `https://`).
    #[error("the report is only the scheme {scheme}:, with no host after it")]
    SchemeWithoutHost {
        /// The scheme, lower case.
        scheme: String,
    },
    /// A path, query or fragment with no host before it (`/images/a.jpg`).
    #[error(
        "the report is a path with no host before it, so there is no hosting location; \
         ask the reporter for the full URL"
    )]
    PathWithoutHost,
    /// The WHATWG parser rejected the URL.
    #[error("not a usable URL: {detail}")]
    Unparseable {
        /// What the URL parser objected to, in words.
        detail: String,
    },
    /// The host holds a character no host name can carry: a space, a bracket, `<`, `^`, ….
    #[error("the host contains {}, which no host name can carry", describe_character(*character))]
    HostCharacter {
        /// The first such character.
        character: char,
    },
    /// The host contains an empty label (`a..b`, or more than one trailing dot).
    #[error(
        "the host {host:?} has an empty label (two dots in a row), which DNS names cannot have"
    )]
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
    /// A label of the host has a character DNS host names cannot carry.
    #[error(
        "the host cannot exist in DNS: its label {:?} contains {character:?}, and host names \
         have only letters, digits, hyphens and underscores",
        abbreviated(label)
    )]
    LabelCharacter {
        /// The label, after IDNA.
        label: String,
        /// The first character that is not allowed.
        character: char,
    },
    /// A label of the host starts or ends with a hyphen.
    #[error(
        "the host cannot exist in DNS: its label {:?} starts or ends with a hyphen",
        abbreviated(label)
    )]
    LabelHyphen {
        /// The label.
        label: String,
    },
    /// A label of the host is longer than 63 octets.
    #[error(
        "the host cannot exist in DNS: its label {:?} is {} characters long, and DNS labels \
         have at most 63",
        abbreviated(label),
        label.len()
    )]
    LabelTooLong {
        /// The label.
        label: String,
    },
    /// A name of one label, without a dot (`images`, `http`, `localhost`).
    #[error(
        "the host {:?} has no dot, so it is no name on the internet; a report needs a full \
         domain name such as example.nl (a defanged dot is written [.])",
        abbreviated(host)
    )]
    SingleLabel {
        /// The name.
        host: String,
    },
}

/// A character for a reason sentence, named when it is invisible.
fn describe_character(character: char) -> String {
    match character {
        ' ' => "a space".to_owned(),
        c if c.is_whitespace() => format!("white space (U+{:04X})", u32::from(c)),
        c if c.is_control() => format!("a control character (U+{:04X})", u32::from(c)),
        c => format!("{c:?}"),
    }
}

/// A label or name for a reason sentence: in full when short, else its start and length.
fn abbreviated(text: &str) -> Cow<'_, str> {
    const SHOWN: usize = 40;
    match text.char_indices().nth(SHOWN) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

impl IntakeError {
    /// A stable short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            IntakeError::Empty => "empty",
            IntakeError::TooLong { .. } => "too_long",
            IntakeError::NoNetworkHost { .. } => "no_network_host",
            IntakeError::SchemeWithoutHost { .. } => "scheme_without_host",
            IntakeError::PathWithoutHost => "path_without_host",
            IntakeError::Unparseable { .. } => "unparseable",
            IntakeError::HostCharacter { .. } => "host_character",
            IntakeError::EmptyLabel { .. } => "empty_label",
            IntakeError::HostTooLong { .. } => "host_too_long",
            IntakeError::LabelCharacter { .. } => "label_character",
            IntakeError::LabelHyphen { .. } => "label_hyphen",
            IntakeError::LabelTooLong { .. } => "label_too_long",
            IntakeError::SingleLabel { .. } => "single_label",
        }
    }
}

/// The bytes of a report that were not UTF-8 and were replaced before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utf8Replaced {
    /// How many runs of undecodable bytes were each replaced by one U+FFFD.
    pub runs: usize,
    /// How many bytes those runs held.
    pub bytes: usize,
    /// Offset of the first undecodable byte, from 1.
    pub first_byte: usize,
}

impl std::fmt::Display for Utf8Replaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        write!(
            f,
            "the report is not valid UTF-8: {} (the first at byte {}) could not be decoded and \
             {} replaced by U+FFFD (\u{FFFD}) before it was read, so the host may differ from what \
             the reporter sent",
            plural(self.bytes, "byte"),
            self.first_byte,
            if self.bytes == 1 { "was" } else { "were" },
        )
    }
}

/// Decodes the bytes of a report as UTF-8, replacing each run of undecodable bytes by U+FFFD
/// (as `String::from_utf8_lossy` does), and says what was replaced. Every front end reads
/// reports through this, so that the same bytes give the same result and the same warning.
///
/// ```
/// let (text, replaced) = hostloc::intake::decode_report(b"http://example.nl/\xff");
/// assert_eq!(text, "http://example.nl/\u{FFFD}");
/// assert_eq!(replaced.unwrap().first_byte, 19);
/// ```
pub fn decode_report(bytes: &[u8]) -> (Cow<'_, str>, Option<Utf8Replaced>) {
    let text = String::from_utf8_lossy(bytes);
    if matches!(text, Cow::Borrowed(_)) {
        return (text, None);
    }
    let mut replaced = Utf8Replaced {
        runs: 0,
        bytes: 0,
        first_byte: 0,
    };
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        offset += chunk.valid().len();
        if !chunk.invalid().is_empty() {
            if replaced.runs == 0 {
                replaced.first_byte = offset + 1;
            }
            replaced.runs += 1;
            replaced.bytes += chunk.invalid().len();
        }
        offset += chunk.invalid().len();
    }
    (text, Some(replaced))
}

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
    parse_unbounded(raw)
}

/// [`parse_report`] without the length limit, in time linear in the length of `raw`.
fn parse_unbounded(raw: &str) -> Result<Target, IntakeError> {
    let whatwg = prose::remove_tab_and_newline(raw);
    let cleaned = prose::strip_prose(&whatwg);
    if cleaned.is_empty() {
        return Err(IntakeError::Empty);
    }
    let refanged = refang::refang(cleaned);
    // A bare IPv6 address (reports often give one without brackets, or prose brackets around
    // it were just removed) is a host only in brackets.
    work::step(refanged.len());
    if let Ok(ip) = refanged.parse::<Ipv6Addr>() {
        return parse_url("http", &format!("[{ip}]/"));
    }
    let authority = scheme::split_scheme(&refanged)?;
    let rest = refang::unescape_authority(authority.rest);
    parse_url(&authority.scheme, &rest)
}

/// Parses `scheme://rest` with the WHATWG parser and checks its host.
fn parse_url(scheme: &str, rest: &str) -> Result<Target, IntakeError> {
    work::step(rest.len());
    // Parse non-special authority schemes as http so the host gets WHATWG host parsing, then
    // put the reporter's scheme back in the normalised URL.
    let special = scheme::SPECIAL_SCHEMES.contains(&scheme);
    let parse_scheme = if special { scheme } else { "http" };
    let url =
        Url::parse(&format!("{parse_scheme}://{rest}")).map_err(
            |error| match forbidden_in_host(rest) {
                Some(character) => IntakeError::HostCharacter { character },
                None => IntakeError::Unparseable {
                    detail: describe_parse_error(error),
                },
            },
        )?;
    let host = match url.host() {
        None => {
            return Err(IntakeError::Unparseable {
                detail: "there is no host".to_owned(),
            });
        }
        Some(url::Host::Ipv4(ip)) => Host::Ipv4(ip),
        Some(url::Host::Ipv6(ip)) => Host::Ipv6(ip),
        Some(url::Host::Domain(name)) => Host::Domain(dns_name::check_domain(name)?),
    };
    let mut normalised = url.to_string();
    if let Host::Domain(name) = &host {
        // The URL keeps the reporter's trailing dot; the host we locate does not.
        if url.host_str() != Some(name.as_str()) {
            normalised = normalised.replacen(url.host_str().unwrap_or_default(), name, 1);
        }
    }
    if !special {
        normalised = format!("{scheme}{}", &normalised[parse_scheme.len()..]);
    }
    Ok(Target {
        url: normalised,
        host,
    })
}

/// The first character in the host part of `rest` (the authority after any userinfo, before
/// the port) that no host can hold, to name it when the parser refuses the URL.
fn forbidden_in_host(rest: &str) -> Option<char> {
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.starts_with('[') {
        return None;
    }
    let host = &host[..host.find(':').unwrap_or(host.len())];
    work::step(authority.len());
    host.chars().find(|&c| {
        c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '[' | ']' | '^' | '|' | '%')
    })
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

/// Counting the work intake does, for the test that proves it linear. Every loop of intake
/// calls [`work::step`] with the number of characters it examined; outside unit tests this
/// compiles to nothing.
mod work {
    #[cfg(test)]
    thread_local! {
        static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// Records `units` characters examined.
    #[cfg_attr(not(test), allow(unused_variables))]
    #[inline(always)]
    pub(super) fn step(units: usize) {
        #[cfg(test)]
        STEPS.with(|steps| steps.set(steps.get() + units as u64));
    }

    /// The steps recorded on this thread so far.
    #[cfg(test)]
    pub(super) fn steps() -> u64 {
        STEPS.with(std::cell::Cell::get)
    }
}

#[cfg(test)]
mod tests;
