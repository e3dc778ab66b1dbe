//! The `dynoprobe` binary as a user runs it: flags, bad input, output formats.
#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::{Command, Output};

use dynoprobe::workload::json::checksum;
use dynoprobe::workload::payload::{ID_SUM, RECORDS};

fn dynoprobe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the dynoprobe binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dynoprobe-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn absurd_run_counts_are_refused_with_the_valid_range() {
    for (runs, says) in [
        ("0", "0 runs would measure nothing"),
        ("1e12", "got '1e12'"),
        ("99999999999", "from 1 to 1000000"),
    ] {
        let out = dynoprobe(&["run", "--runs", runs]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains(says),
            "--runs {runs}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_unknown_workload_lists_the_valid_names() {
    let out = dynoprobe(&["run", "--workload", "json-fast"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.starts_with("dynoprobe: unknown workload 'json-fast'"),
        "{text}"
    );
    assert!(
        text.contains("json-serde-value") && text.contains("chase-dram"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "one line: {text}");
}

#[test]
fn bad_fixtures_name_the_file_and_the_position() {
    let dir = scratch_dir("fixtures");
    let bad = dir.join("broken.json");
    std::fs::write(&bad, "{\"a\": [1, 2,\n  }").unwrap();
    let fifo = dir.join("fifo.json");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let huge = dir.join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(65 << 20) // sparse: nothing is written
        .unwrap();
    // A lone surrogate: serde_json skips over it as IgnoredAny, but no parser makes a
    // string of it, so every JSON workload would be skipped.
    let surrogate = dir.join("surrogate.json");
    std::fs::write(&surrogate, r#"["\ud800", 1]"#).unwrap();
    let cases = [
        (dir.join("absent.json"), "cannot read fixture"),
        (dir.clone(), "is a directory"),
        (bad, "line 2 column 3"),
        (fifo, "is not a regular file"),
        ("/dev/zero".into(), "is not a regular file"),
        (huge, "is 68157440 bytes; at most 67108864 (64 MiB)"),
        (surrogate, "is JSON that json-serde-value refuses"),
    ];
    for (path, says) in cases {
        let out = dynoprobe(&["run", "--fixture", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let text = stderr(&out);
        assert!(text.contains(says), "{}: {text}", path.display());
        assert!(text.contains(path.to_str().unwrap()), "{text}");
        assert_eq!(text.lines().count(), 1, "one line: {text}");
    }
    let absent = stderr(&dynoprobe(&["run", "--fixture", "/nonexistent.json"]));
    assert_eq!(
        absent.matches("No such file or directory").count(),
        1,
        "the cause once: {absent}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_slower_aes_backend_can_be_named_and_decrypts_the_same_bytes() {
    let decrypt = |backend: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dynoprobe"));
        command.args([
            "run",
            "-w",
            "decrypt-cbc",
            "-w",
            "decrypt-ctr",
            "--runs",
            "2",
        ]);
        command.args(["--processes", "1", "--json"]);
        match backend {
            Some(name) => command.env("DYNOPROBE_AES", name),
            None => command.env_remove("DYNOPROBE_AES"),
        };
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON on stdout")
    };
    let fastest = decrypt(None);
    let software = decrypt(Some("software"));
    let json = dynoprobe::workload::fixture::Fixture::shipped().json;
    let expected = dynoprobe::workload::decrypt::checksum(&json);
    assert_eq!(software["machine"]["aes_backend"], "software");
    assert!(fastest["machine"]["aes_backend"].is_string());
    for i in 0..2 {
        let checksum = |r: &serde_json::Value| r["workloads"][i]["checksum"].clone();
        assert_eq!(checksum(&fastest), checksum(&software), "workload {i}");
        assert_eq!(
            checksum(&software),
            expected,
            "workload {i}: the plaintext's checksum"
        );
    }
}

#[test]
fn json_output_follows_the_schema_with_the_known_checksum() {
    let out = dynoprobe(&[
        "run",
        "--workload",
        "json-simd-typed",
        "--workload",
        "chase-l2",
        "--runs",
        "3",
        "--processes",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["schema_version"], 5);
    // Parsing is not fixed work; the chase is, timed in blocks once per run.
    assert!(report["workloads"][0]["ns_per_op"].is_null());
    let chase = &report["workloads"][1];
    assert_eq!(chase["name"], "chase-l2");
    assert_eq!(
        chase["ns_per_op"]["count"], 6,
        "3 runs in each of 2 processes"
    );
    assert!(chase["ns_per_op"]["p50"].as_f64().unwrap() > 0.0);
    let ledger = report["jitter"]["ledger"]
        .as_object()
        .expect("the spin's ledger");
    let sum: f64 = ledger.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() <= 0.005, "{ledger:?}");
    let platform = &report["verdict"]["platform"];
    let on_cpu = ledger["on_cpu_ratio"].as_f64().unwrap();
    assert!((platform["total_ratio"].as_f64().unwrap() - (1.0 - on_cpu)).abs() < 1e-9);
    let w = &report["workloads"][0];
    assert_eq!(w["name"], "json-simd-typed");
    assert_eq!(w["runs_count"], 6);
    assert_eq!(w["wall_ns"]["count"], 6);
    let replicates = w["replicates"].as_array().unwrap();
    assert_eq!(replicates.len(), 2);
    for r in replicates {
        assert_eq!(r["runs_count"], 3);
        assert!(r["wall_ns_p50"].as_u64().unwrap() > 0);
    }
    assert!(w["replicate_p50_max_over_min"].as_f64().unwrap() >= 1.0);
    assert_eq!(w["by_run"]["on_cpu_ns"].as_array().map(Vec::len), Some(6));
    assert_eq!(w["checksum"], checksum(RECORDS, ID_SUM));
    assert!(w["throughput_bytes_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(w["off_cpu_ns"]["count"], 6);
    let off = w["off_cpu_ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&off), "{off}");
    assert!(report["contention"]["elapsed_ns"].as_u64().unwrap() > 0);
    assert!(report["machine"]["clocksource"].is_string());
    assert_eq!(report["fixture"]["source"], "shipped");
}

#[test]
fn a_users_fixture_runs_and_typed_parsers_are_skipped_or_refused() {
    let dir = scratch_dir("user");
    let path = dir.join("orders.json");
    std::fs::write(
        &path,
        r#"[{"id": 40, "total": 9.5}, {"id": 2, "note": "é\n"}]"#,
    )
    .unwrap();
    let path = path.to_str().unwrap();

    let named = dynoprobe(&["run", "--fixture", path, "--workload", "json-serde-typed"]);
    assert_eq!(named.status.code(), Some(1));
    assert!(
        stderr(&named).contains("record schema"),
        "{}",
        stderr(&named)
    );

    let all = ["run", "--fixture", path, "--runs", "1", "--json"];
    let out = dynoprobe(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("skipping workload json-serde-typed"));
    assert!(stderr(&out).contains("skipping workload json-simd-typed"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(report["workloads"][0]["checksum"], checksum(2, 42));
    assert_eq!(report["fixture"]["source"], path);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_output_has_a_row_per_workload_and_says_where_times_come_from() {
    let out = dynoprobe(&[
        "run",
        "-w",
        "decrypt-cbc",
        "-w",
        "chase-l2",
        "--runs",
        "5",
        "--processes",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("CLOCK_MONOTONIC"), "{text}");
    assert!(
        text.contains("`compare` takes the run as one replicate"),
        "{text}"
    );
    for name in ["decrypt-cbc", "chase-l2"] {
        let row = text.lines().find(|l| l.starts_with(name)).expect(name);
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1..3], ["3", "15"], "3 processes of 5 runs: {row}");
    }
}

#[test]
fn list_names_every_workload_and_which_work_is_fixed() {
    let out = dynoprobe(&["run", "--list"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 10, "{text}");
    let fixed: Vec<&str> = rows
        .iter()
        .filter(|l| l.split_whitespace().nth(1) == Some("fixed"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        fixed,
        [
            "decrypt-cbc",
            "decrypt-ctr",
            "chase-l2",
            "chase-llc",
            "chase-dram"
        ]
    );
}

#[test]
fn the_fixture_generator_reproduces_the_shipped_files() {
    let out = dynoprobe(&["fixtures", "--check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = scratch_dir("regen");
    let out = dynoprobe(&["fixtures", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in [
        "payload.json",
        "payload.json.enc",
        "payload.key.hex",
        "payload.iv.hex",
    ] {
        let fresh = std::fs::read(dir.join(name)).unwrap();
        let shipped = std::fs::read(PathBuf::from("fixtures").join(name))
            .or_else(|_| {
                std::fs::read(
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("fixtures")
                        .join(name),
                )
            })
            .unwrap();
        assert!(fresh == shipped, "{name} differs");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn openssl_decrypts_the_shipped_blob_to_the_shipped_json() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let hex = |name| std::fs::read_to_string(fixtures.join(name)).unwrap();
    let (key, iv) = (hex("payload.key.hex"), hex("payload.iv.hex"));
    let decrypted = Command::new("openssl")
        .args([
            "enc",
            "-d",
            "-aes-256-cbc",
            "-K",
            key.trim(),
            "-iv",
            iv.trim(),
            "-in",
        ])
        .arg(fixtures.join("payload.json.enc"))
        .output();
    let Ok(decrypted) = decrypted else {
        eprintln!(
            "skipped: openssl is not installed, so the shipped blob cannot be checked with it"
        );
        return;
    };
    assert!(decrypted.status.success(), "{}", stderr(&decrypted));
    let json = std::fs::read(fixtures.join("payload.json")).unwrap();
    assert!(
        decrypted.stdout == json,
        "openssl's plaintext differs from payload.json"
    );
}

#[test]
fn jitter_and_run_refuse_absurd_flags_with_what_is_accepted() {
    let cases: [(&[&str], &str); 9] = [
        (&["jitter", "--duration", "0"], "positive duration"),
        (&["jitter", "--duration", "5h"], "from 1s to 1h"),
        (
            &["jitter", "--duration", "10ms"],
            "too short to measure steal",
        ),
        (
            &["jitter", "--cpus", "4096"],
            "not one this process may run on",
        ),
        (&["jitter", "--cpus", "1-0"], "backwards"),
        (&["jitter", "--threshold", "5s"], "from 1ns to 1s"),
        (&["jitter", "--threshold", "0ns"], "positive duration"),
        (&["run", "--cpu", "4096"], "not one this process may run on"),
        (&["signals", "--count", "0"], "at least 1"),
    ];
    for (args, says) in cases {
        let out = dynoprobe(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_threshold_below_the_loops_own_iteration_is_refused() {
    let out = dynoprobe(&["jitter", "--duration", "1s", "--threshold", "1ns"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("below the loop's own iteration"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_corrupt_reference_report_names_the_file_and_what_it_needs() {
    let dir = scratch_dir("reference");
    let path = dir.join("earlier.json");
    std::fs::write(&path, "{\"workloads\": [").unwrap();
    let out = dynoprobe(&[
        "run",
        "-w",
        "chase-l2",
        "--reference",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("earlier.json") && text.contains("schema_version"),
        "{text}"
    );
    // A report of another payload: refused before anything runs.
    std::fs::write(
        &path,
        r#"{"schema_version": 3, "fixture": {"source": "other.json", "json_bytes": 12, "digest": "fnv1a64:0000000000000001"},
            "workloads": [{"name": "chase-l2", "ns_per_op": {"p50": 4.5}}]}"#,
    )
    .unwrap();
    let out = dynoprobe(&[
        "run",
        "-w",
        "chase-l2",
        "--reference",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(text.contains("ran on another payload (12 bytes"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn jitter_json_has_the_schema_fields_and_a_verdict() {
    let out = dynoprobe(&["jitter", "--duration", "1s", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let j = &report["jitter"][0];
    for field in [
        "duration_ns",
        "read_delta_ns",
        "threshold_ns",
        "gaps_count",
        "off_cpu_ratio",
        "attribute_threshold_ns",
        "ledger",
        "causes",
        "preemptions_count",
        "involuntary_switches_count",
        "runqueue_wait_ratio",
        "steal_ratio",
        "attribution_cost_ratio",
        "timeslice_p50_ms",
        "timeslice_p90_ms",
        "off_cpu_gap_p50_ms",
        "off_cpu_gap_max_ms",
        "unexplained_ratio",
        "throttle",
        "largest_gaps",
    ] {
        assert!(j.get(field).is_some(), "jitter lacks {field}");
    }
    assert!(j["read_delta_ns"].as_u64().unwrap() > 0);
    let ledger = j["ledger"].as_object().unwrap();
    let sum: f64 = ledger.values().map(|v| v.as_f64().unwrap()).sum();
    assert!(
        (sum - 1.0).abs() <= 0.005,
        "ledger sums to {sum}: {ledger:?}"
    );
    assert_eq!(ledger.len(), 7, "on CPU and six causes: {ledger:?}");
    for cause in [
        "preempted",
        "throttled",
        "stolen",
        "interrupt",
        "unreported",
        "short",
    ] {
        assert!(j["causes"][cause]["count"].is_u64(), "causes lack {cause}");
    }
    assert!(report["verdict"]["class"].is_string());
    assert!(report["verdict"]["causes"].is_array());
    // The verdict's evidence as numbers, the spin's beside the kernel's.
    let spin = &report["verdict"]["basis"]["spin"];
    assert_eq!(spin["preemptions_count"], j["preemptions_count"]);
    assert!(report["verdict"].get("summary").is_none());
    assert_eq!(report["schema_version"], 5);
    assert!(report["sleep_overshoot_ns"]["count"].as_u64().unwrap() >= 100);
}

#[cfg(feature = "serve")]
#[test]
fn the_procfile_runs_the_release_binarys_serve() {
    let procfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Procfile"))
        .expect("a Procfile at the repository's root");
    let command = procfile
        .lines()
        .find_map(|l| l.strip_prefix("web:"))
        .expect("a web process");
    let mut words = command.split_whitespace();
    // The Rust buildpack builds with `cargo build --release`.
    assert_eq!(words.next(), Some("./target/release/dynoprobe"));
    let args: Vec<&str> = words.chain(["--help"]).collect();
    let out = dynoprobe(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("$PORT"));
}

/// A reader that goes away ends signals with one line and exit status 1, as the README says,
/// not a panic; a stdout closed from the start is refused before anything is measured.
#[test]
fn a_reader_that_stops_early_ends_signals_with_one_line() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
        .args(["signals", "--interval", "10ms"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().is_some(), "signals printed nothing");
    drop(lines); // like `head -1` exiting
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(1), "{:?}", output.status);
    assert!(
        stderr.contains("writing to stdout: Broken pipe"),
        "{stderr}"
    );
    let closed = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} signals --count 1 >&-",
            env!("CARGO_BIN_EXE_dynoprobe")
        ))
        .output()
        .unwrap();
    assert_eq!(closed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&closed.stderr).contains("stdout is closed"));
}

#[test]
fn html_and_svg_hold_every_chart_and_bad_paths_fail_before_the_spin() {
    let dir = scratch_dir("pictures");
    let page = dir.join("jitter.html");
    let svgs = dir.join("charts");
    let out = dynoprobe(&[
        "jitter",
        "--duration",
        "1s",
        "--html",
        page.to_str().unwrap(),
        "--svg",
        svgs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&svgs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["gap-timeline-thread.svg", "ledger.svg"]);
    for name in &names {
        let svg = std::fs::read_to_string(svgs.join(name)).unwrap();
        assert!(html.contains(&svg), "{name} is not in the page");
        assert!(
            svg.contains("(%)") || svg.contains("(ms, log)"),
            "{name}: axis units"
        );
    }
    assert!(
        html.contains("<pre>") && html.contains("hiccups"),
        "the text report"
    );
    assert!(!html.contains("<script"));

    for (args, says) in [
        (["--html", dir.to_str().unwrap()], "is a directory"),
        (
            ["--html", "/nonexistent-dir/x.html"],
            "no directory /nonexistent-dir",
        ),
        (["--svg", "/proc/version/x"], "cannot make the directory"),
    ] {
        let started = std::time::Instant::now();
        let out = dynoprobe(&[&["jitter", "--duration", "1h"][..], &args[..]].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(
            started.elapsed().as_secs() < 60,
            "{args:?} spun before failing"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_stdout_is_an_error_line_not_a_panic() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    for args in [
        &["run", "--list"][..],
        &[
            "compare",
            "--target-dir",
            "tests/data/criterion-target",
            "quiet",
            "shared-cpu",
        ],
        &["signals", "--count", "1", "--interval", "10ms"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {said}");
        assert!(
            said.contains("writing to stdout: No space left on device"),
            "{args:?}: {said}"
        );
        assert!(!said.contains("panicked"), "{args:?}: {said}");
    }
}
