//! Server: what the pooled transport knows about each name server — whether it answers, how
//! fast, and what happened to the queries sent to it.
//!
//! Owns [`Health`] (up or down, with a backoff and one probe at a time while down; a smoothed
//! round-trip time) and [`Counters`] (queries, dropped responses by reason, retries by reason,
//! socket rotations), and the rate-limited warning about likely forgeries. It decides nothing
//! about where a query goes (`mod.rs` does) and must not log queried names.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::channel::Dropped;

/// Timeouts in a row, with no answer in between, after which a server counts as down.
const DOWN_AFTER_TIMEOUTS: u32 = 3;

/// How long a server that went down is left alone before one probe query may go to it; each
/// failed probe doubles the pause, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest pause between probes of a server that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// At most one warning about likely forged responses per server in this interval.
const FORGERY_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Why a query moved on from one try to the next (another server, TCP, or the same server
/// without EDNS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// No answer within the timeout.
    Timeout,
    /// The server answered SERVFAIL; the next server is asked.
    ServFail,
    /// The server answered REFUSED; the next server is asked.
    Refused,
    /// The server answered another failure code (NOTIMP, FORMERR, an unknown code).
    ResponseCode,
    /// The UDP answer was truncated; asked again over TCP.
    Truncated,
    /// The UDP answer echoed the question in another case; asked again over TCP.
    CaseMismatch,
    /// The server rejected EDNS (FORMERR, NOTIMP or BADVERS); asked again without it.
    NoEdns,
    /// The server's port is closed (ICMP port unreachable, TCP connection refused).
    ConnectionRefused,
    /// The TCP connection failed (closed early, a broken frame, an I/O error).
    TcpFailed,
}

impl Retry {
    /// Every reason, for metrics.
    pub(crate) const ALL: [Retry; 9] = [
        Retry::Timeout,
        Retry::ServFail,
        Retry::Refused,
        Retry::ResponseCode,
        Retry::Truncated,
        Retry::CaseMismatch,
        Retry::NoEdns,
        Retry::ConnectionRefused,
        Retry::TcpFailed,
    ];

    /// The label used in metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Retry::Timeout => "timeout",
            Retry::ServFail => "servfail",
            Retry::Refused => "refused",
            Retry::ResponseCode => "response_code",
            Retry::Truncated => "truncated",
            Retry::CaseMismatch => "case_mismatch",
            Retry::NoEdns => "no_edns",
            Retry::ConnectionRefused => "connection_refused",
            Retry::TcpFailed => "tcp_failed",
        }
    }

    fn index(self) -> usize {
        Retry::ALL
            .iter()
            .position(|retry| *retry == self)
            .unwrap_or(0)
    }
}

