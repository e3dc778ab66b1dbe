//! The code's shape, checked from its text: no two modules import each other, round about
//! or directly (ARCHITECTURE.md's layers), and no function outside tests runs over
//! `MAX_FUNCTION_LINES`. `scripts/architecture` prints both reports.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// STYLE.md: a function a reader takes in at a glance.
const MAX_FUNCTION_LINES: usize = 60;

/// One source file: its crate (`lib` or `bin`), module path and code with tests cut out.
struct Module {
    krate: &'static str,
    path: Vec<String>,
    file: PathBuf,
    lines: Vec<String>,
}

fn modules() -> Vec<Module> {
    let mut files = Vec::new();
    walk(Path::new("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix("src").unwrap_or(&file);
            let mut path: Vec<String> = relative
                .with_extension("")
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if matches!(path.as_slice(), [one] if one == "lib" || one == "main") {
                path.clear();
            }
            if path.last().is_some_and(|last| last == "mod") {
                path.pop();
            }
            let binary = relative.starts_with("cli") || relative == Path::new("main.rs");
            let text = fs::read_to_string(&file).unwrap_or_default();
            Module {
                krate: if binary { "bin" } else { "lib" },
                path,
                lines: code_lines(&text),
                file,
            }
        })
        .collect()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The file's lines with comments blanked and `#[cfg(test)] mod …` blocks cut (kept as
/// empty lines, so line numbers hold).
fn code_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(strip_comment).collect();
    let mut at = 0;
    while at + 1 < lines.len() {
        let next = lines[at + 1].trim_start();
        if lines[at].trim() == "#[cfg(test)]" && next.contains("mod ") && next.ends_with('{') {
            let indent = indent(&lines[at + 1]);
            let end = (at + 2..lines.len())
                .find(|&i| lines[i].trim_end() == format!("{}}}", " ".repeat(indent)))
                .unwrap_or(lines.len() - 1);
            lines[at..=end].iter_mut().for_each(String::clear);
            at = end;
        }
        at += 1;
    }
    lines
}

/// `line` without a `//` comment (one outside a string literal).
fn strip_comment(line: &str) -> String {
    let mut in_string = false;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' if previous != '\\' => in_string = !in_string,
            '/' if !in_string && line[i + 1..].starts_with('/') => return line[..i].to_owned(),
            _ => {}
        }
        previous = c;
    }
    line.to_owned()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Every path a `use` names, its tree expanded: `use a::{b, c::d as e}` gives `a::b` and
/// `a::c::d`; each with the line it starts on.
fn use_paths(module: &Module) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < module.lines.len() {
        let line = module.lines[at].trim_start();
        let body = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|start| line.strip_prefix(start));
        if let Some(body) = body {
            let mut statement = body.to_owned();
            let start = at;
            while !statement.contains(';') && at + 1 < module.lines.len() {
                at += 1;
                statement.push_str(&module.lines[at]);
            }
            let tree: String = statement
                .split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            for path in expand(&tree) {
                found.push((start + 1, path));
            }
        }
        at += 1;
    }
    found
}

/// The leaves of a use tree, as paths (an `as` alias dropped, `self` folded into its parent).
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let leaf = tree.split(" as ").next().unwrap_or("");
        let mut path: Vec<String> = leaf.split("::").map(|s| s.trim().to_owned()).collect();
        if path.len() > 1
            && path
                .last()
                .is_some_and(|last| last == "self" || last == "*")
        {
            path.pop();
        }
        return vec![path];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut leaves = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let item = inner[from..i.min(inner.len())].trim();
                if !item.is_empty() {
                    let joined = if prefix.is_empty() {
                        item.to_owned()
                    } else {
                        format!("{prefix}::{item}")
                    };
                    leaves.extend(expand(&joined));
                }
                from = i + 1;
            }
            _ => {}
        }
    }
    leaves
}

