//! Who took each gap: after a long enough gap the spinning thread reads its own kernel
//! counters, which tell the scheduler, the hypervisor and an interrupt apart where the gap's
//! length cannot ([`classify`]; [`host_part`] and [`settle`] where one reading spans two).

use super::cause::Cause;
use crate::signal::cgroup::{CgroupReader, CpuStat};
use crate::signal::clock::thread_cpu_ns;
use crate::signal::kconfig::Accounting;
use crate::signal::perf::ThreadCounters;
use crate::signal::rusage::{self, Who};
use crate::signal::schedstat::ThreadSchedstat;

/// Gaps shorter than this are `short` noise, counted but not attributed. A switch out and
/// back in takes longer than this (the quickest measured here: 6 µs), so no preemption hides
/// among short gaps; and the reads cost about 0.8 µs warm, more right after a gap (the
/// thread's CPU clock and the perf ring: `cargo bench --bench overhead -- attribution`), so
/// attribution costs less than the gaps it explains. Measured on a 2-vCPU KVM guest: about
/// 530 gaps a second of 1 µs or more when idle, most of them 20–50 µs at the timer tick's
/// rate (250 Hz): the host's emulation of the guest's timer.
pub const DEFAULT_ATTRIBUTE_THRESHOLD_NS: u64 = 2_000;

/// The reads after a gap may take up to this many times their calibrated median (that of
/// the same kind of reading: the switch count and CPU clock alone, or every counter);
/// longer, something took the CPU during them, and the gap goes on through them. A switch
/// out and back took 4.5 µs at the quickest in the kernel's trace here, above 3 × the quick
/// reading's ~1 µs, so a quick reading within its allowance had no switch in them; and a
/// preemption or throttle often lands during the reads (Linux 6.x throttles a task on its
/// way back to user space). Without the allowance, one throttle in about 200 in the cgroup
/// v2 guest was read with a 6 µs gap just before it and came out as steal. With one
/// allowance for both kinds, 3 × the full reading's median (schedstat's file too), a switch
/// of 4.5–5.6 µs hid in the reads about once in 250 (`tests/tracer.rs`, without perf).
pub const READ_ALLOWANCE_FACTOR: u64 = 3;

/// The thread's CPU clock is read right after a gap at least this long. After shorter ones it
/// is read once for several ([`settle`]): it is the dearest of the reads (0.8 µs warm in this
/// VM, 3–13 µs right after a long gap, against 0.05–2 µs for the perf ring), and only it
/// tells steal from a pause the host did not report. Steal here came in gaps of 40 µs to
/// 3.3 ms, most of 50–180 µs, and a reading of several gives its steal to the longest; gaps
/// of 200 µs or more were about 1 a second of the 1,400 attributed. Read after every gap, the
/// reads cost 0.14–0.69% of the spin; read so, 0.05–0.21% (alternated, 2026-11-28).
pub const CPU_READ_GAP_NS: u64 = 200_000;

/// The CPU clock is read at least this often (at the next attributed gap after it)...
pub const CPU_READ_EVERY_NS: u64 = 20_000_000;

/// ...and once in this many attributed gaps: about 45 readings a second here.
pub const MAX_GAPS_PER_CPU_READING: u32 = 32;

/// What the thread's counters did between the previous reading and the one after a gap
/// (in the gap log, as the evidence for its cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Delta {
    /// Wall time between the two readings, ns.
    pub wall_ns: u64,
    /// Thread CPU time between them, ns.
    pub cpu_ns: u64,
    /// Involuntary context switches of the thread (`getrusage`), or without it the times it
    /// was put on a CPU (schedstat).
    pub switches: u64,
    /// Run-queue wait (schedstat), ns.
    #[serde(rename = "runqueue_wait_ns")]
    pub wait_ns: u64,
    /// The cgroup's throttled count or time moved.
    pub throttled: bool,
    /// The cgroup's throttled time (`cpu.stat`), ns; 0 where it has none.
    pub throttled_ns: u64,
    /// The guest kernel's interrupts that hit the thread (its tracepoints, through perf);
    /// `None` where they cannot be counted.
    pub interrupts: Option<u64>,
    /// How many attributed gaps in a row the CPU time reading spans, this one among them: 1,
    /// read right after this gap; more, `wall_ns` and `cpu_ns` span all of them ([`settle`]);
    /// 0, not read yet.
    #[serde(rename = "cpu_reading_gaps")]
    pub cpu_gaps: u32,
}

/// What a gap the thread was not switched out for leaves in its CPU time, by the kernel's
/// accounting ([`Accounting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Steal is kept out of the thread's CPU time (`CONFIG_PARAVIRT_TIME_ACCOUNTING`).
    pub steal_shows: bool,
    /// Interrupt time is kept out of it too (`CONFIG_IRQ_TIME_ACCOUNTING`).
    pub irq_shows: bool,
}

