//! `/proc/<pid>/task/<tid>/schedstat`: per-thread scheduler accounting, in nanoseconds.
//!
//! Three numbers: time on a CPU, time runnable but waiting on a run queue, and the number of
//! timeslices run. Waiting includes time the thread's cgroup was throttled. Needs a kernel
//! with CONFIG_SCHED_INFO (most distributions; `/proc/thread-self` needs Linux 3.17).

use std::path::PathBuf;

use super::{ProcFile, Reason, Unavailable, text};

/// One thread's (or a sum of threads') scheduler counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedStat {
    /// Time spent running on a CPU, ns.
    pub on_cpu_ns: u64,
    /// Time spent runnable on a run queue, waiting for a CPU, ns.
    pub wait_ns: u64,
    /// Timeslices run (times the thread was put on a CPU).
    pub timeslices: u64,
}

/// Parses the three numbers of a schedstat file.
pub fn parse(bytes: &[u8]) -> Result<SchedStat, Reason> {
    let text = text(bytes).ok_or(Reason::Malformed("not UTF-8"))?;
    let mut words = text.split_ascii_whitespace().map(str::parse::<u64>);
    let mut next = || match words.next() {
        Some(Ok(n)) => Ok(n),
        _ => Err(Reason::Malformed("three counters")),
    };
    Ok(SchedStat {
        on_cpu_ns: next()?,
        wait_ns: next()?,
        timeslices: next()?,
    })
}

/// The calling thread's schedstat. The file is bound to the thread that opens it: create
/// the reader on the thread it describes.
#[derive(Debug)]
pub struct ThreadSchedstat {
    file: ProcFile,
}

impl Default for ThreadSchedstat {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadSchedstat {
    pub fn new() -> Self {
        ThreadSchedstat {
            file: ProcFile::open("/proc/thread-self/schedstat", "/proc/thread-self/schedstat"),
        }
    }

    pub fn read(&mut self) -> Result<SchedStat, Unavailable> {
        let source = self.file.source();
        parse(self.file.read()?).map_err(|reason| Unavailable::new(source, reason))
    }
}

/// The sum over all of this process's threads (`/proc/self/schedstat` alone is only the
/// main thread's). Task files are kept open; the task list is read again, which allocates,
/// only when a thread has come or gone.
#[derive(Debug)]
pub struct ProcessSchedstat {
    tasks: Vec<ProcFile>,
    /// `/proc/self/stat`, whose `num_threads` tells when the task list changed.
    stat: ProcFile,
}

impl Default for ProcessSchedstat {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessSchedstat {
    pub fn new() -> Self {
        let mut reader = ProcessSchedstat {
            tasks: Vec::new(),
            stat: ProcFile::open("/proc/self/stat", "/proc/self/stat"),
        };
        reader.rescan();
        reader
    }

    fn thread_count(&mut self) -> Option<usize> {
        parse_thread_count(self.stat.read().ok()?)
    }

    fn rescan(&mut self) {
        let Ok(entries) = std::fs::read_dir("/proc/self/task") else {
            self.tasks.clear();
            return;
        };
        self.tasks = entries
            .flatten()
            .map(|e| {
                let path: PathBuf = e.path().join("schedstat");
                ProcFile::open("/proc/self/task/*/schedstat", path)
            })
            .collect();
    }

    /// Sums every thread's counters. Threads that exited take their counts with them, so
    /// the sum can go backwards; [`super::snapshot`] reports that interval as a reset.
    pub fn read(&mut self) -> Result<SchedStat, Unavailable> {
        if Some(self.tasks.len()) != self.thread_count() {
            self.rescan();
        }
        match self.sum() {
            Ok(sum) => Ok(sum),
            Err(_) => {
                self.rescan(); // a thread exited between listing and reading
                self.sum()
            }
        }
    }

    fn sum(&mut self) -> Result<SchedStat, Unavailable> {
        if self.tasks.is_empty() {
            return Err(Unavailable::new("/proc/self/task", Reason::Missing));
        }
        let mut total = SchedStat::default();
        for task in &mut self.tasks {
            let source = task.source();
            let one = parse(task.read()?).map_err(|reason| Unavailable::new(source, reason))?;
            total.on_cpu_ns += one.on_cpu_ns;
            total.wait_ns += one.wait_ns;
            total.timeslices += one.timeslices;
        }
        Ok(total)
    }
}

/// Field 20 (`num_threads`) of `/proc/<pid>/stat`; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_thread_count(bytes: &[u8]) -> Option<usize> {
    let text = text(bytes)?;
    let after_name = &text[text.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards; field 20 is the 18th of those.
    after_name.split_ascii_whitespace().nth(17)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_counters() {
        assert_eq!(
            parse(b"588313 1200 3\n"),
            Ok(SchedStat {
                on_cpu_ns: 588313,
                wait_ns: 1200,
                timeslices: 3
            })
        );
        assert_eq!(parse(b"1 2\n"), Err(Reason::Malformed("three counters")));
        assert_eq!(parse(b"a b c\n"), Err(Reason::Malformed("three counters")));
    }

    #[test]
    fn thread_count_survives_names_with_parentheses() {
        let stat =
            b"4242 (my (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 7 0 1234 0";
        assert_eq!(parse_thread_count(stat), Some(7));
        assert_eq!(parse_thread_count(b"4242 (x) S 1"), None);
    }

    #[test]
    fn this_process_sums_at_least_this_thread() {
        let mut thread = ThreadSchedstat::new();
        let mut process = ProcessSchedstat::new();
        if let (Ok(t), Ok(p)) = (thread.read(), process.read()) {
            assert!(p.on_cpu_ns >= t.on_cpu_ns);
        } else {
            eprintln!("skipped: schedstat is not available on this kernel (CONFIG_SCHED_INFO)");
        }
    }
}
