//! All contention signals at one instant (`Sampler::take_into`, allocation-free after the
//! first), and what changed between two (`Snapshot::since`: a [`Contention`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::cgroup::{CgroupReader, CpuStat};
use super::clock::monotonic_ns;
use super::pressure::{Pressure, PressureReader};
use super::procstat::{CpuTimes, ProcStat, ProcStatReader};
use super::rusage::{self, Rusage, Who};
use super::schedstat::{ProcessSchedstat, SchedStat, ThreadSchedstat};
use super::{Reason, Signal, Unavailable};

/// Every source, kept open. The thread counters are those of the thread that created it.
#[derive(Debug)]
pub struct Sampler {
    procstat: ProcStatReader,
    thread: ThreadSchedstat,
    process: ProcessSchedstat,
    cgroup: Result<CgroupReader, Unavailable>,
    pressure: PressureReader,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

/// The raw counters at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `CLOCK_MONOTONIC`, ns.
    pub at_ns: u64,
    pub stat: Result<ProcStat, Unavailable>,
    pub thread_sched: Result<SchedStat, Unavailable>,
    pub process_sched: Result<SchedStat, Unavailable>,
    pub thread_usage: Result<Rusage, Unavailable>,
    pub process_usage: Result<Rusage, Unavailable>,
    pub cgroup: Result<CpuStat, Unavailable>,
    pub pressure: Result<Pressure, Unavailable>,
    pub cgroup_pressure: Result<Pressure, Unavailable>,
}

const NOT_TAKEN: Unavailable = Unavailable::new("snapshot", Reason::NotApplicable("not taken yet"));

impl Sampler {
    /// Opens every source; one that cannot be opened reports why at every snapshot.
    pub fn new() -> Sampler {
        Sampler {
            procstat: ProcStatReader::new(),
            thread: ThreadSchedstat::new(),
            process: ProcessSchedstat::new(),
            cgroup: CgroupReader::detect(),
            pressure: PressureReader::system(),
        }
    }

    /// The cgroup reader, when this process's CPU cgroup was found.
    pub fn cgroup(&self) -> Result<&CgroupReader, Unavailable> {
        self.cgroup.as_ref().map_err(|e| *e)
    }

    /// A new snapshot (allocates; use [`Sampler::take_into`] to reuse one).
    pub fn take(&mut self) -> Snapshot {
        let mut snapshot = Snapshot::empty();
        self.take_into(&mut snapshot);
        snapshot
    }

    /// Refills `snapshot` in place; allocates nothing once `snapshot` has been filled before.
    pub fn take_into(&mut self, snapshot: &mut Snapshot) {
        let mut stat: ProcStat =
            std::mem::replace(&mut snapshot.stat, Err(NOT_TAKEN)).unwrap_or_default();
        snapshot.stat = self.procstat.read_into(&mut stat).map(|()| stat);
        snapshot.process_sched = self.process.read();
        snapshot.process_usage = rusage::read(Who::Process);
        snapshot.cgroup = self
            .cgroup
            .as_mut()
            .map_err(|e| *e)
            .and_then(|c| c.read_stat());
        snapshot.cgroup_pressure = self
            .cgroup
            .as_mut()
            .map_err(|e| *e)
            .and_then(|c| c.read_pressure());
        snapshot.pressure = self.pressure.read();
        snapshot.thread_sched = self.thread.read();
        snapshot.thread_usage = rusage::read(Who::Thread);
        snapshot.at_ns = monotonic_ns();
    }
}

impl Snapshot {
    fn empty() -> Snapshot {
        Snapshot {
            at_ns: 0,
            stat: Err(NOT_TAKEN),
            thread_sched: Err(NOT_TAKEN),
            process_sched: Err(NOT_TAKEN),
            thread_usage: Err(NOT_TAKEN),
            process_usage: Err(NOT_TAKEN),
            cgroup: Err(NOT_TAKEN),
            pressure: Err(NOT_TAKEN),
            cgroup_pressure: Err(NOT_TAKEN),
        }
    }

