//! The machine a report was measured on (kernel, CPU, caches), read once from `/proc` and
//! `/sys`; a field is `None` where its file is missing, so it works, with less, in sandboxes.

use std::path::Path;

use serde::Serialize;

use super::cgroup::{CgroupReader, Version};
use super::clock::clocksource;
use super::kconfig::Accounting;

/// Cache sizes of CPU 0, from `/sys/devices/system/cpu/cpu0/cache/index*/`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheSizes {
    /// Level-2 data or unified cache, bytes.
    pub l2_bytes: Option<u64>,
    /// The highest-level (last-level) data or unified cache, bytes.
    pub llc_bytes: Option<u64>,
}

impl CacheSizes {
    /// Reads this machine's cache sizes; fields are `None` where sysfs does not say.
    pub fn read() -> CacheSizes {
        Self::read_from(Path::new("/sys/devices/system/cpu/cpu0/cache"))
    }

    /// Reads cache sizes from a directory laid out like sysfs's `cpuN/cache`.
    pub fn read_from(dir: &Path) -> CacheSizes {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return CacheSizes::default();
        };
        let caches = entries.flatten().filter_map(|entry| {
            let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok();
            parse_cache_index(&read("level")?, &read("type")?, &read("size")?)
        });
        caches_by_level(caches)
    }
}

/// One `index*` directory's `level`, `type` and `size` → (level, bytes) for data and
/// unified caches; `None` for instruction caches and unparsable text.
pub fn parse_cache_index(level: &str, kind: &str, size: &str) -> Option<(u32, u64)> {
    if kind.trim() == "Instruction" {
        return None;
    }
    Some((level.trim().parse().ok()?, parse_size(size)?))
}

/// Sizes as sysfs writes them: `512K`, `32768K`, `8M`, or plain bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, scale) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 1 << 10),
        b'M' => (&text[..text.len() - 1], 1 << 20),
        b'G' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

fn caches_by_level(caches: impl Iterator<Item = (u32, u64)>) -> CacheSizes {
    let mut sizes = CacheSizes::default();
    let mut llc_level = 0;
    for (level, bytes) in caches {
        if level == 2 {
            sizes.l2_bytes = Some(bytes);
        }
        if level >= 2 && level > llc_level {
            llc_level = level;
            sizes.llc_bytes = Some(bytes);
        }
    }
    sizes
}

/// What a report says about the machine. Fields that could not be read are `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Machine {
    /// `uname -r`, from `/proc/sys/kernel/osrelease`.
    pub kernel: Option<String>,
    /// The first `model name` in `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// The AES instructions `decrypt-cbc` and `decrypt-ctr` run ([`AesBackend`]).
    pub aes_backend: &'static str,
    /// CPUs this process may run on (`std::thread::available_parallelism`, which honours
    /// the affinity mask and, on Linux, a cgroup quota).
    pub logical_cpus_count: Option<u64>,
    /// The kernel's clocksource (`tsc` is cheap to read; `hpet`, `acpi_pm`, `xen` are not).
    pub clocksource: Option<String>,
    /// The hypervisor and the evidence for it, e.g. `kvm (kvm-clock clocksource)`, or
    /// `none (no hypervisor flag in /proc/cpuinfo)`.
    pub virtualization: Option<String>,
    /// The cgroup hierarchy holding this process's `cpu` controller.
    pub cgroup_version: Option<Version>,
    /// That cgroup's directory.
    pub cgroup_dir: Option<String>,
    /// CPU quota / period, in CPUs (0.3 = 30% of one CPU; can exceed 1). `null` when
    /// there is no quota (or no cgroup was found: see `cgroup_version`).
    pub cgroup_quota_ratio: Option<f64>,
    /// The cgroup that holds that quota: `cgroup_dir` or an ancestor (a pod's quota, say).
    /// `null` when there is no quota.
    pub cgroup_quota_dir: Option<String>,
    /// Cache sizes of CPU 0.
    #[serde(flatten)]
    pub caches: CacheSizes,
    /// How the kernel accounts CPU time (steal and interrupt time in or out of a thread's CPU
    /// time), which decides how the spin attributes a gap.
    pub accounting: Option<Accounting>,
}

