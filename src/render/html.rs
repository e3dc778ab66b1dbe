//! A report as one self-contained HTML page: the verdict, the charts with their captions,
//! and the text report. Inline CSS and SVG only, no script and nothing fetched, so it opens
//! from a file:// URL with no network.

use std::fmt::Write as _;

use super::charts::{
    Chart, comparison_row, gap_timeline, ledger, ns_per_op_by_run, spectrum, workloads_time,
};
use super::svg::escape;
use crate::report::compare::Comparison;
use crate::report::{JitterReport, Report};

/// The charts of a `run` report: the spin's timeline and ledger, where the workloads' time
/// went, and each workload's percentile spectrum.
pub fn run_charts(report: &Report) -> Vec<Chart> {
    let mut charts: Vec<Chart> = report.jitter.iter().map(gap_timeline).collect();
    if let Some(j) = &report.jitter {
        charts.push(ledger(std::slice::from_ref(j)));
    }
    if !report.workloads.is_empty() {
        charts.push(workloads_time(&report.workloads));
    }
    for w in &report.workloads {
        charts.push(spectrum(w));
        charts.extend(ns_per_op_by_run(w));
    }
    charts
}

/// The charts of a `jitter` report: each thread's timeline, and the ledgers side by side.
pub fn jitter_charts(report: &JitterReport) -> Vec<Chart> {
    let mut charts: Vec<Chart> = report.jitter.iter().map(gap_timeline).collect();
    if !report.jitter.is_empty() {
        charts.push(ledger(&report.jitter));
    }
    charts
}

/// The charts of a comparison: one per row (benchmark or group), and per row measured over
/// time, its batches by time of day.
pub fn compare_charts(c: &Comparison) -> Vec<Chart> {
    let mut charts: Vec<Chart> = c
        .rows
        .iter()
        .map(|row| comparison_row(row, c.alpha))
        .collect();
    for row in &c.rows {
        let series: Vec<_> = c.over_time.iter().filter(|s| s.key == row.key).collect();
        if !series.is_empty() {
            charts.push(super::charts::over_time(&row.key, &series));
        }
    }
    charts
}

/// The charts of a drive: its calls over time, and its instances side by side when more
/// than one answered.
#[cfg(feature = "workloads")]
pub fn drive_charts(report: &crate::report::drive::DriveReport) -> Vec<Chart> {
    let mut charts = vec![super::charts::drive_calls(report)];
    if report.instances.len() > 1 {
        charts.push(super::charts::drive_instances(report));
    }
    charts
}

/// The page: a title, the verdict's sentence, the charts, then `text` (the text report).
pub fn page(title: &str, verdict: &str, charts: &[Chart], text: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n\
         <p class=\"verdict\">{verdict}</p>\n",
        title = escape(title),
        verdict = escape(verdict)
    );
    for chart in charts {
        let _ = write!(
            out,
            "<figure id=\"{}\">\n{}<figcaption>{}</figcaption>\n</figure>\n",
            escape(&chart.name),
            chart.svg,
            escape(&chart.caption)
        );
    }
    let _ = write!(
        out,
        "<h2>The report as text</h2>\n<pre>{}</pre>\n</body>\n</html>\n",
        escape(text)
    );
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}\
h1{font-size:1.4em}.verdict{font-size:1.1em;font-weight:bold}\
figure{margin:1.5em 0}figcaption{font-size:0.9em;color:#444;margin-top:0.3em}\
pre{font-size:0.75em;overflow-x:auto;background:#f6f6f6;padding:1em}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::report;

    #[test]
    fn a_page_is_self_contained_and_holds_every_chart_and_the_text() {
        let report = report();
        let charts = run_charts(&report);
        assert_eq!(
            charts.len(),
            2,
            "no spin: the workloads' time and one spectrum"
        );
        let html = page("dynoprobe run <test>", "QUIET", &charts, "a < b");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>dynoprobe run &lt;test&gt;</title>"));
        assert!(html.contains("<pre>a &lt; b</pre>"));
        for chart in &charts {
            assert!(html.contains(&chart.svg) && html.contains(&escape(&chart.caption)));
        }
        assert!(!html.contains("<script"), "no script");
        let fetched = html
            .match_indices("http")
            .filter(|(at, _)| !html[*at..].starts_with("http://www.w3.org/2000/svg"))
            .count();
        assert_eq!(fetched, 0, "nothing but the SVG namespace names a URL");
        assert_well_formed(&html);
        for broken in ["<a><b></a>", "<a>&nbsp;</a>", "<a>"] {
            let caught = std::panic::catch_unwind(|| assert_well_formed(broken));
            assert!(caught.is_err(), "{broken} passed the check");
        }
    }

    /// Parses `text` as XML: every element closed, in order, every entity known.
    pub(crate) fn assert_well_formed(text: &str) {
        let mut reader = quick_xml::Reader::from_str(text);
        let mut depth = 0i64;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Start(_)) => depth += 1,
                Ok(quick_xml::events::Event::End(_)) => depth -= 1,
                Ok(quick_xml::events::Event::GeneralRef(r)) => {
                    let name: &str = r.as_ref();
                    assert!(
                        ["amp", "lt", "gt", "quot", "apos"].contains(&name),
                        "unknown entity &{name};"
                    );
                }
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well formed at {}: {e}", reader.buffer_position()),
            }
        }
        assert_eq!(depth, 0, "unclosed elements");
    }
}
