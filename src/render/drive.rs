//! `dynoprobe drive`'s result as text.

use std::fmt::Write as _;

use super::table::{Align, Table, numbers};
use super::units::{ms, p_value, percent_cell, seconds, times, utc};
use crate::report::drive::{
    DriveReport, OUTLIER_ALPHA, OUTLIER_MIN_CALLS, OUTLIER_MIN_INSTANCES, OUTLIER_MIN_RATIO, Split,
};
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
        summary.drive.url,
        summary.drive.workload,
        summary.drive.concurrency,
        seconds(summary.drive.elapsed_ns)
    );
    if let Some(why) = &summary.drive.stopped {
        let _ = writeln!(out, "partial: {why}; these are the calls made.\n");
    }
    out += &split(s);
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
    warnings(&mut out, summary);
    instances(&mut out, summary);
    out
}

/// Each call's time, split: latency, the router's queue, the server's run (on and off the
/// CPU) and the rest.
fn split(s: &Split) -> String {
    let headings = numbers("per call", &["p50 ms", "p90 ms", "p99 ms", "max ms", "CV"]);
    let mut table = Table::new("", &headings);
    let mut row = |label: &str, d: Option<&Distribution>| {
        let figures = match d {
            Some(d) => vec![
                ms(d.p50),
                ms(d.p90),
                ms(d.p99),
                ms(d.max),
                percent_cell(d.cv),
            ],
            None => vec!["-".into()],
        };
        table.row([label.to_owned()].into_iter().chain(figures).collect());
    };
    row("latency", Some(&s.latency_ns));
    row("  router queue", s.queue_ns.as_ref());
    row("  server run", Some(&s.run_ns));
    row("    on-CPU", Some(&s.on_cpu_ns));
    row("    off-CPU", Some(&s.off_cpu_ns));
    row("  rest", Some(&s.rest_ns));
    table.text()
}

/// What the reader must know about these answers: invalid queue times, busy answers, mixed
/// payloads, instances without a name.
fn warnings(out: &mut String, summary: &DriveReport) {
    let s = &summary.split;
    if s.queue_time_invalid_count > 0 {
        let _ = writeln!(
            out,
            "{} answers had an X-Queue-Time that is no queue (not milliseconds, or more than an \
             hour): counted here, left out of the router queue.",
            s.queue_time_invalid_count
        );
    }
    if summary.drive.busy_count > 0 {
        let _ = writeln!(
            out,
            "{} answers were 429 busy and were asked again: the server runs one batch at a \
             time. Lower --concurrency, or run more server processes.",
            summary.drive.busy_count
        );
    }
    let fixtures = &summary.drive.fixtures;
    if fixtures.len() > 1 {
        let named: Vec<String> = fixtures
            .iter()
            .map(|f| format!("{} ({} bytes)", f.source, f.json_bytes))
            .collect();
        let _ = writeln!(
            out,
            "warning: the answers came from {} different payloads: {}; the instances do not \
             run the same work, and compare refuses this result.",
            fixtures.len(),
            named.join(", ")
        );
    }
    if let Some(unnamed) = summary.instances.iter().find(|i| i.instance.is_none()) {
        let _ = writeln!(
            out,
            "{} of {} answers named no instance (a serve older than its instance field): they \
             are one '(unnamed)' instance in the fleet view.",
            unnamed.calls_count, summary.calls_count
        );
    }
}

