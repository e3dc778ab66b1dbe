//! `dynoprobe compare`: saved criterion baselines side by side, one line per benchmark and
//! baseline, with the ratio to the first baseline and whether the difference is significant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dynoprobe::baseline::{self, Baseline};
use dynoprobe::render;
use dynoprobe::report::compare::{ComparePlan, compare as comparison};
use dynoprobe::sidecar::criterion_home;
use regex_lite::Regex;

use super::parse;
use super::pictures::PictureArgs;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Baselines to compare (names under the target directory, or files written by --export),
    /// the first being the reference [default: every baseline found].
    #[arg(value_name = "BASELINE")]
    baselines_or_files: Vec<String>,
    /// The cargo target directory whose criterion/ holds the baselines [default: as criterion
    /// picks: $CRITERION_HOME, $CARGO_TARGET_DIR/criterion, or target/criterion].
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// List the baselines found, with their number of benchmarks.
    #[arg(long)]
    baselines: bool,
    /// List every benchmark of every baseline.
    #[arg(long)]
    list: bool,
    /// Only benchmarks whose id matches this regex.
    #[arg(short = 'f', long = "filter", value_name = "REGEX")]
    filter: Option<String>,
    /// Gather benchmarks into rows by this regex's capture groups (e.g. '(.*)/(?:dynoprobe|direct)').
    #[arg(short = 'g', long = "group", value_name = "REGEX")]
    group: Option<String>,
    /// Only rows where some baseline differs from the first by at least this many percent.
    #[arg(short = 't', long = "threshold", value_name = "PERCENT", value_parser = parse::parse_percent)]
    threshold: Option<f64>,
    /// Significance level of the Mann–Whitney U test.
    #[arg(long, default_value_t = 0.05, value_name = "ALPHA", value_parser = parse::parse_alpha)]
    alpha: f64,
    /// Price of an instance of a baseline's class, per month: NAME=USD (repeatable).
    #[arg(long, value_name = "NAME=USD", value_parser = parse::parse_price)]
    price: Vec<(String, f64)>,
    /// Print baseline NAME as JSON (redirect it to a file) that compare accepts back.
    #[arg(long, value_name = "NAME")]
    export: Option<String>,
    /// Print the table as Markdown.
    #[arg(long, conflicts_with = "json")]
    markdown: bool,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with status 1, naming the rows, when a baseline is at least PERCENT slower than
    /// the first and the U test says so (p below --alpha): for CI.
    #[arg(long, value_name = "PERCENT", value_parser = parse::parse_percent)]
    fail_if_slower: Option<f64>,
    #[command(flatten)]
    pictures: PictureArgs,
}

pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    args.pictures.check()?;
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
    let key = |id: &str| row_key(id, filter.as_ref(), group.as_ref());
    let result = comparison(&ComparePlan {
        baselines: &baselines,
        key: &key,
        grouped: group.is_some(),
        alpha: args.alpha,
        prices_usd_per_month: &args.price.iter().cloned().collect::<BTreeMap<_, _>>(),
        threshold_percent: args.threshold,
    });
    if result.rows.is_empty() {
        bail!("no benchmark to compare (check -f/-g, -t, and the baselines' contents)");
    }
    let table = render::compare::comparison(&result, args.markdown);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{table}");
    }
    args.pictures.write(
        "dynoprobe compare",
        &render::compare::headline(&result),
        &render::html::compare_charts(&result),
        &table,
    )?;
    if let Some(percent) = args.fail_if_slower {
        let slower = result.slower_than(percent);
        if !slower.is_empty() {
            bail!("{}", render::compare::slower(percent, &slower));
        }
    }
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

/// A benchmark's row: its id, or the concatenated capture groups of `group`; `None` when
/// `filter` or `group` leaves it out.
fn row_key(id: &str, filter: Option<&Regex>, group: Option<&Regex>) -> Option<String> {
    if filter.is_some_and(|f| !f.is_match(id)) {
        return None;
    }
    let Some(group) = group else {
        return Some(id.to_string());
    };
    let captures = group.captures(id)?;
    Some(
        captures
            .iter()
            .skip(1)
            .flatten()
            .map(|m| m.as_str())
            .collect(),
    )
}
