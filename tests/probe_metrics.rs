//! The probe publishes through the `metrics` facade: a global debugging recorder sees what
//! the sampler thread publishes, with units and descriptions.
#![cfg(feature = "metrics")]

use std::time::{Duration, Instant};

use dynoprobe::Probe;
use dynoprobe::describe_metrics;
use dynoprobe::metric_names::*;
use dynoprobe::signal::catalog::SIGNALS;
use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[test]
fn the_sampler_publishes_totals_ratios_and_overshoot_with_units() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this test binary");
    describe_metrics();
    let probe = Probe::builder()
        .interval(Duration::from_millis(200))
        .sleep_jitter(true)
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while probe.latest().samples_count < 2 {
        assert!(Instant::now() < deadline, "no samples in 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let reading = probe.latest();
    drop(probe);

    let overshoot = reading.sleep_overshoot_ns.as_ref().expect("overshoot");
    assert!(
        (1..=3).contains(&overshoot.count),
        "{} wake-ups in a 200 ms interval of 100 ms sleeps",
        overshoot.count
    );
    assert!(
        overshoot.p50 < 5_000_000,
        "median lateness {} ns",
        overshoot.p50
    );

    let metrics = snapshotter.snapshot().into_vec();
    let find = |name: &str| {
        metrics
            .iter()
            .find(|(key, ..)| key.key().name() == name)
            .unwrap_or_else(|| panic!("{name} not published"))
    };
    // Always there on Linux: getrusage, schedstat's run-queue wait, and the sleeps.
    let (_, unit, description, value) = find(INVOLUNTARY_SWITCHES_TOTAL);
    assert_eq!(*unit, Some(Unit::Count));
    assert!(description.is_some());
    let DebugValue::Counter(switches) = value else {
        panic!("{INVOLUNTARY_SWITCHES_TOTAL} is not a counter")
    };
    // The sampler may publish once more between `latest()` and the drop; never less.
    assert!(*switches >= reading.totals.involuntary_switches.unwrap());
    let wait_per_s = SIGNALS
        .iter()
        .find(|d| d.field == "runqueue_wait_per_s")
        .and_then(|d| d.gauge)
        .unwrap();
    assert_eq!(wait_per_s, "dynoprobe_runqueue_wait_seconds_per_second");
    let (_, _, _, DebugValue::Gauge(per_s)) = find(wait_per_s) else {
        panic!("{wait_per_s} is not a gauge")
    };
    assert!(per_s.into_inner() >= 0.0);
    // Through the facade by default, the seconds totals are (whole-second) counters.
    let (_, unit, _, DebugValue::Counter(_)) = find(RUNQUEUE_WAIT_SECONDS_TOTAL) else {
        panic!("{RUNQUEUE_WAIT_SECONDS_TOTAL} is not a counter")
    };
    assert_eq!(*unit, Some(Unit::Seconds));
    let (_, unit, _, DebugValue::Histogram(lateness)) = find(SLEEP_OVERSHOOT_SECONDS) else {
        panic!("{SLEEP_OVERSHOOT_SECONDS} is not a histogram")
    };
    assert_eq!(*unit, Some(Unit::Seconds));
    assert!(lateness.len() >= 3, "{} wake-ups recorded", lateness.len());
    assert!(
        lateness
            .iter()
            .all(|s| (0.0..1.0).contains(&s.into_inner()))
    );
}