impl Machine {
    /// Reads the description of this machine.
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok();
        let cgroup = CgroupReader::detect().ok();
        let quota = cgroup.as_ref().and_then(|c| c.quota().ok()?.cpus());
        Machine {
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            cpu_model: cpuinfo.as_deref().and_then(parse_cpu_model),
            aes_backend: AesBackend::detect().name(),
            logical_cpus_count: std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u64),
            clocksource: clocksource().ok(),
            virtualization: virtualization(&Evidence {
                hypervisor_type: read_trimmed("/sys/hypervisor/type"),
                dmi_vendor: read_trimmed("/sys/class/dmi/id/sys_vendor"),
                dmi_product: read_trimmed("/sys/class/dmi/id/product_name"),
                cpuinfo,
                clocksources: read_trimmed(CLOCKSOURCES),
            }),
            cgroup_version: cgroup.as_ref().map(|c| c.location.version),
            cgroup_dir: cgroup
                .as_ref()
                .map(|c| c.location.dir.display().to_string()),
            cgroup_quota_ratio: quota,
            cgroup_quota_dir: quota
                .and(cgroup.as_ref())
                .map(|c| c.limit_dir.display().to_string()),
            caches: CacheSizes::read(),
            accounting: Some(Accounting::read()),
        }
    }
}

const CLOCKSOURCES: &str = "/sys/devices/system/clocksource/clocksource0/available_clocksource";

/// What the machine shows of a hypervisor.
#[derive(Debug, Default)]
pub struct Evidence {
    /// `/sys/hypervisor/type` (Xen).
    pub hypervisor_type: Option<String>,
    /// `/sys/class/dmi/id/sys_vendor`, e.g. `Amazon EC2`, `QEMU`, `Google`.
    pub dmi_vendor: Option<String>,
    /// `/sys/class/dmi/id/product_name`.
    pub dmi_product: Option<String>,
    /// `/proc/cpuinfo`, for the `hypervisor` flag.
    pub cpuinfo: Option<String>,
    /// `available_clocksource`: paravirtual clocks name their hypervisor.
    pub clocksources: Option<String>,
}

