//! The `criterion` feature's measurements on one workload: the same parse measured as
//! thread CPU time and as off-CPU time. Run with
//! `cargo bench --features criterion --bench cpu_split`; save one baseline per instance
//! class and compare them with `dynoprobe compare`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynoprobe::workload::{Inputs, find};
use dynoprobe::{OffCpuTime, ThreadCpuTime};

fn cpu_time(c: &mut Criterion<ThreadCpuTime>) {
    let inputs = Inputs::shipped();
    let Ok(mut parse) =
        find("json-serde-typed").map_or(Err(()), |s| s.prepare(&inputs).map_err(|_| ()))
    else {
        return;
    };
    let mut group = c.benchmark_group("cpu-time");
    group.throughput(Throughput::Bytes(parse.bytes_per_run()));
    group.bench_function("json-serde-typed", |b| b.iter(|| parse.run()));
    group.finish();
}

fn off_cpu_time(c: &mut Criterion<OffCpuTime>) {
    // Work that blocks: a 200 µs sleep stands in for an I/O wait, so off-CPU time is not 0.
    c.bench_function("off-cpu-time/sleep-200us", |b| {
        b.iter(|| std::thread::sleep(std::time::Duration::from_micros(200)))
    });
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime).sample_size(20);
    targets = cpu_time
}
criterion_group! {
    name = off_cpu;
    config = Criterion::default().with_measurement(OffCpuTime).sample_size(20);
    targets = off_cpu_time
}
criterion_main!(cpu, off_cpu);
