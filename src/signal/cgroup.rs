//! This process's CPU cgroup: where it is, its quota, and how often it was throttled.

use std::path::{Path, PathBuf};

use super::pressure::PressureReader;
use super::{ProcFile, Reason, Unavailable, keyed, read_file, text};

/// Which cgroup hierarchy holds the `cpu` controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }
}

/// Where this process's CPU cgroup lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub version: Version,
    /// The cgroup's directory, e.g. `/sys/fs/cgroup/cpu` or `/sys/fs/cgroup/user.slice/x`.
    pub dir: PathBuf,
    /// Where its hierarchy is mounted: the highest directory a quota is looked for in.
    pub mount_point: PathBuf,
}

/// One line of `/proc/self/cgroup`: `id:controllers:path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership<'a> {
    pub id: &'a str,
    pub controllers: &'a str,
    pub path: &'a str,
}

/// Parses `/proc/self/cgroup`; lines without three fields are skipped.
pub fn parse_memberships(text: &str) -> Vec<Membership<'_>> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            Some(Membership {
                id: fields.next()?,
                controllers: fields.next()?,
                path: fields.next()?,
            })
        })
        .collect()
}

/// One line of `/proc/self/mountinfo`, the fields we need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mount<'a> {
    /// The path inside the mounted filesystem that is mounted (field 4): for a container
    /// without a cgroup namespace, its own cgroup.
    pub root: &'a str,
    pub mount_point: &'a str,
    pub fs_type: &'a str,
    pub super_options: &'a str,
}

/// Parses `/proc/self/mountinfo`; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount<'_>> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut left = left.split(' ');
            let root = left.nth(3)?;
            let mount_point = left.next()?;
            let mut right = right.split(' ');
            Some(Mount {
                root,
                mount_point,
                fs_type: right.next()?,
                super_options: right.nth(1).unwrap_or_default(),
            })
        })
        .collect()
}

/// Finds the CPU cgroup: the v1 hierarchy with the `cpu` controller if there is one (hybrid
/// systems mount a v2 tree without it), else the v2 tree if `v2_has_cpu` says its
/// `cgroup.controllers` lists `cpu`.
pub fn locate(
    proc_cgroup: &str,
    mountinfo: &str,
    v2_has_cpu: impl Fn(&Path) -> bool,
) -> Option<Location> {
    let memberships = parse_memberships(proc_cgroup);
    let mounts = parse_mountinfo(mountinfo);
    let has = |list: &str, item: &str| list.split(',').any(|x| x == item);

    let v1 = memberships.iter().find(|m| has(m.controllers, "cpu"));
    let v1_mount = mounts
        .iter()
        .find(|m| m.fs_type == "cgroup" && has(m.super_options, "cpu"));
    if let (Some(member), Some(mount)) = (v1, v1_mount) {
        return Some(Location {
            version: Version::V1,
            dir: under(mount, member.path),
            mount_point: PathBuf::from(mount.mount_point),
        });
    }
    let v2 = memberships
        .iter()
        .find(|m| m.id == "0" && m.controllers.is_empty())?;
    let mount = mounts.iter().find(|m| m.fs_type == "cgroup2")?;
    let dir = under(mount, v2.path);
    v2_has_cpu(&dir).then_some(Location {
        version: Version::V2,
        dir,
        mount_point: PathBuf::from(mount.mount_point),
    })
}

/// The directory of cgroup `path` under `mount`, whose own root may be a cgroup below `/`.
fn under(mount: &Mount<'_>, path: &str) -> PathBuf {
    let relative = match path.strip_prefix(mount.root) {
        Some(rest) if mount.root != "/" => rest,
        _ => path,
    };
    match relative.trim_start_matches('/') {
        "" => PathBuf::from(mount.mount_point),
        relative => Path::new(mount.mount_point).join(relative),
    }
}

/// Counters of `cpu.stat`. Throttling counters are `None` where the cgroup has none (the v2
/// root, or a v2 cgroup whose parent does not enable the `cpu` controller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuStat {
    /// CPU time used by the cgroup, ns (v2 `usage_usec`; v1 keeps it in cpuacct instead).
    pub usage_ns: Option<u64>,
    /// Enforcement periods that have elapsed with runnable tasks.
    pub nr_periods: Option<u64>,
    /// Periods in which the cgroup ran out of quota.
    pub nr_throttled: Option<u64>,
    /// Total time throttled, ns (v2 `throttled_usec` in µs, v1 `throttled_time` in ns).
    pub throttled_ns: Option<u64>,
}

