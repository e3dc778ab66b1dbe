//! `dynoprobe run`: prepare the chosen workloads, measure each, print the report.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dynoprobe::render;
use dynoprobe::report::{self, Budget, FixtureInfo, RunEvent, RunPlan};
use dynoprobe::runner::Progress;
use dynoprobe::signal::machine::Machine;
use dynoprobe::workload::{self, Fixture, Inputs, Spec};

use super::gaps::GapsArgs;
use super::parse;
use super::pictures::PictureArgs;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A workload to run (repeatable); all of them when not given. See --list.
    #[arg(long = "workload", short = 'w', value_name = "NAME")]
    workloads: Vec<String>,
    /// List the workloads with a one-line description, and exit.
    #[arg(long)]
    list: bool,
    /// Measured runs per workload [default: as many as fit in about 1 s, at least 20].
    #[arg(long, value_name = "N", value_parser = parse::parse_runs)]
    runs: Option<u32>,
    /// Run the JSON and decrypt workloads on this JSON file instead of the shipped payload.
    #[arg(long, value_name = "PATH")]
    fixture: Option<PathBuf>,
    /// Print the report as JSON (its schema_version says the layout; see the README) instead of
    /// a table.
    #[arg(long)]
    json: bool,
    /// About 5 s instead of about 15 s: fewer runs and a 1 s spin phase.
    #[arg(long)]
    quick: bool,
    /// Pin the whole probe (workloads and spin) to this CPU.
    #[arg(long, value_name = "N", value_parser = parse::parse_cpu)]
    cpu: Option<usize>,
    /// An earlier report (--json, schema 2 or later) of the same instance class, e.g. a quiet
    /// or dedicated one: fixed work whose median time per op is now 1.2× that report's is
    /// reported as slowed.
    #[arg(long, value_name = "REPORT.json")]
    reference: Option<PathBuf>,
    #[command(flatten)]
    pictures: PictureArgs,
    #[command(flatten)]
    gaps: GapsArgs,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.list {
        for spec in workload::catalog() {
            let work = if spec.fixed { "fixed" } else { "-" };
            outln!("{:<18} {work:<6} {}", spec.name, spec.summary)?;
        }
        outln!(
            "\nfixed: the same work every run, timed in blocks; its ns/op is the evidence for `slowed`."
        )?;
        return Ok(());
    }
    let specs = select(&args.workloads)?;
    args.pictures.check()?;
    let gaps = args.gaps.create()?;
    let fixture = match &args.fixture {
        Some(path) => Fixture::load(path)?,
        None => Fixture::shipped(),
    };
    let reference = match &args.reference {
        Some(path) => load_reference(path, &FixtureInfo::of(&fixture))?,
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
    let plan = RunPlan {
        specs,
        skip_unpreparable: args.workloads.is_empty(),
        inputs: &inputs,
        machine,
        budget: if args.quick {
            Budget::quick()
        } else {
            Budget::standard()
        },
        runs: args.runs,
        cpu: args.cpu,
        reference: &reference,
    };
    let bar = super::progress_bar(args.json, "{msg:<24} [{bar:30}] {pos}/{len} runs", 0);
    let report = report::run(&plan, &mut |event| match event {
        RunEvent::Preparing(name) => bar.set_message(format!("preparing {name}")),
        RunEvent::Skipped(error) => bar.suspend(|| eprintln!("dynoprobe: skipping {error}")),
        RunEvent::Measuring(name, Progress::WarmingUp) => {
            bar.set_message(format!("warming up {name}"))
        }
        RunEvent::Measuring(name, Progress::Measuring { done, total }) => {
            bar.set_length(u64::from(total));
            bar.set_position(u64::from(done));
            bar.set_message(name);
        }
        RunEvent::Spinning(spin) => {
            bar.set_length(1);
            bar.set_position(0);
            bar.set_message(format!("spinning {:.0} s (hiccups)", spin.as_secs_f64()));
        }
    });
    bar.finish_and_clear();
    let report = report?;
    gaps.write(&report.jitter)?;
    let text = render::run::report(&report);
    super::print(args.json, &report, &text)?;
    args.pictures.write(
        "dynoprobe run",
        &render::verdict::summary(&report.verdict),
        &render::html::run_charts(&report),
        &text,
    )
}

/// `ns_per_op` medians by fixed-work workload from the earlier `--json` report at `path`.
fn load_reference(path: &Path, fixture: &FixtureInfo) -> anyhow::Result<Vec<(String, f64)>> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read reference report {}", path.display()))?;
    report::reference_medians(&text, fixture)
        .with_context(|| format!("reference {}", path.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_error_names_the_file() {
        let dir = std::env::temp_dir().join(format!("dynoprobe-ref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old.json");
        std::fs::write(&old, r#"{"schema_version": 1, "workloads": []}"#).unwrap();
        let error = format!(
            "{:#}",
            load_reference(&old, &FixtureInfo::of(&Fixture::shipped())).unwrap_err()
        );
        assert!(error.contains("old.json"), "{error}");
        assert!(error.contains("schema_version 1"), "{error}");
        let error = format!(
            "{:#}",
            load_reference(
                &dir.join("none.json"),
                &FixtureInfo::of(&Fixture::shipped())
            )
            .unwrap_err()
        );
        assert!(error.contains("cannot read reference"), "{error}");
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
