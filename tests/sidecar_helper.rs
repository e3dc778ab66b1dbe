//! `dynoprobe::bench`: one call benchmarks a routine under criterion and writes the
//! sidecar, whose runs are exactly criterion's samples' iterations. Runs criterion in
//! process, into a temporary CRITERION_HOME (its own test binary: the variable is the
//! process's).
#![cfg(feature = "criterion")]

use std::time::Duration;

#[test]
fn the_sidecar_holds_exactly_criterions_samples() {
    let home = std::env::temp_dir().join(format!("dynoprobe-helper-{}", std::process::id()));
    // SAFETY: this test binary runs this one test; no other thread reads the environment.
    unsafe { std::env::set_var("CRITERION_HOME", &home) };
    let mut c = criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(300))
        .without_plots();
    dynoprobe::bench(&mut c, "helper", "sum", || {
        (0..1000u64).map(std::hint::black_box).sum::<u64>()
    });
    let mut cpu = criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(300))
        .without_plots()
        .with_measurement(dynoprobe::ThreadCpuTime);
    dynoprobe::bench(&mut cpu, "helper", "cpu", || {
        (0..1000u64).map(std::hint::black_box).sum::<u64>()
    });
    let read_in = |id: &str, file: &str| -> serde_json::Value {
        let path = home.join(id).join("new").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        serde_json::from_str(&text).unwrap()
    };
    let read = |file: &str| read_in("helper/sum", file);
    let sidecar = read("dynoprobe.json");
    let samples = read("sample.json");
    let numbers = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_f64().unwrap())
            .collect()
    };
    let iters = numbers(&samples["iters"]);
    // criterion's times are the sum of the spans' times in the measured time: wall here,
    // the thread's CPU time with ThreadCpuTime. The sidecar's means are HDR-histogram
    // means (3 significant digits), hence the 1% tolerance.
    let total = |sidecar: &serde_json::Value, field: &str| {
        sidecar[field]["mean"].as_f64().unwrap() * sidecar["runs_count"].as_f64().unwrap()
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * b;
    let times: f64 = numbers(&samples["times"]).iter().sum();
    assert_eq!(sidecar["measured_time"], "wall");
    assert!(
        close(times, total(&sidecar, "wall_ns")),
        "{times} ns in criterion"
    );
    let cpu_sidecar = read_in("helper/cpu", "dynoprobe.json");
    let cpu_times: f64 = numbers(&read_in("helper/cpu", "sample.json")["times"])
        .iter()
        .sum();
    assert_eq!(cpu_sidecar["measured_time"], "thread_cpu");
    assert!(
        close(cpu_times, total(&cpu_sidecar, "on_cpu_ns")),
        "{cpu_times} ns in criterion"
    );
    #[cfg(feature = "cli")]
    {
        use dynoprobe::sidecar::MeasuredTime;
        let found = dynoprobe::baseline::read_dir(&home).unwrap();
        let times: Vec<(&str, MeasuredTime)> = (found.baselines["new"].iter())
            .map(|b| (b.id.as_str(), b.measured_time))
            .collect();
        assert_eq!(
            times,
            [
                ("helper/cpu", MeasuredTime::ThreadCpu),
                ("helper/sum", MeasuredTime::Wall)
            ]
        );
    }
    std::fs::remove_dir_all(&home).unwrap();
    assert_eq!(iters.len(), dynoprobe::sidecar::DEFAULT_SAMPLES);
    assert_eq!(sidecar["benchmark"], "helper/sum");
    assert_eq!(
        sidecar["runs_count"].as_f64().unwrap(),
        iters.iter().sum::<f64>(),
        "the sidecar's runs are criterion's samples' iterations"
    );

    // A name criterion would rewrite in its directory names is refused.
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dynoprobe::bench(&mut c, "a b", "x/y", || ());
    }));
    let message = refused.expect_err("a b/x/y was taken");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("use letters, digits"), "{message}");
}