impl Rules {
    pub fn of(accounting: &Accounting) -> Rules {
        Rules {
            steal_shows: accounting.steal_shows(),
            irq_shows: accounting.irq_shows(),
        }
    }
}

/// The cause of a gap of `gap_ns` that ended the interval `d` describes, under the kernel's
/// accounting `rules`. A throttle is told by the cgroup's counters: after a switch, or,
/// without one, when the thread's CPU time fell short of the gap as it does for steal. A gap
/// not switched out is `stolen` when half of it or more is missing from the thread's CPU time
/// (where steal shows there, and it is not interrupt time that shows), `interrupt` when a
/// guest interrupt hit the thread, else `unreported`.
pub fn classify(gap_ns: u64, d: &Delta, rules: Rules) -> Cause {
    cause(
        missed_most(d.wall_ns.saturating_sub(d.cpu_ns), gap_ns),
        d,
        rules,
    )
}

/// Whether `missing_ns` of CPU time is at least half a gap of `gap_ns`: the thread was not
/// running for most of it.
fn missed_most(missing_ns: u64, gap_ns: u64) -> bool {
    missing_ns.saturating_mul(2) >= gap_ns
}

/// The cause of a gap that `d` describes, given whether the thread's CPU time missed most of
/// it (`not_running`).
fn cause(not_running: bool, d: &Delta, rules: Rules) -> Cause {
    let interrupted = d.interrupts.is_some_and(|n| n > 0);
    if d.switches > 0 {
        return if d.throttled {
            Cause::Throttled
        } else {
            Cause::Preempted
        };
    }
    match (d.throttled, not_running, interrupted) {
        (true, true, _) => Cause::Throttled,
        (_, true, true) if rules.irq_shows => Cause::Interrupt,
        (_, true, _) if rules.steal_shows => Cause::Stolen,
        (_, _, true) => Cause::Interrupt,
        (_, _, false) => Cause::Unreported,
    }
}

/// A part of a gap not covered by the kernel's own account of it at least this long is the
/// host's whatever the gap's length. A throttle's gap in the test guest was 0.8 ms longer than
/// the cgroup's throttled time on average (the switches out and back), and a preemption's
/// run-queue wait differs from its gap by ±35 µs here.
pub const HOST_PART_MIN_NS: u64 = 2_000_000;

/// A part not covered shorter than this is the switch's own cost (the interrupt that caused
/// it, the scheduler, two context switches and their VM exits), however large a share of a
/// short gap it is. Checked against the kernel's tracer (`tests/tracer.rs`): beside a waker
/// every 10 ms, preemptions of 30–50 µs had 20–46 µs not covered by their run-queue wait, and
/// the tracer put the switch at the start of those parts, not after a host pause.
pub const SWITCH_COST_MAX_NS: u64 = 200_000;

/// The part of a switched gap of `gap_ns` that the kernel's account of it, `covered_ns`, does
/// not cover (the run-queue wait of a preemption, the cgroup's throttled time of a throttle),
/// with its cause, when that is at least [`HOST_PART_MIN_NS`], or more than half the gap and
/// at least [`SWITCH_COST_MAX_NS`]; `None` otherwise. Smaller parts are the switch's own cost
/// and the noise between the spin's clock and the scheduler's, and stay with the switch.
///
/// Such a part was the host's: it paused the vCPU, and on its return the scheduler switched
/// the thread out, or the pause ran on past the throttle; the gap is then two, the host's
/// part first. Measured here: five such gaps took 2.3% of an idle spin while the run-queue
/// wait was 0.01%; in the test guest, a 98 ms "throttle" of a 70 ms quota gap.
pub fn host_part(gap_ns: u64, covered_ns: u64, d: &Delta, rules: Rules) -> Option<(Cause, u64)> {
    let rest_ns = gap_ns.saturating_sub(covered_ns);
    let most = rest_ns.saturating_mul(2) > gap_ns && rest_ns >= SWITCH_COST_MAX_NS;
    if !most && rest_ns < HOST_PART_MIN_NS {
        return None;
    }
    // CPU time the thread lacks beyond the covered part: what the steal clock took out.
    let stolen_ns = d
        .wall_ns
        .saturating_sub(d.cpu_ns)
        .saturating_sub(covered_ns);
    let cause = if rules.steal_shows && missed_most(stolen_ns, rest_ns) {
        Cause::Stolen
    } else {
        Cause::Unreported
    };
    Some((cause, rest_ns))
}

