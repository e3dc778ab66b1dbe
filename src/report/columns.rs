//! `compare`'s columns from files: whatever dynoprobe measured, read into the benchmarks a
//! [`super::compare::ComparePlan`] compares, with the payload they were measured on and,
//! for results over time, one point per batch.

use std::path::Path;

use super::FixtureInfo;
pub use super::compare::TimePoint;
use super::drive::{DriveFile, DriveFileCall};
use super::kind::Kind;
use super::run_file::RunFile;
use crate::baseline::{Baseline, Benchmark, Throughput};
use crate::effect::geometric_mean;

/// One column of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its benchmarks, under the column's name.
    pub baseline: Baseline,
    /// The payloads its results were measured on, each once; empty when they do not say
    /// (criterion's files, results from before the fixture was recorded).
    pub fixtures: Vec<FixtureInfo>,
    /// One point per row per timed value in the file (each `drive --every` batch).
    pub over_time: Vec<TimePoint>,
}

/// A file read as a column, with a line for each part that was left out.
#[derive(Debug)]
pub struct FileColumn {
    /// `None` when nothing in the file could be compared.
    pub column: Option<Column>,
    pub warnings: Vec<String>,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ColumnError {
    #[error("cannot read {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The largest file read whole: one JSON value (a run report, an export) is megabytes.
/// JSON lines are read one at a time, however many (a year of `drive --every 10m` is about
/// 300 MB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Reads `path` as a column named `name`, else an exported baseline's own name, else the
/// file's name without its extension. A file whose first line is a whole JSON object is
/// read as JSON lines, one at a time, each line dropped once its figures are taken: memory
/// does not grow with the file's length beyond what each line adds to the column.
pub fn read(name: Option<&str>, path: &Path) -> Result<FileColumn, ColumnError> {
    use std::io::BufRead as _;
    let io = |source| ColumnError::Io {
        path: path.display().to_string(),
        source,
    };
    let place = path.display().to_string();
    let mut lines = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let (mut line, mut number) = (String::new(), 0usize);
    let mut first = String::new();
    while first.trim().is_empty() {
        first.clear();
        if lines.read_line(&mut first).map_err(io)? == 0 {
            break;
        }
        number += 1;
    }
    let first_object = serde_json::from_str::<serde_json::Value>(&first)
        .ok()
        .filter(serde_json::Value::is_object);
    let Some(first_object) = first_object else {
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_FILE_BYTES {
            return Err(io(std::io::Error::other(format!(
                "{size} bytes; compare reads files up to {MAX_FILE_BYTES} that are not JSON lines"
            ))));
        }
        let mut text = first;
        std::io::Read::read_to_string(&mut lines, &mut text).map_err(io)?;
        return Ok(parse(name, &place, &text));
    };
    let mut column = Lines::new(&place);
    column.add_value(format!("{place}:{number}"), Ok(first_object));
    loop {
        line.clear();
        if lines.read_line(&mut line).map_err(io)? == 0 {
            break;
        }
        number += 1;
        column.add(number, &line);
    }
    Ok(column.finish(name))
}

/// The column from `text` (one JSON value, or one per line), `place` (its path) naming it in
/// warnings and, without `name` or an exported baseline's own, the column.
///
/// A file holds one JSON value or one per line (JSONL, as `drive --every` appends them):
///
/// | [`Kind`] | rows | samples |
/// | --- | --- | --- |
/// | `run --json` report | each workload | each run's wall time (`by_run.wall_ns`) |
/// | `drive --json` result | `W (call latency)`, `W (server run)` | each call |
/// | `compare --export` | each benchmark | criterion's per-sample means |
///
/// A line that is not one of these (truncated, another schema version, a jitter report) is
/// named in a warning and left out; the rest of the file is read. Lines of one file are
/// pooled: the same row's samples from every line make one cell.
pub fn parse(name: Option<&str>, place: &str, text: &str) -> FileColumn {
    let mut column = Lines::new(place);
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => column.add_value(place.to_string(), Ok(value)),
        Err(_) if is_jsonl(text) => {
            for (i, line) in text.lines().enumerate() {
                column.add(i + 1, line);
            }
        }
        Err(error) => column.add_value(place.to_string(), Err(error.to_string())),
    }
    column.finish(name)
}

/// A file's values pooled into rows as they are read (nothing of a value is held but what
/// its rows take), and a warning for each that is left out.
struct Lines<'a> {
    place: &'a str,
    rows: Rows,
    /// A point per row per value with a start time; kept when the file holds several.
    over_time: Vec<TimePoint>,
    /// An exported baseline's own name, the first given.
    name: Option<String>,
    parts_count: usize,
    warnings: Vec<String>,
}

