//! The reports' pictures, as SVG: the gap timeline (jHiccup's hiccup chart), the ledger of
//! where the time went, and each workload's latency percentile spectrum. Each chart draws
//! only what the report holds, with axis units and a caption that says how to read it.

use super::svg::{Axis, Plot};
use super::units::{
    axis_time_unit, confidence, ms_f, p_value, ratio_with_interval, runs_per_dollar, time, times,
    whole_ms,
};
use crate::jitter::{Cause, Jitter};
use crate::report::WorkloadReport;
use crate::report::compare::{Cell, Row, Series};

/// One finished chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// A file name without extension, for `--svg DIR`.
    pub name: String,
    /// One line that says how to read it.
    pub caption: String,
    pub svg: String,
}

/// The colour of each cause of lost time, and of time on the CPU.
pub fn color(cause: Cause) -> &'static str {
    match cause {
        Cause::Preempted => "#d62728",
        Cause::Throttled => "#ff7f0e",
        Cause::Stolen => "#9467bd",
        Cause::Interrupt => "#17becf",
        Cause::Unreported => "#8c564b",
        Cause::Short => "#bbbbbb",
    }
}
const ON_CPU: &str = "#2ca02c";
const WALL: &str = "#1f77b4";
/// A box that stands out: significantly different (compare), an outlier (drive).
const FLAGGED: &str = "#d62728";
/// A replicate's median across its box.
const REPLICATE: &str = "#9467bd";
/// Off-CPU time not split into run-queue wait and the rest (schedstat was not readable).
const UNSPLIT: &str = "#7f7f7f";

/// `key` with every character but letters, digits, `-` and `.` as `_`: a file name.
fn file_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One colour per column of a comparison drawn over time, in order, repeating past six.
const COLUMNS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// One row's batches over the hour of day (UTC), one colour per column: each batch's median
/// as a mark, its p99 as a fainter one above.
pub fn over_time(key: &str, series: &[&Series]) -> Chart {
    let points = || series.iter().flat_map(|s| &s.points);
    let top_ns = points().map(|p| p.p99_ns).fold(0.0, f64::max);
    let lowest_ns = points().map(|p| p.median_ns).fold(f64::INFINITY, f64::min);
    let bottom_ns = lowest_ns.clamp(1.0, top_ns.max(1.0));
    let (unit, unit_name) = axis_time_unit(top_ns);
    let (first, last) = hours_spanned(points().map(|p| p.started_unix_ms));
    let mut plot = Plot::new(
        &format!("{key}, by time of day"),
        Axis::hours_of_day(
            "time of day the batch began (UTC; days pooled)",
            first,
            last,
        ),
        Axis::log(
            format!("per batch ({unit_name}, log): median ■, p99 ▪"),
            bottom_ns / unit * 0.8,
            top_ns / unit * 1.25,
        ),
    );
    // Marks of a fixed share of the axis: on a log axis, a fixed ratio.
    let (height, width) = (
        (top_ns / bottom_ns).powf(1.0 / 80.0),
        (last - first) / 160.0,
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLUMNS[i % COLUMNS.len()];
        for p in &s.points {
            let hour = hour_of(p.started_unix_ms);
            let (median, p99) = (p.median_ns / unit, p.p99_ns / unit);
            let mark = |y: f64, scale: f64| {
                let factor = height.powf(scale);
                (
                    (hour - width * scale, y / factor),
                    (hour + width * scale, y * factor),
                )
            };
            let (low, high) = mark(median, 1.0);
            plot.rect(low, high, color);
            let (low, high) = mark(p99, 0.5);
            plot.rect(low, high, color);
        }
        plot.legend(&s.baseline, color);
    }
    Chart {
        name: format!("over-time-{}", file_name(key)),
        caption: "Each batch of calls (drive --every) or runs is a mark at the hour it began: \
                  its median, and its p99 as the small mark above. Marks that climb at some \
                  hours are a platform that is busier then; a column whose marks sit apart \
                  from the others is slower at every hour."
            .into(),
        svg: plot.finish("Over time"),
    }
}

/// The hour of day (UTC, fractional) of `unix_ms`.
fn hour_of(unix_ms: u64) -> f64 {
    (unix_ms % 86_400_000) as f64 / 3_600_000.0
}

