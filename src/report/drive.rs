//! `dynoprobe drive`'s result: each call to a `dynoprobe serve`'s `/run?runs=1`, timed by the
//! client and split into what the server reports ([`Split`]); computed from what the CLI's
//! HTTP client received.

use serde::{Deserialize, Serialize};

use super::FixtureInfo;
use super::kind::Kind;
use crate::credentials::Credentials;
use crate::effect::{geometric_mean, outlier_p};
use crate::queue_time::MAX_QUEUE;
use crate::stats::{Distribution, Histogram, Quartiles};
use crate::workload;

/// Version of the drive result's JSON layout; bumped when a field changes meaning or goes
/// away. Version 1: `schema_version`, `instances` (the fleet view) and `calls` (each call's
/// split) added; the fields are as before. Since added: `started_unix_ms`, `fixtures`.
/// Version 2: `instances[].ratio_to_others` and `p_value` compare the instance's median with
/// the other instances' medians (they were against the others' calls pooled, with a U test
/// over calls). Since added: `kind`, `stopped`.
pub const DRIVE_SCHEMA_VERSION: u32 = 2;

/// The longest `X-Queue-Time` taken as a queue: the library's [`MAX_QUEUE`]; more is a
/// broken clock, not a wait.
pub const MAX_QUEUE_MS: f64 = MAX_QUEUE.as_millis() as f64;

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

/// Why an answer could not be read as a `/run` answer.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("not a dynoprobe serve /run answer: {0}")]
    Body(serde_json::Error),
}

/// The part of a `/run` answer that drive reads; an older or newer server's extra fields
/// are ignored.
#[derive(Deserialize)]
struct Answer {
    workload: RunTimes,
    #[serde(default)]
    instance: Option<String>,
    #[serde(default)]
    fixture: Option<FixtureInfo>,
    #[serde(default)]
    contention: Option<AnswerContention>,
}

/// What one answer said: the call, and the workload and payload the server ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub call: Call,
    pub workload: String,
    /// `None` from a `serve` older than its `fixture` field.
    pub fixture: Option<FixtureInfo>,
}

#[derive(Deserialize)]
struct AnswerContention {
    steal_ratio: Option<f64>,
    throttled_ratio: Option<f64>,
}

#[derive(Deserialize)]
struct RunTimes {
    name: String,
    wall_ns: Max,
    on_cpu_ns: Max,
    off_cpu_ns: Max,
}

#[derive(Deserialize)]
struct Max {
    max: u64,
}

impl Call {
    /// A call from its latency, the answer's body and its `X-Queue-Time` header; with the
    /// workload and payload the server ran. A one-run batch's `max` is that run.
    pub fn from_answer(
        sent_ns: u64,
        latency_ns: u64,
        body: &str,
        queue_time: Option<&str>,
    ) -> Result<Served, AnswerError> {
        let answer: Answer = serde_json::from_str(body).map_err(AnswerError::Body)?;
        let queue_ns = queue_time.and_then(queue_time_ns);
        let runs = answer.workload;
        let seen = answer.contention;
        let call = Call {
            sent_ns,
            latency_ns,
            queue_ns,
            queue_time_invalid: queue_time.is_some() && queue_ns.is_none(),
            run_ns: runs.wall_ns.max,
            on_cpu_ns: runs.on_cpu_ns.max,
            off_cpu_ns: runs.off_cpu_ns.max,
            instance: answer.instance.as_deref().map(printable),
            steal_ratio: seen.as_ref().and_then(|s| s.steal_ratio),
            throttled_ratio: seen.as_ref().and_then(|s| s.throttled_ratio),
        };
        Ok(Served {
            call,
            workload: printable(&runs.name),
            fixture: answer.fixture.map(|f| FixtureInfo {
                source: printable(&f.source),
                ..f
            }),
        })
    }

    /// Latency − queue − run: network, TLS, router and HTTP handling.
    pub fn rest_ns(&self) -> u64 {
        self.latency_ns
            .saturating_sub(self.queue_ns.unwrap_or(0))
            .saturating_sub(self.run_ns)
    }
}

/// `X-Queue-Time` is milliseconds with a fraction (the queue-time layer writes `12.345`);
/// more than [`MAX_QUEUE_MS`] is refused.
pub fn queue_time_ns(text: &str) -> Option<u64> {
    let ms: f64 = text.trim().parse().ok()?;
    (0.0..=MAX_QUEUE_MS)
        .contains(&ms)
        .then(|| (ms * 1e6).round() as u64)
}