impl<'a> Lines<'a> {
    fn new(place: &'a str) -> Lines<'a> {
        Lines {
            place,
            rows: Rows::default(),
            over_time: Vec::new(),
            name: None,
            parts_count: 0,
            warnings: Vec::new(),
        }
    }

    /// Line `number` of a JSON lines file, with or without its line end (blank lines are
    /// skipped).
    fn add(&mut self, number: usize, line: &str) {
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            let value = serde_json::from_str(line).map_err(|e| e.to_string());
            self.add_value(format!("{}:{number}", self.place), value);
        }
    }

    fn add_value(&mut self, at: String, value: Result<serde_json::Value, String>) {
        match value.map_err(|e| format!("not JSON ({e})")).and_then(part) {
            Ok(p) => self.add_part(p),
            Err(why) => self.warnings.push(format!("{at}: {why}; left out")),
        }
    }

    /// A part's rows pooled, its time points kept, what it left out said.
    fn add_part(&mut self, part: Contents) {
        self.parts_count += 1;
        let place = self.place;
        (self.warnings).extend(
            part.skipped
                .iter()
                .map(|s| format!("{place}: {s}; left out")),
        );
        self.name = self.name.take().or(part.name);
        self.rows.add_fixtures(part.fixtures);
        for bench in part.benchmarks {
            if let (Some(at), Some(p99_ns)) = (part.started_unix_ms, bench.p99_run_ns) {
                self.over_time.push(TimePoint {
                    benchmark: bench.id.clone(),
                    started_unix_ms: at,
                    samples_count: bench.sample_means_ns.len() as u64,
                    median_ns: bench.median_ns,
                    p99_ns: p99_ns as f64,
                });
            }
            self.rows.add(bench);
        }
    }

    fn finish(mut self, name: Option<&str>) -> FileColumn {
        let stem = Path::new(self.place)
            .file_stem()
            .map(|s| s.to_string_lossy());
        let name = name
            .map(String::from)
            .or(self.name)
            .or_else(|| stem.map(|s| s.into_owned()))
            .unwrap_or_else(|| self.place.to_string());
        if self.rows.rows.is_empty() {
            let place = self.place;
            (self.warnings).push(format!("{place}: nothing to compare in it; left out"));
            return FileColumn {
                column: None,
                warnings: self.warnings,
            };
        }
        // One value is no series over time.
        let over_time = if self.parts_count > 1 {
            self.over_time
        } else {
            Vec::new()
        };
        FileColumn {
            column: Some(self.rows.into_column(&name, over_time)),
            warnings: self.warnings,
        }
    }
}