/// The hours of day batches that began at `starts` span, to the quarter hour: all day for a
/// day's drive, a quarter or two for a short one, so its batches do not crowd into a sliver
/// of the axis.
fn hours_spanned(starts: impl Iterator<Item = u64> + Clone) -> (f64, f64) {
    const QUARTER: f64 = 0.25;
    let first = starts.clone().map(hour_of).fold(24.0, f64::min);
    let last = starts.map(hour_of).fold(0.0, f64::max);
    let (first, last) = ((first / QUARTER).floor(), (last / QUARTER).ceil());
    (first * QUARTER, last.max(first + 1.0) * QUARTER)
}

/// One row of a box plot at `y`: whiskers from `min` to `max`, a box from `low` to `high`
/// in `color`, a black line at `middle`; all in the plot's x unit.
fn whisker_box(plot: &mut Plot, y: f64, [min, low, middle, high, max]: [f64; 5], color: &str) {
    plot.rect((min, y - 0.02), (max, y + 0.02), "#666666");
    plot.rect((low, y - 0.25), (high, y + 0.25), color);
    plot.rect((middle, y - 0.3), (middle, y + 0.3), "#000000");
}

/// The longest gap in each interval of the spin, on a log scale, coloured by cause.
pub fn gap_timeline(j: &Jitter) -> Chart {
    let cpu = j.cpu.map_or("one thread".into(), |c| format!("CPU {c}"));
    let duration_s = j.duration_ns as f64 / 1e9;
    let step_s = duration_s / crate::jitter::infer::TIMELINE_INTERVALS as f64;
    let worst_ms = j.timeline.iter().map(|p| p.worst_ns).max().unwrap_or(1) as f64 / 1e6;
    let floor_ms = j.attribute_threshold_ns as f64 / 1e6;
    let mut plot = Plot::new(
        &format!("Gap timeline, {cpu}"),
        Axis::linear("time into the spin (s)", 0.0, duration_s),
        Axis::log("longest gap in the interval (ms, log)", floor_ms, worst_ms),
    );
    for p in &j.timeline {
        let start_s = p.start_ns as f64 / 1e9;
        plot.rect(
            (start_s, floor_ms),
            (start_s + step_s * 0.8, p.worst_ns as f64 / 1e6),
            color(p.cause),
        );
        plot.legend(p.cause.name(), color(p.cause));
    }
    let period = j.throttle.map_or(String::new(), |t| {
        format!(
            " Throttled gaps recur every {}: the cgroup's CFS period.",
            ms_f(Some(t.period_ms))
        )
    });
    Chart {
        name: format!(
            "gap-timeline-{}",
            j.cpu.map_or("thread".into(), |c| c.to_string())
        ),
        caption: format!(
            "Each bar is the longest gap (the thread not running) that began in a {} \
             interval of the spin, coloured by its cause; gaps under {} µs are not attributed \
             and not drawn.{period}",
            whole_ms(step_s * 1e3),
            j.attribute_threshold_ns / 1000
        ),
        svg: plot.finish("Gap timeline"),
    }
}

/// Where each spinning thread's time went: on the CPU, or lost to each cause.
pub fn ledger(jitters: &[Jitter]) -> Chart {
    let names = jitters
        .iter()
        .map(|j| j.cpu.map_or("spin".into(), |c| format!("spin, CPU {c}")))
        .collect();
    let mut plot = Plot::new(
        "Where the spin's time went",
        Axis::linear("share of the spin (%)", 0.0, 100.0),
        Axis::categories("", names),
    );
    for (row, j) in jitters.iter().enumerate() {
        let mut parts = vec![("on CPU", j.ledger.on_cpu_ratio, ON_CPU)];
        parts.extend(Cause::ALL.map(|c| (c.name(), j.ledger.ratio(c), color(c))));
        stack(&mut plot, row as f64, &parts);
    }
    Chart {
        name: "ledger".into(),
        caption: "Each bar is one spinning thread's wall time, split into time on the CPU and \
                  the gaps of each cause; the parts add up to 100%."
            .into(),
        svg: plot.finish("Ledger"),
    }
}