    /// Every signal now, through a fresh [`Sampler`] (opens every file: for one-off use).
    pub fn take() -> Snapshot {
        Sampler::new().take()
    }

    /// What happened between `earlier` and this snapshot: each signal from its source's two
    /// readings, or the reason it cannot be had.
    pub fn since(&self, earlier: &Snapshot) -> Contention {
        let elapsed_ns = self.at_ns.saturating_sub(earlier.at_ns);
        let per_s = |count: u64| count as f64 * 1e9 / elapsed_ns.max(1) as f64;
        let of_elapsed = |ns: u64| ns as f64 / elapsed_ns.max(1) as f64;
        let stat = both_ref(&self.stat, &earlier.stat);
        let all_cpus = stat.map(|(now, then)| (&now.all, &then.all));
        let process = sched_delta(&self.process_sched, &earlier.process_sched);
        let thread = sched_delta(&self.thread_sched, &earlier.thread_sched);
        let usage = |pick: fn(&Rusage) -> u64| {
            let (now, then) = both(&self.process_usage, &earlier.process_usage)?;
            delta("getrusage", pick(&now), pick(&then))
        };
        let cgroup = both(&self.cgroup, &earlier.cgroup);
        let pressure = |now: &Result<Pressure, Unavailable>, then, source| {
            let (now, then): (Pressure, Pressure) = both(now, then)?;
            let waited_us = delta(source, now.some.total_us, then.some.total_us)?;
            ratio(source, waited_us * 1000, elapsed_ns)
        };
        let mut contention = Contention {
            elapsed_ns,
            steal_ratio: Signal(all_cpus.and_then(|(now, then)| steal(now, then))),
            runqueue_wait_ratio: Signal(process.and_then(|d| wait_share(d, elapsed_ns))),
            runqueue_wait_per_s: Signal(process.map(|(wait_ns, _)| of_elapsed(wait_ns))),
            thread_runqueue_wait_ratio: Signal(thread.and_then(|d| wait_share(d, elapsed_ns))),
            involuntary_switches_per_s: Signal(usage(|u| u.involuntary_switches).map(per_s)),
            voluntary_switches_per_s: Signal(usage(|u| u.voluntary_switches).map(per_s)),
            throttled_period_ratio: Signal(throttled_period_ratio(cgroup)),
            throttled_ratio: Signal(throttled_ratio(cgroup, elapsed_ns)),
            pressure_some_ratio: Signal(pressure(
                &self.pressure,
                &earlier.pressure,
                "/proc/pressure/cpu",
            )),
            cgroup_pressure_some_ratio: Signal(pressure(
                &self.cgroup_pressure,
                &earlier.cgroup_pressure,
                "cgroup cpu.pressure",
            )),
            cpu_usage_ratio: Signal(all_cpus.and_then(|(now, then)| busy(now, then))),
            process_cpu_seconds_per_s: Signal(usage(|u| u.user_ns + u.system_ns).map(of_elapsed)),
            steal_per_cpu_ratio: stat.map_or(Vec::new(), |(now, then)| steal_per_cpu(now, then)),
            unavailable: BTreeMap::new(),
        };
        contention.unavailable = contention.reasons();
        contention
    }
}

/// Each CPU's steal ratio, for the CPUs both readings have.
fn steal_per_cpu(now: &ProcStat, then: &ProcStat) -> Vec<CpuSteal> {
    (now.per_cpu.iter())
        .filter_map(|(cpu, times)| {
            let (_, before) = then.per_cpu.iter().find(|(c, _)| c == cpu)?;
            let steal_ratio = Signal(steal(times, before));
            Some(CpuSteal {
                cpu: *cpu,
                steal_ratio,
            })
        })
        .collect()
}

