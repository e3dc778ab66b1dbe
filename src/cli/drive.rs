//! `dynoprobe drive URL`: calls a `dynoprobe serve`'s `/run?runs=1` again and again and
//! splits each call's latency, measured here, into what the server reports:
//!
//! - **router queue**: the server's `X-Queue-Time` header, from the router's
//!   `X-Request-Start` (Heroku's router sets it; a direct connection has none);
//! - **server run**: the run's wall time from the response body, itself split into the
//!   server thread's on-CPU and off-CPU time;
//! - **rest**: latency − queue − run: network, TLS, router and HTTP handling.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dynoprobe::stats::{Distribution, Recorder};
use serde::{Deserialize, Serialize};
use ureq::Agent;

use super::DriveArgs;

/// The most calls one drive makes.
pub const MAX_CALLS: u32 = 1_000_000;
/// The most calls in flight at once.
pub const MAX_CONCURRENCY: u32 = 256;
/// How long one call may keep getting `429 busy` before drive gives up.
const BUSY_PATIENCE: Duration = Duration::from_secs(30);
/// Pause before asking a busy server again (shorter than its `Retry-After`: a one-run batch
/// takes milliseconds).
const BUSY_PAUSE: Duration = Duration::from_millis(5);

/// One call, in ns.
#[derive(Debug, Clone, Copy)]
struct Call {
    latency_ns: u64,
    queue_ns: Option<u64>,
    run_ns: u64,
    on_cpu_ns: u64,
    off_cpu_ns: u64,
}

/// The part of the `/run` response that drive reads.
#[derive(Deserialize)]
struct Batch {
    workload: RunTimes,
}

#[derive(Deserialize)]
struct RunTimes {
    name: String,
    wall_ns: Stat,
    on_cpu_ns: Stat,
    off_cpu_ns: Stat,
}

#[derive(Deserialize)]
struct Stat {
    max: u64,
}

/// What drive prints with `--json`.
#[derive(Debug, Serialize)]
struct Summary {
    url: String,
    workload: String,
    calls_count: u32,
    concurrency: u32,
    /// `429 busy` answers that were retried (not counted as calls).
    busy_count: u64,
    elapsed_ns: u64,
    #[serde(flatten)]
    split: Split,
}

/// The calls' distributions, ns.
#[derive(Debug, Serialize)]
struct Split {
    /// Calls whose response carried `X-Queue-Time`.
    queue_time_count: u64,
    latency_ns: Distribution,
    queue_ns: Option<Distribution>,
    run_ns: Distribution,
    on_cpu_ns: Distribution,
    off_cpu_ns: Distribution,
    /// latency − queue − run, per call.
    rest_ns: Distribution,
}

pub fn drive(args: DriveArgs) -> anyhow::Result<()> {
    let url = run_url(&args.url, args.workload.as_deref())?;
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent(concat!("dynoprobe-drive/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let bar = super::progress_bar(
        args.json,
        "calling [{bar:30}] {pos}/{len} calls",
        u64::from(args.calls),
    );
    let next = AtomicU32::new(0);
    let busy = AtomicU32::new(0);
    let calls = Mutex::new(Vec::with_capacity(args.calls as usize));
    let workload = OnceLock::new();
    let start = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.concurrency.min(args.calls))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    while next.fetch_add(1, Ordering::Relaxed) < args.calls {
                        let (call, name) = call_until_served(&agent, &url, &busy)?;
                        calls.lock().unwrap_or_else(|p| p.into_inner()).push(call);
                        workload.get_or_init(|| name);
                        bar.inc(1);
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| match worker.join() {
                Ok(result) => result,
                Err(_) => bail!("a drive thread panicked"),
            })
    })?;
    bar.finish_and_clear();
    let calls = calls.into_inner().unwrap_or_else(|p| p.into_inner());
    let summary = Summary {
        url,
        workload: workload.into_inner().unwrap_or_default(),
        calls_count: calls.len() as u32,
        concurrency: args.concurrency,
        busy_count: u64::from(busy.load(Ordering::Relaxed)),
        elapsed_ns: start.elapsed().as_nanos() as u64,
        split: split(&calls).context("no calls were made")?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render(&summary));
    }
    Ok(())
}

