//! The verdict: what the platform cost, as one class, the numbers that led there, and one
//! sentence a person can act on. Checked in order of how directly the platform is to blame:
//! throttled, stolen, contended, slowed, noisy, quiet. Thresholds are named constants; the
//! README says why each is where it is.

use serde::{Deserialize, Serialize};

use crate::jitter::Jitter;
use crate::report::WorkloadReport;
use crate::signal::snapshot::Contention;

/// Throttled: the cgroup was stopped by its quota at least this share of the time.
pub const THROTTLED_MIN_RATIO: f64 = 0.05;
/// Stolen: the hypervisor took at least this share of the CPU.
pub const STOLEN_MIN_RATIO: f64 = 0.05;
/// Contended: the probe waited on a run queue at least this share of the time.
pub const CONTENDED_MIN_RATIO: f64 = 0.05;
/// Slowed: only counts for runs that stayed on the CPU, i.e. off-CPU below this share.
pub const SLOWED_MAX_OFF_CPU_RATIO: f64 = 0.02;
/// Slowed: on-CPU time p90 / p10 of a fixed piece of work above this…
pub const SLOWED_MIN_SPREAD: f64 = 1.25;
/// …in at least this many fixed-work workloads (one alone can be a fluke of its cache set).
pub const SLOWED_MIN_WORKLOADS: usize = 2;
/// Slowed: on-CPU median at least this many times the reference report's.
pub const SLOWED_MIN_REFERENCE_RATIO: f64 = 1.2;
/// Noisy: at least this share of the spin lost in gaps no kernel counter explains.
pub const NOISY_MIN_UNEXPLAINED_RATIO: f64 = 0.01;
/// Workloads whose work is fixed and bound by cache and memory: the evidence for `slowed`.
pub const FIXED_WORK: &[&str] = &[
    "chase-l2",
    "chase-llc",
    "chase-dram",
    "decrypt-cbc",
    "decrypt-ctr",
];

/// The primary class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Quiet,
    Stolen,
    Contended,
    Throttled,
    Slowed,
    Noisy,
}

/// A class, a sentence to act on, and the figures it rests on (each with its source).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub class: Class,
    pub summary: String,
    pub evidence: Vec<String>,
}

/// What the verdict is drawn from.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub contention: &'a Contention,
    pub jitter: Option<&'a Jitter>,
    pub workloads: &'a [WorkloadReport],
    /// On-CPU medians from an earlier report (`--reference`), by workload name.
    pub reference: &'a [(String, u64)],
}

/// Decides the class.
pub fn decide(e: &Evidence<'_>) -> Verdict {
    let c = e.contention;
    let mut evidence = baseline_evidence(e);
    let pct = |r: f64| format!("{:.1}%", r * 100.0);

    let throttled = c
        .throttled_ratio
        .value()
        .filter(|&r| r >= THROTTLED_MIN_RATIO);
    if let Some(t) = e.jitter.and_then(|j| j.throttle) {
        let lost_ms = t.period_ms * (1.0 - t.quota_ratio);
        let matched = match t.matches_cgroup_period {
            Some(true) => "the cgroup's own CFS period",
            Some(false) => "not the cgroup's CFS period",
            None => "the cgroup's period was not readable",
        };
        evidence.insert(
            0,
            format!(
                "spin: off-CPU gaps of {lost_ms:.0} ms recur every {:.1} ms ({matched})",
                t.period_ms
            ),
        );
        return verdict(
            Class::Throttled,
            format!(
                "{} of a CPU: throttled {lost_ms:.0} ms in every {:.0} ms period; ask for a larger quota or use fewer threads.",
                pct(t.quota_ratio),
                t.period_ms
            ),
            evidence,
        );
    }
    if let Some(r) = throttled {
        return verdict(
            Class::Throttled,
            format!(
                "The cgroup's CPU quota stopped this process {} of the time; ask for a larger quota or use fewer threads.",
                pct(r)
            ),
            evidence,
        );
    }
    if let Some(r) = c.steal_ratio.value().filter(|&r| r >= STOLEN_MIN_RATIO) {
        return verdict(
            Class::Stolen,
            format!(
                "The hypervisor gave {} of the CPU to other guests (steal); a less crowded or dedicated instance class avoids it.",
                pct(r)
            ),
            evidence,
        );
    }
    if let Some(wait) = runqueue_wait(e).filter(|&w| w >= CONTENDED_MIN_RATIO) {
        let turns = e
            .jitter
            .and_then(|j| j.timeslice_p50_ms)
            .map_or(String::new(), |t| format!(", in turns of about {t:.1} ms"));
        return verdict(
            Class::Contended,
            format!(
                "Another task shared this CPU: the probe waited for it {} of the time{turns}; move other work off this machine or use dedicated cores.",
                pct(wait)
            ),
            evidence,
        );
    }
    let slowed = slowed_workloads(e);
    if !slowed.is_empty() {
        let worst = slowed
            .iter()
            .map(|(_, ratio, _)| *ratio)
            .fold(0.0, f64::max);
        evidence.splice(0..0, slowed.iter().map(|(_, _, line)| line.clone()));
        return verdict(
            Class::Slowed,
            format!(
                "The same work took up to {worst:.2}× the CPU time with nothing taking the CPU away: neighbours' cache and memory traffic (or a lower clock); a dedicated-core instance avoids it."
            ),
            evidence,
        );
    }
    if let Some(u) = e
        .jitter
        .and_then(|j| j.unexplained_ratio)
        .filter(|&u| u >= NOISY_MIN_UNEXPLAINED_RATIO)
    {
        return verdict(
            Class::Noisy,
            format!(
                "{} of the time vanished in short gaps that no kernel counter explains (interrupts, hypervisor exits); tail latency below a millisecond will show it.",
                pct(u)
            ),
            evidence,
        );
    }
    verdict(Class::Quiet, "Nothing took the CPU away and the same work cost the same CPU time: latency spikes on this machine are the code's own.".into(), evidence)
}