/// The share of all CPU time that was busy.
fn busy(now: &CpuTimes, then: &CpuTimes) -> Result<f64, Unavailable> {
    let total = delta("/proc/stat", now.total(), then.total())?;
    let busy = delta("/proc/stat", now.busy(), then.busy())?;
    ratio("/proc/stat", busy, total)
}

/// (run-queue wait, time on the CPU) between two schedstat readings, ns.
fn sched_delta(
    now: &Result<SchedStat, Unavailable>,
    then: &Result<SchedStat, Unavailable>,
) -> Result<(u64, u64), Unavailable> {
    let (now, then) = both(now, then)?;
    Ok((
        delta("schedstat", now.wait_ns, then.wait_ns)?,
        delta("schedstat", now.on_cpu_ns, then.on_cpu_ns)?,
    ))
}

/// The share of runnable time spent waiting, when there was enough runnable time to say.
fn wait_share((wait_ns, run_ns): (u64, u64), elapsed_ns: u64) -> Result<f64, Unavailable> {
    if ((wait_ns + run_ns) as f64) < elapsed_ns as f64 * RUNQUEUE_MIN_RUNNABLE_RATIO {
        return Err(Unavailable::new(
            "schedstat",
            Reason::NotApplicable(
                "runnable for under 5% of the interval: a share of so little time is noise",
            ),
        ));
    }
    // The message above states the constant; a `&'static str` cannot be formatted from it.
    const _: () = assert!(RUNQUEUE_MIN_RUNNABLE_RATIO == 0.05, "update the message");
    ratio("schedstat", wait_ns, wait_ns + run_ns)
}

type CgroupReadings = Result<(CpuStat, CpuStat), Unavailable>;

/// How much a `cpu.stat` throttling counter grew; unavailable without CPU limits.
fn cgroup_delta(
    cgroup: CgroupReadings,
    pick: fn(&CpuStat) -> Option<u64>,
) -> Result<u64, Unavailable> {
    let (now, then) = cgroup?;
    let no_quota = Unavailable::new(
        "cgroup cpu.stat",
        Reason::NotApplicable("no throttling counters: the cgroup has no CPU controller limits"),
    );
    delta(
        "cgroup cpu.stat",
        pick(&now).ok_or(no_quota)?,
        pick(&then).ok_or(no_quota)?,
    )
}

/// The quota periods that elapsed. A share of them, or of time throttled, needs one to
/// have: without a quota the kernel counts none, and 0 would read as "never throttled".
fn periods(cgroup: CgroupReadings) -> Result<u64, Unavailable> {
    match cgroup_delta(cgroup, |c| c.nr_periods)? {
        0 => Err(Unavailable::new(
            "cgroup cpu.stat",
            Reason::NotApplicable(
                "no CFS periods elapsed: the cgroup has no CPU quota, or did not run",
            ),
        )),
        periods => Ok(periods),
    }
}

fn throttled_period_ratio(cgroup: CgroupReadings) -> Result<f64, Unavailable> {
    let throttled = cgroup_delta(cgroup, |c| c.nr_throttled)?;
    ratio("cgroup cpu.stat", throttled, periods(cgroup)?)
}

fn throttled_ratio(cgroup: CgroupReadings, elapsed_ns: u64) -> Result<f64, Unavailable> {
    let throttled_ns = cgroup_delta(cgroup, |c| c.throttled_ns)?;
    periods(cgroup)?;
    ratio("cgroup cpu.stat", throttled_ns, elapsed_ns)
}

/// A run-queue wait share needs this much runnable time (run + wait, summed over threads),
/// as a share of the interval, to mean something. On an idle `serve`, threads that ran
/// 15 µs after waiting 50 µs read 0.78, "78% waiting", with nothing happening: a gauge that
/// pages someone. 5% is 50 ms of every second; the workloads, the spin and any busy
/// service are far above it.
pub const RUNQUEUE_MIN_RUNNABLE_RATIO: f64 = 0.05;

