//! `dynoprobe::sidecar::bench`: one call benchmarks a routine under criterion and writes the
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
    dynoprobe::sidecar::bench(&mut c, "helper", "sum", || {
        (0..1000u64).map(std::hint::black_box).sum::<u64>()
    });
    let read = |file: &str| -> serde_json::Value {
        let path = home.join("helper/sum/new").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        serde_json::from_str(&text).unwrap()
    };
    let sidecar = read("dynoprobe.json");
    let samples = read("sample.json");
    let iters: Vec<f64> = samples["iters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_f64().unwrap())
        .collect();
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
        dynoprobe::sidecar::bench(&mut c, "a b", "x/y", || ());
    }));
    let message = refused.expect_err("a b/x/y was taken");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("use letters, digits"), "{message}");
}
