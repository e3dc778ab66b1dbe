//! A CPU cgroup that a test makes, fills and removes: v1 `cpu` or v2, whichever holds
//! the cpu controller here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dynoprobe::signal::cgroup::{CgroupReader, Version, parse_cpu_stat};

/// A cgroup the test made; removed (after its processes are killed) when dropped.
pub struct TestCgroup {
    pub dir: PathBuf,
    version: Version,
    pub children: Vec<Child>,
}

impl TestCgroup {
    /// A child of the CPU hierarchy's root, limited to `quota_us` per `period_us`.
    pub fn create(quota_us: u64, period_us: u64) -> Result<TestCgroup, String> {
        let reader = CgroupReader::detect().map_err(|e| e.to_string())?;
        let version = reader.location.version;
        // A child of our own CPU cgroup. In v2 that needs `+cpu` in our subtree_control,
        // which the kernel refuses for a non-root cgroup with processes: then we skip.
        let dir = reader
            .location
            .dir
            .join(format!("dynoprobe-test-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let cgroup = TestCgroup {
            dir,
            version,
            children: Vec::new(),
        };
        let write = |name: &str, value: String| {
            std::fs::write(cgroup.dir.join(name), value)
                .map_err(|e| format!("cannot write {name}: {e}"))
        };
        match version {
            Version::V1 => {
                write("cpu.cfs_period_us", period_us.to_string())?;
                write("cpu.cfs_quota_us", quota_us.to_string())?;
            }
            Version::V2 => {
                // Enabling the controller for children is harmless if it already is.
                let _ = std::fs::write(reader.location.dir.join("cgroup.subtree_control"), "+cpu");
                write("cpu.max", format!("{quota_us} {period_us}"))?
            }
        }
        Ok(cgroup)
    }

    /// Starts `program args…` inside the cgroup (a shell moves itself in, then execs).
    pub fn spawn(
        &mut self,
        program: &Path,
        args: &[&str],
        stdout: Stdio,
    ) -> std::io::Result<usize> {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec \"$@\"",
            self.dir.display()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(program)
            .args(args)
            .stdout(stdout)
            .spawn()?;
        self.children.push(child);
        Ok(self.children.len() - 1)
    }

    /// `(nr_periods, nr_throttled, throttled ns)` now.
    #[allow(dead_code)] // not every test binary that includes this module uses it
    pub fn throttling(&self) -> (u64, u64, u64) {
        let bytes = std::fs::read(self.dir.join("cpu.stat")).unwrap_or_default();
        let stat = parse_cpu_stat(self.version, &bytes).unwrap_or_default();
        (
            stat.nr_periods.unwrap_or(0),
            stat.nr_throttled.unwrap_or(0),
            stat.throttled_ns.unwrap_or(0),
        )
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The kernel frees the cgroup shortly after its last task exits.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("warning: could not remove {}", self.dir.display());
    }
}

/// Sets the flag when dropped: a CPU hog in a thread scope stops however the test ends (a
/// failed assertion unwinds past any explicit store, and the scope then waits forever).
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
