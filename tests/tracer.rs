//! The kernel's own tracer as the judge, gap by gap. `dynoprobe jitter --gaps` spins for 5 s
//! on one CPU beside a periodic waker (so that there are preemptions to see) while ftrace
//! records that CPU's `sched_switch`, interrupt entries and softirqs on the raw TSC
//! (`x86-tsc`, the clock of the gap log's `start_tsc`/`end_tsc`). Every logged gap is then
//! matched to what the trace holds inside it: a switch of the spinning thread, a guest
//! interrupt, or nothing (a pause only the host knows of). Prints the confusion matrix.
//!
//! Needs root, tracefs and the TSC as the spin's clock; skips, saying why, elsewhere.
//! CI requires it (`DYNOPROBE_TRACER=require`).
#![cfg(feature = "cli")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

/// What the trace holds inside a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    /// The spinning thread was switched out.
    Switch,
    /// A guest interrupt handler or softirq ran.
    Interrupt,
    /// No guest event: the host's.
    Nothing,
}

/// One event of the trace: its TSC timestamp, and what it says.
#[derive(Debug)]
struct Event {
    tsc: u64,
    /// The threads a `sched_switch` took off the CPU and put on it.
    switched_out: Option<u64>,
    switched_in: Option<u64>,
    /// An interrupt handler or softirq began (`*_entry`); other events (their `*_exit`)
    /// only mark a time at which the guest ran.
    interrupt: bool,
}

/// `... [001] d.h1. 5429722797200: local_timer_entry: vector=236` → an [`Event`]; `None` for
/// a line that is not an event.
fn parse_line(line: &str) -> Option<Event> {
    let rest = &line[line.find("] ")? + 2..];
    let mut fields = rest.split_whitespace();
    let _flags = fields.next()?;
    let tsc = fields.next()?.strip_suffix(':')?.parse().ok()?;
    let event = fields.next()?.strip_suffix(':')?;
    let pid = |key: &str| {
        let field = rest.split_whitespace().find(|f| f.starts_with(key))?;
        field[key.len()..].parse().ok()
    };
    let switch = event == "sched_switch";
    Some(Event {
        tsc,
        switched_out: switch.then(|| pid("prev_pid=")).flatten(),
        switched_in: switch.then(|| pid("next_pid=")).flatten(),
        interrupt: event.ends_with("_entry"),
    })
}

/// An ftrace instance of its own (its buffer and settings apart from anyone else's) recording
/// one CPU on the TSC; removed when dropped.
struct Trace(PathBuf);

impl Trace {
    fn start(cpu: usize) -> Result<Trace, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: ftrace needs it".into());
        }
        let tracefs = Path::new("/sys/kernel/tracing");
        if !tracefs.join("instances").is_dir() {
            let mounted = Command::new("mount")
                .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
                .status();
            if !mounted.is_ok_and(|s| s.success()) || !tracefs.join("instances").is_dir() {
                return Err("tracefs cannot be mounted at /sys/kernel/tracing".into());
            }
        }
        let dir = tracefs.join(format!("instances/dynoprobe-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let trace = Trace(dir);
        let clocks = trace.read("trace_clock");
        if !clocks.contains("x86-tsc") {
            return Err(format!(
                "no x86-tsc trace clock (clocks: {})",
                clocks.trim()
            ));
        }
        trace.write("trace_clock", "x86-tsc")?;
        trace.write("tracing_cpumask", &format!("{:x}", 1u128 << cpu))?;
        trace.write("buffer_size_kb", "65536")?;
        trace.write("events/sched/sched_switch/enable", "1")?;
        trace.write("events/irq/enable", "1")?;
        let vectors = std::fs::read_dir(trace.0.join("events/irq_vectors"))
            .map_err(|e| format!("irq_vectors events: {e}"))?;
        for entry in vectors.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with("_entry") || name.ends_with("_exit") {
                trace.write(&format!("events/irq_vectors/{name}/enable"), "1")?;
            }
        }
        trace.write("tracing_on", "1")?;
        Ok(trace)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        std::fs::write(self.0.join(file), value).map_err(|e| format!("{file}: {e}"))
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap_or_default()
    }

    /// Stops recording and returns the events, in order of time.
    fn stop(&self) -> Vec<Event> {
        let _ = self.write("tracing_on", "0");
        let mut events: Vec<Event> = self.read("trace").lines().filter_map(parse_line).collect();
        events.sort_by_key(|e| e.tsc);
        events
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let _ = self.write("tracing_on", "0");
        let _ = self.write("events/enable", "0");
        if let Err(e) = std::fs::remove_dir(&self.0) {
            eprintln!("warning: could not remove {}: {e}", self.0.display());
        }
    }
}

