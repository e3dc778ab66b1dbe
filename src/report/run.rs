//! Assembles a `run`: every workload measured, then a spin, then the verdict.

use std::time::{Duration, Instant};

use super::run_file::{RunFile, RunFileError};
use super::{FixtureInfo, Report, SCHEMA_VERSION, WorkloadReport};
use crate::jitter::{self, SpinError, clock::Clock};
use crate::runner::{Measured, Plan, PoolError, Progress, Runs, measure};
use crate::signal::machine::Machine;
use crate::signal::snapshot::Sampler;
use crate::verdict::{Evidence, decide};
use crate::workload::{Inputs, Spec, WorkloadError};

/// What a `run` measures, and how long it takes.
#[derive(Debug, Clone)]
pub struct RunPlan<'a> {
    /// The workloads, in order.
    pub specs: Vec<&'static Spec>,
    /// Skip a workload that cannot be prepared on this fixture (and say so through
    /// [`RunEvent::Skipped`]) instead of failing: for "all", not for workloads asked for by
    /// name.
    pub skip_unpreparable: bool,
    pub inputs: &'a Inputs,
    pub machine: Machine,
    pub budget: Budget,
    /// Run count per replicate instead of the budget's automatic one.
    pub runs: Option<u32>,
    /// Replicates (independent processes) to measure; `None`: as many as fit the budget.
    pub processes: Option<usize>,
    /// The CPU the spin is pinned to (the caller's, by default).
    pub cpu: Option<usize>,
    /// `ns_per_op` medians of an earlier report, by workload ([`reference_medians`]).
    pub reference: &'a [(String, f64)],
}

/// How `run` spends its time: about 15 s by default, about 5 s quick.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// How each replicate runs each workload.
    pub plan: Plan,
    /// How long all the replicates together should take: the number of replicates is this
    /// over the first one's time, within `processes`.
    pub measuring: Duration,
    /// The fewest and the most replicates the budget may choose.
    pub processes: (usize, usize),
    /// How long the spin after the workloads lasts.
    pub spin: Duration,
}

impl Budget {
    /// About 15 s: replicates of about 2.5 s each (most of it preparing the workloads in a
    /// fresh process: parsing the payload, building the pointer chains), five of them on the
    /// development VM, then a 2 s spin.
    pub fn standard() -> Budget {
        Budget {
            plan: Plan {
                runs: Runs::Auto,
                warmup: Duration::from_millis(30),
                target: Duration::from_millis(120),
                min_runs: 3,
            },
            measuring: Duration::from_secs(12),
            processes: (3, 10),
            spin: Duration::from_secs(2),
        }
    }

    /// About 5 s: two or three replicates and a 1 s spin.
    pub fn quick() -> Budget {
        Budget {
            plan: Plan {
                runs: Runs::Auto,
                warmup: Duration::from_millis(20),
                target: Duration::from_millis(50),
                min_runs: 2,
            },
            measuring: Duration::from_secs(4),
            processes: (2, 4),
            spin: Duration::from_secs(1),
        }
    }

    /// Replicates that fit `measuring` when the first took `first`, within `processes`.
    pub fn processes_for(&self, first: Duration) -> usize {
        let fit = self.measuring.as_secs_f64() / first.as_secs_f64().max(1e-3);
        let (least, most) = self.processes;
        (fit.floor() as usize).clamp(least, most)
    }
}

/// The most replicates `--processes` may ask for.
pub const MAX_PROCESSES: usize = 64;

