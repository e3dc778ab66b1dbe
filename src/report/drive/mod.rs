//! `dynoprobe drive`'s result: each call to a `dynoprobe serve`'s `/run?runs=1`, timed by the
//! client and split into what the server reports ([`Split`]); computed from what the CLI's
//! HTTP client received.

mod answer;
mod fleet;
mod url;

use serde::{Deserialize, Serialize};

use super::FixtureInfo;
use super::kind::Kind;
use crate::stats::{Distribution, Histogram};

pub use answer::{AnswerError, MAX_QUEUE_MS, Served, queue_time_ns};
pub use fleet::{
    InstanceSummary, OUTLIER_ALPHA, OUTLIER_MIN_CALLS, OUTLIER_MIN_INSTANCES, OUTLIER_MIN_RATIO,
    instances,
};
pub use url::{Target, UrlError, printable, run_url};

/// Version of the drive result's JSON layout; bumped when a field changes meaning or goes
/// away. Version 1: `schema_version`, `instances` (the fleet view) and `calls` (each call's
/// split) added; the fields are as before. Since added: `started_unix_ms`, `fixtures`.
/// Version 2: `instances[].ratio_to_others` and `p_value` compare the instance's median with
/// the other instances' medians (they were against the others' calls pooled, with a U test
/// over calls). Since added: `kind`, `stopped`. Version 3: they compare the instances' p90
/// runs, not their medians, and need 10 calls or more of each instance.
pub const DRIVE_SCHEMA_VERSION: u32 = 3;

/// The most calls a report keeps one by one (`calls`); beyond, every k-th is kept, so a long
/// drive's JSON stays under about a megabyte. The distributions hold every call.
pub const MAX_CALLS_KEPT: usize = 10_000;

/// One call, in ns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// When the request was sent, since the drive began.
    pub sent_ns: u64,
    /// Request sent to body read, measured by the client.
    pub latency_ns: u64,
    /// The server's `X-Queue-Time`, when it sent one that is a queue.
    pub queue_ns: Option<u64>,
    /// It sent one that is not (not a number of ms, or more than [`MAX_QUEUE_MS`]): counted,
    /// not recorded.
    pub queue_time_invalid: bool,
    /// The run's wall time on the server.
    pub run_ns: u64,
    pub on_cpu_ns: u64,
    pub off_cpu_ns: u64,
    /// The instance that answered (`None` from a `serve` older than its `instance` field).
    pub instance: Option<String>,
    /// The machine's steal and the cgroup's throttled share while the server ran the batch
    /// (its `contention`), when it could read them.
    pub steal_ratio: Option<f64>,
    pub throttled_ratio: Option<f64>,
}

/// A `drive --json` result read back (by `compare`): the one reader of that file, of the
/// fields compare needs, from every schema version that still means the same by them.
#[derive(Debug, Deserialize)]
pub struct DriveFile {
    pub schema_version: u32,
    pub workload: String,
    /// Absent before it was recorded.
    #[serde(default)]
    pub started_unix_ms: Option<u64>,
    #[serde(default)]
    pub fixtures: Vec<FixtureInfo>,
    pub calls: Vec<DriveFileCall>,
}

/// One call of a drive result, read back, ns.
#[derive(Debug, Deserialize)]
pub struct DriveFileCall {
    pub latency_ns: u64,
    pub run_ns: u64,
    pub off_cpu_ns: u64,
}

impl DriveFile {
    /// The drive result `value`; an error says why it is not one this dynoprobe reads.
    pub fn from_value(value: serde_json::Value) -> Result<DriveFile, String> {
        let file: DriveFile = serde_json::from_value(value).map_err(|e| e.to_string())?;
        // Version 1 differs only in `instances[]`, which is not read back.
        if !(1..=DRIVE_SCHEMA_VERSION).contains(&file.schema_version) {
            return Err(format!(
                "a drive result of schema_version {}; this dynoprobe reads 1 to {DRIVE_SCHEMA_VERSION}",
                file.schema_version
            ));
        }
        Ok(file)
    }
}

/// What a drive was: where, what, when, and what the server said it ran on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drive {
    pub url: String,
    pub workload: String,
    pub concurrency: u32,
    /// `429 busy` answers that were retried (not counted as calls).
    pub busy_count: u64,
    /// When the first call was sent, ms since the Unix epoch (the client's clock).
    pub started_unix_ms: u64,
    pub elapsed_ns: u64,
    /// The payloads the answers named, each once (one, unless instances serve different
    /// fixtures; none from a `serve` older than the field).
    pub fixtures: Vec<FixtureInfo>,
    /// Why the drive ended before its last call (a call that failed, a Ctrl-C); `null` when
    /// it made them all. The calls made are the report.
    pub stopped: Option<String>,
}

/// A whole drive, as `drive --json` writes it.
#[derive(Debug, Serialize)]
pub struct DriveReport {
    /// Always [`Kind::Drive`].
    pub kind: Kind,
    pub schema_version: u32,
    #[serde(flatten)]
    pub drive: Drive,
    pub calls_count: u32,
    #[serde(flatten)]
    pub split: Split,
    /// The calls by the instance that answered them (the fleet view).
    pub instances: Vec<InstanceSummary>,
    /// The calls in the order they were sent (at most [`MAX_CALLS_KEPT`], evenly thinned).
    pub calls: Vec<Call>,
}