/// Paths written in code rather than in a `use`: `crate::a::b` and `super::a`.
fn inline_paths(module: &Module) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (i, line) in module.lines.iter().enumerate() {
        if line.trim_start().starts_with("use ") || line.contains(" use ") {
            continue;
        }
        for start in ["crate::", "super::"] {
            let mut rest = line.as_str();
            while let Some(at) = rest.find(start) {
                let before = rest[..at].chars().last();
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(tail.len());
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    let path = tail[..end].split("::").filter(|s| !s.is_empty());
                    found.push((i + 1, path.map(str::to_owned).collect()));
                }
                rest = &tail[end.max(1)..];
            }
        }
    }
    found
}

/// A module's key in the graph.
type Key = (&'static str, Vec<String>);

struct Graph {
    known: BTreeSet<Key>,
    /// The library root's re-exports: name → the path it names.
    root_names: BTreeMap<String, Vec<String>>,
}

impl Graph {
    fn new(modules: &[Module]) -> Graph {
        let known = modules.iter().map(|m| (m.krate, m.path.clone())).collect();
        let mut root_names = BTreeMap::new();
        if let Some(lib) = modules
            .iter()
            .find(|m| m.krate == "lib" && m.path.is_empty())
        {
            let raw: Vec<String> = fs::read_to_string(&lib.file)
                .unwrap_or_default()
                .lines()
                .map(strip_comment)
                .collect();
            let mut line = 0;
            while line < raw.len() {
                if let Some(body) = raw[line].strip_prefix("pub use ") {
                    let mut statement = body.to_owned();
                    while !statement.contains(';') && line + 1 < raw.len() {
                        line += 1;
                        statement.push_str(&raw[line]);
                    }
                    let tree = statement.split(';').next().unwrap_or("").to_owned();
                    for (path, name) in expand(&tree).into_iter().zip(aliases(&tree)) {
                        root_names.insert(name, path);
                    }
                }
                line += 1;
            }
        }
        Graph { known, root_names }
    }

    /// The module `path`, written in `from`, lands in: the longest known module it starts
    /// with. `None` for other crates and the standard library.
    fn resolve(&self, from: &Module, path: &[String]) -> Option<Key> {
        let (mut base, rest): (Vec<String>, &[String]) = match path.first()?.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (from.path.clone(), &path[1..]),
            "super" => {
                let supers = path.iter().take_while(|s| *s == "super").count();
                let mut base = from.path.clone();
                base.truncate(base.len().saturating_sub(supers));
                (base, &path[supers..])
            }
            first => {
                let mut child = from.path.clone();
                child.push(first.to_owned());
                if !self.known.contains(&(from.krate, child)) {
                    return None;
                }
                (from.path.clone(), path)
            }
        };
        let first_is_module =
            |name: &String| self.known.contains(&(from.krate, vec![name.clone()]));
        let aliased = (base.is_empty() && from.krate == "lib")
            .then(|| rest.first().filter(|name| !first_is_module(name)))
            .flatten()
            .and_then(|name| self.root_names.get(name));
        if let Some(target) = aliased {
            return self.resolve(from, &[&["crate".to_owned()][..], target].concat());
        }
        for segment in rest {
            let mut deeper = base.clone();
            deeper.push(segment.clone());
            if !self.known.contains(&(from.krate, deeper.clone())) {
                break;
            }
            base = deeper;
        }
        Some((from.krate, base))
    }

    /// Each import between two modules, with where it is written. A module using itself,
    /// its own children (its `mod` lines and re-exports) or a crate root is not counted.
    fn edges(&self, modules: &[Module]) -> BTreeMap<(Key, Key), String> {
        let mut edges = BTreeMap::new();
        for module in modules {
            let from: Key = (module.krate, module.path.clone());
            for (line, path) in use_paths(module).into_iter().chain(inline_paths(module)) {
                let Some(to) = self.resolve(module, &path) else {
                    continue;
                };
                if to.1.is_empty() || to.1.starts_with(&from.1) {
                    continue;
                }
                let place = format!("{}:{line}", module.file.display());
                edges.entry((from.clone(), to)).or_insert(place);
            }
        }
        edges
    }
}

