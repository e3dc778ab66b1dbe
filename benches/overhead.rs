//! What dynoprobe's measuring costs, against the bare system calls it cannot avoid,
//! measured in the same run:
//!
//! - `snapshot/dynoprobe` (`Sampler::take_into`) vs `snapshot/bare` (one `pread` of each file
//!   the sampler reads, and its two `getrusage` calls; no parsing). Target: at most 1.2×.
//! - `span/dynoprobe` (`Span::start` + `finish`) vs `span/bare` (the same clock reads,
//!   `getrusage` and schedstat `pread`, twice; no arithmetic). Target: at most 1.3×.
//! - `spin-iteration/dynoprobe` (one iteration of the hiccup loop: a read of the chosen clock,
//!   a subtraction, a compare) vs `spin-iteration/clock_gettime` (rigtorp/hiccups' loop reads
//!   `std::chrono::steady_clock::now()`, i.e. `clock_gettime(CLOCK_MONOTONIC)`). Target: at
//!   most 1×, aim 0.5× with the TSC.
//! - `attribution/dynoprobe` (`Attributor::attribute`: what the spin does after a short gap
//!   of 2 µs or more that nothing switched: an interrupt or a host pause, most gaps) vs
//!   `attribution/bare` (the reads it cannot avoid: one reading of the perf group of switches
//!   and interrupts, from its ring buffer where it is mapped (a memory load when nothing
//!   fired), or `getrusage` where perf cannot count, and one `CLOCK_THREAD_CPUTIME_ID` read in
//!   `MAX_GAPS_PER_CPU_READING`; no arithmetic). Target: at most 1.2×.
//!   `attribution/dynoprobe-switched` is a long gap the CPU time fell short of (a switch,
//!   steal): it adds the CPU clock and the schedstat `pread`, and
//!   `attribution/cpu.stat` is what a cgroup with a quota adds to those (its `cpu.stat`, read
//!   and parsed). Its share of a spin is this cost × the gaps per second, which every spin
//!   measures and reports as `attribution_cost_ratio`.
//! - `observer/dynoprobe` vs `observer/bare`: the time a spin loses in gaps of 2 µs or more
//!   with dynoprobe's reads after each gap, and without reads (see [`observer`]); and
//!   `observer-paired/{idle,busy}`, the same two alternated pair by pair, whose mean
//!   difference and its interval are printed (see [`observer_paired`]). Target: within 0.15
//!   points of the spin.

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

use dynoprobe::jitter::attribute::{
    Attributor, DEFAULT_ATTRIBUTE_THRESHOLD_NS, MAX_GAPS_PER_CPU_READING, Rules,
};
use dynoprobe::jitter::clock::{Clock, Kind, Monotonic, Ticks, Tsc};
use dynoprobe::jitter::{Cause, spin};
use dynoprobe::signal::cgroup::{CgroupReader, Version};
use dynoprobe::signal::kconfig::Accounting;
use dynoprobe::signal::perf::ThreadCounters;
use dynoprobe::signal::snapshot::Sampler;
use dynoprobe::span::Span;

mod support;

/// The files a `Sampler` reads on this machine.
fn sampler_files() -> Vec<File> {
    let mut paths = vec![
        "/proc/stat".into(),
        "/proc/self/stat".into(),
        "/proc/thread-self/schedstat".into(),
        "/proc/pressure/cpu".into(),
    ];
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        paths.extend(tasks.flatten().map(|t| t.path().join("schedstat")));
    }
    if let Ok(cgroup) = CgroupReader::detect() {
        paths.push(cgroup.location.dir.join("cpu.stat"));
        if cgroup.location.version == Version::V2 {
            paths.push(cgroup.location.dir.join("cpu.pressure"));
        }
    }
    paths
        .iter()
        .filter_map(|p: &std::path::PathBuf| File::open(p).ok())
        .collect()
}

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: zeroed rusage is valid; getrusage only writes it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid and writable.
    unsafe { libc::getrusage(who, &mut usage) };
    usage
}

fn clock(id: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid and writable.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts
}

fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    let mut sampler = Sampler::new();
    let mut snap = sampler.take();
    group.bench_function("dynoprobe", |b| {
        b.iter(|| sampler.take_into(black_box(&mut snap)))
    });
    let files = sampler_files();
    let mut buffer = vec![0u8; 16 << 10];
    group.bench_function("bare", |b| {
        b.iter(|| {
            for file in &files {
                black_box(file.read_at(&mut buffer, 0).ok());
            }
            black_box(rusage(libc::RUSAGE_SELF));
            black_box(rusage(libc::RUSAGE_THREAD));
            black_box(clock(libc::CLOCK_MONOTONIC));
        })
    });
    group.finish();
}

fn span(c: &mut Criterion) {
    let mut group = c.benchmark_group("span");
    group.bench_function("dynoprobe", |b| {
        b.iter(|| black_box(Span::start().finish()))
    });
    let schedstat = File::open("/proc/thread-self/schedstat").ok();
    let mut buffer = [0u8; 256];
    let mut side = || {
        black_box(clock(libc::CLOCK_THREAD_CPUTIME_ID));
        if let Some(file) = &schedstat {
            black_box(file.read_at(&mut buffer, 0).ok());
        }
        black_box(rusage(libc::RUSAGE_THREAD));
        black_box(clock(libc::CLOCK_MONOTONIC));
    };
    group.bench_function("bare", |b| {
        b.iter(|| {
            side();
            side();
        })
    });
    group.finish();
}

/// `n` iterations of the hiccup loop's body with `clock`; returns the gaps seen (so the
/// compare is not optimised away).
fn loop_body<T: Ticks>(clock: &T, n: u32, threshold: u64) -> u32 {
    let mut last = clock.ticks();
    let mut gaps = 0;
    for _ in 0..n {
        let now = clock.ticks();
        gaps += u32::from(now - last > threshold);
        last = now;
    }
    gaps
}

fn spin_iteration(c: &mut Criterion) {
    const N: u32 = 1000;
    let mut group = c.benchmark_group("spin-iteration");
    group.throughput(criterion::Throughput::Elements(u64::from(N)));
    let choice = Clock::detect();
    match choice.kind {
        Kind::Tsc => group.bench_function("dynoprobe", |b| b.iter(|| loop_body(&Tsc, N, 1 << 20))),
        Kind::Monotonic => group.bench_function("dynoprobe", |b| {
            b.iter(|| loop_body(&Monotonic, N, 1 << 20))
        }),
    };
    group.bench_function("clock_gettime", |b| {
        b.iter(|| loop_body(&Monotonic, N, 1 << 20))
    });
    group.finish();
}

fn attribution(c: &mut Criterion) {
    let mut group = c.benchmark_group("attribution");
    // The attributor's clock is the spin's, so a gap of 5 µs ending now is one the CPU time
    // covered: the common case, an interrupt or a host pause.
    let spin_clock = Clock::detect();
    let now = || match spin_clock.kind {
        Kind::Tsc => Tsc.ticks(),
        Kind::Monotonic => Monotonic.ticks(),
    };
    let rules = Rules::of(&Accounting::read());
    let mut attributor = Attributor::new(spin_clock.ns_per_tick, now(), rules);
    let short_gap = spin_clock.to_ticks(5_000);
    group.bench_function("dynoprobe", |b| {
        b.iter(|| black_box(attributor.attribute(black_box(now()), short_gap)))
    });
    // A gap the CPU time fell short of (as after a switch, or steal): the CPU clock, the
    // run-queue wait and, with a quota, cpu.stat are read too.
    let (mut end, step) = (now(), spin_clock.to_ticks(1_000_000));
    let long_gap = spin_clock.to_ticks(500_000);
    group.bench_function("dynoprobe-switched", |b| {
        b.iter(|| {
            end += step;
            black_box(attributor.attribute(black_box(end), long_gap))
        })
    });
    let mut counters = ThreadCounters::open().ok();
    let mut gaps = 0u32;
    group.bench_function("bare", |b| {
        b.iter(|| {
            black_box(now());
            match &mut counters {
                Some(counters) => {
                    black_box(counters.read());
                }
                None => {
                    black_box(rusage(libc::RUSAGE_THREAD));
                }
            }
            // The CPU clock, once for as many gaps as one reading of it may span.
            gaps += 1;
            if gaps.is_multiple_of(MAX_GAPS_PER_CPU_READING) {
                black_box(clock(libc::CLOCK_THREAD_CPUTIME_ID));
            }
        })
    });
    // What a quota adds to each attribution: the cgroup's cpu.stat, read and parsed.
    if let Ok(mut cgroup) = CgroupReader::detect() {
        group.bench_function("cpu.stat", |b| {
            b.iter(|| black_box(cgroup.read_stat().ok()))
        });
    }
    group.finish();
}

