//! Flow control: how many queries may be in flight at one name server at once.
//!
//! Owns [`Window`], a fair semaphore whose size [`WindowControl`] adapts to the answer rate, and
//! nothing else: it does not know sockets, servers or queries.
//!
//! A client this fast can otherwise outrun a server that answers from memory: queries pile up in
//! its socket buffer (about 200 small datagrams with Linux defaults) and the overflow is dropped,
//! each drop costing its query a resend interval. Against a local dnsmasq on two cores, 64–192 in
//! flight all give the same rate and no drops, while 256 overflows it and the rate falls
//! twentyfold. A recursive resolver, on the other hand, parks queries while it asks other
//! servers, so its rate grows with what is in flight: at 50 ms per answer, 128 in flight allow
//! only 2 560 queries/s.
//!
//! So the window starts at [`MIN_WINDOW`] and widens only while widening demonstrably raises the
//! answer rate (see [`WindowControl`]), up to [`MAX_WINDOW`]; it never goes below
//! [`MIN_WINDOW`]. It takes a second or two to open fully against a slow resolver.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit, TryAcquireError};

/// Queries in flight at once to one server to begin with, and never fewer: few enough that the
/// default socket buffer of a server answering from memory holds them all.
pub(super) const MIN_WINDOW: usize = 128;

/// Queries in flight at once to one server at most, however well the window grows. This bounds
/// memory and keeps IDs sparse: spread over four sockets, about 1 024 of each one's 65 536.
pub(super) const MAX_WINDOW: usize = 4096;

/// A probe widens the window by this many quarters of itself at first; each probe that pays
/// off doubles the next widening, up to [`MAX_PROBE_QUARTERS`] (doubling the window), as TCP's
/// slow start does, so a slow resolver's window opens in about a second rather than several.
const FIRST_PROBE_QUARTERS: usize = 1;

/// The largest widening, in quarters of the window.
const MAX_PROBE_QUARTERS: usize = 4;

/// A probe is kept only if the answer rate grows by at least this share of the widening: a
/// server bound by round trips answers in proportion (a quarter more in flight, a quarter more
/// answers), one that is itself the bottleneck answers no more.
const PROBE_EFFICIENCY: f64 = 0.75;

/// Rates are compared over at least this long (and two windows' worth of answers), so that
/// scheduling noise does not pass for a gain.
const MIN_EPOCH: Duration = Duration::from_millis(100);

/// After a probe that bought nothing, or a timeout, the window stays put this long; each
/// further probe that buys nothing doubles the pause, up to [`MAX_PROBE_HOLD`], so a server at
/// its ceiling is not pushed past it every second.
const PROBE_HOLD: Duration = Duration::from_secs(1);

/// The longest pause between probes.
const MAX_PROBE_HOLD: Duration = Duration::from_secs(32);

/// The in-flight limit of one server: a fair semaphore whose size [`WindowControl`] adapts.
pub(super) struct Window {
    slots: Semaphore,
    control: Mutex<WindowControl>,
    /// Permits to retire as they come back, when the limit shrank below what is in use.
    debt: AtomicUsize,
}

impl Window {
    pub(super) fn new(now: Instant) -> Window {
        Window {
            slots: Semaphore::new(MIN_WINDOW),
            control: Mutex::new(WindowControl::new(now)),
            debt: AtomicUsize::new(0),
        }
    }

