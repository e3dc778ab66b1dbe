//! A spin's findings as text: the ledger, each cause with its gaps, and the kernel's figures
//! beside the spin's.

use std::fmt::Write as _;

use super::contention::contention;
use super::table::{Align, Table, numbers};
use super::units::{count, fine_percent, ms_f, percent, seconds, us, whole, whole_us};
use super::verdict::verdict;
use crate::jitter::infer::Method;
use crate::jitter::spin::MAX_GAPS_PER_ITERATION;
use crate::jitter::{Cause, Jitter};
use crate::report::JitterReport;
use crate::signal::kconfig::Accounting;

/// A `jitter` report as text: each spin, the sleep phase, the contention counters and the
/// verdict.
pub fn report(report: &JitterReport) -> String {
    let mut out = String::new();
    if let Some(a) = &report.machine.accounting {
        let _ = writeln!(out, "{}", accounting(a));
    }
    for j in &report.jitter {
        jitter(&mut out, j);
    }
    if let Some(d) = &report.sleep_overshoot_ns {
        let _ = writeln!(
            out,
            "\nsleep overshoot (clock_nanosleep to deadlines every {} µs, {} wake-ups): p50 {} µs, p99 {} µs, max {} µs",
            whole_us(report.sleep_interval_ns),
            d.count,
            whole_us(d.p50),
            whole_us(d.p99),
            whole_us(d.max)
        );
    }
    out.push('\n');
    contention(&mut out, &report.contention);
    verdict(&mut out, &report.verdict);
    out
}

/// One line: how the kernel accounts CPU time, which decides how a gap is attributed; what
/// was assumed, not read or inferred, says so.
pub fn accounting(a: &Accounting) -> String {
    let kept = |known: Option<bool>, excluded: bool, what: &str, of: &str| {
        let how = if excluded {
            "kept out of"
        } else {
            "counted in"
        };
        let assumed = if known.is_none() { " (assumed)" } else { "" };
        format!("{what} {how} {of}{assumed}")
    };
    let tick = a
        .tick_hz
        .map_or(String::new(), |hz| format!(", timer tick {hz} Hz"));
    format!(
        "kernel accounting ({}): {}, {}{tick}",
        a.source,
        kept(
            a.steal_excluded,
            a.steal_shows(),
            "steal",
            "a thread's CPU time"
        ),
        kept(a.irq_excluded, a.irq_shows(), "interrupt time", "it"),
    )
}

/// A spin phase's findings: the ledger, each cause with its gaps, and the kernel's figures
/// beside ours.
pub fn jitter(out: &mut String, j: &Jitter) {
    heading(out, j);
    out.push_str(&ledger(j));
    let _ = writeln!(out, "  interrupts: {}", j.interrupts.how);
    let _ = writeln!(
        out,
        "  timeslice (run between preemptions, less steal) p50 {}, p90 {}; from counters (on-CPU / switches) {}",
        ms_f(j.timeslice_p50_ms),
        ms_f(j.timeslice_p90_ms),
        ms_f(j.timeslice_from_counters_ms)
    );
    if let Some(t) = j.throttle {
        let _ = writeln!(
            out,
            "  throttling pattern: a throttle every {}, running {} of each period (matches the cgroup's period: {})",
            ms_f(Some(t.period_ms)),
            percent(Some(t.quota_ratio)),
            t.matches_cgroup_period
                .map_or("not readable".into(), |m| if m {
                    "yes".to_string()
                } else {
                    "no".to_string()
                })
        );
    }
}

/// The spin's clock, threshold and gap count, and what went wrong with the threshold.
fn heading(out: &mut String, j: &Jitter) {
    let cpu = j
        .cpu
        .map_or("unpinned".to_string(), |c| format!("on CPU {c}"));
    let _ = writeln!(
        out,
        "\nhiccups: {} s spinning {cpu}, reading {}",
        seconds(j.duration_ns),
        j.clock
    );
    let _ = writeln!(
        out,
        "  clock reads {} ns apart (median); {} gaps over {} ns; those of {} µs or more attributed (reads cost {} of the spin)",
        j.read_delta_ns,
        j.gaps_count,
        j.threshold_ns,
        us(Some(j.attribute_threshold_ns)),
        fine_percent(j.attribution_cost_ratio)
    );
    if let Some(r) = j.threshold_raised {
        let _ = writeln!(
            out,
            "  the auto threshold {} ns saw a gap every {} iterations (the loop's own cost, not the platform's): raised to {} ns and spun again",
            r.from_ns,
            whole(1.0 / r.gaps_per_iteration_ratio),
            j.threshold_ns
        );
    }
    if j.gaps_per_iteration_ratio > MAX_GAPS_PER_ITERATION {
        let _ = writeln!(
            out,
            "  warning: a gap every {} iterations: the threshold {} ns is within the loop's own cost, so short gaps are mostly the loop; raise --threshold",
            whole(1.0 / j.gaps_per_iteration_ratio),
            j.threshold_ns
        );
    }
}

