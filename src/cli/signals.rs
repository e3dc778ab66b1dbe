//! `dynoprobe signals`: vmstat for contention, one line per interval.

use dynoprobe::render::contention::{signals_header, signals_row};
use dynoprobe::signal::snapshot::Sampler;

use super::parse;

#[derive(Debug, clap::Args)]
pub struct SignalsArgs {
    /// Time between lines: 500ms, 1s, 2m, or plain seconds (10ms to 1h).
    #[arg(long, short = 'i', value_name = "DURATION", default_value = "1s", value_parser = parse::parse_interval)]
    interval: std::time::Duration,
    /// Stop after this many lines [default: run until interrupted].
    #[arg(long, short = 'c', value_name = "N", value_parser = parse::parse_count)]
    count: Option<u64>,
    /// Print each interval as one JSON object per line (JSON Lines), every field with its unit.
    #[arg(long)]
    json: bool,
}

pub fn signals(args: SignalsArgs) -> anyhow::Result<()> {
    let mut sampler = Sampler::new();
    let mut earlier = sampler.take();
    let mut later = sampler.take();
    if !args.json {
        outln!("{}", signals_header())?;
    }
    let mut interval_index = 0u64;
    loop {
        std::thread::sleep(args.interval);
        sampler.take_into(&mut later);
        let contention = later.since(&earlier);
        if args.json {
            outln!("{}", serde_json::to_string(&contention)?)?;
        } else {
            outln!("{}", signals_row(&contention))?;
        }
        std::mem::swap(&mut earlier, &mut later);
        interval_index += 1;
        if args.count.is_some_and(|count| interval_index >= count) {
            return Ok(());
        }
    }
}
