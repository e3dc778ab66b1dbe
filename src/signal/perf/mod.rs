//! The calling thread's context switches and the guest kernel's interrupts that hit it, in
//! one `perf_event_open` group on the thread, read from a mapped ring buffer ([`ring`]) with
//! no system call where nothing fired.

pub mod ring;

use ring::Ring;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where tracefs is found, in order.
pub const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The most events in the group (x86 has about a dozen interrupt entry tracepoints).
const MAX_EVENTS: usize = 32;

/// The interrupt entry tracepoints under `tracefs/events`: `irq_vectors/*_entry` and
/// `irq/irq_handler_entry`, as (`group:name`, id), sorted by name. Pure over the tree, so it
/// is tested on a recorded one.
pub fn entry_events(tracefs: &Path) -> std::io::Result<Vec<(String, u64)>> {
    let mut events = Vec::new();
    let vectors = tracefs.join("events/irq_vectors");
    if let Ok(dir) = std::fs::read_dir(&vectors) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with("_entry") {
                events.push((format!("irq_vectors:{name}"), entry.path().join("id")));
            }
        }
    }
    events.push((
        "irq:irq_handler_entry".into(),
        tracefs.join("events/irq/irq_handler_entry/id"),
    ));
    events.sort();
    events
        .into_iter()
        .map(|(name, id): (String, PathBuf)| {
            let text = std::fs::read_to_string(&id)?;
            let id = text.trim().parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a tracepoint id: {text:?}", id.display()),
                )
            })?;
            Ok((name, id))
        })
        .collect()
}

/// `perf_event_attr` as far as `PERF_ATTR_SIZE_VER0` (64 bytes): all a counting tracepoint
/// needs.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    /// `wakeup_events`, or with the watermark flag `wakeup_watermark` (a union).
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_CONTEXT_SWITCHES: u64 = 3;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_FORMAT_GROUP: u64 = 1 << 3;
const PERF_SAMPLE_IDENTIFIER: u64 = 1 << 16;
/// `perf_event_attr.watermark`: wake a reader after `wakeup_watermark` bytes (capped at the
/// buffer's size), not after half the buffer. Nothing waits on the buffer, and each wake-up
/// is an irq_work interrupt that would count itself.
const PERF_ATTR_FLAG_WATERMARK: u64 = 1 << 14;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// What the group counted since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// The thread's context switches (a thread that never sleeps has only involuntary ones).
    pub switches: u64,
    /// Interrupts that hit the thread, all entry tracepoints summed.
    pub interrupts: u64,
}

/// The calling thread's switch and interrupt counters, read from their ring buffer (or with
/// one system call).
pub struct ThreadCounters {
    /// The group leader (`context-switches`) first; the others are kept open for the
    /// group's life.
    fds: Vec<OwnedFd>,
    events: Vec<String>,
    /// `nr` and one count per event, as the group read returns them.
    buffer: [u64; MAX_EVENTS + 2],
    /// The group's records, or why they are not read (then every reading is a `read`).
    ring: Result<Ring, String>,
    /// The counts as of the last reading.
    counts: Counts,
}

impl ThreadCounters {
    /// Counts the calling thread's context switches and every interrupt entry tracepoint on
    /// it, from now on: the software event `context-switches`, every `irq_vectors:*_entry`
    /// tracepoint (the local timer, IPIs, irq_work, …) and `irq:irq_handler_entry` (device
    /// interrupts). A tracepoint counts for the task running when it fired, so an interrupt
    /// counts for the thread it interrupted. Each event also writes a record to the ring;
    /// where it cannot be mapped or records were lost, one `read` of the group gives the
    /// counts.
    ///
    /// Needs the events' ids from tracefs and the right to count kernel tracepoints
    /// (`CAP_PERFMON`, root, or `perf_event_paranoid` ≤ 1); the error says which is missing.
    /// `DYNOPROBE_PERF=off` in the environment turns it off (to see what an unprivileged
    /// user's report would say).
    pub fn open() -> Result<ThreadCounters, String> {
        if std::env::var("DYNOPROBE_PERF").is_ok_and(|v| v == "off") {
            return Err("DYNOPROBE_PERF=off".into());
        }
        let tracefs = TRACEFS
            .iter()
            .map(Path::new)
            .find(|p| p.join("events/irq").is_dir())
            .ok_or_else(|| {
                format!(
                    "tracefs is not mounted (no events/irq under {}); as root: mount -t tracefs nodev /sys/kernel/tracing",
                    TRACEFS.join(" or ")
                )
            })?;
        let events = entry_events(tracefs).map_err(|e| format!("tracepoint ids: {e}"))?;
        Self::open_ids(&events)
    }

