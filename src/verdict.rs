//! The verdict: what the platform cost, cause by cause, the class of the largest cost, and
//! the figures it rests on, as numbers ([`crate::render::verdict`] words them).

use serde::{Deserialize, Serialize};

use crate::jitter::spin::Gap;
use crate::jitter::{Cause, Jitter, Ratios, Throttle};
use crate::runner::WorkloadReport;
use crate::signal::snapshot::Contention;
use crate::stats::Spread;

/// A cause is listed when it costs at least this share of the CPU, so that the host's
/// everyday unreported pauses (below) are shown, though they name no class.
pub const CAUSE_MIN_RATIO: f64 = 0.01;
/// …and names the class when it costs at least this share. Below it the machine is `quiet`:
/// an idle KVM guest here loses 1–3% to the host's unreported pauses (about 20 µs each, on
/// the host's own 1 ms grid) and 0.2–0.7% to its own timer tick, every day; a class that said
/// `stolen` for the quieter days would cry wolf.
pub const CLASS_MIN_RATIO: f64 = 0.02;
/// Slowed: `ns_per_op` p90 / p10 across runs above this… A memory-streaming neighbour costs
/// the chases 1.1–1.3× here (`dd` of /dev/zero on the other vCPU: `chase-llc` 1.12–1.28×,
/// `chase-dram` 1.11–1.31×), while runs of fixed work on a core without such a neighbour
/// stay closer: p90/p10 1.01–1.16 across the five fixed workloads under a 30/100 quota,
/// where throttles cut every run (the README's example).
pub const SLOWED_MIN_SPREAD: f64 = 1.25;
/// …in at least this many fixed-work workloads: one alone can be a fluke of its cache set
/// (`chase-l2` alone moves 5.4–6.7 ns per load between runs minutes apart here, in steps).
pub const SLOWED_MIN_WORKLOADS: usize = 2;
/// Slowed: `ns_per_op` median at least this many times the reference report's. 1.2×
/// separates the 1.1–1.3× of a memory-streaming neighbour (above) from the run-to-run drift
/// of a quiet core.
pub const SLOWED_MIN_REFERENCE_RATIO: f64 = 1.2;

/// The primary class: the largest cost, or `quiet` when none reaches [`CLASS_MIN_RATIO`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Quiet,
    /// The hypervisor: steal it reports, and pauses it does not.
    Stolen,
    /// Other tasks on the probe's CPU (the guest scheduler's preemptions).
    Contended,
    /// The cgroup's CPU quota.
    Throttled,
    /// The same work took longer on the CPU (neighbours' cache and memory traffic).
    Slowed,
    /// The guest kernel's own interrupt work (its timer tick, device interrupts, IPIs), and
    /// gaps too short to attribute.
    Noisy,
}

impl Class {
    pub const fn name(self) -> &'static str {
        match self {
            Class::Quiet => "quiet",
            Class::Stolen => "stolen",
            Class::Contended => "contended",
            Class::Throttled => "throttled",
            Class::Slowed => "slowed",
            Class::Noisy => "noisy",
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// One cause and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub class: Class,
    /// Share of the CPU's time (for `slowed`: of the work's time) this cause took.
    pub cost_ratio: f64,
    /// For `stolen`: the part the hypervisor reported as steal, and the part it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreported_ratio: Option<f64>,
    /// For `noisy`: the guest kernel's own interrupt gaps, and gaps too short to attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupt_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_ratio: Option<f64>,
    /// Where the figure comes from.
    pub source: &'static str,
}

/// What the platform took from the probe's spinning thread, by cause (the spin's ledger).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Platform {
    /// The CPU the spin was pinned to.
    pub cpu: Option<usize>,
    /// Everything not on the CPU: the sum of the shares lost by cause.
    pub total_ratio: f64,
    /// The share of the spin lost to each cause (`{cause}_ratio`: the ledger's).
    #[serde(flatten)]
    pub lost: Ratios,
    /// The longest single gap, with its cause.
    pub worst_pause: Option<Gap>,
    /// The guest kernel's own interrupt gaps: how often, how long, and its tick rate.
    pub interrupts: Option<InterruptRate>,
}

