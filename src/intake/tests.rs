//! Intake's tests: one per class of report text, the properties, and the proof of linear time.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::special_purpose::non_public_purpose;

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
        ("see http://example.nl/a;", "invalid:host_character"),
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
        ("localhost:8080", "invalid:single_label"),
        ("example.nl:8080", "example.nl"),
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
        ("http://", "invalid:scheme_without_host"),
        ("http:///", "invalid:scheme_without_host"),
        ("http://exa mple.nl/", "invalid:host_character"),
        ("http://exa<mple.nl/", "invalid:host_character"),
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

proptest! {
    #[test]
    fn intake_never_panics(raw in any::<String>()) {
        let _ = parse_report(&raw);
    }

    #[test]
    fn intake_never_panics_on_url_like_text(raw in "[a-zA-Z0-9:/.\\[\\]()@%\\\\#?\"'<> x-]{0,40}") {
        if let Ok(target) = parse_report(&raw) {
            let host = target.host.to_display_string();
            prop_assert!(!host.is_empty());
            prop_assert!(!host.ends_with('.'));
            prop_assert_eq!(host.to_ascii_lowercase(), host);
        }
    }
}

// Class 1: backslash-escaped dots, a defang style of IOC tools. A WHATWG parser ends the host at
// the backslash, which turned an NL address into an MD one.
#[test]
fn escaped_dots_are_dots_in_the_host() {
    for (raw, host) in [
        ("46.166.132\\.140", "46.166.132.140"),
        ("46\\.166\\.132\\.140", "46.166.132.140"),
        ("example\\.com", "example.com"),
        ("https://example\\(.)com/", "example.com"),
        ("https://example\\[.]com/a", "example.com"),
        ("hxxp://www\\.example\\.nl:8080/x\\.php", "www.example.nl"),
        ("http:\\\\example\\.nl\\x", "example.nl"),
        ("user@46\\.166\\.132\\.140/x", "46.166.132.140"),
        ("example^.com", "example.com"),
        ("www^.example^.com/a", "www.example.com"),
        // In the path a backslash is a path separator, as before.
        ("http://example.nl/a\\.b", "example.nl"),
        ("http://example.nl\\x\\.y", "example.nl"),
        ("http://evil.nl\\@good.com/", "evil.nl"),
    ] {
        check(raw, host);
    }
}

// Class 2: a bare IPv6 address ending in `::` lost its last colon as prose punctuation.
#[test]
fn bare_ipv6_ending_in_double_colon() {
    for (raw, host) in [
        ("2001:218::", "2001:218::"),
        ("[2001:218::]", "2001:218::"),
        ("2a02:d880::", "2a02:d880::"),
        ("2a02:d880::.", "2a02:d880::"),
        ("(2a02:d880::)", "2a02:d880::"),
        ("\"[2001:218::]\",", "2001:218::"),
        ("http://[2001:218::]/", "2001:218::"),
        ("[2001:218::]:8080/x", "2001:218::"),
        ("2001:218:0:0:0:0:0:0", "2001:218::"),
        ("2001:218::1:", "2001:218::1"),
    ] {
        check(raw, host);
    }
}

// Class 3: a broken scheme, and what WHATWG removes before parsing.
#[test]
fn broken_schemes_are_repaired() {
    for (raw, host) in [
        ("http//example.com/x", "example.com"),
        ("https//example.com/x", "example.com"),
        ("HTTP//Example.com", "example.com"),
        ("hxxp//example[.]com/x", "example.com"),
        ("http// example.com/x", "example.com"),
        ("http ://example.com/x", "example.com"),
        ("https :///example.com/x", "example.com"),
        ("http:// example.com/x", "example.com"),
        ("ht\ttp://evil.nl/x", "evil.nl"),
        ("http://ev\ril.nl/x", "evil.nl"),
        ("htt\np://evil.nl/x", "evil.nl"),
        ("\u{0}\u{1}\u{1f}http://evil.nl/x", "evil.nl"),
        ("http://evil.nl/x\u{0}\u{7}", "evil.nl"),
        ("http://https://evil.nl/x", "evil.nl"),
        ("http://http://evil.nl/x", "evil.nl"),
        ("https://http//evil.nl/x", "evil.nl"),
        ("[http]://evil.nl/x", "evil.nl"),
        ("(https)://evil.nl/x", "evil.nl"),
        ("xxxx://evil.nl/x", "evil.nl"),
        ("xXxXx://evil.nl/x", "evil.nl"),
        // Words that only start a host stay hosts.
        ("http.example.nl/x", "http.example.nl"),
        ("https-proxy.example.nl", "https-proxy.example.nl"),
        ("ftp.example.nl:21/x", "ftp.example.nl"),
        ("http:1.2.3.4/x", "1.2.3.4"),
    ] {
        check(raw, host);
    }
}