/// The ledger: each cause's share and gaps, and the kernel's own figure beside it.
fn ledger(j: &Jitter) -> String {
    let mut headings = numbers(
        "where time went",
        &["share", "gaps", "p50 µs", "p99 µs", "max µs"],
    );
    headings.push(("kernel's figure", Align::Left));
    let mut table = Table::new("  ", &headings);
    table.row(vec!["on CPU".into(), percent(Some(j.ledger.on_cpu_ratio))]);
    for cause in Cause::ALL {
        let gaps = &j.causes[cause];
        table.row(vec![
            cause.name().into(),
            percent(Some(j.ledger.ratio(cause))),
            gaps.count.to_string(),
            us(gaps.p50_ns),
            us(gaps.p99_ns),
            us(gaps.max_ns),
            kernel_figure(j, cause),
        ]);
    }
    table.text()
}

/// What the kernel's counters say of the time `cause` took.
fn kernel_figure(j: &Jitter, cause: Cause) -> String {
    match cause {
        Cause::Preempted => format!(
            "with throttled: run-queue wait {} (schedstat); {} involuntary switches for our {} gaps{}",
            percent(j.runqueue_wait_ratio),
            count(j.involuntary_switches_count),
            j.preemptions_count,
            if j.switches_in_gaps_count > j.preemptions_count {
                format!(" ({} switches in them)", j.switches_in_gaps_count)
            } else {
                String::new()
            }
        ),
        Cause::Throttled if j.sees_throttling => format!(
            "cgroup throttled {} (cpu.stat)",
            percent(j.cgroup_throttled_ratio)
        ),
        Cause::Throttled => "no CPU quota: cannot be throttled".into(),
        Cause::Stolen if j.cpu.is_some() => {
            format!("steal {} (/proc/stat, this CPU)", percent(j.steal_ratio))
        }
        Cause::Stolen => format!(
            "steal {} (/proc/stat, all CPUs: unpinned)",
            percent(j.steal_ratio)
        ),
        Cause::Interrupt => match j.interrupts.method {
            Method::Perf => "the guest's interrupts in each gap (perf tracepoints)".into(),
            Method::TickPhase => "the timer tick's phase (not counted per gap: see below)".into(),
            Method::None => "not counted: in unreported (see below)".into(),
        },
        Cause::Unreported => "none: counted as this thread's CPU time".into(),
        Cause::Short => "none: too short to attribute".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accounting_line_says_what_the_configuration_says_and_where_from() {
        let debian = Accounting::parse(
            "# CONFIG_PARAVIRT_TIME_ACCOUNTING is not set\nCONFIG_HZ=250\n",
            "/boot/config-6.1.0-48-amd64".into(),
        );
        assert_eq!(
            accounting(&debian),
            "kernel accounting (/boot/config-6.1.0-48-amd64): steal counted in a thread's CPU \
             time, interrupt time counted in it, timer tick 250 Hz"
        );
        let unknown = Accounting::read_from(&[std::path::Path::new("/no/such/config")]);
        assert_eq!(
            accounting(&unknown),
            "kernel accounting (no kernel configuration (/no/such/config)): steal kept out of \
             a thread's CPU time (assumed), interrupt time counted in it (assumed)"
        );
        let inferred = unknown.with_spin_seen(100_000_000, 0);
        assert_eq!(
            accounting(&inferred),
            "kernel accounting (steal inferred: the spin's CPU had 100 ms of steal (/proc/stat) \
             and its gaps lacked 0 ms of CPU time; no kernel configuration (/no/such/config)): \
             steal counted in a thread's CPU time, interrupt time counted in it (assumed)"
        );
    }
}
