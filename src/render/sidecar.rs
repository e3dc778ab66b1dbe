//! The sidecar's one line for the terminal, after criterion's own output.

use super::units::{ms_f, ms_with_unit as ms, percent as pct, ratio};
use crate::sidecar::Summary;

/// One line: the runs' spread, their off-CPU time and the kernel's counters.
pub fn line(s: &Summary) -> String {
    format!(
        "dynoprobe {}: {} runs, p50 {}, p99 {}, CV {}, off-CPU {} (p99 run: {} off-CPU), \
         {} preemptions/run, timeslice {}, steal {}, throttled {}",
        s.benchmark,
        s.runs_count,
        ms(s.wall_ns.p50),
        ms(s.wall_ns.p99),
        pct(s.wall_ns.cv),
        pct(Some(s.off_cpu_ratio)),
        ms(s.p99_run_off_cpu_ns),
        s.preemptions_per_run.map_or("n/a".into(), ratio),
        ms_f(s.timeslice_ms),
        pct(s.contention.steal_ratio.value()),
        pct(s.contention.throttled_ratio.value()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{quiet_contention, run};

    #[test]
    fn the_line_gives_each_figure_its_unit() {
        let mut runs = vec![run(1000, 1000, 0); 99];
        runs.push(run(100_000, 99_100, 1));
        let s = Summary::of("g/f", &runs, quiet_contention()).unwrap();
        let text = line(&s);
        assert!(
            text.starts_with("dynoprobe g/f: 100 runs, p50 0.001 ms, p99 0.001 ms"),
            "{text}"
        );
        assert!(text.contains("0.01 preemptions/run"), "{text}");
        // On-CPU time over preemptions: (99 × 1 µs + 99.1 µs) / 1 = 0.198 ms.
        assert!(text.contains("timeslice 0.20 ms"), "{text}");
    }
}
