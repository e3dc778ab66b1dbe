//! How the running kernel accounts CPU time, from its build configuration: whether steal and
//! interrupt time are kept out of a thread's CPU time (which decides how a gap that the
//! thread was not switched out for is attributed), and the timer tick's rate.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The kernel's CPU time accounting, as far as its configuration says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// `CONFIG_PARAVIRT_TIME_ACCOUNTING`: time the hypervisor's steal clock reports is kept out
    /// of a thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`). Off, steal reads as the thread's
    /// own CPU time and cannot be told from a pause the host does not report. `None`: unknown.
    pub steal_excluded: Option<bool>,
    /// `CONFIG_IRQ_TIME_ACCOUNTING`: time in interrupt handlers is kept out of the thread's CPU
    /// time (so an interrupt, too, makes the thread's CPU time fall short of the wall time).
    /// The kernel can still turn it off at boot (`tsc=noirqtime`, an unstable TSC).
    pub irq_excluded: Option<bool>,
    /// `CONFIG_HZ`: the timer tick's rate on a busy CPU, Hz.
    pub tick_hz: Option<u32>,
    /// `CONFIG_NO_HZ_FULL`: CPUs listed in `nohz_full=` may run a single task without a tick.
    pub nohz_full: Option<bool>,
    /// The file read, or why none was.
    pub source: String,
}

impl Accounting {
    /// The running kernel's, from `/proc/config.gz` (`CONFIG_IKCONFIG_PROC`) or
    /// `/boot/config-$(uname -r)`; where neither exists (a container, most often) the usual
    /// configuration is assumed, what a spin shows of it is inferred
    /// ([`Accounting::with_spin_seen`]), and the report says which. Read once a process (the
    /// report's machine and every spin ask), since it cannot change while it runs.
    pub fn read() -> Accounting {
        static READ: std::sync::OnceLock<Accounting> = std::sync::OnceLock::new();
        READ.get_or_init(|| {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let boot = PathBuf::from(format!("/boot/config-{}", release.trim()));
            Self::read_from(&[Path::new("/proc/config.gz"), &boot])
        })
        .clone()
    }

    /// From the first of `files` that can be read (gzip when named `.gz`).
    pub fn read_from(files: &[&Path]) -> Accounting {
        for file in files {
            match read_config(file) {
                Ok(text) => return Accounting::parse(&text, file.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Accounting::unknown(format!("{}: {e}", file.display())),
            }
        }
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        Accounting::unknown(format!("no kernel configuration ({})", names.join(", ")))
    }

    /// From a kernel configuration's text. An option that is absent or `is not set` is off.
    pub fn parse(config: &str, source: String) -> Accounting {
        let on = |name: &str| {
            let wanted = format!("{name}=y");
            config.lines().any(|l| l.trim() == wanted)
        };
        let tick_hz = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("CONFIG_HZ="))
            .and_then(|hz| hz.parse().ok());
        Accounting {
            steal_excluded: Some(on("CONFIG_PARAVIRT_TIME_ACCOUNTING")),
            irq_excluded: Some(on("CONFIG_IRQ_TIME_ACCOUNTING")),
            tick_hz,
            nohz_full: Some(on("CONFIG_NO_HZ_FULL")),
            source,
        }
    }

    fn unknown(source: String) -> Accounting {
        Accounting {
            steal_excluded: None,
            irq_excluded: None,
            tick_hz: None,
            nohz_full: None,
            source,
        }
    }

    /// This accounting, with what a spin pinned to one CPU showed: `steal_ns`, the steal
    /// `/proc/stat` counted on that CPU while the spin held it, and `missing_ns`, the CPU
    /// time its gaps lacked without a switch (its `stolen` gaps). Where steal is kept out of
    /// a thread's CPU time those gaps lack about as much; where it is counted in, none; where
    /// they lack far more, interrupt time is kept out too ([`irq_kept_out`]). What the
    /// configuration did not say is taken from the spin; what it said and the spin
    /// contradicts is kept, and `source` says so.
    pub fn with_spin_seen(mut self, steal_ns: u64, missing_ns: u64) -> Accounting {
        let (what, configured, inferred) = if irq_kept_out(steal_ns, missing_ns) {
            ("interrupt time", &mut self.irq_excluded, true)
        } else if let Some(excluded) = steal_kept_out(steal_ns, missing_ns) {
            ("steal", &mut self.steal_excluded, excluded)
        } else {
            return self;
        };
        let seen = format!(
            "the spin's CPU had {:.0} ms of steal (/proc/stat) and its gaps lacked {:.0} ms of \
             CPU time",
            steal_ns as f64 / 1e6,
            missing_ns as f64 / 1e6
        );
        match *configured {
            None => {
                *configured = Some(inferred);
                self.source = format!("{what} inferred: {seen}; {}", self.source);
            }
            Some(said) if said != inferred => {
                self.source = format!("{}; but {seen}", self.source);
            }
            Some(_) => {}
        }
        self
    }

