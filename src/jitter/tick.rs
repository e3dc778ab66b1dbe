//! The timer tick found without privileges: on a busy CPU it fires every 1/`CONFIG_HZ` s on
//! a fixed grid of `CLOCK_MONOTONIC`, so the gaps it makes line up when folded onto one
//! period; where perf cannot count interrupts, the `unreported` gaps on it are `interrupt`.

/// A gap within this of the tick's phase is taken to cover it: the interrupt fires after the
/// timer's expiry by the delivery latency, which varies by a few µs here.
pub const TICK_PHASE_SLACK_NS: u64 = 5_000;
/// The best phase must be covered by at least this share of the ticks expected over the
/// spin's time on the CPU, or no tick is claimed (a CPU without a periodic tick, `nohz_full`,
/// or a host whose pauses drown it).
pub const TICK_MIN_SHARE: f64 = 0.5;

/// The tick as found in the gaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickFit {
    pub period_ns: u64,
    /// Where in the period (of `CLOCK_MONOTONIC`) the tick lands, ns.
    pub phase_ns: u64,
    /// Gaps that cover it.
    pub gaps_count: usize,
    /// Ticks expected over the spin's time on the CPU.
    pub expected: f64,
}

impl TickFit {
    /// Whether the gap from `start_ns` (`CLOCK_MONOTONIC`) for `len_ns` covers the tick.
    pub fn covers(&self, start_ns: u64, len_ns: u64) -> bool {
        let p = self.period_ns;
        let to_phase = (self.phase_ns + p - start_ns % p) % p;
        to_phase <= len_ns + TICK_PHASE_SLACK_NS || to_phase + TICK_PHASE_SLACK_NS >= p
    }
}

/// The phase of `period_ns` covered by the most of `gaps` (`CLOCK_MONOTONIC` start, length,
/// ns), if at least [`TICK_MIN_SHARE`] of the `expected` ticks cover it.
pub fn fit(gaps: &[(u64, u64)], period_ns: u64, expected: f64) -> Result<TickFit, String> {
    if period_ns == 0 {
        return Err("no tick period".into());
    }
    // +1 where a gap's span (widened by the slack) starts in the period, -1 past its end;
    // a span that wraps is two.
    let mut edges: Vec<(u64, i32)> = Vec::with_capacity(gaps.len() * 4);
    for &(start, len) in gaps {
        let width = len + 2 * TICK_PHASE_SLACK_NS;
        if width >= period_ns {
            continue;
        }
        let from = (start + period_ns - TICK_PHASE_SLACK_NS) % period_ns;
        let to = from + width;
        if to <= period_ns {
            edges.extend([(from, 1), (to, -1)]);
        } else {
            edges.extend([(from, 1), (period_ns, -1), (0, 1), (to - period_ns, -1)]);
        }
    }
    edges.sort_unstable_by_key(|&(at, delta)| (at, -delta));
    let (mut covering, mut best) = (0i32, (0i32, 0u64));
    for (at, delta) in edges {
        covering += delta;
        if covering > best.0 {
            best = (covering, at);
        }
    }
    let found = TickFit {
        period_ns,
        // The best phase is where the most spans overlap; the tick is just past its start.
        phase_ns: (best.1 + TICK_PHASE_SLACK_NS) % period_ns,
        gaps_count: best.0.max(0) as usize,
        expected,
    };
    if (found.gaps_count as f64) < TICK_MIN_SHARE * expected {
        return Err(format!(
            "no tick found: at most {} gaps line up at one phase of {} µs, of {:.0} ticks expected",
            found.gaps_count,
            period_ns / 1_000,
            expected
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: u64 = 4_000_000;

    /// 250 ticks of 20 µs at phase 1.234 ms, and 500 host pauses of 10–40 µs anywhere.
    fn gaps() -> Vec<(u64, u64)> {
        let mut gaps: Vec<(u64, u64)> = (0..250u64)
            .map(|i| (i * PERIOD + 1_234_000 + (i * 7919) % 3_000, 20_000))
            .collect();
        gaps.extend((0..500u64).map(|i| ((i * 2_003_417) % (250 * PERIOD), 10_000 + i % 30_000)));
        gaps
    }

    #[test]
    fn the_tick_lines_up_and_host_pauses_do_not() {
        let tick = fit(&gaps(), PERIOD, 250.0).unwrap();
        assert!(
            tick.phase_ns.abs_diff(1_234_000) <= TICK_PHASE_SLACK_NS,
            "{tick:?}"
        );
        assert!(tick.gaps_count >= 250, "{tick:?}");
        // Every tick covers it; host pauses only where they happen to.
        let ticks = gaps()[..250]
            .iter()
            .filter(|g| tick.covers(g.0, g.1))
            .count();
        let pauses = gaps()[250..]
            .iter()
            .filter(|g| tick.covers(g.0, g.1))
            .count();
        assert_eq!(ticks, 250);
        assert!(
            pauses <= 25,
            "{pauses} of 500 host pauses taken for the tick"
        );
    }

    #[test]
    fn a_phase_across_the_period_boundary_is_found() {
        let gaps: Vec<(u64, u64)> = (0..100u64)
            .map(|i| (i * PERIOD + PERIOD - 8_000, 20_000))
            .collect();
        let tick = fit(&gaps, PERIOD, 100.0).unwrap();
        assert_eq!(tick.gaps_count, 100);
        assert!(tick.covers(50 * PERIOD - 8_000, 20_000));
        assert!(!tick.covers(50 * PERIOD + 1_000_000, 20_000));
    }

    #[test]
    fn without_a_periodic_tick_none_is_claimed() {
        let pauses: Vec<(u64, u64)> = gaps()[250..].to_vec();
        let error = fit(&pauses, PERIOD, 250.0).unwrap_err();
        assert!(error.contains("no tick found"), "{error}");
        assert!(fit(&gaps(), 0, 250.0).is_err());
    }
}
