//! Text, apart from computing: each renderer takes a finished result and only formats it,
//! every figure with its unit (from [`units`], the one set of formatters) and its source.
//! Nothing here measures, decides, or computes a figure the result does not hold.

pub mod charts;
pub mod compare;
pub mod contention;
#[cfg(feature = "workloads")]
pub mod drive;
pub mod html;
pub mod jitter;
pub mod run;
pub mod sidecar;
pub mod svg;
pub mod units;
pub mod verdict;
