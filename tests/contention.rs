//! Accuracy against real contention on this machine: a CPU hog sharing the workload's CPU,
//! and a cgroup limited to 30% of one CPU. Each test skips, saying why, where the machine
//! cannot produce the scenario (no schedstat, no permission to create a cgroup).
#![cfg(feature = "cli")]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{StopOnDrop, TestCgroup};
use dynoprobe::runner::{Plan, Runs, measure};
use dynoprobe::signal::schedstat::ThreadSchedstat;
use dynoprobe::workload::{Inputs, find};

/// The scenarios load the CPUs; they must not overlap each other.
static EXCLUSIVE: Mutex<()> = Mutex::new(());

#[test]
fn a_hog_on_our_cpu_shows_as_half_off_cpu_and_the_kernel_agrees() {
    let _one_at_a_time = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = ThreadSchedstat::new().read() {
        eprintln!("skipped: no schedstat to compare with ({why})");
        return;
    }
    let Some(cpu) = core_affinity::get_core_ids().and_then(|ids| ids.last().copied()) else {
        eprintln!("skipped: cannot read this thread's CPU affinity");
        return;
    };
    assert!(
        core_affinity::set_for_current(cpu),
        "pin the workload to {cpu:?}"
    );
    let stop = AtomicBool::new(false);
    let measured = std::thread::scope(|scope| {
        // Stops the hog however this scope ends (a panic would otherwise leave the scope
        // waiting for it forever).
        let _stop = StopOnDrop(&stop);
        scope.spawn(|| {
            core_affinity::set_for_current(cpu);
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        std::thread::sleep(Duration::from_millis(50)); // let the hog get going
        let inputs = Inputs::shipped();
        let mut workload = find("chase-l2").unwrap().prepare(&inputs).unwrap();
        let plan = Plan {
            runs: Runs::Auto,
            target: Duration::from_secs(2),
            ..Plan::default()
        };
        measure(workload.as_mut(), &plan, &mut |_| {}).unwrap()
    });
    let off = measured.off_cpu_ratio;
    let wait = measured
        .runqueue_wait_ratio
        .expect("schedstat was readable");
    eprintln!(
        "hog on {cpu:?}: off-CPU {:.1}%, run-queue wait {:.1}%, {} of {} runs preempted",
        off * 100.0,
        wait * 100.0,
        measured.preempted_runs_count.unwrap_or(0),
        measured.runs_count
    );
    assert!(
        (off - wait).abs() <= 0.03,
        "off-CPU {off:.3} vs run-queue wait {wait:.3}"
    );
    assert!(
        (0.35..=0.65).contains(&off),
        "two threads on one CPU: off-CPU {off:.3}"
    );
    assert!((0.35..=0.65).contains(&wait), "run-queue wait {wait:.3}");
}

#[test]
fn a_cgroup_limited_to_30_percent_is_seen_throttled() {
    let _one_at_a_time = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let mut cgroup = match TestCgroup::create(30_000, 100_000) {
        Ok(cgroup) => cgroup,
        Err(why) => {
            eprintln!("skipped: cannot make a CPU-limited cgroup here ({why})");
            return;
        }
    };
    cgroup
        .spawn(Path::new("yes"), &[], Stdio::null())
        .expect("start a CPU burner in the cgroup");
    std::thread::sleep(Duration::from_millis(300)); // let throttling settle
    let (periods0, throttled0, ns0) = cgroup.throttling();
    let start = Instant::now();
    let probe = cgroup
        .spawn(
            Path::new(env!("CARGO_BIN_EXE_dynoprobe")),
            &["signals", "--interval", "4s", "--count", "1", "--json"],
            Stdio::piped(),
        )
        .expect("start dynoprobe signals in the cgroup");
    let output = cgroup.children.remove(probe).wait_with_output().unwrap();
    let elapsed_ns = start.elapsed().as_nanos() as f64;
    let (periods1, throttled1, ns1) = cgroup.throttling();
    drop(cgroup);

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    let period_ratio = line["throttled_period_ratio"]
        .as_f64()
        .expect("throttled_period_ratio");
    let throttled = line["throttled_ratio"].as_f64().expect("throttled_ratio");
    // The kernel adds throttled time when each throttle ends, in ~70 ms steps here: over
    // 4 s that quantises the direct figure to about ±2 points.
    let direct = (ns1 - ns0) as f64 / elapsed_ns;
    eprintln!(
        "cgroup 30%: dynoprobe throttled_period_ratio {period_ratio:.3}, throttled_ratio {throttled:.3}; \
         cpu.stat directly: {}/{} periods throttled, throttled {direct:.3} of the time",
        throttled1 - throttled0,
        periods1 - periods0
    );
    assert!(period_ratio > 0.8, "throttled_period_ratio {period_ratio}");
    assert!(
        (throttled - direct).abs() <= 0.05,
        "{throttled:.3} vs cpu.stat's {direct:.3}"
    );
}