/// What a run is doing, for a progress display.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// Replicate `index` (from 0) of `of` begins; `of` is `None` while the budget decides.
    Replicate {
        index: usize,
        of: Option<usize>,
    },
    Preparing(&'static str),
    /// A workload was skipped: it cannot be prepared on this fixture.
    Skipped(&'a str),
    Measuring(&'static str, Progress),
    Spinning(Duration),
}

/// Why a run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Prepare(WorkloadError),
    #[error("while measuring {workload}")]
    Measure {
        workload: &'static str,
        source: WorkloadError,
    },
    #[error("no workload could run on this fixture")]
    NothingRan,
    #[error(transparent)]
    Spin(#[from] SpinError),
    #[error("replicate {index}: {why}")]
    Replicate { index: usize, why: String },
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// What one replicate (one process) measured: every workload it could prepare, and why it
/// skipped the others. What a worker process prints.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReplicateOutcome {
    pub measured: Vec<Measured>,
    pub skipped: Vec<String>,
}

/// Measures replicate `index` of `plan` in this process: every workload once, in the plan's
/// order rotated by `index` (so each takes each place in turn, and the host's slow drift
/// spreads over all of them).
pub fn measure_replicate(
    plan: &RunPlan<'_>,
    index: usize,
    on: &mut dyn FnMut(RunEvent<'_>),
) -> Result<ReplicateOutcome, RunError> {
    let runner_plan = Plan {
        runs: plan.runs.map_or(Runs::Auto, Runs::Exactly),
        ..plan.budget.plan
    };
    let mut specs = plan.specs.clone();
    if !specs.is_empty() {
        let turn = index % specs.len();
        specs.rotate_left(turn);
    }
    let mut outcome = ReplicateOutcome {
        measured: Vec::new(),
        skipped: Vec::new(),
    };
    for spec in specs {
        on(RunEvent::Preparing(spec.name));
        let mut prepared = match spec.prepare(plan.inputs) {
            Ok(prepared) => prepared,
            Err(error) if plan.skip_unpreparable => {
                outcome.skipped.push(error.to_string());
                continue;
            }
            Err(error) => return Err(RunError::Prepare(error)),
        };
        let measured = measure(prepared.as_mut(), &runner_plan, &mut |progress| {
            on(RunEvent::Measuring(spec.name, progress))
        })
        .map_err(|source| RunError::Measure {
            workload: spec.name,
            source,
        })?;
        outcome.measured.push(measured);
    }
    Ok(outcome)
}

/// Where a replicate is measured: a worker process, or [`measure_replicate`] in this one.
pub(crate) type ReplicateSource<'s> =
    dyn FnMut(usize, &mut dyn FnMut(RunEvent<'_>)) -> Result<ReplicateOutcome, RunError> + 's;

/// Measures every workload of `plan` in replicates, each from `replicate` (a worker process,
/// or [`measure_replicate`] in this one), then spins, and decides: the whole `run` report.
/// The kernel's contention counters cover all of it.
pub fn run(
    plan: &RunPlan<'_>,
    replicate: &mut ReplicateSource<'_>,
    on: &mut dyn FnMut(RunEvent<'_>),
) -> Result<Report, RunError> {
    let mut sampler = Sampler::new();
    let start = sampler.take();
    let began = Instant::now();
    on(RunEvent::Replicate {
        index: 0,
        of: plan.processes,
    });
    let mut outcomes = vec![replicate(0, on)?];
    let processes = plan
        .processes
        .unwrap_or_else(|| plan.budget.processes_for(began.elapsed()));
    for index in 1..processes {
        on(RunEvent::Replicate {
            index,
            of: Some(processes),
        });
        outcomes.push(replicate(index, on)?);
    }
    for skipped in &outcomes[0].skipped {
        on(RunEvent::Skipped(skipped));
    }
    let workloads = by_workload(plan, outcomes)?;
    on(RunEvent::Spinning(plan.budget.spin));
    // Pinned (to the CPU it is on, unless the plan chose one) so that the steal it is
    // checked against is that CPU's, not the average of all.
    let options = jitter::Options {
        duration: plan.budget.spin,
        cpu: plan.cpu.or_else(jitter::current_cpu),
        ..jitter::Options::default()
    };
    let (jitter, _) = jitter::measure(&Clock::detect(), &options)?;
    let contention = sampler.take().since(&start);
    let verdict = decide(&Evidence {
        contention: &contention,
        jitter: Some(&jitter),
        workloads: &workloads,
        reference: plan.reference,
    });
    let fixture = &plan.inputs.fixture;
    let mut machine = plan.machine.clone();
    machine.accounting = jitter.accounting.clone().or(machine.accounting);
    Ok(Report {
        kind: super::kind::Kind::Run,
        schema_version: SCHEMA_VERSION,
        machine,
        fixture: FixtureInfo::of(fixture),
        workloads,
        contention,
        jitter: Some(jitter),
        verdict,
    })
}

/// Each workload's replicates pooled, in the plan's order; an error when none ran.
fn by_workload(
    plan: &RunPlan<'_>,
    outcomes: Vec<ReplicateOutcome>,
) -> Result<Vec<WorkloadReport>, RunError> {
    let mut measured: Vec<Measured> = outcomes.into_iter().flat_map(|o| o.measured).collect();
    let mut workloads = Vec::new();
    for spec in &plan.specs {
        let (of_spec, rest): (Vec<Measured>, Vec<Measured>) =
            measured.into_iter().partition(|m| m.name == spec.name);
        measured = rest;
        if !of_spec.is_empty() {
            workloads.push(WorkloadReport::from_replicates(of_spec)?);
        }
    }
    if workloads.is_empty() {
        return Err(RunError::NothingRan);
    }
    Ok(workloads)
}

/// Why an earlier report cannot be a reference.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReferenceError {
    #[error(transparent)]
    File(#[from] RunFileError),
    #[error(
        "has no fixed-work workload with an ns_per_op median (chase-*, decrypt-cbc, decrypt-ctr)"
    )]
    NoFixedWork,
    #[error(
        "ran on another payload ({theirs}; this run: {ours}); the decrypt workloads' time per op depends on its size, so make the reference with the same --fixture"
    )]
    OtherFixture { theirs: String, ours: String },
    #[error(
        "gives {workload} an ns_per_op median of {ns_per_op} ns, which is no time per op (at least {MIN_NS_PER_OP} ns: a cycle at 10 GHz); is the report edited or corrupt?"
    )]
    Implausible { workload: String, ns_per_op: f64 },
}