fn verdict(class: Class, summary: String, evidence: Vec<String>) -> Verdict {
    Verdict {
        class,
        summary,
        evidence,
    }
}

/// The probe's run-queue wait: the spinning thread's if there was a spin, else the worst
/// workload's, else the whole process's.
fn runqueue_wait(e: &Evidence<'_>) -> Option<f64> {
    e.jitter
        .and_then(|j| j.runqueue_wait_ratio)
        .or_else(|| {
            e.workloads
                .iter()
                .filter_map(|w| w.runqueue_wait_ratio)
                .reduce(f64::max)
        })
        .or_else(|| e.contention.runqueue_wait_ratio.value())
}

/// Fixed-work workloads that got slower on the CPU: (name, ratio, evidence line).
fn slowed_workloads(e: &Evidence<'_>) -> Vec<(String, f64, String)> {
    let fixed = e.workloads.iter().filter(|w| {
        FIXED_WORK.contains(&w.name.as_str()) && w.off_cpu_ratio < SLOWED_MAX_OFF_CPU_RATIO
    });
    let mut against_reference = Vec::new();
    let mut spread = Vec::new();
    for w in fixed {
        if let Some((_, before)) = e.reference.iter().find(|(name, _)| *name == w.name) {
            let ratio = w.on_cpu_ns.p50 as f64 / (*before).max(1) as f64;
            if ratio >= SLOWED_MIN_REFERENCE_RATIO {
                against_reference.push((w.name.clone(), ratio, format!(
                    "{}: on-CPU median {:.3} ms vs {:.3} ms in the reference ({ratio:.2}×), off-CPU {:.1}%",
                    w.name, w.on_cpu_ns.p50 as f64 / 1e6, *before as f64 / 1e6, w.off_cpu_ratio * 100.0)));
            }
        }
        let ratio = w.on_cpu_ns.p90 as f64 / w.on_cpu_ns.p10.max(1) as f64;
        if ratio > SLOWED_MIN_SPREAD {
            spread.push((
                w.name.clone(),
                ratio,
                format!(
                    "{}: on-CPU p90 / p10 = {ratio:.2} ({:.3} / {:.3} ms), off-CPU {:.1}%",
                    w.name,
                    w.on_cpu_ns.p90 as f64 / 1e6,
                    w.on_cpu_ns.p10 as f64 / 1e6,
                    w.off_cpu_ratio * 100.0
                ),
            ));
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

/// The figures every verdict lists, each with its source.
fn baseline_evidence(e: &Evidence<'_>) -> Vec<String> {
    let c = e.contention;
    let pct = crate::report::percent;
    let mut lines = vec![
        format!(
            "steal {} of CPU time (/proc/stat)",
            pct(c.steal_ratio.value())
        ),
        format!(
            "run-queue wait {} of runnable time (schedstat)",
            pct(c.runqueue_wait_ratio.value())
        ),
        format!(
            "throttled {} of the time, {} of periods (cgroup cpu.stat)",
            pct(c.throttled_ratio.value()),
            pct(c.throttled_period_ratio.value())
        ),
    ];
    if let Some(j) = e.jitter {
        lines.push(format!(
            "spin: off-CPU {:.2}% in {} gaps, {} preemptions (kernel: {} involuntary switches), run-queue wait {}, unexplained {}",
            j.off_cpu_ratio * 100.0, j.gaps_count, j.preemptions_count,
            j.involuntary_switches_count.map_or("n/a".into(), |n| n.to_string()),
            pct(j.runqueue_wait_ratio), pct(j.unexplained_ratio)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::snapshot::Sampler;
    use crate::stats::Distribution;

    fn quiet_contention() -> Contention {
        let mut sampler = Sampler::new();
        let earlier = sampler.take();
        let mut c = sampler.take().since(&earlier);
        c.steal_ratio = crate::signal::Signal(Ok(0.0));
        c.throttled_ratio = crate::signal::Signal(Ok(0.0));
        c.runqueue_wait_ratio = crate::signal::Signal(Ok(0.0));
        c
    }

    fn workload(name: &str, on_cpu: &[u64], off_cpu_ratio: f64) -> WorkloadReport {
        let d = Distribution::of(on_cpu.iter().copied()).unwrap();
        WorkloadReport {
            name: name.into(),
            runs_count: on_cpu.len() as u64,
            bytes_per_run: 1,
            throughput_bytes_per_s: None,
            wall_ns: d,
            on_cpu_ns: d,
            off_cpu_ns: d,
            off_cpu_ratio,
            preempted_runs_count: Some(0),
            runqueue_wait_ratio: Some(off_cpu_ratio),
            checksum: 0,
        }
    }

    fn decide_with(
        c: &Contention,
        workloads: &[WorkloadReport],
        reference: &[(String, u64)],
    ) -> Verdict {
        decide(&Evidence {
            contention: c,
            jitter: None,
            workloads,
            reference,
        })
    }

    #[test]
    fn nothing_wrong_is_quiet() {
        let c = quiet_contention();
        let steady = [workload("chase-l2", &[1000, 1010, 1020], 0.0)];
        let v = decide_with(&c, &steady, &[]);
        assert_eq!(v.class, Class::Quiet);
        assert!(v.evidence.iter().any(|l| l.starts_with("steal 0.0%")));
    }

    #[test]
    fn steal_above_five_percent_is_stolen() {
        let mut c = quiet_contention();
        c.steal_ratio = crate::signal::Signal(Ok(0.12));
        let v = decide_with(&c, &[], &[]);
        assert_eq!(v.class, Class::Stolen);
        assert!(v.summary.contains("12.0%"), "{}", v.summary);
    }

    #[test]
    fn throttling_outranks_everything() {
        let mut c = quiet_contention();
        c.steal_ratio = crate::signal::Signal(Ok(0.5));
        c.throttled_ratio = crate::signal::Signal(Ok(0.7));
        assert_eq!(decide_with(&c, &[], &[]).class, Class::Throttled);
    }

    #[test]
    fn run_queue_wait_in_a_workload_is_contended() {
        let c = quiet_contention();
        let v = decide_with(&c, &[workload("json-serde-value", &[1000], 0.4)], &[]);
        assert_eq!(v.class, Class::Contended);
        assert!(v.summary.contains("40.0%"), "{}", v.summary);
    }

    #[test]
    fn spread_in_two_fixed_workloads_is_slowed_but_one_is_not() {
        let c = quiet_contention();
        let spread = [1000, 1000, 1100, 1300, 1400, 1500, 1500, 1600, 1700, 1800];
        let one = [
            workload("chase-llc", &spread, 0.0),
            workload("chase-l2", &[1000; 10], 0.0),
        ];
        assert_eq!(decide_with(&c, &one, &[]).class, Class::Quiet);
        let two = [
            workload("chase-llc", &spread, 0.0),
            workload("chase-dram", &spread, 0.01),
        ];
        let v = decide_with(&c, &two, &[]);
        assert_eq!(v.class, Class::Slowed);
        assert!(
            v.evidence[0].contains("p90 / p10 = 1.70"),
            "{:?}",
            v.evidence
        );
        let off_cpu = [
            workload("chase-llc", &spread, 0.1),
            workload("chase-dram", &spread, 0.1),
        ];
        assert_ne!(
            decide_with(&c, &off_cpu, &[]).class,
            Class::Slowed,
            "off-CPU time explains it"
        );
    }

    #[test]
    fn a_slower_median_than_the_reference_is_slowed() {
        let c = quiet_contention();
        let now = [workload("chase-llc", &[1300; 5], 0.0)];
        let reference = [("chase-llc".to_string(), 1000)];
        let v = decide_with(&c, &now, &reference);
        assert_eq!(v.class, Class::Slowed);
        assert!(v.summary.contains("1.30×"), "{}", v.summary);
    }
}
