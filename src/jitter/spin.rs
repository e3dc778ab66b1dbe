//! Spin-loop hiccup detector (the method of sysjitter and rigtorp/hiccups): a thread reads a
//! fast clock as often as it can, and a gap between two reads above a threshold means it was
//! not running; long gaps are attributed as they happen ([`Attribute`], `GapLog::record`).

use std::time::Duration;

use serde::Serialize;

use super::attribute::{
    Attribution, Attributor, Delta, Depth, MAX_GAPS_PER_CPU_READING, READ_ALLOWANCE_FACTOR, Rules,
};
use super::cause::{ByCause, Cause};
use super::clock::{Clock, Kind, Monotonic, Ticks, Tsc};
use super::tick::{TickFit, fit};
use crate::signal::clock::monotonic_ns;
use crate::signal::kconfig::{Accounting, nohz_full_cpus};
use crate::span::{Span, SpanStats};
use crate::stats::nearest_rank;

/// Gaps kept in order for inference and the gap log (120 B each with the counters that
/// decided them: 30 MiB reserved before the loop starts, touched only as gaps come). Gaps
/// beyond this are counted and summed per cause but not kept.
pub const GAP_CAPACITY: usize = 1 << 18;
/// Auto threshold: this many times the loop's own iteration (the median non-zero delta
/// between two clock reads, 10–20 ns on a TSC): above the loop's own variation (a cache or
/// TLB miss of the loop is tens of ns), far below the attribution threshold; the gaps between
/// are `short`. A median, not the smallest delta: a TSC here steps by 24–52 ticks with a rare
/// 1-tick delta, and 8 × that one delta put the threshold under the loop's own cost.
pub const AUTO_THRESHOLD_FACTOR: u64 = 8;
/// Clock reads in the calibration that measures the loop's iteration.
const CALIBRATION_READS: usize = 100_000;
/// A spin that saw a gap in more than this share of its iterations measured its own loop,
/// not the platform: no host takes the CPU every hundred reads. The auto threshold is then
/// raised by [`RAISE_FACTOR`] and the spin done again.
pub const MAX_GAPS_PER_ITERATION: f64 = 0.01;
/// How much a threshold that collapsed is raised by.
pub const RAISE_FACTOR: u64 = 8;
/// Attribution readings of each kind timed in calibration; their median sets its allowance.
const CALIBRATION_ATTRIBUTIONS: usize = 31;
/// A gap whose reads keep overrunning is attributed at most this many times; then the
/// overrun is a gap of its own. Each retry needs the CPU taken again during a microsecond of
/// reads, so this bound is for a pathological host, not for a busy one.
const MAX_ATTRIBUTIONS_PER_GAP: u32 = 4;

/// One time the loop saw the clock jump: it was not running from `start_ns` for `len_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// Since the spin began, ns.
    pub start_ns: u64,
    pub len_ns: u64,
    pub cause: Cause,
    /// The kernel's run-queue wait for the thread over the interval this gap ended (since
    /// the previous attributed gap), ns; 0 for short gaps, which are not attributed.
    #[serde(rename = "runqueue_wait_ns")]
    pub wait_ns: u64,
    /// The clock's raw ticks at the gap's start and end (the TSC, when that is the clock).
    #[serde(skip)]
    pub start_tick: u64,
    #[serde(skip)]
    pub end_tick: u64,
    /// The counters its cause was decided from; `None` for a short gap.
    #[serde(skip)]
    pub delta: Option<Delta>,
}

impl Gap {
    /// Names this kept gap's cause `to`, moving it, with its run-queue wait, between
    /// `tallies` (which count every gap, kept or not, under its cause).
    pub fn reattribute(&mut self, to: Cause, tallies: &mut ByCause<Tally>) {
        let from = &mut tallies[self.cause];
        (from.count, from.total_ns, from.wait_ns) = (
            from.count - 1,
            from.total_ns - self.len_ns,
            from.wait_ns - self.wait_ns,
        );
        let into = &mut tallies[to];
        (into.count, into.total_ns, into.wait_ns) = (
            into.count + 1,
            into.total_ns + self.len_ns,
            into.wait_ns + self.wait_ns,
        );
        self.cause = to;
    }
}

/// Count and total length of the gaps of one cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub total_ns: u64,
    /// The kernel's run-queue wait over the intervals that ended in these gaps, ns.
    pub wait_ns: u64,
}

/// What one spinning thread saw.
#[derive(Debug, Clone)]
pub struct SpinRecord {
    /// The clock read, and why it was chosen.
    pub clock: String,
    /// The CPU the thread was pinned to, if any.
    pub cpu: Option<usize>,
    /// The loop's own span, first clock read to last, ns.
    pub duration_ns: u64,
    pub iterations: u64,
    /// The loop's own iteration: the median non-zero delta between two clock reads, ns.
    pub read_delta_ns: u64,
    /// Set when the auto threshold collapsed and was raised for a second spin.
    pub raised: Option<Raised>,
    /// Gaps longer than this were recorded.
    pub threshold_ns: u64,
    /// Gaps at least this long were attributed; shorter ones are [`Cause::Short`].
    pub attribute_threshold_ns: u64,
    /// Whether throttling could be told from preemption (a readable cgroup with a quota).
    pub sees_throttling: bool,
    /// How the guest kernel's interrupts were told from host pauses.
    pub interrupts: Interrupts,
    /// Recorded gaps in order (at most [`GAP_CAPACITY`]).
    pub gaps: Vec<Gap>,
    /// Every gap above the threshold, kept or not, by cause.
    pub tallies: ByCause<Tally>,
    /// Time spent reading counters after gaps, ns: the cost of attribution.
    pub attribution_ns: u64,
    /// Gaps whose reading saw the thread's involuntary switches move.
    pub preemptions_count: u64,
    /// The involuntary switches those readings saw, summed: every switch of the loop falls
    /// in a gap, so this is the kernel's count over the loop.
    pub switches_in_gaps_count: u64,
    /// The cgroup's throttled time over the loop (`cpu.stat`), ns; `None` without a quota.
    pub cgroup_throttled_ns: Option<u64>,
    /// The spinning thread's kernel counters over the spin (run-queue wait, preemptions).
    pub kernel: SpanStats,
    /// The spinning thread's id (`gettid`).
    pub tid: u64,
    /// Whether the clock was the TSC (the gaps' `start_tick` are then raw TSC values).
    pub clock_is_tsc: bool,
    /// The kernel's timer tick rate (`CONFIG_HZ`), where its configuration says.
    pub tick_hz: Option<u32>,
    /// The spin clock's ticks as `CLOCK_MONOTONIC`.
    pub to_mono: ToMono,
}