/// Parses `cpu.stat` of either version.
pub fn parse_cpu_stat(version: Version, bytes: &[u8]) -> Result<CpuStat, Reason> {
    let text = text(bytes).ok_or(Reason::Malformed("not UTF-8"))?;
    let stat = match version {
        Version::V2 => CpuStat {
            usage_ns: keyed(text, "usage_usec").map(|us| us * 1000),
            nr_periods: keyed(text, "nr_periods"),
            nr_throttled: keyed(text, "nr_throttled"),
            throttled_ns: keyed(text, "throttled_usec").map(|us| us * 1000),
        },
        Version::V1 => CpuStat {
            usage_ns: None,
            nr_periods: keyed(text, "nr_periods"),
            nr_throttled: keyed(text, "nr_throttled"),
            throttled_ns: keyed(text, "throttled_time"),
        },
    };
    if stat == CpuStat::default() {
        return Err(Reason::Malformed("none of the cpu.stat counters"));
    }
    Ok(stat)
}

/// A CPU quota (`cpu.max` in v2, `cpu.cfs_quota_us` in v1): `quota_us` of CPU time per
/// `period_us` (default 100 ms), after which all the cgroup's threads wait for the next
/// period; `None` quota means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub quota_us: Option<u64>,
    pub period_us: u64,
}

impl Quota {
    /// The quota in CPUs (0.3 = 30% of one CPU); `None` when unlimited.
    pub fn cpus(&self) -> Option<f64> {
        Some(self.quota_us? as f64 / self.period_us as f64)
    }
}

/// Parses v2 `cpu.max`: `max 100000` or `30000 100000`.
pub fn parse_cpu_max(bytes: &[u8]) -> Result<Quota, Reason> {
    let text = text(bytes).ok_or(Reason::Malformed("not UTF-8"))?;
    let mut words = text.split_ascii_whitespace();
    let quota = words.next().ok_or(Reason::Malformed("`quota period`"))?;
    let period_us = parse_period(words.next())?;
    let quota_us = match quota {
        "max" => None,
        n => Some(
            n.parse()
                .map_err(|_| Reason::Malformed("quota µs or `max`"))?,
        ),
    };
    Ok(Quota {
        quota_us,
        period_us,
    })
}

/// Parses v1 `cpu.cfs_quota_us` (`-1` = unlimited) and `cpu.cfs_period_us`.
pub fn parse_cfs_quota(quota: &[u8], period: &[u8]) -> Result<Quota, Reason> {
    let quota = text(quota)
        .map(str::trim)
        .ok_or(Reason::Malformed("not UTF-8"))?;
    let period_us = parse_period(text(period).map(str::trim))?;
    let quota_us = match quota.parse::<i64>() {
        Ok(q) if q < 0 => None,
        Ok(q) => Some(q as u64),
        Err(_) => return Err(Reason::Malformed("quota µs or -1")),
    };
    Ok(Quota {
        quota_us,
        period_us,
    })
}

fn parse_period(word: Option<&str>) -> Result<u64, Reason> {
    match word.map(str::parse::<u64>) {
        Some(Ok(period)) if period > 0 => Ok(period),
        _ => Err(Reason::Malformed("a positive period µs")),
    }
}

/// Keeps the cgroup's `cpu.stat` (and, in v2, `cpu.pressure`) open.
#[derive(Debug)]
pub struct CgroupReader {
    pub location: Location,
    /// The cgroup whose quota limits this one: the most restrictive quota at or above
    /// `location.dir` (up to the mount point), or `location.dir` when none has one. A quota
    /// set on a parent (Kubernetes puts it on the pod, the process runs in a container below)
    /// throttles the parent's group as a whole: its `cpu.stat` is where throttling counts.
    pub limit_dir: PathBuf,
    stat: ProcFile,
    pressure: PressureReader,
}

impl CgroupReader {
    /// Finds this process's CPU cgroup from `/proc/self/cgroup` and `/proc/self/mountinfo`.
    pub fn detect() -> Result<CgroupReader, Unavailable> {
        const SOURCE: &str = "/proc/self/cgroup";
        let read = |source: &'static str| {
            read_file(source, Path::new(source)).map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let (cgroup, mountinfo) = (read(SOURCE)?, read("/proc/self/mountinfo")?);
        let location = locate(&cgroup, &mountinfo, |dir| {
            std::fs::read_to_string(dir.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_ascii_whitespace().any(|x| x == "cpu"))
        })
        .ok_or(Unavailable::new(
            SOURCE,
            Reason::NotApplicable("no cgroup with the cpu controller is mounted"),
        ))?;
        Ok(CgroupReader::at(location))
    }