/// The gaps since the thread's CPU clock was last read, settled by one reading of it: `wall_ns`
/// of wall time and `cpu_ns` of CPU time over them all. The reading cannot say which gap lost
/// the CPU time missing from it, so a switched gap, off the CPU throughout, takes its whole
/// length first; then the others, longest first, each take their length while at least half
/// of it is left ([`classify`]'s rule). One gap is settled exactly as [`classify`] would; of
/// several, the CPU time missing (steal) goes to the longest that it covers. `gaps` are
/// `(start, length, attribution)`, lengths in ns by `ns`, at most
/// [`MAX_GAPS_PER_CPU_READING`] (the rest are left as they are). Allocates nothing.
pub fn settle(
    gaps: &mut [(u64, u64, Attribution)],
    ns: impl Fn(u64) -> u64,
    (wall_ns, cpu_ns): (u64, u64),
    rules: Rules,
) {
    let kept = gaps.len().min(MAX_GAPS_PER_CPU_READING as usize);
    let gaps = &mut gaps[..kept];
    let cpu_gaps = gaps.len() as u32;
    let switched_ns: u64 = gaps
        .iter()
        .filter(|(_, _, a)| a.switches > 0)
        .map(|&(_, len, _)| ns(len))
        .sum();
    let mut left_ns = wall_ns.saturating_sub(cpu_ns).saturating_sub(switched_ns);
    let mut order = [0usize; MAX_GAPS_PER_CPU_READING as usize];
    let order = &mut order[..gaps.len()];
    order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
    order.sort_unstable_by_key(|&i| (std::cmp::Reverse(gaps[i].1), i));
    for &i in order.iter() {
        let (_, len, attribution) = &mut gaps[i];
        let Some(d) = attribution.delta.as_mut() else {
            continue;
        };
        (d.wall_ns, d.cpu_ns, d.cpu_gaps) = (wall_ns, cpu_ns, cpu_gaps);
        if attribution.switches > 0 {
            continue;
        }
        let gap_ns = ns(*len);
        let lost = missed_most(left_ns, gap_ns);
        if lost {
            left_ns = left_ns.saturating_sub(gap_ns);
        }
        attribution.cause = cause(lost, d, rules);
    }
}

/// A gap's cause, and what the kernel counted over the interval it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribution {
    pub cause: Cause,
    /// How far the thread's involuntary switches moved over the interval: times the
    /// scheduler took the CPU away. More than one in a gap happens: the thread can be switched
    /// out again before it is back in user space to read the clock.
    pub switches: u64,
    pub wait_ns: u64,
    /// The gap's first part, in ticks, when it was the host's and not the scheduler's (see
    /// [`host_part`]), with its cause; the rest of the gap is `cause`.
    pub host: Option<(Cause, u64)>,
    /// The counters it was decided from; `None` for a gap too short to attribute.
    pub delta: Option<Delta>,
    /// Which counters the reading after the gap took.
    pub depth: Depth,
}

/// Which counters a reading after a gap took: each adds reads, and time, to the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The switch and interrupt counts alone; the CPU clock is read after a later gap.
    Counts,
    /// The CPU clock as well.
    Cpu,
    /// Every counter: the run-queue wait and the cgroup's as well (the gap was switched, or
    /// its CPU time fell short).
    Full,
}

impl Attribution {
    /// Whether its cause waits on a later reading of the CPU clock ([`settle`]).
    pub fn awaits_cpu(&self) -> bool {
        self.delta.is_some_and(|d| d.cpu_gaps == 0)
    }

    /// Whether the kernel counted nothing between `earlier`, a reading of the same gap whose
    /// reads overran their allowance, and this reading of the gap through those reads: no
    /// switch, interrupt, throttle or run-queue wait, and the same cause. The reads were then
    /// slow, not interrupted (their caches cold after the gap: more than half the reads after
    /// a gap overran here, by about 4 µs each), and are the reads' cost, not the gap's. Not
    /// the CPU time between the two readings: each reads the CPU clock partway through, the
    /// slow one later, so that time falls short of the reads' even when nothing ran. A host
    /// pause that landed in the reads and did not change the cause is lost, as any pause in
    /// the reads is. `false` where either has no counters.
    pub fn quiet_since(&self, earlier: &Attribution) -> bool {
        let (Some(now), Some(then)) = (self.delta, earlier.delta) else {
            return false;
        };
        let counted = |d: Delta| {
            (
                d.switches,
                d.interrupts,
                d.wait_ns,
                d.throttled,
                d.throttled_ns,
            )
        };
        self.cause == earlier.cause && counted(now) == counted(then)
    }

    /// The host's part of a gap, told apart from the switch that ended it; `delta` is the
    /// whole gap's.
    pub const fn of_host(cause: Cause, delta: Option<Delta>) -> Attribution {
        Attribution {
            cause,
            switches: 0,
            wait_ns: 0,
            host: None,
            delta,
            depth: Depth::Counts,
        }
    }
}

/// The counters read after a gap.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    /// The thread's CPU time when the CPU clock was last read, at tick `cpu_at`, and the
    /// attributed gaps since.
    cpu_ns: u64,
    cpu_at: u64,
    gaps_since_cpu: u32,
    switches: u64,
    wait_ns: u64,
    throttle: (u64, u64),
    interrupts: u64,
}

