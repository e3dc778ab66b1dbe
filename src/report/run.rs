//! Assembles a `run`: every workload measured, then a spin, then the verdict.

use std::time::Duration;

use super::{FixtureInfo, Report, SCHEMA_VERSION, WorkloadReport};
use crate::jitter::{self, SpinError, clock::Choice};
use crate::runner::{Plan, Progress, Runs, measure};
use crate::signal::machine::Machine;
use crate::signal::snapshot::Sampler;
use crate::verdict::{Evidence, decide};
use crate::workload::{Inputs, Spec, WorkloadError};

/// The oldest report `--reference` reads: `workloads[].ns_per_op` has meant the same since
/// version 2 (version 3 reshaped only the verdict).
pub const REFERENCE_MIN_SCHEMA: u32 = 2;

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
    /// Run count instead of the budget's automatic one.
    pub runs: Option<u32>,
    /// The CPU the spin is pinned to (the caller's, by default).
    pub cpu: Option<usize>,
    /// `ns_per_op` medians of an earlier report, by workload ([`reference_medians`]).
    pub reference: &'a [(String, f64)],
}

/// How `run` spends its time: about 15 s by default, about 5 s quick.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub plan: Plan,
    /// How long the spin after the workloads lasts.
    pub spin: Duration,
}

impl Budget {
    pub fn standard() -> Budget {
        Budget {
            plan: Plan {
                runs: Runs::Auto,
                warmup: Duration::from_millis(100),
                target: Duration::from_millis(700),
                min_runs: 20,
            },
            spin: Duration::from_secs(2),
        }
    }

    pub fn quick() -> Budget {
        Budget {
            plan: Plan {
                runs: Runs::Auto,
                warmup: Duration::from_millis(40),
                target: Duration::from_millis(200),
                min_runs: 5,
            },
            spin: Duration::from_secs(1),
        }
    }
}

/// What a run is doing, for a progress display.
#[derive(Debug)]
pub enum RunEvent<'a> {
    Preparing(&'static str),
    /// A workload was skipped: it cannot be prepared on this fixture.
    Skipped(&'a WorkloadError),
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
}

/// Measures every workload of `plan`, then spins, and decides: the whole `run` report.
/// The kernel's contention counters cover all of it.
pub fn run(plan: &RunPlan<'_>, on: &mut dyn FnMut(RunEvent<'_>)) -> Result<Report, RunError> {
    let runner_plan = Plan {
        runs: plan.runs.map_or(Runs::Auto, Runs::Exactly),
        ..plan.budget.plan
    };
    let mut sampler = Sampler::new();
    let start = sampler.take();
    let mut workloads = Vec::new();
    for spec in &plan.specs {
        on(RunEvent::Preparing(spec.name));
        let mut prepared = match spec.prepare(plan.inputs) {
            Ok(prepared) => prepared,
            Err(error) if plan.skip_unpreparable => {
                on(RunEvent::Skipped(&error));
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
        workloads.push(WorkloadReport::from_measured(measured));
    }
    if workloads.is_empty() {
        return Err(RunError::NothingRan);
    }
    on(RunEvent::Spinning(plan.budget.spin));
    // Pinned (to the CPU it is on, unless the plan chose one) so that the steal it is
    // checked against is that CPU's, not the average of all.
    let options = jitter::Options {
        duration: plan.budget.spin,
        cpu: plan.cpu.or_else(jitter::current_cpu),
        ..jitter::Options::default()
    };
    let (jitter, _) = jitter::measure(&Choice::detect(), &options)?;
    let contention = sampler.take().since(&start);
    let verdict = decide(&Evidence {
        contention: &contention,
        jitter: Some(&jitter),
        workloads: &workloads,
        reference: plan.reference,
    });
    let fixture = &plan.inputs.fixture;
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        machine: plan.machine.clone(),
        fixture: FixtureInfo::of(fixture),
        workloads,
        contention,
        jitter: Some(jitter),
        verdict,
    })
}

/// Why an earlier report cannot be a reference.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReferenceError {
    #[error("is not a dynoprobe --json report (needs schema_version and workloads[].name): {0}")]
    NotAReport(String),
    #[error(
        "has schema_version {0}; this dynoprobe compares against versions {REFERENCE_MIN_SCHEMA} to {SCHEMA_VERSION} (make the reference again with `dynoprobe run --json`)"
    )]
    Version(u32),
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
pub const MIN_NS_PER_OP: f64 = 0.1;

/// `ns_per_op` medians by fixed-work workload from the bytes of an earlier `--json` report,
/// which must have run on the same payload as `fixture` (when it says which: reports before
/// the digest only give the size).
pub fn reference_medians(
    json: &[u8],
    fixture: &FixtureInfo,
) -> Result<Vec<(String, f64)>, ReferenceError> {
    #[derive(serde::Deserialize)]
    struct Earlier {
        schema_version: u32,
        #[serde(default)]
        fixture: Option<EarlierFixture>,
        workloads: Vec<EarlierWorkload>,
    }
    #[derive(serde::Deserialize)]
    struct EarlierFixture {
        json_bytes: u64,
        #[serde(default)]
        digest: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct EarlierWorkload {
        name: String,
        ns_per_op: Option<PerOp>,
    }
    #[derive(serde::Deserialize)]
    struct PerOp {
        p50: f64,
    }
    let earlier: Earlier =
        serde_json::from_slice(json).map_err(|e| ReferenceError::NotAReport(e.to_string()))?;
    if !(REFERENCE_MIN_SCHEMA..=SCHEMA_VERSION).contains(&earlier.schema_version) {
        return Err(ReferenceError::Version(earlier.schema_version));
    }
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
    fn a_reference_of_another_payload_is_refused() {
        let json = |fixture: &str| {
            format!(
                r#"{{"schema_version": 3, "fixture": {fixture},
                "workloads": [{{"name": "chase-l2", "ns_per_op": {{"p50": 4.5}}}}]}}"#
            )
        };
        let same = json(r#"{"json_bytes": 10, "digest": "fnv1a64:00000000000000aa"}"#);
        assert!(reference_medians(same.as_bytes(), &shipped()).is_ok());
        let older = json(r#"{"source": "shipped", "json_bytes": 10}"#);
        assert!(
            reference_medians(older.as_bytes(), &shipped()).is_ok(),
            "no digest yet"
        );
        for other in [
            r#"{"json_bytes": 10, "digest": "fnv1a64:00000000000000bb"}"#,
            r#"{"json_bytes": 11}"#,
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
            Err(ReferenceError::Version(1))
        );
        let future = br#"{"schema_version": 99, "workloads": []}"#;
        assert_eq!(
            reference_medians(future, &shipped()),
            Err(ReferenceError::Version(99))
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
            Err(ReferenceError::NotAReport(_))
        ));
    }
}
