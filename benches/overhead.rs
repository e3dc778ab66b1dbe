//! What dynoprobe's measuring costs, against the bare system calls it cannot avoid,
//! measured in the same run:
//!
//! - `snapshot/dynoprobe` (`Sampler::take_into`) vs `snapshot/bare` (one `pread` of each file
//!   the sampler reads, and its two `getrusage` calls; no parsing). Target: at most 1.2×.
//! - `span/dynoprobe` (`Span::start` + `finish`) vs `span/bare` (the same clock reads,
//!   `getrusage` and schedstat `pread`, twice; no arithmetic). Target: at most 1.3×.

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;

use criterion::{Criterion, criterion_group, criterion_main};
use dynoprobe::signal::cgroup::{CgroupReader, Version};
use dynoprobe::signal::snapshot::Sampler;
use dynoprobe::span::Span;

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

criterion_group!(benches, snapshot, span);
criterion_main!(benches);