/// Time in gaps of 2 µs or more in a read-free spin of `duration` on the TSC (or
/// `CLOCK_MONOTONIC`): what the platform took, with nothing read after a gap.
fn bare_gap_time(clock: &Clock, duration: Duration) -> Duration {
    let gap_ticks = clock.to_ticks(DEFAULT_ATTRIBUTE_THRESHOLD_NS);
    let spin_ticks = clock.to_ticks(duration.as_nanos() as u64);
    let ticks = match clock.kind {
        Kind::Tsc => gap_ticks_in(&Tsc, spin_ticks, gap_ticks),
        Kind::Monotonic => gap_ticks_in(&Monotonic, spin_ticks, gap_ticks),
    };
    Duration::from_nanos(clock.to_ns(ticks))
}

/// Ticks in gaps of at least `gap_ticks` over `spin_ticks` of reading `clock`: the spin's
/// loop with a sum where it records.
fn gap_ticks_in<T: Ticks>(clock: &T, spin_ticks: u64, gap_ticks: u64) -> u64 {
    let start = clock.ticks();
    let (mut last, mut gaps) = (start, 0);
    while last - start < spin_ticks {
        let now = clock.ticks();
        if now - last >= gap_ticks {
            gaps += now - last;
        }
        last = now;
    }
    gaps
}

/// Time in attributed gaps of `jitter::spin` over `duration`: what dynoprobe says the
/// platform took, with its reads after each gap (not counted as gaps themselves).
fn attributed_gap_time(clock: &Clock, duration: Duration) -> Duration {
    let record = spin(clock, duration, None, DEFAULT_ATTRIBUTE_THRESHOLD_NS).expect("a spin");
    let short = record.tally(Cause::Short).total_ns;
    Duration::from_nanos(record.gaps_total_ns() - short)
}

/// Perf counters held open on a parked thread while the observer group runs. The first perf
/// event on a tracepoint patches the kernel's code (a static key: an IPI to every CPU) and
/// the first per-thread event turns on perf's context-switch hooks; the last close undoes
/// both. A `run` opens its counters once for its whole spin, but each 20 ms spin here opens
/// and closes its own, and without this paid for that every time: +1.9 points of gap time on
/// the development VM (2026-11-27), against +0.4 with it. Held, the kernel's state is the
/// same for both sides, as it is during a long spin, and the bench measures the reads.
struct HeldCounters(Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>);

impl HeldCounters {
    fn open() -> HeldCounters {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (ready, opened) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let counters = ThreadCounters::open();
            ready.send(counters.is_ok()).ok();
            stopped.recv().ok();
            drop(counters);
        });
        let held = opened.recv().unwrap_or(false);
        HeldCounters(held.then_some((stop, thread)))
    }
}

impl Drop for HeldCounters {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.0.take() {
            stop.send(()).ok();
            thread.join().ok();
        }
    }
}

/// Each of the observer benches' spins: long enough to hold several host pauses here, short
/// enough that the host's drift between two of them is small.
const SPIN: Duration = Duration::from_millis(20);

