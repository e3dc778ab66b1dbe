//! The kernel's contention counters as text, one row per signal of
//! [`SIGNALS`] that has one.

use std::fmt::Write as _;

use super::units::{
    MISSING, cpus, per_second, percent, percent_number, seconds, seconds_per_second, whole,
};
use crate::signal::catalog::{Declared, SIGNALS, Unit};
use crate::signal::snapshot::Contention;

/// The kernel's contention counters over an interval, each with its source.
pub fn contention(out: &mut String, c: &Contention) {
    let _ = writeln!(
        out,
        "contention over the whole run ({} s):",
        seconds(c.elapsed_ns)
    );
    for d in &SIGNALS {
        let Some(name) = d.row else { continue };
        let value = value(d.unit, d.value(c));
        let _ = writeln!(out, "  {name:<18} {value:>8}  {} ({})", d.meaning, d.source);
    }
    for (field, why) in &c.unavailable {
        let _ = writeln!(out, "  - {field}: {why}");
    }
}

/// A signal's value in its unit: `12.3%`, `4.5/s`, `0.50 CPUs`, or [`MISSING`].
fn value(unit: Unit, value: Option<f64>) -> String {
    match unit {
        Unit::Ratio => percent(value),
        Unit::PerSecond => per_second(value),
        Unit::Cpus => value.map_or(MISSING.into(), cpus),
        Unit::SecondsPerSecond => {
            value.map_or(MISSING.into(), |v| format!("{} s/s", seconds_per_second(v)))
        }
    }
}

/// `dynoprobe signals`' heading: one column per signal of [`SIGNALS`] that has one.
pub fn signals_header() -> String {
    columns(|d| d.column.map(str::to_string))
}

/// One `dynoprobe signals` line: percentages without `%`, rates whole, `-` when missing.
pub fn signals_row(c: &Contention) -> String {
    columns(|d| {
        let value = d.value(c);
        d.column.map(|_| match d.unit {
            Unit::Ratio => percent_number(value),
            Unit::PerSecond => value.map_or("-".into(), whole),
            Unit::Cpus => value.map_or("-".into(), cpus),
            Unit::SecondsPerSecond => value.map_or("-".into(), seconds_per_second),
        })
    })
}

/// The cells `cell` gives, each right-aligned to its column's width.
fn columns(cell: impl Fn(&Declared) -> Option<String>) -> String {
    let cells: Vec<String> = SIGNALS
        .iter()
        .filter_map(|d| {
            let text = cell(d)?;
            let width = d.column?.len().max(match d.unit {
                Unit::Cpus => 12,
                _ => 7,
            });
            Some(format!("{text:>width$}"))
        })
        .collect();
    cells.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::numbered_contention;

    #[test]
    fn every_row_and_column_comes_from_the_catalog() {
        let c = numbered_contention();
        let mut out = String::new();
        contention(&mut out, &c);
        for d in SIGNALS.iter().filter(|d| d.row.is_some()) {
            assert!(out.contains(d.meaning), "{} missing:\n{out}", d.field);
        }
        let header = signals_header();
        let row = signals_row(&c);
        assert_eq!(header.len(), row.len(), "{header}\n{row}");
        assert_eq!(
            header.split_whitespace().count(),
            SIGNALS.iter().filter(|d| d.column.is_some()).count()
        );
        assert!(header.trim_start().starts_with("steal%"), "{header}");
    }
}
