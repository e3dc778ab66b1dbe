//! Per-iteration accounting for criterion benchmarks, and the `dynoprobe.json` sidecar that
//! goes beside criterion's own files: per-run distributions and off-CPU time, which
//! criterion's batches cannot show.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::signal::machine::Machine;
use crate::signal::snapshot::{Contention, Sampler, Snapshot};
use crate::span::{Span, SpanStats};
use crate::stats::{Distribution, Histogram, nearest_rank};

/// Version of the sidecar's layout.
pub const SIDECAR_VERSION: u32 = 1;
/// The sidecar's file name, in `<bench dir>/new/` and `<bench dir>/<baseline>/`.
pub const SIDECAR_FILE: &str = "dynoprobe.json";

/// Which time a benchmark's figures are: criterion's wall time, or dynoprobe's
/// `ThreadCpuTime` or `OffCpuTime`. Different quantities: a price buys wall time, so only
/// wall time has a cost per run, and off-CPU time is compared as a share of the wall time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasuredTime {
    /// criterion's default `WallTime` (`CLOCK_MONOTONIC`), and what a sidecar written before
    /// this field was measured in.
    #[default]
    Wall,
    /// The benchmarking thread's CPU time (`ThreadCpuTime`).
    ThreadCpu,
    /// Wall time minus the thread's CPU time (`OffCpuTime`).
    OffCpu,
}

/// Collects spans of every iteration a benchmark runs, batch by batch. Criterion reports the
/// time of batches of iterations; it cannot say how that time was spread over single runs,
/// nor how much of it was spent off the CPU. A bench that measures with `iter_custom` and
/// [`Recorder::batch`] runs each iteration inside a [`Span`], and [`Recorder::summary`] turns
/// the measured batches into per-run distributions. No criterion types appear here:
/// [`bench`](crate::bench) (feature `criterion`) does it in one call.
#[derive(Debug)]
pub struct Recorder {
    batches: Vec<Vec<SpanStats>>,
    sampler: Sampler,
    start: Snapshot,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// Starts recording; the kernel's counters are read now and at [`Recorder::summary`].
    pub fn new() -> Recorder {
        let mut sampler = Sampler::new();
        let start = sampler.take();
        Recorder {
            batches: Vec::new(),
            sampler,
            start,
        }
    }

    /// Runs `routine` `iters` times, each inside a span, and returns the total wall time of
    /// the iterations (what `iter_custom` wants). The spans' own cost (4.5 µs here) falls
    /// outside the wall time they report.
    pub fn batch<O>(&mut self, iters: u64, routine: impl FnMut() -> O) -> Duration {
        Duration::from_nanos(self.batch_ns(iters, routine).0)
    }

    /// [`Recorder::batch`], returning the iterations' total wall and CPU time, ns.
    pub(crate) fn batch_ns<O>(&mut self, iters: u64, mut routine: impl FnMut() -> O) -> (u64, u64) {
        let mut spans = Vec::with_capacity(iters as usize);
        let (mut wall_ns, mut on_cpu_ns) = (0, 0);
        for _ in 0..iters {
            let span = Span::start();
            black_box(routine());
            let stats = span.finish();
            wall_ns += stats.wall_ns;
            on_cpu_ns += stats.on_cpu_ns;
            spans.push(stats);
        }
        self.batches.push(spans);
        (wall_ns, on_cpu_ns)
    }

    /// Summarises the last `measured_batches` batches (criterion's samples; the batches before
    /// them were its warm-up) under the benchmark id `benchmark`.
    pub fn summary(&mut self, benchmark: &str, measured_batches: usize) -> Option<Summary> {
        let contention = self.sampler.take().since(&self.start);
        let first = self.batches.len().saturating_sub(measured_batches);
        let runs: Vec<SpanStats> = self.batches[first..].iter().flatten().copied().collect();
        Summary::of(benchmark, &runs, contention)
    }
}

/// What the sidecar holds for one benchmark: per-run distributions and the contention over
/// the whole benchmark. Units are in the field names.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The layout of this file ([`SIDECAR_VERSION`]).
    pub sidecar_version: u32,
    /// criterion's id, `group/function`.
    pub benchmark: String,
    /// The dynoprobe that wrote it.
    pub dynoprobe_version: &'static str,
    /// The criterion this bench was built with.
    pub criterion_version: &'static str,
    /// The time criterion's own figures (its estimates and samples) are in.
    pub measured_time: MeasuredTime,
    /// The CPU, kernel and cgroup limits it ran on.
    pub machine: Machine,
    /// Runs summarised: criterion's samples (each a batch of iterations).
    pub runs_count: u64,
    /// Wall time per run.
    pub wall_ns: Distribution,
    /// The thread's CPU time per run.
    pub on_cpu_ns: Distribution,
    /// Wall minus CPU time per run: preempted, stolen, throttled or blocked.
    pub off_cpu_ns: Distribution,
    /// Total off-CPU time / total wall time.
    pub off_cpu_ratio: f64,
    /// Off-CPU time of the run at the p99 of wall time: how much of the tail was the platform.
    pub p99_run_off_cpu_ns: u64,
    /// Involuntary context switches per run.
    pub preemptions_per_run: Option<f64>,
    /// On-CPU time / involuntary switches: the timeslice the scheduler gave, when it preempted.
    pub timeslice_ms: Option<f64>,
    /// Kernel counters from the start of recording to the summary.
    pub contention: Contention,
}