/// Reads the spinning thread's counters after each long gap and classifies it. Made on the
/// thread it describes (its schedstat file is that thread's); nothing allocates after `new`.
pub struct Attributor {
    schedstat: ThreadSchedstat,
    /// The CPU cgroup, when it (or an ancestor) has a quota: its `cpu.stat` is read first
    /// after every attributed gap.
    cgroup: Option<CgroupReader>,
    /// The thread's switch and interrupt counters (perf), or why there are none.
    counters: Result<ThreadCounters, String>,
    rules: Rules,
    last: Reading,
    /// When `last` was read, in the spin clock's ticks.
    last_at: u64,
    /// The baseline before the latest attribution, and when it was read, for [`Attributor::undo`].
    before: (Reading, u64),
    ns_per_tick: f64,
    /// [`CPU_READ_GAP_NS`] and [`CPU_READ_EVERY_NS`] in ticks.
    cpu_read_gap: u64,
    cpu_read_every: u64,
    /// The cgroup's throttling counters at the last restart.
    start_throttle: (u64, u64),
}

impl Attributor {
    /// Reads the counters once, as the baseline for the first gap; `at` is now in ticks.
    /// Gaps are classified by `rules`; interrupts are counted where the kernel allows.
    pub fn new(ns_per_tick: f64, at: u64, rules: Rules) -> Attributor {
        let cgroup = CgroupReader::detect()
            .ok()
            .filter(|c| c.quota().is_ok_and(|q| q.quota_us.is_some()));
        let mut attributor = Attributor {
            schedstat: ThreadSchedstat::new(),
            cgroup,
            counters: ThreadCounters::open(),
            rules,
            last: Reading::default(),
            last_at: at,
            before: (Reading::default(), at),
            ns_per_tick,
            cpu_read_gap: (CPU_READ_GAP_NS as f64 / ns_per_tick) as u64,
            cpu_read_every: (CPU_READ_EVERY_NS as f64 / ns_per_tick) as u64,
            start_throttle: (0, 0),
        };
        attributor.restart(at);
        attributor
    }

    /// Takes a new baseline reading at tick `at` (after calibration, say).
    pub fn restart(&mut self, at: u64) {
        self.last = self.read_all(at);
        self.last_at = at;
        self.start_throttle = self.last.throttle;
    }

    /// The cgroup's throttled time since the last restart, ns (read now); `None` when the
    /// cgroup has no quota or cannot be read.
    pub fn throttled_since_restart(&mut self) -> Option<u64> {
        self.cgroup
            .as_mut()?
            .read_stat()
            .ok()?
            .throttled_ns?
            .checked_sub(self.start_throttle.1)
    }

    /// Whether a throttle can be told from a preemption (the cgroup has a quota and is readable).
    pub fn sees_throttling(&self) -> bool {
        self.cgroup.is_some()
    }

    /// The interrupt tracepoints counted per gap, or why interrupts are not counted.
    pub fn interrupt_events(&self) -> Result<&[String], &str> {
        match &self.counters {
            Ok(counters) => Ok(counters.events()),
            Err(why) => Err(why),
        }
    }

    /// Every counter, as a baseline (and in calibration: the most a reading costs).
    fn read_all(&mut self, at: u64) -> Reading {
        let (switches, interrupts) = self.read_switches();
        Reading {
            switches,
            interrupts,
            cpu_ns: thread_cpu_ns(),
            cpu_at: at,
            gaps_since_cpu: 0,
            wait_ns: self.read_wait(),
            throttle: self.read_throttle(),
        }
    }

    /// The thread's switch count and the interrupts that hit it, from the perf group where it
    /// is open (its ring buffer's samples, or one `read`; the last reading if that fails: the two counts have
    /// other baselines than `getrusage`'s, and mixing them would invent switches); else
    /// `getrusage`'s involuntary switches, and no interrupts.
    ///
    /// Not schedstat's schedule-in count, which can be late: Debian's 6.1 under qemu counted
    /// 7 of 10 throttles of a nested cgroup there not at all, and the others a tick or more
    /// after the thread ran again; `getrusage` counted every one, and perf's
    /// `context-switches` counts at the same place in the scheduler.
    fn read_switches(&mut self) -> (u64, u64) {
        if let Ok(counters) = &mut self.counters {
            let last = (self.last.switches, self.last.interrupts);
            return counters.read().map_or(last, |c| (c.switches, c.interrupts));
        }
        let switches = match rusage::read(Who::Thread) {
            Ok(usage) => usage.involuntary_switches,
            Err(_) => self
                .schedstat
                .read()
                .map_or(self.last.switches, |s| s.timeslices),
        };
        (switches, self.last.interrupts)
    }

    /// The thread's run-queue wait (schedstat), ns (the last one if it cannot be read).
    fn read_wait(&mut self) -> u64 {
        self.schedstat
            .read()
            .map_or(self.last.wait_ns, |s| s.wait_ns)
    }

    /// The cgroup's throttling counters now (the last ones if it cannot be read).
    fn read_throttle(&mut self) -> (u64, u64) {
        match &mut self.cgroup {
            Some(cgroup) => cgroup.read_stat().map_or(self.last.throttle, throttle),
            None => self.last.throttle,
        }
    }

