//! `dynoprobe run`: prepare the chosen workloads, measure each, print the report.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use dynoprobe::jitter::{self, clock::Choice};
use dynoprobe::render;
use dynoprobe::report::{FixtureInfo, Report, SCHEMA_VERSION, WorkloadReport};
use dynoprobe::runner::{Plan, Progress, Runs, measure};
use dynoprobe::signal::machine::Machine;
use dynoprobe::signal::snapshot::Sampler;
use dynoprobe::verdict::{Evidence, decide};
use dynoprobe::workload::{self, Fixture, Inputs, Spec};

/// The oldest report `--reference` reads: `workloads[].ns_per_op` has meant the same since
/// version 2 (version 3 reshaped only the verdict).
const REFERENCE_MIN_SCHEMA: u32 = 2;

use super::RunArgs;

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.list {
        for spec in workload::catalog() {
            println!("{:<18} {}", spec.name, spec.summary);
        }
        return Ok(());
    }
    let selected = select(&args.workloads)?;
    let fixture = match &args.fixture {
        Some(path) => Fixture::load(path)?,
        None => Fixture::shipped(),
    };
    let reference = match &args.reference {
        Some(path) => load_reference(path)?,
        None => Vec::new(),
    };
    if let Some(cpu) = args.cpu
        && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
    {
        bail!("cannot pin dynoprobe to CPU {cpu}");
    }
    let machine = Machine::read();
    let inputs = Inputs {
        fixture,
        caches: machine.caches,
    };
    let budget = Budget::new(args.quick);
    let plan = Plan {
        runs: args.runs.map_or(Runs::Auto, Runs::Exactly),
        ..budget.plan
    };
    let bar = super::progress_bar(args.json, "{msg:<24} [{bar:30}] {pos}/{len} runs", 0);
    let mut sampler = Sampler::new();
    let start = sampler.take();
    let mut workloads = Vec::new();
    for spec in &selected {
        bar.set_message(format!("preparing {}", spec.name));
        let mut prepared = match spec.prepare(&inputs) {
            Ok(prepared) => prepared,
            // Asked for by name: the user wants to know. Part of "all": skip and say why.
            Err(error) if args.workloads.is_empty() => {
                bar.suspend(|| eprintln!("dynoprobe: skipping {error}"));
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let measured = measure(prepared.as_mut(), &plan, &mut |progress| match progress {
            Progress::WarmingUp => bar.set_message(format!("warming up {}", spec.name)),
            Progress::Measuring { done, total } => {
                bar.set_length(u64::from(total));
                bar.set_position(u64::from(done));
                bar.set_message(spec.name);
            }
        })
        .with_context(|| format!("while measuring {}", spec.name))?;
        workloads.push(WorkloadReport::from_measured(&measured));
    }
    if workloads.is_empty() {
        bail!("no workload could run on this fixture");
    }
    bar.set_length(1);
    bar.set_position(0);
    bar.set_message(format!(
        "spinning {:.0} s (hiccups)",
        budget.spin.as_secs_f64()
    ));
    // Pinned (to the CPU it is on, unless --cpu chose one) so that the steal it is checked
    // against is that CPU's, not the average of all.
    let options = jitter::Options {
        duration: budget.spin,
        cpu: args.cpu.or_else(jitter::current_cpu),
        ..jitter::Options::default()
    };
    let (jitter, _) = jitter::measure(&Choice::detect(), &options)?;
    let contention = sampler.take().since(&start);
    bar.finish_and_clear();
    let verdict = decide(&Evidence {
        contention: &contention,
        jitter: Some(&jitter),
        workloads: &workloads,
        reference: &reference,
    });
    let report = Report {
        schema_version: SCHEMA_VERSION,
        machine,
        fixture: FixtureInfo::new(&inputs.fixture.origin, inputs.fixture.json.len() as u64),
        workloads,
        contention,
        jitter: Some(jitter),
        verdict,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::run::report(&report));
    }
    Ok(())
}

/// How `run` spends its time: about 15 s by default, about 5 s with `--quick`.
struct Budget {
    plan: Plan,
    spin: Duration,
}