/// criterion's own default number of samples.
pub const DEFAULT_SAMPLES: usize = 100;

/// The criterion version the sidecar names (the one this crate is built and tested with).
pub const CRITERION_VERSION: &str = "0.8";

impl Summary {
    /// Summarises `runs`; `None` when there are none.
    pub fn of(benchmark: &str, runs: &[SpanStats], contention: Contention) -> Option<Summary> {
        let dist = |pick: fn(&SpanStats) -> u64| {
            let mut h = Histogram::new();
            runs.iter().for_each(|r| h.record(pick(r)));
            h.summary()
        };
        let wall_total: u64 = runs.iter().map(|r| r.wall_ns).sum();
        let off_total: u64 = runs.iter().map(|r| r.off_cpu_ns).sum();
        let on_total: u64 = runs.iter().map(|r| r.on_cpu_ns).sum();
        let preemptions: Option<u64> = runs.iter().map(|r| r.preemptions).sum();
        let mut by_wall: Vec<&SpanStats> = runs.iter().collect();
        by_wall.sort_unstable_by_key(|r| r.wall_ns);
        Some(Summary {
            sidecar_version: SIDECAR_VERSION,
            measured_time: MeasuredTime::Wall,
            benchmark: benchmark.to_string(),
            dynoprobe_version: env!("CARGO_PKG_VERSION"),
            criterion_version: CRITERION_VERSION,
            machine: Machine::read(),
            runs_count: runs.len() as u64,
            wall_ns: dist(|r| r.wall_ns)?,
            on_cpu_ns: dist(|r| r.on_cpu_ns)?,
            off_cpu_ns: dist(|r| r.off_cpu_ns)?,
            off_cpu_ratio: off_total as f64 / wall_total.max(1) as f64,
            p99_run_off_cpu_ns: nearest_rank(&by_wall, 0.99)?.off_cpu_ns,
            preemptions_per_run: preemptions.map(|p| p as f64 / runs.len() as f64),
            timeslice_ms: preemptions
                .filter(|&p| p > 0)
                .map(|p| on_total as f64 / p as f64 / 1e6),
            contention,
        })
    }

    /// Writes the sidecar into `<criterion home>/<bench dir>/new/` and, when saving a
    /// baseline, `<bench dir>/<baseline>/`. Returns the files written.
    pub fn write(&self, bench_dir: &Path, baseline: Option<&str>) -> std::io::Result<Vec<PathBuf>> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut written = Vec::new();
        for sub in std::iter::once("new").chain(baseline) {
            let dir = bench_dir.join(sub);
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(SIDECAR_FILE);
            std::fs::write(&path, &json)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// What of criterion's command line matters to the sidecar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenchArgs {
    /// `--save-baseline NAME` (or `-s NAME`).
    pub save_baseline: Option<String>,
    /// `--test` or `--list`: nothing is measured, nothing is written.
    pub dry: bool,
    /// `--sample-size N`, when given.
    pub sample_size: Option<usize>,
}

impl BenchArgs {
    /// Reads this process's arguments, as criterion receives them after `cargo bench --`.
    pub fn from_env() -> BenchArgs {
        Self::parse(std::env::args().skip(1))
    }

    /// Reads criterion's arguments from `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> BenchArgs {
        let mut parsed = BenchArgs::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let mut value = || inline.clone().or_else(|| args.next());
            match flag.as_str() {
                "--save-baseline" | "-s" => parsed.save_baseline = value(),
                "--sample-size" => parsed.sample_size = value().and_then(|v| v.parse().ok()),
                "--test" | "--list" => parsed.dry = true,
                _ => {}
            }
        }
        parsed
    }
}

/// Where criterion writes, by criterion 0.8's own rule: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the target directory `cargo metadata` names (in a
/// workspace member, the workspace's) joined with `criterion`, else `target/criterion`.
/// Criterion asks the `cargo` in `$CARGO`, which cargo sets for a bench; from a shell
/// (`dynoprobe compare`), the `cargo` on the PATH.
pub fn criterion_home() -> PathBuf {
    home_by_rule(
        std::env::var_os("CRITERION_HOME"),
        std::env::var_os("CARGO_TARGET_DIR"),
        || cargo_target_directory(Path::new(".")),
    )
}

/// Criterion's rule, given its inputs (the metadata asked only when needed).
fn home_by_rule(
    criterion_home: Option<std::ffi::OsString>,
    cargo_target_dir: Option<std::ffi::OsString>,
    metadata_target_dir: impl FnOnce() -> Option<PathBuf>,
) -> PathBuf {
    if let Some(home) = criterion_home {
        return PathBuf::from(home);
    }
    cargo_target_dir
        .map(PathBuf::from)
        .or_else(metadata_target_dir)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion")
}

