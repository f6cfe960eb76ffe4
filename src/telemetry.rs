//! Telemetry: logging setup.
//!
//! Owns the tracing subscriber (human or JSON lines on stderr, filtered by `RUST_LOG`, default
//! `info`; colour only when asked, which config.rs does for a terminal without `NO_COLOR`). Reported URLs and hosts are never put in log fields by hostloc unless the operator
//! passed `--log-urls`; that rule is enforced where events are emitted (pipeline.rs, http/), and
//! a test reads a server's whole log to check it.
//!
//! The timestamps are tracing-subscriber's (`2026-12-02T09:30:46.282355Z`), written by
//! [`Timestamp`] from a date and time formatted once per second and thread (`utc.rs`): `serve`
//! writes a line per request, and formatting the whole time each time was a visible share of it.

use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use crate::config::LogFormat;

/// Installs the global subscriber writing to `writer`, with ANSI colours when `colour` is set.
/// Does nothing if one is installed.
pub fn init_logging<W>(format: LogFormat, colour: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colour)
        .with_timer(Timestamp)
        .with_target(false);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The time of a log line, UTC, to the microsecond: the text of tracing-subscriber's
/// `SystemTime` timer, the date and time of day formatted once per second.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timestamp;

impl FormatTime for Timestamp {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write_time(SystemTime::now(), w)
    }
}

/// Writes `now` as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
fn write_time(now: SystemTime, w: &mut impl std::fmt::Write) -> std::fmt::Result {
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        // Before 1970: tracing-subscriber's own formatting.
        return tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(w));
    };
    match crate::utc::with_second_text(since_epoch, |text| w.write_str(text)) {
        Some(result) => result?,
        // After the year 9999: tracing-subscriber's own formatting.
        None => return tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(w)),
    }
    let micros = since_epoch.subsec_micros();
    let mut fraction = *b".000000Z";
    let mut rest = micros;
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    w.write_str(std::str::from_utf8(&fraction).unwrap_or(".000000Z"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_written_as_tracing_subscriber_writes_them() {
        for (seconds, micros) in [
            (0, 0),
            (1_764_667_846, 282_355),
            (1_764_667_846, 5),
            (1_764_667_847, 999_999),
            (951_782_400, 1),   // 2000-02-29
            (4_102_444_799, 0), // 2099-12-31T23:59:59
        ] {
            let time = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros);
            let mut ours = String::new();
            write_time(time, &mut ours).unwrap();
            let date = time::OffsetDateTime::from(time);
            let expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                date.year(),
                u8::from(date.month()),
                date.day(),
                date.hour(),
                date.minute(),
                date.second(),
                micros
            );
            assert_eq!(ours, expected);
        }
        // And against tracing-subscriber's own timer, now (the same second, most likely).
        let mut theirs = String::new();
        tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut Writer::new(&mut theirs))
            .unwrap();
        let mut ours = String::new();
        Timestamp.format_time(&mut Writer::new(&mut ours)).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
        assert_eq!(ours[..16], theirs[..16], "{ours} {theirs}");
    }
}