/// How often the guest kernel's own interrupts took the CPU, and for how long each.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InterruptRate {
    /// `interrupt` gaps a second of the spin.
    pub gaps_per_s: f64,
    /// Their median length, ns.
    pub p50_ns: Option<u64>,
    /// `CONFIG_HZ`: on a busy CPU, this many of them a second are the timer tick.
    pub tick_hz: Option<u32>,
    /// Whether their rate is the tick's: between half the tick rate over the spin's time on
    /// the CPU and 1.5× the tick rate (`None`: the rate is not known).
    pub mostly_tick: Option<bool>,
}

/// A class, the costs it rests on, and the figures behind them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub class: Class,
    pub platform: Option<Platform>,
    /// Every cause costing at least [`CAUSE_MIN_RATIO`], largest first.
    pub causes: Vec<Cost>,
    /// The fixed-work workloads that make the `slowed` cost, when there is one.
    pub slowed: Vec<SlowedWorkload>,
    pub basis: Basis,
}

/// A fixed-work workload whose time per op grew, by how much, and against what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowedWorkload {
    pub workload: String,
    /// Slow / fast time per op.
    pub ratio: f64,
    #[serde(flatten)]
    pub against: Against,
}

/// What a slowed workload's time per op was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "against", rename_all = "snake_case")]
pub enum Against {
    /// The median `ns_per_op` of an earlier report (`--reference`).
    Reference { median_ns: f64, reference_ns: f64 },
    /// Its own spread across the runs of one process (p90 / p10): of the process with the
    /// median spread, where it ran in several.
    Spread {
        p10_ns: f64,
        p90_ns: f64,
        runs_count: u64,
    },
}

/// The kernel's figures every verdict lists, each from its source, and the spin's own
/// figures beside the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Basis {
    /// `/proc/stat` steal over all CPUs.
    pub steal_ratio: Option<f64>,
    /// schedstat run-queue wait of the process's threads, a share of their runnable time.
    pub runqueue_wait_ratio: Option<f64>,
    /// The cgroup's `cpu.stat`: share of the time throttled, share of periods throttled.
    pub throttled_ratio: Option<f64>,
    pub throttled_period_ratio: Option<f64>,
    pub spin: Option<SpinBasis>,
}

/// The spinning thread's ledger against the kernel's counters for the same thread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpinBasis {
    /// Gaps the thread was switched out for, and the kernel's involuntary switches.
    pub preemptions_count: u64,
    pub involuntary_switches_count: Option<u64>,
    /// Preempted and throttled gaps' share of the spin, and the kernel's run-queue wait.
    pub switched_ratio: f64,
    pub runqueue_wait_ratio: Option<f64>,
    /// Stolen gaps' share, and `/proc/stat` steal of the spin's CPU.
    pub stolen_ratio: f64,
    pub steal_ratio: Option<f64>,
    /// The turns the thread got between preemptions (p50), and the throttling pattern.
    pub timeslice_p50_ms: Option<f64>,
    pub throttle: Option<Throttle>,
}

/// What the verdict is drawn from.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub contention: &'a Contention,
    pub jitter: Option<&'a Jitter>,
    pub workloads: &'a [WorkloadReport],
    /// `ns_per_op` medians from an earlier report (`--reference`), by workload name.
    pub reference: &'a [(String, f64)],
}