/// The observer effect: the time a spin loses in gaps of 2 µs or more, per 20 ms of spin,
/// without reads (`observer/bare`) and with dynoprobe's reads after each gap
/// (`observer/dynoprobe`), on this thread's CPU. Criterion reports that time as the
/// "time" of each. The host's own pauses change from one second to the next, more than the
/// target (the same within 0.15 points of the spin: 30 µs per 20 ms), so these two, measured
/// one after the other, cannot show it; [`observer_paired`] can.
fn observer(c: &mut Criterion) {
    let clock = Clock::detect();
    let _held = HeldCounters::open();
    let mut group = c.benchmark_group("observer");
    group.sample_size(20);
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bare_gap_time(&clock, SPIN)).sum())
    });
    group.bench_function("dynoprobe", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| attributed_gap_time(&clock, SPIN)).sum())
    });
    group.finish();
}

/// The observer effect, paired: each iteration is a read-free 20 ms spin and an attributed
/// one back to back on the last CPU, in alternating order, so the host's drift falls on both
/// alike; the effect is the mean difference of their gap shares over every pair, with its 95%
/// interval (normal, over 100 pairs or more), printed after the group, idle and with every
/// other CPU busy (`observer-paired/idle`, `observer-paired/busy`). Criterion's "time" is
/// the pair's attributed gap time.
fn observer_paired(c: &mut Criterion) {
    let clock = Clock::detect();
    let _held = HeldCounters::open();
    let Some(cpus) = core_affinity::get_core_ids().filter(|ids| ids.len() >= 2) else {
        eprintln!("observer-paired: skipped, one CPU (the busy side needs another)");
        return;
    };
    let pinned = Pinned::to(cpus[cpus.len() - 1]);
    let mut group = c.benchmark_group("observer-paired");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for busy in [false, true] {
        let _hogs = busy.then(|| Hogs::on(&cpus[..cpus.len() - 1]));
        let mut points: Vec<f64> = Vec::new();
        let name = if busy { "busy" } else { "idle" };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut attributed = Duration::ZERO;
                for _ in 0..iters {
                    let bare_first = points.len().is_multiple_of(2);
                    let bare_before = bare_first.then(|| bare_gap_time(&clock, SPIN));
                    let with_reads = attributed_gap_time(&clock, SPIN);
                    let bare = bare_before.unwrap_or_else(|| bare_gap_time(&clock, SPIN));
                    points.push(
                        100.0 * (with_reads.as_secs_f64() - bare.as_secs_f64())
                            / SPIN.as_secs_f64(),
                    );
                    attributed += with_reads;
                }
                attributed
            })
        });
        print_effect(name, &points, pinned.cpu);
    }
    group.finish();
}

/// The mean of the pairs' differences in points of the spin, with its 95% interval.
fn print_effect(name: &str, points: &[f64], cpu: usize) {
    let Some((mean, half)) = support::mean_with_interval(points) else {
        return;
    };
    let n = points.len();
    println!(
        "observer effect ({name}): {mean:+.3} points of the spin, 95% interval [{:+.3}, {:+.3}], \
         {n} pairs of {} ms spins on CPU {cpu} (attributed − read-free gap share, gaps ≥ {} µs)",
        mean - half,
        mean + half,
        SPIN.as_millis(),
        DEFAULT_ATTRIBUTE_THRESHOLD_NS / 1_000
    );
}

/// The bench thread pinned to one CPU until dropped, then free to run on any again.
struct Pinned {
    cpu: usize,
    before: libc::cpu_set_t,
}

impl Pinned {
    fn to(core: core_affinity::CoreId) -> Pinned {
        // SAFETY: a zeroed cpu_set_t is an empty set; sched_getaffinity fills it.
        let mut before: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: the size passed is the set's own.
        unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut before) };
        core_affinity::set_for_current(core);
        Pinned {
            cpu: core.id,
            before,
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: the set read in `to`, with its own size.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &self.before) };
    }
}

/// A thread spinning on each of `cores` until dropped: the other CPUs busy.
struct Hogs {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Hogs {
    fn on(cores: &[core_affinity::CoreId]) -> Hogs {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let threads = (cores.iter().copied())
            .map(|core| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    core_affinity::set_for_current(core);
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Hogs { stop, threads }
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads.drain(..).for_each(|t| t.join().unwrap_or(()));
    }
}

criterion_group!(
    benches,
    snapshot,
    span,
    spin_iteration,
    attribution,
    observer,
    observer_paired
);
criterion_main!(benches);
