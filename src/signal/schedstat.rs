//! `/proc/<pid>/task/<tid>/schedstat`: a thread's time on a CPU, time runnable but waiting
//! on a run queue (throttled time included) and timeslices run. Needs CONFIG_SCHED_INFO.

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
/// main thread's), those that have exited included. Task files are kept open; the task list
/// is read again, which allocates, only when a thread has come or gone.
#[derive(Debug)]
pub struct ProcessSchedstat {
    tasks: Vec<Task>,
    /// What threads that have exited had counted when last read: the kernel drops a
    /// thread's counters with it, and without these the sum went backwards whenever a
    /// thread ended (a runtime's idle worker, say), so the process's total wait vanished
    /// from a service's metrics for that interval.
    departed: SchedStat,
    /// `/proc/self/stat`, whose `num_threads` tells when the task list changed.
    stat: ProcFile,
}

/// One thread's schedstat file and what it said last.
#[derive(Debug)]
struct Task {
    tid: u32,
    file: ProcFile,
    last: SchedStat,
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
            departed: SchedStat::default(),
            stat: ProcFile::open("/proc/self/stat", "/proc/self/stat"),
        };
        reader.rescan();
        reader
    }

    fn thread_count(&mut self) -> Option<usize> {
        parse_thread_count(self.stat.read().ok()?)
    }

    /// Lists the threads again: files of those still there are kept, those gone add what
    /// they counted last to `departed`, new ones are opened.
    fn rescan(&mut self) {
        let listed: Vec<u32> = match std::fs::read_dir("/proc/self/task") {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut kept = Vec::with_capacity(listed.len());
        for task in std::mem::take(&mut self.tasks) {
            if listed.contains(&task.tid) {
                kept.push(task);
            } else {
                self.departed.add(&task.last);
            }
        }
        for tid in listed {
            if !kept.iter().any(|t| t.tid == tid) {
                let path = PathBuf::from(format!("/proc/self/task/{tid}/schedstat"));
                kept.push(Task {
                    tid,
                    file: ProcFile::open("/proc/self/task/*/schedstat", path),
                    last: SchedStat::default(),
                });
            }
        }
        self.tasks = kept;
    }

    /// Sums every thread's counters, those of threads that have exited included (as they
    /// were when last read).
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
        let mut total = self.departed;
        for task in &mut self.tasks {
            let source = task.file.source();
            let one =
                parse(task.file.read()?).map_err(|reason| Unavailable::new(source, reason))?;
            task.last = one;
            total.add(&one);
        }
        Ok(total)
    }
}

impl SchedStat {
    fn add(&mut self, other: &SchedStat) {
        self.on_cpu_ns += other.on_cpu_ns;
        self.wait_ns += other.wait_ns;
        self.timeslices += other.timeslices;
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
    fn a_thread_that_exits_keeps_its_counts_in_the_sum() {
        let mut process = ProcessSchedstat::new();
        let (ready, seen) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                let until = std::time::Instant::now() + std::time::Duration::from_millis(20);
                while std::time::Instant::now() < until {
                    std::hint::spin_loop();
                }
                ready.wait();
                seen.wait();
            });
            ready.wait();
            let with_worker = process.read().unwrap();
            seen.wait();
            worker.join().unwrap();
            // The worker is gone once the task list no longer has it.
            let gone = std::time::Instant::now();
            while std::fs::read_dir("/proc/self/task").unwrap().count() > process.tasks.len() - 1
                && gone.elapsed() < std::time::Duration::from_secs(5)
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let without = process.read().unwrap();
            assert!(with_worker.on_cpu_ns >= 15_000_000, "{with_worker:?}");
            assert!(
                without.on_cpu_ns >= with_worker.on_cpu_ns
                    && without.wait_ns >= with_worker.wait_ns
                    && without.timeslices >= with_worker.timeslices,
                "{with_worker:?} then {without:?}"
            );
        });
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