/// Contention over an interval. Ratios are 0..1 shares; `null` in JSON where unavailable,
/// with the reason under `unavailable`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contention {
    /// The interval, ns.
    pub elapsed_ns: u64,
    /// Steal ticks / all ticks, all CPUs (`/proc/stat`): the hypervisor ran someone else.
    pub steal_ratio: Signal<f64>,
    /// Of the time this process's threads were runnable, the share they waited on a run
    /// queue (schedstat, summed over threads): waiting behind other tasks, or throttled.
    /// `null` when they were runnable for under [`RUNQUEUE_MIN_RUNNABLE_RATIO`] of the
    /// interval.
    pub runqueue_wait_ratio: Signal<f64>,
    /// Seconds this process's threads waited on a run queue per second of wall time
    /// (schedstat, summed over threads; 1.0 = one thread always waiting): right when the
    /// process is idle, where the share is not.
    pub runqueue_wait_per_s: Signal<f64>,
    /// The same for the thread that took the snapshots.
    pub thread_runqueue_wait_ratio: Signal<f64>,
    /// Times per second the scheduler took a CPU away from this process's threads.
    pub involuntary_switches_per_s: Signal<f64>,
    /// Times per second this process's threads gave up the CPU (I/O, locks, sleeps).
    pub voluntary_switches_per_s: Signal<f64>,
    /// Throttled periods / elapsed periods of the CPU cgroup (`cpu.stat`).
    pub throttled_period_ratio: Signal<f64>,
    /// Time the cgroup was throttled / elapsed time.
    pub throttled_ratio: Signal<f64>,
    /// Share of the interval some task on the machine waited for a CPU (PSI `some` total).
    pub pressure_some_ratio: Signal<f64>,
    /// The same, for this process's cgroup (v2 only).
    pub cgroup_pressure_some_ratio: Signal<f64>,
    /// Busy ticks / all ticks, all CPUs.
    pub cpu_usage_ratio: Signal<f64>,
    /// CPU time this process used per second of wall time (1.0 = one whole CPU).
    pub process_cpu_seconds_per_s: Signal<f64>,
    /// Steal ratio of each CPU.
    pub steal_per_cpu_ratio: Vec<CpuSteal>,
    /// Why each `null` field above is `null`.
    pub unavailable: BTreeMap<&'static str, String>,
}

/// One CPU's steal ratio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuSteal {
    /// The CPU's number, as in `/proc/stat`'s `cpuN`.
    pub cpu: u32,
    /// Its steal ticks / all its ticks over the interval.
    pub steal_ratio: Signal<f64>,
}

impl Contention {
    /// Each signal by its field (and JSON) name, in the report's order: the one list of
    /// them, which `catalog` describes.
    pub fn signals(&self) -> [(&'static str, &Signal<f64>); 12] {
        [
            ("steal_ratio", &self.steal_ratio),
            ("runqueue_wait_ratio", &self.runqueue_wait_ratio),
            ("runqueue_wait_per_s", &self.runqueue_wait_per_s),
            (
                "thread_runqueue_wait_ratio",
                &self.thread_runqueue_wait_ratio,
            ),
            (
                "involuntary_switches_per_s",
                &self.involuntary_switches_per_s,
            ),
            ("voluntary_switches_per_s", &self.voluntary_switches_per_s),
            ("throttled_period_ratio", &self.throttled_period_ratio),
            ("throttled_ratio", &self.throttled_ratio),
            ("pressure_some_ratio", &self.pressure_some_ratio),
            (
                "cgroup_pressure_some_ratio",
                &self.cgroup_pressure_some_ratio,
            ),
            ("process_cpu_seconds_per_s", &self.process_cpu_seconds_per_s),
            ("cpu_usage_ratio", &self.cpu_usage_ratio),
        ]
    }

    fn reasons(&self) -> BTreeMap<&'static str, String> {
        self.signals()
            .into_iter()
            .filter_map(|(field, signal)| Some((field, signal.unavailable()?.to_string())))
            .collect()
    }
}

