//! Files from outside, damaged or holding impossible figures, never panic `compare`, and
//! nothing it prints is NaN, infinite or a negative figure: a damaged part is left out with
//! a warning, or the file refused. The files are the recorded ones (run reports, replicated
//! runs, `drive --every` JSON lines), an export of one, and criterion's files, each with a
//! number replaced by a hostile one, cut short, or a byte changed.
#![cfg(feature = "cli")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dynoprobe::baseline::{self, Baseline, Exported};
use dynoprobe::render;
use dynoprobe::report::columns::{self, Column};
use dynoprobe::report::compare::{ComparePlan, compare};
use proptest::prelude::*;
use regex_lite::Regex;

const RECORDED: [&str; 4] = [
    "tests/data/compare/quiet.json",
    "tests/data/compare/hog.json",
    "tests/data/compare/quiet-replicates.json",
    "tests/data/compare/fleet.jsonl",
];

/// Numbers no measurement can be, and some that are merely odd.
const HOSTILE: [&str; 14] = [
    "-5",
    "-0",
    "0",
    "-1e308",
    "1e308",
    "1e-320",
    "-1e-320",
    "18446744073709551616",
    "-9223372036854775809",
    "0.5",
    "3",
    "1e19",
    "null",
    "\"7\"",
];

/// A damage to a file's text.
#[derive(Debug, Clone)]
enum Damage {
    /// The `index`-th number (modulo their count) becomes `HOSTILE[with]`.
    Number { index: usize, with: usize },
    /// The text ends at `at` (modulo its length).
    Cut { at: usize },
    /// The byte at `at` (modulo the length) becomes `to`.
    Byte { at: usize, to: u8 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => (any::<usize>(), 0..HOSTILE.len()).prop_map(|(index, with)| Damage::Number { index, with }),
        1 => any::<usize>().prop_map(|at| Damage::Cut { at }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, to)| Damage::Byte { at, to }),
    ]
}