/// `target_directory` of `cargo metadata` run in `dir`; `None` without cargo or a package.
fn cargo_target_directory(dir: &Path) -> Option<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let metadata: Metadata = serde_json::from_slice(&output.stdout).ok()?;
    Some(metadata.target_directory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{quiet_contention, run};

    #[test]
    fn the_summary_splits_runs_and_finds_the_tail_runs_off_cpu_time() {
        let mut runs: Vec<SpanStats> = (0..99).map(|_| run(1000, 1000, 0)).collect();
        runs.push(run(1900, 1000, 1));
        let s = Summary::of("g/f", &runs, quiet_contention()).unwrap();
        assert_eq!(s.runs_count, 100);
        assert_eq!(s.wall_ns.p50, 1000);
        // p99 by nearest rank is the 99th of 100 runs: still a 1000 ns run, 0 off-CPU.
        assert_eq!(s.p99_run_off_cpu_ns, 0);
        assert!((s.off_cpu_ratio - 900.0 / 100_900.0).abs() < 1e-12);
        assert_eq!(s.preemptions_per_run, Some(0.01));
        assert_eq!(s.timeslice_ms, Some(100_000.0 / 1e6));
        runs.push(run(2000, 1200, 2));
        let s = Summary::of("g/f", &runs, quiet_contention()).unwrap();
        assert_eq!(
            s.p99_run_off_cpu_ns, 900,
            "the 100th of 101 runs is the 1900 ns one"
        );
    }

    #[test]
    fn only_the_last_batches_are_measured() {
        let mut recorder = Recorder::new();
        let mut calls = 0;
        recorder.batch(3, || calls += 1);
        let total = recorder.batch(2, || calls += 1);
        assert_eq!(calls, 5);
        assert!(total > Duration::ZERO);
        assert_eq!(recorder.summary("g/f", 1).unwrap().runs_count, 2);
        assert!(recorder.summary("g/f", 0).is_none());
    }

    #[test]
    fn criterion_flags_are_read_in_every_form() {
        let args = |a: &[&str]| BenchArgs::parse(a.iter().map(|s| s.to_string()));
        assert_eq!(
            args(&["--bench", "--save-baseline", "std-1x"])
                .save_baseline
                .as_deref(),
            Some("std-1x")
        );
        assert_eq!(
            args(&["--save-baseline=perf-m"]).save_baseline.as_deref(),
            Some("perf-m")
        );
        assert_eq!(
            args(&["-s", "x", "chase"]).save_baseline.as_deref(),
            Some("x")
        );
        assert!(args(&["--bench", "--test"]).dry);
        assert_eq!(args(&["--sample-size", "30"]).sample_size, Some(30));
        assert_eq!(args(&["--bench", "json"]), BenchArgs::default());
    }

    #[test]
    fn sidecars_go_to_new_and_the_saved_baseline() {
        let dir = std::env::temp_dir().join(format!("dynoprobe-sidecar-{}", std::process::id()));
        let s = Summary::of("g/f", &[run(1000, 900, 0)], quiet_contention()).unwrap();
        let written = s.write(&dir.join("g/f"), Some("std-1x")).unwrap();
        assert_eq!(
            written,
            vec![
                dir.join("g/f/new/dynoprobe.json"),
                dir.join("g/f/std-1x/dynoprobe.json")
            ]
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&written[1]).unwrap()).unwrap();
        assert_eq!(json["benchmark"], "g/f");
        assert_eq!(json["off_cpu_ns"]["p50"], 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn criterions_home_follows_its_rule_in_order() {
        let asked = std::cell::Cell::new(false);
        let metadata = || {
            asked.set(true);
            Some(PathBuf::from("/ws/target"))
        };
        let home = home_by_rule(Some("/h".into()), Some("/t".into()), metadata);
        assert_eq!((home, asked.get()), (PathBuf::from("/h"), false));
        let home = home_by_rule(None, Some("/t".into()), metadata);
        assert_eq!((home, asked.get()), (PathBuf::from("/t/criterion"), false));
        let home = home_by_rule(None, None, metadata);
        assert_eq!(
            (home, asked.get()),
            (PathBuf::from("/ws/target/criterion"), true)
        );
        let home = home_by_rule(None, None, || None);
        assert_eq!(home, PathBuf::from("target/criterion"));
    }

    #[test]
    fn in_a_workspace_member_the_target_is_the_workspaces() {
        let ws = std::env::temp_dir().join(format!("dynoprobe-ws-{}", std::process::id()));
        let member = ws.join("member");
        std::fs::create_dir_all(member.join("src")).unwrap();
        std::fs::write(
            ws.join("Cargo.toml"),
            "[workspace]\nmembers = [\"member\"]\nresolver = \"2\"\n",
        )
        .unwrap();
        std::fs::write(
            member.join("Cargo.toml"),
            "[package]\nname = \"member\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .unwrap();
        std::fs::write(member.join("src/lib.rs"), "").unwrap();
        let found = cargo_target_directory(&member);
        let expected = ws.canonicalize().unwrap().join("target");
        std::fs::remove_dir_all(&ws).unwrap();
        // Not member/target, where the old rule looked.
        assert_eq!(found.expect("cargo metadata in the member"), expected);
    }
}
