//! The decrypt workloads against OpenSSL on this machine, in the same run: criterion times
//! `decrypt-cbc` and `decrypt-ctr` (the workloads themselves, checksum included), then
//! `openssl speed -evp aes-256-{cbc,ctr} -decrypt` decrypts as many bytes per call, in
//! rounds; the bench prints each round's throughputs and ratio, and the median ratio. The
//! target is at least 0.9× on any host; `cargo bench --bench openssl -- --warm-up-time 1
//! --measurement-time 2`. Without `openssl` on the PATH it says so and only times.

use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynoprobe::sidecar::criterion_home;
use dynoprobe::{Inputs, find_workload};

/// Seconds `openssl speed` runs for each cipher in each round.
const OPENSSL_SECONDS: &str = "2";
/// Rounds of (criterion, then OpenSSL) per workload: this host's speed drifts minute to
/// minute, so one pair can compare a slow minute with a quick one; the median of the
/// rounds' ratios cannot be set by one such pair.
const ROUNDS: usize = 3;

fn against_openssl(c: &mut Criterion) {
    let inputs = Inputs::shipped();
    let backend = dynoprobe::signal::machine::AesBackend::detect().name();
    for (name, cipher) in [
        ("decrypt-cbc", "aes-256-cbc"),
        ("decrypt-ctr", "aes-256-ctr"),
    ] {
        let Some(mut workload) = find_workload(name).and_then(|s| s.prepare(&inputs).ok()) else {
            panic!("{name} cannot be prepared");
        };
        let bytes = workload.bytes_per_run();
        let mut ratios = Vec::new();
        for round in 1..=ROUNDS {
            let id = format!("{name}-{round}");
            let mut group = c.benchmark_group("openssl");
            group.throughput(Throughput::Bytes(bytes));
            group.bench_function(&id, |b| b.iter(|| workload.run()));
            group.finish();
            let Some(ours) = median_ns(&id).map(|ns| bytes as f64 / ns) else {
                break; // filtered out, or --list / --test
            };
            match openssl_bytes_per_s(cipher, bytes) {
                Ok(theirs) => {
                    let ratio = ours * 1e9 / theirs;
                    ratios.push(ratio);
                    println!(
                        "{id}: {ours:.2} GB/s, openssl speed -evp {cipher} -decrypt: {:.2} GB/s: \
                         {ratio:.2}×",
                        theirs / 1e9
                    );
                }
                Err(why) => println!("{id}: {ours:.2} GB/s; no OpenSSL figure: {why}"),
            }
        }
        ratios.sort_by(f64::total_cmp);
        if let Some(median) = ratios.get(ratios.len() / 2) {
            println!(
                "{name}: {median:.2}× OpenSSL, the median of {} rounds (AES: {backend})",
                ratios.len()
            );
        }
    }
}

/// criterion's median for `openssl/<name>` from this run, ns per run.
fn median_ns(name: &str) -> Option<f64> {
    let path = criterion_home()
        .join("openssl")
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

/// What `openssl speed` decrypts per second in calls of `bytes`.
fn openssl_bytes_per_s(cipher: &str, bytes: u64) -> Result<f64, String> {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-evp",
            cipher,
            "-decrypt",
            "-seconds",
            OPENSSL_SECONDS,
        ])
        .args(["-bytes", &bytes.to_string()])
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The last line: "AES-256-CBC  5897317.89k", in 1000s of bytes per second.
    let thousands = (text.lines().last())
        .and_then(|line| {
            line.split_whitespace()
                .last()?
                .strip_suffix('k')?
                .parse::<f64>()
                .ok()
        })
        .ok_or_else(|| format!("unexpected output from openssl speed: {text:?}"))?;
    Ok(1000.0 * thousands)
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = against_openssl
}
criterion_main!(benches);