/// `BASE/run?runs=1[&workload=NAME]`; the base may be given with or without `/run`.
fn run_url(base: &str, workload: Option<&str>) -> anyhow::Result<String> {
    let base = base.trim().trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("expected an http:// or https:// URL of a dynoprobe serve; got '{base}'");
    }
    let base = base.strip_suffix("/run").unwrap_or(base);
    let mut url = format!("{base}/run?runs=1");
    if let Some(name) = workload {
        if dynoprobe::workload::find(name).is_none() {
            bail!(
                "unknown workload '{name}'; one of: {}",
                dynoprobe::workload::names()
            );
        }
        url.push_str("&workload=");
        url.push_str(name);
    }
    Ok(url)
}

/// One call, asking again while the server answers `429 busy`.
fn call_until_served(agent: &Agent, url: &str, busy: &AtomicU32) -> anyhow::Result<(Call, String)> {
    let since = Instant::now();
    loop {
        if let Some(served) = call(agent, url)? {
            return Ok(served);
        }
        busy.fetch_add(1, Ordering::Relaxed);
        if since.elapsed() > BUSY_PATIENCE {
            bail!(
                "{url}: the server stayed busy (429) for {} s; is another client running batches?",
                BUSY_PATIENCE.as_secs()
            );
        }
        std::thread::sleep(BUSY_PAUSE);
    }
}

/// One `GET`; `None` when the server was busy.
fn call(agent: &Agent, url: &str) -> anyhow::Result<Option<(Call, String)>> {
    let start = Instant::now();
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if status == ureq::http::StatusCode::TOO_MANY_REQUESTS {
        return Ok(None);
    }
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("GET {url}: reading the response"))?;
    let latency_ns = start.elapsed().as_nanos() as u64;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or(body);
        bail!("GET {url}: {status}: {message}");
    }
    let batch: Batch = serde_json::from_str(&body)
        .with_context(|| format!("GET {url}: not a dynoprobe serve /run response"))?;
    let queue_ns =
        match response.headers().get("x-queue-time") {
            None => None,
            Some(value) => Some(queue_time_ns(value.to_str().unwrap_or("")).with_context(
                || format!("GET {url}: X-Queue-Time {value:?} is not milliseconds"),
            )?),
        };
    let runs = &batch.workload;
    Ok(Some((
        Call {
            latency_ns,
            queue_ns,
            run_ns: runs.wall_ns.max,
            on_cpu_ns: runs.on_cpu_ns.max,
            off_cpu_ns: runs.off_cpu_ns.max,
        },
        batch.workload.name,
    )))
}

/// `X-Queue-Time` is milliseconds with a fraction (the queue-time layer writes `12.345`);
/// more than an hour is not a queue but a broken clock, and refused.
fn queue_time_ns(text: &str) -> Option<u64> {
    let ms: f64 = text.trim().parse().ok()?;
    (0.0..=3_600_000.0)
        .contains(&ms)
        .then(|| (ms * 1e6).round() as u64)
}

/// Distributions over the calls; `None` when there were none.
fn split(calls: &[Call]) -> Option<Split> {
    let mut latency = Recorder::new();
    let mut queue = Recorder::new();
    let mut run = Recorder::new();
    let mut on_cpu = Recorder::new();
    let mut off_cpu = Recorder::new();
    let mut rest = Recorder::new();
    for c in calls {
        latency.record(c.latency_ns);
        if let Some(q) = c.queue_ns {
            queue.record(q);
        }
        run.record(c.run_ns);
        on_cpu.record(c.on_cpu_ns);
        off_cpu.record(c.off_cpu_ns);
        rest.record(
            c.latency_ns
                .saturating_sub(c.queue_ns.unwrap_or(0))
                .saturating_sub(c.run_ns),
        );
    }
    Some(Split {
        queue_time_count: queue.count(),
        latency_ns: latency.summary()?,
        queue_ns: queue.summary(),
        run_ns: run.summary()?,
        on_cpu_ns: on_cpu.summary()?,
        off_cpu_ns: off_cpu.summary()?,
        rest_ns: rest.summary()?,
    })
}