    /// A reader for the cgroup at `location` (a recorded directory, in tests).
    pub fn at(location: Location) -> CgroupReader {
        let limit_dir = limit_dir(&location);
        let stat = ProcFile::open("cgroup cpu.stat", limit_dir.join("cpu.stat"));
        let pressure = PressureReader::from_file(match location.version {
            Version::V2 => ProcFile::open("cgroup cpu.pressure", location.dir.join("cpu.pressure")),
            Version::V1 => ProcFile::unavailable(
                "cgroup cpu.pressure",
                Reason::NotApplicable("cgroup v1 has no per-cgroup pressure"),
            ),
        });
        CgroupReader {
            location,
            limit_dir,
            stat,
            pressure,
        }
    }

    pub fn read_stat(&mut self) -> Result<CpuStat, Unavailable> {
        let source = self.stat.source();
        parse_cpu_stat(self.location.version, self.stat.read()?)
            .map_err(|reason| Unavailable::new(source, reason))
    }

    pub fn read_pressure(&mut self) -> Result<super::pressure::Pressure, Unavailable> {
        self.pressure.read()
    }

    /// The quota now in force, from [`CgroupReader::limit_dir`] (read afresh; allocates, so
    /// not for hot paths).
    pub fn quota(&self) -> Result<Quota, Unavailable> {
        quota_at(self.location.version, &self.limit_dir)
    }
}

/// The quota set in the cgroup directory `dir` (read afresh).
fn quota_at(version: Version, dir: &Path) -> Result<Quota, Unavailable> {
    let read = |source, name: &str| read_file(source, &dir.join(name));
    match version {
        Version::V2 => {
            let bytes = read("cgroup cpu.max", "cpu.max")?;
            parse_cpu_max(&bytes).map_err(|r| Unavailable::new("cgroup cpu.max", r))
        }
        Version::V1 => {
            const SOURCE: &str = "cgroup cpu.cfs_quota_us";
            let quota = read(SOURCE, "cpu.cfs_quota_us")?;
            let period = read("cgroup cpu.cfs_period_us", "cpu.cfs_period_us")?;
            parse_cfs_quota(&quota, &period).map_err(|r| Unavailable::new(SOURCE, r))
        }
    }
}

/// The directory of the most restrictive quota (fewest CPUs) from `location.dir` up to its
/// mount point; `location.dir` itself when no cgroup on the way has a quota.
fn limit_dir(location: &Location) -> PathBuf {
    let mut tightest: Option<(f64, &Path)> = None;
    let mut dir = Some(location.dir.as_path());
    while let Some(here) = dir.filter(|d| d.starts_with(&location.mount_point)) {
        if let Some(cpus) = quota_at(location.version, here).ok().and_then(|q| q.cpus())
            && tightest.is_none_or(|(least, _)| cpus < least)
        {
            tightest = Some((cpus, here));
        }
        dir = (here != location.mount_point)
            .then(|| here.parent())
            .flatten();
    }
    tightest.map_or_else(|| location.dir.clone(), |(_, d)| d.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_in_both_formats() {
        assert_eq!(parse_cpu_max(b"30000 100000\n").unwrap().cpus(), Some(0.3));
        assert_eq!(parse_cpu_max(b"max 100000\n").unwrap().quota_us, None);
        assert_eq!(parse_cfs_quota(b"-1\n", b"100000\n").unwrap().cpus(), None);
        assert_eq!(
            parse_cfs_quota(b"150000\n", b"100000\n").unwrap().cpus(),
            Some(1.5)
        );
        assert!(parse_cpu_max(b"30000 0\n").is_err());
        assert!(parse_cpu_max(b"lots 100000\n").is_err());
        assert!(parse_cfs_quota(b"", b"100000").is_err());
    }

    #[test]
    fn cpu_stat_units_differ_by_version() {
        let v1 = parse_cpu_stat(
            Version::V1,
            b"nr_periods 10\nnr_throttled 9\nthrottled_time 700000000\n",
        )
        .unwrap();
        assert_eq!(v1.throttled_ns, Some(700_000_000));
        let v2 = parse_cpu_stat(
            Version::V2,
            b"usage_usec 5\nnr_periods 10\nnr_throttled 9\nthrottled_usec 700000\n",
        )
        .unwrap();
        assert_eq!(
            (v2.throttled_ns, v2.usage_ns),
            (Some(700_000_000), Some(5000))
        );
        let root =
            parse_cpu_stat(Version::V2, b"usage_usec 5\nuser_usec 4\nsystem_usec 1\n").unwrap();
        assert_eq!(root.nr_periods, None);
        assert!(parse_cpu_stat(Version::V2, b"nothing 1\n").is_err());
    }

    #[test]
    fn memberships_and_mounts_skip_junk() {
        assert_eq!(parse_memberships("junk\n0::/a:b\n").len(), 1);
        assert_eq!(parse_memberships("0::/a:b\n")[0].path, "/a:b");
        assert!(parse_mountinfo("junk - x\n").is_empty());
    }
}
