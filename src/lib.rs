//! # dynoprobe
//!
//! How much does a shared CPU (a Heroku dyno, a burstable VM, a Kubernetes pod with a CPU
//! limit) cost the code running on it, and why? Hypervisor steal, waiting behind neighbours
//! on the run queue, cgroup quota throttling, or a CPU slowed by neighbours' caches.
//!
//! Three ways in, each a feature (see the README for the command-line tool):
//!
//! - **In a service** (`default-features = false, features = ["metrics", "tower"]`): a
//!   [`Probe`] samples the kernel's contention counters in a background thread, and a
//!   [`QueueTimeLayer`] measures each request's wait in the router's queue from
//!   `X-Request-Start`. With `prometheus`, `prometheus::install` does both in one call and
//!   hands back the `/metrics` text the shipped monitoring kit reads.
//! - **In criterion benches** (`criterion`): the `ThreadCpuTime` and `OffCpuTime`
//!   measurements, and `bench`, which records each run's off-CPU time and the
//!   machine's contention beside criterion's own figures.
//! - **Fixed work** (`workloads`): the cache-heavy workloads the command line runs
//!   (`find_workload`), and `measure` to time any `Workload` run by run.
//!
//! ```
//! use dynoprobe::Probe;
//! use std::time::Duration;
//!
//! let probe = Probe::builder().interval(Duration::from_millis(50)).start()?;
//! let reading = probe.latest();
//! assert!(reading.samples_count >= 1, "start returns after the first reading");
//! // Steal comes from /proc/stat: a share between 0 and 1, or why it is unavailable.
//! if let Some(contention) = &reading.contention {
//!     match contention.steal_ratio.value() {
//!         Some(steal) => assert!((0.0..=1.0).contains(&steal)),
//!         None => println!("{}", contention.steal_ratio.unavailable().unwrap()),
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Modules marked hidden in these docs are the command-line tool's own parts. They are
//! public only because the binary, the benches and the tests are separate crates; they are
//! not this crate's API and may change in any release.

#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod probe;
mod queue_time;

#[doc(hidden)]
pub mod jitter;
#[doc(hidden)]
pub mod signal;
#[doc(hidden)]
pub mod span;
#[doc(hidden)]
pub mod stats;

#[cfg(feature = "criterion")]
mod measurement;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
#[cfg(any(feature = "criterion", feature = "cli"))]
#[cfg_attr(docsrs, doc(cfg(feature = "criterion")))]
pub mod sidecar;

#[cfg(feature = "workloads")]
#[doc(hidden)]
pub mod runner;
#[cfg(feature = "workloads")]
#[doc(hidden)]
pub mod workload;

#[cfg(any(feature = "criterion", feature = "cli"))]
#[doc(hidden)]
pub mod render;

#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod baseline;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod credentials;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod effect;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod report;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod verdict;

#[cfg(test)]
mod test_support;

pub use probe::{Builder as ProbeBuilder, Probe, Reading, Totals};
pub use signal::snapshot::{Contention, CpuSteal};
pub use signal::{Reason, Signal, Unavailable};
pub use stats::Distribution;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use queue_time::layer::{
    HEROKU_WAIT_HEADER, QUEUE_TIME_HEADER, QueueTimeFuture, QueueTimeLayer, QueueTimeService,
};
pub use queue_time::{MAX_QUEUE, QueueTime, classify};

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use probe::metrics::render_seconds_totals;

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metric_names;

/// Describes every metric (unit and meaning) to the installed `metrics` recorder: the
/// probe's and, with `tower`, the queue-time layer's. Call once, after installing it
/// (`prometheus::install` does).
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub fn describe_metrics() {
    probe::metrics::describe();
    #[cfg(feature = "tower")]
    queue_time::layer::describe();
}

#[cfg(feature = "criterion")]
#[cfg_attr(docsrs, doc(cfg(feature = "criterion")))]
pub use measurement::{OffCpuTime, ThreadCpuTime};

#[cfg(feature = "criterion")]
mod bench;
#[cfg(feature = "criterion")]
#[cfg_attr(docsrs, doc(cfg(feature = "criterion")))]
pub use bench::{Time, bench};

#[cfg(feature = "workloads")]
#[cfg_attr(docsrs, doc(cfg(feature = "workloads")))]
pub use runner::{Measured, Plan, measure};
#[cfg(feature = "workloads")]
#[cfg_attr(docsrs, doc(cfg(feature = "workloads")))]
pub use workload::{Inputs, Spec, Workload, WorkloadError, find as find_workload};
