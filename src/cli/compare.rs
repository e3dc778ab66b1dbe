//! `dynoprobe compare`: measurements side by side (criterion baselines, `run` reports, `drive`
//! results, exported baselines), a line per benchmark and column, with the ratio to the first
//! column and whether the difference is significant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dynoprobe::baseline::{self, Baseline, Benchmark, Exported};
use dynoprobe::render;
use dynoprobe::report::columns::{self, Column};
use dynoprobe::report::compare::{ComparePlan, Comparison, compare as comparison};
use dynoprobe::sidecar::criterion_home;
use regex_lite::Regex;

use super::parse;
use super::pictures::PictureArgs;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// What to compare, the first being the reference: criterion baseline names (under the
    /// target directory), or files: run --json reports, drive --json results, JSONL of them
    /// (drive --every), baselines saved with --export. A file's column is named after the
    /// file (an export keeps its own name); NAME=FILE names it. A column of several
    /// replicates: NAME=A,B,C (files or baselines) or NAME='std1x-*.json' (quoted: dynoprobe
    /// matches `*` and `?` in the file name). A run report is one replicate (its processes'
    /// geometric mean): their minute on the host is shared [default: every baseline found,
    /// one column each].
    #[arg(value_name = "BASELINE|FILE|NAME=SOURCE,...")]
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
    /// 1 − the confidence of the ratio's interval (0.05: a 95% interval). A cell is
    /// significant when its interval excludes 1.
    #[arg(long, default_value_t = 0.05, value_name = "ALPHA", value_parser = parse::parse_alpha)]
    alpha: f64,
    /// Differences smaller than PERCENT do not matter: a cell is significant only when its
    /// interval lies wholly outside 1 ± PERCENT.
    #[arg(long, default_value_t = 0.0, value_name = "PERCENT", value_parser = parse::parse_percent)]
    min_effect: f64,
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
    /// the first over the whole of its interval (so with the interval's confidence; a column
    /// of one replicate has no interval and never fails): for CI.
    #[arg(long, value_name = "PERCENT", value_parser = parse::parse_percent)]
    fail_if_slower: Option<f64>,
    #[command(flatten)]
    pictures: PictureArgs,
}

pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    args.pictures.check()?;
    let (columns, left_out) = load(&args)?;
    let (baselines, over_time) = columns::split(columns);
    if listed(&args, &baselines)? {
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
        min_effect: args.min_effect / 100.0,
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
    match args.fail_if_slower {
        Some(percent) => gate(percent, &result, left_out),
        None => Ok(()),
    }
}

/// `--fail-if-slower`: an error naming what got slower than `percent`, or, since a gate
/// does not pass on what it could not read, that inputs were left out.
fn gate(percent: f64, result: &Comparison, left_out: usize) -> anyhow::Result<()> {
    let slower = result.slower_than(percent);
    if !slower.is_empty() {
        bail!("{}", render::compare::slower(percent, &slower));
    }
    if left_out > 0 {
        bail!(
            "--fail-if-slower: {left_out} inputs or rows were left out (see the warnings), \
             so the gate cannot say nothing got slower"
        );
    }
    Ok(())
}

