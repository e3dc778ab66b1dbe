//! Dependent pointer chase over a random cyclic permutation of cache lines: each load's
//! address comes from the last, so no prefetch hides a miss, and the time per step is the
//! latency of the cache level the working set lives in (which a neighbour's evictions raise).

use super::rng::SplitMix64;
use super::{Blocks, Workload, WorkloadError};
use crate::signal::machine::CacheSizes;

/// Seed of the permutation ("chase"): the same walk on every machine.
const CHASE_SEED: u64 = 0x0063_6861_7365;

/// Steps (dependent loads) in one run of every chase, whatever its working set.
pub const STEPS_PER_RUN: u64 = 1 << 18;
/// Steps timed together in one block (see [`super::Blocks`]) by [`Chase::new`]; each level
/// has its own ([`Level::steps_per_block`]).
pub const STEPS_PER_BLOCK: u64 = 4096;
/// Bytes of one node: a cache line, so each step touches a new line.
pub const LINE_BYTES: usize = 64;

/// Working set when the cache size cannot be read from sysfs.
pub const FALLBACK_L2_SET_BYTES: u64 = 256 << 10;
pub const FALLBACK_LLC_SET_BYTES: u64 = 8 << 20;
pub const FALLBACK_DRAM_SET_BYTES: u64 = 64 << 20;

/// One cache line holding the index of the next line to visit.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Line {
    next: u32,
    _pad: [u32; 15],
}

/// Which level of the memory hierarchy the working set is sized for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Half the L2 cache: fits, with room for the stack and the runner.
    L2,
    /// A quarter of the last-level cache: fits even when the LLC is shared with neighbours.
    Llc,
    /// Four times the last-level cache, at least 64 MiB: most steps go to memory.
    Dram,
}

impl Level {
    pub const fn name(self) -> &'static str {
        match self {
            Level::L2 => "chase-l2",
            Level::Llc => "chase-llc",
            Level::Dram => "chase-dram",
        }
    }

    /// Steps in one timed block: about 25–50 µs each here (6 ns a step in L2, 375 ns in
    /// DRAM), long next to two clock reads (under 0.2%) and short next to a timeslice (3 ms),
    /// so that a preemption lands in few blocks and the median ignores it. 4096 steps in DRAM
    /// (1.5 ms) put a hog's switches in most blocks: ns per op rose 27%.
    pub const fn steps_per_block(self) -> u64 {
        match self {
            Level::L2 => 4096,
            Level::Llc => 1024,
            Level::Dram => 128,
        }
    }

    /// The working set in bytes for this machine's caches.
    pub fn working_set_bytes(self, caches: &CacheSizes) -> u64 {
        match self {
            Level::L2 => caches.l2_bytes.map_or(FALLBACK_L2_SET_BYTES, |b| b / 2),
            Level::Llc => caches.llc_bytes.map_or(FALLBACK_LLC_SET_BYTES, |b| b / 4),
            Level::Dram => caches.llc_bytes.map_or(FALLBACK_DRAM_SET_BYTES, |b| {
                (b * 4).max(FALLBACK_DRAM_SET_BYTES)
            }),
        }
    }
}

/// A pointer chase: the lines, where the last run stopped, and how far a run goes.
pub struct Chase {
    name: &'static str,
    lines: Vec<Line>,
    at: u32,
    steps: u64,
    steps_per_block: u64,
    blocks: Blocks,
}

impl Chase {
    /// A chase sized for `level` on a machine with `caches`, [`STEPS_PER_RUN`] steps a run.
    pub fn for_level(level: Level, caches: &CacheSizes) -> Chase {
        let mut chase = Chase::new(level.name(), level.working_set_bytes(caches), STEPS_PER_RUN);
        chase.time_in_blocks_of(level.steps_per_block());
        chase
    }

    /// Times the run in blocks of `steps` (at least one) instead of [`STEPS_PER_BLOCK`].
    pub fn time_in_blocks_of(&mut self, steps: u64) {
        self.steps_per_block = steps.max(1);
        self.blocks = Blocks::new(
            self.steps.div_ceil(self.steps_per_block) as usize,
            self.steps_per_block,
        );
    }

    /// A chase over `working_set_bytes` (rounded down to whole lines, at least two).
    pub fn new(name: &'static str, working_set_bytes: u64, steps: u64) -> Chase {
        let count = (working_set_bytes / LINE_BYTES as u64).clamp(2, u64::from(u32::MAX));
        Chase {
            name,
            lines: cyclic_permutation(count as u32, CHASE_SEED),
            at: 0,
            steps,
            steps_per_block: STEPS_PER_BLOCK,
            blocks: Blocks::new(steps.div_ceil(STEPS_PER_BLOCK) as usize, STEPS_PER_BLOCK),
        }
    }

