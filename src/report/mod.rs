//! The reports of `run` and `jitter` (the JSON schema the README documents) and the functions
//! that assemble them ([`run()`], [`jitter()`]); [`crate::render`] writes them as text. Every
//! numeric field names its unit; anything not measured is `null`, never 0.

use serde::{Deserialize, Serialize};

use crate::jitter::Jitter;
pub use crate::runner::WorkloadReport;
use crate::signal::machine::Machine;
use crate::signal::snapshot::Contention;
use crate::verdict::Verdict;
#[cfg(feature = "workloads")]
use crate::workload::fixture::{Fixture, Origin};

#[cfg(feature = "workloads")]
pub mod batch;
#[cfg(feature = "workloads")]
pub mod columns;
pub mod compare;
#[cfg(feature = "workloads")]
pub mod drive;
mod jitter;
pub mod kind;
#[cfg(feature = "workloads")]
mod run;
#[cfg(feature = "workloads")]
pub mod run_file;

pub use jitter::{JitterPlan, JitterReport, SLEEP_PHASE, jitter};
#[cfg(feature = "workloads")]
pub use run::{
    Budget, MAX_PROCESSES, ReferenceError, ReplicateOutcome, RunError, RunEvent, RunPlan,
    measure_replicate, reference_medians, run,
};
#[cfg(feature = "workloads")]
pub use run_file::REFERENCE_MIN_SCHEMA;

/// Version of the JSON layout; bumped when a field changes meaning or goes away.
/// Version 2: `jitter` holds the ledger and per-cause gaps, `preemptions_count` counts only
/// gaps the thread was switched out for, `verdict.causes` lists costs, and the reference for
/// `slowed` is `workloads[].ns_per_op`. Version 3: the verdict holds numbers, not prose:
/// `verdict.summary` and `verdict.evidence` are gone, `verdict.slowed` and `verdict.basis`
/// hold what they said. Version 4: a sixth cause, `interrupt` (the guest kernel's own
/// interrupts, told from host pauses), in the ledger, `causes` and `verdict.platform`, whose
/// shares are now named as the ledger's (`stolen_ratio`, `preempted_ratio`,
/// `throttled_ratio`…); `jitter.min_delta_ns` became `read_delta_ns` (the median read delta);
/// `machine.accounting` and `jitter.interrupts` say how gaps were attributed. Version 5: each
/// workload is measured in several independent worker processes (replicates):
/// `workloads[].replicates[]` holds each one's summary, and the workload's distributions pool
/// all their runs; `by_run.on_cpu_ns` keeps each run's CPU time. Since added: `kind`,
/// `machine.aes_backend`.
pub const SCHEMA_VERSION: u32 = 5;

/// A whole `dynoprobe run`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always [`Kind::Run`](kind::Kind::Run).
    pub kind: kind::Kind,
    pub schema_version: u32,
    pub machine: Machine,
    pub fixture: FixtureInfo,
    pub workloads: Vec<WorkloadReport>,
    /// The kernel's contention counters over the whole run.
    pub contention: Contention,
    /// The spin phase, when there was one.
    pub jitter: Option<Jitter>,
    pub verdict: Verdict,
}

/// Which JSON the JSON and decrypt workloads ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureInfo {
    /// `shipped` (fixtures/payload.json) or the path given with `--fixture`.
    pub source: String,
    pub json_bytes: u64,
    /// [`Fixture::digest`](crate::workload::Fixture::digest) of the JSON: a reference or a
    /// comparison refuses reports of another payload.
    pub digest: Option<String>,
}

#[cfg(feature = "workloads")]
impl FixtureInfo {
    pub fn of(fixture: &Fixture) -> FixtureInfo {
        let source = match &fixture.origin {
            Origin::Shipped => "shipped".to_string(),
            Origin::File(path) => path.display().to_string(),
        };
        FixtureInfo {
            source,
            json_bytes: fixture.json.len() as u64,
            digest: Some(fixture.digest()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::report;

    #[test]
    fn json_carries_units_and_nulls_for_what_was_not_measured() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(
            (&json["kind"], &json["schema_version"]),
            (&"run".into(), &5.into())
        );
        assert_eq!(json["workloads"][0]["replicates"][0]["runs_count"], 3);
        assert!(json["workloads"][0]["ns_per_op"].is_null());
        assert!(json["workloads"][0]["other_off_cpu_ratio"].is_null());
        let w = &json["workloads"][0];
        assert_eq!(w["runs_count"], 3);
        let p50 = w["wall_ns"]["p50"].as_u64().unwrap();
        assert!(p50.abs_diff(2_000_000) < 2_000, "{p50}");
        assert_eq!(w["on_cpu_ns"]["count"], 3);
        assert_eq!(w["off_cpu_ratio"], 0.5);
        assert_eq!(w["preempted_runs_count"], 2);
        assert!(w["runqueue_wait_ratio"].is_null());
        assert!(json["contention"]["elapsed_ns"].as_u64().is_some());
        assert!(json["machine"]["kernel"].is_null());
        assert_eq!(json["fixture"]["source"], "shipped");
        let v = &json["verdict"];
        assert_eq!(v["class"], "quiet");
        assert_eq!(v["basis"]["steal_ratio"], 0.0);
        assert!(v["basis"]["spin"].is_null());
        assert!(v.get("summary").is_none(), "prose is the renderer's: {v}");
    }
}
