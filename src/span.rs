//! Per-run accounting on one thread: wall time split into on-CPU and off-CPU time, and the
//! kernel's own account of why the thread was off the CPU.

use std::cell::RefCell;

use crate::signal::clock::{monotonic_ns, thread_cpu_ns};
use crate::signal::rusage::{self, Rusage, Who};
use crate::signal::schedstat::{SchedStat, ThreadSchedstat};

thread_local! {
    /// Each thread's own `/proc/thread-self/schedstat`, opened on its first span.
    static SCHEDSTAT: RefCell<ThreadSchedstat> = RefCell::new(ThreadSchedstat::new());
}

/// A started span: counters read at the start. Finish it on the same thread.
#[derive(Debug, Clone, Copy)]
#[must_use = "a span measures nothing until finished"]
pub struct Span {
    wall_ns: u64,
    cpu_ns: u64,
    sched: Option<SchedStat>,
    usage: Option<Rusage>,
}

/// What a span measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanStats {
    /// Wall-clock time (`CLOCK_MONOTONIC`), ns.
    pub wall_ns: u64,
    /// Thread CPU time (`CLOCK_THREAD_CPUTIME_ID`), ns.
    pub on_cpu_ns: u64,
    /// `wall_ns − on_cpu_ns`: time the thread was not executing. For pure computation
    /// (every dynoprobe workload) that is the platform's doing: run-queue wait (preempted,
    /// or its cgroup throttled) or steal (invisible to the thread's own counters). Work that
    /// blocks on I/O, a lock or a sleep is off the CPU too, but as `voluntary_switches`, not
    /// run-queue wait: off-CPU ≈ run-queue wait + steal + blocked.
    pub off_cpu_ns: u64,
    /// Time runnable but waiting for a CPU (schedstat), ns; `None` without schedstat.
    pub runqueue_wait_ns: Option<u64>,
    /// Involuntary context switches: times the scheduler took the CPU away.
    pub preemptions: Option<u64>,
    /// Voluntary context switches: times the thread blocked or slept.
    pub voluntary_switches: Option<u64>,
}

fn thread_sched() -> Option<SchedStat> {
    SCHEDSTAT.with(|reader| reader.borrow_mut().read().ok())
}

/// Why the reads come in this order: a preemption that falls due while a thread computes is
/// often carried out at its next system call (lazy preemption), so the first system call of
/// `start` and of `finish` is where a pending wait happens. That first call reads the thread
/// CPU clock, whose value is the same before and after a wait; every other reading comes
/// after it, so each sees the wait on the same side. With the clocks read last (tried first),
/// waits fell between the wall clock and schedstat: on this machine, with a hog on the same
/// CPU, run-queue wait came out 62% of wall time while off-CPU time was 38%.
impl Span {
    pub fn start() -> Span {
        let cpu_ns = thread_cpu_ns();
        let sched = thread_sched();
        let usage = rusage::read(Who::Thread).ok();
        Span {
            wall_ns: monotonic_ns(),
            cpu_ns,
            sched,
            usage,
        }
    }

    /// Reads the counters (CPU clock first, see above) and returns the differences.
    pub fn finish(self) -> SpanStats {
        let cpu_ns = thread_cpu_ns();
        let wall_ns = monotonic_ns().saturating_sub(self.wall_ns);
        let usage = rusage::read(Who::Thread).ok();
        let sched = thread_sched();
        let on_cpu_ns = cpu_ns.saturating_sub(self.cpu_ns).min(wall_ns);
        let switches = |pick: fn(&Rusage) -> u64| pick(&usage?).checked_sub(pick(&self.usage?));
        SpanStats {
            wall_ns,
            on_cpu_ns,
            off_cpu_ns: wall_ns - on_cpu_ns,
            runqueue_wait_ns: sched
                .zip(self.sched)
                .and_then(|(now, then)| now.wait_ns.checked_sub(then.wait_ns)),
            preemptions: switches(|u| u.involuntary_switches),
            voluntary_switches: switches(|u| u.voluntary_switches),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel guarantees however busy the machine is (other tests run beside this
    /// one): the split adds up; a spinning thread is off the CPU at least while it waits on a
    /// run queue; a sleep is off-CPU time that is not run-queue wait.
    #[test]
    fn a_spin_is_on_cpu_and_a_sleep_is_off_cpu() {
        const SLEEP_NS: u64 = 20_000_000;
        /// Slack for the reads of a span not being at one instant.
        const SKEW_NS: u64 = 1_000_000;
        let span = Span::start();
        let start = std::time::Instant::now();
        while start.elapsed().as_millis() < 20 {
            std::hint::black_box(0);
        }
        let spin = span.finish();
        assert!(spin.wall_ns >= 20_000_000);
        assert_eq!(spin.on_cpu_ns + spin.off_cpu_ns, spin.wall_ns);
        assert!(spin.on_cpu_ns > 0, "{spin:?}");
        if let Some(wait) = spin.runqueue_wait_ns {
            assert!(wait <= spin.off_cpu_ns + SKEW_NS, "{spin:?}");
        }

        let span = Span::start();
        std::thread::sleep(std::time::Duration::from_nanos(SLEEP_NS));
        let sleep = span.finish();
        assert!(sleep.off_cpu_ns >= SLEEP_NS - SKEW_NS, "{sleep:?}");
        assert!(sleep.voluntary_switches.is_none_or(|v| v >= 1), "{sleep:?}");
        assert!(
            sleep
                .runqueue_wait_ns
                .is_none_or(|w| w <= sleep.wall_ns - SLEEP_NS + SKEW_NS),
            "a sleep is not run-queue wait: {sleep:?}"
        );
    }
}
