//! Command-line arguments and dispatch to one module per subcommand.

mod compare;
#[cfg(feature = "drive")]
mod drive;
mod fixtures;
mod jitter;
mod parse;
mod run;
#[cfg(feature = "serve")]
mod serve;
mod signals;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use parse::{parse_alpha, parse_interval, parse_runs, parse_threshold};

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
    /// Compare saved criterion baselines (one per instance class, say) side by side: medians,
    /// variance, tails, off-CPU share, significance and price.
    Compare(CompareArgs),
    /// Spin on one or more CPUs and report every time the thread lost the CPU: hiccups,
    /// preemptions, timeslice, throttling pattern, sleep overshoot, and a verdict.
    Jitter(JitterArgs),
    /// Print contention counters every interval, like vmstat: steal, run-queue wait,
    /// throttling, CPU pressure, preemptions, CPU usage.
    Signals(SignalsArgs),
    /// Rebuild fixtures/payload.json, its encrypted twin, key and IV, byte for byte.
    Fixtures(FixturesArgs),
    /// Serve workload batches, the probe's readings and Prometheus metrics over HTTP: the
    /// benchmark server for a dyno (the Procfile's web process).
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
    /// Call a `dynoprobe serve` repeatedly and split each call's latency into router queue
    /// time, the server's run time, and the rest.
    #[cfg(feature = "drive")]
    Drive(DriveArgs),
}

#[cfg(feature = "serve")]
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0 when $PORT is set, else 127.0.0.1].
    #[arg(long, value_name = "IP")]
    bind: Option<std::net::IpAddr>,
    /// Port to listen on [default: $PORT, else 8080]; 0 picks a free port.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Time between the background probe's samples (10ms to 1h).
    #[arg(long, short = 'i', value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    interval: std::time::Duration,
    /// Do not measure the probe's sleep overshoot (it wakes ten times a second for it).
    #[arg(long)]
    no_sleep_jitter: bool,
}

