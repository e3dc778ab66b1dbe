//! Clocks: wall (`CLOCK_MONOTONIC`), this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`),
//! the USER_HZ tick of `/proc/stat`, and the kernel's clocksource, which sets what every
//! clock read costs (a few ns in the vDSO with `tsc`; with `hpet` or `xen` a VM exit).

use super::{ProcFile, Reason, Unavailable, text};

/// `CLOCK_MONOTONIC` now, ns.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time this thread has used (user + system), ns, from `CLOCK_THREAD_CPUTIME_ID`.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks exist on every POSIX system
    // we build for, and on failure `ts` stays zero.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// USER_HZ: the unit of `/proc/stat` (`sysconf(_SC_CLK_TCK)`, 100 on almost every Linux).
pub fn ticks_per_second() -> Result<u64, Unavailable> {
    // SAFETY: sysconf reads a constant and has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz)
        .ok()
        .filter(|&hz| hz > 0)
        .ok_or(Unavailable::new(
            "sysconf(_SC_CLK_TCK)",
            Reason::Malformed("a positive tick rate"),
        ))
}

/// The kernel's current clocksource, e.g. `tsc`, `kvm-clock`, `hpet`, `xen`.
pub fn clocksource() -> Result<String, Unavailable> {
    const PATH: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
    let mut file = ProcFile::open(PATH, PATH);
    let name = text(file.read()?).map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(Unavailable::new(
            PATH,
            Reason::Malformed("a clocksource name"),
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move_forward() {
        let (wall, cpu) = (monotonic_ns(), thread_cpu_ns());
        let mut x = 0u64;
        for i in 0..100_000 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(monotonic_ns() > wall);
        assert!(thread_cpu_ns() > cpu);
    }

    #[test]
    fn user_hz_is_positive() {
        assert!(ticks_per_second().unwrap() > 0);
    }
}
