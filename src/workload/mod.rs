//! Cache-heavy work with a known answer: JSON parsing, AES decryption and pointer chases.
//!
//! Each workload prepares its inputs once (all allocation of inputs happens there), then
//! `run` repeats the same fixed piece of work and returns a checksum that proves it was done.
//! A fixed piece of work is what lets dynoprobe tell a slower CPU from a busier scheduler.

pub mod chase;
pub mod decrypt;
pub mod fixture;
pub mod json;
pub mod payload;
mod rng;

use crate::signal::clock::monotonic_ns;
use crate::signal::machine::CacheSizes;
pub use fixture::Fixture;

/// One repeatable piece of work.
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
        let median = *self.times_ns.get(self.times_ns.len().checked_sub(1)? / 2)?;
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

/// What preparation may draw on.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub fixture: Fixture,
    pub caches: CacheSizes,
}

impl Inputs {
    /// The shipped fixture and this machine's cache sizes.
    pub fn shipped() -> Inputs {
        Inputs {
            fixture: Fixture::shipped(),
            caches: CacheSizes::read(),
        }
    }
}

type Build = fn(&Inputs) -> Result<Box<dyn Workload>, WorkloadError>;

/// A catalog entry: a name, a one-line summary, whether its work is fixed, and how to
/// prepare the workload.
pub struct Spec {
    pub name: &'static str,
    pub summary: &'static str,
    /// The same work every run, timed in blocks: the workload answers
    /// [`Workload::ns_per_op`], and its time per op is evidence for `slowed`. Parsing is not
    /// fixed (it allocates, and the allocator's state varies between runs).
    pub fixed: bool,
    build: Build,
}

impl Spec {
    /// Builds the workload's inputs, then runs it once, so that input that does not fit the
    /// workload (a user's JSON for the typed parsers) fails here rather than in a timed run.
    pub fn prepare(&self, inputs: &Inputs) -> Result<Box<dyn Workload>, WorkloadError> {
        let mut workload = (self.build)(inputs)?;
        workload.run()?;
        Ok(workload)
    }
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").field("name", &self.name).finish()
    }
}

/// Every workload, in the order `dynoprobe run` runs them.
pub fn catalog() -> &'static [Spec] {
    &CATALOG
}

/// The catalog entry called `name`.
pub fn find(name: &str) -> Option<&'static Spec> {
    CATALOG.iter().find(|spec| spec.name == name)
}

/// The catalog's names, comma separated, for error messages.
pub fn names() -> String {
    CATALOG
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

static CATALOG: [Spec; 10] = [
    Spec {
        name: json::Parser::SerdeValue.name(),
        summary: "serde_json into a serde_json::Value tree (allocates the tree every run)",
        fixed: false,
        build: |i| {
            Ok(Box::new(json::Parse::new(
                json::Parser::SerdeValue,
                &i.fixture.json,
            )))
        },
    },
    Spec {
        name: json::Parser::SerdeTyped.name(),
        summary: "serde_json into typed Rust structs (shipped payload's schema only)",
        fixed: false,
        build: |i| {
            Ok(Box::new(json::Parse::new(
                json::Parser::SerdeTyped,
                &i.fixture.json,
            )))
        },
    },
    Spec {
        name: json::Parser::SimdValue.name(),
        summary: "simd-json into a borrowed value tree; copies the input into a reused buffer first",
        fixed: false,
        build: |i| {
            Ok(Box::new(json::Parse::new(
                json::Parser::SimdValue,
                &i.fixture.json,
            )))
        },
    },
    Spec {
        name: json::Parser::SimdTyped.name(),
        summary: "simd-json (serde) into typed Rust structs; copies the input first",
        fixed: false,
        build: |i| {
            Ok(Box::new(json::Parse::new(
                json::Parser::SimdTyped,
                &i.fixture.json,
            )))
        },
    },
    Spec {
        name: decrypt::Cbc::NAME,
        summary: "AES-256-CBC decrypt of the encrypted payload into a reused buffer",
        fixed: true,
        build: |i| Ok(Box::new(decrypt::Cbc::new(&i.fixture.ciphertext))),
    },
    Spec {
        name: decrypt::Ctr::NAME,
        summary: "AES-256-CTR decrypt of the payload (CTR twin made in preparation)",
        fixed: true,
        build: |i| Ok(Box::new(decrypt::Ctr::new(&i.fixture.json))),
    },
    Spec {
        name: decrypt::DecryptParse::NAME,
        summary: "AES-256-CBC decrypt, then serde_json into a Value: a typical API endpoint",
        fixed: false,
        build: |i| Ok(Box::new(decrypt::DecryptParse::new(&i.fixture.ciphertext))),
    },
    Spec {
        name: chase::Level::L2.name(),
        summary: "dependent pointer chase over a working set that fits in L2",
        fixed: true,
        build: |i| {
            Ok(Box::new(chase::Chase::for_level(
                chase::Level::L2,
                &i.caches,
            )))
        },
    },
    Spec {
        name: chase::Level::Llc.name(),
        summary: "dependent pointer chase over a working set that fits in the last-level cache",
        fixed: true,
        build: |i| {
            Ok(Box::new(chase::Chase::for_level(
                chase::Level::Llc,
                &i.caches,
            )))
        },
    },
    Spec {
        name: chase::Level::Dram.name(),
        summary: "dependent pointer chase over a working set several times the last-level cache",
        fixed: true,
        build: |i| {
            Ok(Box::new(chase::Chase::for_level(
                chase::Level::Dram,
                &i.caches,
            )))
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_are_unique_and_findable() {
        for spec in catalog() {
            assert_eq!(find(spec.name).map(|s| s.name), Some(spec.name));
        }
        let mut names: Vec<_> = catalog().iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(names.len(), 10);
        assert!(find("json-nope").is_none());
    }

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

    #[test]
    fn a_spec_is_fixed_exactly_when_its_workload_reports_ns_per_op() {
        let inputs = Inputs {
            fixture: Fixture::shipped(),
            caches: CacheSizes::default(),
        };
        for spec in catalog() {
            let mut workload = spec.prepare(&inputs).unwrap();
            let ns = workload.ns_per_op();
            assert_eq!(ns.is_some(), spec.fixed, "{}", spec.name);
            assert!(ns.is_none_or(|ns| ns > 0.0 && ns < 10_000.0), "{ns:?}");
        }
    }
}
