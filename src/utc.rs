//! UTC times as text where they are written often (every result's `looked_up_at`, every log
//! line): the date and time of day to the second, `YYYY-MM-DDTHH:MM:SS`, formatted once per
//! second and thread and reused until the second changes.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::Duration;

thread_local! {
    /// The second last formatted on this thread, and its text.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Calls `write` with the text of the whole second `since_epoch` falls in (UTC,
/// `YYYY-MM-DDTHH:MM:SS`); `None`, without calling it, for a year after 9999, which that
/// shape cannot hold (callers fall back to their library's formatting).
pub fn with_second_text<R>(since_epoch: Duration, write: impl FnOnce(&str) -> R) -> Option<R> {
    let seconds = since_epoch.as_secs();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != seconds {
            let time = i64::try_from(seconds)
                .ok()
                .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp(seconds).ok())
                .filter(|time| time.year() <= 9999)?;
            second.1.clear();
            write!(
                second.1,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                time.year(),
                u8::from(time.month()),
                time.day(),
                time.hour(),
                time.minute(),
                time.second()
            )
            .ok()?;
            second.0 = seconds;
        }
        Some(write(&second.1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_is_written_as_rfc_3339_writes_it() {
        for seconds in [0, 951_782_400, 1_764_667_846, 1_764_667_847, 4_102_444_799] {
            let time = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap();
            let rfc3339 = time
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            let ours = with_second_text(Duration::from_secs(seconds as u64), str::to_owned);
            // Twice: the second time from the thread's cached text.
            let again = with_second_text(Duration::from_secs(seconds as u64), str::to_owned);
            assert_eq!(ours.as_deref(), rfc3339.strip_suffix('Z'), "{seconds}");
            assert_eq!(again, ours);
        }
        // Year 10000 does not fit the shape.
        assert_eq!(
            with_second_text(Duration::from_secs(253_402_300_800), str::to_owned),
            None
        );
    }
}