fn steal(now: &CpuTimes, then: &CpuTimes) -> Result<f64, Unavailable> {
    const SOURCE: &str = "/proc/stat steal";
    let missing = Unavailable::new(
        SOURCE,
        Reason::NotApplicable("kernel older than 2.6.11 has no steal column"),
    );
    let stolen = delta(
        SOURCE,
        now.steal.ok_or(missing)?,
        then.steal.ok_or(missing)?,
    )?;
    ratio(SOURCE, stolen, delta(SOURCE, now.total(), then.total())?)
}

/// Both readings of a signal, or the first reason one of them is missing.
fn both<T: Copy>(
    now: &Result<T, Unavailable>,
    then: &Result<T, Unavailable>,
) -> Result<(T, T), Unavailable> {
    Ok((
        *now.as_ref().map_err(|e| *e)?,
        *then.as_ref().map_err(|e| *e)?,
    ))
}

/// Both readings of a source that is not `Copy`.
fn both_ref<'a, T>(
    now: &'a Result<T, Unavailable>,
    then: &'a Result<T, Unavailable>,
) -> Result<(&'a T, &'a T), Unavailable> {
    Ok((
        now.as_ref().map_err(|e| *e)?,
        then.as_ref().map_err(|e| *e)?,
    ))
}

/// `later - earlier` of a counter, or a [`Reason::Reset`] if it went backwards.
fn delta(source: &'static str, later: u64, earlier: u64) -> Result<u64, Unavailable> {
    later
        .checked_sub(earlier)
        .ok_or(Unavailable::new(source, Reason::Reset))
}

