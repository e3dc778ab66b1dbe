//! Every contention signal, declared once: its JSON field in [`Contention`], where it comes
//! from and what it means; the reasons for `null`, the report's rows, the `signals` columns
//! and the [`Probe`](crate::probe::Probe)'s gauges follow from [`SIGNALS`].

use super::snapshot::Contention;

/// What a signal's number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A 0..1 share, printed as a percentage.
    Ratio,
    /// Events per second.
    PerSecond,
    /// CPU seconds per second of wall time (1.0 = one whole CPU).
    Cpus,
    /// Seconds of something (waiting) per second of wall time, summed over threads.
    SecondsPerSecond,
}

/// One contention signal.
#[derive(Debug)]
pub struct Declared {
    /// The field of [`Contention`] (and its JSON name, and its key in `unavailable`).
    pub field: &'static str,
    pub unit: Unit,
    /// The file or call it is read from, in a word or two: `/proc/stat`, `schedstat`.
    pub source: &'static str,
    /// What the number is, as a phrase that follows it: "of all CPU time, stolen by the
    /// hypervisor".
    pub meaning: &'static str,
    /// Its row in the report's contention section, when it has one.
    pub row: Option<&'static str>,
    /// Its column heading in `dynoprobe signals`, when it has one.
    pub column: Option<&'static str>,
    /// The Probe's gauge over its last interval, when it publishes one.
    pub gauge: Option<&'static str>,
}

impl Declared {
    /// Its number in `c`, when it was measured.
    pub fn value(&self, c: &Contention) -> Option<f64> {
        let signals = c.signals();
        let (_, signal) = signals.iter().find(|(field, _)| *field == self.field)?;
        signal.value()
    }
}

/// Every signal of [`Contention`], in the order the report shows them.
pub static SIGNALS: [Declared; 12] = [
    Declared {
        field: "steal_ratio",
        unit: Unit::Ratio,
        source: "/proc/stat",
        meaning: "of all CPU time, stolen by the hypervisor",
        row: Some("steal"),
        column: Some("steal%"),
        gauge: Some("dynoprobe_cpu_steal_ratio"),
    },
    Declared {
        field: "runqueue_wait_ratio",
        unit: Unit::Ratio,
        source: "schedstat",
        meaning: "of our threads' runnable time spent waiting for a CPU",
        row: Some("run-queue wait"),
        column: Some("rqwait%"),
        gauge: None,
    },
    Declared {
        field: "runqueue_wait_per_s",
        unit: Unit::SecondsPerSecond,
        source: "schedstat",
        meaning: "our threads spent waiting for a CPU",
        row: None,
        column: None,
        gauge: Some("dynoprobe_runqueue_wait_seconds_per_second"),
    },
    Declared {
        field: "thread_runqueue_wait_ratio",
        unit: Unit::Ratio,
        source: "schedstat",
        meaning: "of the measuring thread's runnable time spent waiting for a CPU",
        row: None,
        column: None,
        gauge: None,
    },
    Declared {
        field: "involuntary_switches_per_s",
        unit: Unit::PerSecond,
        source: "getrusage",
        meaning: "involuntary context switches of this process",
        row: Some("preemptions"),
        column: Some("preempt/s"),
        gauge: None,
    },
    Declared {
        field: "voluntary_switches_per_s",
        unit: Unit::PerSecond,
        source: "getrusage",
        meaning: "voluntary context switches of this process (I/O, locks, sleeps)",
        row: None,
        column: None,
        gauge: None,
    },
    Declared {
        field: "throttled_period_ratio",
        unit: Unit::Ratio,
        source: "cpu.stat",
        meaning: "of cgroup CFS periods that ran out of quota",
        row: Some("throttled periods"),
        column: None,
        gauge: None,
    },
    Declared {
        field: "throttled_ratio",
        unit: Unit::Ratio,
        source: "cpu.stat",
        meaning: "of the time the cgroup was stopped by its quota",
        row: Some("throttled"),
        column: Some("thrott%"),
        gauge: Some("dynoprobe_cgroup_throttled_ratio"),
    },
    Declared {
        field: "pressure_some_ratio",
        unit: Unit::Ratio,
        source: "PSI",
        meaning: "of the time some task on the machine waited for a CPU",
        row: Some("CPU pressure"),
        column: Some("psi-some%"),
        gauge: Some("dynoprobe_pressure_cpu_waiting_ratio"),
    },
    Declared {
        field: "cgroup_pressure_some_ratio",
        unit: Unit::Ratio,
        source: "cgroup cpu.pressure",
        meaning: "of the time some task of this cgroup waited for a CPU",
        row: None,
        column: None,
        gauge: None,
    },
    Declared {
        field: "process_cpu_seconds_per_s",
        unit: Unit::Cpus,
        source: "getrusage",
        meaning: "CPU time this process used per second",
        row: None,
        column: Some("proc-cpu"),
        gauge: None,
    },
    Declared {
        field: "cpu_usage_ratio",
        unit: Unit::Ratio,
        source: "/proc/stat",
        meaning: "of all CPUs' time busy",
        row: Some("CPU busy"),
        column: Some("busy%"),
        gauge: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::numbered_contention;

    fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut names: Vec<&str> = names.into_iter().collect();
        names.sort();
        names
    }

    #[test]
    fn every_signal_of_contention_is_listed_and_declared_once_under_its_json_name() {
        let contention = numbered_contention();
        let json = serde_json::to_value(&contention).unwrap();
        let in_json = json
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, v)| v.is_number() && *k != "elapsed_ns")
            .map(|(k, _)| k.as_str());
        let declared = sorted(SIGNALS.iter().map(|d| d.field));
        let mut unique = declared.clone();
        unique.dedup();
        assert_eq!(unique, declared, "a field declared twice");
        assert_eq!(declared, sorted(in_json));
        assert_eq!(declared, sorted(contention.signals().map(|(f, _)| f)));
    }

    #[test]
    fn each_declaration_reads_its_own_field() {
        let contention = numbered_contention();
        let json = serde_json::to_value(&contention).unwrap();
        for d in &SIGNALS {
            assert_eq!(d.value(&contention), json[d.field].as_f64(), "{}", d.field);
        }
    }
}