#[cfg(feature = "drive")]
#[derive(Debug, clap::Args)]
struct DriveArgs {
    /// The server's base URL, e.g. https://my-probe.herokuapp.com or http://127.0.0.1:8080.
    #[arg(value_name = "URL")]
    url: String,
    /// Calls to make (each one run of the workload).
    #[arg(long, short = 'n', default_value_t = 100, value_name = "N", value_parser = parse::parse_calls)]
    calls: u32,
    /// Calls in flight at once; above 1 only with several server processes (dynos), since
    /// one server runs one batch at a time and answers the rest with 429.
    #[arg(long, short = 'c', default_value_t = 1, value_name = "N", value_parser = parse::parse_concurrency)]
    concurrency: u32,
    /// The workload each call runs [default: the server's, decrypt-parse].
    #[arg(long, short = 'w', value_name = "NAME")]
    workload: Option<String>,
    /// Print the calls' distributions as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct SignalsArgs {
    /// Time between lines: 500ms, 1s, 2m, or plain seconds (10ms to 1h).
    #[arg(long, short = 'i', value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    interval: std::time::Duration,
    /// Stop after this many lines [default: run until interrupted].
    #[arg(long, short = 'c', value_name = "N", value_parser = parse::parse_count)]
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
    /// About 5 s instead of about 15 s: fewer runs and a 1 s spin phase.
    #[arg(long)]
    quick: bool,
    /// Pin the whole probe (workloads and spin) to this CPU.
    #[arg(long, value_name = "N", value_parser = parse::parse_cpu)]
    cpu: Option<usize>,
    /// An earlier report (--json) of the same instance class, e.g. a quiet or dedicated one:
    /// fixed work that now costs 1.2× its CPU time there is reported as slowed.
    #[arg(long, value_name = "REPORT.json")]
    reference: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// Baselines to compare (names under the target directory, or files written by --export),
    /// the first being the reference [default: every baseline found].
    #[arg(value_name = "BASELINE")]
    baselines_or_files: Vec<String>,
    /// The cargo target directory whose criterion/ holds the baselines [default: as criterion
    /// picks: $CRITERION_HOME, $CARGO_TARGET_DIR/criterion, or target/criterion].
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// List the baselines found, with their number of benchmarks.
    #[arg(long)]
    baselines: bool,
    /// List every benchmark of every baseline.
    #[arg(long)]
    list: bool,
    /// Only benchmarks whose id matches this regex.
    #[arg(short = 'f', long = "filter", value_name = "REGEX")]
    filter: Option<String>,
    /// Gather benchmarks into rows by this regex's capture groups (e.g. '(.*)/(?:dynoprobe|direct)').
    #[arg(short = 'g', long = "group", value_name = "REGEX")]
    group: Option<String>,
    /// Only rows where some baseline differs from the first by at least this many percent.
    #[arg(short = 't', long = "threshold", value_name = "PERCENT", value_parser = parse::parse_percent)]
    threshold: Option<f64>,
    /// Significance level of the Mann–Whitney U test.
    #[arg(long, default_value_t = 0.05, value_name = "ALPHA", value_parser = parse_alpha)]
    alpha: f64,
    /// Price of an instance of a baseline's class, per month: NAME=USD (repeatable).
    #[arg(long, value_name = "NAME=USD", value_parser = parse::parse_price)]
    price: Vec<(String, f64)>,
    /// Print baseline NAME as JSON (redirect it to a file) that compare accepts back.
    #[arg(long, value_name = "NAME")]
    export: Option<String>,
    /// Print the table as Markdown.
    #[arg(long, conflicts_with = "json")]
    markdown: bool,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct JitterArgs {
    /// How long each thread spins: 500ms, 5s, 1m (10 ms to 1 h).
    #[arg(long, short = 'd', value_name = "DURATION", default_value = "5s", value_parser = parse_interval)]
    duration: std::time::Duration,
    /// CPUs to spin on, one pinned thread each: `0`, `0,2`, `0-3` [default: one unpinned thread].
    #[arg(long, value_name = "LIST", value_parser = parse::parse_cpus)]
    cpus: Option<parse::CpuList>,
    /// Record gaps longer than this (e.g. 200ns, 1us) [default: 8 × the smallest clock-read delta].
    #[arg(long, value_name = "DURATION", value_parser = parse_threshold)]
    threshold: Option<u64>,
    /// Gaps at least this long are attributed to a cause (preempted, throttled, stolen,
    /// unreported) from the thread's own counters; shorter ones are counted as short noise.
    #[arg(long, value_name = "DURATION", default_value = "2us", value_parser = parse_threshold)]
    attribute_threshold: u64,
    /// Interval of the sleep-overshoot phase after the spin (cyclictest's method).
    #[arg(long, value_name = "DURATION", default_value = "1ms", value_parser = parse_threshold)]
    sleep_interval: u64,
    /// Print the findings as JSON.
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
        #[cfg(feature = "serve")]
        Command::Serve(_) => {}
        #[cfg(feature = "drive")]
        Command::Drive(_) => {}
        _ => end_quietly_on_a_closed_pipe(),
    }
    match args.command {
        Command::Run(args) => run::run(args),
        Command::Compare(args) => compare::compare(args),
        Command::Jitter(args) => jitter::jitter(args),
        Command::Signals(args) => signals::signals(args),
        Command::Fixtures(args) => fixtures::fixtures(args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::serve(args),
        #[cfg(feature = "drive")]
        Command::Drive(args) => drive::drive(args),
    }
}

/// `dynoprobe signals | head -3` should end quietly when `head` exits, as Unix tools do,
/// rather than panic in `println!`: restore SIGPIPE's default action, which Rust's runtime
/// sets to ignore. Not for serve and drive, where a peer closing a socket must not kill us.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// A progress bar on stderr with `template`, or a hidden one when the output is JSON or
/// stderr is not a terminal.
fn progress_bar(json: bool, template: &str, length: u64) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::io::IsTerminal;
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_configuration_is_valid() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
