//! Fixtures the unit tests share: results built from constants, never read from the
//! machine the tests run on.

use crate::signal::Signal;
use crate::signal::snapshot::Contention;

/// A `Contention` of `elapsed_ns` whose signals are each measured: the n-th field (steal 1,
/// run-queue wait 2, …) holds `value(n)`.
fn contention_of(elapsed_ns: u64, value: impl Fn(u32) -> f64) -> Contention {
    let n = |i| Signal(Ok(value(i)));
    Contention {
        elapsed_ns,
        steal_ratio: n(1),
        runqueue_wait_ratio: n(2),
        runqueue_wait_per_s: n(12),
        thread_runqueue_wait_ratio: n(3),
        involuntary_switches_per_s: n(4),
        voluntary_switches_per_s: n(5),
        throttled_period_ratio: n(6),
        throttled_ratio: n(7),
        pressure_some_ratio: n(8),
        cgroup_pressure_some_ratio: n(9),
        cpu_usage_ratio: n(10),
        process_cpu_seconds_per_s: n(11),
        steal_per_cpu_ratio: Vec::new(),
        unavailable: Default::default(),
    }
}

/// A `Contention` whose every signal holds a different number (steal 1, run-queue wait 2,
/// …), so a test can tell which field a figure came from.
pub(crate) fn numbered_contention() -> Contention {
    contention_of(1, f64::from)
}

/// A second of contention on a quiet machine: no steal, no wait, no quota, every signal
/// measured.
#[cfg(any(feature = "criterion", feature = "cli"))]
pub(crate) fn quiet_contention() -> Contention {
    contention_of(1_000_000_000, |_| 0.0)
}

/// One run's counters, off-CPU time all run-queue wait.
#[cfg(any(feature = "criterion", feature = "cli"))]
pub(crate) fn run(wall_ns: u64, on_cpu_ns: u64, preemptions: u64) -> crate::span::SpanStats {
    crate::span::SpanStats {
        wall_ns,
        on_cpu_ns,
        off_cpu_ns: wall_ns - on_cpu_ns,
        runqueue_wait_ns: Some(wall_ns - on_cpu_ns),
        preemptions: Some(preemptions),
        voluntary_switches: Some(0),
    }
}

/// Three runs of 1, 2 and 3 ms wall time, 1 ms each on the CPU, 4 MB each.
#[cfg(feature = "workloads")]
pub(crate) fn measured() -> crate::runner::Measured {
    use crate::runner::{ByRun, Measured};
    use crate::stats::Distribution;
    let of = |ns: [u64; 3]| Distribution::of(ns).expect("three runs");
    Measured {
        name: "json-serde-value",
        bytes_per_run: 4_000_000,
        runs_count: 3,
        wall_ns: of([1_000_000, 2_000_000, 3_000_000]),
        on_cpu_ns: of([1_000_000; 3]),
        off_cpu_ns: of([0, 1_000_000, 2_000_000]),
        off_cpu_ratio: 0.5,
        preempted_runs_count: Some(2),
        runqueue_wait_ratio: None,
        ns_per_op: None,
        checksum: 42,
        by_run: ByRun {
            every: 1,
            wall_ns: vec![1_000_000, 2_000_000, 3_000_000],
            on_cpu_ns: vec![1_000_000; 3],
            ns_per_op: Vec::new(),
        },
    }
}

/// A report of one measured workload on a quiet machine and a quiet verdict.
#[cfg(feature = "cli")]
pub(crate) fn report() -> crate::report::Report {
    use crate::report::{FixtureInfo, Report, SCHEMA_VERSION, WorkloadReport, kind::Kind};
    use crate::verdict::{Basis, Class, Verdict};
    Report {
        kind: Kind::Run,
        schema_version: SCHEMA_VERSION,
        machine: crate::signal::machine::Machine::default(),
        fixture: FixtureInfo {
            source: "shipped".into(),
            json_bytes: 4_000_000,
            digest: Some("fnv1a64:0123456789abcdef".into()),
        },
        workloads: vec![WorkloadReport::from_measured(measured())],
        contention: quiet_contention(),
        jitter: None,
        verdict: Verdict {
            class: Class::Quiet,
            platform: None,
            causes: Vec::new(),
            slowed: Vec::new(),
            basis: Basis {
                steal_ratio: Some(0.0),
                runqueue_wait_ratio: None,
                throttled_ratio: None,
                throttled_period_ratio: None,
                spin: None,
            },
        },
    }
}

/// A drive of one call in flight to a serve on host `h`, for tests of its summary.
#[cfg(feature = "cli")]
pub(crate) fn drive() -> crate::report::drive::Drive {
    crate::report::drive::Drive {
        url: "http://h/run?runs=1".into(),
        workload: "chase-l2".into(),
        concurrency: 1,
        busy_count: 0,
        started_unix_ms: 1_700_000_000_000,
        elapsed_ns: 9,
        fixtures: Vec::new(),
        stopped: None,
    }
}

/// A `dynoprobe serve` answer to `/run?runs=1`: one chase-l2 run of 900 ns wall time, 600 on
/// the CPU.
#[cfg(feature = "cli")]
pub(crate) const ANSWER: &str = r#"{"schema_version": 1, "workload": {"name": "chase-l2",
    "wall_ns": {"max": 900}, "on_cpu_ns": {"max": 600}, "off_cpu_ns": {"max": 300},
    "checksum": 7}, "contention": {}}"#;