    fn open_ids(events: &[(String, u64)]) -> Result<ThreadCounters, String> {
        let leader = open_event(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES, -1)
            .map_err(|e| format!("perf_event_open context-switches: {e}"))?;
        let mut fds = vec![leader];
        for (name, id) in events.iter().take(MAX_EVENTS) {
            let fd = open_event(PERF_TYPE_TRACEPOINT, *id, fds[0].as_raw_fd()).map_err(|e| {
                let hint = if e.raw_os_error() == Some(libc::EACCES) {
                    " (needs CAP_PERFMON or root, or kernel.perf_event_paranoid <= 1)"
                } else {
                    ""
                };
                format!("perf_event_open {name}: {e}{hint}")
            })?;
            fds.push(fd);
        }
        if fds.len() == 1 {
            return Err("no interrupt tracepoints in tracefs".into());
        }
        let members: Vec<BorrowedFd> = fds[1..].iter().map(|fd| fd.as_fd()).collect();
        let ring = Ring::map(fds[0].as_fd(), &members).map_err(|e| format!("perf mmap: {e}"));
        drop(members);
        let mut counter = ThreadCounters {
            fds,
            events: events
                .iter()
                .take(MAX_EVENTS)
                .map(|e| e.0.clone())
                .collect(),
            buffer: [0; MAX_EVENTS + 2],
            ring,
            counts: Counts::default(),
        };
        // The ring holds every record since the events were opened; the group's counts are
        // its baseline, so the first reading takes them and empties the ring.
        counter.counts = counter
            .read_group()
            .ok_or_else(|| "reading the perf counter group failed".to_string())?;
        if let Ok(ring) = &mut counter.ring {
            ring.drain();
        }
        Ok(counter)
    }

    /// The tracepoints counted, as `group:name`.
    pub fn events(&self) -> &[String] {
        &self.events
    }

    /// The counts since it was opened; `None` when they cannot be read. From the records
    /// written since the last reading (no system call when there are none); where records were
    /// lost, or there is no ring, one `read` of the group. After lost records an event that
    /// fires during that `read` can be counted twice. Allocates nothing.
    pub fn read(&mut self) -> Option<Counts> {
        if let Ok(ring) = &mut self.ring {
            let tally = ring.drain();
            if !tally.incomplete {
                self.counts.switches += tally.switches;
                self.counts.interrupts += tally.interrupts;
                return Some(self.counts);
            }
        }
        self.counts = self.read_group()?;
        Some(self.counts)
    }

    /// The counts since it was opened, from one `read` of the group.
    fn read_group(&mut self) -> Option<Counts> {
        let bytes = std::mem::size_of_val(&self.buffer);
        // SAFETY: the buffer is valid for `bytes` bytes of writes, and the fd is open.
        let n = unsafe {
            libc::read(
                self.fds[0].as_raw_fd(),
                self.buffer.as_mut_ptr().cast(),
                bytes,
            )
        };
        let count = usize::try_from(self.buffer[0]).ok()?;
        if n <= 0 || !(2..=MAX_EVENTS + 1).contains(&count) {
            return None;
        }
        Some(Counts {
            switches: self.buffer[1],
            interrupts: self.buffer[2..=count].iter().sum(),
        })
    }
}

