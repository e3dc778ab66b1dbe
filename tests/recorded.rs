//! Parsers and readers on files recorded from real machines (this project's KVM guest) and
//! hand-made ones for what it lacks: cgroup v2, a container's cgroup mount, an old kernel
//! without the steal column, PSI without `full`, and missing files.

use std::path::{Path, PathBuf};

use dynoprobe::signal::cgroup::{CgroupReader, Location, Version, locate};
use dynoprobe::signal::procstat::{ProcStat, parse_into};
use dynoprobe::signal::{ProcFile, Reason, pressure, schedstat};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn proc_stat_of_a_kvm_guest_has_steal_per_cpu() {
    let mut stat = ProcStat::default();
    parse_into(read("proc_stat.kvm").as_bytes(), &mut stat).unwrap();
    assert_eq!(stat.all.user, 111_498);
    assert_eq!(stat.all.steal, Some(145));
    assert_eq!(stat.per_cpu.len(), 2);
    let steal_sum: u64 = stat.per_cpu.iter().filter_map(|(_, t)| t.steal).sum();
    assert_eq!(
        steal_sum, 144,
        "per-CPU steal sums to within a tick of the total"
    );
}

#[test]
fn proc_stat_of_an_old_kernel_has_no_steal() {
    let mut stat = ProcStat::default();
    parse_into(read("proc_stat.old-no-steal").as_bytes(), &mut stat).unwrap();
    assert_eq!(stat.all.steal, None);
    assert_eq!(stat.all.total(), 4705 + 356 + 584 + 3699 + 23 + 23);
}

#[test]
fn schedstat_and_pressure_as_recorded() {
    let s = schedstat::parse(read("schedstat.kvm").as_bytes()).unwrap();
    assert_eq!((s.on_cpu_ns, s.wait_ns, s.timeslices), (546_655, 0, 3));
    let p = pressure::parse(read("pressure_cpu.kvm").as_bytes()).unwrap();
    assert_eq!(p.some.total_us, 28_477_247);
    assert_eq!(p.some.avg300_percent, 1.26);
    assert_eq!(p.full.map(|f| f.total_us), Some(0));
    let old = pressure::parse(read("pressure_cpu.old-no-full").as_bytes()).unwrap();
    assert_eq!(old.full, None);
}

#[test]
fn missing_files_are_reported_as_missing() {
    for name in ["schedstat.absent", "pressure_cpu.absent"] {
        let mut file = ProcFile::open("recorded", data(name));
        assert_eq!(file.read().unwrap_err().reason, Reason::Missing);
    }
}

#[test]
fn cgroup_v1_hybrid_uses_the_cpu_controller_not_the_unified_tree() {
    let found = locate(
        &read("proc_self_cgroup.v1-hybrid"),
        &read("mountinfo.v1-hybrid"),
        |_| true,
    );
    assert_eq!(
        found,
        Some(Location {
            version: Version::V1,
            dir: PathBuf::from("/sys/fs/cgroup/cpu"),
            mount_point: PathBuf::from("/sys/fs/cgroup/cpu"),
        })
    );
}

#[test]
fn cgroup_v2_nested_path() {
    let found = locate(&read("proc_self_cgroup.v2"), &read("mountinfo.v2"), |_| {
        true
    })
    .unwrap();
    assert_eq!(found.version, Version::V2);
    assert_eq!(
        found.dir,
        PathBuf::from(
            "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/cri-containerd-4f1c.scope"
        )
    );
    let without_cpu = locate(&read("proc_self_cgroup.v2"), &read("mountinfo.v2"), |_| {
        false
    });
    assert_eq!(
        without_cpu, None,
        "a v2 tree without the cpu controller has no quota"
    );
}

#[test]
fn cgroup_v2_container_sees_its_own_cgroup_as_the_mount_root() {
    let found = locate(
        &read("proc_self_cgroup.v2-container"),
        &read("mountinfo.v2-container"),
        |_| true,
    )
    .unwrap();
    assert_eq!(found.dir, PathBuf::from("/sys/fs/cgroup"));
}

#[test]
fn a_throttled_v2_cgroup_reads_quota_stat_and_pressure() {
    let mut reader = CgroupReader::at(Location {
        version: Version::V2,
        dir: data("cgroup-v2"),
        mount_point: data("cgroup-v2"),
    });
    let stat = reader.read_stat().unwrap();
    assert_eq!(stat.nr_periods, Some(812));
    assert_eq!(stat.nr_throttled, Some(790));
    assert_eq!(stat.throttled_ns, Some(55_218_350_000));
    assert_eq!(stat.usage_ns, Some(8_132_944_000));
    assert_eq!(reader.quota().unwrap().cpus(), Some(0.3));
    assert_eq!(reader.read_pressure().unwrap().some.total_us, 55_923_107);
}

/// `cgroup-v2-nested` was recorded in the test guest (Debian's 6.1, `tests/guest/init.sh`,
/// after its nested scenario): `a` has a quota of 0.3 CPUs and has been throttled, `a/b` has
/// none and ran the spin, `a/c` has a tighter one of its own.
#[test]
fn a_quota_on_an_ancestor_is_found_and_its_throttling_read() {
    let nested = |leaf: &str| Location {
        version: Version::V2,
        dir: data("cgroup-v2-nested").join(leaf),
        mount_point: data("cgroup-v2-nested"),
    };
    let mut reader = CgroupReader::at(nested("a/b"));
    assert_eq!(reader.limit_dir, data("cgroup-v2-nested").join("a"));
    assert_eq!(reader.quota().unwrap().cpus(), Some(0.3));
    let stat = reader.read_stat().unwrap();
    assert_eq!(
        (stat.nr_throttled, stat.throttled_ns),
        (Some(25), Some(1_714_654_000))
    );
    // Pressure is the process's own cgroup's.
    assert_eq!(reader.read_pressure().unwrap().some.total_us, 1_767_924);
    // The tightest quota on the way up wins: a/c's own 0.2 over a's 0.3.
    let reader = CgroupReader::at(nested("a/c"));
    assert_eq!(reader.quota().unwrap().cpus(), Some(0.2));
    // Nothing above the mount point is looked at, and no quota leaves the cgroup itself.
    let root = CgroupReader::at(nested(""));
    assert_eq!(root.limit_dir, data("cgroup-v2-nested"));
    assert!(root.quota().is_err(), "the v2 root has no cpu.max");
}

#[test]
fn an_unlimited_v1_cgroup_reads_stat_and_says_v1_has_no_pressure() {
    let mut reader = CgroupReader::at(Location {
        version: Version::V1,
        dir: data("cgroup-v1"),
        mount_point: data("cgroup-v1"),
    });
    let stat = reader.read_stat().unwrap();
    assert_eq!((stat.nr_periods, stat.throttled_ns), (Some(0), Some(0)));
    assert_eq!(reader.quota().unwrap().cpus(), None);
    let why = reader.read_pressure().unwrap_err();
    assert!(matches!(why.reason, Reason::NotApplicable(_)), "{why}");
}

#[test]
fn a_cgroup_directory_without_files_is_unavailable_not_a_panic() {
    let mut reader = CgroupReader::at(Location {
        version: Version::V2,
        dir: data("no-such-cgroup"),
        mount_point: data("no-such-cgroup"),
    });
    assert_eq!(reader.read_stat().unwrap_err().reason, Reason::Missing);
    assert!(reader.quota().is_err());
}
