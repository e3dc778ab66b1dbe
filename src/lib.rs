//! # dynoprobe
//!
//! How much does a shared CPU (a Heroku dyno, a burstable VM, a Kubernetes pod with a CPU
//! limit) cost the code running on it, and why?
//!
//! dynoprobe runs fixed, cache-heavy pieces of work ([`workload`]) many times and looks at
//! how the time per run is distributed ([`stats`]). A run that takes longer than its twin
//! either spent the extra time off the CPU (hypervisor steal, waiting behind another task on
//! the run queue, cgroup quota throttling) or ran on a CPU made slower by neighbours' cache
//! and memory traffic. [`runner`] measures, [`verdict`] decides, [`report`] holds what was
//! measured and decided, and [`render`] writes it as text.
//!
//! ```no_run
//! use dynoprobe::runner::{measure, Plan};
//! use dynoprobe::workload::{find, Inputs};
//!
//! let inputs = Inputs::shipped();
//! let spec = find("json-serde-value").expect("in the catalog");
//! let mut workload = spec.prepare(&inputs)?;
//! let measured = measure(workload.as_mut(), &Plan::default(), &mut |_| {})?;
//! println!("median run: {} ns", measured.wall_ns.p50);
//! # Ok::<(), dynoprobe::workload::WorkloadError>(())
//! ```

pub mod baseline;
pub mod credentials;
pub mod effect;
pub mod jitter;
#[cfg(feature = "criterion")]
pub mod measurement;
pub mod probe;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod queue_time;
pub mod render;
pub mod report;
pub mod runner;
pub mod sidecar;
pub mod signal;
pub mod span;
pub mod stats;
pub mod verdict;
pub mod workload;