    /// The lines, for a benchmark that walks them without the [`Workload`] wrapper.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }
}

/// Walks `steps` links from `start`; returns where it stopped and the sum of the indices
/// visited. Over a whole cycle of `n` lines that sum is `n(n-1)/2`.
#[inline]
pub fn walk(lines: &[Line], start: u32, steps: u64) -> (u32, u64) {
    let (mut at, mut sum) = (start, 0u64);
    for _ in 0..steps {
        at = lines[at as usize].next;
        sum += u64::from(at);
    }
    (at, sum)
}

impl Workload for Chase {
    fn name(&self) -> &'static str {
        self.name
    }
    fn bytes_per_run(&self) -> u64 {
        self.steps * LINE_BYTES as u64
    }
    /// The walk in blocks of `steps_per_block` dependent loads, each timed; a shorter last
    /// block is walked but not timed.
    fn run(&mut self) -> Result<u64, WorkloadError> {
        self.blocks.clear();
        let (mut sum, mut left, block) = (0u64, self.steps, self.steps_per_block);
        while left >= block {
            let (at, part) = self.blocks.time(|| walk(&self.lines, self.at, block));
            (self.at, sum, left) = (at, sum.wrapping_add(part), left - block);
        }
        let (at, part) = walk(&self.lines, self.at, left);
        self.at = at;
        Ok(sum.wrapping_add(part))
    }

    fn ns_per_op(&mut self) -> Option<f64> {
        self.blocks.median_ns_per_op()
    }
}

/// Sattolo's algorithm: a uniformly random permutation that is one single cycle, so a walk
/// from any line visits every line before it repeats.
fn cyclic_permutation(count: u32, seed: u64) -> Vec<Line> {
    let mut order: Vec<u32> = (0..count).collect();
    let mut rng = SplitMix64(seed);
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64) as usize;
        order.swap(i, j);
    }
    let mut lines = vec![
        Line {
            next: 0,
            _pad: [0; 15]
        };
        count as usize
    ];
    for (from, to) in order.iter().zip(order.iter().cycle().skip(1)) {
        lines[*from as usize].next = *to;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_one_cycle_visits_every_line_once() {
        let lines = 1000u64;
        let mut chase = Chase::new("t", lines * 64, lines);
        let all = lines * (lines - 1) / 2;
        assert_eq!(chase.run(), Ok(all));
        assert_eq!(
            chase.run(),
            Ok(all),
            "a second cycle starts where the first ended"
        );
        assert_eq!(chase.at, 0);
    }

    #[test]
    fn a_run_in_blocks_visits_the_same_lines_as_one_walk() {
        let lines = 3 * STEPS_PER_BLOCK + 100;
        let mut chase = Chase::new("t", lines * 64, lines);
        assert_eq!(chase.run(), Ok(lines * (lines - 1) / 2));
        assert_eq!(
            chase.blocks.times_ns.len(),
            3,
            "the 100-step tail is not timed"
        );
        assert!(chase.ns_per_op().is_some_and(|ns| ns > 0.0));
        chase.time_in_blocks_of(1000);
        assert_eq!(chase.run(), Ok(lines * (lines - 1) / 2));
        assert_eq!(chase.blocks.times_ns.len(), 12);
    }

    #[test]
    fn the_permutation_is_one_cycle_of_distinct_lines() {
        let chase = Chase::new("t", 4096 * 64, 0);
        let mut seen = vec![false; 4096];
        let mut at = 0u32;
        for _ in 0..4096 {
            assert!(!seen[at as usize], "line {at} visited twice");
            seen[at as usize] = true;
            at = chase.lines()[at as usize].next;
        }
        assert_eq!(at, 0);
    }

    #[test]
    fn working_sets_follow_the_caches_or_the_fallbacks() {
        let none = CacheSizes::default();
        assert_eq!(Level::L2.working_set_bytes(&none), 256 << 10);
        assert_eq!(Level::Llc.working_set_bytes(&none), 8 << 20);
        assert_eq!(Level::Dram.working_set_bytes(&none), 64 << 20);
        let epyc = CacheSizes {
            l2_bytes: Some(512 << 10),
            llc_bytes: Some(32 << 20),
        };
        assert_eq!(Level::L2.working_set_bytes(&epyc), 256 << 10);
        assert_eq!(Level::Llc.working_set_bytes(&epyc), 8 << 20);
        assert_eq!(Level::Dram.working_set_bytes(&epyc), 128 << 20);
    }

    #[test]
    fn lines_are_one_cache_line_each() {
        assert_eq!(std::mem::size_of::<Line>(), LINE_BYTES);
        assert_eq!(std::mem::align_of::<Line>(), LINE_BYTES);
    }
}