/// The names a root `pub use` tree binds, in `expand`'s order.
fn aliases(tree: &str) -> Vec<String> {
    let mut names = Vec::new();
    let inner = tree.find('{').map_or(tree, |open| &tree[open + 1..]);
    for item in inner.split([',', '{', '}']) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let name = item.rsplit(" as ").next().unwrap_or(item);
        names.push(name.rsplit("::").next().unwrap_or(name).trim().to_owned());
    }
    names
}

fn name(key: &Key) -> String {
    format!("{}::{}", key.0, key.1.join("::"))
}

/// Groups of modules that reach each other through imports, each with the imports inside it.
fn circles() -> Vec<String> {
    let modules = modules();
    let graph = Graph::new(&modules);
    let edges = graph.edges(&modules);
    let reach = |from: &Key| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(at) = todo.pop() {
            for (a, b) in edges.keys() {
                if *a == at && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<Key, BTreeSet<Key>> =
        graph.known.iter().map(|k| (k.clone(), reach(k))).collect();
    let mut reported = BTreeSet::new();
    let mut found = Vec::new();
    for (key, reached) in &reaches {
        if !reached.contains(key) || reported.contains(key) {
            continue;
        }
        let group: BTreeSet<Key> = reached
            .iter()
            .filter(|other| reaches[*other].contains(key))
            .cloned()
            .collect();
        reported.extend(group.iter().cloned());
        let inside: Vec<String> = edges
            .iter()
            .filter(|((a, b), _)| group.contains(a) && group.contains(b))
            .map(|((a, b), place)| format!("  {} → {} ({place})", name(a), name(b)))
            .collect();
        found.push(inside.join("\n"));
    }
    found
}

/// Functions outside tests longer than `MAX_FUNCTION_LINES`, as `file:line name (n lines)`.
fn long_functions() -> Vec<(String, usize)> {
    let mut long = Vec::new();
    for module in modules() {
        let lines = &module.lines;
        for (at, line) in lines.iter().enumerate() {
            let Some(name) = function_name(line) else {
                continue;
            };
            let Some(open) = (at..lines.len()).find(|&i| {
                let l = lines[i].trim_end();
                l.ends_with('{') || l.ends_with(';')
            }) else {
                continue;
            };
            if lines[open].trim_end().ends_with(';') {
                continue; // a declaration without a body
            }
            let close = format!("{}}}", " ".repeat(indent(line)));
            let Some(end) = (open..lines.len()).find(|&i| lines[i].trim_end() == close) else {
                continue;
            };
            let length = end - at + 1;
            if length > MAX_FUNCTION_LINES {
                long.push((
                    format!("{}:{} {name}", module.file.display(), at + 1),
                    length,
                ));
            }
        }
    }
    long
}

/// The name of the function `line` starts, if it starts one.
fn function_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for qualifier in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}

#[test]
fn no_two_modules_import_each_other() {
    let circles = circles();
    for circle in &circles {
        println!("import circle:\n{circle}");
    }
    println!("import circles: {}", circles.len());
    assert!(circles.is_empty(), "{} import circles", circles.len());
}

#[test]
fn no_function_outside_tests_is_longer_than_a_screen() {
    let long = long_functions();
    for (place, length) in &long {
        println!("{length:4} lines  {place}");
    }
    println!("functions over {MAX_FUNCTION_LINES} lines: {}", long.len());
    assert!(long.is_empty(), "split them: {long:?}");
}

#[test]
fn the_parser_reads_use_trees_and_comments() {
    let leaves = expand("super::{catalog::SIGNALS, cgroup::{self, CpuStat as Stat}, *}");
    let joined: Vec<String> = leaves.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "super::catalog::SIGNALS",
            "super::cgroup",
            "super::cgroup::CpuStat",
            "super"
        ]
    );
    assert_eq!(
        strip_comment(r#"let a = "http://x"; // note"#),
        r#"let a = "http://x"; "#
    );
    assert_eq!(
        function_name("    pub(crate) fn since(&self) {"),
        Some("since")
    );
    assert_eq!(function_name("let fn_name = 1;"), None);
}