    /// Classifies the gap of `len` ticks that ended at tick `end`, from the counters now:
    /// the switch count (with the interrupts, where perf counts them) first, as it moves when
    /// the scheduler takes the CPU away; then the CPU clock, when it is due
    /// ([`Attributor::cpu_due`]; else the cause waits on a later reading, [`settle`]); then,
    /// only after a switch or when the CPU time fell short of the gap (a throttle the
    /// scheduler did not count), the run-queue wait and the cgroup's throttling counters: the
    /// wait moves only while the thread is switched out. A preemption or a throttle often
    /// takes effect during these reads (6.x throttles a task on its way back to user space);
    /// the spin's gap log attributes such a gap again, whole, when the reads overrun their
    /// allowance.
    pub fn attribute(&mut self, end: u64, len: u64) -> Attribution {
        self.read_after(end, len, None)
    }

    /// [`Attributor::attribute`] with the reading's depth chosen by the caller (to time each
    /// kind of reading), or by the counters (`None`).
    pub(crate) fn read_after(&mut self, end: u64, len: u64, depth: Option<Depth>) -> Attribution {
        let (now, depth) = self.read(end, len, depth);
        let delta = self.delta_to(&now);
        self.before = (self.last, self.last_at);
        self.last = now;
        self.last_at = end;
        let gap_ns = self.ns(len);
        let cause = classify(gap_ns, &delta, self.rules);
        let host = match cause {
            Cause::Preempted => host_part(gap_ns, delta.wait_ns, &delta, self.rules),
            // Only where the cgroup counts its throttled time (it counts nothing otherwise).
            Cause::Throttled if delta.throttled_ns > 0 => {
                host_part(gap_ns, delta.throttled_ns, &delta, self.rules)
            }
            _ => None,
        };
        Attribution {
            cause,
            switches: delta.switches,
            wait_ns: delta.wait_ns,
            host: host.map(|(cause, ns)| (cause, self.ticks(ns).min(len))),
            delta: Some(delta),
            depth,
        }
    }

    /// The counters after the gap of `len` ticks that ended at tick `end`, as deep as `depth`
    /// or as the counters ask, and how deep they went.
    fn read(&mut self, end: u64, len: u64, depth: Option<Depth>) -> (Reading, Depth) {
        let (switches, interrupts) = self.read_switches();
        let switched = switches != self.last.switches;
        let mut now = Reading {
            switches,
            interrupts,
            gaps_since_cpu: self.last.gaps_since_cpu + 1,
            ..self.last
        };
        let read_cpu = depth.map_or(switched || self.cpu_due(end, len), |d| d != Depth::Counts);
        if read_cpu {
            (now.cpu_ns, now.cpu_at, now.gaps_since_cpu) = (thread_cpu_ns(), end, 0);
        }
        let fell_short = read_cpu && {
            let d = self.delta_to(&now);
            missed_most(d.wall_ns.saturating_sub(d.cpu_ns), self.ns(len))
        };
        let full = depth.map_or(switched || fell_short, |d| d == Depth::Full);
        if full {
            (now.wait_ns, now.throttle) = (self.read_wait(), self.read_throttle());
        }
        let depth = match (full, read_cpu) {
            (true, _) => Depth::Full,
            (false, true) => Depth::Cpu,
            (false, false) => Depth::Counts,
        };
        (now, depth)
    }

    /// What the counters did from the last reading to `now`.
    fn delta_to(&self, now: &Reading) -> Delta {
        let last = &self.last;
        let read_cpu = now.gaps_since_cpu == 0;
        Delta {
            wall_ns: self.ns(now.cpu_at.saturating_sub(last.cpu_at)),
            cpu_ns: now.cpu_ns.saturating_sub(last.cpu_ns),
            switches: now.switches.saturating_sub(last.switches),
            wait_ns: now.wait_ns.saturating_sub(last.wait_ns),
            throttled: now.throttle != last.throttle,
            throttled_ns: now.throttle.1.saturating_sub(last.throttle.1),
            interrupts: (self.counters.is_ok())
                .then(|| now.interrupts.saturating_sub(last.interrupts)),
            cpu_gaps: if read_cpu { last.gaps_since_cpu + 1 } else { 0 },
        }
    }

    /// Whether the CPU clock is read after a gap of `len` ticks ending at tick `end` not
    /// switched: where the cgroup has a quota (a throttle the scheduler did not count shows
    /// there first), after a long gap, and after [`MAX_GAPS_PER_CPU_READING`] gaps or
    /// [`CPU_READ_EVERY_NS`] without it.
    fn cpu_due(&self, end: u64, len: u64) -> bool {
        self.cgroup.is_some()
            || len >= self.cpu_read_gap
            || self.last.gaps_since_cpu + 1 >= MAX_GAPS_PER_CPU_READING
            || end.saturating_sub(self.last.cpu_at) >= self.cpu_read_every
    }