// Class 4: a bare `scheme:` was read as a host named after the scheme.
#[test]
fn a_bare_scheme_is_no_host() {
    for (raw, expected) in [
        ("javascript:", "invalid:no_network_host"),
        ("mailto:", "invalid:no_network_host"),
        ("file:", "invalid:no_network_host"),
        ("blob:", "invalid:no_network_host"),
        ("data:", "invalid:no_network_host"),
        ("javascript:.", "invalid:no_network_host"),
        ("(mailto:)", "invalid:no_network_host"),
        ("http:", "invalid:scheme_without_host"),
        ("HTTPS:", "invalid:scheme_without_host"),
        ("\"http:\"", "invalid:scheme_without_host"),
        ("http://", "invalid:scheme_without_host"),
        ("hxxps[://]", "invalid:scheme_without_host"),
        ("ftp:", "invalid:scheme_without_host"),
    ] {
        check(raw, expected);
    }
}

// Class 5: a path without a host became a host named after its first segment.
#[test]
fn a_path_is_no_host() {
    for raw in [
        "/images/a.jpg",
        "/i",
        "/",
        "\\images\\a.jpg",
        "./a.jpg",
        "../a.jpg",
        "?q=1",
        "#top",
        "(/images/a.jpg)",
    ] {
        check(raw, "invalid:path_without_host");
    }
    check("//images.example.nl/a.jpg", "images.example.nl");
}