/// What happened to the queries sent to one server.
#[derive(Debug)]
pub(crate) struct Counters {
    server: SocketAddr,
    udp_queries: AtomicU64,
    tcp_queries: AtomicU64,
    tcp_connections: AtomicU64,
    rotations: AtomicU64,
    dropped: [AtomicU64; Dropped::ALL.len()],
    retries: [AtomicU64; Retry::ALL.len()],
    /// Likely forgeries since the last warning, and when that was.
    suspicious_unwarned: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl Counters {
    pub(crate) fn new(server: SocketAddr) -> Counters {
        Counters {
            server,
            udp_queries: AtomicU64::new(0),
            tcp_queries: AtomicU64::new(0),
            tcp_connections: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            dropped: Default::default(),
            retries: Default::default(),
            suspicious_unwarned: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        }
    }

    pub(super) fn udp_query(&self) {
        self.udp_queries.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn tcp_query(&self) {
        self.tcp_queries.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn tcp_connection(&self) {
        self.tcp_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn rotation(&self) {
        self.rotations.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn retry(&self, reason: Retry) {
        self.retries[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a dropped message; likely forgeries also lead to a warning, at most one per
    /// [`FORGERY_WARNING_INTERVAL`], saying how many came since the last one.
    pub(super) fn dropped(&self, reason: Dropped) {
        let index = Dropped::ALL
            .iter()
            .position(|known| *known == reason)
            .unwrap_or(0);
        self.dropped[index].fetch_add(1, Ordering::Relaxed);
        if !reason.is_suspicious() {
            return;
        }
        self.suspicious_unwarned.fetch_add(1, Ordering::Relaxed);
        // Whoever holds the lock is about to warn; nobody needs to wait for it.
        let Ok(mut last) = self.last_warning.try_lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < FORGERY_WARNING_INTERVAL) {
            return;
        }
        *last = Some(now);
        let count = self.suspicious_unwarned.swap(0, Ordering::Relaxed);
        tracing::warn!(
            server = %self.server,
            count,
            last_reason = reason.as_str(),
            "dropped DNS responses that matched no query in flight (wrong ID, question or case): \
             a server misbehaving or someone forging answers; see \
             hostloc_dns_responses_dropped_total"
        );
    }

    fn snapshot(&self) -> CounterSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CounterSnapshot {
            udp_queries: load(&self.udp_queries),
            tcp_queries: load(&self.tcp_queries),
            tcp_connections: load(&self.tcp_connections),
            socket_rotations: load(&self.rotations),
            dropped: Dropped::ALL
                .iter()
                .zip(&self.dropped)
                .map(|(reason, count)| (reason.as_str(), load(count)))
                .collect(),
            retries: Retry::ALL
                .iter()
                .zip(&self.retries)
                .map(|(reason, count)| (reason.as_str(), load(count)))
                .collect(),
        }
    }
}

/// The counters of one server at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    /// Queries sent over UDP (resends of a query within one try not counted).
    pub udp_queries: u64,
    /// Queries sent over TCP.
    pub tcp_queries: u64,
    /// TCP connections opened.
    pub tcp_connections: u64,
    /// UDP sockets replaced by fresh ones on fresh ports.
    pub socket_rotations: u64,
    /// Messages dropped, by reason (`short`, `not_response`, `unknown_id`, `late`, `malformed`,
    /// `wrong_question`, `wrong_case`).
    pub dropped: Vec<(&'static str, u64)>,
    /// Tries that moved on, by reason (`timeout`, `servfail`, `refused`, `response_code`,
    /// `truncated`, `case_mismatch`, `no_edns`, `connection_refused`, `tcp_failed`).
    pub retries: Vec<(&'static str, u64)>,
}

impl CounterSnapshot {
    /// The count for `reason` in `dropped` or `retries`.
    pub fn count(list: &[(&'static str, u64)], reason: &str) -> u64 {
        list.iter()
            .find(|(name, _)| *name == reason)
            .map_or(0, |(_, count)| *count)
    }
}

/// What the transport knows about one name server now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStats {
    /// The server, `addr:port`.
    pub server: SocketAddr,
    /// Whether it counts as up (answering); a server that is down is skipped while others are.
    pub up: bool,
    /// Smoothed round-trip time of its answers, when it has answered.
    pub rtt: Option<Duration>,
    /// Queries it may have in flight at once now.
    pub window: usize,
    /// Queries in flight to it now.
    pub in_flight: usize,
    /// What happened so far.
    pub counters: CounterSnapshot,
}

pub(super) fn stats(
    server: SocketAddr,
    health: &Health,
    window: usize,
    in_flight: usize,
    counters: &Counters,
) -> ServerStats {
    ServerStats {
        server,
        up: health.is_up(Instant::now()),
        rtt: health.rtt(),
        window,
        in_flight,
        counters: counters.snapshot(),
    }
}

/// Whether a server is answering, from the outcome of the queries sent to it.
///
/// A server is up until [`DOWN_AFTER_TIMEOUTS`] queries in a row time out (with no answer in
/// between) or its port is refused; then it is down for a backoff, after which one probe query
/// may go to it at a time. An answer of any kind brings it back up.
#[derive(Debug)]
pub(super) struct Health {
    epoch: Instant,
    consecutive_timeouts: AtomicU32,
    /// Microseconds since `epoch` until which the server is left alone; 0 while up.
    down_until: AtomicU64,
    backoff_ms: AtomicU64,
    probing: AtomicBool,
    /// Smoothed round-trip time in microseconds; 0 before the first answer.
    srtt_us: AtomicU64,
}

/// May a query go to a server now?
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Usable {
    /// It is up.
    Up,
    /// It is down, and this query is the one probe that may go to it.
    Probe,
    /// It is down; skip it while other servers are up.
    Down,
}

impl Health {
    pub(super) fn new(now: Instant) -> Health {
        Health {
            epoch: now,
            consecutive_timeouts: AtomicU32::new(0),
            down_until: AtomicU64::new(0),
            backoff_ms: AtomicU64::new(duration_ms(FIRST_BACKOFF)),
            probing: AtomicBool::new(false),
            srtt_us: AtomicU64::new(0),
        }
    }

    pub(super) fn is_up(&self, _now: Instant) -> bool {
        self.down_until.load(Ordering::Acquire) == 0
    }

    /// Whether a query may go to the server now; [`Usable::Probe`] claims the one probe, which
    /// [`Health::probe_done`] gives back.
    pub(super) fn usable(&self, now: Instant) -> Usable {
        let down_until = self.down_until.load(Ordering::Acquire);
        if down_until == 0 {
            return Usable::Up;
        }
        if self.micros(now) < down_until {
            return Usable::Down;
        }
        if self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            Usable::Probe
        } else {
            Usable::Down
        }
    }

    pub(super) fn probe_done(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// An answer came (of any kind) after `rtt`.
    pub(super) fn answered(&self, rtt: Duration) {
        self.consecutive_timeouts.store(0, Ordering::Relaxed);
        if self.down_until.swap(0, Ordering::AcqRel) != 0 {
            self.backoff_ms
                .store(duration_ms(FIRST_BACKOFF), Ordering::Relaxed);
        }
        // An exponentially weighted average, as TCP's SRTT (RFC 6298): 7/8 old, 1/8 new. Racing
        // updates lose a sample now and then, which an average can afford.
        let sample = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1);
        let old = self.srtt_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.srtt_us.store(new.max(1), Ordering::Relaxed);
    }

    /// A query got no answer within its timeout.
    pub(super) fn timed_out(&self, now: Instant) {
        let in_a_row = self.consecutive_timeouts.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row >= DOWN_AFTER_TIMEOUTS {
            self.go_down(now);
        }
    }

    /// The server's port is closed: it is down at once.
    pub(super) fn refused(&self, now: Instant) {
        self.go_down(now);
    }

    fn go_down(&self, now: Instant) {
        let now_us = self.micros(now);
        let current = self.down_until.load(Ordering::Acquire);
        if current != 0 && now_us < current {
            return; // Already down, and still backing off.
        }
        let backoff = self.backoff_ms.load(Ordering::Relaxed);
        let until = now_us + backoff * 1000;
        if self
            .down_until
            .compare_exchange(current, until.max(1), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let doubled = (backoff * 2).min(duration_ms(MAX_BACKOFF));
            self.backoff_ms.store(doubled, Ordering::Relaxed);
            if current == 0 {
                tracing::warn!(
                    backoff_ms = backoff,
                    "a DNS server stopped answering; queries go to the others meanwhile"
                );
            }
        }
    }

    pub(super) fn rtt(&self) -> Option<Duration> {
        match self.srtt_us.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    fn micros(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_goes_down_after_timeouts_in_a_row_and_comes_back_on_an_answer() {
        let start = Instant::now();
        let health = Health::new(start);
        let second = Duration::from_secs(1);
        health.timed_out(start);
        health.answered(Duration::from_millis(5));
        health.timed_out(start);
        health.timed_out(start);
        assert_eq!(health.usable(start), Usable::Up, "an answer broke the run");
        health.timed_out(start);
        assert_eq!(health.usable(start), Usable::Down);
        assert!(!health.is_up(start));
        // After the backoff, one probe at a time.
        let later = start + second + Duration::from_millis(1);
        assert_eq!(health.usable(later), Usable::Probe);
        assert_eq!(health.usable(later), Usable::Down);
        // The probe times out: down again, for twice as long.
        health.timed_out(later);
        health.probe_done();
        assert_eq!(health.usable(later + second), Usable::Down);
        assert_eq!(
            health.usable(later + 2 * second + Duration::from_millis(1)),
            Usable::Probe
        );
        health.answered(Duration::from_millis(5));
        health.probe_done();
        assert_eq!(health.usable(later), Usable::Up);
        assert_eq!(health.rtt(), Some(Duration::from_millis(5)));
    }

    #[test]
    fn a_refused_port_is_down_at_once() {
        let start = Instant::now();
        let health = Health::new(start);
        health.refused(start);
        assert_eq!(health.usable(start), Usable::Down);
    }
}
