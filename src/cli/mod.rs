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
    #[cfg(feature = "serve")]
    let prints = !matches!(args.command, Command::Serve(_));
    #[cfg(not(feature = "serve"))]
    let prints = true;
    if prints {
        stdout_is_open()?;
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

/// Refuses to start with stdout closed (`>&-`): Rust's runtime gives a closed descriptor
/// /dev/null, opened read-write, and the whole result would be lost with exit status 0 (a
/// shell's `> /dev/null` opens it write-only, and is left alone). A reader that goes away
/// (`| head`) is caught at the write instead: SIGPIPE stays ignored, as Rust sets it, and
/// the write's error is `writing to stdout: Broken pipe`, exit status 1.
fn stdout_is_open() -> anyhow::Result<()> {
    let target = std::fs::read_link("/proc/self/fd/1").unwrap_or_default();
    // SAFETY: F_GETFL on a descriptor number only reads its flags.
    let flags = unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFL) };
    let read_write = flags != -1 && flags & libc::O_ACCMODE == libc::O_RDWR;
    if flags == -1 || (read_write && target == std::path::Path::new("/dev/null")) {
        anyhow::bail!(
            "stdout is closed: the result would be lost; send it to a file or /dev/null instead"
        );
    }
    Ok(())
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
