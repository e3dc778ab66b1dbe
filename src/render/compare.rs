//! `dynoprobe compare`'s table, as aligned text or Markdown.

use std::fmt::Write as _;

use super::table::{Align, Table};
use super::units::{
    confidence, p_value, percent_cell, points, ratio, ratio_with_interval, runs_per_dollar,
    throughput, time,
};
use crate::baseline::Throughput;
use crate::report::compare::{Cell, Comparison, Definition, Row, Series};
use crate::sidecar::MeasuredTime;

/// The table, as aligned text or Markdown, and what its columns mean. Only formats what
/// `rows` computed.
pub fn comparison(c: &Comparison, markdown: bool) -> String {
    let interval_heading = format!("ratio [{} CI]", confidence(c.alpha));
    let headings = [
        "benchmark",
        "baseline",
        "reps",
        "median ± MAD",
        "CV",
        "p99 run",
        "off-CPU",
        "throughput",
        interval_heading.as_str(),
        "p (Welch)",
        "runs/$",
        "cost",
    ]
    .map(|h| (h, Align::Left));
    let mut table = Table::new("", &headings);
    for row in &c.rows {
        for (i, cell) in row.cells.iter().enumerate() {
            table.row(cells(if i == 0 { &row.key } else { "" }, cell));
        }
    }
    let mut out = if markdown {
        table.markdown()
    } else {
        table.text()
    };
    out += &legend(c);
    notes(&mut out, c);
    for series in &c.over_time {
        over_time(&mut out, series);
    }
    out
}

/// One baseline's cells in a row of the table.
fn cells(key: &str, c: &Cell) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mark = if c.significant == Some(true) {
        " *"
    } else {
        ""
    };
    vec![
        key.to_owned(),
        c.baseline.clone(),
        c.replicates_count.to_string(),
        format!(
            "{}{} ± {}",
            time(c.median_ns),
            of_time(c.measured_time),
            time(c.mad_ns)
        ),
        percent_cell(c.sample_cv),
        opt(c.p99_run_ns.map(|ns| time(ns as f64))),
        match c.off_cpu_points {
            Some(pts) => format!("{} ({})", percent_cell(c.off_cpu_ratio), points(pts)),
            None => percent_cell(c.off_cpu_ratio),
        },
        opt(c
            .throughput
            .map(|(v, unit)| format!("{}{}", throughput(v, unit), of_time(c.measured_time)))),
        opt(c
            .ratio
            .map(|r| ratio_with_interval(r, "", c.ci_low.zip(c.ci_high)))),
        opt(c.p_value.map(|p| format!("{}{mark}", p_value(p)))),
        opt(c.runs_per_dollar.map(runs_per_dollar)),
        opt(c.cost_ratio.map(ratio)),
    ]
}

/// What each column means and where it comes from.
fn legend(c: &Comparison) -> String {
    let confidence = confidence(c.alpha);
    let band = if c.min_effect > 0.0 {
        format!(" and the band of --min-effect {}%", c.min_effect * 100.0)
    } else {
        String::new()
    };
    format!(
        "\nreps: independent replicates (a run report, the geometric mean of its processes' medians; a drive\n\
         batch; a saved bench). median ± MAD: per iteration, criterion's estimates; for run and drive\n\
         results, over every run or call (nearest rank). CV: of criterion's per-sample means, or of the runs\n\
         or calls. p99 run and off-CPU: from dynoprobe's sidecar (per-run spans) or its results. ratio: the\n\
         geometric mean of the replicates' medians / the first baseline's, with its {confidence} confidence\n\
         interval (Welch's t on their logs); p: Welch's, two-sided; * = the interval excludes 1{band}.\n\
         runs/$: runs in a month of 730 h at --price; cost: this baseline's cost per run / the first's\n\
         (above 1 = dearer).\n"
    )
}

