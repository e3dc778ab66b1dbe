//! `dynoprobe compare` on baselines written by a real criterion 0.8 run of our workloads
//! bench (`quiet`, and `shared-cpu` with a CPU hog on the bench's CPU), plus a benchmark
//! whose estimates.json was truncated. Figures are checked against criterion's own files.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/criterion-target")
}

fn compare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
        .arg("compare")
        .arg("--target-dir")
        .arg(target())
        .args(args)
        .env_remove("CRITERION_HOME")
        .output()
        .expect("dynoprobe runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn estimate(dir: &str, which: &str) -> f64 {
    let path = target().join("criterion").join(dir).join("estimates.json");
    let json: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    json[which]["point_estimate"].as_f64().unwrap()
}

/// One `cargo bench` is one replicate: the ratio is criterion's medians', and no
/// significance is claimed without the run-to-run noise.
#[test]
fn medians_are_criterions_and_one_bench_a_column_claims_nothing() {
    let out = compare(&["quiet", "shared-cpu", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema_version"], 4);
    assert_eq!(json["alpha"], 0.05);
    let rows = &json["rows"];
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "chase-l2/dynoprobe")
        .unwrap();
    let (quiet, shared) = (&row["cells"][0], &row["cells"][1]);
    assert_eq!(
        quiet["median_ns"].as_f64(),
        Some(estimate("chase-l2/dynoprobe/quiet", "median"))
    );
    assert_eq!(
        shared["mad_ns"].as_f64(),
        Some(estimate("chase-l2/dynoprobe/shared-cpu", "median_abs_dev"))
    );
    let ratio = shared["ratio"].as_f64().unwrap();
    let expected = estimate("chase-l2/dynoprobe/shared-cpu", "median")
        / estimate("chase-l2/dynoprobe/quiet", "median");
    assert!((ratio - expected).abs() < 1e-12);
    assert_eq!(shared["replicates_count"], 1);
    for unknown in ["significant", "p_value", "ci_low", "ci_high"] {
        assert!(shared[unknown].is_null(), "{unknown}: {}", shared[unknown]);
    }
    assert!(
        shared["off_cpu_ratio"].as_f64().unwrap() > 0.4,
        "the sidecar's off-CPU share"
    );
    assert!(quiet["off_cpu_ratio"].as_f64().unwrap() < 0.05);
    let direct = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "decrypt-cbc/direct")
        .unwrap();
    assert!(
        direct["cells"][0]["off_cpu_ratio"].is_null(),
        "no sidecar for direct calls"
    );
}

#[test]
fn a_corrupt_file_is_a_warning_and_the_rest_is_compared() {
    let out = compare(&["quiet", "shared-cpu"]);
    assert!(out.status.success());
    let warnings = text(&out.stderr);
    assert!(
        warnings.contains("broken/case/quiet/estimates.json"),
        "{warnings}"
    );
    assert!(warnings.contains("EOF"), "{warnings}");
    let table = text(&out.stdout);
    assert!(
        table.contains("chase-l2/dynoprobe") && table.contains("decrypt-cbc/direct"),
        "{table}"
    );
    assert!(!table.contains("broken/case"), "{table}");
}

#[test]
fn a_missing_baseline_names_it_and_lists_those_found() {
    let out = compare(&["quiet", "performance-m"]);
    assert_eq!(out.status.code(), Some(1));
    let error = text(&out.stderr);
    assert!(
        error.contains("no baseline named 'performance-m'"),
        "{error}"
    );
    assert!(error.contains("quiet, shared-cpu"), "{error}");
}