    /// Whether a gap's steal shows as missing CPU time: as configured, or, unknown, as on
    /// most cloud kernels (Debian's, Ubuntu's and Amazon Linux's for KVM and Xen have it).
    pub fn steal_shows(&self) -> bool {
        self.steal_excluded.unwrap_or(true)
    }

    /// Whether a gap's interrupt time shows as missing CPU time: as configured, or, unknown,
    /// not (the kernel's default).
    pub fn irq_shows(&self) -> bool {
        self.irq_excluded.unwrap_or(false)
    }
}

/// Steal below this on the spin's CPU tells nothing of the accounting: `/proc/stat` counts
/// it in USER_HZ ticks (10 ms), rounded down at each reading.
pub const STEAL_EVIDENCE_MIN_NS: u64 = 50_000_000;

/// Whether steal is kept out of a thread's CPU time, by how much of `steal_ns` the spin's
/// gaps lacked (`missing_ns`): half or more (and not [`irq_kept_out`]'s far more), kept out;
/// a tenth or less, counted in (the scenario tests find the stolen gaps within two ticks of
/// the CPU's steal where it is kept out); between, or too little steal, `None`.
pub fn steal_kept_out(steal_ns: u64, missing_ns: u64) -> Option<bool> {
    if steal_ns < STEAL_EVIDENCE_MIN_NS || irq_kept_out(steal_ns, missing_ns) {
        None
    } else if missing_ns.saturating_mul(2) >= steal_ns {
        Some(true)
    } else if missing_ns.saturating_mul(10) <= steal_ns {
        Some(false)
    } else {
        None
    }
}

/// Gaps lacking this much CPU time beyond twice the steal cannot be steal's: `/proc/stat`
/// counts steal in 10 ms ticks, rounded down at each of the two readings.
pub const IRQ_EVIDENCE_MARGIN_NS: u64 = 20_000_000;

/// Whether interrupt time is kept out of a thread's CPU time (`CONFIG_IRQ_TIME_ACCOUNTING`):
/// the spin's gaps lacked at least [`STEAL_EVIDENCE_MIN_NS`] of CPU time, more than twice the
/// steal and [`IRQ_EVIDENCE_MARGIN_NS`] beyond it. Nothing else takes CPU time from a
/// thread that was not switched out.
pub fn irq_kept_out(steal_ns: u64, missing_ns: u64) -> bool {
    missing_ns >= STEAL_EVIDENCE_MIN_NS
        && missing_ns
            > steal_ns
                .saturating_mul(2)
                .saturating_add(IRQ_EVIDENCE_MARGIN_NS)
}

/// Whether the kernel was booted with `nohz_full` CPUs, which may run a busy task without a
/// tick (`/sys/devices/system/cpu/nohz_full`; absent, empty or `(null)`: none).
pub fn nohz_full_cpus() -> bool {
    std::fs::read_to_string("/sys/devices/system/cpu/nohz_full")
        .is_ok_and(|cpus| !matches!(cpus.trim(), "" | "(null)"))
}

