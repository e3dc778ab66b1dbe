//! `monitoring/`: the alert rules pass their promtool unit tests, and the rules and the
//! Grafana dashboard query only metrics dynoprobe exports, over `$__rate_interval` in the
//! dashboard. promtool comes with the `prometheus` package (`.ci/run` installs it, and CI
//! sets `DYNOPROBE_PROMTOOL=require`); without it the promtool checks skip, saying so.
#![cfg(all(feature = "metrics", feature = "tower"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use dynoprobe::queue_time::layer::{
    REQUEST_QUEUE_INVALID_TOTAL, REQUEST_QUEUE_SECONDS, REQUEST_QUEUE_SKEWED_TOTAL,
};
use serde_json::Value;

fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("monitoring")
        .join(file)
}

/// Every metric name dynoprobe exports, with a histogram's `_bucket`, `_sum` and `_count`.
fn exported() -> Vec<String> {
    let mut names: Vec<String> = dynoprobe::probe::metrics::names()
        .into_iter()
        .chain([
            REQUEST_QUEUE_SECONDS,
            REQUEST_QUEUE_SKEWED_TOTAL,
            REQUEST_QUEUE_INVALID_TOTAL,
        ])
        .map(String::from)
        .collect();
    let histograms: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with("_seconds") && !n.ends_with("_total"))
        .cloned()
        .collect();
    for h in histograms {
        names.extend(["_bucket", "_sum", "_count"].map(|s| format!("{h}{s}")));
    }
    names
}

/// The `dynoprobe_…` metric names `text` uses; a recorded series (`instance:dynoprobe_…`) is
/// not one.
fn metrics_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(i) = text[at..].find("dynoprobe_") {
        let start = at + i;
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |e| start + e);
        let recorded = start > 0 && bytes[start - 1] == b':';
        if !recorded {
            found.push(text[start..end].to_string());
        }
        at = end;
    }
    found
}

/// promtool, or `None` with a printed reason (a failure when CI requires it).
fn promtool() -> Option<Command> {
    if Command::new("promtool").arg("--version").output().is_ok() {
        return Some(Command::new("promtool"));
    }
    let required = std::env::var("DYNOPROBE_PROMTOOL").is_ok_and(|v| v == "require");
    assert!(
        !required,
        "DYNOPROBE_PROMTOOL=require and promtool is not installed"
    );
    eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
    None
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(monitoring("grafana-dashboard.json")).unwrap();
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

fn dashboard_exprs() -> Vec<(String, String)> {
    let dash = dashboard();
    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap().to_string();
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push((title.clone(), target["expr"].as_str().unwrap().to_string()));
        }
    }
    exprs
}

#[test]
fn the_rules_and_the_dashboard_query_only_exported_metrics() {
    let exported = exported();
    let rules = std::fs::read_to_string(monitoring("dynoprobe.rules.yml")).unwrap();
    let mut used = metrics_in(&rules);
    for (_, expr) in dashboard_exprs() {
        used.extend(metrics_in(&expr));
    }
    assert!(used.len() > 10, "{used:?}");
    for name in &used {
        assert!(
            exported.contains(name),
            "{name} is not exported: {exported:?}"
        );
    }
    // The gauge an idle process made misleading is gone from both.
    assert!(!rules.contains("dynoprobe_runqueue_wait_ratio"));
}

#[test]
fn the_dashboard_has_the_panels_and_uses_the_rate_interval() {
    let dash = dashboard();
    let panels = dash["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "stolen",
        "throttled",
        "Run-queue wait",
        "ledger",
        "queue time",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no panel about {wanted}: {titles:?}"
        );
    }
    let heatmap = panels
        .iter()
        .find(|p| p["type"] == "heatmap")
        .expect("a heatmap");
    assert_eq!(heatmap["targets"][0]["format"], "heatmap");
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert!(
            panel["description"].as_str().is_some_and(|d| d.len() > 40),
            "{title}: a panel says how to read it"
        );
    }
    for (title, expr) in dashboard_exprs() {
        assert!(expr.contains("$__rate_interval"), "{title}: {expr}");
        assert!(!expr.contains("[5m]"), "{title}: a fixed window: {expr}");
        assert!(expr.contains("instance=~\"$instance\""), "{title}: {expr}");
    }
    let variables: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "instance"]);
}

/// Each dashboard query is valid PromQL: promtool checks them as recording rules, with
/// Grafana's variables replaced by values.
#[test]
fn the_dashboard_queries_parse_as_promql() {
    let Some(mut promtool) = promtool() else {
        return;
    };
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in dashboard_exprs().iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let file = std::env::temp_dir().join(format!("dynoprobe-dash-{}.yml", std::process::id()));
    std::fs::write(&file, rules).unwrap();
    let out = promtool
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alerts_pass_their_promtool_unit_tests() {
    let Some(mut promtool) = promtool() else {
        return;
    };
    let out = promtool
        .args(["test", "rules", "dynoprobe.tests.yml"])
        .current_dir(monitoring(""))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("SUCCESS"), "{said}");
    eprintln!("{said}");
}