/// One row per instance that answered, the outliers marked; nothing when one instance
/// answered every call.
fn instances(out: &mut String, report: &DriveReport) {
    if report.instances.len() < 2 {
        return;
    }
    let mut headings = numbers(
        "instance",
        &[
            "calls",
            "run p50 ms",
            "run p90 ms",
            "run p99 ms",
            "off-CPU",
            "steal",
            "throttled",
            "vs rest",
            "p",
        ],
    );
    headings.push(("", Align::Left));
    let mut table = Table::new("", &headings);
    for i in &report.instances {
        table.row(vec![
            i.instance.as_deref().unwrap_or("(unnamed)").to_owned(),
            i.calls_count.to_string(),
            ms(i.run_ns.p50),
            ms(i.run_ns.p90),
            ms(i.run_ns.p99),
            percent_cell(Some(i.off_cpu_ratio)),
            percent_cell(i.steal_ratio),
            percent_cell(i.throttled_ratio),
            i.ratio_to_others.map_or("-".into(), times),
            i.p_value.map_or("-".into(), p_value),
            if i.outlier { "◀ outlier" } else { "" }.into(),
        ]);
    }
    out.push('\n');
    out.push_str(&table.text());
    let _ = writeln!(
        out,
        "run: the server's run time per call. vs rest: its p90 / the geometric mean of the \
         other instances' p90s (the p90 moves when a share of calls lose the CPU, the median \
         may not); p: how far its p90 lies from theirs (a t test of one instance against the \
         others, on logs: each instance is one replicate; - with fewer than \
         {OUTLIER_MIN_INSTANCES} instances of {OUTLIER_MIN_CALLS} calls or more).\noutlier: \
         p < {OUTLIER_ALPHA} and at least {OUTLIER_MIN_RATIO}× their p90. steal, throttled: the \
         server's own counters while it ran, averaged over its calls."
    );
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

/// One batch of `drive --every`, on one line: when it began (UTC), and its headline.
pub fn batch_line(report: &DriveReport) -> String {
    let instances = match report.instances.len() {
        0 | 1 => String::new(),
        n => format!(" ({n} instances)"),
    };
    format!(
        "{}: {}{instances}",
        utc(report.drive.started_unix_ms),
        headline(report)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::drive::Call;

    #[test]
    fn the_fleet_table_marks_the_outlier() {
        let call = |instance: &str, run_ns: u64| Call {
            sent_ns: 0,
            latency_ns: run_ns * 2,
            queue_ns: None,
            queue_time_invalid: false,
            run_ns,
            on_cpu_ns: run_ns,
            off_cpu_ns: 0,
            instance: Some(instance.into()),
            steal_ratio: None,
            throttled_ratio: None,
        };
        let calls: Vec<Call> = (0..20)
            .flat_map(|i| {
                [
                    call("web.1", 1_000_000 + i * 1_000),
                    call("web.2", 2_000_000 + i * 1_000),
                    call("web.3", 1_010_000 + i * 1_000),
                    call("web.4", 990_000 + i * 1_000),
                ]
            })
            .collect();
        let report = DriveReport::new(crate::test_support::drive(), calls).unwrap();
        let text = drive(&report);
        let row = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap()
                .to_string()
        };
        assert!(row("web.2").ends_with("◀ outlier"), "{text}");
        assert!(!row("web.1").contains("outlier"), "{text}");
        assert!(
            row("web.2").contains("1.98×"),
            "2.017 ms / 1.017 ms (the p90 of the others, their geometric mean): {text}"
        );
        let line = batch_line(&report);
        assert!(
            line.starts_with("2023-11-14 22:13:20 UTC: 80 calls"),
            "{line}"
        );
        assert!(line.ends_with("(4 instances)"), "{line}");
    }

    #[test]
    fn answers_that_name_no_instance_are_said_in_one_line() {
        let served = crate::report::drive::Call::from_answer(
            0,
            2_000,
            r#"{"workload": {"name": "w", "wall_ns": {"max": 900}, "on_cpu_ns": {"max": 900},
                "off_cpu_ns": {"max": 0}}}"#,
            None,
        )
        .unwrap();
        let report = DriveReport::new(
            crate::test_support::drive(),
            vec![served.call.clone(), served.call],
        )
        .unwrap();
        let text = drive(&report);
        assert!(
            text.contains("2 of 2 answers named no instance (a serve older"),
            "{text}"
        );
    }
}