/// A configuration file's text, gunzipped when its name ends in `.gz`; at most 4 MiB.
fn read_config(file: &Path) -> std::io::Result<String> {
    const MAX_BYTES: u64 = 4 << 20;
    let raw = std::fs::File::open(file)?;
    let mut text = String::new();
    if file.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(raw)
            .take(MAX_BYTES)
            .read_to_string(&mut text)?;
    } else {
        raw.take(MAX_BYTES).read_to_string(&mut text)?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/kconfig")
            .join(name)
    }

    #[test]
    fn this_projects_kvm_kernel_keeps_steal_out_and_interrupts_in() {
        let a = Accounting::read_from(&[&data("config-6.18.44-kvm.gz")]);
        assert_eq!(
            (a.steal_excluded, a.irq_excluded, a.tick_hz, a.nohz_full),
            (Some(true), Some(false), Some(250), Some(false))
        );
        assert!(a.source.ends_with("config-6.18.44-kvm.gz"), "{}", a.source);
    }

    #[test]
    fn debians_kernel_keeps_neither_out() {
        let missing = data("no-such-config.gz");
        let a = Accounting::read_from(&[&missing, &data("config-6.1.0-48-amd64.debian")]);
        assert_eq!(
            (a.steal_excluded, a.irq_excluded, a.tick_hz, a.nohz_full),
            (Some(false), Some(false), Some(250), Some(true))
        );
        assert!(!a.steal_shows() && !a.irq_shows());
    }

    #[test]
    fn steal_is_inferred_from_the_spin_where_the_configuration_is_unknown() {
        let ms = 1_000_000;
        assert_eq!(steal_kept_out(40 * ms, 40 * ms), None, "too little steal");
        assert_eq!(steal_kept_out(120 * ms, 100 * ms), Some(true));
        assert_eq!(steal_kept_out(120 * ms, 60 * ms), Some(true));
        assert_eq!(steal_kept_out(120 * ms, 12 * ms), Some(false));
        assert_eq!(steal_kept_out(120 * ms, 30 * ms), None, "between");
        assert_eq!(
            steal_kept_out(60 * ms, 200 * ms),
            None,
            "far more than the steal"
        );
        assert!(irq_kept_out(60 * ms, 200 * ms) && irq_kept_out(0, 60 * ms));
        assert!(!irq_kept_out(60 * ms, 130 * ms) && !irq_kept_out(0, 40 * ms));
        let unknown = || Accounting::read_from(&[Path::new("/no/such/config")]);
        let kept_out = unknown().with_spin_seen(120 * ms, 110 * ms);
        assert_eq!(kept_out.steal_excluded, Some(true));
        assert_eq!(
            kept_out.source,
            "steal inferred: the spin's CPU had 120 ms of steal (/proc/stat) and its gaps \
             lacked 110 ms of CPU time; no kernel configuration (/no/such/config)"
        );
        assert_eq!(
            unknown().with_spin_seen(120 * ms, 0).steal_excluded,
            Some(false)
        );
        assert_eq!(unknown().with_spin_seen(10 * ms, 0).steal_excluded, None);
        let irq = unknown().with_spin_seen(0, 300 * ms);
        assert_eq!((irq.steal_excluded, irq.irq_excluded), (None, Some(true)));
        assert!(
            irq.source
                .starts_with("interrupt time inferred: the spin's CPU had 0 ms")
        );
        // A configuration is kept, and said to disagree when the spin does.
        let debian = Accounting::read_from(&[&data("config-6.1.0-48-amd64.debian")]);
        let agrees = debian.clone().with_spin_seen(120 * ms, 0);
        assert_eq!(agrees, debian);
        let disagrees = debian.clone().with_spin_seen(120 * ms, 120 * ms);
        assert_eq!(disagrees.steal_excluded, Some(false));
        let no_irq_time = debian.clone().with_spin_seen(0, 300 * ms);
        assert_eq!(no_irq_time.irq_excluded, Some(false));
        assert!(no_irq_time.source.contains("; but the spin's CPU had 0 ms"));
        assert!(disagrees.source.ends_with("; but the spin's CPU had 120 ms of steal (/proc/stat) and its gaps lacked 120 ms of CPU time"), "{}", disagrees.source);
    }

    #[test]
    fn irq_time_accounting_and_an_unknown_kernel() {
        let ubuntu =
            "CONFIG_IRQ_TIME_ACCOUNTING=y\nCONFIG_PARAVIRT_TIME_ACCOUNTING=y\nCONFIG_HZ=1000\n";
        let a = Accounting::parse(ubuntu, "test".into());
        assert_eq!((a.irq_excluded, a.tick_hz), (Some(true), Some(1000)));
        assert!(a.steal_shows() && a.irq_shows());
        let none = Accounting::read_from(&[&data("no-such-config")]);
        assert_eq!((none.steal_excluded, none.tick_hz), (None, None));
        assert!(
            none.source.starts_with("no kernel configuration"),
            "{}",
            none.source
        );
        assert!(
            none.steal_shows() && !none.irq_shows(),
            "the usual configuration"
        );
        // A corrupt gzip is an error that names the file, not a panic.
        let corrupt = data("config-6.1.0-48-amd64.debian");
        let copy =
            std::env::temp_dir().join(format!("dynoprobe-kconfig-{}.gz", std::process::id()));
        std::fs::copy(corrupt, &copy).unwrap();
        let bad = Accounting::read_from(&[&copy]);
        std::fs::remove_file(&copy).unwrap();
        assert_eq!(bad.steal_excluded, None);
        assert!(bad.source.contains("dynoprobe-kconfig"), "{}", bad.source);
    }
}
