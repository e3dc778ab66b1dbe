//! `monitoring/`: the alert rules pass their promtool unit tests, and the rules and the
//! Grafana dashboard query only metrics dynoprobe exports, over `$__rate_interval` in the
//! dashboard. promtool comes with the `prometheus` package (`.ci/run` installs it, and CI
//! sets `DYNOPROBE_PROMTOOL=require`); without it the promtool checks skip, saying so.
#![cfg(all(feature = "metrics", feature = "tower"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("monitoring")
        .join(file)
}

/// Every metric name dynoprobe exports, with a histogram's `_bucket`, `_sum` and `_count`.
fn exported() -> Vec<String> {
    let mut names: Vec<String> = dynoprobe::metric_names::all()
        .into_iter()
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

/// The library path, as a service embeds it (`dynoprobe::prometheus::install` and the
/// queue-time layer): its scrape passes `promtool check metrics`, has the histograms' buckets
/// the rules and the dashboard query, publishes the quota's series only where a quota period
/// elapsed, and, fed to Prometheus as series, gives the recording rules data.
#[cfg(feature = "prometheus")]
#[test]
fn a_scrape_of_the_library_path_feeds_the_rules_and_the_dashboard() {
    use dynoprobe::QueueTimeLayer;
    use tower::{Layer, ServiceExt, service_fn};

    let metrics = dynoprobe::prometheus::Builder::default()
        .instance(Some("web.test".into()))
        .interval(std::time::Duration::from_millis(100))
        .install()
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    for waited_ms in (0..200).step_by(10) {
        let service = QueueTimeLayer::new().layer(service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
        let request = http::Request::builder()
            .header("x-request-start", format!("t={}", now_ms - waited_ms))
            .body(())
            .unwrap();
        let answered = std::pin::pin!(service.oneshot(request))
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        assert!(answered.is_ready());
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let scrape = metrics.render();

    assert!(
        scrape.contains("# TYPE dynoprobe_request_queue_seconds histogram"),
        "{scrape}"
    );
    for series in [
        "dynoprobe_request_queue_seconds_bucket{instance=\"web.test\",le=\"0.25\"} 20",
        "dynoprobe_request_queue_seconds_count{instance=\"web.test\"} 20",
        "dynoprobe_cpu_steal_ratio{instance=\"web.test\"} ",
        "dynoprobe_cpu_steal_seconds_total{instance=\"web.test\"} ",
        "dynoprobe_runqueue_wait_seconds_total{instance=\"web.test\"} ",
    ] {
        assert!(scrape.contains(series), "no {series} in\n{scrape}");
    }
    let quota_period_elapsed = metrics.probe().latest().totals.periods.is_some();
    for name in [
        "dynoprobe_cgroup_periods_total",
        "dynoprobe_cgroup_throttled_ratio",
    ] {
        assert_eq!(
            scrape.contains(&format!("\n{name}{{")),
            quota_period_elapsed,
            "{name} published without a quota period, or missing with one:\n{scrape}"
        );
    }

    let Some(mut promtool) = promtool() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("dynoprobe-scrape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut check = promtool
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let tests = rule_tests_on(&scrape, &monitoring("dynoprobe.rules.yml"));
    let file = dir.join("scrape.tests.yml");
    std::fs::write(&file, &tests).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}\n{tests}");
}

/// A promtool unit test of `rules`: every sample of `scrape` as a series over 20 minutes (a
/// counter or a histogram's part growing by its value each minute, a gauge steady), and the
/// recording rules for queue time, steal and run-queue wait each giving one series, the
/// queue-time p99 in the bucket the requests' 0–190 ms puts it.
#[cfg(feature = "prometheus")]
fn rule_tests_on(scrape: &str, rules: &Path) -> String {
    let mut counters = Vec::new();
    let mut series = String::new();
    for line in scrape.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some("counter" | "histogram")) = (parts.next(), parts.next()) {
                counters.push(name.to_string());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name_and_labels, value) = line.rsplit_once(' ').unwrap();
        let name = name_and_labels.split('{').next().unwrap();
        let growing = counters.iter().any(|c| name.starts_with(c.as_str()));
        let values = if growing {
            format!("0+{value}x20")
        } else {
            format!("{value}x20")
        };
        series.push_str(&format!(
            "      - series: '{name_and_labels}'\n        values: '{values}'\n"
        ));
    }
    let one = |expr: &str| {
        format!(
            "      - expr: '{expr}'\n        eval_time: 10m\n        exp_samples:\n          - labels: '{{}}'\n            value: 1\n"
        )
    };
    format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    promql_expr_test:\n{}{}{}",
        rules.display(),
        one("count(instance:dynoprobe_request_queue_seconds:p99_5m > 0.1 <= 0.25)"),
        one("count(instance:dynoprobe_cpu_steal:ratio_avg5m)"),
        one("count(instance:dynoprobe_runqueue_wait_seconds:rate5m)"),
    )
}