/// Why a URL cannot be driven.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("expected an http:// or https:// URL of a dynoprobe serve; got '{0}'")]
    Scheme(String),
    #[error("'{0}' has no host")]
    Host(String),
    #[error("'{url}': port {port} is not a port number (1 to 65535)")]
    Port { url: String, port: String },
    #[error(
        "'{0}': give the server's base URL without a ?query or #fragment; drive asks for \
         /run?runs=1 and --workload itself"
    )]
    Query(String),
    #[error(transparent)]
    Workload(#[from] workload::UnknownWorkload),
}

/// What a drive calls: its `/run` URL, without the credentials the base URL carried
/// (`user:password@`), which are kept apart so that they are never printed or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub credentials: Option<Credentials>,
}

/// `text` from a server, fit for a terminal: each control character (an ANSI escape's ESC,
/// BEL, CR) written as its escape (`\u{1b}`), so that a hostile server cannot retitle the
/// window or redraw lines through a name it sends.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `BASE/run?runs=1[&workload=NAME]`; the base may be given with or without `/run`. Its
/// port, when given, is checked (an out-of-range port made the client use port 80). Its
/// credentials are taken out first: no error names them either.
pub fn run_url(base: &str, workload: Option<&str>) -> Result<Target, UrlError> {
    let (given, credentials) = crate::credentials::split(base.trim());
    let given = given.as_str();
    let Some((scheme, rest)) = given
        .split_once("://")
        .filter(|(scheme, _)| ["http", "https"].contains(scheme))
    else {
        return Err(UrlError::Scheme(given.into()));
    };
    let rest = rest.trim_end_matches('/');
    let base = &format!("{scheme}://{rest}");
    if base.contains(['?', '#']) {
        return Err(UrlError::Query(base.into()));
    }
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err(UrlError::Host(base.into()));
    }
    // The port follows the last `:`, unless that is inside an IPv6 address's brackets.
    if let Some((_, port)) = host_port.rsplit_once(':').filter(|(_, p)| !p.contains(']'))
        && !matches!(port.parse::<u16>(), Ok(1..))
    {
        return Err(UrlError::Port {
            url: base.into(),
            port: port.into(),
        });
    }
    let base = base.strip_suffix("/run").unwrap_or(base);
    let mut url = format!("{base}/run?runs=1");
    if let Some(name) = workload {
        workload::lookup(name)?;
        url.push_str("&workload=");
        url.push_str(name);
    }
    Ok(Target { url, credentials })
}

/// An instance is an outlier when its median run lies outside the spread of the other
/// instances' medians (the two-sided p of [`outlier_p`] below this: each instance is one
/// replicate, since the calls one process answers share its state, and a test over calls
/// flagged identical instances)…
pub const OUTLIER_ALPHA: f64 = 0.05;
/// …and its median run is at least this many times theirs: a difference that matters, not
/// only one the test can see. Between two runs of the same class here, medians moved by up to
/// 1.2× (the README's `drive` and `run` figures); 1.3× is above that.
pub const OUTLIER_MIN_RATIO: f64 = 1.3;
/// The fewest instances among which one can be an outlier: the others must be at least
/// two to show how far identical instances differ.
pub const OUTLIER_MIN_INSTANCES: usize = crate::effect::MIN_REPLICATES + 1;

/// The calls one instance answered, and how it compares with the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceSummary {
    /// `None`: the answers named no instance (a `serve` older than the field).
    pub instance: Option<String>,
    pub calls_count: u64,
    /// The server's run time per call.
    pub run_ns: Distribution,
    /// Off-CPU time / run time, over its calls.
    pub off_cpu_ratio: f64,
    /// Mean over its calls of the steal and throttled shares the server saw.
    pub steal_ratio: Option<f64>,
    pub throttled_ratio: Option<f64>,
    /// Its median run / the geometric mean of the other instances' median runs.
    pub ratio_to_others: Option<f64>,
    /// How far its median run lies from the others' ([`outlier_p`], two-sided); `None` with
    /// fewer than two others.
    pub p_value: Option<f64>,
    /// Slower than the rest by more than identical instances differ: p below
    /// [`OUTLIER_ALPHA`] and at least [`OUTLIER_MIN_RATIO`] × their median.
    pub outlier: bool,
}