/// `part / whole`, unavailable when nothing elapsed.
fn ratio(source: &'static str, part: u64, whole: u64) -> Result<f64, Unavailable> {
    if whole == 0 {
        return Err(Unavailable::new(
            source,
            Reason::NotApplicable("nothing elapsed in the interval"),
        ));
    }
    Ok(part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::procstat::CpuTimes;

    fn snapshot(
        at_ns: u64,
        steal: u64,
        idle: u64,
        wait_ns: u64,
        on_cpu_ns: u64,
        throttled: u64,
    ) -> Snapshot {
        let times = CpuTimes {
            user: 100,
            idle,
            steal: Some(steal),
            iowait: Some(0),
            irq: Some(0),
            softirq: Some(0),
            ..CpuTimes::default()
        };
        let sched = SchedStat {
            on_cpu_ns,
            wait_ns,
            timeslices: 1,
        };
        Snapshot {
            at_ns,
            stat: Ok(ProcStat {
                all: times,
                per_cpu: vec![(0, times)],
            }),
            thread_sched: Ok(sched),
            process_sched: Ok(sched),
            thread_usage: Ok(Rusage {
                involuntary_switches: at_ns / 10_000_000,
                ..Rusage::default()
            }),
            process_usage: Ok(Rusage {
                involuntary_switches: at_ns / 10_000_000,
                user_ns: on_cpu_ns,
                ..Rusage::default()
            }),
            cgroup: Ok(CpuStat {
                usage_ns: None,
                nr_periods: Some(at_ns / 100_000_000),
                nr_throttled: Some(throttled),
                throttled_ns: Some(throttled * 70_000_000),
            }),
            pressure: Ok(Pressure::default()),
            cgroup_pressure: Err(Unavailable::new(
                "cgroup cpu.pressure",
                Reason::NotApplicable("cgroup v1 has no per-cgroup pressure"),
            )),
        }
    }

    #[test]
    fn ratios_over_an_interval() {
        let earlier = snapshot(0, 0, 0, 0, 0, 0);
        let later = snapshot(1_000_000_000, 25, 75, 400_000_000, 600_000_000, 10);
        let c = later.since(&earlier);
        assert_eq!(c.elapsed_ns, 1_000_000_000);
        assert_eq!(c.steal_ratio.value(), Some(25.0 / 100.0));
        assert_eq!(c.steal_per_cpu_ratio[0].steal_ratio.value(), Some(0.25));
        assert_eq!(c.runqueue_wait_ratio.value(), Some(0.4));
        assert_eq!(c.runqueue_wait_per_s.value(), Some(0.4));
        assert_eq!(c.involuntary_switches_per_s.value(), Some(100.0));
        assert_eq!(c.throttled_period_ratio.value(), Some(1.0));
        assert_eq!(c.throttled_ratio.value(), Some(0.7));
        assert_eq!(c.process_cpu_seconds_per_s.value(), Some(0.6));
        assert_eq!(c.pressure_some_ratio.value(), Some(0.0));
        assert!(c.unavailable["cgroup_pressure_some_ratio"].contains("cgroup v1"));
    }

    #[test]
    fn without_a_quota_period_no_throttling_share_is_claimed() {
        let no_periods = |mut s: Snapshot| {
            if let Ok(stat) = &mut s.cgroup {
                (stat.nr_periods, stat.nr_throttled, stat.throttled_ns) =
                    (Some(0), Some(0), Some(0));
            }
            s
        };
        let earlier = no_periods(snapshot(0, 0, 0, 0, 0, 0));
        let c = no_periods(snapshot(1_000_000_000, 0, 100, 0, 0, 0)).since(&earlier);
        for signal in [&c.throttled_ratio, &c.throttled_period_ratio] {
            let why = signal.unavailable().unwrap().to_string();
            assert!(why.contains("no CFS periods elapsed"), "{why}");
        }
    }

    #[test]
    fn an_idle_process_has_a_wait_per_second_but_no_wait_share() {
        // The idle serve: 50 µs waiting and 15 µs running in a second, "78% waiting".
        let earlier = snapshot(0, 0, 0, 0, 0, 0);
        let later = snapshot(1_000_000_000, 0, 100, 50_000, 15_000, 0);
        let c = later.since(&earlier);
        assert_eq!(c.runqueue_wait_per_s.value(), Some(50e-6));
        let why = c.runqueue_wait_ratio.unavailable().unwrap().to_string();
        assert!(
            why.contains("runnable for under 5% of the interval"),
            "{why}"
        );
        // At 5% runnable (50 ms of the second), the share is shown.
        let busy = snapshot(1_000_000_000, 0, 100, 10_000_000, 40_000_000, 0).since(&earlier);
        assert_eq!(busy.runqueue_wait_ratio.value(), Some(0.2));
    }

    #[test]
    fn counters_going_backwards_are_resets_not_negative_rates() {
        let earlier = snapshot(0, 50, 0, 500, 500, 10);
        let later = snapshot(1_000_000_000, 10, 75, 100, 100, 5);
        let c = later.since(&earlier);
        assert_eq!(
            c.steal_ratio.unavailable().map(|u| u.reason),
            Some(Reason::Reset)
        );
        assert_eq!(
            c.runqueue_wait_ratio.unavailable().map(|u| u.reason),
            Some(Reason::Reset)
        );
        assert_eq!(
            c.throttled_ratio.unavailable().map(|u| u.reason),
            Some(Reason::Reset)
        );
        let json = serde_json::to_value(&c).unwrap();
        assert!(json["steal_ratio"].is_null());
        assert!(
            json["unavailable"]["steal_ratio"]
                .as_str()
                .unwrap()
                .contains("reset")
        );
    }

    #[test]
    fn a_real_snapshot_pair_has_sane_ratios() {
        let mut sampler = Sampler::new();
        let earlier = sampler.take();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let c = sampler.take().since(&earlier);
        assert!(c.elapsed_ns >= 20_000_000);
        for (name, value) in [
            ("steal", c.steal_ratio.value()),
            ("usage", c.cpu_usage_ratio.value()),
        ] {
            if let Some(v) = value {
                assert!((0.0..=1.0).contains(&v), "{name} {v}");
            }
        }
    }
}