fn apply(text: &str, damages: &[Damage]) -> String {
    let numbers = Regex::new(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?").unwrap();
    let mut text = text.to_string();
    for damage in damages {
        text = match *damage {
            Damage::Number { index, with } => {
                let spans: Vec<_> = numbers.find_iter(&text).map(|m| m.range()).collect();
                if spans.is_empty() {
                    continue;
                }
                let span = spans[index % spans.len()].clone();
                format!(
                    "{}{}{}",
                    &text[..span.start],
                    HOSTILE[with],
                    &text[span.end..]
                )
            }
            Damage::Cut { at } => {
                let mut bytes = text.into_bytes();
                bytes.truncate(at % (bytes.len() + 1));
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Damage::Byte { at, to } => {
                let mut bytes = text.into_bytes();
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = to;
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
    }
    text
}

/// The column of the undamaged `quiet.json`, the reference every damaged file is compared to.
fn reference() -> Column {
    let read = columns::read(Some("reference"), Path::new(RECORDED[0])).unwrap();
    read.column.expect("quiet.json reads")
}

/// Compares `columns` and renders the result every way compare does; panics on a figure
/// that cannot be one.
fn compare_and_render(columns: Vec<Column>) {
    let (baselines, over_time) = columns::split(columns);
    let prices: BTreeMap<String, f64> = baselines.iter().map(|b| (b.name.clone(), 25.0)).collect();
    let key = |id: &str| Some(id.to_string());
    let result = compare(&ComparePlan {
        baselines: &baselines,
        key: &key,
        grouped: false,
        alpha: 0.05,
        min_effect: 0.0,
        prices_usd_per_month: &prices,
        threshold_percent: None,
        over_time: &over_time,
    });
    for markdown in [false, true] {
        assert_figures_are_measurements(&render::compare::comparison(&result, markdown));
    }
    assert_figures_are_measurements(&render::compare::headline(&result));
    serde_json::to_string(&result).expect("the comparison serializes");
    for chart in render::html::compare_charts(&result) {
        assert!(
            !chart.svg.contains("NaN") && !chart.svg.contains("inf"),
            "{}: {}",
            chart.name,
            chart.svg
        );
    }
}

/// No NaN, no infinity, no negative figure (a `-` before a digit at a word's start), but for
/// the off-CPU share's signed difference from the first column ("(-12.5 pts)"), which must
/// not read "-0.0".
fn assert_figures_are_measurements(text: &str) {
    assert!(!text.contains("-0.0 pts"), "printed -0.0 pts:\n{text}");
    let differences = Regex::new(r"\([+-][0-9]+\.[0-9] pts\)").unwrap();
    let text = &differences.replace_all(text, "");
    let impossible = Regex::new(r"(?i)\bnan\b|\binf\b|infinity|(^|[\s(\[|±×])-[0-9]").unwrap();
    if let Some(found) = impossible.find(text) {
        panic!("printed {:?}:\n{text}", found.as_str());
    }
}

fn read_damaged(path: &str, damages: &[Damage]) -> Option<Column> {
    let text = std::fs::read_to_string(path).unwrap();
    let damaged = apply(&text, damages);
    let read = columns::parse(None, "damaged", &damaged);
    if read.column.is_none() {
        assert!(
            !read.warnings.is_empty(),
            "{path}: nothing read and nothing said"
        );
    }
    read.column
}

/// An exported baseline of the reference, as `compare --export` prints it.
fn export() -> String {
    let column = reference();
    serde_json::to_string_pretty(&Exported::of(&column.baseline)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn damaged_results_are_left_out_or_compared_with_real_figures(
        file in 0..RECORDED.len(),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        if let Some(column) = read_damaged(RECORDED[file], &damages) {
            compare_and_render(vec![reference(), column.clone()]);
            compare_and_render(vec![column]);
        }
    }

    #[test]
    fn damaged_exports_are_left_out_or_compared_with_real_figures(
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let damaged = apply(&export(), &damages);
        let read = columns::parse(None, "damaged-export", &damaged);
        if let Some(column) = read.column {
            compare_and_render(vec![reference(), column]);
        }
    }
}

/// A copy of the recorded criterion directory under a fresh temporary directory.
fn criterion_copy(case: u64) -> PathBuf {
    let to = std::env::temp_dir().join(format!(
        "dynoprobe-fuzz-criterion-{}-{case}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&to);
    copy_dir(Path::new("tests/data/criterion-target/criterion"), &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn json_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "json") {
            into.push(path);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn damaged_criterion_files_are_left_out_or_compared_with_real_figures(
        file in any::<usize>(),
        damages in prop::collection::vec(damage(), 1..3),
        case in any::<u64>(),
    ) {
        let dir = criterion_copy(case);
        let mut files = Vec::new();
        json_files(&dir, &mut files);
        files.sort();
        let chosen = &files[file % files.len()];
        let text = std::fs::read_to_string(chosen).unwrap();
        std::fs::write(chosen, apply(&text, &damages)).unwrap();
        let found = baseline::read_dir(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let found = found.expect("the directory reads; damaged files are skipped");
        let columns: Vec<Column> = found
            .baselines
            .into_iter()
            .map(|(name, benchmarks)| Column {
                baseline: Baseline { name, benchmarks },
                fixtures: Vec::new(),
                over_time: Vec::new(),
            })
            .collect();
        if !columns.is_empty() {
            compare_and_render(columns);
        }
    }
}

/// The check above catches what compare printed before baselines were checked.
#[test]
fn the_check_catches_impossible_figures() {
    for printed in [
        "-5.0 ns ± -1.0 ns",
        "decrypt  -3200000000.0 MiB/s",
        "off-CPU inf%",
        "NaN%",
        "| -2.0 |",
    ] {
        let caught = std::panic::catch_unwind(|| assert_figures_are_measurements(printed));
        assert!(caught.is_err(), "{printed:?} passed");
    }
    assert_figures_are_measurements("chase-l2  1.395 ms ± 20.15 µs  12.4%  p 0.0412  -");
}

/// Most damaged files still give a column, so the figures above are really compared.
#[test]
fn most_damaged_files_still_give_a_column() {
    let mut given = 0;
    for index in 0..200 {
        let damage = [Damage::Number {
            index: index * 7,
            with: index % HOSTILE.len(),
        }];
        given += usize::from(read_damaged(RECORDED[index % RECORDED.len()], &damage).is_some());
    }
    assert!(given > 150, "{given} of 200 damaged files gave a column");
}