    /// Room for one more query now, if there is any. When there is none, the window notes that
    /// queries wait (only then can a wider window raise the rate).
    pub(super) fn try_enter(&self) -> Option<WindowSlot<'_>> {
        match self.slots.try_acquire() {
            Ok(permit) => Some(WindowSlot {
                window: self,
                permit: Some(permit),
            }),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {
                self.control().saturated = true;
                None
            }
        }
    }

    /// Waits for room for one more query, first come first served. `None` only if the window
    /// were closed, which it never is.
    pub(super) async fn enter(&self) -> Option<WindowSlot<'_>> {
        if let Some(slot) = self.try_enter() {
            return Some(slot);
        }
        let permit = self.slots.acquire().await.ok()?;
        Some(WindowSlot {
            window: self,
            permit: Some(permit),
        })
    }

    /// The current limit.
    pub(super) fn limit(&self) -> usize {
        self.control().limit
    }

    pub(super) fn answered(&self, now: Instant) {
        let change = self.control().answered(now);
        self.resize(change);
    }

    pub(super) fn timed_out(&self, now: Instant) {
        let change = self.control().timed_out(now);
        self.resize(change);
    }

    fn resize(&self, change: Option<(usize, usize)>) {
        let Some((from, to)) = change else { return };
        tracing::debug!(from, to, "DNS in-flight window resized");
        if to > from {
            let mut grow = to - from;
            // Cancel retirements still owed before adding permits.
            while grow > 0 {
                match self
                    .debt
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| {
                        debt.checked_sub(1)
                    }) {
                    Ok(_) => grow -= 1,
                    Err(_) => break,
                }
            }
            self.slots.add_permits(grow);
        } else {
            let shrink = from - to;
            let retired = self.slots.forget_permits(shrink);
            self.debt.fetch_add(shrink - retired, Ordering::AcqRel);
        }
    }

    fn control(&self) -> MutexGuard<'_, WindowControl> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One query's room in a [`Window`].
pub(super) struct WindowSlot<'window> {
    window: &'window Window,
    permit: Option<SemaphorePermit<'window>>,
}

impl Drop for WindowSlot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let retire = self
            .window
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| {
                debt.checked_sub(1)
            })
            .is_ok();
        if retire {
            permit.forget();
        }
    }
}

/// How the window of one server adapts, apart from the clock and the semaphore so it can be
/// tested alone.
///
/// The window starts at [`MIN_WINDOW`]. While queries wait for room, it probes: it widens (by a
/// quarter at first, more after each success) and keeps the wider window only if, over the
/// next epoch, the answer rate rises by at least [`PROBE_EFFICIENCY`] of the widening. A server
/// that answers slowly because it is busy recursing (queries park inside it, not in its socket
/// buffer) answers proportionally faster with more in flight, so the window grows towards
/// [`MAX_WINDOW`]; a server that is itself the bottleneck answers no faster, so the probe is
/// undone and not repeated for [`PROBE_HOLD`] (doubling with each failure). A wider window that
/// queries did not fill is kept: it cannot have helped, but it loads nobody. A timed-out
/// attempt halves the window (not below [`MIN_WINDOW`]). Per-query latency, which varies wildly
/// with recursion, is never used: only the rate over epochs of at least [`MIN_EPOCH`] and two
/// windows' worth of answers, skipping the first epoch and every one that straddles a change
/// (warm-up and the switch itself would pass for gains or losses). A probe must beat the better
/// of two epochs at the old window.
#[derive(Debug)]
struct WindowControl {
    limit: usize,
    epoch_started: Instant,
    epoch_answers: usize,
    /// Whether a query had to wait for room during this epoch.
    saturated: bool,
    /// Whether this epoch began before the last change (or at the start) and so measures
    /// neither the old window nor the new one; it is not used.
    settling: bool,
    probe: Option<Probe>,
    /// The rate of the last saturated epoch at this window, if the one before was one too.
    baseline: Option<f64>,
    /// How far the next probe widens, in quarters of the window.
    probe_quarters: usize,
    /// How long the next failed probe stops probing.
    hold: Duration,
    hold_until: Instant,
}

/// A widening under test: the limit to go back to, and the rate the wider window must reach.
#[derive(Debug, Clone, Copy)]
struct Probe {
    from: usize,
    rate_needed: f64,
}

