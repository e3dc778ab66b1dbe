//! A background probe for services: a thread takes a [`Snapshot`] every interval and keeps
//! the latest [`Contention`] and running totals, for metrics and for matching production
//! tail latency against contention.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::jitter::sleep::sleep_until;
use crate::signal::clock::{monotonic_ns, ticks_per_second};
use crate::signal::snapshot::{Contention, Sampler, Snapshot};
use crate::stats::{Distribution, Histogram};

#[cfg(feature = "metrics")]
pub(crate) mod metrics;

/// The default sampling interval.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// With sleep jitter on, the probe sleeps in steps of this length.
pub(crate) const SLEEP_TICK: Duration = Duration::from_millis(100);
/// The first interval, when the interval is longer: [`Builder::start`] returns after the
/// first reading, so the first scrape already has every series.
pub(crate) const FIRST_INTERVAL: Duration = Duration::from_millis(100);

/// Counters since the probe started, in the units of their names. `None` where the source is
/// unavailable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Steal over all CPUs (`/proc/stat`), seconds.
    pub steal_seconds: Option<f64>,
    /// Run-queue wait of all this process's threads (schedstat), seconds.
    pub runqueue_wait_seconds: Option<f64>,
    /// Involuntary context switches of this process.
    pub involuntary_switches: Option<u64>,
    /// CFS periods in which the cgroup was throttled.
    pub throttled_periods: Option<u64>,
    /// CFS periods elapsed.
    pub periods: Option<u64>,
    /// Time the cgroup was throttled, seconds.
    pub throttled_seconds: Option<f64>,
    /// Time some task on the machine waited for a CPU (PSI `some` total), seconds.
    pub pressure_waiting_seconds: Option<f64>,
}

/// What the probe saw last.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    /// Samples taken since the start.
    pub samples_count: u64,
    /// Contention over the last interval.
    pub contention: Option<Contention>,
    /// Totals since the probe started.
    pub totals: Totals,
    /// With `sleep_jitter(true)`: how late each of the last interval's 100 ms sleeps
    /// woke up, ns. Timer slack plus the wait for a CPU: what a periodic task would see.
    pub sleep_overshoot_ns: Option<Distribution>,
}

/// Configures a [`Probe`].
#[derive(Debug, Clone, Copy)]
pub struct Builder {
    interval: Duration,
    sleep_jitter: bool,
    whole_second_counters: bool,
}

