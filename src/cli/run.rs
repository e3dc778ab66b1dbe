//! `dynoprobe run`: prepare the chosen workloads, measure each in several independent worker
//! processes (this binary again, with `--replicate-of`), spin, print the report.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use dynoprobe::render;
use dynoprobe::report::{self, Budget, FixtureInfo, ReplicateOutcome, RunError, RunEvent, RunPlan};
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
    /// Measured runs per workload in each process [default: as many as fit in about 120 ms,
    /// at least 3].
    #[arg(long, value_name = "N", value_parser = parse::parse_runs)]
    runs: Option<u32>,
    /// Measure in K independent worker processes: runs of one process share its memory
    /// placement, so one process is one replicate of this run (`proc max/min`); the
    /// processes share the run's minute on the host, so `compare` takes the run as one.
    /// 1 measures in this process [default: as many as fit the time budget, 3 to 10; quick:
    /// 2 to 4].
    #[arg(long, value_name = "K", value_parser = parse::parse_processes)]
    processes: Option<usize>,
    /// Measure only replicate INDEX, in this process, and print it for the parent `run`
    /// (how worker processes are started).
    #[arg(long, value_name = "INDEX", hide = true)]
    replicate_of: Option<usize>,
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
        return list();
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
    pin(args.cpu)?;
    let machine = Machine::read();
    let caches = machine.caches;
    let inputs = Inputs { fixture, caches };
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
        processes: args.processes,
        cpu: args.cpu,
        reference: &reference,
    };
    if let Some(index) = args.replicate_of {
        return worker(&plan, index);
    }
    let mut shown = Shown::new(args.json);
    let in_process = args.processes == Some(1);
    let mut replicate = |index: usize, on: &mut dyn FnMut(RunEvent<'_>)| {
        if in_process {
            report::measure_replicate(&plan, index, on)
        } else {
            spawn_replicate(&args, index, on)
        }
    };
    let report = report::run(&plan, &mut replicate, &mut |event| shown.event(event));
    shown.bar.finish_and_clear();
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

/// Pins this thread (and the threads it starts) to `cpu`, when one is given.
fn pin(cpu: Option<usize>) -> anyhow::Result<()> {
    if let Some(cpu) = cpu
        && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
    {
        bail!("cannot pin dynoprobe to CPU {cpu}");
    }
    Ok(())
}

/// `run --list`: the workloads, which do fixed work, and what each is.
fn list() -> anyhow::Result<()> {
    for spec in workload::catalog() {
        let work = if spec.fixed { "fixed" } else { "-" };
        outln!("{:<18} {work:<6} {}", spec.name, spec.summary)?;
    }
    outln!(
        "\nfixed: the same work every run, timed in blocks; its ns/op is the evidence for `slowed`."
    )?;
    Ok(())
}

/// The run's progress on the terminal: a bar and what it is doing, in which process.
struct Shown {
    bar: indicatif::ProgressBar,
    /// `process 2 of 3: `, while a replicate runs.
    process: String,
}

impl Shown {
    fn new(json: bool) -> Shown {
        let template = "{msg:<40} [{bar:30}] {pos}/{len} runs";
        let bar = super::progress_bar(json, template, 0);
        let process = String::new();
        Shown { bar, process }
    }

    fn event(&mut self, event: RunEvent<'_>) {
        let (bar, process) = (&self.bar, &self.process);
        match event {
            RunEvent::Replicate { index, of } => {
                self.process = match of {
                    Some(of) => format!("process {} of {of}: ", index + 1),
                    None => format!("process {}: ", index + 1),
                }
            }
            RunEvent::Preparing(name) => bar.set_message(format!("{process}preparing {name}")),
            RunEvent::Skipped(error) => bar.suspend(|| eprintln!("dynoprobe: skipping {error}")),
            RunEvent::Measuring(name, Progress::WarmingUp) => {
                bar.set_message(format!("{process}warming up {name}"))
            }
            RunEvent::Measuring(name, Progress::Measuring { done, total }) => {
                bar.set_length(u64::from(total));
                bar.set_position(u64::from(done));
                bar.set_message(format!("{process}{name}"));
            }
            RunEvent::Spinning(spin) => {
                bar.set_length(1);
                bar.set_position(0);
                bar.set_message(format!("spinning {:.0} s (hiccups)", spin.as_secs_f64()));
            }
        }
    }
}

