//! One benchmark per workload, and beside it the same work done by calling the crate
//! directly on the same prepared input: `<workload>/dynoprobe` vs `<workload>/direct`.
//! Their ratio is the cost of the `Workload` wrapper (dynamic dispatch and the checksum);
//! the target is at most 3%.
//!
//! `<workload>/dynoprobe` times every iteration inside a Span (`iter_custom`), prints one
//! line of per-run variance and contention after criterion's output, and writes it as
//! `dynoprobe.json` beside criterion's files (in `new/`, and in the baseline's directory
//! with `--save-baseline NAME`), for `dynoprobe compare`.

use std::hint::black_box;

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, KeyIvInit, StreamCipher, block_padding::Pkcs7};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynoprobe::sidecar::{BenchArgs, Recorder, criterion_home};
use dynoprobe::workload::chase::{self, Chase, Level};
use dynoprobe::workload::fixture::{IV, KEY};
use dynoprobe::workload::payload::Record;
use dynoprobe::workload::{Inputs, find};

/// Samples per benchmark (criterion's `--sample-size` overrides it).
const SAMPLE_SIZE: usize = 20;

fn pair(c: &mut Criterion, inputs: &Inputs, name: &str, mut direct: impl FnMut()) {
    let Some(spec) = find(name) else {
        panic!("{name} is not in the catalog");
    };
    let mut workload = spec
        .prepare(inputs)
        .unwrap_or_else(|e| panic!("preparing {name}: {e}"));
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(workload.bytes_per_run()));
    let mut recorder = Recorder::new();
    group.bench_function("dynoprobe", |b| {
        b.iter_custom(|iters| recorder.batch(iters, || workload.run()))
    });
    group.bench_function("direct", |b| b.iter(&mut direct));
    group.finish();
    report(&mut recorder, name);
}

/// Prints the per-run line and writes the sidecar for `<name>/dynoprobe`, unless criterion
/// only listed or tested the benchmarks, or a filter skipped this one.
fn report(recorder: &mut Recorder, name: &str) {
    let args = BenchArgs::from_env();
    let samples = args.sample_size.unwrap_or(SAMPLE_SIZE);
    let Some(summary) = recorder.summary(&format!("{name}/dynoprobe"), samples) else {
        return;
    };
    if args.dry {
        return;
    }
    println!("{}", dynoprobe::render::sidecar::line(&summary));
    let dir = criterion_home().join(name).join("dynoprobe");
    if let Err(error) = summary.write(&dir, args.save_baseline.as_deref()) {
        eprintln!(
            "dynoprobe: cannot write the sidecar in {}: {error}",
            dir.display()
        );
    }
}

fn workloads(c: &mut Criterion) {
    let inputs = Inputs::shipped();
    let json = inputs.fixture.json.to_vec();
    let cbc = inputs.fixture.ciphertext.to_vec();
    let mut out = vec![0u8; cbc.len()];

    pair(c, &inputs, "json-serde-value", || {
        black_box(serde_json::from_slice::<serde_json::Value>(&json).ok());
    });
    pair(c, &inputs, "json-serde-typed", || {
        black_box(serde_json::from_slice::<Vec<Record>>(&json).ok());
    });
    let mut scratch = Vec::with_capacity(json.len());
    let mut buffers = simd_json::Buffers::new(json.len());
    pair(c, &inputs, "json-simd-value", || {
        scratch.clear();
        scratch.extend_from_slice(&json);
        black_box(simd_json::to_borrowed_value_with_buffers(&mut scratch, &mut buffers).ok());
    });
    pair(c, &inputs, "json-simd-typed", || {
        scratch.clear();
        scratch.extend_from_slice(&json);
        black_box(
            simd_json::serde::from_slice_with_buffers::<Vec<Record>>(&mut scratch, &mut buffers)
                .ok(),
        );
    });
    let keys = dynoprobe::workload::aes_fused::Keys::new(&KEY);
    pair(c, &inputs, "decrypt-cbc", || {
        black_box(keys.cbc_decrypt_b2b(IV, &cbc, &mut out));
    });
    let mut ctr_ciphertext = json.clone();
    ctr::Ctr128BE::<Aes256>::new(&KEY.into(), &IV.into()).apply_keystream(&mut ctr_ciphertext);
    let mut ctr_out = vec![0u8; json.len()];
    pair(c, &inputs, "decrypt-ctr", || {
        black_box(keys.apply_b2b(u128::from_be_bytes(IV), &ctr_ciphertext, &mut ctr_out));
    });
    pair(c, &inputs, "decrypt-parse", || {
        let dec = cbc::Decryptor::<Aes256>::new(&KEY.into(), &IV.into());
        if let Ok(plain) = dec.decrypt_padded_b2b::<Pkcs7>(&cbc, &mut out) {
            black_box(serde_json::from_slice::<serde_json::Value>(plain).ok());
        }
    });
    for level in [Level::L2, Level::Llc, Level::Dram] {
        let lines = Chase::for_level(level, &inputs.caches);
        let mut at = 0;
        pair(c, &inputs, level.name(), || {
            let (next, sum) = chase::walk(lines.lines(), at, chase::STEPS_PER_RUN);
            at = next;
            black_box(sum);
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(SAMPLE_SIZE);
    targets = workloads
}
criterion_main!(benches);