/// Where each workload's run time went: on the CPU, waiting on the run queue, or off the
/// CPU otherwise.
pub fn workloads_time(workloads: &[WorkloadReport]) -> Chart {
    let names = workloads
        .iter()
        .map(|w| w.measured.name.to_string())
        .collect();
    let mut plot = Plot::new(
        "Where the workloads' time went",
        Axis::linear("share of the runs' wall time (%)", 0.0, 100.0),
        Axis::categories("", names),
    );
    for (row, w) in workloads.iter().enumerate() {
        let m = &w.measured;
        let on_cpu = ("on CPU", 1.0 - m.off_cpu_ratio, ON_CPU);
        match (m.runqueue_wait_ratio, w.other_off_cpu_ratio) {
            (Some(wait), Some(other)) => {
                let wait = ("run-queue wait", wait, color(Cause::Preempted));
                let other = ("other off-CPU", other, color(Cause::Stolen));
                stack(&mut plot, row as f64, &[on_cpu, wait, other]);
            }
            _ => {
                let off = (
                    "off CPU (no schedstat: wait unknown)",
                    m.off_cpu_ratio,
                    UNSPLIT,
                );
                stack(&mut plot, row as f64, &[on_cpu, off]);
            }
        }
    }
    Chart {
        name: "workloads-time".into(),
        caption: "Each bar is one workload's runs: thread CPU time, run-queue wait (schedstat: \
                  another task or the quota had the CPU) and the rest of the time off the CPU \
                  (steal, page faults)."
            .into(),
        svg: plot.finish("Workloads' time"),
    }
}

/// Adds one row of bars, left to right, each part a 0..1 share drawn in percent.
fn stack(plot: &mut Plot, row: f64, parts: &[(&str, f64, &str)]) {
    let mut left = 0.0;
    for &(name, share, color) in parts {
        let width = share.max(0.0) * 100.0;
        if width > 0.0 {
            plot.rect((left, row - 0.3), (left + width, row + 0.3), color);
        }
        plot.legend(name, color);
        left += width;
    }
}

/// A workload's latency percentile spectrum: p50 to p99.9 on a log axis of 1/(1−p), wall
/// and on-CPU time per run overlaid.
pub fn spectrum(w: &WorkloadReport) -> Chart {
    let m = &w.measured;
    let points = |d: &crate::stats::Distribution| {
        [
            (2.0, d.p50),
            (10.0, d.p90),
            (100.0, d.p99),
            (1000.0, d.p999),
        ]
        .map(|(x, ns)| (x, ns as f64 / 1e6))
    };
    let (wall, on_cpu) = (points(&m.wall_ns), points(&m.on_cpu_ns));
    let top_ms = wall.iter().chain(&on_cpu).map(|p| p.1).fold(0.0, f64::max);
    let mut plot = Plot::new(
        &format!(
            "{}: time per run by percentile ({} runs)",
            m.name, m.runs_count
        ),
        Axis::log(
            "1/(1−p): 2 = p50, 10 = p90, 100 = p99, 1000 = p99.9 (log)",
            1.0,
            1000.0,
        ),
        Axis::linear("time per run (ms)", 0.0, top_ms * 1.1),
    );
    plot.line(&on_cpu, ON_CPU, "on-CPU (thread CPU time)", false);
    plot.line(&wall, WALL, "wall (CLOCK_MONOTONIC), dashed", true);
    Chart {
        name: format!("spectrum-{}", m.name),
        caption: format!(
            "How slow the slower runs were: at 100, 1 run in 100 took longer. The gap between \
             the lines is time off the CPU; past {} runs the percentiles are the slowest runs \
             themselves.",
            m.runs_count
        ),
        svg: plot.finish("Percentile spectrum"),
    }
}

/// A fixed-work workload's time per op, run by run: what `slowed` is decided from, and
/// whether it drifted or jumped while the workload ran. `None` for other workloads.
pub fn ns_per_op_by_run(w: &WorkloadReport) -> Option<Chart> {
    let m = &w.measured;
    let by_run = &m.by_run;
    let spread = m.ns_per_op?;
    if by_run.ns_per_op.is_empty() {
        return None;
    }
    let every = f64::from(by_run.every);
    let points: Vec<(f64, f64)> = by_run
        .ns_per_op
        .iter()
        .enumerate()
        .map(|(i, &ns)| (i as f64 * every + 1.0, ns))
        .collect();
    let last_run = points.last().map_or(1.0, |p| p.0);
    let mut plot = Plot::new(
        &format!("{}: time per op, run by run", m.name),
        Axis::linear("run (in the order run)", 1.0, last_run.max(2.0)),
        Axis::linear("median block time per op (ns)", 0.0, spread.max * 1.1),
    );
    for &(run, ns) in &points {
        let half = (last_run / 400.0).max(0.2);
        plot.rect((run - half, ns * 0.995), (run + half, ns * 1.005), WALL);
    }
    plot.legend("one run", WALL);
    plot.line(
        &[(1.0, spread.p50), (last_run.max(2.0), spread.p50)],
        ON_CPU,
        "median over the runs, dashed",
        true,
    );
    let kept = if by_run.every > 1 {
        format!(" (every {}th run drawn)", by_run.every)
    } else {
        String::new()
    };
    Some(Chart {
        name: format!("ns-per-op-{}", m.name),
        caption: format!(
            "Each mark is one run's median time per op{kept}: the same work every run, so \
             marks above the line are runs the CPU did more slowly (a neighbour's cache or \
             memory traffic, a slower clock), not more work."
        ),
        svg: plot.finish("Time per op by run"),
    })
}

