//! Command-line arguments and dispatch to one module per subcommand.

/// `print!` that returns an error, rather than panicking, when stdout is full or closed.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` that returns an error, rather than panicking, when stdout is full or closed.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod compare;
#[cfg(feature = "drive")]
mod drive;
mod fixtures;
mod gaps;
mod jitter;
mod parse;
mod pictures;
mod run;
#[cfg(feature = "serve")]
mod serve;
mod signals;

use clap::{Parser, Subcommand};

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
    Run(run::RunArgs),
    /// Compare saved criterion baselines (one per instance class, say) side by side: medians,
    /// variance, tails, off-CPU share, significance and price.
    Compare(compare::CompareArgs),
    /// Spin on one or more CPUs and report every time the thread lost the CPU: hiccups,
    /// preemptions, timeslice, throttling pattern, sleep overshoot, and a verdict.
    Jitter(jitter::JitterArgs),
    /// Print contention counters every interval, like vmstat: steal, run-queue wait,
    /// throttling, CPU pressure, preemptions, CPU usage.
    Signals(signals::SignalsArgs),
    /// Rebuild fixtures/payload.json, its encrypted twin, key and IV, byte for byte.
    Fixtures(fixtures::FixturesArgs),
    /// Serve workload batches, the probe's readings and Prometheus metrics over HTTP: the
    /// benchmark server for a dyno (the Procfile's web process).
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    /// Call a `dynoprobe serve` repeatedly and split each call's latency into router queue
    /// time, the server's run time, and the rest.
    #[cfg(feature = "drive")]
    Drive(drive::DriveArgs),
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

/// Writes to stdout and flushes, so that `> /dev/full` or a reader that went away is an
/// error naming stdout, and exit status 1, not a panic.
pub fn write_stdout(text: std::fmt::Arguments) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(text)
        .and_then(|()| stdout.flush())
        .context("writing to stdout")
}

/// A finished result on stdout: pretty JSON with `--json`, else its text.
fn print(json: bool, result: &impl serde::Serialize, text: &str) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(result)?)
    } else {
        out!("{text}")
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
