//! `dynoprobe signals`: vmstat for contention, one line per interval.

use std::time::Duration;

use dynoprobe::signal::snapshot::{Contention, Sampler};

use super::SignalsArgs;

pub fn signals(args: SignalsArgs) -> anyhow::Result<()> {
    let mut sampler = Sampler::new();
    let mut earlier = sampler.take();
    let mut later = sampler.take();
    if !args.json {
        println!(
            "{:>7} {:>7} {:>8} {:>10} {:>8} {:>12} {:>7}",
            "steal%", "rqwait%", "thrott%", "psi-some%", "preempt/s", "proc-cpu", "busy%"
        );
    }
    let mut interval_index = 0u64;
    loop {
        std::thread::sleep(args.interval);
        sampler.take_into(&mut later);
        let contention = later.since(&earlier);
        if args.json {
            println!("{}", serde_json::to_string(&contention)?);
        } else {
            println!("{}", row(&contention));
        }
        std::mem::swap(&mut earlier, &mut later);
        interval_index += 1;
        if args.count.is_some_and(|count| interval_index >= count) {
            return Ok(());
        }
    }
}

fn row(c: &Contention) -> String {
    let pct = |v: Option<f64>| v.map_or("-".into(), |r| format!("{:.1}", r * 100.0));
    format!(
        "{:>7} {:>7} {:>8} {:>10} {:>8} {:>12} {:>7}",
        pct(c.steal_ratio.value()),
        pct(c.runqueue_wait_ratio.value()),
        pct(c.throttled_ratio.value()),
        pct(c.pressure_some_ratio.value()),
        c.involuntary_switches_per_s
            .value()
            .map_or("-".into(), |r| format!("{r:.0}")),
        c.process_cpu_seconds_per_s
            .value()
            .map_or("-".into(), |r| format!("{r:.2} CPUs")),
        pct(c.cpu_usage_ratio.value()),
    )
}

/// `--interval`: `250ms`, `1s`, `1.5s`, `2m`, or plain seconds; from 10 ms to 1 hour.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let expected = "expected a duration such as 500ms, 1s or 2m, from 10ms to 1h";
    let seconds = number
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("{expected}; got '{text}'"))?
        * scale;
    if !(0.01..=3600.0).contains(&seconds) {
        return Err(format!("{expected}; got '{text}'"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `--count`: at least 1.
pub fn parse_count(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("expected a count of intervals of at least 1; 0 would print nothing".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "expected a whole number of intervals; got '{text}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_take_units_and_refuse_nonsense() {
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        for bad in ["0", "0s", "1ms", "-1s", "soon", "NaN", "inf", "2h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_are_positive() {
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("0").is_err());
        assert!(parse_count("x").is_err());
    }
}
