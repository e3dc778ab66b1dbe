//! `dynoprobe::bench`: a routine benchmarked under criterion with the sidecar of its runs
//! written beside criterion's files, in one call.

use std::time::Duration;

use criterion::Criterion;
use criterion::measurement::{Measurement, WallTime};

use crate::measurement::{OffCpuTime, ThreadCpuTime};
use crate::render::sidecar::line;
use crate::sidecar::{BenchArgs, DEFAULT_SAMPLES, MeasuredTime, Recorder, criterion_home};

/// A criterion measurement [`bench()`] can feed from its spans: criterion's `WallTime`, and
/// dynoprobe's `ThreadCpuTime` and `OffCpuTime`.
pub trait Time: Measurement {
    /// What the sidecar says criterion measured.
    const MEASURED: MeasuredTime;
    /// A batch's value from its iterations' total wall and CPU time, ns.
    fn value(wall_ns: u64, on_cpu_ns: u64) -> Self::Value;
}

impl Time for WallTime {
    const MEASURED: MeasuredTime = MeasuredTime::Wall;
    fn value(wall_ns: u64, _: u64) -> Duration {
        Duration::from_nanos(wall_ns)
    }
}

impl Time for ThreadCpuTime {
    const MEASURED: MeasuredTime = MeasuredTime::ThreadCpu;
    fn value(_: u64, on_cpu_ns: u64) -> u64 {
        on_cpu_ns
    }
}

impl Time for OffCpuTime {
    const MEASURED: MeasuredTime = MeasuredTime::OffCpu;
    fn value(wall_ns: u64, on_cpu_ns: u64) -> u64 {
        wall_ns.saturating_sub(on_cpu_ns)
    }
}

/// Benchmarks `routine` under criterion as `group/name` and writes dynoprobe's sidecar beside
/// criterion's files (unless criterion only lists or tests, or a filter skips it), printing
/// its per-run line. The sidecar's id is criterion's, and the batches it summarises are
/// criterion's samples: the helper sets the group's sample count itself, from
/// `--sample-size` or [`DEFAULT_SAMPLES`], so the two cannot drift.
///
/// ```no_run
/// use criterion::{Criterion, criterion_group, criterion_main};
///
/// fn benches(c: &mut Criterion) {
///     dynoprobe::bench(c, "sum", "iter", || (0..1000u64).sum::<u64>());
/// }
/// criterion_group!(group, benches);
/// criterion_main!(group);
/// ```
///
/// # Panics
///
/// When `group` or `name` holds anything but letters, digits, `-`, `_` and `.`: criterion
/// rewrites other characters in its directory names, and the sidecar would miss them.
///
/// With `Criterion::default().with_measurement(dynoprobe::ThreadCpuTime)` (or `OffCpuTime`)
/// criterion's figures are that time instead, and the sidecar says so, for `compare`.
pub fn bench<M: Time, O>(
    c: &mut Criterion<M>,
    group: &str,
    name: &str,
    mut routine: impl FnMut() -> O,
) {
    let plain = |s: &str| {
        !s.is_empty()
            && (s.bytes()).all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    assert!(
        plain(group) && plain(name),
        "dynoprobe::bench: {group:?}/{name:?}: use letters, digits, '-', '_' and '.'"
    );
    let args = BenchArgs::from_env();
    let samples = args.sample_size.unwrap_or(DEFAULT_SAMPLES);
    let mut recorder = Recorder::new();
    let mut benchmarks = c.benchmark_group(group);
    benchmarks.sample_size(samples);
    benchmarks.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let (wall_ns, on_cpu_ns) = recorder.batch_ns(iters, &mut routine);
            M::value(wall_ns, on_cpu_ns)
        })
    });
    benchmarks.finish();
    let Some(mut summary) = recorder.summary(&format!("{group}/{name}"), samples) else {
        return; // filtered out: criterion never called it
    };
    summary.measured_time = M::MEASURED;
    if args.dry {
        return;
    }
    println!("{}", line(&summary));
    let dir = criterion_home().join(group).join(name);
    if let Err(error) = summary.write(&dir, args.save_baseline.as_deref()) {
        eprintln!(
            "dynoprobe: cannot write the sidecar in {}: {error}",
            dir.display()
        );
    }
}