/// What the table's readers must know about these rows: what criterion measured, columns
/// of one replicate, rows left out.
fn notes(out: &mut String, c: &Comparison) {
    let measured = |time: MeasuredTime| {
        (c.rows.iter()).any(|r| r.cells.first().is_some_and(|c| c.measured_time == time))
    };
    if measured(MeasuredTime::ThreadCpu) {
        let _ = writeln!(
            out,
            "CPU: criterion measured the thread's CPU time (ThreadCpuTime), which does not grow \
             while the thread waits;\nthroughput is per second of CPU, and there is no runs/$ or \
             cost: a price buys wall time."
        );
    }
    if measured(MeasuredTime::OffCpu) {
        let _ = writeln!(
            out,
            "off-CPU: criterion measured wall minus CPU time (OffCpuTime), which is near 0 \
             when nothing waits: those rows\ncompare the off-CPU share of wall time (pts: \
             percentage points against the first baseline), not a ratio."
        );
    }
    if c.single_replicate_rows_count() > 0 {
        let _ = writeln!(out, "{}", single_replicate_note(c));
    }
    for conflict in &c.left_out {
        let ((first, theirs), (other, mine)) = (&conflict.first, &conflict.other);
        let (key, benchmark) = (&conflict.key, &conflict.benchmark);
        let (verb, unit, what) = match theirs {
            Definition::Throughput(_) => ("does", " per iteration", "different work"),
            Definition::MeasuredTime(_) => ("is measured in", "", "different quantities"),
        };
        let _ = writeln!(
            out,
            "left out: {key}: {benchmark} {verb} {}{unit} in {first} but {} in {other}; the row \
             would compare {what}.",
            definition(theirs),
            definition(mine),
        );
    }
}

/// Why some rows claim nothing, and how to get replicates.
pub fn single_replicate_note(c: &Comparison) -> String {
    format!(
        "{} of {} rows have a column of one replicate: its run-to-run noise is unknown, so \
         there is no interval\nand no claim of significance there. A replicate is one `run` \
         report (its worker processes share the\nrun's minute on the host), one `cargo bench`, \
         one drive batch or one instance. For replicates, give\neach column several, measured in \
         turn with the others' (a1, b1, a2, b2, ...): NAME=a1.json,a2.json,a3.json,\n\
         NAME='runs-*.json', NAME='std1x-*', or drive --every.",
        c.single_replicate_rows_count(),
        c.rows.len()
    )
}

/// What follows a time measured in `time`: nothing for wall time.
fn of_time(time: MeasuredTime) -> &'static str {
    match time {
        MeasuredTime::Wall => "",
        MeasuredTime::ThreadCpu => " CPU",
        MeasuredTime::OffCpu => " off-CPU",
    }
}

/// "4096 bytes", "thread CPU time".
fn definition(d: &Definition) -> String {
    match d {
        Definition::Throughput(t) => work(t),
        Definition::MeasuredTime(MeasuredTime::Wall) => "wall time".into(),
        Definition::MeasuredTime(MeasuredTime::ThreadCpu) => "thread CPU time".into(),
        Definition::MeasuredTime(MeasuredTime::OffCpu) => "off-CPU time".into(),
    }
}

fn work(t: &Throughput) -> String {
    match *t {
        Throughput::Bytes(b) | Throughput::BytesDecimal(b) => format!("{b} bytes"),
        Throughput::Elements(e) | Throughput::ElementsAndBytes { elements: e, .. } => {
            format!("{e} elements")
        }
        Throughput::Bits(b) => format!("{b} bits"),
    }
}

/// A series' batches by hour of the day (UTC), one line per hour that had any.
fn over_time(out: &mut String, s: &Series) {
    let _ = writeln!(
        out,
        "\n{} in {}, {} batches by hour of day (UTC; days pooled):",
        s.key,
        s.baseline,
        s.points.len()
    );
    let _ = writeln!(
        out,
        "{:<6} {:>8} {:>8} {:>18} {:>12}",
        "hour", "batches", "samples", "median of medians", "worst p99"
    );
    for h in s.by_hour_utc() {
        let _ = writeln!(
            out,
            "{:<6} {:>8} {:>8} {:>18} {:>12}",
            format!("{:02}:00", h.hour_utc),
            h.batches_count,
            h.samples_count,
            time(h.median_of_medians_ns),
            time(h.worst_p99_ns)
        );
    }
}