fn render(summary: &Summary) -> String {
    use std::fmt::Write;
    let s = &summary.split;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dynoprobe drive: {} calls to {} (workload {}), {} in flight, {} s\n",
        summary.calls_count,
        summary.url,
        summary.workload,
        summary.concurrency,
        dynoprobe::render::units::seconds(summary.elapsed_ns)
    );
    let _ = writeln!(
        out,
        "{:<18} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "per call", "p50 ms", "p90 ms", "p99 ms", "max ms", "CV"
    );
    use dynoprobe::render::units::{ms, percent_cell};
    let mut row = |label: &str, d: Option<&Distribution>| {
        let _ = match d {
            Some(d) => writeln!(
                out,
                "{label:<18} {:>10} {:>10} {:>10} {:>10} {:>7}",
                ms(d.p50),
                ms(d.p90),
                ms(d.p99),
                ms(d.max),
                percent_cell(d.cv),
            ),
            None => writeln!(out, "{label:<18} {:>10}", "-"),
        };
    };
    row("latency", Some(&s.latency_ns));
    row("  router queue", s.queue_ns.as_ref());
    row("  server run", Some(&s.run_ns));
    row("    on-CPU", Some(&s.on_cpu_ns));
    row("    off-CPU", Some(&s.off_cpu_ns));
    row("  rest", Some(&s.rest_ns));
    let _ = writeln!(
        out,
        "\nlatency: measured here, request sent to body read. router queue: the server's \
         X-Queue-Time ({} of {} calls had one{}).\nserver run: one run's wall time on the \
         server (CLOCK_MONOTONIC), split into its thread's CPU time and the rest (off-CPU).\n\
         rest = latency - queue - run: network, TLS, router and HTTP handling.",
        s.queue_time_count,
        summary.calls_count,
        if s.queue_time_count == 0 {
            "; a direct connection has no router to set X-Request-Start"
        } else {
            ""
        }
    );
    if summary.busy_count > 0 {
        let _ = writeln!(
            out,
            "{} answers were 429 busy and were asked again: the server runs one batch at a \
             time. Lower --concurrency, or run more server processes.",
            summary.busy_count
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_queue_time_header_parses_or_is_refused(text in ".{0,24}") {
            if let Some(ns) = queue_time_ns(&text) {
                let ms: f64 = text.trim().parse().unwrap();
                proptest::prop_assert!((ns as f64 - ms * 1e6).abs() <= 0.5 + ms * 1e-9);
            }
        }

        #[test]
        fn any_body_is_refused_or_read_without_panicking(body in ".{0,200}") {
            let _ = serde_json::from_str::<Batch>(&body);
        }
    }

    #[test]
    fn urls_get_the_run_path_and_a_known_workload() {
        assert_eq!(
            run_url("http://127.0.0.1:8080/", None).unwrap(),
            "http://127.0.0.1:8080/run?runs=1"
        );
        assert_eq!(
            run_url("https://x.herokuapp.com/run", Some("chase-l2")).unwrap(),
            "https://x.herokuapp.com/run?runs=1&workload=chase-l2"
        );
        assert!(
            run_url("x.herokuapp.com", None)
                .unwrap_err()
                .to_string()
                .contains("http://")
        );
        assert!(
            run_url("http://h", Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("chase-l2")
        );
    }

    #[test]
    fn counts_and_queue_times_refuse_nonsense() {
        assert_eq!(queue_time_ns("12.345"), Some(12_345_000));
        assert_eq!(queue_time_ns("0.000"), Some(0));
        for bad in ["", "-1", "NaN", "inf", "12ms", "1e300", "3600001"] {
            assert_eq!(queue_time_ns(bad), None, "{bad}");
        }
    }
}