/// Decides the class: the largest cost. The costs come from the spin's ledger (each gap
/// attributed from the thread's own counters), or without a spin from the kernel's counters
/// over the run; `slowed` from fixed work timed in blocks (`ns_per_op`), which a gap cannot
/// inflate.
pub fn decide(e: &Evidence<'_>) -> Verdict {
    let slowed = slowed_workloads(e);
    let mut causes = costs(e);
    if let Some(worst) = slowed.iter().map(|s| s.ratio).reduce(f64::max) {
        causes.push(Cost {
            class: Class::Slowed,
            cost_ratio: 1.0 - 1.0 / worst,
            reported_ratio: None,
            unreported_ratio: None,
            interrupt_ratio: None,
            short_ratio: None,
            source: "ns_per_op of fixed work timed in blocks: 1 − fast / slow",
        });
    }
    causes.retain(|c| c.cost_ratio >= CAUSE_MIN_RATIO);
    causes.sort_by(|a, b| b.cost_ratio.total_cmp(&a.cost_ratio));
    let class = causes
        .first()
        .filter(|c| c.cost_ratio >= CLASS_MIN_RATIO)
        .map_or(Class::Quiet, |c| c.class);
    Verdict {
        class,
        platform: e.jitter.map(platform),
        causes,
        slowed,
        basis: basis(e),
    }
}

fn basis(e: &Evidence<'_>) -> Basis {
    let c = e.contention;
    Basis {
        steal_ratio: c.steal_ratio.value(),
        runqueue_wait_ratio: c.runqueue_wait_ratio.value(),
        throttled_ratio: c.throttled_ratio.value(),
        throttled_period_ratio: c.throttled_period_ratio.value(),
        spin: e.jitter.map(|j| SpinBasis {
            preemptions_count: j.preemptions_count,
            involuntary_switches_count: j.involuntary_switches_count,
            switched_ratio: j.ledger.ratio(Cause::Preempted) + j.ledger.ratio(Cause::Throttled),
            runqueue_wait_ratio: j.runqueue_wait_ratio,
            stolen_ratio: j.ledger.ratio(Cause::Stolen),
            steal_ratio: j.steal_ratio,
            timeslice_p50_ms: j.timeslice_p50_ms,
            throttle: j.throttle,
        }),
    }
}

fn platform(j: &Jitter) -> Platform {
    Platform {
        cpu: j.cpu,
        total_ratio: 1.0 - j.ledger.on_cpu_ratio,
        lost: j.ledger.lost,
        interrupts: j.interrupts.named().then(|| {
            let gaps = &j.causes[Cause::Interrupt];
            let gaps_per_s = gaps.count as f64 / (j.duration_ns.max(1) as f64 / 1e9);
            InterruptRate {
                gaps_per_s,
                p50_ns: gaps.p50_ns,
                tick_hz: j.tick_hz,
                mostly_tick: j.tick_hz.map(|hz| {
                    let hz = f64::from(hz);
                    (0.5 * hz * j.ledger.on_cpu_ratio..=1.5 * hz).contains(&gaps_per_s)
                }),
            }
        }),
        worst_pause: j.largest_gaps.first().copied(),
    }
}

/// Each cause's cost: from the spin's ledger when there was a spin, else from the kernel's
/// counters over the run (steal of all CPUs, the cgroup's throttling, run-queue wait).
fn costs(e: &Evidence<'_>) -> Vec<Cost> {
    if let Some(j) = e.jitter {
        return spin_costs(j);
    }
    let c = e.contention;
    let mut costs = Vec::new();
    if let Some(r) = c.throttled_ratio.value() {
        costs.push(Cost::of(
            Class::Throttled,
            r,
            "cgroup cpu.stat throttled time",
        ));
    }
    if let Some(r) = c.steal_ratio.value() {
        costs.push(Cost::of(Class::Stolen, r, "/proc/stat steal, all CPUs"));
    }
    let workloads_wait = (e.workloads.iter())
        .filter_map(|w| w.measured.runqueue_wait_ratio)
        .reduce(f64::max);
    if let Some(r) = workloads_wait.or(c.runqueue_wait_ratio.value()) {
        costs.push(Cost::of(Class::Contended, r, "schedstat run-queue wait"));
    }
    costs
}

