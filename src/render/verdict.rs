//! The verdict as text: what the platform took, the class and one sentence to act on, every
//! cause of 1% or more with its source, and the figures behind them. The sentence is built
//! here, from the numbers the verdict holds; nothing is decided.

use std::fmt::Write as _;

use super::units::{
    count, ms_f, ms_with_unit, ns_per_op, percent, ratio, seconds_with_unit, times, whole, whole_ms,
};
use crate::jitter::Cause;
use crate::verdict::{
    Against, CAUSE_MIN_RATIO, CLASS_MIN_RATIO, Class, InterruptRate, Platform, Verdict,
};

/// The verdict: first what the platform cost and the split, then the class and what to do,
/// then every cause of 1% or more and the evidence.
pub fn verdict(out: &mut String, v: &Verdict) {
    out.push('\n');
    if let Some(p) = &v.platform {
        platform(out, p);
    }
    let _ = writeln!(
        out,
        "verdict: {} — {}",
        v.class.name().to_uppercase(),
        summary(v)
    );
    for cost in &v.causes {
        let _ = writeln!(
            out,
            "  {:<10} {:>6}  ({})",
            cost.class,
            percent(Some(cost.cost_ratio)),
            cost.source
        );
    }
    if v.causes.is_empty() {
        let least = percent(Some(CAUSE_MIN_RATIO));
        let _ = writeln!(out, "  no cause cost {least} or more");
    }
    for line in evidence(v) {
        let _ = writeln!(out, "  · {line}");
    }
}

fn platform(out: &mut String, p: &Platform) {
    let cpu = p
        .cpu
        .map_or("the probe's CPU".into(), |c| format!("CPU {c}"));
    let lost = |cause| percent(Some(p.lost.0[cause]));
    let rate = p
        .interrupts
        .map_or(String::new(), |i| format!(" ({})", interrupt_rate(&i)));
    let _ = writeln!(
        out,
        "the platform took {} of {cpu}: {} hypervisor steal, {} host pauses the hypervisor does not report, {} this kernel's own interrupts{rate}, {} neighbours, {} quota, {} too short to attribute",
        percent(Some(p.total_ratio)),
        lost(Cause::Stolen),
        lost(Cause::Unreported),
        lost(Cause::Interrupt),
        lost(Cause::Preempted),
        lost(Cause::Throttled),
        lost(Cause::Short),
    );
    if let Some(g) = p.worst_pause {
        let _ = writeln!(
            out,
            "worst single pause: {} ({}, {} into the spin)",
            ms_with_unit(g.len_ns),
            g.cause.name(),
            seconds_with_unit(g.start_ns)
        );
    }
}

/// "248 a second, 26 µs each: at 250 Hz, mostly its timer tick".
fn interrupt_rate(i: &InterruptRate) -> String {
    let each = i.p50_ns.map_or(String::new(), |ns| {
        format!(", {} µs each (p50)", ns / 1_000)
    });
    let tick = match (i.tick_hz, i.mostly_tick) {
        (Some(hz), Some(true)) => format!(": at {hz} Hz, mostly its timer tick"),
        (Some(hz), _) => format!("; its timer tick is {hz} Hz"),
        (None, _) => String::new(),
    };
    format!("{} a second{each}{tick}", whole(i.gaps_per_s))
}

/// One sentence a person can act on, from the largest cost.
pub fn summary(v: &Verdict) -> String {
    let top = v.causes.first();
    let cost = percent(Some(top.map_or(0.0, |c| c.cost_ratio)));
    let spin = v.basis.spin;
    match v.class {
        Class::Throttled => match spin.and_then(|s| s.throttle) {
            Some(t) => format!(
                "The cgroup's CPU quota stopped it {cost}: {} in every {} period; ask for a larger quota or use fewer threads.",
                whole_ms(t.stopped_ms()),
                whole_ms(t.period_ms)
            ),
            None => format!(
                "The cgroup's CPU quota stopped it {cost} of the time; ask for a larger quota or use fewer threads."
            ),
        },
        Class::Stolen => match top.and_then(|c| c.reported_ratio.zip(c.unreported_ratio)) {
            Some((reported, unreported)) => format!(
                "The hypervisor took {cost} of this vCPU: {} reported as steal, {} in pauses it does not report; a less crowded or dedicated instance class avoids it.",
                percent(Some(reported)),
                percent(Some(unreported))
            ),
            None => format!(
                "The hypervisor gave {cost} of the CPU to other guests (steal); a less crowded or dedicated instance class avoids it."
            ),
        },
        Class::Contended => {
            let turns = spin
                .and_then(|s| s.timeslice_p50_ms)
                .map_or(String::new(), |t| {
                    format!(", in turns of about {}", ms_f(Some(t)))
                });
            format!(
                "Other tasks on this CPU took {cost}{turns}; move other work off this machine or use dedicated cores."
            )
        }
        Class::Slowed => {
            let worst = v.slowed.iter().map(|s| s.ratio).fold(0.0, f64::max);
            format!(
                "The same work took up to {} as long per op with nothing taking the CPU away: neighbours' cache and memory traffic (or a lower clock); a dedicated-core instance avoids it.",
                times(worst)
            )
        }
        Class::Noisy => noisy(v, &cost),
        Class::Quiet => format!(
            "The platform took less than {} of the CPU by any one cause, and the same work took the same time per op: latency spikes on this machine are the code's own.",
            percent(Some(CLASS_MIN_RATIO))
        ),
    }
}

