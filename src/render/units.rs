//! Every unit a figure is printed in, in one place. A missing figure prints as [`MISSING`]
//! (or `-` in a table cell), never as 0.

/// What a figure that was not measured prints as.
pub const MISSING: &str = "n/a";

/// Nanoseconds as milliseconds, three decimals, no unit (for columns headed "ms").
pub fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

/// Nanoseconds as milliseconds with the unit: `1.234 ms`.
pub fn ms_with_unit(ns: u64) -> String {
    format!("{} ms", ms(ns))
}

/// Nanoseconds as microseconds, one decimal, no unit; `-` when absent.
pub fn us(ns: Option<u64>) -> String {
    ns.map_or("-".into(), |ns| format!("{:.1}", ns as f64 / 1e3))
}

/// Nanoseconds as whole microseconds, rounded down, no unit.
pub fn whole_us(ns: u64) -> String {
    (ns / 1000).to_string()
}

/// Milliseconds rounded to a whole number, with the unit: `70 ms`.
pub fn whole_ms(ms: f64) -> String {
    format!("{ms:.0} ms")
}

/// Milliseconds with two decimals and the unit, or [`MISSING`].
pub fn ms_f(ms: Option<f64>) -> String {
    ms.map_or(MISSING.into(), |ms| format!("{ms:.2} ms"))
}

/// A duration in ns, in the unit that reads best: `1.234 s`, `2.345 ms`, `12.34 µs`, `56.7 ns`.
pub fn time(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.3} s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.3} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        ns => format!("{ns:.1} ns"),
    }
}

/// Nanoseconds as seconds with one decimal, no unit.
pub fn seconds(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e9)
}

/// Nanoseconds as seconds with three decimals and the unit: `1.250 s` (a moment in a spin).
pub fn seconds_with_unit(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// Bytes in 10^6 bytes, two decimals, with the unit: `4.00 MB`.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// A 0..1 ratio as a percentage with one decimal: `12.3%`, or [`MISSING`].
pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or(MISSING.into(), |r| format!("{:.1}%", r * 100.0))
}