/// One line for the top of a page: how many rows differ significantly.
pub fn headline(c: &Comparison) -> String {
    format!(
        "{} of {} benchmarks differ significantly from the first baseline (the {} interval of \
         the ratio over independent replicates excludes 1).",
        c.significant_rows_count(),
        c.rows.len(),
        confidence(c.alpha)
    )
}

/// What `--fail-if-slower PERCENT` fails on: the rows, each with its ratio and p.
pub fn slower(percent: f64, cells: &[(&Row, &Cell)]) -> String {
    let rows: Vec<String> = cells
        .iter()
        .map(|(row, cell)| {
            format!(
                "  {} in {}: {} the first baseline (p {})",
                row.key,
                cell.baseline,
                cell.ratio.map_or("-".into(), |r| ratio_with_interval(
                    r,
                    "×",
                    cell.ci_low.zip(cell.ci_high)
                )),
                cell.p_value.map_or("-".into(), p_value)
            )
        })
        .collect();
    format!(
        "--fail-if-slower {percent}: {} slower than the first baseline by {percent}% or more \
         over their whole interval:\n{}",
        rows.len(),
        rows.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::{Cell, Row};

    fn two_baselines() -> Comparison {
        let cell = |baseline: &str, median_ns: f64, p_value: Option<f64>| Cell {
            baseline: baseline.into(),
            benchmark: "chase-l2/dynoprobe".into(),
            median_ns,
            mad_ns: 1_000.0,
            sample_cv: Some(0.02),
            samples: None,
            measured_time: crate::sidecar::MeasuredTime::Wall,
            p99_run_ns: None,
            off_cpu_ratio: Some(0.5),
            off_cpu_points: None,
            throughput: None,
            replicates_count: 3,
            replicate_medians_ns: vec![median_ns; 3],
            ratio: Some(median_ns / 100_000.0),
            ci_low: p_value.map(|_| 1.4),
            ci_high: p_value.map(|_| 1.6),
            p_value,
            significant: p_value.map(|p| p < 0.05),
            runs_per_dollar: None,
            cost_ratio: None,
        };
        Comparison {
            kind: crate::report::kind::Kind::Comparison,
            schema_version: 2,
            alpha: 0.05,
            min_effect: 0.0,
            rows: vec![Row {
                key: "chase-l2/dynoprobe".into(),
                cells: vec![
                    cell("quiet", 100_000.0, None),
                    cell("shared", 150_000.0, Some(0.001)),
                ],
            }],
            left_out: Vec::new(),
            over_time: Vec::new(),
        }
    }

    #[test]
    fn cells_carry_units_and_the_significance_mark() {
        let text = comparison(&two_baselines(), false);
        let line = text.lines().find(|l| l.contains("shared")).unwrap();
        for part in [
            "150.00 µs ± 1.00 µs",
            "2.0%",
            "50.0%",
            "1.50 [1.40, 1.60]",
            "0.0010 *",
        ] {
            assert!(line.contains(part), "{part} missing: {line}");
        }
        assert!(text.contains("ratio [95% CI]"), "{text}");
        assert!(!text.contains("one replicate"), "{text}");
        let markdown = comparison(&two_baselines(), true);
        assert!(
            markdown.starts_with("| benchmark | baseline |"),
            "{markdown}"
        );
        assert_eq!(markdown.lines().filter(|l| l.starts_with('|')).count(), 4);
    }

    #[test]
    fn a_column_of_one_replicate_says_why_it_claims_nothing() {
        let mut c = two_baselines();
        for cell in &mut c.rows[0].cells {
            cell.replicates_count = 1;
            (cell.ci_low, cell.ci_high, cell.p_value, cell.significant) = (None, None, None, None);
        }
        let text = comparison(&c, false);
        let line = text.lines().find(|l| l.contains("shared")).unwrap();
        assert!(line.contains("1.50  ") && !line.contains('['), "{line}");
        assert!(
            text.contains("1 of 1 rows have a column of one replicate"),
            "{text}"
        );
        assert!(text.contains("A replicate is one `run` report"), "{text}");
        assert!(text.contains("NAME=a1.json,a2.json,a3.json"), "{text}");
    }

    #[test]
    fn cpu_and_off_cpu_time_are_named_where_they_are_shown() {
        let mut c = two_baselines();
        for cell in &mut c.rows[0].cells {
            cell.measured_time = MeasuredTime::OffCpu;
            (cell.ratio, cell.ci_low, cell.ci_high, cell.p_value) = (None, None, None, None);
        }
        c.rows[0].cells[0].off_cpu_points = Some(-0.04);
        c.rows[0].cells[1].off_cpu_points = Some(-12.5);
        let text = comparison(&c, false);
        let line = text.lines().find(|l| l.contains("shared")).unwrap();
        assert!(line.contains("µs off-CPU ±"), "{line}");
        assert!(line.contains("50.0% (-12.5 pts)"), "{line}");
        assert!(
            text.contains("50.0% (0.0 pts)"),
            "rounds to 0, not -0.0: {text}"
        );
        assert!(
            text.contains("compare the off-CPU share of wall time"),
            "{text}"
        );
        assert!(!text.contains("ThreadCpuTime"), "{text}");

        c.rows[0]
            .cells
            .iter_mut()
            .for_each(|cell| cell.measured_time = MeasuredTime::ThreadCpu);
        let text = comparison(&c, false);
        assert!(text.contains("µs CPU ±"), "{text}");
        assert!(
            text.contains("no runs/$ or cost: a price buys wall time"),
            "{text}"
        );

        use crate::report::compare::Conflict;
        c.left_out.push(Conflict {
            key: "k".into(),
            benchmark: "k/x".into(),
            first: ("a".into(), Definition::MeasuredTime(MeasuredTime::Wall)),
            other: (
                "b".into(),
                Definition::MeasuredTime(MeasuredTime::ThreadCpu),
            ),
        });
        let text = comparison(&c, false);
        assert!(
            text.contains(
                "left out: k: k/x is measured in wall time in a but thread CPU time \
                           in b; the row would compare different quantities."
            ),
            "{text}"
        );
    }

    #[test]
    fn conflicts_and_hours_of_the_day_are_spelled_out() {
        use crate::report::compare::{Conflict, TimePoint};
        let mut c = two_baselines();
        c.left_out.push(Conflict {
            key: "chase-llc".into(),
            benchmark: "chase-llc".into(),
            first: (
                "a.json".into(),
                Definition::Throughput(Throughput::Bytes(32 << 20)),
            ),
            other: (
                "b.json".into(),
                Definition::Throughput(Throughput::Bytes(16 << 20)),
            ),
        });
        let point = |hour: u64, median_ns: f64| TimePoint {
            benchmark: "w (server run)".into(),
            started_unix_ms: hour * 3_600_000,
            samples_count: 10,
            median_ns,
            p99_ns: 2.0 * median_ns,
        };
        c.over_time.push(Series {
            baseline: "fleet".into(),
            key: "w (server run)".into(),
            points: vec![point(9, 1e6), point(14, 3e6)],
        });
        let text = comparison(&c, false);
        assert!(
            text.contains(
                "left out: chase-llc: chase-llc does 33554432 bytes per iteration in a.json \
                 but 16777216 bytes in b.json"
            ),
            "{text}"
        );
        assert!(text.contains("w (server run) in fleet, 2 batches by hour of day (UTC"));
        let hour = text.lines().find(|l| l.starts_with("14:00")).unwrap();
        assert!(
            hour.contains("3.000 ms") && hour.contains("6.000 ms"),
            "{hour}"
        );
    }
}
