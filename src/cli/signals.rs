//! `dynoprobe signals`: vmstat for contention, one line per interval.

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
    use dynoprobe::render::units::percent_number as pct;
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