impl SpinRecord {
    /// All gaps above the threshold, of every cause.
    pub fn gaps_count(&self) -> u64 {
        self.tallies.iter().map(|(_, t)| t.count).sum()
    }

    /// Their total length, ns.
    pub fn gaps_total_ns(&self) -> u64 {
        self.tallies.iter().map(|(_, t)| t.total_ns).sum()
    }

    /// Gaps per iteration of the loop: well under [`MAX_GAPS_PER_ITERATION`] unless the
    /// threshold was under the loop's own cost.
    pub fn gaps_per_iteration(&self) -> f64 {
        self.gaps_count() as f64 / self.iterations.max(1) as f64
    }

    pub fn tally(&self, cause: Cause) -> Tally {
        self.tallies[cause]
    }

    /// A record of a 1-CPU spin of `duration_ns` that saw `gaps` (sorted here), for tests of
    /// what is inferred from one.
    #[cfg(test)]
    pub(crate) fn of(mut gaps: Vec<Gap>, duration_ns: u64) -> SpinRecord {
        gaps.sort_by_key(|g| g.start_ns);
        let mut tallies = ByCause::<Tally>::default();
        for g in &gaps {
            let tally = &mut tallies[g.cause];
            (tally.count, tally.total_ns) = (tally.count + 1, tally.total_ns + g.len_ns);
            tally.wait_ns += g.wait_ns;
        }
        SpinRecord {
            clock: "test".into(),
            cpu: Some(1),
            duration_ns,
            iterations: 1,
            read_delta_ns: 10,
            raised: None,
            threshold_ns: 80,
            attribute_threshold_ns: 2_000,
            sees_throttling: true,
            interrupts: Interrupts::Counted(Vec::new()),
            gaps,
            tallies,
            attribution_ns: 0,
            preemptions_count: tallies[Cause::Preempted].count + tallies[Cause::Throttled].count,
            switches_in_gaps_count: tallies[Cause::Preempted].count
                + tallies[Cause::Throttled].count,
            cgroup_throttled_ns: None,
            kernel: SpanStats::default(),
            tid: 1,
            clock_is_tsc: false,
            tick_hz: Some(250),
            to_mono: ToMono::default(),
        }
    }
}

/// What the loop hands a long gap to: names its cause (reading counters, say).
pub trait Attribute {
    /// The cause of the gap of `len` ticks that ended at tick `end`.
    fn attribute(&mut self, end: u64, len: u64) -> Attribution;
    /// Forgets the latest attribution: the gap went on, and is attributed again as one.
    fn undo(&mut self);
    /// Decides the causes that waited on a later reading ([`Attribution::awaits_cpu`]):
    /// `gaps`, by the reading of their last, or one made now, at tick `read_at`.
    fn settle(&mut self, _gaps: &mut [(u64, u64, Attribution)], _read_at: Option<u64>) {}
}

impl Attribute for Attributor {
    fn attribute(&mut self, end: u64, len: u64) -> Attribution {
        Attributor::attribute(self, end, len)
    }

    fn undo(&mut self) {
        Attributor::undo(self)
    }

    fn settle(&mut self, gaps: &mut [(u64, u64, Attribution)], read_at: Option<u64>) {
        Attributor::settle(self, gaps, read_at)
    }
}

/// Gaps as the loop finds them, in clock ticks, with their causes and run-queue wait (ns).
struct GapLog<A> {
    kept: Vec<(u64, u64, Attribution)>,
    /// Attributed gaps whose causes wait on a later reading of the CPU clock, as `kept`.
    awaiting: Vec<(u64, u64, Attribution)>,
    /// By cause; `total_ns` in ticks here, until the spin ends.
    tallies: ByCause<Tally>,
    attributor: A,
    /// Gaps at least this long are attributed.
    attribute_ticks: u64,
    /// The reads after a gap may take this long; longer, the gap goes on through them.
    allowance: Allowance,
    /// Ticks spent in the attribution reads that kept within their allowance.
    read_ticks: u64,
    /// Gaps whose reading saw the thread's involuntary switches move.
    preemptions_count: u64,
    /// The switches those readings saw, summed.
    switches_in_gaps_count: u64,
}

impl<A> GapLog<A> {
    /// An empty log with room for `capacity` gaps.
    fn new(attributor: A, capacity: usize, attribute_ticks: u64, allowance: Allowance) -> Self {
        GapLog {
            kept: Vec::with_capacity(capacity),
            awaiting: Vec::with_capacity(MAX_GAPS_PER_CPU_READING as usize),
            tallies: ByCause::default(),
            attributor,
            attribute_ticks,
            allowance,
            read_ticks: 0,
            preemptions_count: 0,
            switches_in_gaps_count: 0,
        }
    }

    /// The kept gaps in order and the tallies with their ticks in ns, each gap's ticks from
    /// `origin`. (Gaps that awaited a reading of the CPU clock were kept after the short
    /// gaps that followed them.)
    fn in_ns(&self, clock: &Clock, origin: u64) -> (Vec<Gap>, ByCause<Tally>) {
        let gap = |&(start, len, a): &(u64, u64, Attribution)| Gap {
            start_ns: clock.to_ns(start),
            len_ns: clock.to_ns(len),
            cause: a.cause,
            wait_ns: a.wait_ns,
            start_tick: origin + start,
            end_tick: origin + start + len,
            delta: a.delta,
        };
        let tallies = (self.tallies).map(|t| Tally {
            total_ns: clock.to_ns(t.total_ns),
            ..t
        });
        let mut gaps: Vec<Gap> = self.kept.iter().map(gap).collect();
        gaps.sort_by_key(|g| g.start_tick);
        (gaps, tallies)
    }
}