/// The shortest time per op a reference may give: one cycle of a 10 GHz clock. A median of
/// 0 or 1e-5 ns made `slowed` read 689151×.
pub(crate) const MIN_NS_PER_OP: f64 = 0.1;

/// `ns_per_op` medians by fixed-work workload from the bytes of an earlier `--json` report,
/// which must have run on the same payload as `fixture` (when it says which: reports before
/// the digest only give the size).
pub fn reference_medians(
    json: &[u8],
    fixture: &FixtureInfo,
) -> Result<Vec<(String, f64)>, ReferenceError> {
    let earlier = RunFile::from_slice(json)?;
    if let Some(theirs) = &earlier.fixture {
        // Reports before the digest give only the size.
        let same_digest = (theirs.digest.as_ref())
            .zip(fixture.digest.as_ref())
            .is_none_or(|(a, b)| a == b);
        if theirs.json_bytes != fixture.json_bytes || !same_digest {
            let name = |bytes: u64, digest: &Option<String>| {
                format!(
                    "{bytes} bytes, {}",
                    digest.as_deref().unwrap_or("no digest")
                )
            };
            return Err(ReferenceError::OtherFixture {
                theirs: name(theirs.json_bytes, &theirs.digest),
                ours: name(fixture.json_bytes, &fixture.digest),
            });
        }
    }
    let medians: Vec<(String, f64)> = earlier
        .workloads
        .into_iter()
        .filter_map(|w| Some((w.name, w.ns_per_op?.p50)))
        .collect();
    if let Some((workload, ns)) = medians
        .iter()
        .find(|(_, ns)| !(ns.is_finite() && *ns >= MIN_NS_PER_OP))
    {
        return Err(ReferenceError::Implausible {
            workload: workload.clone(),
            ns_per_op: *ns,
        });
    }
    if medians.is_empty() {
        return Err(ReferenceError::NoFixedWork);
    }
    Ok(medians)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> FixtureInfo {
        FixtureInfo {
            source: "shipped".into(),
            json_bytes: 10,
            digest: Some("fnv1a64:00000000000000aa".into()),
        }
    }

    #[test]
    fn the_budget_fits_as_many_replicates_as_the_first_took_within_bounds() {
        let budget = Budget::standard();
        assert_eq!(budget.processes_for(Duration::from_secs(3)), 4);
        assert_eq!(
            budget.processes_for(Duration::from_millis(100)),
            10,
            "at most 10"
        );
        assert_eq!(
            budget.processes_for(Duration::from_secs(30)),
            3,
            "at least 3"
        );
        assert_eq!(Budget::quick().processes_for(Duration::from_secs(9)), 2);
    }

    #[test]
    fn a_reference_of_another_payload_is_refused() {
        let json = |fixture: &str| {
            format!(
                r#"{{"schema_version": 3, "fixture": {fixture},
                "workloads": [{{"name": "chase-l2", "ns_per_op": {{"p50": 4.5}}}}]}}"#
            )
        };
        let same = json(
            r#"{"source": "shipped", "json_bytes": 10, "digest": "fnv1a64:00000000000000aa"}"#,
        );
        assert!(reference_medians(same.as_bytes(), &shipped()).is_ok());
        let older = json(r#"{"source": "shipped", "json_bytes": 10}"#);
        assert!(
            reference_medians(older.as_bytes(), &shipped()).is_ok(),
            "no digest yet"
        );
        for other in [
            r#"{"source": "a.json", "json_bytes": 10, "digest": "fnv1a64:00000000000000bb"}"#,
            r#"{"source": "b.json", "json_bytes": 11}"#,
        ] {
            let error = reference_medians(json(other).as_bytes(), &shipped()).unwrap_err();
            assert!(
                matches!(error, ReferenceError::OtherFixture { .. }),
                "{other}"
            );
            assert!(error.to_string().contains("same --fixture"), "{error}");
        }
    }

    #[test]
    fn references_must_be_reports_with_fixed_work() {
        let good = br#"{"schema_version": 2, "workloads": [{"name": "chase-l2", "ns_per_op": {"p50": 4.5}},
            {"name": "json-serde-value", "ns_per_op": null}]}"#;
        assert_eq!(
            reference_medians(good, &shipped()).unwrap(),
            vec![("chase-l2".to_string(), 4.5)]
        );
        let old = br#"{"schema_version": 1, "workloads": []}"#;
        assert_eq!(
            reference_medians(old, &shipped()),
            Err(ReferenceError::File(RunFileError::Version(1)))
        );
        let future = br#"{"schema_version": 99, "workloads": []}"#;
        assert_eq!(
            reference_medians(future, &shipped()),
            Err(ReferenceError::File(RunFileError::Version(99)))
        );
        for p50 in ["0", "0.00001", "-3"] {
            let text = format!(
                r#"{{"schema_version": 3, "workloads": [{{"name": "chase-l2", "ns_per_op": {{"p50": {p50}}}}}]}}"#
            );
            let refused = reference_medians(text.as_bytes(), &shipped()).unwrap_err();
            assert!(
                matches!(&refused, ReferenceError::Implausible { workload, .. } if workload == "chase-l2"),
                "{p50}: {refused}"
            );
        }
        let none = br#"{"schema_version": 3, "workloads": [{"name": "json-serde-value", "ns_per_op": null}]}"#;
        assert_eq!(
            reference_medians(none, &shipped()),
            Err(ReferenceError::NoFixedWork)
        );
        let truncated = br#"{"workloads": [{"name": "chase-l2"}"#;
        assert!(matches!(
            reference_medians(truncated, &shipped()),
            Err(ReferenceError::File(RunFileError::NotAReport(_)))
        ));
    }
}
