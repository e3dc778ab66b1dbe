//! `dynoprobe compare`: measurements side by side (criterion baselines, `run --json`
//! reports, `drive --json` results and JSONL of them, exported baselines), one line per
//! benchmark and column, with the ratio to the first column and whether the difference is
//! significant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dynoprobe::baseline::{self, Baseline};
use dynoprobe::render;
use dynoprobe::report::columns::{self, Column};
use dynoprobe::report::compare::{ComparePlan, TimePoint, compare as comparison};
use dynoprobe::sidecar::criterion_home;
use regex_lite::Regex;

use super::parse;
use super::pictures::PictureArgs;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// What to compare, the first being the reference: criterion baseline names (under the
    /// target directory), or files: run --json reports, drive --json results, JSONL of them
    /// (drive --every), baselines saved with --export. A file's column is named after the
    /// file (an export keeps its own name); NAME=FILE names it [default: every baseline
    /// found].
    #[arg(value_name = "BASELINE|FILE|NAME=FILE")]
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
    /// Price of an instance of a column's class, per month: NAME=USD (repeatable).
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
    let columns = load(&args)?;
    let baselines: Vec<Baseline> = columns.iter().map(|c| c.baseline.clone()).collect();
    let over_time: Vec<(String, Vec<TimePoint>)> = columns
        .into_iter()
        .filter(|c| !c.over_time.is_empty())
        .map(|c| (c.baseline.name, c.over_time))
        .collect();
    if args.baselines {
        for b in &baselines {
            outln!("{}\t{} benchmarks", b.name, b.benchmarks.len())?;
        }
        return Ok(());
    }
    if args.list {
        for b in &baselines {
            for bench in &b.benchmarks {
                outln!("{}\t{}", b.name, bench.id)?;
            }
        }
        return Ok(());
    }
    if let Some(name) = &args.export {
        let baseline = baselines
            .iter()
            .find(|b| &b.name == name)
            .with_context(|| format!("no baseline named '{name}'; found: {}", names(&baselines)))?;
        outln!("{}", serde_json::to_string_pretty(baseline)?)?;
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
        over_time: &over_time,
    });
    if result.rows.is_empty() {
        bail!("no benchmark to compare (check -f/-g, -t, and the baselines' contents)");
    }
    let table = render::compare::comparison(&result, args.markdown);
    super::print(args.json, &result, &table)?;
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

/// The columns named on the command line, in that order (files, or baseline names in the
/// target directory); every baseline in the directory when none is named. Parts of files
/// that cannot be compared are named in a warning each; different payloads are refused.
fn load(args: &CompareArgs) -> anyhow::Result<Vec<Column>> {
    let files: Vec<Option<(Option<&str>, &Path)>> =
        args.baselines_or_files.iter().map(|a| as_file(a)).collect();
    let mut found = BTreeMap::new();
    if files.iter().any(Option::is_none) || files.is_empty() {
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
    let criterion = |name: String, benchmarks| Column {
        baseline: Baseline { name, benchmarks },
        fixtures: Vec::new(),
        over_time: Vec::new(),
    };
    let mut chosen: Vec<Column> = Vec::new();
    for (arg, file) in args.baselines_or_files.iter().zip(&files) {
        if let Some((name, path)) = file {
            let read = columns::read(*name, path)?;
            for warning in &read.warnings {
                eprintln!("dynoprobe: warning: {warning}");
            }
            chosen.extend(read.column);
            continue;
        }
        let benchmarks = found.get(arg.as_str()).cloned().with_context(|| {
            format!(
                "no baseline named '{arg}' and no such file; baselines found: {}",
                found.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        chosen.push(criterion(arg.clone(), benchmarks));
    }
    if args.baselines_or_files.is_empty() {
        chosen = found
            .into_iter()
            .map(|(name, benchmarks)| criterion(name, benchmarks))
            .collect();
    }
    if chosen.is_empty() {
        bail!("nothing to compare: every file was left out (see the warnings)");
    }
    for (i, column) in chosen.iter().enumerate() {
        let name = &column.baseline.name;
        if chosen[..i].iter().any(|c| &c.baseline.name == name) {
            bail!("two columns are named '{name}'; name them with NAME=FILE");
        }
    }
    columns::check_payloads(&chosen).map_err(anyhow::Error::msg)?;
    Ok(chosen)
}

/// `NAME=FILE` or `FILE` when that file exists; `None` for a baseline name.
fn as_file(arg: &str) -> Option<(Option<&str>, &Path)> {
    if let Some((name, path)) = arg.split_once('=')
        && !name.is_empty()
        && Path::new(path).is_file()
    {
        return Some((Some(name), Path::new(path)));
    }
    Path::new(arg).is_file().then(|| (None, Path::new(arg)))
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
