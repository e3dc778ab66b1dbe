//! Text, apart from computing: each renderer takes a finished result and only formats it,
//! every figure with its unit (from [`units`], the one set of formatters) and its source.
//! Nothing here measures, decides, or computes a figure the result does not hold.

#[cfg(feature = "cli")]
pub mod charts;
#[cfg(feature = "cli")]
pub mod compare;
#[cfg(feature = "cli")]
pub mod contention;
#[cfg(feature = "cli")]
pub mod drive;
#[cfg(feature = "cli")]
pub mod html;
#[cfg(feature = "cli")]
pub mod jitter;
#[cfg(feature = "cli")]
pub mod run;
pub mod sidecar;
#[cfg(feature = "cli")]
pub mod svg;
#[cfg(feature = "cli")]
pub mod table;
pub mod units;
#[cfg(feature = "cli")]
pub mod verdict;