/// One logged gap.
struct Gap {
    start: u64,
    end: u64,
    len_ns: u64,
    cause: String,
    /// A switched gap's part that was the host's (its cause and length, ns), logged as a line
    /// of its own just before the switch's, with the same counters.
    host: Option<(String, u64)>,
}

/// The gaps of the log, a switched gap's host part joined to it again: the log puts that
/// part first, but where in the gap the pause fell is not known, so the check judges the two
/// together.
fn gaps(log: &str) -> Vec<Gap> {
    let mut gaps: Vec<Gap> = Vec::new();
    let mut host_part = None;
    for line in log.lines() {
        let g: Value = serde_json::from_str(line).expect("a JSON line");
        let mut gap = Gap {
            start: g["start_tsc"].as_u64().expect("start_tsc"),
            end: g["end_tsc"].as_u64().expect("end_tsc"),
            len_ns: g["len_ns"].as_u64().unwrap(),
            cause: g["cause"].as_str().unwrap().to_string(),
            host: None,
        };
        // Only a switched gap's host part has another cause over counters that switched
        // (the host's, or `interrupt` where the tick's phase fell in it).
        let switched = g["switches"].as_u64().unwrap() > 0;
        if switched && !matches!(gap.cause.as_str(), "preempted" | "throttled") {
            host_part = Some(gap);
            continue;
        }
        if let Some(host) = host_part.take() {
            assert_eq!(
                host.end, gap.start,
                "a host part not followed by its switch"
            );
            gap.start = host.start;
            gap.len_ns += host.len_ns;
            gap.host = Some((host.cause, host.len_ns));
        }
        gaps.push(gap);
    }
    assert!(host_part.is_none(), "the log ends on a host part");
    gaps
}

/// The longest stretch of `from..=to` in which the trace holds no event while thread `tid`
/// was on its CPU: time in which the guest did nothing it traces, as a host's pause looks.
/// A stretch inside a handler counts: no guest handler takes a millisecond, a host pause
/// during one does (the steal clock said so for those seen here). In ticks.
fn longest_quiet(events: &[Event], from: u64, to: u64, tid: u64) -> u64 {
    let first = events.partition_point(|e| e.tsc < from);
    let (mut longest, mut since, mut on_cpu) = (0, from, true);
    for e in events[first..].iter().take_while(|e| e.tsc <= to) {
        if on_cpu {
            longest = longest.max(e.tsc - since);
        }
        on_cpu = (on_cpu && e.switched_out != Some(tid)) || e.switched_in == Some(tid);
        since = e.tsc;
    }
    if on_cpu {
        longest = longest.max(to - since);
    }
    longest
}

/// What the trace holds between `from` and `to` for thread `tid`.
fn seen(events: &[Event], from: u64, to: u64, tid: u64) -> Seen {
    let first = events.partition_point(|e| e.tsc < from);
    let inside = events[first..].iter().take_while(|e| e.tsc <= to);
    let mut seen = Seen::Nothing;
    for e in inside {
        if e.switched_out == Some(tid) {
            return Seen::Switch;
        }
        if e.interrupt {
            seen = Seen::Interrupt;
        }
    }
    seen
}

/// The two checks trace the same CPU: one at a time.
static ONE_TRACE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_gap_agrees_with_the_kernels_tracer() {
    check_against_the_tracer(Method::Perf);
}

/// Without perf (as for a user who is not root), the tick is found by its phase: the gaps
/// named `interrupt` so hold a guest interrupt, and the host's gaps still hold none.
#[test]
fn the_tick_found_by_its_phase_agrees_with_the_kernels_tracer() {
    check_against_the_tracer(Method::TickPhase);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Perf,
    TickPhase,
}