impl WindowControl {
    fn new(now: Instant) -> WindowControl {
        WindowControl {
            limit: MIN_WINDOW,
            epoch_started: now,
            epoch_answers: 0,
            saturated: false,
            settling: true,
            probe: None,
            baseline: None,
            probe_quarters: FIRST_PROBE_QUARTERS,
            hold: PROBE_HOLD,
            hold_until: now,
        }
    }

    /// Counts an answer; at the end of an epoch, returns `(old, new)` when the limit changes.
    fn answered(&mut self, now: Instant) -> Option<(usize, usize)> {
        if self.epoch_answers == 0 {
            // Measure from the first answer, so idle time before it (start-up, a pause in the
            // input) does not pass for a low rate that any probe would seem to improve on.
            self.epoch_started = now;
        }
        self.epoch_answers += 1;
        let elapsed = now.saturating_duration_since(self.epoch_started);
        if self.epoch_answers < 2 * self.limit || elapsed < MIN_EPOCH {
            return None;
        }
        let rate = self.epoch_answers as f64 / elapsed.as_secs_f64();
        let saturated = std::mem::take(&mut self.saturated);
        self.epoch_answers = 0;
        self.epoch_started = now;
        if std::mem::take(&mut self.settling) {
            return None;
        }
        if let Some(probe) = self.probe.take() {
            // A wider window that was not even filled cannot have raised the rate; nor does it
            // load the server more, so it stays (and no further probe starts, nothing waits).
            if saturated && rate < probe.rate_needed {
                // More in flight bought nothing: the server, not the round trip, sets the pace.
                self.hold_until = now + self.hold;
                self.hold = (self.hold * 2).min(MAX_PROBE_HOLD);
                self.probe_quarters = FIRST_PROBE_QUARTERS;
                return self.set(probe.from);
            }
            self.probe_quarters = (self.probe_quarters * 2).min(MAX_PROBE_QUARTERS);
            self.hold = PROBE_HOLD;
        }
        if !saturated || now < self.hold_until || self.limit >= MAX_WINDOW {
            self.baseline = None;
            return None;
        }
        // A probe needs two saturated epochs at this window and must beat the better of them:
        // epoch rates on a busy machine vary by ±15%, and one slow epoch must not make any
        // widening look like a gain.
        let previous = self.baseline.replace(rate)?;
        let baseline = previous.max(rate);
        let wider = (self.limit + self.limit * self.probe_quarters / 4).min(MAX_WINDOW);
        let widening = wider as f64 / self.limit as f64 - 1.0;
        self.probe = Some(Probe {
            from: self.limit,
            rate_needed: baseline * (1.0 + widening * PROBE_EFFICIENCY),
        });
        self.set(wider)
    }

    /// A query got no answer within its attempt: halve the window and hold it.
    fn timed_out(&mut self, now: Instant) -> Option<(usize, usize)> {
        self.probe = None;
        self.probe_quarters = FIRST_PROBE_QUARTERS;
        self.hold_until = now + PROBE_HOLD;
        self.set((self.limit / 2).max(MIN_WINDOW))
    }

