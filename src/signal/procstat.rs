//! `/proc/stat` CPU lines: time every CPU spent in each state, in USER_HZ ticks. `steal` is
//! time the hypervisor ran something else while this vCPU wanted to run: real only in a VM
//! (in a container it is the host's figure).

use super::{ProcFile, Reason, Unavailable, text};

/// One `cpu` line, in USER_HZ ticks (see [`super::clock::ticks_per_second`]). Columns
/// that older kernels lack are `None`: iowait, irq, softirq (2.6), steal (2.6.11), guest
/// (2.6.24), guest_nice (2.6.33).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: Option<u64>,
    pub irq: Option<u64>,
    pub softirq: Option<u64>,
    pub steal: Option<u64>,
    /// Included in `user` by the kernel; not added again to totals.
    pub guest: Option<u64>,
    /// Included in `nice` by the kernel; not added again to totals.
    pub guest_nice: Option<u64>,
}

impl CpuTimes {
    /// All ticks of the line: every state once (guest time is already inside user/nice).
    pub fn total(&self) -> u64 {
        [self.iowait, self.irq, self.softirq, self.steal]
            .iter()
            .flatten()
            .fold(self.user + self.nice + self.system + self.idle, |a, b| {
                a + b
            })
    }

    /// Ticks doing something: total minus idle and iowait.
    pub fn busy(&self) -> u64 {
        self.total() - self.idle - self.iowait.unwrap_or(0)
    }
}

/// The aggregate `cpu` line and each `cpuN` line (offline CPUs have none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcStat {
    pub all: CpuTimes,
    /// `(N, times)` for each `cpuN` line, in file order.
    pub per_cpu: Vec<(u32, CpuTimes)>,
}

/// Parses `/proc/stat` into `out`, reusing its per-CPU vector.
pub fn parse_into(bytes: &[u8], out: &mut ProcStat) -> Result<(), Reason> {
    let text = text(bytes).ok_or(Reason::Malformed("not UTF-8"))?;
    out.per_cpu.clear();
    let mut found_all = false;
    for line in text.lines().filter(|l| l.starts_with("cpu")) {
        let mut words = line.split_ascii_whitespace();
        let label = words.next().unwrap_or_default();
        let times = parse_times(words)?;
        match label.strip_prefix("cpu") {
            Some("") => {
                out.all = times;
                found_all = true;
            }
            Some(n) => {
                let cpu = n.parse().map_err(|_| Reason::Malformed("cpuN label"))?;
                out.per_cpu.push((cpu, times));
            }
            None => {}
        }
    }
    if found_all {
        Ok(())
    } else {
        Err(Reason::Malformed("no aggregate `cpu` line"))
    }
}

fn parse_times<'a>(words: impl Iterator<Item = &'a str>) -> Result<CpuTimes, Reason> {
    let mut values = [None::<u64>; 10];
    for (slot, word) in values.iter_mut().zip(words) {
        *slot = Some(
            word.parse()
                .map_err(|_| Reason::Malformed("a tick count"))?,
        );
    }
    let required = |i: usize| values[i].ok_or(Reason::Malformed("fewer than 4 columns"));
    Ok(CpuTimes {
        user: required(0)?,
        nice: required(1)?,
        system: required(2)?,
        idle: required(3)?,
        iowait: values[4],
        irq: values[5],
        softirq: values[6],
        steal: values[7],
        guest: values[8],
        guest_nice: values[9],
    })
}

/// Keeps `/proc/stat` open and parses it into a reused [`ProcStat`].
#[derive(Debug)]
pub struct ProcStatReader {
    file: ProcFile,
}

impl Default for ProcStatReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcStatReader {
    pub fn new() -> Self {
        ProcStatReader {
            file: ProcFile::open("/proc/stat", "/proc/stat"),
        }
    }

    /// Reads `/proc/stat` into `out`; allocates only if there are more CPUs than last time.
    pub fn read_into(&mut self, out: &mut ProcStat) -> Result<(), Unavailable> {
        let source = self.file.source();
        parse_into(self.file.read()?, out).map_err(|reason| Unavailable::new(source, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_kernels_without_steal_parse_with_none() {
        let mut stat = ProcStat::default();
        parse_into(b"cpu  4705 356 584 3699 23 23 0\ncpu0 1 2 3 4\n", &mut stat).unwrap();
        assert_eq!(stat.all.steal, None);
        assert_eq!(stat.all.softirq, Some(0));
        assert_eq!(stat.all.total(), 4705 + 356 + 584 + 3699 + 23 + 23);
        assert_eq!(
            stat.per_cpu,
            vec![(
                0,
                CpuTimes {
                    user: 1,
                    nice: 2,
                    system: 3,
                    idle: 4,
                    ..Default::default()
                }
            )]
        );
    }

    #[test]
    fn guest_time_is_not_counted_twice() {
        let mut stat = ProcStat::default();
        parse_into(b"cpu 10 0 5 100 1 0 0 4 7 0\n", &mut stat).unwrap();
        assert_eq!(stat.all.total(), 120);
        assert_eq!(stat.all.busy(), 19);
        assert_eq!(stat.all.guest, Some(7));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let mut stat = ProcStat::default();
        for bad in [
            &b""[..],
            b"cpu x y z w\n",
            b"cpu 1 2\n",
            b"\xff\xfe",
            b"cpuX 1 2 3 4\ncpu 1 2 3 4\n",
        ] {
            assert!(
                matches!(parse_into(bad, &mut stat), Err(Reason::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