/// Each cause's cost from the spin's ledger.
fn spin_costs(j: &Jitter) -> Vec<Cost> {
    let of = |cause| j.ledger.ratio(cause);
    let (stolen, unreported) = (of(Cause::Stolen), of(Cause::Unreported));
    let (interrupt, short) = (of(Cause::Interrupt), of(Cause::Short));
    let stolen_source = "spin: stolen and unreported gaps";
    let noisy_source = "spin: the guest kernel's interrupt gaps and gaps too short to attribute";
    vec![
        Cost::of(
            Class::Throttled,
            of(Cause::Throttled),
            "spin: throttled gaps",
        ),
        Cost {
            reported_ratio: Some(stolen),
            unreported_ratio: Some(unreported),
            ..Cost::of(Class::Stolen, stolen + unreported, stolen_source)
        },
        Cost::of(
            Class::Contended,
            of(Cause::Preempted),
            "spin: preempted gaps",
        ),
        Cost {
            interrupt_ratio: Some(interrupt),
            short_ratio: Some(short),
            ..Cost::of(Class::Noisy, interrupt + short, noisy_source)
        },
    ]
}

impl Cost {
    /// A cost with no parts.
    pub(crate) fn of(class: Class, cost_ratio: f64, source: &'static str) -> Cost {
        Cost {
            class,
            cost_ratio,
            reported_ratio: None,
            unreported_ratio: None,
            interrupt_ratio: None,
            short_ratio: None,
            source,
        }
    }
}

/// A fixed-work workload's `ns_per_op` p90 / p10 within one process: the median over its
/// processes (each ran the same work, so the runs of one show what moved it run by run;
/// processes also land apart by memory placement, which the threshold was not measured
/// with), or over all runs where it ran in one.
fn within_process_spread(w: &WorkloadReport, pooled: Spread) -> Option<(f64, Against)> {
    let mut spreads: Vec<(f64, Against)> = w
        .replicates
        .iter()
        .filter_map(|r| {
            let (p10, p90) = (r.ns_per_op_p10?, r.ns_per_op_p90?);
            (p10 > 0.0).then(|| {
                let against = Against::Spread {
                    p10_ns: p10,
                    p90_ns: p90,
                    runs_count: u64::from(r.runs_count),
                };
                (p90 / p10, against)
            })
        })
        .collect();
    if spreads.len() <= 1 {
        let against = Against::Spread {
            p10_ns: pooled.p10,
            p90_ns: pooled.p90,
            runs_count: pooled.count,
        };
        return pooled.p90_over_p10().map(|r| (r, against));
    }
    spreads.sort_by(|a, b| a.0.total_cmp(&b.0));
    let median = (spreads.len() - 1) / 2;
    Some(spreads.swap_remove(median))
}