/// A 0..1 ratio as a percentage for a table cell: `12.3%`, or `-`.
pub fn percent_cell(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// A 0..1 ratio as a bare percentage number for columns headed "%": `12.3`, or `-`.
pub fn percent_number(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{:.1}", r * 100.0))
}

/// A small 0..1 ratio (an overhead) as a percentage with three decimals: `0.034%`.
pub fn fine_percent(ratio: f64) -> String {
    format!("{:.3}%", ratio * 100.0)
}

/// A difference of shares in percentage points, signed, to 0.1: `+2.5 pts`, `-12.5 pts`;
/// `0.0 pts` when it rounds to nothing (not `-0.0`).
pub fn points(points: f64) -> String {
    let tenths = (points * 10.0).round();
    if tenths == 0.0 {
        "0.0 pts".into()
    } else {
        format!("{:+.1} pts", tenths / 10.0)
    }
}

/// A rate or a count rounded to a whole number, no unit: `250`.
pub fn whole(v: f64) -> String {
    format!("{v:.0}")
}

/// Time per op in ns, three decimals, no unit (for columns and sentences that name it).
pub fn ns_per_op(ns: f64) -> String {
    format!("{ns:.3}")
}

/// CPU seconds per second (a pressure, a usage rate), three decimals, no unit.
pub fn seconds_per_second(v: f64) -> String {
    format!("{v:.3}")
}

/// Work per second with its unit (`MiB/s`, `Kelem/s`, …), one decimal: `7556.9 MiB/s`.
pub fn throughput(v: f64, unit: &str) -> String {
    format!("{v:.1} {unit}")
}

/// Events per second: `12.3/s`, or [`MISSING`].
pub fn per_second(per_s: Option<f64>) -> String {
    per_s.map_or(MISSING.into(), |r| format!("{r:.1}/s"))
}

/// Bytes per second in 10^6 bytes per second, one decimal, no unit; `-` when absent.
pub fn mb_per_s(bytes_per_s: Option<f64>) -> String {
    bytes_per_s.map_or("-".into(), |b| format!("{:.1}", b / 1e6))
}

/// A count, or [`MISSING`].
pub fn count(n: Option<u64>) -> String {
    n.map_or(MISSING.into(), |n| n.to_string())
}

/// A plain ratio (a cost, max / min, a count per run), two decimals.
pub fn ratio(r: f64) -> String {
    format!("{r:.2}")
}

/// CPUs' worth of time (a quota, a cgroup's usage), two decimals and the unit.
pub fn cpus(v: f64) -> String {
    format!("{v:.2} CPUs")
}

/// A whole number of CPUs, with the unit in its number.
pub fn cpu_count(n: u64) -> String {
    match n {
        1 => "1 CPU".into(),
        n => format!("{n} CPUs"),
    }
}

/// A ratio of two figures (slow / fast), two decimals and `×`.
pub fn times(ratio: f64) -> String {
    format!("{ratio:.2}×")
}

/// The unit for an axis of times up to `top_ns`: ms from a millisecond up, µs below; as
/// (ns per unit, its name).
pub fn axis_time_unit(top_ns: f64) -> (f64, &'static str) {
    if top_ns >= 1e6 {
        (1e6, "ms")
    } else {
        (1e3, "µs")
    }
}

/// A test's p-value, four decimals: `0.0312`.
pub fn p_value(p: f64) -> String {
    format!("{p:.4}")
}

/// Runs bought per dollar, in scientific notation with four figures: `3.051e11`.
pub fn runs_per_dollar(runs: f64) -> String {
    format!("{runs:.3e}")
}

/// A ratio with `unit` after it and its confidence interval: `1.05× [0.98, 1.12]`, or the
/// ratio alone where there is no interval.
pub fn ratio_with_interval(ratio: f64, unit: &str, interval: Option<(f64, f64)>) -> String {
    match interval {
        Some((low, high)) => format!("{ratio:.2}{unit} [{low:.2}, {high:.2}]"),
        None => format!("{ratio:.2}{unit}"),
    }
}

/// An interval's confidence for a significance level: `95%` for alpha 0.05.
pub fn confidence(alpha: f64) -> String {
    format!("{}%", (1.0 - alpha) * 100.0)
}

/// The UTC date and time of `unix_ms`, to the second: `2026-11-24 14:05:09 UTC`.
pub fn utc(unix_ms: u64) -> String {
    let s = unix_ms / 1000;
    let (days, of_day) = (s / 86_400, s % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date of a day count since
/// 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_prints_as_documented() {
        assert_eq!(ms(2_000_895), "2.001");
        assert_eq!(
            (cpu_count(1), cpu_count(2)),
            ("1 CPU".into(), "2 CPUs".into())
        );
        assert_eq!(ms_with_unit(2_500_000), "2.500 ms");
        assert_eq!((us(Some(1_960)), us(None)), ("2.0".into(), "-".into()));
        assert_eq!(whole_us(89_999), "89");
        assert_eq!(
            (ms_f(Some(3.921)), ms_f(None)),
            ("3.92 ms".into(), "n/a".into())
        );
        assert_eq!(time(1.5e9), "1.500 s");
        assert_eq!(time(1_340_000.0), "1.340 ms");
        assert_eq!(time(89_670.0), "89.67 µs");
        assert_eq!(time(5.43), "5.4 ns");
        assert_eq!(seconds(1_500_000_000), "1.5");
        assert_eq!(seconds_with_unit(1_250_000_000), "1.250 s");
        assert_eq!(megabytes(4_000_000), "4.00 MB");
        assert_eq!(percent(Some(0.0834)), "8.3%");
        assert_eq!(percent(None), "n/a");
        assert_eq!(percent_cell(None), "-");
        assert_eq!(percent_number(Some(0.7)), "70.0");
        assert_eq!(per_second(Some(12.34)), "12.3/s");
        assert_eq!(mb_per_s(Some(1_999_105_000.0)), "1999.1");
        assert_eq!((count(Some(7)), count(None)), ("7".into(), "n/a".into()));
        assert_eq!(times(1.3), "1.30×");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        // `date -u -d @1795532709`: Tue Nov 24 15:05:09 UTC 2026.
        assert_eq!(utc(1_795_532_709_999), "2026-11-24 15:05:09 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
