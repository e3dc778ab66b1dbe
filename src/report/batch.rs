//! `dynoprobe serve`'s batch: a `/run` request checked ([`BatchRequest`]), run on workloads
//! kept warm between batches ([`Workloads`]), and answered ([`Batch`]) with the runs'
//! distribution and the machine's contention while they ran.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use serde::Serialize;

use super::FixtureInfo;
use crate::runner::{Plan, Runs, WorkloadReport, measure_until};
use crate::signal::snapshot::{Contention, Sampler};
use crate::workload::{self, Inputs, Spec, Workload, WorkloadError};

/// Version of the batch's JSON layout; bumped when a field changes meaning or goes away.
/// Version 1: `schema_version` and `instance` added; `workload` and `contention` are as
/// before. Since added: `fixture`, `runs_requested`, `cut_short`.
pub const BATCH_SCHEMA_VERSION: u32 = 1;
/// `runs` when the request does not say.
pub const DEFAULT_RUNS: u32 = 100;
/// The most runs one request may ask for.
pub const MAX_BATCH_RUNS: u32 = 10_000;
/// `workload` when the request does not say: decrypt then parse, a typical API endpoint.
pub const DEFAULT_WORKLOAD: &str = "decrypt-parse";

/// The `/run` answer: the runs' distribution and the contention while they ran.
#[derive(Debug, Serialize)]
pub struct Batch {
    pub schema_version: u32,
    /// Which instance ran it (`DYNO` on Heroku, else the host name, or `serve --instance`),
    /// so a client behind a random router can tell the instances apart.
    pub instance: Option<String>,
    /// The payload the JSON and decrypt workloads run on, so results of different payloads
    /// are not compared.
    pub fixture: FixtureInfo,
    /// The runs asked for; `workload.runs_count` is the runs done, fewer when cut short.
    pub runs_requested: u32,
    /// Why the batch ended before its runs were done, if it did.
    pub cut_short: Option<CutShort>,
    pub workload: WorkloadReport,
    pub contention: Contention,
}

/// Why a batch ended early: it answers with the runs it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CutShort {
    /// It reached the server's time budget per batch (under a router's timeout).
    Budget,
    /// Its client went away; nobody reads the answer.
    ClientGone,
    /// The server is stopping (SIGTERM).
    ShuttingDown,
}

/// A `/run` request, checked.
#[derive(Debug)]
pub struct BatchRequest {
    pub spec: &'static Spec,
    pub runs: u32,
}

impl BatchRequest {
    /// Checks `/run`'s parameters, in the order given: a parameter given twice is refused,
    /// since which one counts would be a guess.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<BatchRequest, String> {
        let mut params = HashMap::new();
        for (key, value) in pairs {
            if params.insert(key.clone(), value.clone()).is_some() {
                return Err(format!("parameter {key:?} given more than once"));
            }
        }
        BatchRequest::from_params(&params)
    }

    /// Checks `/run`'s parameters: `workload` (a name from `dynoprobe run --list`) and
    /// `runs` (1 to [`MAX_BATCH_RUNS`]); anything else is refused, so a typo is not
    /// silently ignored. The error is a sentence for the client.
    pub fn from_params(params: &HashMap<String, String>) -> Result<BatchRequest, String> {
        if let Some(unknown) = params
            .keys()
            .find(|k| !["workload", "runs"].contains(&k.as_str()))
        {
            return Err(format!(
                "unknown parameter {unknown:?}; /run takes workload and runs"
            ));
        }
        let name = params
            .get("workload")
            .map_or(DEFAULT_WORKLOAD, String::as_str);
        let spec = workload::lookup(name).map_err(|unknown| unknown.to_string())?;
        let runs = match params.get("runs") {
            None => DEFAULT_RUNS,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n @ 1..=MAX_BATCH_RUNS) => n,
                _ => {
                    return Err(format!(
                        "runs must be a whole number from 1 to {MAX_BATCH_RUNS}; got {text:?}"
                    ));
                }
            },
        };
        Ok(BatchRequest { spec, runs })
    }
}

