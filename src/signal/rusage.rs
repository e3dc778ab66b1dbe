//! `getrusage(2)` for this thread and this process: CPU time, and context switches:
//! involuntary (the scheduler took the CPU away: the exact count of preemptions) and
//! voluntary (the thread gave it up: I/O, a lock, a sleep).

use super::{Reason, Unavailable};

/// Counters from `getrusage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rusage {
    /// CPU time in user mode, ns (the kernel keeps µs).
    pub user_ns: u64,
    /// CPU time in the kernel on our behalf, ns.
    pub system_ns: u64,
    /// Voluntary context switches (blocked or slept).
    pub voluntary_switches: u64,
    /// Involuntary context switches (preempted).
    pub involuntary_switches: u64,
}

/// Whose usage to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The calling thread (`RUSAGE_THREAD`, Linux 2.6.26+).
    Thread,
    /// All threads of this process (`RUSAGE_SELF`).
    Process,
}

/// Reads the counters for `who`. Never allocates.
pub fn read(who: Who) -> Result<Rusage, Unavailable> {
    let source = match who {
        Who::Thread => "getrusage(RUSAGE_THREAD)",
        Who::Process => "getrusage(RUSAGE_SELF)",
    };
    let Some(flag) = flag(who) else {
        return Err(Unavailable::new(
            source,
            Reason::NotApplicable("Linux only"),
        ));
    };
    // SAFETY: `getrusage` writes a `struct rusage` into the zeroed value we pass and reads
    // nothing else; the all-zero bit pattern is a valid `rusage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage` for the duration of the call.
    if unsafe { libc::getrusage(flag, &mut usage) } != 0 {
        let kind = std::io::Error::last_os_error().kind();
        return Err(Unavailable::new(source, Reason::Unreadable(kind)));
    }
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    Ok(Rusage {
        user_ns: ns(usage.ru_utime),
        system_ns: ns(usage.ru_stime),
        voluntary_switches: usage.ru_nvcsw as u64,
        involuntary_switches: usage.ru_nivcsw as u64,
    })
}

#[cfg(target_os = "linux")]
fn flag(who: Who) -> Option<libc::c_int> {
    Some(match who {
        Who::Thread => libc::RUSAGE_THREAD,
        Who::Process => libc::RUSAGE_SELF,
    })
}

#[cfg(not(target_os = "linux"))]
fn flag(who: Who) -> Option<libc::c_int> {
    (who == Who::Process).then_some(libc::RUSAGE_SELF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_accumulates_cpu_time() {
        let before = read(Who::Thread).unwrap();
        let start = std::time::Instant::now();
        while start.elapsed().as_millis() < 30 {
            std::hint::black_box(0);
        }
        let after = read(Who::Thread).unwrap();
        let used = (after.user_ns + after.system_ns) - (before.user_ns + before.system_ns);
        assert!(used >= 10_000_000, "{used} ns of CPU in a 30 ms spin");
        let process = read(Who::Process).unwrap();
        assert!(process.user_ns >= after.user_ns);
    }
}
