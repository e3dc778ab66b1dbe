//! One call from a service to a Prometheus `/metrics` that the shipped monitoring kit
//! (`monitoring/`: alert rules and a Grafana dashboard) reads (feature `prometheus`).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = dynoprobe::prometheus::install()?;
//! // In any handler: the text format, for GET /metrics.
//! let scrape: String = metrics.render();
//! # Ok(()) }
//! ```

use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::probe::Probe;
use crate::probe::metrics::{SLEEP_OVERSHOOT_SECONDS, render_seconds_totals};

/// Histogram buckets for times, seconds: 0.5 ms to 10 s.
pub const TIME_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// How often the exporter's histograms are drained, so its memory stays flat.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Why [`install`] failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The exporter could not be built or installed (another recorder is installed).
    #[error("installing the Prometheus recorder: {0}")]
    Exporter(#[from] metrics_exporter_prometheus::BuildError),
    /// The probe's sampling thread could not be started.
    #[error("starting the probe's thread: {0}")]
    Probe(#[from] std::io::Error),
}

/// Installs the exporter and starts the probe, named after the instance
/// ([`instance_name`]), sampling every second with sleep jitter on. Once per process: the
/// `metrics` facade takes one recorder.
///
/// The exporter becomes the `metrics` recorder, with histogram buckets for the time
/// histograms (the rules and the dashboard query their `_bucket` series; the exporter's
/// default, a summary, neither adds up across instances nor has buckets), every metric
/// described, and every series labelled with the instance's name. [`Metrics::render`] is the
/// scrape: the exporter's text, then the probe's `_seconds_total` counters as floats from its
/// latest totals (through the facade they would be whole seconds). `dynoprobe serve` uses
/// the same path.
pub fn install() -> Result<Metrics, InstallError> {
    Builder::default().install()
}

/// What [`install`] does, with its choices open.
#[derive(Debug, Clone)]
pub struct Builder {
    instance: Option<String>,
    /// The probe it starts; its seconds counters are always left to [`Metrics::render`].
    probe: crate::probe::Builder,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            instance: instance_name(|key| std::env::var(key).ok()),
            probe: Probe::builder().sleep_jitter(true),
        }
    }
}

impl Builder {
    /// The `instance` label of every series [default: [`instance_name`]]; `None` for none.
    /// Behind a router the scraper's own `instance` (the target address) is the same for
    /// every dyno, so the rules and the dashboard group by this one (scrape with
    /// `honor_labels: true`).
    pub fn instance(mut self, name: Option<String>) -> Builder {
        self.instance = name;
        self
    }

    /// The probe's sampling interval (see [`crate::probe::Builder::interval`]).
    pub fn interval(mut self, interval: Duration) -> Builder {
        self.probe = self.probe.interval(interval);
        self
    }

    /// Whether the probe measures its sleeps' overshoot (it then wakes ten times a second).
    pub fn sleep_jitter(mut self, on: bool) -> Builder {
        self.probe = self.probe.sleep_jitter(on);
        self
    }

    /// Installs the exporter, describes every metric to it and starts the probe.
    pub fn install(self) -> Result<Metrics, InstallError> {
        let mut builder = PrometheusBuilder::new();
        if let Some(name) = &self.instance {
            builder = builder.add_global_label("instance", name);
        }
        for name in time_histograms() {
            builder = builder.set_buckets_for_metric(Matcher::Full(name.into()), &TIME_BUCKETS)?;
        }
        let handle = builder.install_recorder()?;
        crate::describe_metrics();
        let probe = self.probe.whole_second_counters(false).start()?;
        let inner = Arc::new(Inner {
            handle,
            probe,
            instance: self.instance,
        });
        upkeep(Arc::downgrade(&inner));
        Ok(Metrics { inner })
    }
}

/// The installed exporter and the running probe; clones share them. The probe stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    handle: PrometheusHandle,
    probe: Probe,
    instance: Option<String>,
}

impl Metrics {
    /// The scrape, in Prometheus' text format (`text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        let labels: Vec<(&str, &str)> = (self.inner.instance.as_deref())
            .map(|name| ("instance", name))
            .into_iter()
            .collect();
        let mut text = self.inner.handle.render();
        text.push_str(&render_seconds_totals(
            &self.inner.probe.latest().totals,
            &labels,
        ));
        text
    }

    /// The probe, for its latest reading.
    pub fn probe(&self) -> &Probe {
        &self.inner.probe
    }

    /// The `instance` label, if any.
    pub fn instance(&self) -> Option<&str> {
        self.inner.instance.as_deref()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

/// The time histograms, which get [`TIME_BUCKETS`].
fn time_histograms() -> Vec<&'static str> {
    #[cfg(feature = "tower")]
    let queue = Some(crate::queue_time::layer::REQUEST_QUEUE_SECONDS);
    #[cfg(not(feature = "tower"))]
    let queue = None;
    queue.into_iter().chain([SLEEP_OVERSHOOT_SECONDS]).collect()
}

/// Drains the exporter's histograms every [`UPKEEP_EVERY`] on a thread of its own, until
/// the exporter is dropped.
fn upkeep(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("dynoprobe-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                match inner.upgrade() {
                    Some(inner) => inner.handle.run_upkeep(),
                    None => return,
                }
            }
        });
    // Without the thread the histograms still render; they only hold more memory.
    drop(spawned);
}

/// The instance's name: `DYNO` (Heroku's `web.1`), else `HOSTNAME` (a Kubernetes pod's
/// name), else the kernel's host name; `None` when none is set.
pub fn instance_name(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let named = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    named(env("DYNO"))
        .or_else(|| named(env("HOSTNAME")))
        .or_else(|| named(std::fs::read_to_string("/proc/sys/kernel/hostname").ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_is_dyno_then_hostname_then_the_kernels() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            instance_name(env(&[("DYNO", "web.2"), ("HOSTNAME", "abc")])).as_deref(),
            Some("web.2")
        );
        assert_eq!(
            instance_name(env(&[("DYNO", " "), ("HOSTNAME", "abc")])).as_deref(),
            Some("abc")
        );
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
        assert_eq!(
            instance_name(env(&[])),
            kernel
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        );
    }
}
