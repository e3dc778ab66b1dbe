//! `dynoprobe jitter`: the flags' CPU lists, a call to [`dynoprobe::report::jitter`], and its
//! rendering.

use dynoprobe::render;
use dynoprobe::report::{JitterPlan, jitter as measure_jitter};

use super::gaps::GapsArgs;
use super::parse;
use super::pictures::PictureArgs;

#[derive(Debug, clap::Args)]
pub struct JitterArgs {
    /// How long each thread spins: 2s, 5s, 1m (1 s to 1 h: shorter is too short to measure
    /// steal, which /proc/stat counts in 10 ms ticks).
    #[arg(long, short = 'd', value_name = "DURATION", default_value = "5s", value_parser = parse::parse_spin)]
    duration: std::time::Duration,
    /// CPUs to spin on, one pinned thread each: `0`, `0,2`, `0-3` [default: one unpinned thread].
    #[arg(long, value_name = "LIST", value_parser = parse::parse_cpus)]
    cpus: Option<parse::CpuList>,
    /// Record gaps longer than this (e.g. 200ns, 1us) [default: 8 × the median clock-read delta].
    #[arg(long, value_name = "DURATION", value_parser = parse::parse_threshold)]
    threshold: Option<u64>,
    /// Gaps at least this long are attributed to a cause (preempted, throttled, stolen,
    /// interrupt, unreported) from the thread's own counters; shorter ones are counted as
    /// short noise.
    #[arg(long, value_name = "DURATION", default_value = "2us", value_parser = parse::parse_threshold)]
    attribute_threshold: u64,
    /// Interval of the sleep-overshoot phase after the spin (cyclictest's method), 10us to 1s.
    #[arg(long, value_name = "DURATION", default_value = "1ms", value_parser = parse::parse_sleep_interval)]
    sleep_interval: u64,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pictures: PictureArgs,
    #[command(flatten)]
    gaps: GapsArgs,
}

pub fn jitter(args: JitterArgs) -> anyhow::Result<()> {
    args.pictures.check()?;
    let gaps = args.gaps.create()?;
    if !args.json {
        eprintln!("spinning for {:.1} s …", args.duration.as_secs_f64());
    }
    let report = measure_jitter(&JitterPlan {
        duration: args.duration,
        cpus: args.cpus.map(|c| c.0).unwrap_or_default(),
        threshold_ns: args.threshold,
        attribute_threshold_ns: args.attribute_threshold,
        sleep_interval_ns: args.sleep_interval,
    })?;
    gaps.write(&report.jitter)?;
    let text = render::jitter::report(&report);
    super::print(args.json, &report, &text)?;
    args.pictures.write(
        "dynoprobe jitter",
        &render::verdict::summary(&report.verdict),
        &render::html::jitter_charts(&report),
        &text,
    )
}
