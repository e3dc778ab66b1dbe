//! Every parser of kernel text takes arbitrary bytes without panicking, and truncating a
//! recorded file never panics either: it parses or says what was malformed.

use dynoprobe::signal::cgroup::{self, Version};
use dynoprobe::signal::machine::{parse_cpu_model, parse_size};
use dynoprobe::signal::procstat::{ProcStat, parse_into};
use dynoprobe::signal::{pressure, schedstat};
use proptest::prelude::*;

fn all_parsers(bytes: &[u8]) {
    let mut stat = ProcStat::default();
    let _ = parse_into(bytes, &mut stat);
    let _ = schedstat::parse(bytes);
    let _ = schedstat::parse_thread_count(bytes);
    let _ = pressure::parse(bytes);
    let _ = cgroup::parse_cpu_stat(Version::V1, bytes);
    let _ = cgroup::parse_cpu_stat(Version::V2, bytes);
    let _ = cgroup::parse_cpu_max(bytes);
    let _ = cgroup::parse_cfs_quota(bytes, bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = cgroup::locate(&text, &text, |_| true);
    let _ = parse_cpu_model(&text);
    let _ = parse_size(&text);
}

const RECORDED: &[&str] = &[
    "proc_stat.kvm",
    "proc_stat.old-no-steal",
    "schedstat.kvm",
    "pressure_cpu.kvm",
    "mountinfo.v1-hybrid",
    "cgroup-v2/cpu.stat",
    "cgroup-v2/cpu.max",
];

#[test]
fn every_truncation_of_recorded_files_is_handled() {
    for name in RECORDED {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        let bytes = std::fs::read(&path).unwrap();
        for end in 0..=bytes.len().min(4096) {
            all_parsers(&bytes[..end]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        all_parsers(&bytes);
    }

    #[test]
    fn kernel_shaped_text(text in "(cpu[0-9]? |some |full |nr_periods |[0-9]{1,25} |avg10=[0-9.]{0,6} |total=[0-9-]{0,22}|max |-1|\n|:|/| - cgroup2? ){0,40}") {
        all_parsers(text.as_bytes());
    }
}