/// One benchmark across the baselines: each baseline's per-sample means as a box (quartiles,
/// median line, whiskers to the extremes), each replicate's median as a tick across it, with
/// its ratio and interval, significance and runs per dollar.
pub fn comparison_row(row: &Row, alpha: f64) -> Chart {
    let names = row.cells.iter().map(|c| c.baseline.clone()).collect();
    let top_ns = row
        .cells
        .iter()
        .map(|c| c.samples.map_or(c.median_ns, |q| q.max_ns))
        .fold(0.0, f64::max);
    let (unit, unit_name) = axis_time_unit(top_ns);
    let mut plot = Plot::new(
        &row.key,
        Axis::linear(
            format!("time per iteration ({unit_name}; per sample: criterion's, a run, a call)"),
            0.0,
            top_ns / unit * 1.1,
        ),
        Axis::categories("", names),
    );
    for (i, c) in row.cells.iter().enumerate() {
        let y = i as f64;
        let color = if c.significant == Some(true) {
            FLAGGED
        } else {
            WALL
        };
        match c.samples {
            Some(q) => {
                let five = [q.min_ns, q.q1_ns, q.median_ns, q.q3_ns, q.max_ns];
                whisker_box(&mut plot, y, five.map(|ns| ns / unit), color);
            }
            None => plot.rect((0.0, y - 0.1), (c.median_ns / unit, y + 0.1), color),
        }
        let half_width = top_ns / unit / 400.0;
        for median in &c.replicate_medians_ns {
            let x = median / unit;
            plot.rect(
                (x - half_width, y - 0.3),
                (x + half_width, y + 0.3),
                REPLICATE,
            );
        }
        plot.label((0.0, y + 0.42), &cell_label(i, c));
    }
    plot.legend("significantly different from the first", FLAGGED);
    plot.legend("not significantly different", WALL);
    plot.legend("a replicate", REPLICATE);
    Chart {
        name: format!("compare-{}", file_name(&row.key)),
        caption: format!(
            "Each box is one baseline: the middle half of its samples (criterion's per-sample \
             means, or each run or call of dynoprobe's results), the black line their median, \
             the whiskers the extremes; a purple tick for each replicate's median (a worker \
             process, a batch, a saved bench, a file). Red: the {} interval of the ratio to \
             the first baseline, from the replicates, excludes 1. Under each box: the median, \
             the ratio and its interval, Welch's p and runs per dollar.",
            confidence(alpha)
        ),
        svg: plot.finish("Comparison"),
    }
}

/// Under a baseline's box: its median, its ratio to the first with the interval, Welch's p
/// and runs per dollar.
fn cell_label(i: usize, c: &Cell) -> String {
    let ratio = c
        .ratio
        .map_or("-".into(), |r| match c.ci_low.zip(c.ci_high) {
            Some(interval) => ratio_with_interval(r, "×", Some(interval)),
            None if i == 0 => format!("{} (the reference)", times(r)),
            None => format!(
                "{} (one replicate here or in the reference: no interval)",
                times(r)
            ),
        });
    let mark = if c.significant == Some(true) {
        " *"
    } else {
        ""
    };
    let p = (c.p_value).map_or(String::new(), |p| format!(", p {}{mark}", p_value(p)));
    let cost = (c.runs_per_dollar).map_or(String::new(), |r| {
        format!(", {} runs/$", runs_per_dollar(r))
    });
    format!("median {}, {ratio}{p}{cost}", time(c.median_ns))
}

