//! `dynoprobe drive URL`: calls a `dynoprobe serve`'s `/run?runs=1` again and again, times
//! each call, and prints the split of [`dynoprobe::report::drive`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dynoprobe::render;
use dynoprobe::report::drive::{Call, DriveReport, run_url};
use ureq::Agent;

use super::parse;
use super::pictures::PictureArgs;

#[derive(Debug, clap::Args)]
pub struct DriveArgs {
    /// The server's base URL, e.g. https://my-probe.herokuapp.com or http://127.0.0.1:8080.
    #[arg(value_name = "URL")]
    url: String,
    /// Calls to make (each one run of the workload).
    #[arg(long, short = 'n', default_value_t = 100, value_name = "N", value_parser = parse::parse_calls)]
    calls: u32,
    /// Calls in flight at once; above 1 only with several server processes (dynos), since
    /// one server runs one batch at a time and answers the rest with 429.
    #[arg(long, short = 'c', default_value_t = 1, value_name = "N", value_parser = parse::parse_concurrency)]
    concurrency: u32,
    /// The workload each call runs [default: the server's, decrypt-parse].
    #[arg(long, short = 'w', value_name = "NAME")]
    workload: Option<String>,
    /// Print the calls' distributions as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pictures: PictureArgs,
}

/// The most calls one drive makes.
pub const MAX_CALLS: u32 = 1_000_000;
/// The most calls in flight at once.
pub const MAX_CONCURRENCY: u32 = 256;
/// How long one call may keep getting `429 busy` before drive gives up.
const BUSY_PATIENCE: Duration = Duration::from_secs(30);
/// Pause before asking a busy server again (shorter than its `Retry-After`: a one-run batch
/// takes milliseconds).
const BUSY_PAUSE: Duration = Duration::from_millis(5);

pub fn drive(args: DriveArgs) -> anyhow::Result<()> {
    let url = run_url(&args.url, args.workload.as_deref())?;
    args.pictures.check()?;
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
                        let (call, name) = call_until_served(&agent, &url, &busy, start)?;
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
    let report = DriveReport::new(
        url,
        workload.into_inner().unwrap_or_default(),
        args.concurrency,
        u64::from(busy.load(Ordering::Relaxed)),
        start.elapsed().as_nanos() as u64,
        calls,
    )
    .context("no calls were made")?;
    let text = render::drive::drive(&report);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{text}");
    }
    args.pictures.write(
        "dynoprobe drive",
        &render::drive::headline(&report),
        &render::html::drive_charts(&report),
        &text,
    )?;
    Ok(())
}

/// One call, asking again while the server answers `429 busy`.
fn call_until_served(
    agent: &Agent,
    url: &str,
    busy: &AtomicU32,
    drive_start: Instant,
) -> anyhow::Result<(Call, String)> {
    let since = Instant::now();
    loop {
        if let Some(served) = call(agent, url, drive_start)? {
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
fn call(agent: &Agent, url: &str, drive_start: Instant) -> anyhow::Result<Option<(Call, String)>> {
    let start = Instant::now();
    let sent_ns = start.duration_since(drive_start).as_nanos() as u64;
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
    let queue_time = response
        .headers()
        .get("x-queue-time")
        .map(|value| value.to_str().unwrap_or("(not text)"));
    let served = Call::from_answer(sent_ns, latency_ns, &body, queue_time)
        .with_context(|| format!("GET {url}"))?;
    Ok(Some(served))
}
