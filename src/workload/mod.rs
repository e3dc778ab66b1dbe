//! Cache-heavy work with a known answer: JSON parsing, AES decryption and pointer chases,
//! each a fixed piece of work per run with a checksum that proves it was done. The trait,
//! [`Blocks`] and [`WorkloadError`] need no feature; the workloads need `workloads`.

#[cfg(feature = "workloads")]
pub mod aes_fused;
#[cfg(feature = "workloads")]
mod catalog;
#[cfg(feature = "workloads")]
pub mod chase;
#[cfg(feature = "workloads")]
pub mod decrypt;
#[cfg(feature = "workloads")]
pub mod fixture;
#[cfg(feature = "workloads")]
pub mod json;
#[cfg(feature = "workloads")]
pub mod payload;
#[cfg(feature = "workloads")]
mod rng;

#[cfg(feature = "workloads")]
pub use catalog::{Footprint, Inputs, Spec, UnknownWorkload, catalog, find, lookup};
#[cfg(feature = "workloads")]
pub use fixture::Fixture;

use crate::signal::clock::monotonic_ns;
use crate::stats::nearest_rank;

/// One repeatable piece of work: it prepares its inputs once (all allocation of inputs
/// happens there), then `run` repeats the same fixed piece of work and returns a checksum
/// that proves it was done. A fixed piece of work is what lets dynoprobe tell a slower CPU
/// from a busier scheduler. Time your own with [`crate::runner`].
pub trait Workload: Send {
    /// The catalog name, e.g. `json-serde-value`.
    fn name(&self) -> &'static str;
    /// Bytes of input one run processes (for a pointer chase: bytes of the cache lines visited).
    fn bytes_per_run(&self) -> u64;
    /// Does the work once and returns its checksum. Allocation of inputs is done in preparation;
    /// what a run allocates (a parsed tree, say) is part of the work and is documented per workload.
    fn run(&mut self) -> Result<u64, WorkloadError>;
    /// Fixed work timed in fixed blocks inside the run: the last run's median block time per
    /// op (a load, an AES block), ns. A gap inside a run lands in one block, which the median
    /// ignores, so this moves only when the CPU itself does the same work slower. `None` for
    /// work that is not fixed (parsing allocates, and the allocator's state varies).
    fn ns_per_op(&mut self) -> Option<f64> {
        None
    }
}

/// Times the blocks of one run; the median of the last run's blocks is its time per op.
/// Holds room for every block of a run, allocated in preparation.
#[derive(Debug, Clone)]
pub struct Blocks {
    times_ns: Vec<u64>,
    ops_per_block: u64,
}

impl Blocks {
    /// Room for `blocks` blocks of `ops_per_block` ops each.
    pub fn new(blocks: usize, ops_per_block: u64) -> Blocks {
        Blocks {
            times_ns: Vec::with_capacity(blocks),
            ops_per_block: ops_per_block.max(1),
        }
    }

    /// Forgets the last run's blocks (call at the start of a run).
    pub fn clear(&mut self) {
        self.times_ns.clear();
    }

    /// Runs one block of `ops_per_block` ops and records its time (two clock reads, outside
    /// the work itself).
    #[inline]
    pub fn time<R>(&mut self, block: impl FnOnce() -> R) -> R {
        let start = monotonic_ns();
        let result = block();
        if self.times_ns.len() < self.times_ns.capacity() {
            self.times_ns.push(monotonic_ns().saturating_sub(start));
        }
        result
    }

    /// The median block time of the run per op, ns; `None` before any block.
    pub fn median_ns_per_op(&mut self) -> Option<f64> {
        self.times_ns.sort_unstable();
        let median = *nearest_rank(&self.times_ns, 0.5)?;
        Some(median as f64 / self.ops_per_block as f64)
    }
}

/// Why a workload could not be prepared or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workload {workload}: {reason}")]
pub struct WorkloadError {
    pub workload: &'static str,
    pub reason: String,
}

impl WorkloadError {
    pub(crate) fn new(workload: &'static str, reason: impl std::fmt::Display) -> Self {
        WorkloadError {
            workload,
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_block_ignores_one_slow_block() {
        let mut blocks = Blocks::new(3, 1_000);
        assert_eq!(blocks.median_ns_per_op(), None);
        blocks.times_ns.extend([2_000, 9_000_000, 2_200]);
        assert_eq!(blocks.median_ns_per_op(), Some(2.2));
        blocks.clear();
        let answer = blocks.time(|| 42);
        assert_eq!((answer, blocks.times_ns.len()), (42, 1));
    }
}
