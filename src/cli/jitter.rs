//! `dynoprobe jitter`: the flags' CPU lists, a call to [`dynoprobe::report::jitter`], and its
//! rendering.

use std::fmt::Write as _;

use dynoprobe::render;
use dynoprobe::report::{JitterPlan, jitter as measure_jitter};

use super::JitterArgs;

pub fn jitter(args: JitterArgs) -> anyhow::Result<()> {
    if !args.json {
        eprintln!("spinning for {:.1} s …", args.duration.as_secs_f64());
    }
    let report = measure_jitter(&JitterPlan {
        duration: args.duration,
        cpus: args.cpus.map(|c| c.0).unwrap_or_default(),
        threshold_ns: args.threshold,
        attribute_threshold_ns: args.attribute_threshold,
        sleep_interval_ns: args.sleep_interval,
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let mut out = String::new();
    for j in &report.jitter {
        render::jitter::jitter(&mut out, j);
    }
    if let Some(d) = &report.sleep_overshoot_ns {
        let _ = writeln!(
            out,
            "\nsleep overshoot (clock_nanosleep to deadlines every {} µs, {} wake-ups): p50 {} µs, p99 {} µs, max {} µs",
            report.sleep_interval_ns / 1000,
            d.count,
            d.p50 / 1000,
            d.p99 / 1000,
            d.max / 1000
        );
    }
    out.push('\n');
    render::contention::contention(&mut out, &report.contention);
    render::verdict::verdict(&mut out, &report.verdict);
    print!("{out}");
    Ok(())
}

/// CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// One CPU number that this process may run on.
pub fn parse_cpu(text: &str) -> Result<usize, String> {
    let cpu: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a CPU number; got '{text}'"))?;
    let allowed = allowed_cpus();
    if !allowed.contains(&cpu) {
        return Err(format!(
            "CPU {cpu} is not one this process may run on (allowed: {allowed:?})"
        ));
    }
    Ok(cpu)
}

/// A list of CPUs (one clap value, not repeated values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// `0`, `0,2`, `0-3`: CPUs this process may run on, without repeats.
pub fn parse_cpus(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (parse_cpu(a)?, parse_cpu(b)?),
            None => (parse_cpu(part)?, parse_cpu(part)?),
        };
        if first > last {
            return Err(format!("CPU range '{part}' runs backwards"));
        }
        for cpu in first..=last {
            let cpu = parse_cpu(&cpu.to_string())?;
            if !cpus.contains(&cpu) {
                cpus.push(cpu);
            }
        }
    }
    Ok(CpuList(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_checked_against_our_affinity() {
        let allowed = allowed_cpus();
        let first = allowed[0];
        assert_eq!(parse_cpus(&first.to_string()), Ok(CpuList(vec![first])));
        assert_eq!(
            parse_cpus(&format!("{first},{first}")),
            Ok(CpuList(vec![first]))
        );
        assert!(
            parse_cpus("4096")
                .unwrap_err()
                .contains("not one this process may run on")
        );
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("").is_err());
        if allowed.len() >= 2 {
            let (a, b) = (allowed[0], allowed[1]);
            assert_eq!(
                parse_cpus(&format!("{a}-{b}")).map(|v| v.0.len()),
                Ok(b - a + 1)
            );
            assert!(parse_cpus(&format!("{b}-{a}")).is_err());
        }
    }
}
