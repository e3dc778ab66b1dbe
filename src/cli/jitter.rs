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
