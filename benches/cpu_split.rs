//! The `criterion` feature's measurements on one workload: the same parse measured as
//! thread CPU time and as off-CPU time, each with the sidecar, which records the time it was
//! measured in so that `dynoprobe compare` costs only wall time and compares off-CPU time as
//! a share. Run with `cargo bench --features criterion --bench cpu_split`; save one baseline
//! per instance class and compare them with `dynoprobe compare`.

use criterion::{Criterion, criterion_group, criterion_main};
use dynoprobe::{Inputs, OffCpuTime, ThreadCpuTime, find_workload};

fn cpu_time(c: &mut Criterion<ThreadCpuTime>) {
    let inputs = Inputs::shipped();
    let Ok(mut parse) =
        find_workload("json-serde-typed").map_or(Err(()), |s| s.prepare(&inputs).map_err(|_| ()))
    else {
        return;
    };
    dynoprobe::bench(c, "cpu-time", "json-serde-typed", || parse.run());
}

fn off_cpu_time(c: &mut Criterion<OffCpuTime>) {
    // Work that blocks: a 200 µs sleep stands in for an I/O wait, so off-CPU time is not 0.
    dynoprobe::bench(c, "off-cpu-time", "sleep-200us", || {
        std::thread::sleep(std::time::Duration::from_micros(200))
    });
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu_time
}
criterion_group! {
    name = off_cpu;
    config = Criterion::default().with_measurement(OffCpuTime);
    targets = off_cpu_time
}
criterion_main!(cpu, off_cpu);