/// Each call's latency as it was sent, stacked: router queue, the server's run on and off
/// the CPU, and the rest (network, TLS, router, HTTP).
#[cfg(feature = "workloads")]
pub fn drive_calls(report: &crate::report::drive::DriveReport) -> Chart {
    let calls = &report.calls;
    let elapsed_s = report.drive.elapsed_ns as f64 / 1e9;
    let top_ms = calls.iter().map(|c| c.latency_ns).max().unwrap_or(1) as f64 / 1e6;
    let mut plot = Plot::new(
        &format!("{} calls to {}", report.calls_count, report.drive.url),
        Axis::linear(
            "time into the drive, when the call was sent (s)",
            0.0,
            elapsed_s,
        ),
        Axis::linear("latency (ms)", 0.0, top_ms * 1.05),
    );
    let width_s = (elapsed_s / calls.len().max(1) as f64 * 0.8).max(elapsed_s / 2000.0);
    for c in calls {
        let x = c.sent_ns as f64 / 1e9;
        let parts = [
            (
                "router queue",
                c.queue_ns.unwrap_or(0),
                color(Cause::Throttled),
            ),
            ("server run, on-CPU", c.on_cpu_ns, ON_CPU),
            ("server run, off-CPU", c.off_cpu_ns, color(Cause::Preempted)),
            ("rest (network, TLS, router, HTTP)", c.rest_ns(), "#999999"),
        ];
        let mut bottom_ms = 0.0;
        for (name, ns, color) in parts {
            let ms = ns as f64 / 1e6;
            if ms > 0.0 {
                plot.rect((x, bottom_ms), (x + width_s, bottom_ms + ms), color);
            }
            plot.legend(name, color);
            bottom_ms += ms;
        }
    }
    Chart {
        name: "drive-calls".into(),
        caption: "Each bar is one call, placed at when it was sent: its latency measured by \
                  drive, split into the router's queue (X-Queue-Time), the server's run on and \
                  off the CPU, and the rest."
            .into(),
        svg: plot.finish("Calls over time"),
    }
}