impl<A: Attribute> GapLog<A> {
    /// Records the gap from tick `from` to tick `to` (kept as ticks since `origin`), and
    /// returns the tick the loop goes on from: past the reads, when it was long enough to be
    /// attributed.
    #[inline(always)]
    fn record<T: Ticks>(&mut self, clock: &T, origin: u64, from: u64, to: u64) -> u64 {
        if to - from < self.attribute_ticks {
            self.keep(from - origin, to - from, SHORT);
            return to;
        }
        let (end, attribution, resume) = self.attribute(clock, from, to);
        self.awaiting.push((from - origin, end - from, attribution));
        if !attribution.awaits_cpu() || self.awaiting.len() == self.awaiting.capacity() {
            self.settle(None);
        }
        self.read_ticks += resume - end;
        resume
    }

    /// Keeps the gaps that awaited a reading of the CPU clock, their causes settled by the
    /// last one's reading, or by one made now at tick `read_at` (the spin's end).
    fn settle(&mut self, read_at: Option<u64>) {
        if self.awaiting.is_empty() {
            return;
        }
        let mut awaiting = std::mem::take(&mut self.awaiting);
        self.attributor.settle(&mut awaiting, read_at);
        for (start, len, attribution) in awaiting.drain(..) {
            self.keep_attributed(start, len, attribution);
        }
        self.awaiting = awaiting;
    }

    /// Attributes the gap from `from` to `to`: where it ended, its attribution, and the tick
    /// after the reads. If the reads overran their allowance, something may have taken the
    /// CPU during them, and their counters may already show it: the gap is attributed again,
    /// whole, through the reads, from the same baseline, and goes on through them unless the
    /// kernel counted nothing there ([`Attribution::quiet_since`]): then the reads were only
    /// slow.
    fn attribute<T: Ticks>(
        &mut self,
        clock: &T,
        from: u64,
        mut to: u64,
    ) -> (u64, Attribution, u64) {
        let mut first: Option<(u64, Attribution)> = None;
        let mut attempts = 1;
        loop {
            let attribution = self.attributor.attribute(to, to - from);
            let reads = clock.ticks() - to;
            let allowance = self.allowance.of(&attribution);
            if reads <= allowance || attempts == MAX_ATTRIBUTIONS_PER_GAP {
                let resume = to + reads.min(allowance);
                return match first.filter(|(_, earlier)| attribution.quiet_since(earlier)) {
                    Some((end, earlier)) => (end, earlier, resume),
                    None => (to, attribution, resume),
                };
            }
            self.attributor.undo();
            first.get_or_insert((to, attribution));
            to += reads;
            attempts += 1;
        }
    }

    /// Keeps an attributed gap: in two parts when its first part was the host's.
    fn keep_attributed(&mut self, start: u64, len: u64, attribution: Attribution) {
        match attribution.host {
            // The host's pause came first; the scheduler's wait ended the gap.
            Some((cause, ticks)) => {
                self.keep(start, ticks, Attribution::of_host(cause, attribution.delta));
                let rest = Attribution {
                    host: None,
                    ..attribution
                };
                self.keep(start + ticks, len - ticks, rest);
            }
            None => self.keep(start, len, attribution),
        }
    }

    /// Keeps a gap (while there is room) and tallies it.
    fn keep(&mut self, start: u64, len: u64, attribution: Attribution) {
        if self.kept.len() < self.kept.capacity() {
            self.kept.push((start, len, attribution));
        }
        self.preemptions_count += u64::from(attribution.switches > 0);
        self.switches_in_gaps_count += attribution.switches;
        let tally = &mut self.tallies[attribution.cause];
        tally.count += 1;
        tally.total_ns += len;
        tally.wait_ns += attribution.wait_ns;
    }
}

/// A gap too short to attribute.
const SHORT: Attribution = Attribution {
    cause: Cause::Short,
    switches: 0,
    wait_ns: 0,
    host: None,
    delta: None,
    depth: Depth::Counts,
};

/// The loop: read the clock, compare with the last read, record a gap above `threshold`.
/// The log says where to go on from: after a long gap, past the reads it made. Returns the
/// first read (the origin of the gaps' starts) and the iterations.
#[inline(never)]
fn spin_loop<T: Ticks, A: Attribute>(
    clock: &T,
    duration: u64,
    threshold: u64,
    log: &mut GapLog<A>,
) -> (u64, u64) {
    let start = clock.ticks();
    let (mut last, mut iterations) = (start, 0u64);
    while last - start < duration {
        let now = clock.ticks();
        last = if now - last > threshold {
            log.record(clock, start, last, now)
        } else {
            now
        };
        iterations += 1;
    }
    (start, iterations)
}

/// The loop's own iteration, in `clock`'s ticks: the median non-zero delta between
/// consecutive reads (a coarse clock's resolution, where that is longer). At least 1.
fn iteration_ticks<T: Ticks>(clock: &T) -> u64 {
    let mut deltas = Vec::with_capacity(CALIBRATION_READS);
    let mut last = clock.ticks();
    for _ in 0..CALIBRATION_READS {
        let now = clock.ticks();
        deltas.push(now - last);
        last = now;
    }
    deltas.retain(|&d| d > 0);
    deltas.sort_unstable();
    nearest_rank(&deltas, 0.5).copied().unwrap_or(1).max(1)
}

/// How long the reads after a gap may take, in ticks, by the kind of reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Allowance {
    /// The switch and interrupt counts alone.
    counts: u64,
    /// With the CPU clock: a gap neither switched nor short of CPU time.
    cpu: u64,
    /// Every counter (the run-queue wait and the cgroup's as well).
    full: u64,
}