    /// Settles `gaps`, the attributed gaps since the CPU clock was last read ([`settle`]):
    /// by the reading the last of them took, or, with `read_at`, by reading it now (at the
    /// spin's end).
    pub fn settle(&mut self, gaps: &mut [(u64, u64, Attribution)], read_at: Option<u64>) {
        let reading = match (read_at, gaps.last().and_then(|g| g.2.delta)) {
            (Some(at), _) => {
                let cpu_now = thread_cpu_ns();
                let wall_ns = self.ns(at.saturating_sub(self.last.cpu_at));
                let cpu_ns = cpu_now.saturating_sub(self.last.cpu_ns);
                (self.last.cpu_ns, self.last.cpu_at) = (cpu_now, at);
                self.last.gaps_since_cpu = 0;
                (wall_ns, cpu_ns)
            }
            (None, Some(d)) => (d.wall_ns, d.cpu_ns),
            (None, None) => return,
        };
        settle(gaps, |ticks| self.ns(ticks), reading, self.rules);
    }

    /// Forgets the latest attribution: its baseline is the baseline again, for the spin's
    /// gap log to attribute the gap again, whole, when the reads overran.
    pub fn undo(&mut self) {
        (self.last, self.last_at) = self.before;
    }

    fn ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick) as u64
    }

    fn ticks(&self, ns: u64) -> u64 {
        (ns as f64 / self.ns_per_tick) as u64
    }
}