/// A running probe; dropping it stops and joins the sampling thread.
///
/// [`Probe::latest`] clones an `Arc` under a lock that the sampler holds only to swap that
/// `Arc`, so a request handler never waits for a sample to be taken. A panic in the sampler
/// is caught, reported once on stderr and in [`Probe::failure`], and the service goes on.
#[derive(Debug)]
pub struct Probe {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    latest: Mutex<Arc<Reading>>,
    stop: Mutex<bool>,
    wake: Condvar,
    failure: Mutex<Option<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep using it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Probe {
    /// A probe that samples every second, without sleep jitter, publishing whole-second
    /// counters (with the `metrics` feature); [`ProbeBuilder::start`] starts it.
    ///
    /// [`ProbeBuilder::start`]: crate::ProbeBuilder::start
    pub fn builder() -> Builder {
        Builder {
            interval: DEFAULT_INTERVAL,
            sleep_jitter: false,
            whole_second_counters: true,
        }
    }

    /// The latest reading: an `Arc` clone, never a wait for the sampler.
    pub fn latest(&self) -> Arc<Reading> {
        Arc::clone(&lock(&self.shared.latest))
    }

    /// Why the sampler stopped, if it panicked.
    pub fn failure(&self) -> Option<String> {
        lock(&self.shared.failure).clone()
    }
}

impl Builder {
    /// Time between samples (at least 10 ms; default 1 s).
    pub fn interval(mut self, interval: Duration) -> Builder {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Also measure wake-up lateness (off by default): the probe sleeps in 100 ms
    /// steps to absolute deadlines, cyclictest's method, and records how late each wake-up
    /// is: ten wake-ups a second instead of one. The README gives the measured cost.
    pub fn sleep_jitter(mut self, on: bool) -> Builder {
        self.sleep_jitter = on;
        self
    }

    /// Publish the `_seconds_total` counters through the `metrics` facade (on by default),
    /// in whole seconds: the facade's counters are integers (metrics-rs/metrics#599), and a
    /// gauge named `_total`, or a counter of milliseconds, breaks Prometheus' naming rules, so
    /// a steal of 0.5% of a CPU moves its counter once every 200 s. A Prometheus endpoint of
    /// your own does better with this off, appending
    /// [`render_seconds_totals`](crate::render_seconds_totals) of [`Probe::latest`]'s totals
    /// to the exporter's text: float counters rendered at scrape time, as node_exporter does
    /// (`prometheus::install` and `dynoprobe serve` do). For short windows the matching
    /// gauges are exact over the probe's last interval.
    pub fn whole_second_counters(mut self, on: bool) -> Builder {
        self.whole_second_counters = on;
        self
    }

    /// Starts the sampling thread, and returns after its first reading (at most
    /// 100 ms away), so that `latest()` and the metrics have every signal from
    /// the start.
    pub fn start(self) -> std::io::Result<Probe> {
        let shared = Arc::new(Shared {
            latest: Mutex::new(Arc::new(Reading {
                samples_count: 0,
                contention: None,
                totals: Totals::default(),
                sleep_overshoot_ns: None,
            })),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            failure: Mutex::new(None),
        });
        let sampler_shared = Arc::clone(&shared);
        let (first_read, first) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("dynoprobe-probe".into())
            .spawn(move || {
                catching(&sampler_shared, || {
                    sample(&sampler_shared, self, first_read)
                })
            })?;
        // A sampler that panics before its first reading drops the sender: no wait.
        let _ = first.recv_timeout(FIRST_INTERVAL * 10);
        Ok(Probe {
            shared,
            thread: Some(thread),
        })
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `body`; a panic in it is printed once and kept for [`Probe::failure`].
fn catching(shared: &Shared, body: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(body)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("dynoprobe: the probe's sampler stopped: {message}");
        *lock(&shared.failure) = Some(message);
    }
}

/// The sampling loop: wait an interval (or until stopped), snapshot, publish. The first
/// interval is at most [`FIRST_INTERVAL`], and `first_read` hears when it is published.
fn sample(shared: &Shared, config: Builder, first_read: std::sync::mpsc::SyncSender<()>) {
    let mut sampler = Sampler::new();
    let first = sampler.take();
    let mut earlier = first.clone();
    let mut later = first.clone();
    let mut overshoot = config.sleep_jitter.then(Histogram::new);
    let mut samples_count = 0;
    let mut interval = config.interval.min(FIRST_INTERVAL);
    while wait(shared, interval, overshoot.as_mut()) {
        interval = config.interval;
        sampler.take_into(&mut later);
        samples_count += 1;
        let reading = Reading {
            samples_count,
            contention: Some(later.since(&earlier)),
            totals: totals(&first, &later),
            sleep_overshoot_ns: overshoot.as_mut().and_then(|late| {
                let summary = late.summary();
                late.clear();
                summary
            }),
        };
        #[cfg(feature = "metrics")]
        metrics::publish(&reading, config.whole_second_counters);
        *lock(&shared.latest) = Arc::new(reading);
        std::mem::swap(&mut earlier, &mut later);
        let _ = first_read.try_send(());
    }
}

/// Waits one interval; `false` once the probe is stopping. Without a recorder, one wait
/// that a stop cuts short. With one, sleeps to absolute deadlines [`SLEEP_TICK`] apart and
/// records how late each wake-up was; a wake-up later than a whole tick skips the missed
/// deadlines rather than counting one stall several times.
fn wait(shared: &Shared, interval: Duration, overshoot: Option<&mut Histogram>) -> bool {
    let stopping = || *lock(&shared.stop);
    let Some(overshoot) = overshoot else {
        let stop = lock(&shared.stop);
        let (stop, _) = shared
            .wake
            .wait_timeout_while(stop, interval, |stop| !*stop)
            .unwrap_or_else(PoisonError::into_inner);
        return !*stop;
    };
    let tick = SLEEP_TICK.as_nanos() as u64;
    let mut deadline = monotonic_ns();
    let end = deadline + interval.as_nanos() as u64;
    while deadline < end && !stopping() {
        deadline = (deadline + tick).min(end);
        sleep_until(deadline);
        let now = monotonic_ns();
        let late_ns = now.saturating_sub(deadline);
        overshoot.record(late_ns);
        #[cfg(feature = "metrics")]
        metrics::record_overshoot(late_ns);
        deadline += late_ns / tick * tick;
    }
    !stopping()
}

/// Counter differences between the probe's first snapshot and `now`.
pub(crate) fn totals(first: &Snapshot, now: &Snapshot) -> Totals {
    let seconds = |ns: u64| ns as f64 / 1e9;
    let hz = ticks_per_second().ok();
    let both = |a: Option<u64>, b: Option<u64>| a?.checked_sub(b?);
    let stat = now.stat.as_ref().ok().zip(first.stat.as_ref().ok());
    let sched = now
        .process_sched
        .as_ref()
        .ok()
        .zip(first.process_sched.as_ref().ok());
    let usage = now
        .process_usage
        .as_ref()
        .ok()
        .zip(first.process_usage.as_ref().ok());
    // The quota's counters mean something only once a quota period has elapsed: without a
    // quota the kernel counts none, and they would be published as a misleading 0.
    let cgroup = (now.cgroup.as_ref().ok().zip(first.cgroup.as_ref().ok()))
        .filter(|(n, f)| both(n.nr_periods, f.nr_periods).is_some_and(|periods| periods > 0));
    let pressure = now.pressure.as_ref().ok().zip(first.pressure.as_ref().ok());
    Totals {
        steal_seconds: stat
            .and_then(|(n, f)| both(n.all.steal, f.all.steal))
            .zip(hz)
            .map(|(ticks, hz)| ticks as f64 / hz as f64),
        runqueue_wait_seconds: sched
            .and_then(|(n, f)| n.wait_ns.checked_sub(f.wait_ns))
            .map(seconds),
        involuntary_switches: usage
            .and_then(|(n, f)| n.involuntary_switches.checked_sub(f.involuntary_switches)),
        throttled_periods: cgroup.and_then(|(n, f)| both(n.nr_throttled, f.nr_throttled)),
        periods: cgroup.and_then(|(n, f)| both(n.nr_periods, f.nr_periods)),
        throttled_seconds: cgroup
            .and_then(|(n, f)| both(n.throttled_ns, f.throttled_ns))
            .map(seconds),
        pressure_waiting_seconds: pressure
            .and_then(|(n, f)| n.some.total_us.checked_sub(f.some.total_us))
            .map(|us| us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_samples_publishes_and_stops_promptly() {
        let probe = Probe::builder()
            .interval(Duration::from_millis(20))
            .start()
            .unwrap();
        let first = probe.latest();
        assert!(
            first.samples_count >= 1,
            "start returns after the first reading"
        );
        assert!(first.contention.is_some());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while probe.latest().samples_count < 3 {
            assert!(std::time::Instant::now() < deadline, "no samples in 5 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        let reading = probe.latest();
        let contention = reading.contention.as_ref().unwrap();
        assert!(
            contention.elapsed_ns >= 15_000_000,
            "{}",
            contention.elapsed_ns
        );
        assert!(reading.totals.involuntary_switches.is_some());
        assert_eq!(probe.failure(), None);
        let stopped = std::time::Instant::now();
        drop(probe);
        assert!(
            stopped.elapsed() < Duration::from_millis(500),
            "drop waited a whole interval"
        );
    }

    #[test]
    fn a_long_interval_still_has_a_reading_when_start_returns() {
        let started = std::time::Instant::now();
        let probe = Probe::builder()
            .interval(Duration::from_secs(3600))
            .start()
            .unwrap();
        let took = started.elapsed();
        let reading = probe.latest();
        assert_eq!(reading.samples_count, 1);
        let elapsed_ns = reading.contention.as_ref().unwrap().elapsed_ns;
        assert!(
            (FIRST_INTERVAL.as_nanos() as u64..3_600_000_000_000).contains(&elapsed_ns),
            "the first interval is the short one: {elapsed_ns} ns"
        );
        assert!(took >= FIRST_INTERVAL, "{took:?}");
    }

    #[test]
    fn sleep_jitter_mode_also_stops_within_a_tick() {
        let probe = Probe::builder()
            .interval(Duration::from_secs(3600))
            .sleep_jitter(true)
            .start()
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let stopped = std::time::Instant::now();
        drop(probe);
        assert!(stopped.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn a_panic_in_the_sampler_is_caught_and_kept() {
        let probe = Probe::builder().start().unwrap();
        catching(&probe.shared, || panic!("schedstat went away"));
        assert_eq!(probe.failure().as_deref(), Some("schedstat went away"));
        let code = 7;
        catching(&probe.shared, || panic!("code {code}"));
        assert_eq!(probe.failure().as_deref(), Some("code 7"));
    }

    #[test]
    fn a_long_interval_does_not_delay_drop() {
        let probe = Probe::builder()
            .interval(Duration::from_secs(3600))
            .start()
            .unwrap();
        let stopped = std::time::Instant::now();
        drop(probe);
        assert!(stopped.elapsed() < Duration::from_millis(500));
    }
}
