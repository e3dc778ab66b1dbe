//! `dynoprobe run`: prepare the chosen workloads, measure each, print the report.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use dynoprobe::report::{FixtureInfo, Report, SCHEMA_VERSION, WorkloadReport, render_text};
use dynoprobe::runner::{Plan, Progress, Runs, measure};
use dynoprobe::signal::machine::Machine;
use dynoprobe::signal::snapshot::Sampler;
use dynoprobe::workload::{self, Fixture, Inputs, Spec};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    let machine = Machine::read();
    let inputs = Inputs {
        fixture,
        caches: machine.caches,
    };
    let plan = Plan {
        runs: args.runs.map_or(Runs::Auto, Runs::Exactly),
        ..Plan::default()
    };
    let bar = progress_bar(args.json);
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
    let contention = sampler.take().since(&start);
    bar.finish_and_clear();
    if workloads.is_empty() {
        bail!("no workload could run on this fixture");
    }
    let report = Report {
        schema_version: SCHEMA_VERSION,
        machine,
        fixture: FixtureInfo::new(&inputs.fixture.origin, inputs.fixture.json.len() as u64),
        workloads,
        contention,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_text(&report));
    }
    Ok(())
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
fn progress_bar(json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:<24} [{bar:30}] {pos}/{len} runs") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_keeps_catalog_order_and_rejects_unknown_names() {
        let names = vec!["chase-l2".to_string(), "decrypt-cbc".to_string()];
        let picked: Vec<_> = select(&names).unwrap().iter().map(|s| s.name).collect();
        assert_eq!(picked, ["decrypt-cbc", "chase-l2"]);
        assert_eq!(select(&[]).unwrap().len(), workload::catalog().len());
        let error = select(&["nope".to_string()]).unwrap_err().to_string();
        assert!(error.contains("unknown workload 'nope'"), "{error}");
        assert!(error.contains("json-serde-value"), "{error}");
    }
}
