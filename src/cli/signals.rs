//! `dynoprobe signals`: vmstat for contention, one line per interval.

use dynoprobe::render::contention::{signals_header, signals_row};
use dynoprobe::signal::snapshot::Sampler;

use super::SignalsArgs;

pub fn signals(args: SignalsArgs) -> anyhow::Result<()> {
    let mut sampler = Sampler::new();
    let mut earlier = sampler.take();
    let mut later = sampler.take();
    if !args.json {
        println!("{}", signals_header());
    }
    let mut interval_index = 0u64;
    loop {
        std::thread::sleep(args.interval);
        sampler.take_into(&mut later);
        let contention = later.since(&earlier);
        if args.json {
            println!("{}", serde_json::to_string(&contention)?);
        } else {
            println!("{}", signals_row(&contention));
        }
        std::mem::swap(&mut earlier, &mut later);
        interval_index += 1;
        if args.count.is_some_and(|count| interval_index >= count) {
            return Ok(());
        }
    }
}