/// The calls grouped by instance, in name order, each compared with all the others.
pub fn instances(calls: &[Call]) -> Vec<InstanceSummary> {
    let mut groups: std::collections::BTreeMap<Option<&str>, Vec<&Call>> = Default::default();
    for call in calls {
        groups
            .entry(call.instance.as_deref())
            .or_default()
            .push(call);
    }
    let medians: Vec<Option<f64>> = groups
        .values()
        .map(|mine| {
            let runs: Vec<f64> = mine.iter().map(|c| c.run_ns as f64).collect();
            Quartiles::of(&runs).map(|q| q.median_ns)
        })
        .collect();
    groups
        .iter()
        .zip(&medians)
        .enumerate()
        .filter_map(|(at, ((name, mine), median))| {
            let others: Vec<f64> = (medians.iter().enumerate())
                .filter_map(|(i, m)| m.filter(|_| i != at))
                .collect();
            let ratio_to_others = median
                .zip(geometric_mean(&others))
                .map(|(m, theirs)| m / theirs);
            let p_value = median.and_then(|m| outlier_p(m, &others));
            let run_ns = Distribution::of(mine.iter().map(|c| c.run_ns))?;
            let mean = |pick: fn(&Call) -> Option<f64>| {
                let seen: Vec<f64> = mine.iter().filter_map(|c| pick(c)).collect();
                (!seen.is_empty()).then(|| seen.iter().sum::<f64>() / seen.len() as f64)
            };
            let total = |pick: fn(&Call) -> u64| mine.iter().map(|c| pick(c)).sum::<u64>();
            Some(InstanceSummary {
                instance: name.map(String::from),
                calls_count: mine.len() as u64,
                run_ns,
                off_cpu_ratio: total(|c| c.off_cpu_ns) as f64 / total(|c| c.run_ns).max(1) as f64,
                steal_ratio: mean(|c| c.steal_ratio),
                throttled_ratio: mean(|c| c.throttled_ratio),
                ratio_to_others,
                p_value,
                outlier: p_value.is_some_and(|p| p < OUTLIER_ALPHA)
                    && ratio_to_others.is_some_and(|r| r >= OUTLIER_MIN_RATIO),
            })
        })
        .collect()
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
    use crate::test_support::drive;

    const ANSWER: &str = r#"{"schema_version": 1, "workload": {"name": "chase-l2",
        "wall_ns": {"max": 900}, "on_cpu_ns": {"max": 600}, "off_cpu_ns": {"max": 300},
        "checksum": 7}, "contention": {}}"#;

    proptest::proptest! {
        #[test]
        fn any_queue_time_header_parses_or_is_refused(text in ".{0,24}") {
            if let Some(ns) = queue_time_ns(&text) {
                let ms: f64 = text.trim().parse().unwrap();
                proptest::prop_assert!((ns as f64 - ms * 1e6).abs() <= 0.5 + ms * 1e-9);
            }
        }

        #[test]
        fn any_body_is_refused_or_read_without_panicking(body in ".{0,200}") {
            let _ = Call::from_answer(0, 1, &body, None);
        }
    }

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
    fn the_slow_instance_is_the_outlier_and_the_others_are_not() {
        let call = Call::from_answer(0, 2_000, ANSWER, None).unwrap().call;
        let on = |instance: &str, run_ns: u64| Call {
            instance: Some(instance.into()),
            run_ns,
            off_cpu_ns: run_ns / 4,
            steal_ratio: Some(0.01),
            ..call.clone()
        };
        let mut calls = Vec::new();
        for i in 0..20 {
            calls.push(on("web.1", 1_000_000 + i * 1_000));
            calls.push(on("web.2", 1_020_000 + i * 1_000));
            calls.push(on("web.3", 990_000 + i * 1_000));
            calls.push(on("web.4", 1_500_000 + i * 1_000));
        }
        let fleet = instances(&calls);
        let names: Vec<_> = fleet.iter().map(|i| i.instance.clone().unwrap()).collect();
        assert_eq!(names, ["web.1", "web.2", "web.3", "web.4"]);
        let outliers: Vec<bool> = fleet.iter().map(|i| i.outlier).collect();
        assert_eq!(outliers, [false, false, false, true]);
        let slow = &fleet[3];
        assert_eq!(slow.calls_count, 20);
        // Nearest-rank medians (the 10th of 20 runs): 1.509 ms against 1.009, 1.029 and
        // 0.999 ms; p as scipy gives it for those four medians.
        let others = [1_009_000.0f64, 1_029_000.0, 999_000.0];
        let geometric = (others.iter().map(|m| m.ln()).sum::<f64>() / 3.0).exp();
        assert!((slow.ratio_to_others.unwrap() - 1_509_000.0 / geometric).abs() < 1e-9);
        assert!(
            (slow.p_value.unwrap() - 0.001_890_34).abs() < 1e-8,
            "{:?}",
            slow.p_value
        );
        assert!((slow.off_cpu_ratio - 0.25).abs() < 1e-3);
        assert!((slow.steal_ratio.unwrap() - 0.01).abs() < 1e-12);
    }

    /// Each instance is one replicate: a difference between identical instances that the
    /// many calls of each would call significant is no outlier unless it is beyond the spread
    /// between instances and 1.3× or more.
    #[test]
    fn an_instance_is_judged_by_its_median_against_the_others_not_by_its_calls() {
        let call = Call::from_answer(0, 2_000, ANSWER, None).unwrap().call;
        let on = |instance: &str, run_ns: u64| Call {
            instance: Some(instance.into()),
            run_ns,
            ..call.clone()
        };
        // 1.35× apart, but so are the others between themselves.
        let mut calls = Vec::new();
        for i in 0..100 {
            calls.push(on("web.1", 1_000_000 + i));
            calls.push(on("web.2", 1_300_000 + i));
            calls.push(on("web.3", 1_350_000 * 1_300_000 / 1_000_000 + i));
        }
        let fleet = instances(&calls);
        assert!(fleet.iter().all(|i| !i.outlier), "{fleet:?}");
        assert!(fleet[2].ratio_to_others.unwrap() > OUTLIER_MIN_RATIO);
        // Two instances: nothing to tell which of them differs.
        let two: Vec<Call> = calls
            .iter()
            .filter(|c| c.instance.as_deref() != Some("web.2"))
            .cloned()
            .collect();
        let fleet = instances(&two);
        assert_eq!((fleet[1].p_value, fleet[1].outlier), (None, false));
        assert!(fleet[1].ratio_to_others.unwrap() > 1.7);
    }

    #[test]
    fn one_instance_or_none_named_has_nothing_to_compare_with() {
        let call = Call::from_answer(0, 2_000, ANSWER, None).unwrap().call;
        let fleet = instances(&[call.clone(), call]);
        assert_eq!(fleet.len(), 1);
        assert_eq!(fleet[0].instance, None, "an older serve names no instance");
        assert_eq!(
            (fleet[0].p_value, fleet[0].ratio_to_others, fleet[0].outlier),
            (None, None, false)
        );
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

    #[test]
    fn urls_get_the_run_path_and_a_known_workload() {
        assert_eq!(
            run_url("http://127.0.0.1:8080/", None).unwrap().url,
            "http://127.0.0.1:8080/run?runs=1"
        );
        assert_eq!(
            run_url("https://x.herokuapp.com/run", Some("chase-l2"))
                .unwrap()
                .url,
            "https://x.herokuapp.com/run?runs=1&workload=chase-l2"
        );
        assert!(
            run_url("x.herokuapp.com", None)
                .unwrap_err()
                .to_string()
                .contains("http://")
        );
        assert!(
            run_url("http://h", Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("chase-l2")
        );
        assert_eq!(
            run_url("http://[::1]:8080", None).unwrap().url,
            "http://[::1]:8080/run?runs=1"
        );
        for (bad, says) in [
            ("http://127.0.0.1:99999", "port 99999 is not a port number"),
            ("http://127.0.0.1:0", "port 0"),
            ("http://h:x", "port x"),
            ("http://h/run?runs=5", "without a ?query"),
            ("http://h#top", "without a ?query"),
            ("http://", "has no host"),
            ("http://:80", "has no host"),
            ("ftp://h", "http://"),
            ("http://u:hunter2@h:0", "'http://h:0': port 0"),
        ] {
            let error = run_url(bad, None).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let target = run_url("http://admin:hunter2@h:8080", None).unwrap();
        assert_eq!(target.url, "http://h:8080/run?runs=1");
        assert!(
            target
                .credentials
                .is_some_and(|c| c.basic().starts_with("Basic "))
        );
    }

    #[test]
    fn a_servers_names_lose_their_control_bytes() {
        let hostile = ANSWER.replace("chase-l2", "chase\\u001b[31m-l2").replacen(
            '{',
            r#"{"instance": "\u001b]0;owned\u0007web\r.1", "#,
            1,
        );
        let served = Call::from_answer(0, 2_000, &hostile, None).unwrap();
        assert_eq!(served.workload, "chase\\u{1b}[31m-l2");
        assert_eq!(
            served.call.instance.as_deref(),
            Some("\\u{1b}]0;owned\\u{7}web\\r.1")
        );
        assert_eq!(printable("web.1 ü"), "web.1 ü");
    }

    #[test]
    fn queue_times_refuse_nonsense() {
        assert_eq!(queue_time_ns("12.345"), Some(12_345_000));
        assert_eq!(queue_time_ns("0.000"), Some(0));
        for bad in ["", "-1", "NaN", "inf", "12ms", "1e300", "3600001"] {
            assert_eq!(queue_time_ns(bad), None, "{bad}");
        }
    }
}