/// Fixed-work workloads that got slower per op: against the reference, or in their spread
/// across runs (in at least [`SLOWED_MIN_WORKLOADS`] of them).
fn slowed_workloads(e: &Evidence<'_>) -> Vec<SlowedWorkload> {
    let mut against_reference = Vec::new();
    let mut spread = Vec::new();
    for report in e.workloads {
        let w = &report.measured;
        let Some(ns) = w.ns_per_op else { continue };
        let slowed = |ratio, against| SlowedWorkload {
            workload: w.name.to_string(),
            ratio,
            against,
        };
        if let Some((_, before)) = e.reference.iter().find(|(name, _)| *name == w.name) {
            let ratio = ns.p50 / before.max(f64::MIN_POSITIVE);
            if ratio >= SLOWED_MIN_REFERENCE_RATIO {
                let against = Against::Reference {
                    median_ns: ns.p50,
                    reference_ns: *before,
                };
                against_reference.push(slowed(ratio, against));
            }
        }
        if let Some((ratio, against)) = within_process_spread(report, ns)
            && ratio > SLOWED_MIN_SPREAD
        {
            spread.push(slowed(ratio, against));
        }
    }
    if !against_reference.is_empty() {
        against_reference
    } else if spread.len() >= SLOWED_MIN_WORKLOADS {
        spread
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jitter::spin::SpinRecord;
    use crate::jitter::{Cause, KernelView, infer};
    use crate::runner::Measured;
    use crate::stats::Distribution;
    use crate::test_support::quiet_contention;

    fn workload(name: &'static str, ps_per_op: Option<&[u64]>, wait: f64) -> WorkloadReport {
        let d = Distribution::of([1_000_000]).unwrap();
        WorkloadReport::from_measured(Measured {
            name,
            runs_count: 10,
            bytes_per_run: 1,
            wall_ns: d,
            on_cpu_ns: d,
            off_cpu_ns: d,
            off_cpu_ratio: wait,
            preempted_runs_count: Some(0),
            runqueue_wait_ratio: Some(wait),
            ns_per_op: ps_per_op
                .map(|ps| Distribution::of(ps.iter().copied()).unwrap().scaled(1000.0)),
            checksum: 0,
            by_run: crate::runner::ByRun {
                every: 1,
                wall_ns: vec![1_000_000],
                on_cpu_ns: vec![1_000_000],
                ns_per_op: Vec::new(),
            },
        })
    }

    /// A spin of 1 s with one gap of each cause, as long as given (none where 0).
    fn spin(preempted: u64, throttled: u64, stolen: u64, unreported: u64, short: u64) -> Jitter {
        let gaps = [
            (Cause::Preempted, preempted),
            (Cause::Throttled, throttled),
            (Cause::Stolen, stolen),
            (Cause::Unreported, unreported),
            (Cause::Short, short),
        ]
        .into_iter()
        .zip(0u64..)
        .filter(|((_, len_ns), _)| *len_ns > 0)
        .map(|((cause, len_ns), i)| Gap {
            start_ns: i * 100_000_000,
            len_ns,
            cause,
            wait_ns: if cause.switched_out() { len_ns } else { 0 },
            start_tick: 0,
            end_tick: 0,
            delta: None,
        })
        .collect();
        infer(&SpinRecord::of(gaps, 1_000_000_000), &KernelView::default())
    }

    fn decide_with(
        jitter: Option<&Jitter>,
        workloads: &[WorkloadReport],
        reference: &[(String, f64)],
    ) -> Verdict {
        decide(&Evidence {
            contention: &quiet_contention(),
            jitter,
            workloads,
            reference,
        })
    }

    /// A 1 s spin with `count` interrupt gaps of 80 µs, evenly spread.
    fn interrupted(count: u64) -> Jitter {
        let gaps = (0..count)
            .map(|i| Gap {
                start_ns: i * (1_000_000_000 / count),
                len_ns: 80_000,
                cause: Cause::Interrupt,
                wait_ns: 0,
                start_tick: 0,
                end_tick: 0,
                delta: None,
            })
            .collect();
        infer(&SpinRecord::of(gaps, 1_000_000_000), &KernelView::default())
    }

    #[test]
    fn interrupts_at_the_tick_rate_are_called_the_tick_and_are_noisy() {
        // 250 a second at HZ 250: the tick; 2.0% of the CPU, with no short gaps.
        let v = decide_with(Some(&interrupted(250)), &[], &[]);
        let rate = v.platform.and_then(|p| p.interrupts).unwrap();
        assert_eq!((rate.gaps_per_s, rate.tick_hz), (250.0, Some(250)));
        assert_eq!(rate.mostly_tick, Some(true));
        assert_eq!(v.class, Class::Noisy);
        assert_eq!(v.causes[0].interrupt_ratio, Some(0.02));
        assert_eq!(v.causes[0].short_ratio, Some(0.0));
        // The tick's rate: from half of 250 over the time on the CPU (about 125 a second
        // here) to 1.5 × 250.
        for (count, tick) in [(20, false), (200, true), (370, true), (380, false)] {
            let v = decide_with(Some(&interrupted(count)), &[], &[]);
            let rate = v.platform.and_then(|p| p.interrupts).unwrap();
            assert_eq!(rate.mostly_tick, Some(tick), "{count} a second");
        }
    }

    #[test]
    fn a_cause_under_two_percent_is_listed_but_the_machine_is_quiet() {
        let j = spin(0, 0, 0, 15_000_000, 1_000_000);
        let v = decide_with(Some(&j), &[], &[]);
        assert_eq!(v.class, Class::Quiet);
        assert_eq!(v.causes.len(), 1);
        assert_eq!(v.causes[0].class, Class::Stolen);
    }

    #[test]
    fn nothing_above_one_percent_is_quiet() {
        let j = spin(5_000_000, 0, 2_000_000, 2_000_000, 1_000_000);
        let steady = [workload("chase-l2", Some(&[4_000, 4_010, 4_020]), 0.0)];
        let v = decide_with(Some(&j), &steady, &[]);
        assert_eq!(v.class, Class::Quiet);
        assert!(v.causes.is_empty(), "{:?}", v.causes);
        let p = v.platform.unwrap();
        assert!((p.total_ratio - 0.01).abs() < 1e-12, "{p:?}");
        assert_eq!(p.worst_pause.map(|g| g.len_ns), Some(5_000_000));
    }

    #[test]
    fn a_hypervisor_taking_eight_percent_is_stolen_reported_or_not() {
        // 3.3% steal and 4.8% unreported pauses: neither alone is the largest cost, together
        // they are (the old verdict called this `noisy`).
        let j = spin(10_000_000, 0, 33_000_000, 48_000_000, 5_000_000);
        let v = decide_with(Some(&j), &[], &[]);
        assert_eq!(v.class, Class::Stolen);
        let top = &v.causes[0];
        assert!((top.cost_ratio - 0.081).abs() < 1e-12);
        assert_eq!(top.reported_ratio, Some(0.033));
        assert_eq!(top.unreported_ratio, Some(0.048));
        // Every cause of 1% or more is listed, largest first.
        let listed: Vec<_> = v.causes.iter().map(|c| c.class).collect();
        assert_eq!(listed, [Class::Stolen, Class::Contended]);
    }

    #[test]
    fn the_largest_cost_is_the_class() {
        let j = spin(400_000_000, 0, 50_000_000, 0, 0);
        let v = decide_with(Some(&j), &[], &[]);
        assert_eq!(v.class, Class::Contended);
        assert!(
            (v.causes[0].cost_ratio - 0.4).abs() < 1e-12,
            "{:?}",
            v.causes
        );
        assert_eq!(v.basis.spin.map(|s| s.switched_ratio), Some(0.4));
        let j = spin(100_000_000, 600_000_000, 50_000_000, 0, 0);
        assert_eq!(decide_with(Some(&j), &[], &[]).class, Class::Throttled);
        let j = spin(0, 0, 0, 0, 30_000_000);
        assert_eq!(decide_with(Some(&j), &[], &[]).class, Class::Noisy);
    }

    #[test]
    fn without_a_spin_the_kernels_counters_decide() {
        let mut c = quiet_contention();
        c.steal_ratio = crate::signal::Signal(Ok(0.12));
        let v = decide(&Evidence {
            contention: &c,
            jitter: None,
            workloads: &[],
            reference: &[],
        });
        assert_eq!(v.class, Class::Stolen);
        assert_eq!(v.causes[0].cost_ratio, 0.12);
        assert_eq!(v.basis.steal_ratio, Some(0.12));
        assert_eq!(v.basis.spin, None);
        assert_eq!(v.platform, None);
        let waited = [workload("json-serde-value", None, 0.4)];
        assert_eq!(decide_with(None, &waited, &[]).class, Class::Contended);
    }

    #[test]
    fn spread_per_op_in_two_fixed_workloads_is_slowed_but_one_is_not() {
        let spread: &[u64] = &[1000, 1000, 1100, 1300, 1400, 1500, 1500, 1600, 1700, 1800];
        let one = [
            workload("chase-llc", Some(spread), 0.0),
            workload("chase-l2", Some(&[1000; 10]), 0.0),
        ];
        assert_eq!(decide_with(None, &one, &[]).class, Class::Quiet);
        let two = [
            workload("chase-llc", Some(spread), 0.0),
            workload("decrypt-ctr", Some(spread), 0.0),
        ];
        let v = decide_with(None, &two, &[]);
        assert_eq!(v.class, Class::Slowed);
        let s = &v.slowed[0];
        assert_eq!((s.workload.as_str(), s.ratio), ("chase-llc", 1.7));
        assert_eq!(
            s.against,
            Against::Spread {
                p10_ns: 1.0,
                p90_ns: 1.7,
                runs_count: 10
            }
        );
        // 1.8 ns against 1.0 ns: the slow runs lost 1 − 1/1.8 of their time.
        assert!((v.causes[0].cost_ratio - (1.0 - 1.0 / 1.7)).abs() < 1e-9);
        let parsing = [
            workload("json-serde-value", None, 0.0),
            workload("json-simd-value", None, 0.0),
        ];
        assert_eq!(decide_with(None, &parsing, &[]).class, Class::Quiet);
    }

    /// Processes of the same work land apart (memory placement): a spread across the runs of
    /// all of them is no evidence of a slower CPU; the spread within each process is.
    #[test]
    fn the_spread_that_counts_is_within_a_process() {
        // Three processes, each steady within itself (1.0–1.05 ns a run), 1.0, 1.4 and 1.8
        // ns apart: 1.8× across all their runs, 1.05× within the median one.
        let steady_apart = |name| {
            let runs: Vec<u64> = [1000u64, 1400, 1800]
                .iter()
                .flat_map(|&base| (0..10).map(move |i| base + base * i / 200))
                .collect();
            let mut w = workload(name, Some(&runs), 0.0);
            w.replicates = [1.0, 1.4, 1.8]
                .map(|base| crate::runner::Replicate {
                    runs_count: 10,
                    wall_ns_p50: 1_000_000,
                    wall_ns_p90: 1_000_000,
                    wall_ns_p99: 1_000_000,
                    ns_per_op_p10: Some(base),
                    ns_per_op_p50: Some(base * 1.02),
                    ns_per_op_p90: Some(base * 1.05),
                })
                .to_vec();
            w
        };
        let pooled = steady_apart("chase-llc").measured.ns_per_op.unwrap();
        assert!(pooled.p90_over_p10().unwrap() > 1.6, "{pooled:?}");
        let two = [steady_apart("chase-llc"), steady_apart("decrypt-ctr")];
        assert_eq!(decide_with(None, &two, &[]).class, Class::Quiet);
    }

    #[test]
    fn a_slower_median_per_op_than_the_reference_is_slowed() {
        let now = [workload("chase-llc", Some(&[13_000; 5]), 0.0)];
        let reference = [("chase-llc".to_string(), 10.0)];
        let v = decide_with(None, &now, &reference);
        assert_eq!(v.class, Class::Slowed);
        // 13 000 ps lands in a histogram bucket whose top is 13 007 ps; a percentile is kept
        // within the exact smallest and largest values, here both 13 000.
        let Against::Reference {
            median_ns,
            reference_ns,
        } = v.slowed[0].against
        else {
            panic!("{:?}", v.slowed);
        };
        assert_eq!((median_ns, reference_ns), (13.0, 10.0));
        assert!((v.slowed[0].ratio - 1.3).abs() < 1e-12);
    }
}