impl Allowance {
    /// [`READ_ALLOWANCE_FACTOR`] times the median of each kind of reading by `attributor`.
    fn calibrate<T: Ticks>(clock: &T, attributor: &mut Attributor) -> Allowance {
        let mut allowance = |depth| median_read(clock, attributor, depth) * READ_ALLOWANCE_FACTOR;
        Allowance {
            counts: allowance(Depth::Counts),
            cpu: allowance(Depth::Cpu),
            full: allowance(Depth::Full),
        }
    }

    /// The allowance for the reading that made `attribution`.
    fn of(&self, attribution: &Attribution) -> u64 {
        match attribution.depth {
            Depth::Counts => self.counts,
            Depth::Cpu => self.cpu,
            Depth::Full => self.full,
        }
    }
}

/// The median time, in ticks, that `attributor` takes to read the counters of `depth` after
/// a gap.
fn median_read<T: Ticks>(clock: &T, attributor: &mut Attributor, depth: Depth) -> u64 {
    let mut reads = [0u64; CALIBRATION_ATTRIBUTIONS];
    for read in &mut reads {
        let before = clock.ticks();
        attributor.read_after(before, 0, Some(depth));
        *read = clock.ticks() - before;
    }
    reads.sort_unstable();
    nearest_rank(&reads, 0.5).copied().unwrap_or(0)
}

/// How the guest kernel's interrupts were told from host pauses.
#[derive(Debug, Clone, PartialEq)]
pub enum Interrupts {
    /// perf counted these tracepoints on the thread, read after each gap.
    Counted(Vec<String>),
    /// Not counted per gap (`why`); the `unreported` gaps that cover the timer tick's phase
    /// were named `interrupt` instead, or `tick` says why none were.
    NotCounted {
        why: String,
        tick: Result<TickFit, String>,
    },
}

/// Why a spin could not be done as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpinError {
    #[error(
        "threshold {asked_ns} ns is below the loop's own iteration here ({iteration_ns} ns between clock reads)"
    )]
    ThresholdBelowIteration { asked_ns: u64, iteration_ns: u64 },
    #[error("cannot pin the spinning thread to CPU {0}")]
    Pin(usize),
}

/// The auto threshold saw gaps in too many of the loop's iterations (the loop's own cost,
/// not the platform's), and was raised by [`RAISE_FACTOR`] for a second spin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Raised {
    /// The threshold that collapsed, ns.
    pub from_ns: u64,
    /// Gaps per iteration of the loop under it.
    pub gaps_per_iteration_ratio: f64,
}

/// Spins on the calling thread for `duration`, recording gaps above `threshold_ns` (or the
/// auto threshold, [`AUTO_THRESHOLD_FACTOR`] × the loop's own iteration) and attributing
/// those of at least `attribute_threshold_ns`. An auto threshold under which more than
/// [`MAX_GAPS_PER_ITERATION`] of the iterations were gaps was wrong: it is raised and the
/// spin done again, and the record says so ([`SpinRecord::raised`]).
pub fn spin(
    clock: &Clock,
    duration: Duration,
    threshold_ns: Option<u64>,
    attribute_threshold_ns: u64,
) -> Result<SpinRecord, SpinError> {
    match clock.kind {
        Kind::Tsc => spin_checked(&Tsc, clock, duration, threshold_ns, attribute_threshold_ns),
        Kind::Monotonic => spin_checked(
            &Monotonic,
            clock,
            duration,
            threshold_ns,
            attribute_threshold_ns,
        ),
    }
}

fn spin_checked<T: Ticks>(
    ticks: &T,
    clock: &Clock,
    duration: Duration,
    threshold_ns: Option<u64>,
    attribute_threshold_ns: u64,
) -> Result<SpinRecord, SpinError> {
    let iteration = iteration_ticks(ticks);
    let iteration_ns = clock.to_ns(iteration).max(1);
    let threshold = match threshold_ns {
        Some(asked_ns) if asked_ns < iteration_ns => {
            return Err(SpinError::ThresholdBelowIteration {
                asked_ns,
                iteration_ns,
            });
        }
        Some(ns) => clock.to_ticks(ns),
        None => iteration * AUTO_THRESHOLD_FACTOR,
    };
    let accounting = Accounting::read();
    let spin = |threshold| {
        spin_with(
            ticks,
            clock,
            duration,
            threshold,
            attribute_threshold_ns,
            &accounting,
        )
    };
    let mut record = spin(threshold);
    if threshold_ns.is_none() && record.gaps_per_iteration() > MAX_GAPS_PER_ITERATION {
        let raised = Raised {
            from_ns: record.threshold_ns,
            gaps_per_iteration_ratio: record.gaps_per_iteration(),
        };
        record = spin(threshold * RAISE_FACTOR);
        record.raised = Some(raised);
    }
    record.read_delta_ns = iteration_ns;
    Ok(record)
}