/// `--baselines`, `--list` and `--export`, which print what was found instead of comparing
/// it; whether one of them was asked for.
fn listed(args: &CompareArgs, baselines: &[Baseline]) -> anyhow::Result<bool> {
    if args.baselines {
        for b in baselines {
            outln!("{}\t{} benchmarks", b.name, b.benchmarks.len())?;
        }
    } else if args.list {
        for b in baselines {
            for bench in &b.benchmarks {
                outln!("{}\t{}", b.name, bench.id)?;
            }
        }
    } else if let Some(name) = &args.export {
        let baseline = (baselines.iter())
            .find(|b| &b.name == name)
            .with_context(|| format!("no baseline named '{name}'; found: {}", names(baselines)))?;
        outln!("{}", serde_json::to_string_pretty(&Exported::of(baseline))?)?;
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// The columns named on the command line, in that order (files, or baseline names in the
/// target directory, one or several a column); every baseline in the directory when none is
/// named. Parts of files that cannot be compared are named in a warning each, and counted
/// (the second value); different payloads are refused.
fn load(args: &CompareArgs) -> anyhow::Result<(Vec<Column>, usize)> {
    let wanted: Vec<ColumnArg> = (args.baselines_or_files.iter())
        .map(|a| ColumnArg::parse(a))
        .collect::<anyhow::Result<_>>()?;
    let needs_baselines = (wanted.iter().flat_map(|c| &c.sources))
        .any(|s| matches!(s, Source::Baseline(_) | Source::Baselines(_)));
    let found = if needs_baselines || wanted.is_empty() {
        read_baselines(args)?
    } else {
        baseline::Found::default()
    };
    let mut loader = Loader {
        found: &found.baselines,
        left_out: 0,
        compared: Vec::new(),
    };
    let mut chosen = Vec::new();
    for column in &wanted {
        chosen.extend(loader.column(column)?);
    }
    // The criterion directory's rows left out count where they belong to a baseline
    // compared, or could.
    let counted = |s: &&baseline::Skipped| {
        (s.baseline.as_deref()).is_none_or(|b| wanted.is_empty() || loader.compared.contains(&b))
    };
    let left_out = loader.left_out + found.warnings.iter().filter(counted).count();
    if wanted.is_empty() {
        chosen = (found.baselines.into_iter())
            .map(|(name, benchmarks)| criterion_column(name, benchmarks))
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
    Ok((chosen, left_out))
}

/// The criterion directory's baselines, each part it could not read said in a warning.
fn read_baselines(args: &CompareArgs) -> anyhow::Result<baseline::Found> {
    let dir = (args.target_dir.clone()).map_or_else(criterion_home, |d| d.join("criterion"));
    let found = baseline::read_dir(&dir)?;
    for skipped in &found.warnings {
        eprintln!("dynoprobe: warning: skipped {}", skipped.why);
    }
    Ok(found)
}

fn criterion_column(name: String, benchmarks: Vec<Benchmark>) -> Column {
    Column {
        baseline: Baseline { name, benchmarks },
        fixtures: Vec::new(),
        over_time: Vec::new(),
    }
}

/// Refuses a source a column named before: each source is one replicate.
fn once(seen: &mut Vec<String>, column: &ColumnArg, source: String) -> anyhow::Result<()> {
    if seen.contains(&source) {
        let column = column.name.unwrap_or("(unnamed)");
        bail!(
            "column {column}: {source} is named twice; each source is one replicate, counted once"
        );
    }
    seen.push(source);
    Ok(())
}

/// Reads the columns named on the command line, counting what it leaves out.
struct Loader<'a> {
    found: &'a BTreeMap<String, Vec<Benchmark>>,
    /// Inputs and rows left out, each said in a warning.
    left_out: usize,
    /// The baselines a column named.
    compared: Vec<&'a str>,
}

impl<'a> Loader<'a> {
    /// One column: its sources read, several merged under its name; `None` when every
    /// source was left out.
    fn column(&mut self, column: &ColumnArg<'a>) -> anyhow::Result<Option<Column>> {
        let mut sources = self.sources(column)?;
        Ok(match (sources.len(), column.name) {
            (0, _) => None,
            (1, name) => sources.pop().map(|(_, mut c)| {
                // `NAME=BASELINE` names the column, as `NAME=FILE` does.
                if let Some(name) = name {
                    c.baseline.name = name.to_string();
                }
                c
            }),
            (_, Some(name)) => Some(columns::merge(name, sources).map_err(anyhow::Error::msg)?),
            (_, None) => {
                let shown: Vec<String> = column.sources.iter().map(Source::shown).collect();
                bail!(
                    "a column of several sources needs a name: NAME={}",
                    shown.join(",")
                )
            }
        })
    }

    /// Each source of `column` read, with the name a merge reports it by. A source named
    /// twice (a file and a pattern that matches it, say) would count one replicate twice,
    /// and the interval would claim noise it never saw: it is refused.
    fn sources(&mut self, column: &ColumnArg<'a>) -> anyhow::Result<Vec<(String, Column)>> {
        let (mut sources, mut seen) = (Vec::new(), Vec::new());
        let found = self.found;
        let known = || found.keys().cloned().collect::<Vec<_>>().join(", ");
        for source in &column.sources {
            let matching: Vec<_> = match source {
                Source::File(path) => {
                    let real = path.canonicalize().unwrap_or_else(|_| path.clone());
                    once(&mut seen, column, real.display().to_string())?;
                    let file = columns::read(column.name, path)?;
                    for warning in &file.warnings {
                        eprintln!("dynoprobe: warning: {warning}");
                    }
                    self.left_out += file.warnings.len();
                    sources.extend(file.column.map(|c| (path.display().to_string(), c)));
                    continue;
                }
                Source::Baseline(name) => {
                    vec![found.get_key_value(name.as_str()).with_context(|| {
                        format!(
                            "no baseline named '{name}' and no such file; baselines found: {}",
                            known()
                        )
                    })?]
                }
                Source::Baselines(pattern) => {
                    let matching: Vec<_> = found
                        .iter()
                        .filter(|(name, _)| wildcard(pattern, name))
                        .collect();
                    if matching.is_empty() {
                        bail!(
                            "no file and no baseline matches '{pattern}'; baselines found: {}",
                            known()
                        );
                    }
                    matching
                }
            };
            for (name, benchmarks) in matching {
                let shown = format!("baseline {name}");
                once(&mut seen, column, shown.clone())?;
                self.compared.push(name);
                sources.push((shown, criterion_column(name.clone(), benchmarks.clone())));
            }
        }
        Ok(sources)
    }
}

/// One column as the command line names it: `NAME=SOURCES` or `SOURCES`, the sources
/// separated by commas.
struct ColumnArg<'a> {
    name: Option<&'a str>,
    sources: Vec<Source>,
}

/// Where a column's replicate comes from.
enum Source {
    File(PathBuf),
    /// A criterion baseline in the target directory.
    Baseline(String),
    /// The baselines whose names match this pattern (no file did).
    Baselines(String),
}

impl Source {
    fn shown(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Baseline(name) | Source::Baselines(name) => name.clone(),
        }
    }
}

