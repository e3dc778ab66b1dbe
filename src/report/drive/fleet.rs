//! The fleet view: each instance that answered, one replicate, against the others.

use serde::Serialize;

use super::Call;
use crate::effect::{geometric_mean, outlier_p};
use crate::stats::{Distribution, nearest_rank};

/// An instance is an outlier when its p90 run lies outside the spread of the other
/// instances' p90 runs (the two-sided p of [`outlier_p`] below this: each instance is one
/// replicate, since the calls one process answers share its state, and a test over calls
/// flagged identical instances)…
pub const OUTLIER_ALPHA: f64 = 0.05;
/// …and its p90 run is at least this many times theirs: a difference that matters, not only
/// one the test can see. Between two runs of the same class here, medians moved by up to 1.2×
/// (the README's `drive` and `run` figures), and alike instances' p90s by up to 1.16× (30
/// trials of `tests/serve.rs`); 1.3× is above both.
pub const OUTLIER_MIN_RATIO: f64 = 1.3;
/// The fewest instances among which one can be an outlier: the others must be at least
/// two to show how far identical instances differ.
pub const OUTLIER_MIN_INSTANCES: usize = crate::effect::MIN_REPLICATES + 1;
/// The fewest calls an instance must have answered to be compared: the p90 of ten calls is
/// the ninth, so one wild call cannot make it.
pub const OUTLIER_MIN_CALLS: u64 = 10;

/// The calls one instance answered, and how it compares with the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceSummary {
    /// `None`: the answers named no instance (a `serve` older than the field).
    pub instance: Option<String>,
    pub calls_count: u64,
    /// The server's run time per call.
    pub run_ns: Distribution,
    /// Off-CPU time / run time, over its calls.
    pub off_cpu_ratio: f64,
    /// Mean over its calls of the steal and throttled shares the server saw.
    pub steal_ratio: Option<f64>,
    pub throttled_ratio: Option<f64>,
    /// Its p90 run / the geometric mean of the other instances' p90 runs. The p90, not the
    /// median: it moves when the typical call slows and when a share of calls lose the CPU
    /// (two hogs on one instance's CPU here left over half its calls untouched: its median
    /// read 0.82× the others', its p90 3.8×). `None` unless it and another instance answered
    /// [`OUTLIER_MIN_CALLS`] calls or more.
    pub ratio_to_others: Option<f64>,
    /// How far its p90 run lies from the others' ([`outlier_p`], two-sided); `None` as the
    /// ratio is, or with fewer than two others.
    pub p_value: Option<f64>,
    /// Slower than the rest by more than identical instances differ: p below
    /// [`OUTLIER_ALPHA`] and at least [`OUTLIER_MIN_RATIO`] × their p90.
    pub outlier: bool,
}

/// The calls grouped by instance, in name order, each compared with all the others.
pub fn instances(calls: &[Call]) -> Vec<InstanceSummary> {
    let mut groups: std::collections::BTreeMap<Option<&str>, Vec<&Call>> = Default::default();
    for call in calls {
        groups
            .entry(call.instance.as_deref())
            .or_default()
            .push(call);
    }
    let judged: Vec<(InstanceSummary, Option<f64>)> = (groups.iter())
        .filter_map(|(name, mine)| Some((summary(*name, mine)?, p90_run_ns(mine))))
        .collect();
    let tails: Vec<Option<f64>> = judged.iter().map(|(_, tail)| *tail).collect();
    (judged.into_iter().enumerate())
        .map(|(at, (mut i, mine))| {
            let others: Vec<f64> = (tails.iter().enumerate())
                .filter_map(|(k, tail)| tail.filter(|_| k != at))
                .collect();
            i.p_value = mine.and_then(|mine| outlier_p(mine, &others));
            i.ratio_to_others = mine
                .zip(geometric_mean(&others))
                .map(|(mine, theirs)| mine / theirs);
            i.outlier = i.p_value.is_some_and(|p| p < OUTLIER_ALPHA)
                && i.ratio_to_others.is_some_and(|r| r >= OUTLIER_MIN_RATIO);
            i
        })
        .collect()
}

