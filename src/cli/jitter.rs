//! `dynoprobe jitter`: the flags' CPU lists, a call to [`dynoprobe::report::jitter`], and its
//! rendering.

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
    print!("{}", render::jitter::report(&report));
    Ok(())
}
