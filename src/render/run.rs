//! A `dynoprobe run` report as text.

use std::fmt::Write as _;

use super::contention::contention;
use super::jitter::jitter;
use super::table::{Table, numbers};
use super::units::{
    cpu_count, cpus, mb_per_s, megabytes, ms, ns_per_op, percent, percent_cell, ratio,
};
use super::verdict::verdict;
use crate::report::{Report, WorkloadReport};

/// The report as text: run times, where the time went, the contention counters, the spin
/// and the verdict, each figure with its unit and source.
pub fn report(report: &Report) -> String {
    let mut out = String::new();
    machine(&mut out, report);
    wall(&mut out, &report.workloads);
    split(&mut out, &report.workloads);
    contention(&mut out, &report.contention);
    if let Some(j) = &report.jitter {
        jitter(&mut out, j);
    }
    verdict(&mut out, &report.verdict);
    out
}

fn machine(out: &mut String, report: &Report) {
    let m = &report.machine;
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    let _ = writeln!(
        out,
        "machine: {} · {} · AES: {} · kernel {} · clocksource {} · virtualization: {}",
        or_unknown(&m.cpu_model),
        m.logical_cpus_count.map_or("? CPUs".into(), cpu_count),
        m.aes_backend,
        or_unknown(&m.kernel),
        or_unknown(&m.clocksource),
        or_unknown(&m.virtualization),
    );
    let quota = match (m.cgroup_version, m.cgroup_quota_ratio) {
        (None, _) => "no CPU cgroup found".to_string(),
        (Some(v), None) => format!(
            "cgroup {v} {}, no CPU quota",
            m.cgroup_dir.as_deref().unwrap_or("?")
        ),
        (Some(v), Some(q)) => format!(
            "cgroup {v} {}, quota {} (set on {})",
            m.cgroup_dir.as_deref().unwrap_or("?"),
            cpus(q),
            m.cgroup_quota_dir.as_deref().unwrap_or("?")
        ),
    };
    let _ = writeln!(out, "{quota}");
    if let Some(a) = &m.accounting {
        let _ = writeln!(out, "{}", super::jitter::accounting(a));
    }
    let _ = writeln!(
        out,
        "fixture: {} ({} JSON)\n",
        report.fixture.source,
        megabytes(report.fixture.json_bytes)
    );
}

fn wall(out: &mut String, workloads: &[WorkloadReport]) {
    let mut table = Table::new(
        "",
        &numbers(
            "workload",
            &[
                "procs",
                "runs",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "CV",
                "proc max/min",
                "MB/s",
            ],
        ),
    );
    for w in workloads {
        let (m, d) = (&w.measured, &w.measured.wall_ns);
        table.row(vec![
            m.name.to_string(),
            w.replicates.len().to_string(),
            m.runs_count.to_string(),
            ms(d.p50),
            ms(d.p90),
            ms(d.p99),
            ms(d.max),
            percent_cell(d.cv),
            (w.replicate_p50_max_over_min).map_or("-".into(), ratio),
            mb_per_s(w.throughput_bytes_per_s),
        ]);
    }
    out.push_str(&table.text());
    out.push_str(
        "Wall-clock time per run (CLOCK_MONOTONIC), nearest-rank percentiles over the runs of all\n\
         procs (independent worker processes, the workloads interleaved); CV = stddev / mean.\n\
         proc max/min: the slowest process's p50 over the fastest's (they share this run's minute on\n\
         the host: `compare` takes the run as one replicate). MB/s = bytes per run / p50 (10^6\n\
         bytes); for chase-* the 64-byte lines visited.\n\n",
    );
}

fn split(out: &mut String, workloads: &[WorkloadReport]) {
    let mut table = Table::new(
        "",
        &numbers(
            "where time went",
            &[
                "on-CPU p50",
                "on-CPU p90",
                "off-CPU p99",
                "off-CPU",
                "rq-wait",
                "rest",
                "preempted",
                "ns/op p50",
                "p90/p10",
            ],
        ),
    );
    for w in workloads {
        let m = &w.measured;
        table.row(vec![
            m.name.to_string(),
            ms(m.on_cpu_ns.p50),
            ms(m.on_cpu_ns.p90),
            ms(m.off_cpu_ns.p99),
            percent(Some(m.off_cpu_ratio)),
            percent(m.runqueue_wait_ratio),
            percent(w.other_off_cpu_ratio),
            (m.preempted_runs_count).map_or("-".into(), |n| format!("{n}/{}", m.runs_count)),
            m.ns_per_op.map_or("-".into(), |d| ns_per_op(d.p50)),
            (m.ns_per_op.and_then(|d| d.p90_over_p10())).map_or("-".into(), ratio),
        ]);
    }
    out.push_str(&table.text());
    out.push_str(
        "ms per run. on-CPU: thread CPU time (CLOCK_THREAD_CPUTIME_ID); off-CPU: wall − on-CPU.\n\
         off-CPU = rq-wait + rest, each a share of all runs' wall time. rq-wait: the kernel's run-queue\n\
         wait (/proc/thread-self/schedstat), other tasks' turns and throttling. rest: off the CPU but not\n\
         waiting for it: steal (kept out of thread CPU time by the steal clock) and page faults. Host\n\
         pauses the hypervisor does not report count as on-CPU time here; the spin below sees them.\n\
         preempted: runs with an involuntary context switch (getrusage). ns/op: fixed work timed in\n\
         blocks inside each run (a dependent load; a 16-byte AES block), the median block per run;\n\
         p50 over runs and p90/p10 across runs. A gap inside a run cannot move it.\n\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_one_row_per_workload_in_milliseconds() {
        let text = report(&crate::test_support::report());
        let row = text
            .lines()
            .find(|l| l.starts_with("json-serde-value"))
            .unwrap();
        let cells: Vec<_> = row.split_whitespace().collect();
        // 2 ms lands in a 1024 ns bucket whose top, 2 000 895 ns, is what the histogram reports.
        assert_eq!(cells[1..7], ["1", "3", "2.001", "3.000", "3.000", "3.000"]);
        // One process: no spread between processes.
        assert_eq!(cells[8], "-");
        // 4 MB / 2.000895 ms, in 10^6 bytes per second.
        assert_eq!(cells[9], "1999.1");
        let split = text
            .lines()
            .filter(|l| l.starts_with("json-serde-value"))
            .nth(1)
            .unwrap();
        let cells: Vec<_> = split.split_whitespace().collect();
        assert_eq!(cells[4..], ["50.0%", "n/a", "n/a", "2/3", "-", "-"]);
        assert!(text.contains("fixture: shipped (4.00 MB JSON)"));
        assert!(text.contains("contention over the whole run"));
        assert!(text.contains("verdict: QUIET — The platform took less than 2.0%"));
        assert!(
            text.trim_end()
                .ends_with("· throttled n/a of the time, n/a of periods (cgroup cpu.stat)"),
            "verdict last: {text}"
        );
    }
}
