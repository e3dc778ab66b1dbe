//! The clock the spin loop reads: the TSC where it is reliable (`rdtsc` costs a few ns and
//! never enters the kernel), calibrated against `CLOCK_MONOTONIC`; otherwise that clock.

use crate::signal::clock::monotonic_ns;

/// A monotonic counter read in the spin loop, in its own ticks.
pub trait Ticks {
    fn ticks(&self) -> u64;
}

/// The time-stamp counter.
#[derive(Debug, Clone, Copy)]
pub struct Tsc;

impl Ticks for Tsc {
    #[inline(always)]
    fn ticks(&self) -> u64 {
        read_tsc()
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn read_tsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86_64; it only reads a counter.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn read_tsc() -> u64 {
    monotonic_ns()
}

/// `CLOCK_MONOTONIC` in ns (a vDSO call where the clocksource allows).
#[derive(Debug, Clone, Copy)]
pub struct Monotonic;

impl Ticks for Monotonic {
    #[inline(always)]
    fn ticks(&self) -> u64 {
        monotonic_ns()
    }
}

/// Which clock was chosen, its rate, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    pub kind: Kind,
    /// Nanoseconds per tick (1.0 for `CLOCK_MONOTONIC`).
    pub ns_per_tick: f64,
    /// Why this clock: the flags seen, or why the TSC was not used.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tsc,
    Monotonic,
}

impl Clock {
    /// The TSC if `cpuinfo` shows it reliable and calibration agrees with itself; else the OS.
    pub fn detect() -> Clock {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        match tsc_flags(&cpuinfo) {
            Err(missing) if cfg!(target_arch = "x86_64") => Clock::monotonic(format!(
                "CLOCK_MONOTONIC: the TSC lacks {missing} in /proc/cpuinfo, so it may drift"
            )),
            Err(_) => Clock::monotonic("CLOCK_MONOTONIC: no TSC on this architecture".into()),
            Ok(()) => {
                let (a, b) = (calibrate(), calibrate());
                if (a / b - 1.0).abs() > 0.01 {
                    return Clock::monotonic(format!(
                        "CLOCK_MONOTONIC: two TSC calibrations disagreed ({a:.4} vs {b:.4} ns/tick)"
                    ));
                }
                Clock {
                    kind: Kind::Tsc,
                    ns_per_tick: b,
                    reason: format!(
                        "TSC (constant_tsc, nonstop_tsc), {:.3} ticks/ns calibrated against CLOCK_MONOTONIC",
                        1.0 / b
                    ),
                }
            }
        }
    }

    fn monotonic(reason: String) -> Clock {
        Clock {
            kind: Kind::Monotonic,
            ns_per_tick: 1.0,
            reason,
        }
    }

    pub fn to_ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick) as u64
    }

    pub fn to_ticks(&self, ns: u64) -> u64 {
        (ns as f64 / self.ns_per_tick) as u64
    }
}

/// `Ok` when the `flags` line has both `constant_tsc` and `nonstop_tsc` (the counter runs at
/// a constant rate through frequency changes and idle states), the TSC's condition of
/// trust; else the first missing.
pub fn tsc_flags(cpuinfo: &str) -> Result<(), &'static str> {
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    for needed in ["constant_tsc", "nonstop_tsc"] {
        if !flags.split_ascii_whitespace().any(|f| f == needed) {
            return Err(needed);
        }
    }
    Ok(())
}

/// ns per TSC tick, over a 20 ms spin against `CLOCK_MONOTONIC`.
fn calibrate() -> f64 {
    let (ns0, t0) = (monotonic_ns(), read_tsc());
    while monotonic_ns() - ns0 < 20_000_000 {
        std::hint::spin_loop();
    }
    let (ns1, t1) = (monotonic_ns(), read_tsc());
    (ns1 - ns0) as f64 / (t1 - t0).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_flags_are_needed() {
        assert_eq!(tsc_flags("flags\t: fpu constant_tsc nonstop_tsc\n"), Ok(()));
        assert_eq!(tsc_flags("flags\t: fpu constant_tsc\n"), Err("nonstop_tsc"));
        assert_eq!(tsc_flags(""), Err("constant_tsc"));
    }

    /// The chosen clock agrees with `Instant` over a sleep (1% and 100 µs), however late the
    /// wake-up: a busy machine can stretch a 20 ms sleep, not the clocks' agreement.
    #[test]
    fn the_chosen_clock_measures_a_sleep() {
        let choice = Clock::detect();
        let ticks = || match choice.kind {
            Kind::Tsc => Tsc.ticks(),
            Kind::Monotonic => Monotonic.ticks(),
        };
        let (start, instant) = (ticks(), std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (end, elapsed) = (ticks(), instant.elapsed().as_nanos() as u64);
        let ns = choice.to_ns(end - start);
        assert!(
            ns >= 19_800_000,
            "{ns} ns for a 20 ms sleep ({})",
            choice.reason
        );
        assert!(
            ns.abs_diff(elapsed) <= elapsed / 100 + 100_000,
            "{ns} ns by the chosen clock, {elapsed} ns by Instant ({})",
            choice.reason
        );
    }
}
