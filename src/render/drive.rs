//! `dynoprobe drive`'s result as text.

use std::fmt::Write as _;

use super::units::{ms, percent_cell, seconds};
use crate::report::drive::DriveReport;
use crate::stats::Distribution;

/// The split as a table of percentiles, each row with its source, and what to do about busy
/// answers.
pub fn drive(summary: &DriveReport) -> String {
    let s = &summary.split;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dynoprobe drive: {} calls to {} (workload {}), {} in flight, {} s\n",
        summary.calls_count,
        summary.url,
        summary.workload,
        summary.concurrency,
        seconds(summary.elapsed_ns)
    );
    let _ = writeln!(
        out,
        "{:<18} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "per call", "p50 ms", "p90 ms", "p99 ms", "max ms", "CV"
    );
    let mut row = |label: &str, d: Option<&Distribution>| {
        let _ = match d {
            Some(d) => writeln!(
                out,
                "{label:<18} {:>10} {:>10} {:>10} {:>10} {:>7}",
                ms(d.p50),
                ms(d.p90),
                ms(d.p99),
                ms(d.max),
                percent_cell(d.cv),
            ),
            None => writeln!(out, "{label:<18} {:>10}", "-"),
        };
    };
    row("latency", Some(&s.latency_ns));
    row("  router queue", s.queue_ns.as_ref());
    row("  server run", Some(&s.run_ns));
    row("    on-CPU", Some(&s.on_cpu_ns));
    row("    off-CPU", Some(&s.off_cpu_ns));
    row("  rest", Some(&s.rest_ns));
    let _ = writeln!(
        out,
        "\nlatency: measured here, request sent to body read. router queue: the server's \
         X-Queue-Time ({} of {} calls had one{}).\nserver run: one run's wall time on the \
         server (CLOCK_MONOTONIC), split into its thread's CPU time and the rest (off-CPU).\n\
         rest = latency - queue - run: network, TLS, router and HTTP handling.",
        s.queue_time_count,
        summary.calls_count,
        if s.queue_time_count == 0 {
            "; a direct connection has no router to set X-Request-Start"
        } else {
            ""
        }
    );
    if summary.busy_count > 0 {
        let _ = writeln!(
            out,
            "{} answers were 429 busy and were asked again: the server runs one batch at a \
             time. Lower --concurrency, or run more server processes.",
            summary.busy_count
        );
    }
    out
}

/// One line for the top of a page: the calls' latency and the server's run.
pub fn headline(report: &DriveReport) -> String {
    let s = &report.split;
    format!(
        "{} calls: latency p50 {} ms, p99 {} ms; the server's run p50 {} ms, p99 {} ms.",
        report.calls_count,
        ms(s.latency_ns.p50),
        ms(s.latency_ns.p99),
        ms(s.run_ns.p50),
        ms(s.run_ns.p99)
    )
}