/// One spin with a threshold of `threshold` ticks, its gaps attributed under `accounting`.
fn spin_with<T: Ticks>(
    ticks: &T,
    clock: &Clock,
    duration: Duration,
    threshold: u64,
    attribute_threshold_ns: u64,
    accounting: &Accounting,
) -> SpinRecord {
    let rules = Rules::of(accounting);
    let mut attributor = Attributor::new(clock.ns_per_tick, ticks.ticks(), rules);
    let allowance = Allowance::calibrate(ticks, &mut attributor);
    let sees_throttling = attributor.sees_throttling();
    let counted = attributor
        .interrupt_events()
        .map(<[String]>::to_vec)
        .map_err(str::to_string);
    let attribute_ticks = clock.to_ticks(attribute_threshold_ns).max(threshold + 1);
    let mut log = GapLog::new(attributor, GAP_CAPACITY, attribute_ticks, allowance);
    let duration_ticks = clock.to_ticks(duration.as_nanos() as u64);
    let timed = timed(ticks, duration_ticks, threshold, &mut log);
    let cgroup_throttled_ns = log.attributor.throttled_since_restart();
    let (mut gaps, mut tallies) = log.in_ns(clock, timed.origin);
    let interrupts = match counted {
        Ok(events) => Interrupts::Counted(events),
        Err(why) => {
            let tick = name_the_tick(
                &mut gaps,
                &mut tallies,
                &timed.to_mono,
                timed.loop_ns,
                accounting,
            );
            Interrupts::NotCounted { why, tick }
        }
    };
    SpinRecord {
        clock: clock.reason.clone(),
        cpu: None,
        duration_ns: timed.loop_ns,
        iterations: timed.iterations,
        read_delta_ns: 0,
        raised: None,
        threshold_ns: clock.to_ns(threshold),
        attribute_threshold_ns: clock.to_ns(log.attribute_ticks),
        sees_throttling,
        interrupts,
        gaps,
        tallies,
        attribution_ns: clock.to_ns(log.read_ticks),
        preemptions_count: log.preemptions_count,
        switches_in_gaps_count: log.switches_in_gaps_count,
        cgroup_throttled_ns,
        kernel: timed.kernel,
        tid: thread_id(),
        clock_is_tsc: clock.kind == Kind::Tsc,
        tick_hz: accounting.tick_hz,
        to_mono: timed.to_mono,
    }
}

/// The loop, timed from inside and by the kernel around it.
struct Timed {
    /// The loop's first read (the origin of the gaps' starts).
    origin: u64,
    iterations: u64,
    /// The loop's own span, first read to last (`CLOCK_MONOTONIC`), ns: what its ledger
    /// divides. The kernel's span is longer by the reads around the loop, and a switch in
    /// those reads (once in a few dozen CI runs, a whole 70 ms throttle) is the kernel's
    /// to count but was never the loop's to see.
    loop_ns: u64,
    /// The kernel's counters over a span around the loop.
    kernel: SpanStats,
    /// The loop's ticks as `CLOCK_MONOTONIC`.
    to_mono: ToMono,
}

/// The loop of `duration_ticks`, with the kernel's view of it and the map from its ticks to
/// `CLOCK_MONOTONIC`.
fn timed<T: Ticks>(
    ticks: &T,
    duration_ticks: u64,
    threshold: u64,
    log: &mut GapLog<Attributor>,
) -> Timed {
    let span = Span::start();
    // Calibration moved the baseline. The first gap is measured from the loop's start, and
    // the cgroup's throttled time from the same moment as the kernel's view of the spin: a
    // throttle during `Span::start`'s reads is neither the loop's nor counted in its span.
    log.attributor.restart(ticks.ticks());
    let mono_before = monotonic_ns();
    let (origin, iterations) = spin_loop(ticks, duration_ticks, threshold, log);
    let end = (ticks.ticks(), monotonic_ns());
    log.settle(Some(end.0));
    let kernel = span.finish();
    Timed {
        origin,
        iterations,
        loop_ns: end.1.saturating_sub(mono_before),
        kernel,
        to_mono: ToMono::between((origin, mono_before), end),
    }
}

/// Where interrupts were not counted per gap: names the kept `unreported` gaps that cover
/// the timer tick's phase (see [`tick`](super::tick)) `interrupt`, moving them between the
/// tallies; returns the tick found, or why none was. The spin's time on the CPU, which the
/// fit needs, is its `wall_ns` less its gaps.
fn name_the_tick(
    gaps: &mut [Gap],
    tallies: &mut ByCause<Tally>,
    to_mono: &ToMono,
    wall_ns: u64,
    accounting: &Accounting,
) -> Result<TickFit, String> {
    let lost_ns: u64 = tallies.iter().map(|(_, t)| t.total_ns).sum();
    let on_cpu_ns = wall_ns.saturating_sub(lost_ns);
    let hz = match accounting.tick_hz {
        None => return Err("the kernel's HZ is unknown".into()),
        Some(_) if nohz_full_cpus() => return Err("nohz_full CPUs may run without a tick".into()),
        Some(hz) => u64::from(hz.max(1)),
    };
    let period_ns = 1_000_000_000 / hz;
    let candidates: Vec<(u64, u64)> = gaps
        .iter()
        .filter(|g| g.cause == Cause::Unreported)
        .map(|g| (to_mono.mono_ns(g.start_tick), g.len_ns))
        .collect();
    let tick = fit(&candidates, period_ns, on_cpu_ns as f64 / period_ns as f64)?;
    for g in gaps.iter_mut() {
        if g.cause == Cause::Unreported && tick.covers(to_mono.mono_ns(g.start_tick), g.len_ns) {
            g.reattribute(Cause::Interrupt, tallies);
        }
    }
    Ok(tick)
}

/// The calling thread's id (`gettid`).
fn thread_id() -> u64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    #[cfg(target_os = "linux")]
    let tid = unsafe { libc::gettid() } as u64;
    #[cfg(not(target_os = "linux"))]
    let tid = 0;
    tid
}

/// From the spin clock's ticks to `CLOCK_MONOTONIC`, by the line through two readings of
/// both taken around the loop: exact at both ends whatever the calibration's error.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ToMono {
    tick: u64,
    mono_ns: u64,
    ns_per_tick: f64,
}

impl ToMono {
    fn between((t0, m0): (u64, u64), (t1, m1): (u64, u64)) -> ToMono {
        ToMono {
            tick: t0,
            mono_ns: m0,
            ns_per_tick: m1.saturating_sub(m0) as f64 / t1.saturating_sub(t0).max(1) as f64,
        }
    }

