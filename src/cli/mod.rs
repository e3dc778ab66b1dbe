//! Command-line arguments and dispatch to one module per subcommand.

mod fixtures;
mod run;
mod signals;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use dynoprobe::runner::MAX_RUNS;

/// Measures how much a shared CPU costs the code running on it: hypervisor steal, waiting
/// on the run queue, cgroup throttling, or a CPU slowed by neighbours.
#[derive(Debug, Parser)]
#[command(name = "dynoprobe", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run cache-heavy workloads many times and report the distribution of their run times.
    Run(RunArgs),
    /// Print contention counters every interval, like vmstat: steal, run-queue wait,
    /// throttling, CPU pressure, preemptions, CPU usage.
    Signals(SignalsArgs),
    /// Rebuild fixtures/payload.json, its encrypted twin, key and IV, byte for byte.
    Fixtures(FixturesArgs),
}

#[derive(Debug, clap::Args)]
struct SignalsArgs {
    /// Time between lines: 500ms, 1s, 2m, or plain seconds (10ms to 1h).
    #[arg(long, short = 'i', value_name = "DURATION", default_value = "1s", value_parser = signals::parse_interval)]
    interval: std::time::Duration,
    /// Stop after this many lines [default: run until interrupted].
    #[arg(long, short = 'c', value_name = "N", value_parser = signals::parse_count)]
    count: Option<u64>,
    /// Print each interval as one JSON object per line (JSON Lines), every field with its unit.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// A workload to run (repeatable); all of them when not given. See --list.
    #[arg(long = "workload", short = 'w', value_name = "NAME")]
    workloads: Vec<String>,
    /// List the workloads with a one-line description, and exit.
    #[arg(long)]
    list: bool,
    /// Measured runs per workload [default: as many as fit in about 1 s, at least 20].
    #[arg(long, value_name = "N", value_parser = parse_runs)]
    runs: Option<u32>,
    /// Run the JSON and decrypt workloads on this JSON file instead of the shipped payload.
    #[arg(long, value_name = "PATH")]
    fixture: Option<PathBuf>,
    /// Print the report as JSON (schema version 1) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct FixturesArgs {
    /// Directory to write into (or to compare with --check).
    #[arg(long, value_name = "DIR", default_value = "fixtures")]
    out: PathBuf,
    /// Do not write: compare the files in DIR with freshly generated ones; fail on a difference.
    #[arg(long)]
    check: bool,
}

/// Runs the chosen command.
pub fn dispatch(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Run(args) => run::run(args),
        Command::Signals(args) => signals::signals(args),
        Command::Fixtures(args) => fixtures::fixtures(args),
    }
}

/// `--runs`: a whole number from 1 to [`MAX_RUNS`].
fn parse_runs(text: &str) -> Result<u32, String> {
    let expected = format!("expected a whole number of runs from 1 to {MAX_RUNS}");
    match text.trim().parse::<u64>() {
        Ok(0) => Err(format!("{expected}; 0 runs would measure nothing")),
        Ok(n) if n > u64::from(MAX_RUNS) => Err(format!("{expected}, got {n}")),
        Ok(n) => Ok(n as u32),
        Err(_) => Err(format!("{expected}, got '{text}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_must_be_a_sane_whole_number() {
        assert_eq!(parse_runs("25"), Ok(25));
        assert!(parse_runs("0").unwrap_err().contains("measure nothing"));
        assert!(parse_runs("1e12").unwrap_err().contains("got '1e12'"));
        assert!(parse_runs("1000001").unwrap_err().contains("from 1 to"));
        assert!(parse_runs("-3").is_err());
    }

    #[test]
    fn clap_configuration_is_valid() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
