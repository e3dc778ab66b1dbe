//! The gap log (`jitter --gaps FILE`): every attributed gap of a spin, one JSON object per
//! line, on the clocks of ftrace's `mono` and `x86-tsc` trace clocks, with the counters that
//! decided its cause: for a user's own analysis and for checking each gap against the tracer.

use serde::Serialize;

use super::attribute::Delta;
use super::cause::Cause;
use super::spin::SpinRecord;

/// One attributed gap, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoggedGap {
    /// The CPU the spin was pinned to (`null`: unpinned).
    pub cpu: Option<usize>,
    /// The spinning thread (`gettid`).
    pub tid: u64,
    /// When the gap began: `CLOCK_MONOTONIC`, ns.
    pub start_mono_ns: u64,
    /// The gap's start and end on the raw TSC (ftrace's `x86-tsc` clock), when the TSC was
    /// the spin's clock.
    pub start_tsc: Option<u64>,
    pub end_tsc: Option<u64>,
    pub len_ns: u64,
    pub cause: Cause,
    /// The thread's counters over the interval this gap ended (since the previous attributed
    /// gap): `wall_ns`, `cpu_ns` (its CPU time), `switches` (involuntary), `runqueue_wait_ns`,
    /// `throttled` and `throttled_ns` (the cgroup's), `interrupts` (`null`: not counted).
    #[serde(flatten)]
    pub counters: Delta,
}

/// The attributed gaps of `record` that were kept, in order. A switched gap with a host part
/// ([`host_part`](super::attribute::host_part)) is two, with the same counters, the host's
/// part first, though where in the gap it fell is not known.
pub fn logged_gaps(record: &SpinRecord) -> Vec<LoggedGap> {
    record
        .gaps
        .iter()
        .filter_map(|g| {
            Some(LoggedGap {
                cpu: record.cpu,
                tid: record.tid,
                start_mono_ns: record.to_mono.mono_ns(g.start_tick),
                start_tsc: record.clock_is_tsc.then_some(g.start_tick),
                end_tsc: record.clock_is_tsc.then_some(g.end_tick),
                len_ns: g.len_ns,
                cause: g.cause,
                counters: g.delta?,
            })
        })
        .collect()
}
