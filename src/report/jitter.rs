//! Assembles a `jitter` report: one spinning thread per CPU asked for, then the sleep
//! phase, then the verdict from the worst spin.

use std::time::Duration;

use serde::Serialize;

use super::SCHEMA_VERSION;
use super::kind::Kind;
use crate::jitter::{self, Jitter, Options, SpinError, clock::Clock, sleep::overshoot};
use crate::signal::machine::Machine;
use crate::signal::snapshot::Contention;
use crate::stats::Distribution;
use crate::verdict::{Evidence, Verdict, decide};

/// The sleep phase lasts this long at most (and never longer than the spin).
pub const SLEEP_PHASE: Duration = Duration::from_secs(2);

/// What a `jitter` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterPlan {
    /// How long each thread spins.
    pub duration: Duration,
    /// One pinned thread per CPU; empty: one unpinned thread.
    pub cpus: Vec<usize>,
    /// Gaps longer than this are recorded (`None`: the auto threshold).
    pub threshold_ns: Option<u64>,
    /// Gaps at least this long are attributed.
    pub attribute_threshold_ns: u64,
    /// Interval of the sleep phase, ns.
    pub sleep_interval_ns: u64,
}

/// `dynoprobe jitter --json`.
#[derive(Debug, Clone, Serialize)]
pub struct JitterReport {
    /// Always [`Kind::Jitter`].
    pub kind: Kind,
    pub schema_version: u32,
    pub machine: Machine,
    /// The kernel's counters over the first spin.
    pub contention: Contention,
    /// One per spinning thread, in the order of [`JitterPlan::cpus`].
    pub jitter: Vec<Jitter>,
    /// How late `clock_nanosleep` to absolute deadlines woke, ns.
    pub sleep_overshoot_ns: Option<Distribution>,
    pub sleep_interval_ns: u64,
    /// Decided from the spin that lost the most time.
    pub verdict: Verdict,
}

/// Spins on every CPU of `plan` at once, then sleeps to deadlines; decides from the worst
/// spin.
pub fn jitter(plan: &JitterPlan) -> Result<JitterReport, SpinError> {
    let clock = Clock::detect();
    let options = |cpu| Options {
        duration: plan.duration,
        threshold_ns: plan.threshold_ns,
        attribute_threshold_ns: plan.attribute_threshold_ns,
        cpu,
    };
    let results = if plan.cpus.is_empty() {
        vec![jitter::measure(&clock, &options(None))?]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = plan
                .cpus
                .iter()
                .map(|&cpu| {
                    let (clock, options) = (&clock, options(Some(cpu)));
                    scope.spawn(move || jitter::measure(clock, &options))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Result<Vec<_>, _>>()
        })?
    };
    let sleep_overshoot_ns = overshoot(
        SLEEP_PHASE.min(plan.duration),
        Duration::from_nanos(plan.sleep_interval_ns),
    );
    let (jitters, contentions): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    let contention = contentions
        .into_iter()
        .next()
        .expect("at least one spin: no CPUs means one unpinned thread");
    let worst = jitters
        .iter()
        .max_by(|a, b| a.off_cpu_ratio.total_cmp(&b.off_cpu_ratio));
    let verdict = decide(&Evidence {
        contention: &contention,
        jitter: worst,
        workloads: &[],
        reference: &[],
    });
    Ok(JitterReport {
        kind: Kind::Jitter,
        schema_version: SCHEMA_VERSION,
        machine: machine_seen_by(&jitters),
        contention,
        jitter: jitters,
        sleep_overshoot_ns,
        sleep_interval_ns: plan.sleep_interval_ns,
        verdict,
    })
}

/// This machine, with what a spin showed of the kernel's accounting beyond what was read.
fn machine_seen_by(jitters: &[Jitter]) -> Machine {
    let mut machine = Machine::read();
    let seen = (jitters.iter().filter_map(|j| j.accounting.clone()))
        .find(|a| Some(a) != machine.accounting.as_ref());
    machine.accounting = seen.or(machine.accounting);
    machine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_jitter_has_one_spin_per_cpu_and_a_verdict_from_one_of_them() {
        let cpus = jitter::current_cpu().into_iter().collect::<Vec<_>>();
        let plan = JitterPlan {
            duration: Duration::from_millis(50),
            cpus: cpus.clone(),
            threshold_ns: None,
            attribute_threshold_ns: 2_000,
            sleep_interval_ns: 1_000_000,
        };
        let report = jitter(&plan).unwrap();
        assert_eq!(report.jitter.len(), cpus.len().max(1));
        assert_eq!(report.schema_version, SCHEMA_VERSION);
        let spin = report.verdict.basis.spin.expect("decided from a spin");
        assert_eq!(spin.preemptions_count, report.jitter[0].preemptions_count);
        // 50 ms of sleep phase to a deadline every 1 ms: 50 deadlines, however late each.
        assert_eq!(report.sleep_overshoot_ns.map(|d| d.count), Some(50));
    }
}