/// A worker's line on stdout: progress as it goes, the outcome last.
const PREPARING: &str = "preparing ";
const WARMING: &str = "warming ";
const MEASURING: &str = "measuring ";
const OUTCOME: &str = "outcome ";

/// Measures replicate `index` in this process and prints its progress and outcome, one line
/// each, for the parent `run` to read.
fn worker(plan: &RunPlan<'_>, index: usize) -> anyhow::Result<()> {
    // Progress is written between runs, never inside one; a failed write (the parent gone)
    // shows when the outcome is written.
    let outcome = report::measure_replicate(plan, index, &mut |event| {
        let _ = match event {
            RunEvent::Preparing(name) => outln!("{PREPARING}{name}"),
            RunEvent::Measuring(name, Progress::WarmingUp) => outln!("{WARMING}{name}"),
            // At most about ten lines a workload: a run can take a microsecond.
            RunEvent::Measuring(name, Progress::Measuring { done, total })
                if done == total || done % total.div_ceil(10) == 0 =>
            {
                outln!("{MEASURING}{name} {done} {total}")
            }
            _ => Ok(()),
        };
    });
    outln!("{OUTCOME}{}", serde_json::to_string(&outcome?)?)
}

/// Runs replicate `index` in a worker process (this binary, `run --replicate-of INDEX` with
/// the same workloads, fixture, runs, quickness and CPU), relaying its progress to `on`.
fn spawn_replicate(
    args: &RunArgs,
    index: usize,
    on: &mut dyn FnMut(RunEvent<'_>),
) -> Result<ReplicateOutcome, RunError> {
    let failed = |why: String| RunError::Replicate { index, why };
    let exe = std::env::current_exe()
        .map_err(|e| failed(format!("cannot find dynoprobe's own binary: {e}")))?;
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg("--replicate-of")
        .arg(index.to_string());
    for name in &args.workloads {
        command.arg("--workload").arg(name);
    }
    if let Some(runs) = args.runs {
        command.arg("--runs").arg(runs.to_string());
    }
    if let Some(fixture) = &args.fixture {
        command.arg("--fixture").arg(fixture);
    }
    if args.quick {
        command.arg("--quick");
    }
    if let Some(cpu) = args.cpu {
        command.arg("--cpu").arg(cpu.to_string());
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("cannot start a worker process: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| failed("no stdout".into()))?;
    let mut outcome = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.map_err(|e| failed(format!("reading the worker: {e}")))?;
        if let Some(json) = line.strip_prefix(OUTCOME) {
            outcome = Some(
                serde_json::from_str::<ReplicateOutcome>(json)
                    .map_err(|e| failed(format!("the worker's outcome is not readable: {e}")))?,
            );
        } else {
            relay(&line, on);
        }
    }
    let status = child
        .wait()
        .map_err(|e| failed(format!("waiting for the worker: {e}")))?;
    match outcome {
        Some(outcome) if status.success() => Ok(outcome),
        _ => Err(failed(format!("the worker process failed ({status})"))),
    }
}

/// A worker's progress line as the event it stands for; other lines are ignored.
fn relay(line: &str, on: &mut dyn FnMut(RunEvent<'_>)) {
    let named = |name: &str| workload::find(name).map(|spec| spec.name);
    if let Some(name) = line.strip_prefix(PREPARING).and_then(named) {
        on(RunEvent::Preparing(name));
    } else if let Some(name) = line.strip_prefix(WARMING).and_then(named) {
        on(RunEvent::Measuring(name, Progress::WarmingUp));
    } else if let Some(rest) = line.strip_prefix(MEASURING) {
        let mut parts = rest.split(' ');
        let (name, done, total) = (parts.next(), parts.next(), parts.next());
        if let (Some(name), Some(Ok(done)), Some(Ok(total))) = (
            name.and_then(named),
            done.map(str::parse),
            total.map(str::parse),
        ) {
            on(RunEvent::Measuring(
                name,
                Progress::Measuring { done, total },
            ));
        }
    }
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
    for name in names {
        workload::lookup(name)?;
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
        assert!(error.contains("unknown workload 'nope'"), "{error}");
        assert!(error.contains("json-serde-value"), "{error}");
    }
}
