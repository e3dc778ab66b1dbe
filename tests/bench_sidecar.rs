//! `cargo bench --bench workloads -- --save-baseline x` writes the dynoprobe.json sidecar in
//! `new/` and in `x/`, beside criterion's own files. Runs one short benchmark into a
//! temporary CRITERION_HOME.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_saved_baseline_gets_a_sidecar_next_to_criterions_files() {
    let home = std::env::temp_dir().join(format!("dynoprobe-bench-{}", std::process::id()));
    let mut cargo = Command::new(env!("CARGO"));
    // The variables cargo sets for a test are not a top-level cargo's: `ring`'s build watches
    // CARGO_MANIFEST_DIR, and inherited it rebuilt ring, rustls, ureq and dynoprobe (90 s of
    // CI) instead of running the bench CI had built.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&&*name);
        if set_for_tests {
            cargo.env_remove(&*name);
        }
    }
    let mut child = cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CRITERION_HOME", &home)
        .args(["bench", "--bench", "workloads", "--"])
        .args([
            "--warm-up-time",
            "0.2",
            "--measurement-time",
            "0.5",
            "--save-baseline",
            "x",
        ])
        .arg("^chase-l2/")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cargo runs");
    // A release build of the bench may take minutes on a fresh checkout; never hang forever.
    let deadline = Instant::now() + Duration::from_secs(900);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cargo bench did not finish in 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = child.wait_with_output().expect("output");
    assert!(output.status.success(), "cargo bench failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("dynoprobe chase-l2/dynoprobe: "),
        "{stdout}"
    );
    let bench = home.join("chase-l2/dynoprobe");
    for dir in ["new", "x"] {
        for file in [
            "dynoprobe.json",
            "estimates.json",
            "sample.json",
            "benchmark.json",
        ] {
            assert!(bench.join(dir).join(file).is_file(), "{dir}/{file} missing");
        }
        let sidecar: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bench.join(dir).join("dynoprobe.json")).unwrap())
                .unwrap();
        assert_eq!(sidecar["benchmark"], "chase-l2/dynoprobe");
        assert_eq!(sidecar["criterion_version"], "0.8");
        assert!(sidecar["runs_count"].as_u64().unwrap() > 0);
        assert!(sidecar["machine"]["kernel"].is_string());
    }
    assert!(
        !Path::new(&home)
            .join("chase-l2/direct/new/dynoprobe.json")
            .exists(),
        "direct calls have no spans"
    );
    std::fs::remove_dir_all(&home).unwrap();
}