/// Why a batch has no answer.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("{0} panicked during the batch")]
    Panicked(&'static str),
    #[error(
        "not enough memory to run {workload}: it needs {:.0} MiB more, and the allocator \
         cannot get them (a limit on address space, or strict overcommit)",
        *bytes as f64 / 1_048_576.0
    )]
    NoMemory { workload: &'static str, bytes: u64 },
}

/// Workloads prepared on first use and kept warm, so a batch needs no warm-up; when memory
/// runs short, the others are dropped before a batch is refused. One thread
/// owns them and runs every batch: the same thread every time, so batches are alike and
/// freed memory is reused rather than spread over allocator arenas.
pub struct Workloads {
    inputs: Inputs,
    fixture: FixtureInfo,
    instance: Option<String>,
    prepared: HashMap<&'static str, Box<dyn Workload>>,
    sampler: Sampler,
}

impl Workloads {
    /// Workloads on `inputs`, whose batches say they ran on `instance`.
    pub fn new(inputs: Inputs, instance: Option<String>) -> Workloads {
        Workloads {
            fixture: FixtureInfo::of(&inputs.fixture),
            inputs,
            instance,
            prepared: HashMap::new(),
            sampler: Sampler::new(),
        }
    }

    /// Runs one batch and measures the machine's contention around it; after each run,
    /// `stop` may end it early, and the batch says why. A panic becomes an error, and the
    /// workload, which may be half-updated, is dropped to be prepared afresh, so the thread
    /// lives on.
    pub fn run(
        &mut self,
        request: &BatchRequest,
        stop: &dyn Fn() -> Option<CutShort>,
    ) -> Result<Batch, BatchError> {
        let name = request.spec.name;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_once(request, stop)
        }));
        outcome.unwrap_or_else(|_| {
            self.prepared.remove(name);
            Err(BatchError::Panicked(name))
        })
    }

    fn run_once(
        &mut self,
        request: &BatchRequest,
        stop: &dyn Fn() -> Option<CutShort>,
    ) -> Result<Batch, BatchError> {
        let name = request.spec.name;
        let footprint = request.spec.footprint(&self.inputs);
        let needed = if self.prepared.contains_key(name) {
            footprint.run
        } else {
            footprint.prepare
        };
        if !room_for(needed) {
            // The other workloads kept warm give their memory back first: each is prepared
            // again on its next batch.
            self.prepared.retain(|kept, _| *kept == name);
            if !room_for(needed) {
                return Err(BatchError::NoMemory {
                    workload: name,
                    bytes: needed,
                });
            }
        }
        let workload = match self.prepared.entry(request.spec.name) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(request.spec.prepare(&self.inputs)?),
        };
        let plan = Plan {
            runs: Runs::Exactly(request.runs),
            warmup: Duration::ZERO,
            ..Plan::default()
        };
        let before = self.sampler.take();
        let mut cut_short = None;
        let mut stopping = || {
            cut_short = stop();
            cut_short.is_some()
        };
        let measured = measure_until(workload.as_mut(), &plan, &mut |_| {}, &mut stopping)?;
        let contention = self.sampler.take().since(&before);
        Ok(Batch {
            schema_version: BATCH_SCHEMA_VERSION,
            instance: self.instance.clone(),
            fixture: self.fixture.clone(),
            runs_requested: request.runs,
            cut_short,
            workload: WorkloadReport::from_measured(measured),
            contention,
        })
    }
}