impl DriveReport {
    /// The report of `drive`'s `calls`; `None` when there were none.
    pub fn new(drive: Drive, mut calls: Vec<Call>) -> Option<DriveReport> {
        let split = split(&calls)?;
        let instances = instances(&calls);
        calls.sort_by_key(|c| c.sent_ns);
        let calls_count = calls.len() as u32;
        let step = calls.len().div_ceil(MAX_CALLS_KEPT).max(1);
        let calls = calls.into_iter().step_by(step).collect();
        Some(DriveReport {
            kind: Kind::Drive,
            schema_version: DRIVE_SCHEMA_VERSION,
            drive,
            calls_count,
            split,
            instances,
            calls,
        })
    }
}

/// The calls' distributions, ns: the latency the client timed, split into
///
/// - **router queue**: the server's `X-Queue-Time` header, from the router's
///   `X-Request-Start` (Heroku's router sets it; a direct connection has none);
/// - **server run**: the run's wall time from the answer ([`super::batch::Batch`]), itself
///   split into the server thread's on-CPU and off-CPU time;
/// - **rest**: latency − queue − run: network, TLS, router and HTTP handling.
#[derive(Debug, Serialize)]
pub struct Split {
    /// Calls whose answer carried an `X-Queue-Time` that is a queue.
    pub queue_time_count: u64,
    /// Calls whose answer carried one that is not (see [`Call::queue_time_invalid`]).
    pub queue_time_invalid_count: u64,
    pub latency_ns: Distribution,
    pub queue_ns: Option<Distribution>,
    pub run_ns: Distribution,
    pub on_cpu_ns: Distribution,
    pub off_cpu_ns: Distribution,
    /// latency − queue − run, per call.
    pub rest_ns: Distribution,
}

/// Distributions over the calls; `None` when there were none.
pub fn split(calls: &[Call]) -> Option<Split> {
    let mut latency = Histogram::new();
    let mut queue = Histogram::new();
    let mut run = Histogram::new();
    let mut on_cpu = Histogram::new();
    let mut off_cpu = Histogram::new();
    let mut rest = Histogram::new();
    for c in calls {
        latency.record(c.latency_ns);
        if let Some(q) = c.queue_ns {
            queue.record(q);
        }
        run.record(c.run_ns);
        on_cpu.record(c.on_cpu_ns);
        off_cpu.record(c.off_cpu_ns);
        rest.record(c.rest_ns());
    }
    Some(Split {
        queue_time_count: queue.count(),
        queue_time_invalid_count: calls.iter().filter(|c| c.queue_time_invalid).count() as u64,
        latency_ns: latency.summary()?,
        queue_ns: queue.summary(),
        run_ns: run.summary()?,
        on_cpu_ns: on_cpu.summary()?,
        off_cpu_ns: off_cpu.summary()?,
        rest_ns: rest.summary()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ANSWER;
    use crate::test_support::drive;

    #[test]
    fn an_answer_is_split_into_queue_run_and_rest() {
        let served = Call::from_answer(0, 2_000, ANSWER, Some("0.0005")).unwrap();
        let call = served.call;
        assert_eq!(served.workload, "chase-l2");
        assert_eq!(served.fixture, None, "an older serve names no fixture");
        assert_eq!(call.queue_ns, Some(500));
        assert_eq!(
            (call.run_ns, call.on_cpu_ns, call.off_cpu_ns),
            (900, 600, 300)
        );
        assert_eq!(call.rest_ns(), 2_000 - 500 - 900);
        assert!(!call.queue_time_invalid);
        for bad in ["soon", "630720000146.718"] {
            let call = Call::from_answer(0, 1, ANSWER, Some(bad)).unwrap().call;
            assert_eq!(
                (call.queue_ns, call.queue_time_invalid),
                (None, true),
                "{bad}"
            );
        }
        assert!(matches!(
            Call::from_answer(0, 1, "<html>", None),
            Err(AnswerError::Body(_))
        ));
    }

    #[test]
    fn the_split_counts_queue_times_only_where_there_were_some() {
        let with = Call::from_answer(5, 2_000, ANSWER, Some("0.001"))
            .unwrap()
            .call;
        let without = Call::from_answer(1, 3_000, ANSWER, None).unwrap().call;
        let s = split(&[with.clone(), without.clone()]).unwrap();
        assert_eq!(s.queue_time_count, 1);
        assert_eq!(s.latency_ns.count, 2);
        assert_eq!(s.queue_ns.unwrap().count, 1);
        // 3000 - 900 with no queue, within the histogram's 3 significant digits.
        assert!(s.rest_ns.max.abs_diff(2_100) <= 2, "{}", s.rest_ns.max);
        assert!(split(&[]).is_none());
        let report = DriveReport::new(drive(), vec![with, without]).unwrap();
        let sent: Vec<u64> = report.calls.iter().map(|c| c.sent_ns).collect();
        assert_eq!(
            (report.calls_count, sent),
            (2, vec![1, 5]),
            "in the order sent"
        );
        assert!(DriveReport::new(drive(), Vec::new()).is_none());
    }

    #[test]
    fn a_long_drive_keeps_every_kth_call_and_counts_them_all() {
        let call = Call::from_answer(0, 2_000, ANSWER, None).unwrap().call;
        let calls: Vec<Call> = (0..25_000)
            .map(|i| Call {
                sent_ns: i,
                ..call.clone()
            })
            .collect();
        let report = DriveReport::new(drive(), calls).unwrap();
        assert_eq!(report.calls_count, 25_000);
        assert_eq!(report.split.latency_ns.count, 25_000);
        assert_eq!(report.calls.len(), 8_334, "every third");
        assert_eq!(report.calls[1].sent_ns, 3);
    }
}
