//! Fuzz target: intake on arbitrary bytes, as a front end receives them.
//!
//! Besides "never panics", checks what every accepted report must satisfy: the host is lower
//! case, has no trailing dot and (for a name) is one DNS can carry, and reading the normalised
//! URL again gives the same host, so the URL in a result names the host that was located.

#![no_main]

use hostloc::intake::{Host, decode_report, parse_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let (text, _) = decode_report(bytes);
    let Ok(target) = parse_report(&text) else {
        return;
    };
    if let Host::Domain(name) = &target.host {
        assert!(!name.is_empty() && name.len() <= 253, "{name:?}");
        assert!(name.contains('.') && !name.ends_with('.'), "{name:?}");
        for label in name.split('.') {
            assert!(!label.is_empty() && label.len() <= 63, "{name:?}");
            assert!(!label.starts_with('-') && !label.ends_with('-'), "{name:?}");
            assert!(
                label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'),
                "{name:?}"
            );
        }
    }
    let again = parse_report(&target.url)
        .unwrap_or_else(|error| panic!("{:?} from {text:?} is refused: {error}", target.url));
    assert_eq!(again.host, target.host, "{:?} from {text:?}", target.url);
});