/// The nearest-rank p90 of an instance's run times, exact (not the histogram's three
/// digits); `None` under [`OUTLIER_MIN_CALLS`] calls.
fn p90_run_ns(mine: &[&Call]) -> Option<f64> {
    if (mine.len() as u64) < OUTLIER_MIN_CALLS {
        return None;
    }
    let mut runs: Vec<u64> = mine.iter().map(|c| c.run_ns).collect();
    runs.sort_unstable();
    nearest_rank(&runs, 0.9).map(|&ns| ns as f64)
}

/// One instance's calls on their own: not yet compared with the others.
fn summary(name: Option<&str>, mine: &[&Call]) -> Option<InstanceSummary> {
    let mean = |pick: fn(&Call) -> Option<f64>| {
        let seen: Vec<f64> = mine.iter().filter_map(|c| pick(c)).collect();
        (!seen.is_empty()).then(|| seen.iter().sum::<f64>() / seen.len() as f64)
    };
    let total = |pick: fn(&Call) -> u64| mine.iter().map(|c| pick(c)).sum::<u64>();
    Some(InstanceSummary {
        instance: name.map(String::from),
        calls_count: mine.len() as u64,
        run_ns: Distribution::of(mine.iter().map(|c| c.run_ns))?,
        off_cpu_ratio: total(|c| c.off_cpu_ns) as f64 / total(|c| c.run_ns).max(1) as f64,
        steal_ratio: mean(|c| c.steal_ratio),
        throttled_ratio: mean(|c| c.throttled_ratio),
        ratio_to_others: None,
        p_value: None,
        outlier: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ANSWER;

    /// A call of serve's recorded answer, as `instance` ran it in `run_ns`.
    fn on(instance: &str, run_ns: u64) -> Call {
        Call {
            instance: Some(instance.into()),
            run_ns,
            ..Call::from_answer(0, 2_000, ANSWER, None).unwrap().call
        }
    }

    #[test]
    fn the_slow_instance_is_the_outlier_and_the_others_are_not() {
        let on = |instance: &str, run_ns: u64| Call {
            off_cpu_ns: run_ns / 4,
            steal_ratio: Some(0.01),
            ..on(instance, run_ns)
        };
        let mut calls = Vec::new();
        for i in 0..20 {
            calls.push(on("web.1", 1_000_000 + i * 1_000));
            calls.push(on("web.2", 1_020_000 + i * 1_000));
            calls.push(on("web.3", 990_000 + i * 1_000));
            calls.push(on("web.4", 1_500_000 + i * 1_000));
        }
        let fleet = instances(&calls);
        let names: Vec<_> = fleet.iter().map(|i| i.instance.clone().unwrap()).collect();
        assert_eq!(names, ["web.1", "web.2", "web.3", "web.4"]);
        let outliers: Vec<bool> = fleet.iter().map(|i| i.outlier).collect();
        assert_eq!(outliers, [false, false, false, true]);
        let slow = &fleet[3];
        assert_eq!(slow.calls_count, 20);
        // Nearest-rank p90s (the 18th of 20 runs): 1.517 ms against 1.017, 1.037 and
        // 1.007 ms; p from Student's t with 2 degrees of freedom, whose two-sided tail is
        // 1 − |t|/√(2 + t²).
        let others = [1_017_000.0f64, 1_037_000.0, 1_007_000.0];
        let geometric = (others.iter().map(|m| m.ln()).sum::<f64>() / 3.0).exp();
        assert!((slow.ratio_to_others.unwrap() - 1_517_000.0 / geometric).abs() < 1e-9);
        assert!(
            (slow.p_value.unwrap() - 0.001_885_22).abs() < 1e-8,
            "{:?}",
            slow.p_value
        );
        assert!((slow.off_cpu_ratio - 0.25).abs() < 1e-3);
        assert!((slow.steal_ratio.unwrap() - 0.01).abs() < 1e-12);
    }

    /// An instance that loses the CPU on a share of its calls: its median unmoved, its p90
    /// well above the others'. One wild call on an identical instance moves nothing.
    #[test]
    fn a_tail_of_slow_calls_makes_an_outlier_and_one_wild_call_does_not() {
        let mut calls = Vec::new();
        for i in 0..20u64 {
            let hit = i % 5 < 2; // 8 of 20 calls wait 4 ms behind a neighbour
            calls.push(on(
                "web.1",
                1_000_000 + i * 1_000 + if hit { 4_000_000 } else { 0 },
            ));
            calls.push(on("web.2", 1_010_000 + i * 1_000));
            calls.push(on("web.3", 1_020_000 + i * 1_000));
            let wild = if i == 7 { 50_000_000 } else { 0 };
            calls.push(on("web.4", 1_005_000 + i * 1_000 + wild));
        }
        let fleet = instances(&calls);
        assert!(fleet[0].run_ns.p50 < 1_100_000, "the median is untouched");
        let outliers: Vec<bool> = fleet.iter().map(|i| i.outlier).collect();
        assert_eq!(outliers, [true, false, false, false], "{fleet:?}");
        assert!(fleet[0].ratio_to_others.unwrap() > 4.0);
        assert!(
            fleet[3].ratio_to_others.unwrap() < 1.0,
            "one wild call of 20"
        );
    }

    /// Under ten calls the p90 is the largest or next to it: such an instance is shown, but
    /// neither compared nor used to judge the others.
    #[test]
    fn an_instance_with_few_calls_is_not_compared() {
        let mut calls = Vec::new();
        for i in 0..20u64 {
            calls.extend(["web.1", "web.2", "web.3"].map(|w| on(w, 1_000_000 + i * 1_000)));
            if i < OUTLIER_MIN_CALLS - 1 {
                calls.push(on("web.4", 9_000_000));
            }
        }
        let fleet = instances(&calls);
        assert_eq!(fleet[3].calls_count, OUTLIER_MIN_CALLS - 1);
        assert_eq!((fleet[3].ratio_to_others, fleet[3].outlier), (None, false));
        let alike = |i: &InstanceSummary| (i.ratio_to_others.unwrap() - 1.0).abs() < 1e-12;
        assert!(fleet[..3].iter().all(alike), "{fleet:?}");
    }

    /// Each instance is one replicate: a difference between identical instances that the
    /// many calls of each would call significant is no outlier unless it is beyond the spread
    /// between instances and 1.3× or more.
    #[test]
    fn an_instance_is_judged_against_the_others_not_by_its_calls() {
        // 1.35× apart, but so are the others between themselves.
        let mut calls = Vec::new();
        for i in 0..100 {
            calls.push(on("web.1", 1_000_000 + i));
            calls.push(on("web.2", 1_300_000 + i));
            calls.push(on("web.3", 1_350_000 * 1_300_000 / 1_000_000 + i));
        }
        let fleet = instances(&calls);
        assert!(fleet.iter().all(|i| !i.outlier), "{fleet:?}");
        assert!(fleet[2].ratio_to_others.unwrap() > OUTLIER_MIN_RATIO);
        // Two instances: nothing to tell which of them differs.
        let two: Vec<Call> = calls
            .iter()
            .filter(|c| c.instance.as_deref() != Some("web.2"))
            .cloned()
            .collect();
        let fleet = instances(&two);
        assert_eq!((fleet[1].p_value, fleet[1].outlier), (None, false));
        assert!(fleet[1].ratio_to_others.unwrap() > 1.7);
    }

    #[test]
    fn one_instance_or_none_named_has_nothing_to_compare_with() {
        let call = Call::from_answer(0, 2_000, ANSWER, None).unwrap().call;
        let fleet = instances(&[call.clone(), call]);
        assert_eq!(fleet.len(), 1);
        assert_eq!(fleet[0].instance, None, "an older serve names no instance");
        assert_eq!(
            (fleet[0].p_value, fleet[0].ratio_to_others, fleet[0].outlier),
            (None, None, false)
        );
    }
}