fn check_against_the_tracer(method: Method) {
    let _one = ONE_TRACE.lock().unwrap_or_else(|e| e.into_inner());
    let required = std::env::var("DYNOPROBE_TRACER").is_ok_and(|v| v == "require");
    let skip = |why: String| {
        assert!(!required, "DYNOPROBE_TRACER=require, but: {why}");
        eprintln!("skipped: {why}");
    };
    let Some(cpu) = core_affinity::get_core_ids().and_then(|ids| ids.last().map(|c| c.id)) else {
        return skip("cannot read the CPU affinity mask".into());
    };
    let trace = match Trace::start(cpu) {
        Ok(trace) => trace,
        Err(why) => return skip(why),
    };
    let log = std::env::temp_dir().join(format!("dynoprobe-gaps-{}.jsonl", std::process::id()));
    let stop = AtomicBool::new(false);
    let output = std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        // A waker on the spin's CPU, every 10 ms: each wake-up preempts the spinning thread.
        scope.spawn(|| {
            core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Command::new(env!("CARGO_BIN_EXE_dynoprobe"))
            .env(
                "DYNOPROBE_PERF",
                if method == Method::Perf { "on" } else { "off" },
            )
            .args(["jitter", "--duration", "5s", "--cpus", &cpu.to_string()])
            .arg("--gaps")
            .arg(&log)
            .arg("--json")
            .output()
            .expect("dynoprobe runs")
    });
    let events = trace.stop();
    drop(trace);
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let text = std::fs::read_to_string(&log).expect("the gap log");
    let _ = std::fs::remove_file(&log);
    let j = &report["jitter"][0];
    if !j["clock"].as_str().unwrap_or("").starts_with("TSC") {
        return skip(format!("the spin read {}, not the TSC", j["clock"]));
    }
    let expected = match method {
        Method::Perf => "perf",
        Method::TickPhase => "tick-phase",
    };
    if j["interrupts"]["method"] != expected {
        return skip(format!(
            "interrupts not told apart by {expected}: {}",
            j["interrupts"]["how"]
        ));
    }
    let gaps = gaps(&text);
    let tid = first_tid(&text);
    assert!(gaps.len() > 100, "{} gaps logged", gaps.len());

    // The confusion matrix: dynoprobe's cause against what the trace holds, count and time.
    let mut matrix: BTreeMap<(String, Seen), (u64, u64)> = BTreeMap::new();
    for g in &gaps {
        let cell = matrix
            .entry((g.cause.clone(), seen(&events, g.start, g.end, tid)))
            .or_default();
        (cell.0, cell.1) = (cell.0 + 1, cell.1 + g.len_ns);
    }
    eprintln!(
        "{method:?}: dynoprobe's cause vs the tracer's (gaps, µs), {} gaps:",
        gaps.len()
    );
    for ((cause, seen), (count, ns)) in &matrix {
        eprintln!(
            "  {cause:<11} {seen:<10?} {count:>6} {:>10.1}",
            *ns as f64 / 1e3
        );
    }
    // The amount (gaps, or their time) of `causes` the trace agrees with, and the whole.
    let share = |causes: &[&str], agree: &[Seen], by_time: bool| {
        let (mut all, mut agreed) = (0u64, 0u64);
        for ((cause, seen), (count, ns)) in &matrix {
            if causes.contains(&cause.as_str()) {
                let amount = if by_time { *ns } else { *count };
                all += amount;
                agreed += if agree.contains(seen) { amount } else { 0 };
            }
        }
        (agreed, all)
    };
    let ratio = |(agreed, all): (u64, u64)| agreed as f64 / all.max(1) as f64;

    // Every switch of the thread the tracer saw during the spin fell in a switched gap.
    let (first, last) = (gaps[0].start, gaps[gaps.len() - 1].end);
    let switches: Vec<u64> = events
        .iter()
        .filter(|e| e.switched_out == Some(tid) && (first..=last).contains(&e.tsc))
        .map(|e| e.tsc)
        .collect();
    let in_a_switched_gap = |tsc: u64| {
        gaps.iter().any(|g| {
            matches!(g.cause.as_str(), "preempted" | "throttled")
                && (g.start..=g.end).contains(&tsc)
        })
    };
    let in_switched = switches
        .iter()
        .filter(|&&tsc| in_a_switched_gap(tsc))
        .count();
    // Where a switch was missed, the gaps around it, for whoever reads a failure.
    for &tsc in switches
        .iter()
        .filter(|&&tsc| !in_a_switched_gap(tsc))
        .take(5)
    {
        let next = gaps.partition_point(|g| g.end < tsc);
        for g in &gaps[next.saturating_sub(1)..(next + 1).min(gaps.len())] {
            eprintln!(
                "  a switch at TSC {tsc} not in a switched gap; near: {} from {} to {}",
                g.cause, g.start, g.end
            );
        }
    }
    let recall = in_switched as f64 / switches.len().max(1) as f64;
    let (switched_agreed, switched) = share(&["preempted", "throttled"], &[Seen::Switch], false);
    let precision = ratio((switched_agreed, switched));
    eprintln!(
        "switches: {in_switched} of the tracer's {} in switched gaps; {:.1}% of our {switched} switched gaps hold one",
        switches.len(),
        precision * 100.0
    );
    assert!(switches.len() >= 100, "{} switches traced", switches.len());
    assert!(recall >= 0.99, "{recall}: switches outside switched gaps");
    assert!(
        precision >= 0.99,
        "{precision}: switched gaps without a switch"
    );

    let interrupts = ratio(share(
        &["interrupt"],
        &[Seen::Interrupt, Seen::Switch],
        true,
    ));
    eprintln!(
        "interrupt gaps holding a guest interrupt: {:.1}% of their time",
        interrupts * 100.0
    );
    // By the tick's phase, a host pause that happens to cover it is taken for the tick (about
    // 1% of them: a 20 µs pause covers 30 µs of a 4 ms period).
    let interrupts_min = if method == Method::Perf { 0.95 } else { 0.90 };
    assert!(interrupts >= interrupts_min, "{interrupts}");
    // A switched gap's host part sits beside the switch and the interrupt that caused it, so
    // it cannot hold no event at all: it agrees as far as the trace shows a stretch that long
    // with no event outside the switch.
    let (mut parts, mut claimed_ns, mut quiet_ns) = (0, 0, 0);
    for g in &gaps {
        if let Some((_, part_ns)) = g.host {
            let ns_per_tick = g.len_ns as f64 / (g.end - g.start).max(1) as f64;
            let quiet = longest_quiet(&events, g.start, g.end, tid) as f64 * ns_per_tick;
            (parts, claimed_ns) = (parts + 1, claimed_ns + part_ns);
            quiet_ns += part_ns.min(quiet as u64);
        }
    }
    eprintln!(
        "host parts of switched gaps: {parts}, {:.1} µs, {:.1}% of it quiet in the trace outside the switch",
        claimed_ns as f64 / 1e3,
        100.0 * quiet_ns as f64 / claimed_ns.max(1) as f64
    );
    let (whole_agreed, whole_ns) = share(&["stolen", "unreported"], &[Seen::Nothing], true);
    let (host, host_ns) = (
        ratio((whole_agreed + quiet_ns, whole_ns + claimed_ns)),
        whole_ns + claimed_ns,
    );
    eprintln!(
        "stolen and unreported gaps holding no guest event: {:.1}% of their time ({:.1} ms)",
        host * 100.0,
        host_ns as f64 / 1e6
    );
    // By the tick's phase, interrupts other than the tick stay unreported (here: few).
    let host_min = if method == Method::Perf { 0.90 } else { 0.85 };
    assert!(host >= host_min, "{host}");
}