/// Each instance's server run times side by side, the outliers in red: the fleet view.
#[cfg(feature = "workloads")]
pub fn drive_instances(report: &crate::report::drive::DriveReport) -> Chart {
    let fleet = &report.instances;
    let names = fleet
        .iter()
        .map(|i| i.instance.clone().unwrap_or_else(|| "(unnamed)".into()))
        .collect();
    let top_ms = fleet.iter().map(|i| i.run_ns.max).max().unwrap_or(1) as f64 / 1e6;
    let mut plot = Plot::new(
        "The server's run time per call, by instance",
        Axis::linear("run time (ms)", 0.0, top_ms * 1.1),
        Axis::categories("", names),
    );
    for (row, i) in fleet.iter().enumerate() {
        let (y, d) = (row as f64, &i.run_ns);
        let ms = |ns: u64| ns as f64 / 1e6;
        let color = if i.outlier { FLAGGED } else { WALL };
        let five = [d.min, d.p10, d.p50, d.p90, d.max];
        whisker_box(&mut plot, y, five.map(ms), color);
        let versus = i
            .ratio_to_others
            .map_or(String::new(), |r| format!(", {} the rest", times(r)));
        plot.label(
            (0.0, y + 0.42),
            &format!(
                "{} calls, median {}, p90 {}{versus}",
                i.calls_count,
                time(d.p50 as f64),
                time(d.p90 as f64)
            ),
        );
    }
    plot.legend("outlier", FLAGGED);
    plot.legend("not an outlier", WALL);
    Chart {
        name: "drive-instances".into(),
        caption: format!(
            "Each box is one instance's calls: p10 to p90 of the server's run time, the black \
             line the median, whiskers to the extremes. Red: an outlier, its p90 (the box's \
             right edge) beyond the other instances' p90s by a t test of one instance against \
             the others (p < {}) and at least {}× theirs.",
            crate::report::drive::OUTLIER_ALPHA,
            crate::report::drive::OUTLIER_MIN_RATIO
        ),
        svg: plot.finish("Instances"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jitter::infer::{KernelView, TimelinePoint, infer};
    use crate::jitter::spin::{Gap, SpinRecord};
    use crate::test_support::measured;

    /// A 1 s spin with one throttle of 70 ms and one stolen gap of 5 µs.
    fn jitter() -> Jitter {
        let gap = |start_ns, len_ns, cause| Gap {
            start_ns,
            len_ns,
            cause,
            wait_ns: 0,
            start_tick: 0,
            end_tick: 0,
            delta: None,
        };
        let gaps = vec![
            gap(0, 70_000_000, Cause::Throttled),
            gap(10_000_000, 5_000, Cause::Stolen),
        ];
        infer(&SpinRecord::of(gaps, 1_000_000_000), &KernelView::default())
    }

    #[test]
    fn the_timeline_draws_one_bar_per_point_in_its_causes_colour() {
        let j = jitter();
        let point = |start_ns, worst_ns, cause| TimelinePoint {
            start_ns,
            worst_ns,
            cause,
        };
        assert_eq!(
            j.timeline,
            [
                point(0, 70_000_000, Cause::Throttled),
                point(10_000_000, 5_000, Cause::Stolen)
            ]
        );
        let chart = gap_timeline(&j);
        let bars = |colour: &str| chart.svg.matches(&format!("fill=\"{colour}\"/>")).count();
        assert_eq!(bars(color(Cause::Throttled)), 2, "a bar and its legend key");
        assert_eq!(bars(color(Cause::Stolen)), 2);
        assert!(chart.svg.contains("(ms, log)") && chart.svg.contains("(s)"));
        assert!(chart.caption.contains("longest gap"));
    }

    #[test]
    fn ledgers_and_workloads_add_up_to_the_full_width() {
        let w = WorkloadReport::from_measured(measured());
        let chart = workloads_time(std::slice::from_ref(&w));
        // Off-CPU ratio 0.5, no run-queue wait reading: half on CPU, half off it, unsplit.
        assert!(chart.svg.contains("wait unknown") && !chart.svg.contains("run-queue wait"));
        let widths: Vec<f64> = chart
            .svg
            .lines()
            .filter(|l| l.starts_with("<rect x=") && l.contains("fill=\"#"))
            .filter(|l| !l.contains("class=\"key\"")) // the legend's keys
            .filter_map(|l| {
                let w = l.split("width=\"").nth(1)?.split('"').next()?;
                w.parse().ok()
            })
            .collect();
        let total: f64 = widths.iter().sum();
        assert!(
            (total - crate::render::svg::PLOT_WIDTH).abs() < 1.0,
            "{widths:?}"
        );
        let mut waited = measured();
        waited.runqueue_wait_ratio = Some(0.2);
        let chart = workloads_time(&[WorkloadReport::from_measured(waited)]);
        let keys = |colour: &str| chart.svg.matches(&format!("fill=\"{colour}\"/>")).count();
        assert_eq!(keys(color(Cause::Preempted)), 2, "the wait's bar and key");
        assert_eq!(keys(color(Cause::Stolen)), 2, "the rest of off-CPU time");
        assert_eq!(keys(UNSPLIT), 0);
    }

    #[test]
    fn a_comparison_row_is_a_box_per_baseline_coloured_by_significance() {
        use crate::report::compare::Cell;
        use crate::stats::Quartiles;
        let cell = |baseline: &str, scale: f64, p_value: Option<f64>| Cell {
            baseline: baseline.into(),
            benchmark: "chase-l2/dynoprobe".into(),
            median_ns: 1e6 * scale,
            mad_ns: 1e4,
            sample_cv: None,
            samples: Quartiles::of(&[0.9e6 * scale, 1e6 * scale, 1.1e6 * scale]),
            measured_time: crate::sidecar::MeasuredTime::Wall,
            p99_run_ns: None,
            off_cpu_ratio: None,
            off_cpu_points: None,
            throughput: None,
            replicates_count: 3,
            replicate_medians_ns: vec![0.95e6 * scale, 1e6 * scale, 1.05e6 * scale],
            ratio: Some(scale),
            ci_low: p_value.map(|_| 1.8),
            ci_high: p_value.map(|_| 2.2),
            p_value,
            significant: p_value.map(|p| p < 0.05),
            runs_per_dollar: Some(1e7),
            cost_ratio: None,
        };
        let row = Row {
            key: "chase-l2/dynoprobe".into(),
            cells: vec![cell("quiet", 1.0, None), cell("shared", 2.0, Some(0.001))],
        };
        let chart = comparison_row(&row, 0.05);
        assert_eq!(chart.name, "compare-chase-l2_dynoprobe");
        assert!(
            chart.svg.contains("time per iteration (ms;"),
            "ms for ms-long iterations"
        );
        assert!(
            chart
                .svg
                .contains("median 2.000 ms, 2.00× [1.80, 2.20], p 0.0010 *, 1.000e7 runs/$"),
            "{}",
            chart.svg
        );
        // A tick for each replicate's median (and the legend's key).
        assert_eq!(
            chart.svg.matches(&format!("fill=\"{REPLICATE}\"")).count(),
            7
        );
        // The box of the significant baseline in red, the reference's in blue (and each key).
        assert_eq!(chart.svg.matches("fill=\"#d62728\"").count(), 2);
        assert_eq!(chart.svg.matches(&format!("fill=\"{WALL}\"")).count(), 2);
    }

    #[test]
    fn the_spectrum_overlays_wall_and_on_cpu() {
        let chart = spectrum(&WorkloadReport::from_measured(measured()));
        assert_eq!(chart.svg.matches("<polyline").count(), 2);
        assert!(chart.svg.contains("time per run (ms)"));
        assert_eq!(chart.name, "spectrum-json-serde-value");
    }

    #[test]
    fn ns_per_op_draws_one_mark_per_kept_run_and_only_for_fixed_work() {
        let plain = WorkloadReport::from_measured(measured());
        assert!(
            ns_per_op_by_run(&plain).is_none(),
            "no fixed work, no chart"
        );
        let mut m = measured();
        let per_op = [2.0, 2.1, 6.0];
        m.ns_per_op = Some(
            crate::stats::Distribution::of(per_op.map(|ns| (ns * 1000.0) as u64))
                .unwrap()
                .scaled(1000.0),
        );
        m.by_run.ns_per_op = per_op.to_vec();
        let chart = ns_per_op_by_run(&WorkloadReport::from_measured(m)).unwrap();
        let marks = chart
            .svg
            .lines()
            .filter(|l| l.starts_with("<rect x=") && l.contains("fill=\"#1f77b4\""))
            .filter(|l| !l.contains("class=\"key\"")) // the legend's keys
            .count();
        assert_eq!(marks, 3);
        assert!(chart.svg.contains("median block time per op (ns)"));
        assert_eq!(chart.name, "ns-per-op-json-serde-value");
    }

    #[test]
    fn over_time_marks_each_batch_twice_on_a_log_axis_over_its_hours() {
        use crate::report::compare::TimePoint;
        let point = |minute: u64, median_ns: f64| TimePoint {
            benchmark: "w".into(),
            started_unix_ms: (10 * 60 + minute) * 60_000,
            samples_count: 30,
            median_ns,
            p99_ns: median_ns * 200.0,
        };
        let series = Series {
            baseline: "day".into(),
            key: "w".into(),
            points: vec![point(5, 2e6), point(95, 4e6)],
        };
        let chart = over_time("w", &[&series]);
        let marks = chart
            .svg
            .lines()
            .filter(|l| l.starts_with("<rect x=") && l.contains(COLUMNS[0]))
            .filter(|l| !l.contains("class=\"key\"")) // the legend's keys
            .count();
        assert_eq!(marks, 4, "a median and a p99 mark per batch");
        assert!(chart.svg.contains("(ms, log)"));
        // 10:05 to 11:35: the axis spans 10:00 to 11:45 in half hours, not the whole day.
        for tick in ["10:00", "10:30", "11:00", "11:30"] {
            assert!(chart.svg.contains(&format!(">{tick}<")), "{}", chart.svg);
        }
        assert!(!chart.svg.contains(">12:00<") && !chart.svg.contains(">10.5<"));
    }

    #[test]
    fn a_day_is_ticked_in_whole_hours_and_a_minute_in_minutes() {
        let labels = |min: f64, max: f64| {
            let axis = Axis::hours_of_day("t", min, max);
            Plot::new("t", axis, Axis::linear("y", 0.0, 1.0)).finish("t")
        };
        let day = labels(0.0, 24.0);
        for tick in ["00:00", "06:00", "12:00", "18:00", "24:00"] {
            assert!(day.contains(&format!(">{tick}<")), "{day}");
        }
        assert!(!day.contains(">00:30<"), "{day}");
        let minute = labels(18.0, 18.0 + 10.0 / 60.0);
        assert!(
            minute.contains(">18:05<") && minute.contains(">18:10<"),
            "{minute}"
        );
    }
}
