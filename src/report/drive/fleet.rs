//! The fleet view: each instance that answered, one replicate, against the others.

use serde::Serialize;

use super::Call;
use crate::effect::{geometric_mean, outlier_p};
use crate::stats::{Distribution, Quartiles};

/// An instance is an outlier when its median run lies outside the spread of the other
/// instances' medians (the two-sided p of [`outlier_p`] below this: each instance is one
/// replicate, since the calls one process answers share its state, and a test over calls
/// flagged identical instances)…
pub const OUTLIER_ALPHA: f64 = 0.05;
/// …and its median run is at least this many times theirs: a difference that matters, not
/// only one the test can see. Between two runs of the same class here, medians moved by up to
/// 1.2× (the README's `drive` and `run` figures); 1.3× is above that.
pub const OUTLIER_MIN_RATIO: f64 = 1.3;
/// The fewest instances among which one can be an outlier: the others must be at least
/// two to show how far identical instances differ.
pub const OUTLIER_MIN_INSTANCES: usize = crate::effect::MIN_REPLICATES + 1;

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
    /// Its median run / the geometric mean of the other instances' median runs.
    pub ratio_to_others: Option<f64>,
    /// How far its median run lies from the others' ([`outlier_p`], two-sided); `None` with
    /// fewer than two others.
    pub p_value: Option<f64>,
    /// Slower than the rest by more than identical instances differ: p below
    /// [`OUTLIER_ALPHA`] and at least [`OUTLIER_MIN_RATIO`] × their median.
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
    let medians: Vec<Option<f64>> = groups
        .values()
        .map(|mine| {
            let runs: Vec<f64> = mine.iter().map(|c| c.run_ns as f64).collect();
            Quartiles::of(&runs).map(|q| q.median_ns)
        })
        .collect();
    groups
        .iter()
        .zip(&medians)
        .enumerate()
        .filter_map(|(at, ((name, mine), median))| {
            let others: Vec<f64> = (medians.iter().enumerate())
                .filter_map(|(i, m)| m.filter(|_| i != at))
                .collect();
            let ratio_to_others = median
                .zip(geometric_mean(&others))
                .map(|(m, theirs)| m / theirs);
            let p_value = median.and_then(|m| outlier_p(m, &others));
            let run_ns = Distribution::of(mine.iter().map(|c| c.run_ns))?;
            let mean = |pick: fn(&Call) -> Option<f64>| {
                let seen: Vec<f64> = mine.iter().filter_map(|c| pick(c)).collect();
                (!seen.is_empty()).then(|| seen.iter().sum::<f64>() / seen.len() as f64)
            };
            let total = |pick: fn(&Call) -> u64| mine.iter().map(|c| pick(c)).sum::<u64>();
            Some(InstanceSummary {
                instance: name.map(String::from),
                calls_count: mine.len() as u64,
                run_ns,
                off_cpu_ratio: total(|c| c.off_cpu_ns) as f64 / total(|c| c.run_ns).max(1) as f64,
                steal_ratio: mean(|c| c.steal_ratio),
                throttled_ratio: mean(|c| c.throttled_ratio),
                ratio_to_others,
                p_value,
                outlier: p_value.is_some_and(|p| p < OUTLIER_ALPHA)
                    && ratio_to_others.is_some_and(|r| r >= OUTLIER_MIN_RATIO),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ANSWER;

    #[test]
    fn the_slow_instance_is_the_outlier_and_the_others_are_not() {
        let call = Call::from_answer(0, 2_000, ANSWER, None).unwrap().call;
        let on = |instance: &str, run_ns: u64| Call {
            instance: Some(instance.into()),
            run_ns,
            off_cpu_ns: run_ns / 4,
            steal_ratio: Some(0.01),
            ..call.clone()
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
        // Nearest-rank medians (the 10th of 20 runs): 1.509 ms against 1.009, 1.029 and
        // 0.999 ms; p as scipy gives it for those four medians.
        let others = [1_009_000.0f64, 1_029_000.0, 999_000.0];
        let geometric = (others.iter().map(|m| m.ln()).sum::<f64>() / 3.0).exp();
        assert!((slow.ratio_to_others.unwrap() - 1_509_000.0 / geometric).abs() < 1e-9);
        assert!(
            (slow.p_value.unwrap() - 0.001_890_34).abs() < 1e-8,
            "{:?}",
            slow.p_value
        );
        assert!((slow.off_cpu_ratio - 0.25).abs() < 1e-3);
        assert!((slow.steal_ratio.unwrap() - 0.01).abs() < 1e-12);
    }

    /// Each instance is one replicate: a difference between identical instances that the
    /// many calls of each would call significant is no outlier unless it is beyond the spread
    /// between instances and 1.3× or more.
    #[test]
    fn an_instance_is_judged_by_its_median_against_the_others_not_by_its_calls() {
        let call = Call::from_answer(0, 2_000, ANSWER, None).unwrap().call;
        let on = |instance: &str, run_ns: u64| Call {
            instance: Some(instance.into()),
            run_ns,
            ..call.clone()
        };
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