/// An event of `kind` and `config` on the calling thread, any CPU, in `leader`'s group (or a
/// new group for -1), that counts and records its id in a sample each time it fires.
fn open_event(kind: u32, config: u64, leader: libc::c_int) -> std::io::Result<OwnedFd> {
    let attr = PerfEventAttr {
        kind,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config,
        sample_period: 1,
        sample_type: PERF_SAMPLE_IDENTIFIER,
        read_format: PERF_FORMAT_GROUP,
        flags: PERF_ATTR_FLAG_WATERMARK,
        wakeup_events: u32::MAX,
        ..Default::default()
    };
    #[cfg(not(target_os = "linux"))]
    return Err(std::io::ErrorKind::Unsupported.into());
    // SAFETY: `attr` is a valid perf_event_attr of the size it states; pid 0 and cpu -1 is
    // this thread on any CPU; the kernel returns a new fd or -1.
    #[cfg(target_os = "linux")]
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            0,
            -1,
            leader,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_events_are_every_vectors_entry_and_the_device_handler() {
        let dir = std::env::temp_dir().join(format!("dynoprobe-tracefs-{}", std::process::id()));
        let event = |path: &str, id: &str| {
            let d = dir.join("events").join(path);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("id"), id).unwrap();
        };
        event("irq_vectors/local_timer_entry", "41\n");
        event("irq_vectors/local_timer_exit", "42\n");
        event("irq_vectors/reschedule_entry", "43\n");
        event("irq_vectors/vector_alloc", "44\n");
        event("irq/irq_handler_entry", "50\n");
        event("irq/softirq_entry", "51\n");
        let events = entry_events(&dir).unwrap();
        assert_eq!(
            events,
            [
                ("irq:irq_handler_entry".to_string(), 50),
                ("irq_vectors:local_timer_entry".to_string(), 41),
                ("irq_vectors:reschedule_entry".to_string(), 43),
            ]
        );
        std::fs::write(dir.join("events/irq/irq_handler_entry/id"), "x").unwrap();
        let error = entry_events(&dir).unwrap_err().to_string();
        assert!(error.contains("not a tracepoint id"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Where the kernel allows it, the counter sees this thread's timer ticks: a thread busy
    /// for 200 ms of its own CPU time on a CPU that ticks at CONFIG_HZ (at least 100 Hz; no
    /// `nohz_full` CPU here) takes at least 10 of them.
    #[test]
    fn a_busy_thread_counts_its_timer_ticks_where_the_kernel_allows() {
        let mut counter = match ThreadCounters::open() {
            Ok(counter) => counter,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        };
        if crate::signal::kconfig::nohz_full_cpus() {
            eprintln!("skipped: nohz_full CPUs here may not tick while busy");
            return;
        }
        let before = counter.read().unwrap();
        let start = crate::signal::clock::thread_cpu_ns();
        while crate::signal::clock::thread_cpu_ns() - start < 200_000_000 {
            std::hint::spin_loop();
        }
        let after = counter.read().unwrap();
        let ticks = after.interrupts - before.interrupts;
        eprintln!("{ticks} interrupts in 200 ms of this thread's CPU time");
        assert!(ticks >= 10, "{ticks} interrupts in 200 ms of spinning");
        assert!(
            counter
                .events()
                .iter()
                .any(|e| e.ends_with("local_timer_entry"))
        );
    }

    /// The records in the ring count what the kernel's counters count: after a busy spin
    /// with sleeps in it (switches) and ticks (interrupts), read from the ring some
    /// hundreds of times, the counts equal those of the group's `read`, event for event.
    #[test]
    fn the_rings_records_count_what_the_group_counts() {
        let mut counter = match ThreadCounters::open() {
            Ok(counter) => counter,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        };
        let before = counter.read_group().unwrap();
        let ring = match &mut counter.ring {
            Ok(ring) => ring,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        };
        ring.drain();
        let mut from_ring = before;
        let start = crate::signal::clock::thread_cpu_ns();
        let mut readings = 0;
        while crate::signal::clock::thread_cpu_ns() - start < 100_000_000 {
            for _ in 0..10_000 {
                std::hint::spin_loop();
            }
            let tally = ring.drain();
            assert!(!tally.incomplete, "records lost after {readings} readings");
            from_ring.switches += tally.switches;
            from_ring.interrupts += tally.interrupts;
            readings += 1;
            if readings % 50 == 0 {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
        // The kernel's count is read between two drains, so it lies between what the ring
        // counted before it and that plus what came during the read.
        let tally = ring.drain();
        from_ring.switches += tally.switches;
        from_ring.interrupts += tally.interrupts;
        let from_kernel = counter.read_group().unwrap();
        let during = counter.ring.as_mut().unwrap().drain();
        eprintln!(
            "{readings} readings: ring {from_ring:?} (+{during:?}), group read {from_kernel:?}"
        );
        assert!(
            (from_ring.switches..=from_ring.switches + during.switches)
                .contains(&from_kernel.switches)
        );
        assert!(
            (from_ring.interrupts..=from_ring.interrupts + during.interrupts)
                .contains(&from_kernel.interrupts)
        );
        assert!(from_ring.switches > 0 && from_ring.interrupts > 0);
    }
}