/// Names the hypervisor and says how it was told; `None` when nothing could be read.
pub fn virtualization(e: &Evidence) -> Option<String> {
    if let Some(kind) = &e.hypervisor_type {
        return Some(format!("{kind} (/sys/hypervisor/type)"));
    }
    const VM_VENDORS: &[&str] = &[
        "Amazon EC2",
        "QEMU",
        "Google",
        "Microsoft Corporation",
        "VMware",
        "Xen",
        "innotek",
        "DigitalOcean",
        "Hetzner",
        "OpenStack",
    ];
    if let Some(vendor) = &e.dmi_vendor
        && VM_VENDORS.iter().any(|v| vendor.starts_with(v))
    {
        let product = e.dmi_product.as_deref().unwrap_or("");
        return Some(format!("{vendor} {product} (DMI vendor)").replace("  ", " "));
    }
    let clocks = e.clocksources.as_deref().unwrap_or("");
    for (clock, name) in [
        ("kvm-clock", "kvm"),
        ("xen", "xen"),
        ("hyperv_clocksource", "hyper-v"),
    ] {
        if clocks
            .split_ascii_whitespace()
            .any(|c| c.starts_with(clock))
        {
            return Some(format!("{name} ({clock} clocksource)"));
        }
    }
    let flagged = e.cpuinfo.as_deref()?.lines().any(|line| {
        line.starts_with("flags") && line.split_ascii_whitespace().any(|f| f == "hypervisor")
    });
    Some(if flagged {
        "unknown hypervisor (cpuinfo hypervisor flag)".to_string()
    } else {
        "none (no hypervisor flag in /proc/cpuinfo)".to_string()
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The first `model name` of `/proc/cpuinfo` text.
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
        .filter(|model| !model.is_empty())
}

/// The AES instructions `decrypt-cbc` and `decrypt-ctr` run on this CPU
/// (`workload::aes_fused`; `decrypt-parse` decrypts with the `cbc` crate): one class on two
/// CPU generations can differ here alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AesBackend {
    /// 16 blocks at a time in eight 256-bit registers (`vaes`, `avx2` and `aes`).
    Vaes256,
    /// 8 blocks at a time in 128-bit registers (`aes` and `ssse3`).
    AesNi,
    /// The RustCrypto crates' constant-time software AES.
    Software,
}

/// Names a slower AES backend to run instead of the fastest (`AES-NI` or `software`), to
/// compare a class with an older CPU generation; a faster one than the CPU has is ignored.
pub const AES_BACKEND_VAR: &str = "DYNOPROBE_AES";

impl AesBackend {
    /// The fastest this CPU has, from CPUID as the standard library reads it, or a slower
    /// one named by [`AES_BACKEND_VAR`].
    pub fn detect() -> AesBackend {
        let fastest = Self::fastest();
        match std::env::var(AES_BACKEND_VAR).ok().as_deref() {
            Some("AES-NI") if fastest == AesBackend::Vaes256 => AesBackend::AesNi,
            Some("software") => AesBackend::Software,
            _ => fastest,
        }
    }

    fn fastest() -> AesBackend {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("vaes") && has!("avx2") && has!("aes") {
                return AesBackend::Vaes256;
            }
            if has!("aes") && has!("ssse3") {
                return AesBackend::AesNi;
            }
        }
        AesBackend::Software
    }

    /// As reports name it.
    pub fn name(self) -> &'static str {
        match self {
            AesBackend::Vaes256 => "VAES-256",
            AesBackend::AesNi => "AES-NI",
            AesBackend::Software => "software",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_aes_backend_follows_the_kernels_cpu_flags() {
        let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
            eprintln!("skipped: no /proc/cpuinfo");
            return;
        };
        let flags: Vec<&str> = (cpuinfo.lines())
            .find_map(|l| l.strip_prefix("flags")?.split_once(':'))
            .map_or(Vec::new(), |(_, flags)| flags.split_whitespace().collect());
        let has = |flag| flags.contains(&flag);
        let expected = match () {
            () if has("vaes") && has("avx2") && has("aes") => AesBackend::Vaes256,
            () if has("aes") && has("ssse3") => AesBackend::AesNi,
            () => AesBackend::Software,
        };
        assert_eq!(AesBackend::fastest(), expected, "flags: {flags:?}");
    }

    #[test]
    fn sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("512K\n"), Some(512 << 10));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }

    #[test]
    fn instruction_caches_are_skipped_and_the_highest_level_is_llc() {
        let indexes = [
            ("1", "Data", "32K"),
            ("1", "Instruction", "32K"),
            ("2", "Unified", "512K"),
            ("3", "Unified", "32768K"),
        ];
        let sizes = caches_by_level(
            indexes
                .iter()
                .filter_map(|(l, k, s)| parse_cache_index(l, k, s)),
        );
        assert_eq!(sizes.l2_bytes, Some(512 << 10));
        assert_eq!(sizes.llc_bytes, Some(32 << 20));
    }

    #[test]
    fn a_machine_without_l3_uses_l2_as_llc() {
        let sizes = caches_by_level([(1, 32 << 10), (2, 1 << 20)].into_iter());
        assert_eq!(sizes.llc_bytes, Some(1 << 20));
    }

    #[test]
    fn cpu_model_comes_from_the_first_model_name() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC\nflags: x\nmodel name\t: other\n";
        assert_eq!(parse_cpu_model(text), Some("AMD EPYC".into()));
        assert_eq!(parse_cpu_model("processor: 0\n"), None);
    }

    #[test]
    fn virtualization_names_its_evidence() {
        let kvm = Evidence {
            clocksources: Some("tsc kvm-clock acpi_pm".into()),
            ..Evidence::default()
        };
        assert_eq!(
            virtualization(&kvm).as_deref(),
            Some("kvm (kvm-clock clocksource)")
        );
        let ec2 = Evidence {
            dmi_vendor: Some("Amazon EC2".into()),
            dmi_product: Some("m5.large".into()),
            ..Evidence::default()
        };
        assert_eq!(
            virtualization(&ec2).as_deref(),
            Some("Amazon EC2 m5.large (DMI vendor)")
        );
        let flag = Evidence {
            cpuinfo: Some("flags\t: fpu hypervisor aes\n".into()),
            ..Evidence::default()
        };
        assert_eq!(
            virtualization(&flag).as_deref(),
            Some("unknown hypervisor (cpuinfo hypervisor flag)")
        );
        let metal = Evidence {
            cpuinfo: Some("flags\t: fpu aes\n".into()),
            dmi_vendor: Some("Dell Inc.".into()),
            ..Evidence::default()
        };
        assert_eq!(
            virtualization(&metal).as_deref(),
            Some("none (no hypervisor flag in /proc/cpuinfo)")
        );
        assert_eq!(virtualization(&Evidence::default()), None);
    }

    #[test]
    fn missing_sysfs_gives_no_sizes() {
        assert_eq!(
            CacheSizes::read_from(Path::new("/nonexistent/cache")),
            CacheSizes::default()
        );
    }
}