/// Whether `bytes` more could be allocated now: asks the allocator for them and gives them
/// back at once, untouched, so the check costs no memory. Where an allocation would fail (a
/// limit on address space, strict overcommit) it fails here, and the batch is refused,
/// rather than in the batch, which would abort the server. A cgroup's memory limit is not
/// seen this way: there the kernel grants the address space and reclaims, or kills, later.
fn room_for(bytes: u64) -> bool {
    let Ok(bytes) = usize::try_from(bytes) else {
        return false;
    };
    Vec::<u8>::new().try_reserve_exact(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn requests_default_and_refuse_nonsense() {
        let ok = BatchRequest::from_params(&params(&[])).unwrap();
        assert_eq!((ok.spec.name, ok.runs), (DEFAULT_WORKLOAD, DEFAULT_RUNS));
        let ok =
            BatchRequest::from_params(&params(&[("workload", "chase-l2"), ("runs", "1")])).unwrap();
        assert_eq!((ok.spec.name, ok.runs), ("chase-l2", 1));
        let most = BatchRequest::from_params(&params(&[("runs", "10000")])).unwrap();
        assert_eq!(most.runs, 10_000);
        for runs in ["0", "10001", "1e12", "-1", "", "many", "99999999999"] {
            let message = BatchRequest::from_params(&params(&[("runs", runs)])).unwrap_err();
            assert!(message.contains("from 1 to 10000"), "{runs}: {message}");
        }
        let unknown = BatchRequest::from_params(&params(&[("workload", "nope")])).unwrap_err();
        assert!(unknown.contains("chase-l2"), "{unknown}");
        let typo = BatchRequest::from_params(&params(&[("run", "5")])).unwrap_err();
        assert!(typo.contains("unknown parameter"), "{typo}");
    }

    proptest::proptest! {
        #[test]
        fn any_request_is_checked_without_panicking(
            pairs in proptest::collection::vec(("[a-z]{0,9}", ".{0,12}"), 0..4)
        ) {
            let params: HashMap<String, String> = pairs.into_iter().collect();
            if let Ok(request) = BatchRequest::from_params(&params) {
                proptest::prop_assert!((1..=MAX_BATCH_RUNS).contains(&request.runs));
                proptest::prop_assert!(params.keys().all(|k| k == "workload" || k == "runs"));
            }
        }
    }

    #[test]
    fn a_batch_runs_exactly_the_runs_asked_and_keeps_the_workload_warm() {
        let mut workloads = Workloads::new(Inputs::shipped(), Some("web.1".into()));
        let request =
            BatchRequest::from_params(&params(&[("workload", "chase-l2"), ("runs", "3")])).unwrap();
        let batch = workloads.run(&request, &|| None).unwrap();
        assert_eq!(batch.schema_version, BATCH_SCHEMA_VERSION);
        assert_eq!(batch.instance.as_deref(), Some("web.1"));
        assert_eq!(batch.fixture, FixtureInfo::of(&Inputs::shipped().fixture));
        assert_eq!(batch.workload.measured.runs_count, 3);
        assert_eq!(batch.workload.measured.wall_ns.count, 3);
        assert!(batch.contention.elapsed_ns > 0);
        assert_eq!(workloads.prepared.len(), 1);
        let again = workloads.run(&request, &|| None).unwrap();
        assert_eq!(
            again.workload.measured.checksum, batch.workload.measured.checksum,
            "same work"
        );
        assert_eq!(workloads.prepared.len(), 1, "prepared once");
        assert_eq!((batch.runs_requested, batch.cut_short), (3, None));
        let cut = workloads.run(&request, &|| Some(CutShort::Budget)).unwrap();
        assert_eq!(cut.cut_short, Some(CutShort::Budget));
        assert_eq!(
            (cut.runs_requested, cut.workload.measured.runs_count),
            (3, 1),
            "the run in progress ends, no more"
        );
    }

    #[test]
    fn a_parameter_given_twice_is_refused() {
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let twice = BatchRequest::from_pairs(&pairs(&[("runs", "1"), ("runs", "10000")]));
        assert_eq!(
            twice.unwrap_err(),
            "parameter \"runs\" given more than once"
        );
        let once = BatchRequest::from_pairs(&pairs(&[("runs", "2"), ("workload", "chase-l2")]));
        assert_eq!(once.unwrap().runs, 2);
    }
}