/// `(nr_throttled, throttled ns)`, the two counters that move when the cgroup is throttled.
fn throttle(stat: CpuStat) -> (u64, u64) {
    (
        stat.nr_throttled.unwrap_or(0),
        stat.throttled_ns.unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This project's KVM kernel: steal kept out of the thread's CPU time, interrupts not.
    const KVM: Rules = Rules {
        steal_shows: true,
        irq_shows: false,
    };
    /// Debian's stock kernel (the test guest's): neither kept out.
    const DEBIAN: Rules = Rules {
        steal_shows: false,
        irq_shows: false,
    };
    /// A kernel with `CONFIG_IRQ_TIME_ACCOUNTING` as well (Ubuntu's).
    const IRQTIME: Rules = Rules {
        steal_shows: true,
        irq_shows: true,
    };

    fn delta(wall_ns: u64, cpu_ns: u64, switches: u64, throttled: bool) -> Delta {
        Delta {
            wall_ns,
            cpu_ns,
            switches,
            wait_ns: 0,
            throttled,
            throttled_ns: 0,
            interrupts: None,
            cpu_gaps: 1,
        }
    }

    #[test]
    fn a_switch_is_a_preemption_or_a_throttle() {
        assert_eq!(
            classify(3_000_000, &delta(4_000_000, 1_000_000, 1, false), KVM),
            Cause::Preempted
        );
        assert_eq!(
            classify(70_000_000, &delta(100_000_000, 30_000_000, 1, true), KVM),
            Cause::Throttled
        );
    }

    #[test]
    fn a_throttle_the_scheduler_did_not_count_is_told_by_the_cgroup() {
        // 70 ms without CPU time, no switch, and cpu.stat moved: throttled, not stolen.
        assert_eq!(
            classify(70_000_000, &delta(71_000_000, 1_000_000, 0, true), KVM),
            Cause::Throttled
        );
        // cpu.stat moved (another thread's throttle) over a gap the thread ran through.
        assert_eq!(
            classify(3_000_000, &delta(4_000_000, 4_000_000, 0, true), KVM),
            Cause::Unreported
        );
    }

    #[test]
    fn without_a_switch_the_cpu_clock_tells_steal_from_an_unreported_pause() {
        // 1 ms of spinning then a 200 µs gap: CPU time 1.0 ms is steal, 1.2 ms is not.
        assert_eq!(
            classify(200_000, &delta(1_200_000, 1_000_000, 0, false), KVM),
            Cause::Stolen
        );
        assert_eq!(
            classify(200_000, &delta(1_200_000, 1_200_000, 0, false), KVM),
            Cause::Unreported
        );
        // Half the gap missing from the CPU clock is enough; less is not.
        assert_eq!(
            classify(200_000, &delta(1_200_000, 1_100_000, 0, false), KVM),
            Cause::Stolen
        );
        assert_eq!(
            classify(200_000, &delta(1_200_000, 1_100_001, 0, false), KVM),
            Cause::Unreported
        );
        // A CPU clock ahead of the wall clock (read a little later) is not negative steal.
        assert_eq!(
            classify(200_000, &delta(1_200_000, 1_200_500, 0, false), KVM),
            Cause::Unreported
        );
    }

    fn switched(wait_ns: u64, cpu_ns: u64) -> Delta {
        Delta {
            wall_ns: 10_000_000,
            cpu_ns,
            switches: 1,
            wait_ns,
            throttled: false,
            throttled_ns: 0,
            interrupts: None,
            cpu_gaps: 1,
        }
    }

    #[test]
    fn a_preemption_the_wait_covers_only_in_part_was_mostly_the_hosts() {
        // A 7 ms gap with 30 µs of wait, the rest counted as the thread's CPU time: an
        // unreported pause of 6.97 ms, then the preemption.
        let unreported = switched(30_000, 10_000_000 - 30_000);
        assert_eq!(
            host_part(7_000_000, 30_000, &unreported, KVM),
            Some((Cause::Unreported, 6_970_000))
        );
        // The same, with the pause kept out of the CPU time: steal.
        assert_eq!(
            host_part(7_000_000, 30_000, &switched(30_000, 3_000_000), KVM),
            Some((Cause::Stolen, 6_970_000))
        );
        // Wait covering half the gap or more, and less than 2 ms uncovered: all of it is the
        // preemption.
        let covered = switched(100_000, 9_800_000);
        assert_eq!(host_part(200_000, 100_000, &covered, KVM), None);
        assert_eq!(host_part(150_000, 160_000, &covered, KVM), None);
        assert_eq!(host_part(3_900_000, 2_000_000, &covered, KVM), None);
        // A short preemption mostly not covered by its wait: the switch's own cost (the
        // tracer saw the switch at its start), not a host pause before it.
        assert_eq!(host_part(46_000, 10_000, &covered, KVM), None);
        assert_eq!(host_part(190_000, 1_000, &covered, KVM), None);
        assert_eq!(
            host_part(400_000, 100_000, &covered, KVM),
            Some((Cause::Unreported, 300_000))
        );
    }

    #[test]
    fn a_throttle_that_a_host_pause_ran_on_past_is_split_at_the_throttled_time() {
        // A 98 ms gap, 70 ms of it the cgroup's throttled time; the thread's CPU time covered
        // the other 28 ms: an unreported pause first, then the throttle.
        let d = Delta {
            wall_ns: 120_000_000,
            cpu_ns: 50_000_000,
            switches: 1,
            wait_ns: 70_000_000,
            throttled: true,
            throttled_ns: 70_000_000,
            interrupts: None,
            cpu_gaps: 1,
        };
        assert_eq!(
            host_part(98_000_000, 70_000_000, &d, KVM),
            Some((Cause::Unreported, 28_000_000))
        );
        // 0.8 ms more than the throttled time: the switches out and back, kept with it.
        assert_eq!(host_part(70_800_000, 70_000_000, &d, KVM), None);
    }

    #[test]
    fn the_first_gap_of_a_real_thread_is_attributed_without_panicking() {
        let mut attributor = Attributor::new(1.0, 0, KVM);
        let attribution = attributor.attribute(1_000, 500);
        assert_ne!(attribution.cause, Cause::Short);
    }

    fn interrupted(wall_ns: u64, cpu_ns: u64, interrupts: Option<u64>) -> Delta {
        Delta {
            interrupts,
            ..delta(wall_ns, cpu_ns, 0, false)
        }
    }

    #[test]
    fn a_guest_interrupt_is_told_from_a_host_pause_and_from_steal() {
        // 1 ms of spinning then an 18 µs gap that the CPU clock covered: with a timer tick in
        // it, the guest's own interrupt; without, a pause only the host knows of.
        let covered = |n| interrupted(1_018_000, 1_018_000, n);
        assert_eq!(classify(18_000, &covered(Some(1)), KVM), Cause::Interrupt);
        assert_eq!(classify(18_000, &covered(Some(0)), KVM), Cause::Unreported);
        // Interrupts not counted (no CAP_PERFMON): the old two-way rule.
        assert_eq!(classify(18_000, &covered(None), KVM), Cause::Unreported);
        // Most of the gap missing from the CPU clock is steal, tick or not, where interrupt
        // time is the thread's.
        let missing = |n| interrupted(1_200_000, 1_000_000, n);
        assert_eq!(classify(200_000, &missing(Some(1)), KVM), Cause::Stolen);
        // With IRQ time kept out of the thread's CPU time, the interrupt explains the gap.
        assert_eq!(
            classify(200_000, &missing(Some(1)), IRQTIME),
            Cause::Interrupt
        );
        assert_eq!(classify(200_000, &missing(Some(0)), IRQTIME), Cause::Stolen);
    }

    #[test]
    fn without_steal_accounting_steal_cannot_be_told_from_a_host_pause() {
        // Debian's kernel counts steal as the thread's CPU time, so a stolen gap leaves no
        // trace in it: unreported. CPU time missing anyway (clock noise) names nothing.
        let covered = interrupted(1_200_000, 1_200_000, Some(0));
        assert_eq!(classify(200_000, &covered, DEBIAN), Cause::Unreported);
        let missing = interrupted(1_200_000, 1_000_000, Some(0));
        assert_eq!(classify(200_000, &missing, DEBIAN), Cause::Unreported);
        assert_eq!(
            classify(200_000, &interrupted(1_200_000, 1_000_000, Some(2)), DEBIAN),
            Cause::Interrupt
        );
        // A preemption's host part is unreported there too.
        assert_eq!(
            host_part(7_000_000, 30_000, &switched(30_000, 3_000_000), DEBIAN),
            Some((Cause::Unreported, 6_970_000))
        );
    }

    /// Gaps of `lens` ns, the `switched`th (if any) switched out, as the spin's log holds
    /// them (one tick a ns).
    fn batch(lens: &[u64], switched: Option<usize>) -> Vec<(u64, u64, Attribution)> {
        (lens.iter().enumerate())
            .map(|(i, &len)| {
                let switches = u64::from(switched == Some(i));
                let d = Delta {
                    interrupts: Some(u64::from(i == 0)),
                    ..delta(0, 0, switches, false)
                };
                let attribution = Attribution {
                    switches,
                    ..Attribution::of_host(classify(len, &d, KVM), Some(d))
                };
                (0, len, attribution)
            })
            .collect()
    }

    fn causes(gaps: &[(u64, u64, Attribution)]) -> Vec<Cause> {
        gaps.iter().map(|g| g.2.cause).collect()
    }

    #[test]
    fn one_gap_is_settled_as_classify_would() {
        for (wall, cpu) in [
            (1_200_000, 1_000_000),
            (1_200_000, 1_100_000),
            (1_200_000, 1_100_001),
            (1_200, 1_300),
        ] {
            let mut gaps = batch(&[200_000], None);
            settle(&mut gaps, |t| t, (wall, cpu), KVM);
            let d = gaps[0].2.delta.unwrap();
            assert_eq!((d.wall_ns, d.cpu_ns, d.cpu_gaps), (wall, cpu, 1));
            assert_eq!(gaps[0].2.cause, classify(200_000, &d, KVM));
        }
    }

    #[test]
    fn a_readings_steal_goes_to_the_longest_gaps_it_covers() {
        use Cause::*;
        // 150 µs missing over gaps of 20 (a tick in it), 120, 30 and 40 µs: the 120 µs gap,
        // then 30 µs left, which covers more than half of the 40 µs one only.
        let mut gaps = batch(&[20_000, 120_000, 30_000, 40_000], None);
        settle(&mut gaps, |t| t, (10_000_000, 9_850_000), KVM);
        assert_eq!(causes(&gaps), [Interrupt, Stolen, Unreported, Stolen]);
        assert!(gaps.iter().all(|g| g.2.delta.unwrap().cpu_gaps == 4));
        // Nothing missing: nothing stolen, the interrupt and the pauses as they were.
        let mut gaps = batch(&[20_000, 120_000, 30_000], None);
        settle(&mut gaps, |t| t, (10_000_000, 10_000_500), KVM);
        assert_eq!(causes(&gaps), [Interrupt, Unreported, Unreported]);
        // Without steal accounting, missing CPU time names nothing.
        let mut gaps = batch(&[20_000, 120_000], None);
        settle(&mut gaps, |t| t, (10_000_000, 9_800_000), DEBIAN);
        assert_eq!(causes(&gaps), [Interrupt, Unreported]);
    }

    #[test]
    fn a_switched_gap_takes_its_whole_length_of_the_missing_time_first() {
        use Cause::*;
        // 1 ms missing: the 900 µs preemption's, and 100 µs more, which covers the 150 µs
        // gap but not both it and the 120 µs one.
        let mut gaps = batch(&[120_000, 900_000, 150_000], Some(1));
        settle(&mut gaps, |t| t, (20_000_000, 19_000_000), KVM);
        assert_eq!(causes(&gaps), [Interrupt, Preempted, Stolen]);
    }

    /// Two readings of one gap, the second through the first's slow reads: quiet when the
    /// kernel counted nothing between them, though the CPU time read lags the wall time.
    #[test]
    fn slow_reads_are_quiet_unless_the_kernel_counted_something_in_them() {
        let reading = |d: Delta, cause| Attribution {
            delta: Some(d),
            ..Attribution::of_host(cause, None)
        };
        let first = reading(delta(20_000, 19_000, 0, false), Cause::Unreported);
        let slower = reading(delta(25_000, 20_000, 0, false), Cause::Unreported);
        assert!(slower.quiet_since(&first));
        let interrupted = Delta {
            interrupts: Some(1),
            ..delta(25_000, 24_000, 0, false)
        };
        assert!(!reading(interrupted, Cause::Interrupt).quiet_since(&first));
        let switched = reading(delta(25_000, 19_500, 1, false), Cause::Preempted);
        assert!(!switched.quiet_since(&first));
        let stolen = reading(delta(60_000, 19_500, 0, false), Cause::Stolen);
        assert!(
            !stolen.quiet_since(&first),
            "a pause in the reads made the gap steal"
        );
        let uncounted = Attribution::of_host(Cause::Unreported, None);
        assert!(!uncounted.quiet_since(&first) && !first.quiet_since(&uncounted));
    }
}