impl<'a> ColumnArg<'a> {
    /// Each source is a file, a pattern of files (`*` and `?` in the file name, matched here:
    /// the shell does not expand a pattern after `NAME=`), or else a baseline name. A whole
    /// argument that is a file is that file, `=` or not.
    fn parse(arg: &'a str) -> anyhow::Result<ColumnArg<'a>> {
        if Path::new(arg).is_file() {
            return Ok(ColumnArg {
                name: None,
                sources: vec![Source::File(arg.into())],
            });
        }
        let (name, list) = match arg.split_once('=') {
            Some((name, list)) if !name.is_empty() => (Some(name), list),
            _ => (None, arg),
        };
        let mut sources = Vec::new();
        for item in list.split(',').filter(|i| !i.is_empty()) {
            if item.contains(['*', '?']) {
                let files = expand(item)?;
                if files.is_empty() {
                    sources.push(Source::Baselines(item.to_string()));
                }
                sources.extend(files.into_iter().map(Source::File));
            } else if Path::new(item).is_file() {
                sources.push(Source::File(item.into()));
            } else if looks_like_a_file(item) {
                // Not a baseline's name: a misspelled file must not send the user to run
                // `cargo bench`.
                match std::fs::metadata(item) {
                    Ok(_) => bail!("{item}: not a file"),
                    Err(e) => bail!("{item}: {e}"),
                }
            } else {
                sources.push(Source::Baseline(item.to_string()));
            }
        }
        if sources.is_empty() {
            bail!("'{arg}' names no file or baseline");
        }
        Ok(ColumnArg { name, sources })
    }
}

/// A name with a directory or a JSON extension is a file's, never a criterion baseline's
/// (cargo bench --save-baseline names hold neither, by custom).
fn looks_like_a_file(item: &str) -> bool {
    item.contains('/') || item.ends_with(".json") || item.ends_with(".jsonl")
}

/// The files whose names match `pattern`'s last component (`*`: any run of characters, `?`:
/// one), in its directory, sorted.
fn expand(pattern: &str) -> anyhow::Result<Vec<PathBuf>> {
    let path = Path::new(pattern);
    // A bare pattern's files are named as it is, without `./`.
    let parent = path.parent().unwrap_or(Path::new(""));
    let dir = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    if parent.to_string_lossy().contains(['*', '?']) {
        bail!("'{pattern}': only the file name may hold * or ?");
    }
    let wanted = path.file_name().unwrap_or_default().to_string_lossy();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| wildcard(&wanted, &e.file_name().to_string_lossy()))
        .map(|e| parent.join(e.file_name()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters and `?` one.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // The classic two-pointer match with backtracking to the last star.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            (i, j) = (i + 1, j + 1);
        } else if i < p.len() && p[i] == '*' {
            (star, mark, i) = (Some(i), j, i + 1);
        } else if let Some(s) = star {
            (i, mark, j) = (s + 1, mark + 1, mark + 1);
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        assert!(wildcard("std1x-*", "std1x-1"));
        assert!(wildcard("std1x-*.json", "std1x-12.json"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a?c", "abc"));
        assert!(wildcard("*b*b", "abcbb"));
        assert!(!wildcard("std1x-*.json", "std1x-1.jsonl"));
        assert!(!wildcard("a?c", "ac"));
        assert!(!wildcard("perf*", "std1x"));
    }

    #[test]
    fn a_column_argument_lists_files_patterns_and_baselines() {
        let dir = std::env::temp_dir().join(format!("dynoprobe-columns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["r-1.json", "r-2.json", "other.json"] {
            std::fs::write(dir.join(name), "{}").unwrap();
        }
        let pattern = format!("std={}/r-*.json", dir.display());
        let column = ColumnArg::parse(&pattern).unwrap();
        assert_eq!(column.name, Some("std"));
        let shown: Vec<String> = column.sources.iter().map(Source::shown).collect();
        assert_eq!(
            shown,
            [dir.join("r-1.json"), dir.join("r-2.json")].map(|p| p.display().to_string())
        );
        let other = dir.join("other.json").display().to_string();
        let mixed = format!("m={other},base-1");
        let column = ColumnArg::parse(&mixed).unwrap();
        assert!(
            matches!(&column.sources[..], [Source::File(_), Source::Baseline(b)] if b == "base-1")
        );
        let baselines = ColumnArg::parse("perf=perf-*").unwrap();
        assert!(matches!(&baselines.sources[..], [Source::Baselines(p)] if p == "perf-*"));
        assert!(ColumnArg::parse("x=").is_err(), "names nothing");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