    fn set(&mut self, limit: usize) -> Option<(usize, usize)> {
        let old = std::mem::replace(&mut self.limit, limit);
        if old == limit {
            return None;
        }
        self.settling = true;
        self.baseline = None;
        Some((old, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `control` the answers of a server that answers `rate(in flight)` queries per second
    /// for `duration`, with `demand` queries wanting to be in flight; returns every limit taken.
    fn simulate(
        control: &mut WindowControl,
        now: &mut Instant,
        duration: Duration,
        demand: usize,
        rate: impl Fn(usize) -> f64,
    ) -> Vec<usize> {
        let end = *now + duration;
        let mut limits = vec![control.limit];
        while *now < end {
            *now += Duration::from_secs_f64(1.0 / rate(control.limit.min(demand)));
            control.saturated |= demand > control.limit;
            if let Some((_, limit)) = control.answered(*now) {
                limits.push(limit);
            }
        }
        limits
    }

    /// A resolver 50 ms away, or busy recursing: the rate follows what is in flight.
    fn round_trip_bound(in_flight: usize) -> f64 {
        in_flight as f64 / 0.05
    }

    #[test]
    fn the_window_opens_while_more_in_flight_brings_more_answers() {
        let mut now = Instant::now();
        let mut control = WindowControl::new(now);
        let limits = simulate(
            &mut control,
            &mut now,
            Duration::from_secs(3),
            usize::MAX,
            round_trip_bound,
        );
        assert_eq!(control.limit, MAX_WINDOW, "{limits:?}");
        assert!(
            limits.windows(2).all(|pair| pair[1] > pair[0]),
            "{limits:?}"
        );
        // Widening by a quarter, then a half, then doubling.
        assert_eq!(limits[..5], [128, 160, 240, 480, 960]);
    }

    #[test]
    fn a_window_wider_than_the_demand_is_kept_without_further_probes() {
        let mut now = Instant::now();
        let mut control = WindowControl::new(now);
        let limits = simulate(
            &mut control,
            &mut now,
            Duration::from_secs(3),
            512,
            round_trip_bound,
        );
        assert_eq!(limits, [128, 160, 240, 480, 960]);
    }

    #[test]
    fn the_window_stays_small_when_the_server_sets_the_pace() {
        let mut now = Instant::now();
        let mut control = WindowControl::new(now);
        // A local server answering from memory at its own ceiling, whatever is in flight.
        let limits = simulate(
            &mut control,
            &mut now,
            Duration::from_secs(7),
            usize::MAX,
            |_| 50_000.0,
        );
        // Each probe undone, and the pauses between them doubling: 1 s, then 2 s, then 4 s.
        assert_eq!(limits, [128, 160, 128, 160, 128, 160, 128]);
        // A server that drops queries beyond its buffer answers far fewer with more in flight.
        let mut control = WindowControl::new(now);
        let limits = simulate(
            &mut control,
            &mut now,
            Duration::from_secs(5),
            usize::MAX,
            |in_flight| if in_flight > 150 { 2_000.0 } else { 50_000.0 },
        );
        assert_eq!(control.limit, MIN_WINDOW, "{limits:?}");
    }

    #[test]
    fn the_window_holds_without_waiting_queries_and_halves_on_timeouts() {
        let mut now = Instant::now();
        let mut control = WindowControl::new(now);
        for _ in 0..10_000 {
            now += Duration::from_millis(1);
            assert_eq!(control.answered(now), None, "nobody waits, nothing to gain");
        }
        control.limit = 1000;
        assert_eq!(control.timed_out(now), Some((1000, 500)));
        assert_eq!(control.timed_out(now), Some((500, 250)));
        assert_eq!(control.timed_out(now), Some((250, MIN_WINDOW)));
        assert_eq!(control.timed_out(now), None);
        // After a timeout the window holds, even with queries waiting.
        let limits = simulate(
            &mut control,
            &mut now,
            PROBE_HOLD / 2,
            usize::MAX,
            round_trip_bound,
        );
        assert_eq!(limits, [MIN_WINDOW]);
    }

    #[tokio::test]
    async fn window_slots_given_back_after_a_shrink_are_retired() {
        let window = Window::new(Instant::now());
        window.resize(Some((MIN_WINDOW, 200)));
        assert_eq!(window.slots.available_permits(), 200);
        let mut slots = Vec::new();
        for _ in 0..150 {
            slots.push(window.enter().await.unwrap());
        }
        window.resize(Some((200, MIN_WINDOW)));
        // 50 free permits are retired at once, the other 22 as slots come back.
        assert_eq!(window.slots.available_permits(), 0);
        slots.truncate(100);
        assert_eq!(window.slots.available_permits(), 28);
        window.resize(Some((MIN_WINDOW, 160)));
        slots.clear();
        assert_eq!(window.slots.available_permits(), 160);
    }
}
