//! criterion `Measurement`s that split a benchmark's time the way a [`crate::span::Span`]
//! does (feature `criterion`): [`ThreadCpuTime`], the CPU time of the benchmarking thread,
//! and [`OffCpuTime`], wall time minus that, for any criterion bench.

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};

use crate::signal::clock::{monotonic_ns, thread_cpu_ns};

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`), ns: the cost of the code
/// itself, which does not grow while the thread waits for a CPU.
///
/// ```no_run
/// use criterion::Criterion;
/// use dynoprobe::ThreadCpuTime;
///
/// let mut c = Criterion::default().with_measurement(ThreadCpuTime);
/// c.bench_function("sum", |b| b.iter(|| (0..1000u64).sum::<u64>()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadCpuTime;

/// Wall time (`CLOCK_MONOTONIC`) minus the calling thread's CPU time, ns: time the thread
/// was preempted, throttled, stolen by the hypervisor, or blocked: what the platform added,
/// where [`ThreadCpuTime`] is the code's own cost. Compare the two baselines of one instance
/// class to tell them apart. A bench that never leaves the CPU measures `OffCpuTime` ≈ 0, and
/// criterion's analysis needs some variation to say anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct OffCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

impl Measurement for OffCpuTime {
    /// (thread CPU ns, wall ns) at the start.
    type Intermediate = (u64, u64);
    type Value = u64;

    /// The CPU clock first: it is a system call, where a pending preemption happens, and its
    /// value is the same before and after the wait (see `span.rs`).
    fn start(&self) -> (u64, u64) {
        let cpu = thread_cpu_ns();
        (cpu, monotonic_ns())
    }
    fn end(&self, (cpu0, wall0): (u64, u64)) -> u64 {
        let cpu = thread_cpu_ns().saturating_sub(cpu0);
        let wall = monotonic_ns().saturating_sub(wall0);
        wall.saturating_sub(cpu)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Formats nanoseconds as ns/µs/ms/s, and throughputs per second, like criterion's wall
/// time.
struct Nanoseconds;

impl Nanoseconds {
    fn unit(typical_ns: f64) -> (f64, &'static str) {
        match typical_ns {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e3, "µs"),
            t if t < 1e9 => (1e6, "ms"),
            _ => (1e9, "s"),
        }
    }
}

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical_value: f64, values: &mut [f64]) -> &'static str {
        let (divisor, unit) = Self::unit(typical_value);
        values.iter_mut().for_each(|v| *v /= divisor);
        unit
    }

    fn scale_throughputs(
        &self,
        _typical_value: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (per_iteration, unit) = match *throughput {
            Throughput::Bytes(b) => (b as f64 / (1 << 20) as f64, "MiB/s (CPU)"),
            Throughput::BytesDecimal(b) => (b as f64 / 1e6, "MB/s (CPU)"),
            Throughput::Bits(b) => (b as f64 / 1e6, "Mbit/s (CPU)"),
            Throughput::Elements(e) => (e as f64, "elem/s (CPU)"),
            Throughput::ElementsAndBytes { elements, .. } => (elements as f64, "elem/s (CPU)"),
        };
        values
            .iter_mut()
            .for_each(|ns| *ns = per_iteration * 1e9 / ns.max(f64::MIN_POSITIVE));
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_work_and_off_cpu_counts_a_sleep() {
        let cpu = ThreadCpuTime;
        let start = cpu.start();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(cpu.end(start) > 100_000);
        let off = OffCpuTime;
        let start = off.start();
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert!(off.end(start) >= 9_000_000);
    }

    #[test]
    fn values_scale_to_readable_units() {
        let mut values = [1_500_000.0, 2_000_000.0];
        assert_eq!(Nanoseconds.scale_values(1_500_000.0, &mut values), "ms");
        assert_eq!(values, [1.5, 2.0]);
        let mut rates = [1e9];
        let unit = Nanoseconds.scale_throughputs(1e9, &Throughput::Bytes(1 << 20), &mut rates);
        assert_eq!((unit, rates[0]), ("MiB/s (CPU)", 1.0));
        assert_eq!(Nanoseconds.scale_for_machines(&mut []), "ns");
    }
}