    /// `CLOCK_MONOTONIC` at tick `tick`, ns.
    pub fn mono_ns(&self, tick: u64) -> u64 {
        let ticks = tick as f64 - self.tick as f64;
        (self.mono_ns as f64 + ticks * self.ns_per_tick) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that advances 10 ticks a read, plus a scripted jump at given read numbers.
    struct Scripted {
        reads: std::cell::Cell<u64>,
        now: std::cell::Cell<u64>,
        jumps: Vec<(u64, u64)>,
    }
    impl Ticks for Scripted {
        fn ticks(&self) -> u64 {
            let read = self.reads.get() + 1;
            self.reads.set(read);
            let jump = self
                .jumps
                .iter()
                .find(|(at, _)| *at == read)
                .map_or(0, |j| j.1);
            self.now.set(self.now.get() + 10 + jump);
            self.now.get()
        }
    }

    fn tally<A>(log: &GapLog<A>, cause: Cause) -> (u64, u64, u64) {
        let t = log.tallies[cause];
        (t.count, t.total_ns, t.wait_ns)
    }

    fn scripted(jumps: Vec<(u64, u64)>) -> Scripted {
        Scripted {
            reads: Default::default(),
            now: Default::default(),
            jumps,
        }
    }

    /// Names every gap it is given `Stolen` with 7 ns of wait, and remembers them and how
    /// many times it was told to forget one.
    #[derive(Default)]
    struct Recording(Vec<(u64, u64)>, u32);
    const STOLEN: Attribution = Attribution {
        cause: Cause::Stolen,
        switches: 0,
        wait_ns: 7,
        host: None,
        delta: None,
        depth: Depth::Counts,
    };
    impl Attribute for Recording {
        fn attribute(&mut self, end: u64, len: u64) -> Attribution {
            self.0.push((end, len));
            STOLEN
        }

        fn undo(&mut self) {
            self.1 += 1;
        }
    }

    fn log(capacity: usize, attribute_ticks: u64, allowance_ticks: u64) -> GapLog<Recording> {
        log_with(
            Recording::default(),
            capacity,
            attribute_ticks,
            allowance_ticks,
        )
    }

    fn log_with<A>(
        attributor: A,
        capacity: usize,
        attribute_ticks: u64,
        allowance_ticks: u64,
    ) -> GapLog<A> {
        let allowance = Allowance {
            counts: allowance_ticks,
            cpu: allowance_ticks,
            full: allowance_ticks,
        };
        GapLog::new(attributor, capacity, attribute_ticks, allowance)
    }

    #[test]
    fn the_loop_records_gaps_above_the_threshold_and_attributes_the_long_ones() {
        let clock = scripted(vec![(10, 5), (20, 500), (100, 50)]);
        let mut log = log(8, 100, 10);
        let (_, iterations) = spin_loop(&clock, 2_000, 40, &mut log);
        // Reads 10 ticks apart; the +5 jump stays under 40, the +500 and +50 do not.
        assert_eq!(log.kept.len(), 2);
        // Read 19 is at 195 (10 a read, +5 at read 10), 185 after the start read.
        assert_eq!(log.kept[0], (185, 510, STOLEN));
        assert_eq!(log.kept[1].1, 60);
        assert_eq!(log.kept[1].2, SHORT);
        // Only the 510-tick gap was long enough to attribute; it ended at read 20, tick 705.
        assert_eq!(log.attributor.0, vec![(705, 510)]);
        assert_eq!(tally(&log, Cause::Stolen), (1, 510, 7));
        assert_eq!(tally(&log, Cause::Short), (1, 60, 0));
        // The reads after it took one clock read (10 ticks), within the allowance.
        assert_eq!(log.read_ticks, 10);
        assert!(iterations > 100);
    }

    #[test]
    fn reads_past_their_allowance_continue_the_gap_attributed_again_as_one() {
        // The clock jumps 300 at read 21, the one taken right after the attribution's reads:
        // something took the CPU during them, and their counters may already show it.
        let clock = scripted(vec![(20, 500), (21, 300)]);
        let mut log = log(8, 100, 10);
        spin_loop(&clock, 2_000, 40, &mut log);
        assert_eq!(log.kept.len(), 1, "{:?}", log.kept);
        // Read 19 at 190 (180 after the start read), read 20 at 700, read 21 at 1010: one gap
        // of 820 ticks, attributed first up to read 20, then, forgotten, again up to read 21.
        assert_eq!(log.kept[0], (180, 820, STOLEN));
        assert_eq!(log.attributor.0, vec![(700, 510), (1010, 820)]);
        assert_eq!(log.attributor.1, 1);
        // Only the reads that kept within their allowance are skipped over: read 22, 10 later.
        assert_eq!(log.read_ticks, 10);
    }

    #[test]
    fn reads_that_keep_overrunning_end_the_gap_after_the_last_attempt() {
        // Every read after an attribution jumps: the fourth attempt keeps the gap, and the
        // rest of its reads is the next gap.
        let jumps = (20..=24).map(|read| (read, if read == 20 { 500 } else { 300 }));
        let clock = scripted(jumps.collect());
        let mut log = log(8, 100, 10);
        spin_loop(&clock, 3_000, 40, &mut log);
        assert_eq!(log.attributor.1, MAX_ATTRIBUTIONS_PER_GAP - 1);
        let (start, len, _) = log.kept[0];
        assert_eq!((start, len), (180, 510 + 3 * 310));
        assert_eq!(log.kept[1].0, start + len + 10);
    }

    /// Names every gap unreported from counters that show `switches` switches from the
    /// second reading on.
    struct Counted {
        switches: u64,
        calls: u64,
    }
    impl Attribute for Counted {
        fn attribute(&mut self, _end: u64, _len: u64) -> Attribution {
            self.calls += 1;
            let switches = if self.calls > 1 { self.switches } else { 0 };
            let delta = Delta {
                wall_ns: 0,
                cpu_ns: 0,
                switches,
                wait_ns: 0,
                throttled: false,
                throttled_ns: 0,
                interrupts: Some(0),
                cpu_gaps: 1,
            };
            Attribution {
                switches,
                ..Attribution::of_host(Cause::Unreported, Some(delta))
            }
        }

        fn undo(&mut self) {}
    }

    #[test]
    fn reads_that_overran_with_nothing_counted_in_them_are_the_reads_cost_not_the_gaps() {
        // The reads after the gap at read 20 take 30 ticks, past the allowance of 20; the
        // second reading, through them, counts what the first did: they were only slow.
        let mut log = log_with(
            Counted {
                switches: 0,
                calls: 0,
            },
            8,
            100,
            20,
        );
        spin_loop(&scripted(vec![(20, 500), (21, 30)]), 1_000, 40, &mut log);
        assert_eq!(log.attributor.calls, 2);
        assert_eq!(log.kept[0].1, 510, "the gap as first read");
        // Both readings' reads are skipped: 40 ticks to read 21, 10 more to read 22.
        assert_eq!(log.read_ticks, 50);
        // A switch counted in the second reading: the reads were interrupted, and the gap
        // goes on through them.
        let mut log = log_with(
            Counted {
                switches: 1,
                calls: 0,
            },
            8,
            100,
            20,
        );
        spin_loop(&scripted(vec![(20, 500), (21, 30)]), 1_000, 40, &mut log);
        assert_eq!(log.kept[0].1, 550);
        assert_eq!(log.read_ticks, 10);
    }

    /// Names every gap unreported, from a reading of `depth`, and counts the calls.
    struct Reading {
        depth: Depth,
        calls: u32,
    }
    impl Attribute for Reading {
        fn attribute(&mut self, _end: u64, _len: u64) -> Attribution {
            self.calls += 1;
            Attribution {
                cause: Cause::Unreported,
                switches: 0,
                wait_ns: 0,
                host: None,
                delta: None,
                depth: self.depth,
            }
        }

        fn undo(&mut self) {}
    }

    #[test]
    fn each_kind_of_reading_has_its_own_allowance() {
        // The reads after the gap at read 20 take 40 ticks: within a full reading's 100, past
        // the others' (a switch could have hidden in them).
        for (depth, calls, len) in [
            (Depth::Full, 1, 510),
            (Depth::Cpu, 2, 550),
            (Depth::Counts, 2, 550),
        ] {
            let mut log = log_with(Reading { depth, calls: 0 }, 8, 100, 0);
            log.allowance = Allowance {
                counts: 10,
                cpu: 20,
                full: 100,
            };
            spin_loop(&scripted(vec![(20, 500), (21, 30)]), 1_000, 40, &mut log);
            assert_eq!(log.attributor.calls, calls, "{depth:?}");
            assert_eq!(log.kept[0].1, len, "{depth:?}");
        }
    }

    /// Names every gap unreported, its cause awaiting the CPU clock but at every `every`th
    /// call; settles a batch by naming it stolen, and remembers the batches.
    struct Batched {
        calls: u32,
        every: u32,
        batches: Vec<(usize, Option<u64>)>,
    }
    impl Attribute for Batched {
        fn attribute(&mut self, _end: u64, _len: u64) -> Attribution {
            self.calls += 1;
            let delta = Delta {
                wall_ns: 0,
                cpu_ns: 0,
                switches: 0,
                wait_ns: 0,
                throttled: false,
                throttled_ns: 0,
                interrupts: Some(0),
                cpu_gaps: u32::from(self.calls.is_multiple_of(self.every)),
            };
            Attribution::of_host(Cause::Unreported, Some(delta))
        }

        fn undo(&mut self) {}

        fn settle(&mut self, gaps: &mut [(u64, u64, Attribution)], read_at: Option<u64>) {
            self.batches.push((gaps.len(), read_at));
            gaps.iter_mut().for_each(|g| g.2.cause = Cause::Stolen);
        }
    }

    #[test]
    fn gaps_that_await_the_cpu_clock_are_kept_once_it_is_read_and_in_order() {
        let batched = Batched {
            calls: 0,
            every: 3,
            batches: Vec::new(),
        };
        let mut log = log_with(batched, 8, 5, 1_000);
        // Each read of the clock 100 ticks on: after each gap's end.
        let clock = stepped(|_| 100);
        log.record(&clock, 0, 0, 10);
        log.record(&clock, 0, 20, 22);
        log.record(&clock, 0, 30, 40);
        assert_eq!(log.kept.len(), 1, "only the short gap, kept at once");
        log.record(&clock, 0, 50, 60);
        assert_eq!(log.attributor.batches, [(3, None)]);
        assert_eq!(tally(&log, Cause::Stolen), (3, 30, 0));
        log.record(&clock, 0, 70, 80);
        log.settle(Some(999));
        assert_eq!(log.attributor.batches, [(3, None), (1, Some(999))]);
        let clock = Clock {
            kind: Kind::Monotonic,
            ns_per_tick: 1.0,
            reason: String::new(),
        };
        let starts: Vec<u64> = log.in_ns(&clock, 0).0.iter().map(|g| g.start_ns).collect();
        assert_eq!(starts, [0, 20, 30, 50, 70]);
    }

    /// Names every gap preempted, 4 ticks of it an unreported host pause, with 9 ns of wait.
    struct HostThenPreempted;
    impl Attribute for HostThenPreempted {
        fn attribute(&mut self, _end: u64, _len: u64) -> Attribution {
            Attribution {
                cause: Cause::Preempted,
                switches: 1,
                wait_ns: 9,
                host: Some((Cause::Unreported, 4)),
                delta: None,
                depth: Depth::Counts,
            }
        }

        fn undo(&mut self) {}
    }

    #[test]
    fn a_gap_mostly_the_hosts_is_kept_as_the_pause_then_the_wait() {
        let mut log = log_with(HostThenPreempted, 4, 2, 100);
        // The clock's next read, 10, is 4 ticks of reads after the gap's end.
        log.record(&scripted(vec![]), 0, 0, 6);
        let [(pause_start, pause, first), (wait_start, wait, second)] = log.kept[..] else {
            panic!("{:?}", log.kept);
        };
        assert_eq!((pause_start, pause, first.cause), (0, 4, Cause::Unreported));
        assert_eq!((wait_start, wait, second.cause), (4, 2, Cause::Preempted));
        // One switch, its wait with the preempted part; the pause counts as a gap.
        assert_eq!((log.preemptions_count, log.switches_in_gaps_count), (1, 1));
        assert_eq!(tally(&log, Cause::Unreported), (1, 4, 0));
        assert_eq!(tally(&log, Cause::Preempted), (1, 2, 9));
    }

    #[test]
    fn a_full_log_keeps_counting() {
        let mut log = log(1, 1_000, 0);
        let clock = scripted(vec![]);
        log.record(&clock, 0, 0, 5);
        log.record(&clock, 0, 10, 17);
        assert_eq!(log.kept.len(), 1);
        assert_eq!(tally(&log, Cause::Short), (2, 12, 0));
    }

    /// A clock whose `n`th read (from 1) advances it by `step(n)` ticks.
    struct Stepped<F>(std::cell::Cell<u64>, std::cell::Cell<u64>, F);
    impl<F: Fn(u64) -> u64> Ticks for Stepped<F> {
        fn ticks(&self) -> u64 {
            self.0.set(self.0.get() + 1);
            self.1.set(self.1.get() + (self.2)(self.0.get()));
            self.1.get()
        }
    }
    fn stepped<F: Fn(u64) -> u64>(step: F) -> Stepped<F> {
        Stepped(Default::default(), Default::default(), step)
    }

    /// This host's TSC: reads 26 or 52 ticks apart, and once in a while 1 tick apart (here
    /// within the calibration, where the smallest delta used to set the threshold).
    fn quantized_tsc(read: u64) -> u64 {
        match read {
            7 => 1,
            r if r % 2 == 0 => 26,
            _ => 52,
        }
    }

    #[test]
    fn a_rare_one_tick_delta_does_not_set_the_threshold() {
        let clock = stepped(quantized_tsc);
        let iteration = iteration_ticks(&clock);
        assert_eq!(iteration, 26, "the median of 26 and 52 a read, half each");
        // Spun under 8 × that, the quantized steps are never gaps.
        let mut log = log(8, 10_000, 10);
        let (_, iterations) = spin_loop(
            &clock,
            1_000_000,
            iteration * AUTO_THRESHOLD_FACTOR,
            &mut log,
        );
        assert_eq!(log.tallies[Cause::Short].count, 0);
        assert!(iterations > 20_000, "{iterations}");
    }

    #[test]
    fn a_clock_read_through_a_system_call_sets_a_threshold_above_its_read() {
        // Xen's or the HPET's clocksource: 0.5 to 2 µs a read.
        let clock = stepped(|read| 500 + (read * 7919) % 1_500);
        let iteration = iteration_ticks(&clock);
        assert!((1_000..=1_500).contains(&iteration), "{iteration}");
        let mut log = log(8, 100_000, 10);
        spin_loop(
            &clock,
            10_000_000,
            iteration * AUTO_THRESHOLD_FACTOR,
            &mut log,
        );
        assert_eq!(log.tallies[Cause::Short].count, 0);
    }

    #[test]
    fn a_coarse_clock_sets_its_resolution_not_zero() {
        // A clock that moves 4 ms at a time (a jiffies clocksource at 250 Hz), read 20 ns
        // apart: most reads see no change.
        let clock = stepped(|read| if read % 200_000 == 0 { 4_000_000 } else { 0 });
        let many = stepped(|read| if read % 1_000 == 0 { 4_000_000 } else { 0 });
        assert_eq!(iteration_ticks(&many), 4_000_000);
        assert_eq!(
            iteration_ticks(&clock),
            1,
            "no change seen: at least one tick"
        );
    }

    #[test]
    fn a_threshold_under_the_loops_own_cost_is_raised_and_the_spin_done_again() {
        // Calibration sees reads 10 ticks apart (threshold 80); then every read is 100 apart.
        let clock = stepped(|read| {
            if read <= CALIBRATION_READS as u64 + 1 {
                10
            } else {
                100
            }
        });
        let choice = Clock {
            kind: Kind::Monotonic,
            ns_per_tick: 1.0,
            reason: "scripted".into(),
        };
        let record =
            spin_checked(&clock, &choice, Duration::from_millis(2), None, 100_000).unwrap();
        let raised = record.raised.expect("raised");
        assert_eq!(raised.from_ns, 80);
        assert!(raised.gaps_per_iteration_ratio > 0.99, "{raised:?}");
        assert_eq!(record.threshold_ns, 640);
        assert_eq!(record.gaps_count(), 0);
        assert_eq!(record.read_delta_ns, 10);
    }

    #[test]
    fn a_short_spin_sees_a_sleep_free_loop_and_every_gap_is_tallied() {
        let clock = Clock::detect();
        let record = spin(&clock, Duration::from_millis(50), None, 2_000).unwrap();
        assert!(record.duration_ns >= 50_000_000);
        assert!(
            record.read_delta_ns < 1_000,
            "{} ns between clock reads",
            record.read_delta_ns
        );
        assert!(record.threshold_ns >= record.read_delta_ns);
        assert!(
            record.gaps_per_iteration() <= MAX_GAPS_PER_ITERATION,
            "{record:?}"
        );
        assert!(record.attribute_threshold_ns >= 1_900, "{record:?}");
        assert!(record.iterations > 10_000);
        assert_eq!(record.gaps.len() as u64, record.gaps_count());
        for cause in Cause::ALL {
            let kept = record.gaps.iter().filter(|g| g.cause == cause);
            assert_eq!(kept.count() as u64, record.tally(cause).count, "{cause:?}");
        }
    }

    #[test]
    fn absurd_thresholds_are_refused() {
        let clock = Clock::detect();
        let error = spin(&clock, Duration::from_millis(1), Some(0), 2_000).unwrap_err();
        assert!(matches!(error, SpinError::ThresholdBelowIteration { .. }));
    }
}
