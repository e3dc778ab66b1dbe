//! The verdict in the three scenarios this machine can stage, five times each: idle, a CPU
//! hog on the probe's CPU, and a cgroup quota of 30 ms per 100 ms. Each check runs the
//! `dynoprobe` binary and reads its JSON. Skips, saying why, where a scenario cannot be made.

mod common;

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{StopOnDrop, TestCgroup};
use serde_json::Value;

const RUNS: usize = 5;
/// The scenarios load the CPUs; they must not overlap.
static EXCLUSIVE: Mutex<()> = Mutex::new(());

fn jitter_json(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
        .arg("jitter")
        .args(args)
        .arg("--json")
        .stderr(Stdio::inherit())
        .output()
        .expect("dynoprobe runs");
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

fn class(report: &Value) -> &str {
    report["verdict"]["class"].as_str().unwrap_or("?")
}

#[test]
fn idle_is_quiet_or_noisy_with_little_off_cpu() {
    let _one = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    for run in 0..RUNS {
        let report = jitter_json(&["--duration", "1500ms"]);
        let j = &report["jitter"][0];
        let off = j["off_cpu_ratio"].as_f64().unwrap();
        eprintln!(
            "idle {run}: {} off-CPU {:.2}% unexplained {:?}",
            class(&report),
            off * 100.0,
            j["unexplained_ratio"]
        );
        assert!(
            matches!(class(&report), "quiet" | "noisy"),
            "{:#}",
            report["verdict"]
        );
        assert!(off < 0.05, "off-CPU {off}");
    }
}

/// Run lengths between gaps ≥ 100 µs seen by the simplest spin loop (`Instant`), ms.
fn reference_timeslice_ms(cpu: usize, duration: Duration) -> f64 {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    let start = Instant::now();
    let (mut last, mut run_start) = (start, start);
    let mut runs = Vec::new();
    while last - start < duration {
        let now = Instant::now();
        if now - last >= Duration::from_micros(100) {
            runs.push((last - run_start).as_secs_f64() * 1e3);
            run_start = now;
        }
        last = now;
    }
    runs.remove(0); // the first run began with the loop, not after a preemption
    runs.sort_by(f64::total_cmp);
    runs[(runs.len() - 1) / 2]
}

#[test]
fn a_hog_on_the_probes_cpu_is_contended_and_the_counts_agree() {
    let _one = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cpu) = core_affinity::get_core_ids().and_then(|ids| ids.last().map(|c| c.id)) else {
        eprintln!("skipped: cannot read the CPU affinity mask");
        return;
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Stops the hog however this scope ends: a failed assertion unwinds past any
        // explicit store, and the scope would then wait for the hog forever.
        let _stop = StopOnDrop(&stop);
        scope.spawn(|| {
            core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        for run in 0..RUNS {
            let reference = reference_timeslice_ms(cpu, Duration::from_millis(800));
            let report = jitter_json(&["--duration", "1500ms", "--cpus", &cpu.to_string()]);
            let j = &report["jitter"][0];
            let off = j["off_cpu_ratio"].as_f64().unwrap();
            let wait = j["runqueue_wait_ratio"]
                .as_f64()
                .expect("schedstat on this machine");
            let preemptions = j["preemptions_count"].as_f64().unwrap();
            let switches = j["involuntary_switches_count"].as_f64().unwrap();
            let slice = j["timeslice_p50_ms"].as_f64().unwrap();
            eprintln!(
                "hog {run}: {} off-CPU {:.1}% rq-wait {:.1}% preemptions {preemptions} switches {switches} \
                 timeslice {slice:.2} ms (reference {reference:.2} ms)",
                class(&report),
                off * 100.0,
                wait * 100.0
            );
            assert_eq!(class(&report), "contended", "{:#}", report["verdict"]);
            assert!(
                (off - wait).abs() <= 0.05,
                "off-CPU {off} vs run-queue wait {wait}"
            );
            assert!(
                (preemptions / switches - 1.0).abs() <= 0.10,
                "{preemptions} vs {switches}"
            );
            assert!(
                (slice / reference - 1.0).abs() <= 0.25,
                "{slice} ms vs reference {reference} ms"
            );
        }
    });
}

#[test]
fn a_quota_of_30_ms_per_100_ms_is_throttled_with_its_period_and_share() {
    let _one = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let mut cgroup = match TestCgroup::create(30_000, 100_000) {
        Ok(cgroup) => cgroup,
        Err(why) => {
            eprintln!("skipped: cannot make a CPU-limited cgroup here ({why})");
            return;
        }
    };
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_dynoprobe"));
    let args = ["jitter", "--duration", "2s", "--json"];
    let mut results = Vec::new();
    for _ in 0..RUNS {
        let child = cgroup
            .spawn(binary, &args, Stdio::piped())
            .expect("start dynoprobe");
        let output = cgroup.children.remove(child).wait_with_output().unwrap();
        assert!(output.status.success());
        results.push(serde_json::from_slice::<Value>(&output.stdout).expect("JSON report"));
    }
    drop(cgroup);
    for (run, report) in results.iter().enumerate() {
        let t = &report["jitter"][0]["throttle"];
        eprintln!("quota {run}: {} throttle {t}", class(report));
        assert_eq!(class(report), "throttled", "{:#}", report["verdict"]);
        let jitter = &report["jitter"][0];
        let period = t["period_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("no throttling pattern: {jitter:#}"));
        let quota = t["quota_ratio"].as_f64().unwrap();
        assert!((period - 100.0).abs() <= 10.0, "period {period} ms");
        assert!((quota - 0.30).abs() <= 0.05, "quota {quota}");
        assert_eq!(t["matches_cgroup_period"], true);
    }
}