/// More than one line, one of them a whole JSON object: JSON lines (any of them may be
/// damaged: the first cut off by a full disk, say), not one pretty-printed value broken off,
/// none of whose lines is an object of its own.
fn is_jsonl(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    lines.nth(1).is_some()
        && text
            .lines()
            .any(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
}

/// What one JSON value holds.
struct Contents {
    /// An exported baseline's own name.
    name: Option<String>,
    benchmarks: Vec<Benchmark>,
    fixtures: Vec<FixtureInfo>,
    started_unix_ms: Option<u64>,
    /// Rows that could not be read from it, and why.
    skipped: Vec<String>,
}

fn part(value: serde_json::Value) -> Result<Contents, String> {
    match Kind::of(&value) {
        Some(Kind::Run) => {
            let file = RunFile::from_value(value).map_err(|e| e.to_string())?;
            Ok(run_part(file))
        }
        Some(Kind::Drive) => {
            let file = DriveFile::from_value(value)?;
            drive_part(file)
        }
        Some(Kind::Baseline) => {
            let baseline: Baseline = serde_json::from_value(value)
                .map_err(|e| format!("not an exported baseline ({e})"))?;
            let (benchmarks, skipped) = plausible(baseline.benchmarks);
            Ok(Contents {
                name: Some(baseline.name),
                benchmarks,
                fixtures: Vec::new(),
                started_unix_ms: None,
                skipped,
            })
        }
        Some(kind @ Kind::Comparison) => Err(format!(
            "{}; compare reads what was measured: run or drive --json results, or a baseline \
             saved with compare --export NAME",
            kind.described()
        )),
        Some(kind @ Kind::Jitter) => Err(format!("{}, which times no workload", kind.described())),
        None => Err("not a run report, a drive result or an exported baseline".into()),
    }
}

/// The benchmarks whose figures can be measurements, and a line for each of the others.
fn plausible(benchmarks: Vec<Benchmark>) -> (Vec<Benchmark>, Vec<String>) {
    let mut skipped = Vec::new();
    let kept = benchmarks
        .into_iter()
        .filter(|b| match b.implausible() {
            Some(why) => {
                skipped.push(format!("{}: {why}", b.id));
                false
            }
            None => true,
        })
        .collect();
    (kept, skipped)
}

/// A run report's workloads, each a row: its runs the samples, and the run one replicate,
/// the geometric mean of its worker processes' medians. The processes share the run's
/// minute on the host, and runs a minute apart differ by more than their processes do: as
/// replicates, one run's processes flagged 15 of 160 A/A cells (README, "How often it cries
/// wolf").
fn run_part(file: RunFile) -> Contents {
    let mut skipped = Vec::new();
    let benchmarks = file
        .workloads
        .into_iter()
        .filter_map(|w| {
            let runs: Vec<f64> = w
                .by_run
                .map(|kept| kept.wall_ns.iter().map(|&ns| ns as f64).collect())
                .unwrap_or_default();
            let mut bench = Benchmark::from_samples(
                w.name.clone(),
                w.bytes_per_run.map(Throughput::Bytes),
                runs,
                w.off_cpu_ratio,
            );
            if let Some(bench) = &mut bench
                && !w.replicates.is_empty()
            {
                let medians: Vec<f64> = w.replicates.iter().map(|r| r.wall_ns_p50 as f64).collect();
                bench.replicate_medians_ns = geometric_mean(&medians).into_iter().collect();
            }
            if bench.is_none() {
                skipped.push(format!(
                    "{}: no run-by-run times (a report from before dynoprobe kept them)",
                    w.name
                ));
            }
            bench
        })
        .collect();
    let (benchmarks, implausible) = plausible(benchmarks);
    skipped.extend(implausible);
    Contents {
        name: None,
        benchmarks,
        fixtures: file.fixture.into_iter().collect(),
        started_unix_ms: None,
        skipped,
    }
}

/// A drive result's two rows, the calls' latency and the server's run, each call a sample.
fn drive_part(file: DriveFile) -> Result<Contents, String> {
    let calls = &file.calls;
    let all = |pick: fn(&DriveFileCall) -> u64| calls.iter().map(|c| pick(c) as f64).collect();
    let total = |pick: fn(&DriveFileCall) -> u64| calls.iter().map(pick).sum::<u64>();
    let off_cpu = total(|c| c.off_cpu_ns) as f64 / total(|c| c.run_ns).max(1) as f64;
    let latency = Benchmark::from_samples(
        format!("{} (call latency)", file.workload),
        None,
        all(|c| c.latency_ns),
        None,
    );
    let run = Benchmark::from_samples(
        format!("{} (server run)", file.workload),
        None,
        all(|c| c.run_ns),
        Some(off_cpu),
    );
    let benchmarks: Vec<Benchmark> = latency.into_iter().chain(run).collect();
    if benchmarks.is_empty() {
        return Err("a drive result with no calls".into());
    }
    Ok(Contents {
        name: None,
        benchmarks,
        fixtures: file.fixtures,
        started_unix_ms: file.started_unix_ms,
        skipped: Vec::new(),
    })
}

/// Benchmarks gathered into rows by id, and the payloads they were measured on, each once:
/// what the parts of a file, or the sources of a column, pool into.
#[derive(Default)]
struct Rows {
    rows: Vec<Row>,
    fixtures: Vec<FixtureInfo>,
}

impl Rows {
    fn add(&mut self, bench: Benchmark) {
        match self.rows.iter_mut().find(|row| row.first.id == bench.id) {
            Some(row) => row.add(bench),
            None => self.rows.push(Row::new(bench)),
        }
    }

    fn add_fixtures(&mut self, fixtures: Vec<FixtureInfo>) {
        for fixture in fixtures {
            if !self.fixtures.contains(&fixture) {
                self.fixtures.push(fixture);
            }
        }
    }

    /// The column named `name`: each row pooled ([`Row::pooled`]).
    fn into_column(self, name: &str, over_time: Vec<TimePoint>) -> Column {
        Column {
            baseline: Baseline {
                name: name.to_string(),
                benchmarks: self.rows.into_iter().map(Row::pooled).collect(),
            },
            fixtures: self.fixtures,
            over_time,
        }
    }
}

/// One row's benchmarks from the parts of a file (or the files of a column), pooled as
/// they come: all their samples, the off-CPU share weighted by samples (when every member
/// has one), and one replicate per member (a run, a batch, a saved bench; an exported
/// column's replicates as their geometric mean). A benchmark alone stays as it is.
struct Row {
    first: Benchmark,
    members: usize,
    samples: Vec<f64>,
    replicates: Vec<f64>,
    /// Σ off-CPU share × samples; `None` once a member has no share.
    off_cpu_weighted: Option<f64>,
    throughput: Option<Throughput>,
}

impl Row {
    fn new(first: Benchmark) -> Row {
        Row {
            members: 1,
            samples: Vec::new(),
            replicates: Vec::new(),
            off_cpu_weighted: Some(0.0),
            throughput: first.throughput,
            first,
        }
    }

    fn add(&mut self, bench: Benchmark) {
        if self.members == 1 {
            let samples = std::mem::take(&mut self.first.sample_means_ns);
            let replicates = self.first.replicates_ns();
            self.take(samples, replicates, self.first.off_cpu_ratio);
        }
        self.members += 1;
        self.throughput = self.throughput.or(bench.throughput);
        let replicates = bench.replicates_ns();
        self.take(bench.sample_means_ns, replicates, bench.off_cpu_ratio);
    }

    fn take(&mut self, samples: Vec<f64>, replicates: Vec<f64>, off_cpu: Option<f64>) {
        let n = samples.len() as f64;
        self.samples.extend(samples);
        self.replicates.extend(match replicates[..] {
            [only] => Some(only),
            _ => geometric_mean(&replicates),
        });
        self.off_cpu_weighted = (self.off_cpu_weighted.zip(off_cpu)).map(|(sum, r)| sum + r * n);
    }

    fn pooled(self) -> Benchmark {
        if self.members == 1 {
            return self.first;
        }
        let off_cpu = (self.off_cpu_weighted).map(|sum| sum / self.samples.len().max(1) as f64);
        let first = self.first;
        let pooled =
            Benchmark::from_samples(first.id.clone(), self.throughput, self.samples, off_cpu);
        let mut pooled = pooled.unwrap_or(first);
        pooled.replicate_medians_ns = self.replicates;
        pooled
    }
}

/// The columns as a comparison takes them: every column's baseline, in order, and the
/// results over time of the columns that have any, by column name.
pub fn split(columns: Vec<Column>) -> (Vec<Baseline>, Vec<(String, Vec<TimePoint>)>) {
    let baselines = columns.iter().map(|c| c.baseline.clone()).collect();
    let over_time = columns
        .into_iter()
        .filter(|c| !c.over_time.is_empty())
        .map(|c| (c.baseline.name, c.over_time))
        .collect();
    (baselines, over_time)
}

/// One column named `name` from several sources, each `(place, column)` (a file or a saved
/// baseline), as replicates: each row's replicates and samples pooled. Refused, naming the
/// source, when two sources were measured on different payloads or do not hold the same
/// benchmarks: replicates measure the same work.
pub fn merge(name: &str, sources: Vec<(String, Column)>) -> Result<Column, String> {
    let Some((first_place, first)) = sources.first() else {
        return Err(format!("column {name}: no sources"));
    };
    let ids = |c: &Column| {
        let mut ids: Vec<String> = c.baseline.benchmarks.iter().map(|b| b.id.clone()).collect();
        ids.sort();
        ids
    };
    let first_ids = ids(first);
    for (place, column) in &sources[1..] {
        let theirs = ids(column);
        if theirs != first_ids {
            let only = |a: &[String], b: &[String]| {
                a.iter()
                    .filter(|id| !b.contains(id))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(format!(
                "column {name}: {place} and {first_place} do not measure the same benchmarks \
                 (only in {place}: [{}]; only in {first_place}: [{}]); a column's replicates \
                 must measure the same work",
                only(&theirs, &first_ids),
                only(&first_ids, &theirs)
            ));
        }
    }
    let mut reference: Option<(&str, &FixtureInfo)> = None;
    for (place, column) in &sources {
        for fixture in &column.fixtures {
            match reference {
                None => reference = Some((place, fixture)),
                Some((first_place, first)) if !same_payload(first, fixture) => {
                    return Err(format!(
                        "column {name}: {place} and {first_place} were measured on different \
                         payloads; a column's replicates must measure the same work"
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let mut rows = Rows::default();
    let mut over_time = Vec::new();
    for (_, column) in sources {
        rows.add_fixtures(column.fixtures);
        over_time.extend(column.over_time);
        column
            .baseline
            .benchmarks
            .into_iter()
            .for_each(|b| rows.add(b));
    }
    Ok(rows.into_column(name, over_time))
}

/// Whether two results ran on the same payload: the same size and, where both carry one, the
/// same digest (results from before the digest give only the size).
fn same_payload(a: &FixtureInfo, b: &FixtureInfo) -> bool {
    a.json_bytes == b.json_bytes
        && a.digest
            .as_ref()
            .zip(b.digest.as_ref())
            .is_none_or(|(x, y)| x == y)
}

/// Refuses columns measured on different payloads: a row would compare different work.
/// Each fixture is matched by size and, where both carry one, digest.
pub fn check_payloads(columns: &[Column]) -> Result<(), String> {
    let mut seen: Option<(&str, &FixtureInfo)> = None;
    for column in columns {
        for fixture in &column.fixtures {
            let Some((first_name, first)) = seen else {
                seen = Some((&column.baseline.name, fixture));
                continue;
            };
            if !same_payload(first, fixture) {
                return Err(format!(
                    "{first_name} and {} were measured on different payloads ({}: {} bytes, {}; \
                     {}: {} bytes, {}); run both on the same --fixture",
                    column.baseline.name,
                    first.source,
                    first.json_bytes,
                    first.digest.as_deref().unwrap_or("no digest"),
                    fixture.source,
                    fixture.json_bytes,
                    fixture.digest.as_deref().unwrap_or("no digest"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"{"source": "shipped", "json_bytes": 4589198,
        "digest": "fnv1a64:77ebd1bc8d050e42"}"#;

    fn run_report(version: u32, runs: &[u64]) -> String {
        format!(
            r#"{{"schema_version": {version}, "fixture": {FIXTURE}, "verdict": {{}},
               "workloads": [{{"name": "chase-l2", "bytes_per_run": 8, "off_cpu_ratio": 0.1,
                               "by_run": {{"every": 1, "wall_ns": {runs:?}}}}}]}}"#
        )
    }

    fn drive_line(started_unix_ms: u64, run_ns: u64) -> String {
        let call = format!(
            r#"{{"latency_ns": {}, "run_ns": {run_ns}, "off_cpu_ns": 0}}"#,
            run_ns * 2
        );
        format!(
            r#"{{"schema_version": 1, "url": "u", "workload": "w", "calls_count": 2,
               "started_unix_ms": {started_unix_ms}, "fixtures": [{FIXTURE}],
               "calls": [{call}, {call}]}}"#
        )
        .replace('\n', " ")
    }

    #[test]
    fn a_run_report_is_a_row_per_workload_sampled_by_run() {
        let read = parse(Some("std"), "a.json", &run_report(3, &[3, 1, 2]));
        assert!(read.warnings.is_empty(), "{:?}", read.warnings);
        let column = read.column.unwrap();
        let bench = &column.baseline.benchmarks[0];
        assert_eq!(column.baseline.name, "std");
        assert_eq!((bench.id.as_str(), bench.median_ns), ("chase-l2", 2.0));
        assert_eq!(bench.sample_means_ns, [3.0, 1.0, 2.0]);
        assert_eq!(bench.throughput, Some(Throughput::Bytes(8)));
        assert_eq!(column.fixtures[0].json_bytes, 4_589_198);
        assert!(column.over_time.is_empty(), "one report is no time series");
    }

    #[test]
    fn a_run_report_is_one_replicate_its_processes_geometric_mean() {
        let report = run_report(5, &[3, 1, 2]).replace(
            r#""off_cpu_ratio": 0.1,"#,
            r#""off_cpu_ratio": 0.1, "replicates": [
                {"runs_count": 2, "wall_ns_p50": 10, "wall_ns_p90": 11, "wall_ns_p99": 11, "ns_per_op_p50": null},
                {"runs_count": 1, "wall_ns_p50": 12, "wall_ns_p90": 12, "wall_ns_p99": 12, "ns_per_op_p50": 1.5}],"#,
        );
        let column = parse(None, "r.json", &report).column.unwrap();
        let replicates = column.baseline.benchmarks[0].replicates_ns();
        assert_eq!(replicates.len(), 1, "its processes share one run's minute");
        assert!(
            (replicates[0] - 120f64.sqrt()).abs() < 1e-9,
            "{replicates:?}"
        );
        let old = parse(None, "o.json", &run_report(4, &[3, 1, 2]))
            .column
            .unwrap();
        assert_eq!(
            old.baseline.benchmarks[0].replicates_ns(),
            [2.0],
            "one process, one replicate"
        );
    }

    #[test]
    fn files_of_one_column_are_its_replicates_and_must_measure_the_same_work() {
        let one = |runs: &[u64]| parse(None, "x.json", &run_report(4, runs)).column.unwrap();
        // A run of two processes (medians 10 and 40 ns) is one replicate among files: 20 ns.
        let mut processes = one(&[1, 2, 3]);
        processes.baseline.benchmarks[0].replicate_medians_ns = vec![10.0, 40.0];
        let two = merge(
            "std",
            vec![
                ("a.json".into(), processes),
                ("b.json".into(), one(&[4, 5, 6])),
            ],
        )
        .unwrap();
        let replicates = two.baseline.benchmarks[0].replicates_ns();
        assert_eq!(replicates.len(), 2, "a file a replicate: {replicates:?}");
        assert!((replicates[0] - 20.0).abs() < 1e-9, "{replicates:?}");
        assert_eq!(replicates[1], 5.0);
        let merged = merge(
            "std",
            vec![
                ("a.json".into(), one(&[1, 2, 3])),
                ("b.json".into(), one(&[4, 5, 6])),
            ],
        )
        .unwrap();
        let bench = &merged.baseline.benchmarks[0];
        assert_eq!(merged.baseline.name, "std");
        assert_eq!(bench.replicates_ns(), [2.0, 5.0]);
        assert_eq!(bench.sample_means_ns.len(), 6, "the runs pooled too");

        let mut other = one(&[1]);
        other.baseline.benchmarks[0].id = "chase-llc".into();
        let refused = merge(
            "std",
            vec![("a.json".into(), one(&[1])), ("c.json".into(), other)],
        )
        .unwrap_err();
        assert!(
            refused.contains("c.json and a.json do not measure the same benchmarks"),
            "{refused}"
        );
        assert!(refused.contains("only in c.json: [chase-llc]"), "{refused}");
        let mut elsewhere = one(&[1]);
        elsewhere.fixtures[0].json_bytes = 5;
        let refused = merge(
            "std",
            vec![("a.json".into(), one(&[1])), ("d.json".into(), elsewhere)],
        )
        .unwrap_err();
        assert!(
            refused.contains("d.json and a.json were measured on different payloads"),
            "{refused}"
        );
    }

    #[test]
    fn jsonl_pools_its_lines_and_keeps_a_point_per_batch() {
        let text = [drive_line(1_000, 10), drive_line(2_000, 30)].join("\n");
        let column = parse(Some("perf"), "d.jsonl", &text).column.unwrap();
        let ids: Vec<&str> = column
            .baseline
            .benchmarks
            .iter()
            .map(|b| b.id.as_str())
            .collect();
        assert_eq!(ids, ["w (call latency)", "w (server run)"]);
        let run = &column.baseline.benchmarks[1];
        assert_eq!(run.sample_means_ns, [10.0, 10.0, 30.0, 30.0]);
        assert_eq!(run.median_ns, 10.0, "nearest rank: the 2nd of 4");
        assert_eq!(run.replicates_ns(), [10.0, 30.0], "a batch a replicate");
        assert_eq!(column.fixtures.len(), 1, "the same payload, once");
        let points: Vec<(u64, f64)> = column
            .over_time
            .iter()
            .filter(|p| p.benchmark == "w (server run)")
            .map(|p| (p.started_unix_ms, p.median_ns))
            .collect();
        assert_eq!(points, [(1_000, 10.0), (2_000, 30.0)]);
    }

    #[test]
    fn an_exported_baseline_with_impossible_figures_loses_only_those_rows() {
        let good = Benchmark::from_samples("a".into(), None, vec![4.0, 5.0], None).unwrap();
        let mut bad = good.clone();
        (bad.id, bad.median_ns) = ("b".into(), -5.0);
        let baseline = Baseline {
            name: "x".into(),
            benchmarks: vec![good, bad],
        };
        let text = serde_json::to_string(&crate::baseline::Exported::of(&baseline)).unwrap();
        let read = parse(None, "x.json", &text);
        let column = read.column.unwrap();
        assert_eq!(column.baseline.benchmarks.len(), 1);
        assert_eq!(column.baseline.benchmarks[0].id, "a");
        assert_eq!(
            read.warnings,
            ["x.json: b: median -5 ns is no time per iteration; left out"]
        );
    }

    #[test]
    fn bad_lines_and_other_versions_are_named_and_the_rest_is_read() {
        let good = drive_line(1_000, 10);
        let text = [
            good.clone(),
            good[..good.len() / 2].to_string(),
            run_report(99, &[1]).replace('\n', " "),
            drive_line(2_000, 20).replace(r#""schema_version": 1"#, r#""schema_version": 7"#),
            r#"{"schema_version": 3, "jitter": []}"#.to_string(),
            r#"{"schema_version": 1, "alpha": 0.05, "rows": []}"#.to_string(),
            good,
        ]
        .join("\n");
        let read = parse(None, "f.jsonl", &text);
        let warnings = read.warnings.join("\n");
        assert_eq!(read.warnings.len(), 5, "{warnings}");
        for said in [
            "f.jsonl:2: not JSON (EOF while parsing",
            "f.jsonl:3: is a run report of schema_version 99; this dynoprobe reads versions 2 to 5",
            "f.jsonl:4: a drive result of schema_version 7; this dynoprobe reads 1",
            "f.jsonl:5: a jitter report",
            "f.jsonl:6: a comparison (compare --json)",
        ] {
            assert!(warnings.contains(said), "{said}\n{warnings}");
        }
        let column = read.column.unwrap();
        assert_eq!(
            column.baseline.benchmarks[0].sample_means_ns.len(),
            4,
            "lines 1 and 7"
        );

        // The first line cut off: named, and the lines after it read.
        let first_cut = [
            drive_line(1_000, 10)[..50].to_string(),
            drive_line(3_000, 30),
        ]
        .join("\n");
        let read = parse(None, "g.jsonl", &first_cut);
        assert_eq!(read.warnings.len(), 1, "{:?}", read.warnings);
        assert!(
            read.warnings[0].starts_with("g.jsonl:1: not JSON"),
            "{:?}",
            read.warnings
        );
        assert!(read.column.is_some());

        let cut = parse(None, "c.json", "{\n  \"schema_version\": 3,\n  \"workl");
        assert_eq!(
            cut.warnings.len(),
            2,
            "one value broken off: {:?}",
            cut.warnings
        );
        assert!(
            cut.warnings[0].starts_with("c.json: not JSON (EOF"),
            "{:?}",
            cut.warnings
        );
        let empty = parse(None, "e.json", "{}");
        assert!(empty.column.is_none());
        assert_eq!(empty.warnings.len(), 2, "{:?}", empty.warnings);
        let old = parse(
            None,
            "o.json",
            &run_report(3, &[]).replace(r#""by_run""#, r#""other""#),
        );
        assert!(old.column.is_none());
        assert!(
            old.warnings[0].contains("chase-l2: no run-by-run times"),
            "{:?}",
            old.warnings
        );
    }

    #[test]
    fn columns_of_different_payloads_are_refused() {
        let a = parse(None, "a.json", &run_report(3, &[1])).column.unwrap();
        let mut b = a.clone();
        b.baseline.name = "b".into();
        assert_eq!(check_payloads(&[a.clone(), b.clone()]), Ok(()));
        b.fixtures[0].digest = Some("fnv1a64:0000000000000000".into());
        let refused = check_payloads(&[a.clone(), b.clone()]).unwrap_err();
        assert!(
            refused.starts_with("a and b were measured on different payloads"),
            "{refused}"
        );
        b.fixtures[0].digest = None;
        assert_eq!(
            check_payloads(&[a.clone(), b.clone()]),
            Ok(()),
            "size alone agrees"
        );
        b.fixtures[0].json_bytes = 1;
        assert!(check_payloads(&[a, b]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in "(.{0,80}\n?){0,4}") {
            let _ = parse(None, "f", &text);
        }
    }
}