/// The sentence for a platform whose largest cost is its own kernel's interrupts and gaps
/// too short to attribute.
fn noisy(v: &Verdict, cost: &str) -> String {
    let top = v.causes.first();
    let parts = top.and_then(|c| c.interrupt_ratio.zip(c.short_ratio));
    let rate = v.platform.and_then(|p| p.interrupts);
    match (parts, rate) {
        (Some((interrupt, short)), Some(rate)) => format!(
            "This kernel's own interrupts took {} ({}) and gaps too short to attribute {}; on a VM each tick costs exits to the host, so a kernel with a lower HZ, or nohz_full on cores set aside for the work, loses less; tail latency below a millisecond will show it.",
            percent(Some(interrupt)),
            interrupt_rate(&rate),
            percent(Some(short))
        ),
        _ => format!(
            "{cost} of the time vanished in the kernel's own interrupts and gaps too short to attribute (short VM exits); tail latency below a millisecond will show it."
        ),
    }
}

/// The figures behind the verdict, each with its source: the slowed workloads first, then the
/// kernel's counters, then the spin against the kernel.
pub fn evidence(v: &Verdict) -> Vec<String> {
    let mut lines: Vec<String> = v
        .slowed
        .iter()
        .map(|s| match s.against {
            Against::Reference {
                median_ns,
                reference_ns,
            } => format!(
                "{}: {} ns per op (median) vs {} ns in the reference ({})",
                s.workload,
                ns_per_op(median_ns),
                ns_per_op(reference_ns),
                times(s.ratio)
            ),
            Against::Spread {
                p10_ns,
                p90_ns,
                runs_count,
            } => format!(
                "{}: ns per op p90 / p10 = {} ({} / {} ns) across {runs_count} runs",
                s.workload,
                ratio(s.ratio),
                ns_per_op(p90_ns),
                ns_per_op(p10_ns)
            ),
        })
        .collect();
    let b = &v.basis;
    lines.push(format!(
        "steal {} of all CPUs' time (/proc/stat)",
        percent(b.steal_ratio)
    ));
    lines.push(format!(
        "run-queue wait {} of runnable time (schedstat)",
        percent(b.runqueue_wait_ratio)
    ));
    lines.push(format!(
        "throttled {} of the time, {} of periods (cgroup cpu.stat)",
        percent(b.throttled_ratio),
        percent(b.throttled_period_ratio)
    ));
    if let Some(s) = b.spin {
        lines.push(format!(
            "spin: {} gaps the thread was switched out for (kernel: {} involuntary switches); preempted + throttled {} of the time (kernel run-queue wait {}); stolen {} (kernel steal on this CPU {})",
            s.preemptions_count,
            count(s.involuntary_switches_count),
            percent(Some(s.switched_ratio)),
            percent(s.runqueue_wait_ratio),
            percent(Some(s.stolen_ratio)),
            percent(s.steal_ratio),
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jitter::{ByCause, Ratios, Throttle, spin::Gap};
    use crate::verdict::{Basis, Cost, SlowedWorkload, SpinBasis};

    fn basis() -> Basis {
        Basis {
            steal_ratio: Some(0.0),
            runqueue_wait_ratio: Some(0.001),
            throttled_ratio: None,
            throttled_period_ratio: None,
            spin: None,
        }
    }

    fn verdict_of(class: Class, causes: Vec<Cost>) -> Verdict {
        Verdict {
            class,
            platform: None,
            causes,
            slowed: Vec::new(),
            basis: basis(),
        }
    }

    fn cost(class: Class, cost_ratio: f64) -> Cost {
        Cost::of(class, cost_ratio, "test")
    }

    #[test]
    fn the_verdict_opens_with_what_the_platform_took() {
        let verdict = Verdict {
            platform: Some(Platform {
                cpu: Some(1),
                total_ratio: 0.088,
                lost: Ratios(ByCause::from_fn(|cause| match cause {
                    Cause::Stolen => 0.033,
                    Cause::Unreported => 0.048,
                    Cause::Interrupt => 0.005,
                    Cause::Short => 0.002,
                    _ => 0.0,
                })),
                interrupts: Some(InterruptRate {
                    gaps_per_s: 248.4,
                    p50_ns: Some(26_200),
                    tick_hz: Some(250),
                    mostly_tick: Some(true),
                }),
                worst_pause: Some(Gap {
                    start_ns: 1_250_000_000,
                    len_ns: 2_500_000,
                    cause: Cause::Stolen,
                    wait_ns: 0,
                    start_tick: 0,
                    end_tick: 0,
                    delta: None,
                }),
            }),
            ..verdict_of(
                Class::Stolen,
                vec![Cost {
                    reported_ratio: Some(0.033),
                    unreported_ratio: Some(0.048),
                    source: "spin: stolen and unreported gaps",
                    ..cost(Class::Stolen, 0.081)
                }],
            )
        };
        let mut out = String::new();
        super::verdict(&mut out, &verdict);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1],
            "the platform took 8.8% of CPU 1: 3.3% hypervisor steal, 4.8% host pauses the \
             hypervisor does not report, 0.5% this kernel's own interrupts (248 a second, 26 µs \
             each (p50): at 250 Hz, mostly its timer tick), 0.0% neighbours, 0.0% quota, 0.2% \
             too short to attribute"
        );
        assert_eq!(
            lines[2],
            "worst single pause: 2.500 ms (stolen, 1.250 s into the spin)"
        );
        assert_eq!(
            lines[3],
            "verdict: STOLEN — The hypervisor took 8.1% of this vCPU: 3.3% reported as steal, \
             4.8% in pauses it does not report; a less crowded or dedicated instance class \
             avoids it."
        );
        assert_eq!(
            lines[4],
            "  stolen       8.1%  (spin: stolen and unreported gaps)"
        );
        assert_eq!(lines[5], "  · steal 0.0% of all CPUs' time (/proc/stat)");
    }

    #[test]
    fn each_class_says_its_cost_and_what_to_do() {
        let quiet = summary(&verdict_of(Class::Quiet, vec![cost(Class::Stolen, 0.015)]));
        assert!(quiet.contains("less than 2.0%"), "{quiet}");
        let mut contended = verdict_of(Class::Contended, vec![cost(Class::Contended, 0.4)]);
        contended.basis.spin = Some(SpinBasis {
            preemptions_count: 100,
            involuntary_switches_count: Some(100),
            switched_ratio: 0.4,
            runqueue_wait_ratio: Some(0.4),
            stolen_ratio: 0.0,
            steal_ratio: Some(0.0),
            timeslice_p50_ms: Some(3.92),
            throttle: Some(Throttle {
                period_ms: 100.0,
                quota_ratio: 0.3,
                matches_cgroup_period: Some(true),
            }),
        });
        let text = summary(&contended);
        assert!(
            text.starts_with("Other tasks on this CPU took 40.0%, in turns of about 3.92 ms"),
            "{text}"
        );
        contended.class = Class::Throttled;
        assert!(
            summary(&contended).contains("stopped it 40.0%: 70 ms in every 100 ms period"),
            "{}",
            summary(&contended)
        );
        let stolen = summary(&verdict_of(Class::Stolen, vec![cost(Class::Stolen, 0.12)]));
        assert!(stolen.contains("gave 12.0% of the CPU"), "{stolen}");
        let mut noisy = verdict_of(
            Class::Noisy,
            vec![Cost {
                interrupt_ratio: Some(0.021),
                short_ratio: Some(0.004),
                ..cost(Class::Noisy, 0.025)
            }],
        );
        noisy.platform = Some(Platform {
            cpu: Some(1),
            total_ratio: 0.025,
            lost: Ratios::default(),
            worst_pause: None,
            interrupts: Some(InterruptRate {
                gaps_per_s: 1_010.0,
                p50_ns: Some(20_800),
                tick_hz: Some(1000),
                mostly_tick: Some(true),
            }),
        });
        assert_eq!(
            summary(&noisy),
            "This kernel's own interrupts took 2.1% (1010 a second, 20 µs each (p50): at 1000 \
             Hz, mostly its timer tick) and gaps too short to attribute 0.4%; on a VM each tick \
             costs exits to the host, so a kernel with a lower HZ, or nohz_full on cores set \
             aside for the work, loses less; tail latency below a millisecond will show it."
        );
    }

    #[test]
    fn slowed_workloads_say_against_what() {
        let mut v = verdict_of(Class::Slowed, vec![cost(Class::Slowed, 0.23)]);
        v.slowed = vec![
            SlowedWorkload {
                workload: "chase-llc".into(),
                ratio: 1.3,
                against: Against::Reference {
                    median_ns: 13.0,
                    reference_ns: 10.0,
                },
            },
            SlowedWorkload {
                workload: "decrypt-ctr".into(),
                ratio: 1.7,
                against: Against::Spread {
                    p10_ns: 1.0,
                    p90_ns: 1.7,
                    runs_count: 10,
                },
            },
        ];
        assert!(summary(&v).contains("up to 1.70× as long per op"));
        let lines = evidence(&v);
        assert_eq!(
            lines[0],
            "chase-llc: 13.000 ns per op (median) vs 10.000 ns in the reference (1.30×)"
        );
        assert_eq!(
            lines[1],
            "decrypt-ctr: ns per op p90 / p10 = 1.70 (1.700 / 1.000 ns) across 10 runs"
        );
    }
}