/// Sets the flag when dropped, so the waker stops however the test ends.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn first_tid(log: &str) -> u64 {
    let line = log.lines().next().expect("a gap");
    serde_json::from_str::<Value>(line).unwrap()["tid"]
        .as_u64()
        .unwrap()
}

#[test]
fn trace_lines_are_read_as_the_kernel_writes_them() {
    let switch = "       dynoprobe-4113    [001] d..2. 5473185577994: sched_switch: prev_comm=dynoprobe \
                  prev_pid=4113 prev_prio=120 prev_state=R ==> next_comm=tracer next_pid=9 next_prio=120";
    let e = parse_line(switch).unwrap();
    assert_eq!(
        (e.tsc, e.switched_out, e.switched_in, e.interrupt),
        (5473185577994, Some(4113), Some(9), false)
    );
    let tick = "          <idle>-0       [001] d.h1. 5473192267719: local_timer_entry: vector=236";
    let e = parse_line(tick).unwrap();
    assert_eq!(
        (e.tsc, e.switched_out, e.interrupt),
        (5473192267719, None, true)
    );
    let exit = "          <idle>-0       [001] d.h1. 5473192267800: local_timer_exit: vector=236";
    let e = parse_line(exit).unwrap();
    assert_eq!((e.tsc, e.interrupt), (5473192267800, false));
    assert!(parse_line("# tracer: nop").is_none());
}