#[test]
fn an_absent_or_empty_directory_says_what_to_do() {
    let empty = std::env::temp_dir().join(format!("dynoprobe-empty-{}", std::process::id()));
    std::fs::create_dir_all(empty.join("criterion")).unwrap();
    for (dir, says) in [
        (empty.join("nope"), "run `cargo bench` first"),
        (empty.clone(), "no criterion benchmarks"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
            .args(["compare", "--target-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn prices_give_runs_per_dollar_and_a_bad_price_gives_the_form() {
    let out = compare(&[
        "quiet",
        "shared-cpu",
        "--price",
        "quiet=50",
        "--price",
        "shared-cpu=25",
        "--json",
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = &json["rows"][0]["cells"][1];
    let expected = 1e9 / cell["median_ns"].as_f64().unwrap() * 730.0 * 3600.0 / 25.0;
    assert!((cell["runs_per_dollar"].as_f64().unwrap() / expected - 1.0).abs() < 1e-12);
    let out = compare(&["--price", "quiet:50"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out.stderr).contains("NAME=USD_PER_MONTH"));
}

#[test]
fn filters_groups_and_thresholds() {
    let rows = |args: &[&str]| -> Value {
        let out = compare(args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        json["rows"].clone()
    };
    let filtered = rows(&["quiet", "shared-cpu", "-f", "^chase", "--json"]);
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    // Group by workload: dynoprobe and direct of one workload land in one row.
    let grouped = rows(&["quiet", "-g", "^([^/]+)/", "--json"]);
    let keys: Vec<_> = grouped
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["chase-l2", "decrypt-cbc"]);
    assert_eq!(
        grouped[0]["cells"][0]["baseline"],
        "quiet:chase-l2/dynoprobe"
    );
    let out = compare(&["quiet", "shared-cpu", "-t", "10000"]);
    assert_eq!(out.status.code(), Some(1), "no row differs by 100×");
    assert!(text(&out.stderr).contains("no benchmark to compare"));
}

#[test]
fn an_export_is_accepted_back_as_input() {
    let out = compare(&["--export", "shared-cpu"]);
    assert!(out.status.success());
    let file = std::env::temp_dir().join(format!("dynoprobe-export-{}.json", std::process::id()));
    std::fs::write(&file, &out.stdout).unwrap();
    let from_file = compare(&["quiet", file.to_str().unwrap(), "--json"]);
    let from_dir = compare(&["quiet", "shared-cpu", "--json"]);
    assert!(from_file.status.success(), "{}", text(&from_file.stderr));
    assert_eq!(text(&from_file.stdout), text(&from_dir.stdout));
    std::fs::write(&file, b"{\"name\": 3, \"benchmarks\": []}").unwrap();
    let bad = compare(&[file.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1), "nothing left to compare");
    assert!(
        text(&bad.stderr).contains("not an exported baseline (invalid type: integer `3`"),
        "{}",
        text(&bad.stderr)
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn list_baselines_and_markdown() {
    let out = compare(&["--baselines"]);
    assert_eq!(
        text(&out.stdout),
        "quiet\t2 benchmarks\nshared-cpu\t2 benchmarks\n"
    );
    let out = compare(&["--list"]);
    assert!(text(&out.stdout).contains("shared-cpu\tdecrypt-cbc/direct"));
    let out = compare(&["quiet", "shared-cpu", "--markdown"]);
    let table = text(&out.stdout);
    assert!(
        table.starts_with("| benchmark | baseline | reps | median ± MAD |"),
        "{table}"
    );
    let out = compare(&["--alpha", "2"]);
    assert!(!out.status.success());
}

#[test]
fn the_html_page_has_a_box_chart_per_benchmark_and_the_table() {
    let dir = std::env::temp_dir().join(format!("dynoprobe-compare-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("compare.html");
    let out = compare(&[
        "quiet",
        "shared-cpu",
        "--price",
        "quiet=50",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<figure").count(),
        2,
        "chase-l2 and decrypt-cbc"
    );
    assert!(html.contains("0 of 2 benchmarks differ significantly"));
    assert!(
        html.contains(
            "median 2.653 ms, 1.98× (one replicate here or in the reference: no interval)"
        ),
        "{html}"
    );
    assert!(html.contains("<pre>benchmark "), "the table as text");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fail_if_slower_exits_1_naming_the_rows_whose_whole_interval_is_slower() {
    let (quiet, hog) = (
        format!("quiet={}", recorded("quiet-?.json")),
        format!("hog={}", recorded("hog-?.json")),
    );
    let out = compare(&[&quiet, &hog, "--fail-if-slower", "10"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let says = text(&out.stderr);
    // Three runs a column, taken in turn: decrypt-cbc beside the hog 1.32× [1.11, 1.58];
    // chase-l2 1.71× [0.74, 3.95]: its runs (the geometric means of their processes)
    // spread 1.3–2.5 ms alone and 2.3–4.8 ms beside the hog, so its interval reaches below 1.
    assert!(
        says.contains("decrypt-cbc in hog: 1.32× [1.11, 1.58]"),
        "{says}"
    );
    assert!(!says.contains("chase-l2 in hog"), "{says}");
    assert!(says.contains("over their whole interval"), "{says}");
    assert!(
        text(&out.stdout).contains("median ± MAD"),
        "the table is still printed"
    );
    let out = compare(&[&quiet, &hog, "--fail-if-slower", "20"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // One run a column: no interval, so nothing fails, however slow (3.27×).
    let out = compare(&[
        &recorded("quiet-replicates.json"),
        &recorded("hog-replicates.json"),
        "--fail-if-slower",
        "10",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("2 of 2 rows have a column of one replicate"));
    // One bench a column: no interval, so nothing is slower, however slow; but one
    // benchmark of `quiet` could not be read (its estimates.json is cut off), and a gate
    // does not pass on what it could not read.
    let out = compare(&["quiet", "shared-cpu", "--fail-if-slower", "10"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 inputs or rows were left out"));
    assert!(text(&out.stdout).contains("have a column of one replicate"));
    let out = compare(&["shared-cpu", "again=shared-cpu", "--fail-if-slower", "10"]);
    assert!(
        !text(&out.stderr).contains("left out"),
        "the cut-off benchmark is not shared-cpu's: {}",
        text(&out.stderr)
    );
    let out = compare(&["quiet", "--fail-if-slower", "-5"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

/// A recorded result under tests/data/compare/: `run --json` of chase-l2 on CPU 1, 40 runs,
/// quiet and beside a CPU hog on that CPU (schema 4: one process each); the same of
/// decrypt-cbc and chase-l2 in 4 worker processes, `--quick` (`*-replicates.json`, schema 5),
/// and three times more, quiet and beside the hog in turn (`quiet-N.json`, `hog-N.json`,
/// 2026-11-28); three `drive --every 1s` batches of 20 calls; a run on another payload.
fn recorded(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/compare")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn run_reports_compare_run_by_run_with_the_figures_they_hold() {
    let out = compare(&[&recorded("quiet.json"), &recorded("hog.json"), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &json["rows"][0];
    assert_eq!(row["key"], "chase-l2");
    let (quiet, hog) = (&row["cells"][0], &row["cells"][1]);
    assert_eq!(
        (quiet["baseline"].as_str(), hog["baseline"].as_str()),
        (Some("quiet"), Some("hog"))
    );
    // The median is the nearest-rank median of the report's own run-by-run wall times, and
    // the off-CPU share is the report's.
    let report: Value =
        serde_json::from_slice(&std::fs::read(recorded("hog.json")).unwrap()).unwrap();
    let workload = &report["workloads"][0];
    let mut runs: Vec<u64> = workload["by_run"]["wall_ns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    runs.sort_unstable();
    assert_eq!(
        hog["median_ns"].as_f64(),
        Some(runs[runs.len().div_ceil(2) - 1] as f64)
    );
    assert_eq!(hog["off_cpu_ratio"], workload["off_cpu_ratio"]);
    assert_eq!(
        hog["samples"]["max_ns"].as_f64(),
        Some(*runs.last().unwrap() as f64)
    );
    assert!(
        hog["p_value"].is_null() && hog["replicates_count"] == 1,
        "one process a report before version 5: no test on its 40 runs"
    );
    assert_eq!(json["left_out"].as_array().map(Vec::len), Some(0));
}

#[test]
fn every_kind_of_result_compares_on_one_command_line() {
    let page = std::env::temp_dir().join(format!("dynoprobe-mixed-{}.html", std::process::id()));
    let out = compare(&[
        "shared-cpu",
        &format!("std={}", recorded("quiet.json")),
        &recorded("fleet.jsonl"),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for row in [
        "chase-l2/dynoprobe",
        "chase-l2  ",
        "chase-l2 (call latency)  fleet",
        "chase-l2 (server run)    fleet",
        "chase-l2 (server run) in fleet, 3 batches by hour of day (UTC",
    ] {
        assert!(table.contains(row), "{row}:\n{table}");
    }
    assert!(
        table.lines().any(|l| l.contains(" std ")),
        "named by NAME=FILE:\n{table}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_file(&page).unwrap();
    assert!(
        html.contains("chase-l2 (server run), by time of day"),
        "the over-time chart"
    );
    assert!(html.contains("time of day the batch began (UTC"));
}

#[test]
fn results_of_another_payload_are_refused() {
    let out = compare(&[&recorded("quiet.json"), &recorded("other-fixture.json")]);
    assert_eq!(out.status.code(), Some(1));
    let error = text(&out.stderr);
    assert!(
        error.contains("quiet and other-fixture were measured on different payloads"),
        "{error}"
    );
    assert!(error.contains("fnv1a64:1318bc0056d13b2d"), "{error}");
    assert!(out.stdout.is_empty(), "no table of different work");
}

#[test]
fn bad_lines_and_versions_are_named_and_the_rest_compared() {
    let fleet = std::fs::read_to_string(recorded("fleet.jsonl")).unwrap();
    let lines: Vec<&str> = fleet.lines().collect();
    let older_serve = lines[1]
        .replace(r#""instance":"web.1","#, "")
        .replace(r#""fixtures":[{"#, r#""fixtures":[],"x":[{"#);
    let newer = lines[2].replace(r#""schema_version":1"#, r#""schema_version":99"#);
    let mangled = [
        lines[0],
        &lines[1][..lines[1].len() / 3],
        &older_serve,
        &newer,
    ]
    .join("\n");
    let file = std::env::temp_dir().join(format!("dynoprobe-mangled-{}.jsonl", std::process::id()));
    std::fs::write(&file, mangled).unwrap();
    let out = compare(&[&recorded("quiet.json"), file.to_str().unwrap(), "--json"]);
    std::fs::remove_file(&file).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let warnings = text(&out.stderr);
    assert_eq!(warnings.lines().count(), 2, "one line each:\n{warnings}");
    assert!(
        warnings.contains(".jsonl:2: not JSON (EOF while parsing"),
        "{warnings}"
    );
    assert!(
        warnings
            .contains(".jsonl:4: a drive result of schema_version 99; this dynoprobe reads 1 to 3"),
        "{warnings}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = json["over_time"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "chase-l2 (call latency)")
        .unwrap();
    let counts: Vec<u64> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["samples_count"].as_u64().unwrap())
        .collect();
    assert_eq!(
        counts,
        [20, 20],
        "lines 1 and 3, the older serve's included"
    );
    assert!(
        warnings.contains(".jsonl:2") && !warnings.contains(".jsonl:3"),
        "an instance-less answer is no error: {warnings}"
    );
}

#[test]
fn a_source_named_twice_in_a_column_is_refused() {
    let hog = recorded("hog-replicates.json");
    let pattern = recorded("hog-rep*.json");
    for twice in [format!("h={hog},{hog}"), format!("h={pattern},{hog}")] {
        let out = compare(&[&format!("q={}", recorded("quiet-replicates.json")), &twice]);
        assert_eq!(out.status.code(), Some(1), "{twice}");
        let error = text(&out.stderr);
        assert!(error.contains("column h: "), "{error}");
        assert!(
            error.contains("hog-replicates.json is named twice"),
            "{error}"
        );
    }
    let out = compare(&["s=quiet,quiet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("baseline quiet is named twice"));
}

#[test]
fn columns_need_distinct_names() {
    let out = compare(&[
        &recorded("quiet.json"),
        &format!("quiet={}", recorded("hog.json")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("two columns are named 'quiet'; name them with NAME=FILE"));
}

/// A copy of the recorded criterion target under the temporary directory, to change; the
/// test removes it.
fn copy_of_target(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dynoprobe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let copied = Command::new("cp")
        .arg("-r")
        .arg(target())
        .arg(&dir)
        .status()
        .unwrap();
    assert!(copied.success());
    dir
}

#[test]
fn symlink_loops_count_each_benchmark_once_and_end() {
    let dir = copy_of_target("loops");
    let criterion = dir.join("criterion");
    std::os::unix::fs::symlink(".", criterion.join("loop")).unwrap();
    std::os::unix::fs::symlink("..", criterion.join("chase-l2").join("up")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
        .args(["compare", "--baselines", "--target-dir"])
        .arg(&dir)
        .env_remove("CRITERION_HOME")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("compare did not end in 20 s on two symlink loops");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        text(&out.stdout),
        "quiet\t2 benchmarks\nshared-cpu\t2 benchmarks\n",
        "each benchmark once"
    );
}

/// What cannot be read is said, never passed over: a benchmark folder without permission
/// (compare run as another user, since root reads anything), an unreadable criterion
/// directory, a file named that does not exist.
#[test]
fn unreadable_folders_and_missing_files_are_named() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = copy_of_target("unreadable");
    let locked = dir.join("criterion/chase-l2");
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(&locked, 0o000);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let compare = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dynoprobe"));
        command
            .arg("compare")
            .arg("--target-dir")
            .arg(&dir)
            .args(args);
        if root {
            command.uid(65534).gid(65534);
        }
        command.env_remove("CRITERION_HOME").output().unwrap()
    };
    let out = compare(&["shared-cpu", "again=shared-cpu"]);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("chase-l2: its benchmarks, unreadable (Permission denied"),
        "{said}"
    );
    let out = compare(&["shared-cpu", "again=shared-cpu", "--fail-if-slower", "50"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("left out"),
        "{}",
        text(&out.stderr)
    );
    mode(&locked, 0o755);
    mode(&dir.join("criterion"), 0o000);
    let out = compare(&["--baselines"]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cannot read") && said.contains("Permission denied"),
        "{said}"
    );
    mode(&dir.join("criterion"), 0o755);
    let typo = dir.join("results/tpyo.json");
    let out = compare(&[typo.to_str().unwrap()]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("tpyo.json: No such file"), "{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// JSON lines are read one at a time, each dropped once its figures are pooled: memory grows
/// only by what a line adds to the column (each call's times, a time point per row), about
/// a third of the line's bytes here, not by the lines held whole (a 200 MB file took 1.8 GB
/// when compare held every line).
#[test]
fn memory_grows_only_by_what_each_line_adds() {
    let fleet = std::fs::read_to_string(recorded("fleet.jsonl")).unwrap();
    let peak_kib = |copies: usize| -> i64 {
        let path = std::env::temp_dir().join(format!(
            "dynoprobe-stream-{copies}-{}.jsonl",
            std::process::id()
        ));
        // Written a copy at a time: a child's peak counts its parent's memory until exec.
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for _ in 0..copies {
            std::io::Write::write_all(&mut file, fleet.as_bytes()).unwrap();
        }
        drop(file);
        #[expect(clippy::zombie_processes, reason = "reaped by wait4, for its rusage")]
        let child = Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
            .arg("compare")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
        // SAFETY: waits for our own child, writing into locals of the right types.
        let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        std::fs::remove_file(&path).unwrap();
        assert!(waited > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        usage.ru_maxrss
    };
    // 16 KB of lines 250 and 2,500 times: 4 MB and 40 MB.
    let (small, large) = (peak_kib(250), peak_kib(2_500));
    eprintln!("peak resident: {small} KiB for 4 MB of lines, {large} KiB for 40 MB");
    let file_growth_kib = (2_500 - 250) * fleet.len() as i64 / 1024;
    assert!(
        large - small < file_growth_kib / 2,
        "{small} KiB, then {large} KiB: more than half the {file_growth_kib} KiB of lines added"
    );
}
