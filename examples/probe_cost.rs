//! What a `Probe` costs a service: the process's CPU time (getrusage) over a run in which
//! nothing but the probe works, at the default 1 s interval.
//! `cargo run --release --example probe_cost [SECONDS] [--sleep-jitter]`.

use std::time::{Duration, Instant};

use dynoprobe::Probe;
use dynoprobe::signal::rusage::{Who, read};

fn cpu_ns() -> u64 {
    read(Who::Process).map_or(0, |u| u.user_ns + u.system_ns)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sleep_jitter = args.iter().any(|a| a == "--sleep-jitter");
    let seconds: u64 = match args.iter().find(|a| !a.starts_with("--")) {
        None => 60,
        Some(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("usage: probe_cost [SECONDS] [--sleep-jitter] (got {text:?})");
            std::process::exit(2);
        }),
    };
    let (cpu0, start) = (cpu_ns(), Instant::now());
    let probe = match Probe::builder().sleep_jitter(sleep_jitter).start() {
        Ok(probe) => probe,
        Err(error) => {
            eprintln!("cannot start the probe: {error}");
            std::process::exit(1);
        }
    };
    std::thread::sleep(Duration::from_secs(seconds));
    let samples = probe.latest().samples_count;
    drop(probe);
    let (cpu, wall) = (cpu_ns() - cpu0, start.elapsed());
    println!(
        "probe (sleep jitter {}): {samples} samples in {:.1} s, {:.3} ms of CPU: {:.4}% of one core ({:.1} µs per sample)",
        if sleep_jitter { "on" } else { "off" },
        wall.as_secs_f64(),
        cpu as f64 / 1e6,
        cpu as f64 / wall.as_nanos() as f64 * 100.0,
        cpu as f64 / 1e3 / samples.max(1) as f64
    );
}
