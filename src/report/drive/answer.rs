//! Reading a `dynoprobe serve`'s answer to `/run?runs=1` into a [`Call`], with its
//! `X-Queue-Time` header.

use serde::Deserialize;

use super::Call;
use super::url::printable;
use crate::queue_time::MAX_QUEUE;
use crate::report::FixtureInfo;

/// The longest `X-Queue-Time` taken as a queue: the library's [`MAX_QUEUE`]; more is a
/// broken clock, not a wait.
pub const MAX_QUEUE_MS: f64 = MAX_QUEUE.as_millis() as f64;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn queue_times_refuse_nonsense() {
        assert_eq!(queue_time_ns("12.345"), Some(12_345_000));
        assert_eq!(queue_time_ns("0.000"), Some(0));
        for bad in ["", "-1", "NaN", "inf", "12ms", "1e300", "3600001"] {
            assert_eq!(queue_time_ns(bad), None, "{bad}");
        }
    }
}
