//! `dynoprobe compare`: saved criterion baselines side by side, one line per benchmark and
//! baseline, with the ratio to the first baseline and whether the difference is significant.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use dynoprobe::baseline::{self, Baseline, Benchmark, mann_whitney_p, runs_per_dollar};
use dynoprobe::render::units::{percent_cell, time};
use dynoprobe::sidecar::criterion_home;
use regex::Regex;
use serde::Serialize;

use super::CompareArgs;

/// One benchmark in one baseline, with what it is compared to.
#[derive(Debug, Serialize)]
struct Cell {
    baseline: String,
    benchmark: String,
    median_ns: f64,
    mad_ns: f64,
    sample_cv: Option<f64>,
    p99_run_ns: Option<u64>,
    off_cpu_ratio: Option<f64>,
    throughput: Option<(f64, &'static str)>,
    /// Median / the first column's median.
    ratio: Option<f64>,
    /// Mann–Whitney U on per-sample means against the first column.
    p_value: Option<f64>,
    significant: Option<bool>,
    runs_per_dollar: Option<f64>,
    /// Cost per run / the first column's.
    cost_ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Row {
    key: String,
    cells: Vec<Cell>,
}

pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let prices = parse_prices(&args.price)?;
    let baselines = load(&args)?;
    if args.baselines {
        for b in &baselines {
            println!("{}\t{} benchmarks", b.name, b.benchmarks.len());
        }
        return Ok(());
    }
    if args.list {
        for b in &baselines {
            for bench in &b.benchmarks {
                println!("{}\t{}", b.name, bench.id);
            }
        }
        return Ok(());
    }
    if let Some(name) = &args.export {
        let baseline = baselines
            .iter()
            .find(|b| &b.name == name)
            .with_context(|| format!("no baseline named '{name}'; found: {}", names(&baselines)))?;
        println!("{}", serde_json::to_string_pretty(baseline)?);
        return Ok(());
    }
    let filter = args
        .filter
        .as_deref()
        .map(Regex::new)
        .transpose()
        .context("-f/--filter")?;
    let group = args
        .group
        .as_deref()
        .map(Regex::new)
        .transpose()
        .context("-g/--group")?;
    let mut rows = rows(
        &baselines,
        filter.as_ref(),
        group.as_ref(),
        args.alpha,
        &prices,
    );
    if let Some(threshold) = args.threshold {
        rows.retain(|row| {
            row.cells.iter().any(|c| {
                c.ratio
                    .is_some_and(|r| (r - 1.0).abs() * 100.0 >= threshold)
            })
        });
    }
    if rows.is_empty() {
        bail!("no benchmark to compare (check -f/-g, -t, and the baselines' contents)");
    }
    let out = if args.json {
        serde_json::to_string_pretty(&rows)? + "\n"
    } else {
        render(&rows, args.markdown, args.alpha)
    };
    print!("{out}");
    Ok(())
}

/// The baselines named on the command line (exported files or names in the target
/// directory), in that order; every baseline in the directory when none is named.
fn load(args: &CompareArgs) -> anyhow::Result<Vec<Baseline>> {
    let (files, names): (Vec<&String>, Vec<&String>) = args
        .baselines_or_files
        .iter()
        .partition(|a| a.ends_with(".json") && Path::new(a).is_file());
    let mut found = BTreeMap::new();
    if !names.is_empty() || files.is_empty() {
        let dir = args
            .target_dir
            .clone()
            .map_or_else(criterion_home, |d| d.join("criterion"));
        let read = baseline::read_dir(&dir)?;
        for warning in &read.warnings {
            eprintln!("dynoprobe: warning: skipped {warning}");
        }
        found = read.baselines;
    }
    let mut chosen: Vec<Baseline> = Vec::new();
    for arg in &args.baselines_or_files {
        if files.contains(&arg) {
            chosen.push(baseline::read_export(Path::new(arg))?);
        } else {
            let benchmarks = found.get(arg.as_str()).cloned().with_context(|| {
                format!(
                    "no baseline named '{arg}'; found: {}",
                    found.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            chosen.push(Baseline {
                name: arg.clone(),
                benchmarks,
            });
        }
    }
    if chosen.is_empty() {
        chosen = found
            .into_iter()
            .map(|(name, benchmarks)| Baseline { name, benchmarks })
            .collect();
    }
    Ok(chosen)
}

fn names(baselines: &[Baseline]) -> String {
    baselines
        .iter()
        .map(|b| b.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `NAME=USD_PER_MONTH`, repeatable.
fn parse_prices(prices: &[String]) -> anyhow::Result<BTreeMap<String, f64>> {
    prices
        .iter()
        .map(|p| {
            let parsed = p.split_once('=').and_then(|(name, usd)| {
                let usd: f64 = usd.trim().trim_start_matches('$').parse().ok()?;
                (usd.is_finite() && usd > 0.0 && !name.is_empty()).then(|| (name.to_string(), usd))
            });
            parsed.with_context(|| {
                format!("--price '{p}': expected NAME=USD_PER_MONTH, e.g. standard-1x=25")
            })
        })
        .collect()
}

/// Rows keyed by benchmark id, or by `group`'s capture groups; one cell per baseline (and
/// per distinct id within a baseline when `group` gathers several).
fn rows(
    baselines: &[Baseline],
    filter: Option<&Regex>,
    group: Option<&Regex>,
    alpha: f64,
    prices: &BTreeMap<String, f64>,
) -> Vec<Row> {
    let mut rows: Vec<(String, Vec<(String, &Benchmark)>)> = Vec::new();
    for b in baselines {
        for bench in &b.benchmarks {
            if filter.is_some_and(|f| !f.is_match(&bench.id)) {
                continue;
            }
            let key = match group {
                None => bench.id.clone(),
                Some(g) => match g.captures(&bench.id) {
                    Some(c) => c
                        .iter()
                        .skip(1)
                        .flatten()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(""),
                    None => continue,
                },
            };
            let label = if group.is_some() {
                format!("{}:{}", b.name, bench.id)
            } else {
                b.name.clone()
            };
            match rows.iter_mut().find(|(k, _)| *k == key) {
                Some((_, cells)) => cells.push((label, bench)),
                None => rows.push((key, vec![(label, bench)])),
            }
        }
    }
    rows.into_iter()
        .map(|(key, cells)| {
            let first = cells[0].1;
            let first_price = prices
                .get(cells[0].0.split(':').next().unwrap_or_default())
                .copied();
            let cells = cells
                .iter()
                .enumerate()
                .map(|(i, (label, bench))| {
                    let price = prices
                        .get(label.split(':').next().unwrap_or_default())
                        .copied();
                    let p_value = (i > 0)
                        .then(|| mann_whitney_p(&first.sample_means_ns, &bench.sample_means_ns))
                        .flatten();
                    let cost = |b: &Benchmark, usd: Option<f64>| {
                        usd.map(|usd| runs_per_dollar(b.median_ns, usd))
                    };
                    Cell {
                        baseline: label.clone(),
                        benchmark: bench.id.clone(),
                        median_ns: bench.median_ns,
                        mad_ns: bench.mad_ns,
                        sample_cv: bench.sample_cv(),
                        p99_run_ns: bench.p99_run_ns,
                        off_cpu_ratio: bench.off_cpu_ratio,
                        throughput: bench.throughput.map(|t| t.rate(bench.median_ns)),
                        ratio: (first.median_ns > 0.0).then(|| bench.median_ns / first.median_ns),
                        p_value,
                        significant: p_value.map(|p| p < alpha),
                        runs_per_dollar: cost(bench, price),
                        cost_ratio: cost(bench, price)
                            .zip(cost(first, first_price))
                            .map(|(a, b)| b / a),
                    }
                })
                .collect();
            Row { key, cells }
        })
        .collect()
}

/// The table, as aligned text or Markdown. Only formats what `rows` computed.
fn render(rows: &[Row], markdown: bool, alpha: f64) -> String {
    let header = [
        "benchmark",
        "baseline",
        "median ± MAD",
        "CV",
        "p99 run",
        "off-CPU",
        "throughput",
        "ratio",
        "p (U test)",
        "runs/$",
        "cost",
    ];
    let mut lines: Vec<[String; 11]> = Vec::new();
    for row in rows {
        for (i, c) in row.cells.iter().enumerate() {
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            lines.push([
                if i == 0 {
                    row.key.clone()
                } else {
                    String::new()
                },
                c.baseline.clone(),
                format!("{} ± {}", time(c.median_ns), time(c.mad_ns)),
                percent_cell(c.sample_cv),
                opt(c.p99_run_ns.map(|ns| time(ns as f64))),
                percent_cell(c.off_cpu_ratio),
                opt(c.throughput.map(|(v, unit)| format!("{v:.1} {unit}"))),
                opt(c.ratio.map(|r| format!("{r:.2}"))),
                opt(c
                    .p_value
                    .map(|p| format!("{p:.4}{}", if p < alpha { " *" } else { "" }))),
                opt(c.runs_per_dollar.map(|r| format!("{r:.3e}"))),
                opt(c.cost_ratio.map(|r| format!("{r:.2}"))),
            ]);
        }
    }
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
        for line in &lines {
            let _ = writeln!(out, "| {} |", line.join(" | "));
        }
    } else {
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .chain([header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let pad = |cells: Vec<String>| -> String {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let _ = writeln!(
            out,
            "{}",
            pad(header.iter().map(|h| h.to_string()).collect())
        );
        for line in &lines {
            let _ = writeln!(out, "{}", pad(line.to_vec()));
        }
    }
    let _ = writeln!(
        out,
        "\nmedian ± MAD: criterion's estimates per iteration. CV: of criterion's per-sample means. p99 run and off-CPU: from\n\
         dynoprobe's sidecar (per-run spans), where the bench wrote one. ratio: median / the first baseline's. p: two-sided\n\
         Mann–Whitney U on per-sample means against the first baseline; * = below --alpha {alpha}. runs/$: runs in a month of\n\
         730 h at --price; cost: this baseline's cost per run / the first's (above 1 = dearer)."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_or_say_the_form() {
        let p = parse_prices(&["std-1x=25".into(), "perf-m=$250.5".into()]).unwrap();
        assert_eq!(p["perf-m"], 250.5);
        for bad in ["std-1x", "=25", "x=cheap", "x=-3", "x=0"] {
            let error = format!("{:#}", parse_prices(&[bad.into()]).unwrap_err());
            assert!(error.contains("NAME=USD_PER_MONTH"), "{bad}: {error}");
        }
    }
}
