//! Hiccup detection: a spinning thread that notices every time it was off the CPU and names
//! who took it (from its own kernel counters, gap by gap), sleep overshoot, and the
//! inference from both of the ledger, timeslice and throttling pattern.

pub mod attribute;
pub mod cause;
pub mod clock;
pub mod gap_log;
pub mod infer;
pub mod sleep;
pub mod spin;
pub mod tick;

use std::time::Duration;

use crate::signal::kconfig::Accounting;
use crate::signal::snapshot::{Contention, Sampler};
use clock::Clock;

pub use cause::{ByCause, Cause, Ratios};
pub use infer::{CgroupPeriod, Jitter, KernelView, Ledger, Throttle, accounting_seen, infer};
pub use spin::{SpinError, SpinRecord, spin};

/// How to run a spin phase.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub duration: Duration,
    /// Gap threshold; `None` for the auto threshold.
    pub threshold_ns: Option<u64>,
    /// Gaps at least this long are attributed to a cause; shorter ones are `short`.
    pub attribute_threshold_ns: u64,
    /// Pin the spinning thread to this CPU.
    pub cpu: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(2),
            threshold_ns: None,
            attribute_threshold_ns: attribute::DEFAULT_ATTRIBUTE_THRESHOLD_NS,
            cpu: None,
        }
    }
}

/// The CPU the calling thread is running on now (`sched_getcpu`), if the kernel says.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes no arguments and only reads; it returns -1 on failure.
    #[cfg(target_os = "linux")]
    let cpu = unsafe { libc::sched_getcpu() };
    #[cfg(not(target_os = "linux"))]
    let cpu = -1;
    usize::try_from(cpu).ok()
}

/// Spins on the calling thread (pinned if asked) with the kernel's counters read around it,
/// and infers what happened. Also returns the contention over the spin.
pub fn measure(clock: &Clock, options: &Options) -> Result<(Jitter, Contention), SpinError> {
    if let Some(cpu) = options.cpu
        && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
    {
        return Err(SpinError::Pin(cpu));
    }
    let mut sampler = Sampler::new();
    let before = sampler.take();
    let mut record = spin(
        clock,
        options.duration,
        options.threshold_ns,
        options.attribute_threshold_ns,
    )?;
    record.cpu = options.cpu;
    let contention = sampler.take().since(&before);
    let steal_ratio = match options.cpu {
        Some(cpu) => contention
            .steal_per_cpu_ratio
            .iter()
            .find(|s| s.cpu as usize == cpu)
            .and_then(|s| s.steal_ratio.value()),
        None => contention.steal_ratio.value(),
    };
    let cgroup_period = match sampler.cgroup().ok().and_then(|c| c.quota().ok()) {
        Some(q) if q.quota_us.is_some() => CgroupPeriod::Quota(q.period_us * 1000),
        Some(_) => CgroupPeriod::NoQuota,
        None => CgroupPeriod::Unknown,
    };
    let span_ns = record.kernel.wall_ns;
    let over_spin = |ratio: f64| (ratio * span_ns as f64) as u64;
    let kernel = KernelView {
        span_ns,
        runqueue_wait_ns: record.kernel.runqueue_wait_ns,
        involuntary_switches: record.kernel.preemptions,
        steal_ns: steal_ratio.map(over_spin),
        throttled_ns: record
            .cgroup_throttled_ns
            .or(contention.throttled_ratio.value().map(over_spin)),
        cgroup_period,
    };
    let accounting = accounting_seen(&mut record, &kernel, Accounting::read());
    let jitter = Jitter {
        accounting: Some(accounting),
        ..infer(&record, &kernel)
    };
    Ok((jitter, contention))
}