// Class 6: names DNS cannot carry are refused with the label that is wrong, not sent to DNS.
#[test]
fn names_dns_cannot_carry_are_invalid() {
    let long_label = "a".repeat(64);
    let long_name = format!("{}.nl", ["abcdefghi"; 26].join("."));
    for (raw, expected) in [
        ("juanita(at)example.com", "invalid:label_character"),
        ("1,2,3,4", "invalid:label_character"),
        ("http://a,b.example.nl/", "invalid:label_character"),
        ("http://a=b.example.nl/", "invalid:label_character"),
        ("{x}.example.nl", "invalid:label_character"),
        ("http://x(y).nl/", "invalid:label_character"),
        ("http://*.example.nl/", "invalid:label_character"),
        ("http://exa$mple.nl/", "invalid:label_character"),
        ("-evil.nl", "invalid:label_hyphen"),
        ("evil-.nl", "invalid:label_hyphen"),
        ("http://www.-evil.nl/", "invalid:label_hyphen"),
        (&format!("{long_label}.nl"), "invalid:label_too_long"),
        (&long_name, "invalid:host_too_long"),
        ("http://images/", "invalid:single_label"),
        ("bad-dot-com", "invalid:single_label"),
        ("http://[x].nl/", "invalid:unparseable"),
        ("foo AT bar.com", "invalid:host_character"),
        ("www[.example[.com", "invalid:host_character"),
        ("http://a|b.nl/", "invalid:host_character"),
        // What DNS does carry.
        ("(ssh)://user@host.example[.]nl", "host.example.nl"),
        ("_dmarc.example.nl", "_dmarc.example.nl"),
        ("a_b.example.nl", "a_b.example.nl"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a--b.example.nl", "a--b.example.nl"),
        (
            &format!("{}.nl", "a".repeat(63)),
            &format!("{}.nl", "a".repeat(63)),
        ),
        ("1.example.nl", "1.example.nl"),
    ] {
        check(raw, expected);
    }
    let reason = parse_report("juanita(at)example.com")
        .unwrap_err()
        .to_string();
    assert_eq!(
        reason,
        "the host cannot exist in DNS: its label \"juanita(at)example\" contains '(', and host \
         names have only letters, digits, hyphens and underscores"
    );
    let reason = parse_report(&format!("{}.nl", "b".repeat(70)))
        .unwrap_err()
        .to_string();
    assert!(
        reason.contains(&format!("\"{}…\" is 70 characters", "b".repeat(40))),
        "{reason}"
    );
}

// Class 7: one rule for trailing dots. One trailing dot is the DNS root and is removed; two are
// an empty label wherever they are. At the very end of the report they are prose.
#[test]
fn one_rule_for_trailing_dots() {
    for (raw, expected) in [
        ("http://example.nl./x", "example.nl"),
        ("http://95.211.0.1./x", "95.211.0.1"),
        ("http://95.211.0.1../x", "invalid:empty_label"),
        ("example.nl../x", "invalid:empty_label"),
        ("example..nl", "invalid:empty_label"),
        ("http://example.nl../", "invalid:empty_label"),
        ("example.nl..", "example.nl"),
        ("95.211.0.1..", "95.211.0.1"),
    ] {
        check(raw, expected);
    }
}

// Class 8: bytes that are not UTF-8 are replaced, and the replacement is described.
#[test]
fn invalid_utf8_is_replaced_and_described() {
    let (text, replaced) = decode_report(b"http://example.nl/\xff\xfe/\xc3");
    assert_eq!(text, "http://example.nl/\u{FFFD}\u{FFFD}/\u{FFFD}");
    let replaced = replaced.unwrap();
    assert_eq!(
        replaced,
        Utf8Replaced {
            runs: 3,
            bytes: 3,
            first_byte: 19
        }
    );
    assert_eq!(
        replaced.to_string(),
        "the report is not valid UTF-8: 3 bytes (the first at byte 19) could not be decoded \
         and were replaced by U+FFFD (\u{FFFD}) before it was read, so the host may differ \
         from what the reporter sent"
    );
    assert_eq!(
        decode_report(b"example.nl"),
        (Cow::Borrowed("example.nl"), None)
    );
    let (text, _) = decode_report(b"http://exa\xffmple.nl/");
    check(&text, "invalid:unparseable");
    let (text, _) = decode_report(b"http://example.nl/\xff");
    check(&text, "example.nl");
}

/// Hostile texts of about `size` bytes: long runs of what each step of intake loops over.
fn hostile_inputs(size: usize) -> Vec<(&'static str, String)> {
    let fill = |unit: &str| unit.repeat(size / unit.len());
    vec![
        (
            "closing brackets",
            format!("http://example.nl/{}", fill(")")),
        ),
        (
            "opening brackets",
            format!("{}http://example.nl/", fill("(")),
        ),
        ("nested wrappers", format!("{}x{}", fill("(["), fill("])"))),
        ("quotes", format!("{}x{}", fill("\"'"), fill(".,"))),
        ("prose punctuation", format!("example.nl{}", fill(".,;!?"))),
        ("colons", format!("example.nl{}", fill(":"))),
        ("defang tokens", format!("example{}nl", fill("[.]"))),
        ("near tokens", fill("[.(:{d")),
        ("escaped dots", format!("{}nl", fill("a\\."))),
        ("schemes", fill("http://")),
        ("scheme words", fill("http//")),
        ("slashes", format!("http:{}example.nl", fill("/\\"))),
        ("tabs", fill("\t\n a")),
        (
            "invisible",
            format!("\u{200B}{}example.nl", fill("\u{FEFF} ")),
        ),
        ("long host", format!("http://{}", fill("a."))),
        ("long label", format!("http://{}.nl", fill("a"))),
        ("userinfo", format!("http://{}evil.nl/", fill("a@"))),
        ("ipv6", format!("[{}]", fill("1:"))),
        ("non-ascii", format!("http://{}.nl/", fill("\u{00FC}"))),
        ("path", format!("http://example.nl/{}", fill("a/"))),
    ]
}

// Class 9: intake is linear. Each input is parsed without the length limit, up to 1 MB, and the
// steps intake counts (characters examined by its own loops) must stay within a fixed multiple
// of the input length, at every size.
#[test]
fn intake_work_is_linear_in_input_length() {
    const STEPS_PER_BYTE: u64 = 24;
    for size in [1_000, 16_000, 256_000, 1_000_000] {
        for (name, input) in hostile_inputs(size) {
            let before = work::steps();
            let _ = parse_unbounded(&input);
            let steps = work::steps() - before;
            let bytes = input.len() as u64;
            assert!(
                steps <= STEPS_PER_BYTE * bytes + 64,
                "{name}: {steps} steps for {bytes} bytes"
            );
        }
    }
}

/// Every defang style intake supports, for a host written `host` (an IPv6 address in
/// brackets where a URL needs them).
fn defanged_forms_of(ip: IpAddr) -> Vec<String> {
    let plain = ip.to_string();
    let url_host = match ip {
        IpAddr::V4(_) => plain.clone(),
        IpAddr::V6(_) => format!("[{plain}]"),
    };
    let dotted = |dot: &str| match ip {
        IpAddr::V4(_) => plain.replace('.', dot),
        IpAddr::V6(_) => url_host.clone(),
    };
    let mut forms = vec![
        plain.clone(),
        url_host.clone(),
        format!("http://{url_host}/"),
        format!("hxxp://{url_host}/a.jpg"),
        format!("hXXps[://]{url_host}:8443/x?y#z"),
        format!("http[:]//user:pw@{url_host}/"),
        format!("https://good.example@{url_host}/"),
        format!("{url_host}:8080/a.jpg"),
        format!("//{url_host}/x"),
        format!("http//{url_host}/x"),
        format!("(see {url_host})").replace("see ", ""),
        format!("\"hxxp://{url_host}/x\"."),
        format!("<{url_host}>,"),
        format!("[{url_host}]"),
        format!("“http://{url_host}/a”;"),
        format!("  http://{url_host}/a)  "),
    ];
    for dot in [
        "[.]", "(.)", "{.}", "[dot]", "(dot)", "\\.", "^.", "<.>", "[,]",
    ] {
        let host = dotted(dot);
        forms.push(host.clone());
        forms.push(format!("hxxp://{host}/x"));
        forms.push(format!("hxxps[://]user@{host}:443/x"));
        forms.push(format!("({host})."));
    }
    if ip.is_ipv6() {
        forms.push(format!("{plain}."));
        forms.push(format!("({plain})"));
        forms.push(format!("\"{plain}\","));
    }
    forms
}

fn public(ip: IpAddr) -> bool {
    non_public_purpose(ip).is_none()
}

/// Every form of [`defanged_forms_of`] `ip` gives exactly `ip`.
fn check_every_form(ip: IpAddr) -> Result<(), TestCaseError> {
    for form in defanged_forms_of(ip) {
        let target = parse_report(&form)
            .map_err(|error| TestCaseError::fail(format!("{form:?}: {error}")))?;
        prop_assert_eq!(target.host.ip(), Some(ip), "{:?}", form);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    // For every public address and every defang style, intake gives exactly that address.
    #[test]
    fn every_public_ipv4_in_every_defang_style(octets in any::<[u8; 4]>()) {
        let ip = IpAddr::from(octets);
        prop_assume!(public(ip));
        check_every_form(ip)?;
    }

    #[test]
    fn every_public_ipv6_in_every_defang_style(segments in any::<[u16; 8]>(), zeros in 0usize..8) {
        // Runs of zero groups, so that `::` appears in every position, at the end included.
        let mut segments = segments;
        for segment in segments.iter_mut().skip(zeros).take(3) {
            *segment = 0;
        }
        // Global unicast, 2000::/3, where every public IPv6 address is.
        segments[0] = 0x2000 | (segments[0] & 0x1fff);
        let ip = IpAddr::from(segments);
        prop_assume!(public(ip));
        check_every_form(ip)?;
    }
}

proptest! {
    // Linear on random repetitions too, up to 1 MB (few cases: a megabyte takes a while to
    // parse in a debug build).
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn intake_work_is_linear_on_repeated_fragments(
        fragment in "[a-z0-9.:/\\\\\\[\\](){}<>@^,;!?\"' \t-]{1,8}",
        count in 1usize..(1 << 17),
    ) {
        let input = format!("http://{}", fragment.repeat(count)).chars().take(1_000_000).collect::<String>();
        let before = work::steps();
        let _ = parse_unbounded(&input);
        let steps = work::steps() - before;
        prop_assert!(steps <= 24 * input.len() as u64 + 64, "{} steps for {} bytes", steps, input.len());
    }
}