impl Budget {
    fn new(quick: bool) -> Budget {
        if quick {
            Budget {
                plan: Plan {
                    runs: Runs::Auto,
                    warmup: Duration::from_millis(40),
                    target: Duration::from_millis(200),
                    min_runs: 5,
                },
                spin: Duration::from_secs(1),
            }
        } else {
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
    }
}

/// `ns_per_op` medians by fixed-work workload from an earlier `--json` report.
fn load_reference(path: &Path) -> anyhow::Result<Vec<(String, f64)>> {
    #[derive(serde::Deserialize)]
    struct Earlier {
        schema_version: u32,
        workloads: Vec<EarlierWorkload>,
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
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read reference report {}", path.display()))?;
    let earlier: Earlier = serde_json::from_slice(&text).with_context(|| {
        format!(
            "reference {} is not a dynoprobe --json report (needs schema_version and workloads[].name)",
            path.display()
        )
    })?;
    if !(REFERENCE_MIN_SCHEMA..=SCHEMA_VERSION).contains(&earlier.schema_version) {
        bail!(
            "reference {} has schema_version {}; this dynoprobe compares against versions {REFERENCE_MIN_SCHEMA} to {SCHEMA_VERSION} (make the reference again with `dynoprobe run --json`)",
            path.display(),
            earlier.schema_version
        );
    }
    let medians: Vec<(String, f64)> = earlier
        .workloads
        .into_iter()
        .filter_map(|w| Some((w.name, w.ns_per_op?.p50)))
        .filter(|(_, ns)| ns.is_finite() && *ns > 0.0)
        .collect();
    if medians.is_empty() {
        bail!(
            "reference {} has no fixed-work workload with a positive ns_per_op median (chase-*, decrypt-cbc, decrypt-ctr)",
            path.display()
        );
    }
    Ok(medians)
}

/// The specs named by `--workload`, in catalog order without repeats; all when none is named.
fn select(names: &[String]) -> anyhow::Result<Vec<&'static Spec>> {
    if let Some(unknown) = names.iter().find(|n| workload::find(n).is_none()) {
        bail!(
            "unknown workload '{unknown}'; valid names: {}",
            workload::names()
        );
    }
    Ok(workload::catalog()
        .iter()
        .filter(|spec| names.is_empty() || names.iter().any(|n| n == spec.name))
        .collect())
}

/// A bar on stderr, hidden when stderr is not a terminal or when stdout carries JSON.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_must_be_reports() {
        let dir = std::env::temp_dir().join(format!("dynoprobe-ref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"{"schema_version": 2, "workloads": [{"name": "chase-l2", "ns_per_op": {"p50": 4.5}},
                {"name": "json-serde-value", "ns_per_op": null}]}"#,
        )
        .unwrap();
        assert_eq!(
            load_reference(&good).unwrap(),
            vec![("chase-l2".to_string(), 4.5)]
        );
        let old = dir.join("old.json");
        std::fs::write(&old, r#"{"schema_version": 1, "workloads": []}"#).unwrap();
        let error = format!("{:#}", load_reference(&old).unwrap_err());
        assert!(error.contains("schema_version 1"), "{error}");
        let zero = dir.join("zero.json");
        std::fs::write(
            &zero,
            r#"{"schema_version": 2, "workloads": [{"name": "chase-l2", "ns_per_op": {"p50": 0}}]}"#,
        )
        .unwrap();
        let error = format!("{:#}", load_reference(&zero).unwrap_err());
        assert!(error.contains("positive ns_per_op"), "{error}");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"workloads": [{"name": "chase-l2"}"#).unwrap();
        let error = format!("{:#}", load_reference(&bad).unwrap_err());
        assert!(error.contains("not a dynoprobe --json report"), "{error}");
        assert!(
            format!("{:#}", load_reference(&dir.join("none.json")).unwrap_err())
                .contains("cannot read reference")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn selection_keeps_catalog_order_and_rejects_unknown_names() {
        let names = vec!["chase-l2".to_string(), "decrypt-cbc".to_string()];
        let picked: Vec<_> = select(&names).unwrap().iter().map(|s| s.name).collect();
        assert_eq!(picked, ["decrypt-cbc", "chase-l2"]);
        assert_eq!(select(&[]).unwrap().len(), workload::catalog().len());
        let error = select(&["nope".to_string()]).unwrap_err().to_string();
        assert!(error.contains("valid names"), "{error}");
        assert!(error.contains("unknown workload 'nope'"), "{error}");
        assert!(error.contains("json-serde-value"), "{error}");
    }
}
