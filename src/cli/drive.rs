//! `dynoprobe drive URL`: calls a `dynoprobe serve`'s `/run?runs=1` again and again, times
//! each call, and prints the split of [`dynoprobe::report::drive`].

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use dynoprobe::render;
use dynoprobe::report::FixtureInfo;
use dynoprobe::report::drive::{Call, Drive, DriveReport, Served, run_url};
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
    /// Repeat: a batch of --calls calls every DURATION (e.g. 10m), for --for, each batch
    /// appended to --out as one JSON line, for `compare` to show by time of day.
    #[arg(long, value_name = "DURATION", value_parser = parse::parse_schedule,
          requires_all = ["for_", "out"], conflicts_with_all = ["json", "html", "svg"])]
    every: Option<Duration>,
    /// With --every: how long to go on (e.g. 24h, 7d).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse::parse_schedule,
          requires = "every")]
    for_: Option<Duration>,
    /// With --every: the file each batch's JSON line is appended to.
    #[arg(long, value_name = "FILE.jsonl", requires = "every")]
    out: Option<PathBuf>,
    /// The server's token, sent as `Authorization: Bearer TOKEN` [default:
    /// $DYNOPROBE_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    #[command(flatten)]
    pictures: PictureArgs,
}

/// How often a wait between batches looks for a Ctrl-C.
const TICK: Duration = Duration::from_millis(100);
/// How long one call may keep getting `429 busy` before drive gives up.
const BUSY_PATIENCE: Duration = Duration::from_secs(30);
/// The first pause before asking a busy server again (shorter than its `Retry-After`: a
/// one-run batch takes milliseconds); each busy answer in a row doubles it, up to
/// [`MAX_BUSY_PAUSE`]. With 256 calls in flight a fixed 5 ms made 51,000 requests a second
/// of `429`s, which took the CPU from the batches measured.
const BUSY_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause between asks: serve's `Retry-After`.
const MAX_BUSY_PAUSE: Duration = Duration::from_secs(1);
/// How long an idle connection is kept for the next call: under the 10 s after which serve
/// closes an idle one, so that no call is sent on a connection the server has closed (with
/// ureq's 15 s, one in a few hundred calls at `-c 256` was reset).
const IDLE_CONNECTION_AGE: Duration = Duration::from_secs(5);

pub fn drive(args: DriveArgs) -> anyhow::Result<()> {
    let target = run_url(&args.url, args.workload.as_deref())?;
    args.pictures.check()?;
    let token = parse::given_token(args.token.clone())?.map(|t| format!("Bearer {t}"));
    if token.is_some() && target.credentials.is_some() {
        bail!(
            "the URL's user:password@ and a token (--token or DYNOPROBE_TOKEN) both want the \
             Authorization header; give one"
        );
    }
    let server = Arc::new(Server {
        agent: Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("dynoprobe-drive/", env!("CARGO_PKG_VERSION")))
            // One kept connection per call in flight, so calls do not open and close one
            // each (ureq keeps 3 per host).
            .max_idle_connections(args.concurrency as usize)
            .max_idle_connections_per_host(args.concurrency as usize)
            .max_idle_age(IDLE_CONNECTION_AGE)
            .build()
            .into(),
        url: target.url,
        // The URL's credentials as Basic authorization: they are in no URL printed.
        authorization: token.or_else(|| target.credentials.map(|c| c.basic())),
    });
    catch_interrupt();
    if let Some(every) = args.every {
        return over_time(&args, &server, every);
    }
    let bar = super::progress_bar(
        args.json,
        "calling [{bar:30}] {pos}/{len} calls",
        u64::from(args.calls),
    );
    let report = batch(&args, &server, &bar)?;
    bar.finish_and_clear();
    let text = render::drive::drive(&report);
    super::print(args.json, &report, &text)?;
    args.pictures.write(
        "dynoprobe drive",
        &render::drive::headline(&report),
        &render::html::drive_charts(&report),
        &text,
    )?;
    match &report.drive.stopped {
        Some(why) => bail!(
            "{why}; the report covers the {} calls made",
            report.calls_count
        ),
        None => Ok(()),
    }
}

/// Set by the first Ctrl-C: no new call starts, and what was measured is reported.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
    // SAFETY: signal(2) is async-signal-safe; a second Ctrl-C then ends the process.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
}

/// The first Ctrl-C stops the drive after the calls in flight instead of ending the
/// process, so the calls made are not lost.
fn catch_interrupt() {
    let handler: extern "C" fn(libc::c_int) = on_interrupt;
    // SAFETY: the handler only stores to an atomic and calls signal(2).
    unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// `--every E --for F --out FILE`: a batch of `--calls` calls every E for F, one JSON line
/// per batch appended to FILE as it finishes, so an interrupted drive keeps what it did. A
/// batch that fails is reported and the schedule goes on.
fn over_time(args: &DriveArgs, server: &Arc<Server>, every: Duration) -> anyhow::Result<()> {
    let (Some(span), Some(path)) = (args.for_, args.out.as_deref()) else {
        bail!("--every needs --for DURATION and --out FILE.jsonl");
    };
    if span < every {
        bail!(
            "--for {span:?} is shorter than --every {every:?}: that is one batch, which drive \
             without --every makes"
        );
    }
    let mut out = open_lines(path).with_context(|| format!("--out {}", path.display()))?;
    let batches = span.as_nanos().div_ceil(every.as_nanos()) as u32;
    let start = Instant::now();
    let mut made = Made::default();
    for n in 0..batches {
        let due = start + every * n;
        if !wait_until(due) {
            eprintln!("dynoprobe: interrupted (Ctrl-C); the batches done are in the file");
            break;
        }
        let late = Instant::now().duration_since(due);
        let prefix = format!("[{}/{batches}]", n + 1);
        let report = batch(args, server, &indicatif::ProgressBar::hidden());
        made.record(&mut out, path, &prefix, report)?;
        if late > every {
            eprintln!(
                "{prefix} started {} s late: a batch takes longer than --every; fewer calls \
                 (-n) or a longer --every keeps the schedule",
                late.as_secs()
            );
        }
    }
    let Made {
        written,
        partial,
        failed,
    } = made;
    eprintln!(
        "dynoprobe: appended {written} batches to {} ({partial} of them partial, {failed} \
         failed with no call); compare them with: dynoprobe compare {} --html over-time.html",
        path.display(),
        path.display()
    );
    if failed + partial > 0 || interrupted() {
        bail!("not every batch was made whole (see above); what was measured is in the file");
    }
    Ok(())
}

/// Waits until `due`, or a Ctrl-C; whether `due` came first.
fn wait_until(due: Instant) -> bool {
    while !interrupted() && Instant::now() < due {
        std::thread::sleep(due.saturating_duration_since(Instant::now()).min(TICK));
    }
    !interrupted()
}

/// The batches of a drive over time, by how they ended.
#[derive(Default)]
struct Made {
    written: u32,
    partial: u32,
    failed: u32,
}

impl Made {
    /// Appends a batch's report to `out` as one line and says how it went, or says why the
    /// batch failed.
    fn record(
        &mut self,
        out: &mut std::fs::File,
        path: &std::path::Path,
        prefix: &str,
        report: anyhow::Result<DriveReport>,
    ) -> anyhow::Result<()> {
        let report = match report {
            Ok(report) => report,
            Err(error) => {
                self.failed += 1;
                eprintln!("{prefix} failed: {error:#}");
                return Ok(());
            }
        };
        // One write of the whole line: a kill can cut it, never leave half a line that the
        // next batch is glued to.
        let line = serde_json::to_string(&report)? + "\n";
        out.write_all(line.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        self.written += 1;
        eprintln!("{prefix} {}", render::drive::batch_line(&report));
        if let Some(why) = &report.drive.stopped {
            self.partial += 1;
            eprintln!("{prefix} partial: {why}");
        }
        Ok(())
    }
}

/// `path` opened to append lines to. A last line cut off (a drive killed while writing) is
/// ended first, so the next line is not glued to it: compare then names the cut one and
/// reads the rest.
fn open_lines(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    if file.seek(SeekFrom::End(0))? > 0 {
        file.seek(SeekFrom::End(-1))?;
        let mut last = [0u8];
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
    }
    Ok(file)
}

/// `--calls` calls, `--concurrency` at a time, as one report. A call that fails stops the
/// batch (no new call starts) and a Ctrl-C does too, after at most [`INTERRUPT_GRACE`] for
/// the calls in flight; either way the calls made are the report, its `stopped` saying why
/// it ended early. Only a batch with no call at all is an error.
fn batch(
    args: &DriveArgs,
    server: &Arc<Server>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<DriveReport> {
    let shared = Arc::new(Shared {
        calls: args.calls,
        next: AtomicU32::new(0),
        busy: AtomicU32::new(0),
        served: Mutex::new(Vec::with_capacity(args.calls as usize)),
        stopped: Mutex::new(None),
        last_served: Mutex::new(Instant::now()),
        workers_left: AtomicU32::new(args.concurrency.min(args.calls)),
    });
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let start = Instant::now();
    for _ in 0..args.concurrency.min(args.calls) {
        let (shared, server, bar) = (Arc::clone(&shared), Arc::clone(server), bar.clone());
        std::thread::spawn(move || {
            shared.work(&server, start, &bar);
            shared.workers_left.fetch_sub(1, Ordering::Relaxed);
        });
    }
    shared.wait_for_workers();
    let elapsed_ns = start.elapsed().as_nanos() as u64;
    let served = std::mem::take(&mut *lock(&shared.served));
    let made = served.len();
    // The count once every call in flight has ended, not when the first one failed.
    let failed = lock(&shared.stopped).clone();
    let stopped = failed.map(|why| format!("stopped after {made} of {} calls: {why}", args.calls));
    let stopped = stopped.or_else(|| {
        (interrupted() && made < args.calls as usize)
            .then(|| format!("interrupted (Ctrl-C) after {made} of {} calls", args.calls))
    });
    let fixtures = payloads(&served);
    let drive = Drive {
        url: server.url.clone(),
        workload: served
            .first()
            .map(|s| s.workload.clone())
            .unwrap_or_default(),
        concurrency: args.concurrency,
        busy_count: u64::from(shared.busy.load(Ordering::Relaxed)),
        started_unix_ms,
        elapsed_ns,
        fixtures,
        stopped: stopped.clone(),
    };
    let calls = served.into_iter().map(|s| s.call).collect();
    match (DriveReport::new(drive, calls), stopped) {
        (Some(report), _) => Ok(report),
        (None, Some(why)) => bail!("no call was made: {why}"),
        (None, None) => bail!("no call was made"),
    }
}

/// The payloads the answers named, each once, in the order they came.
fn payloads(served: &[Served]) -> Vec<FixtureInfo> {
    let mut fixtures: Vec<FixtureInfo> = Vec::new();
    for fixture in served.iter().filter_map(|s| s.fixture.as_ref()) {
        if !fixtures.contains(fixture) {
            fixtures.push(fixture.clone());
        }
    }
    fixtures
}

/// How long, after a Ctrl-C, the calls in flight may take before the report is made without
/// them.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);
/// How often the batch looks whether its workers are done.
const WAIT_TICK: Duration = Duration::from_millis(5);

/// What a batch's workers share.
struct Shared {
    calls: u32,
    /// The number the next call takes.
    next: AtomicU32,
    /// `429 busy` answers asked again.
    busy: AtomicU32,
    served: Mutex<Vec<Served>>,
    /// Why the batch ended before its last call: the first failed call.
    stopped: Mutex<Option<String>>,
    /// When any worker's call was last served: the server is busy with this drive's own
    /// calls as long as some are.
    last_served: Mutex<Instant>,
    workers_left: AtomicU32,
}

impl Shared {
    /// Waits for the calls in flight, but after a Ctrl-C only for [`INTERRUPT_GRACE`]: a
    /// slow server would otherwise hold the calls made hostage until its timeout.
    fn wait_for_workers(&self) {
        let mut interrupted_at = None;
        while self.workers_left.load(Ordering::Relaxed) > 0 {
            if interrupted() {
                let since = *interrupted_at.get_or_insert_with(Instant::now);
                if since.elapsed() > INTERRUPT_GRACE {
                    break;
                }
            }
            std::thread::sleep(WAIT_TICK);
        }
    }

    /// Calls until the batch's calls are all taken, one fails, or a Ctrl-C.
    fn work(&self, server: &Server, start: Instant, bar: &indicatif::ProgressBar) {
        while !interrupted() && lock(&self.stopped).is_none() {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            if n >= self.calls {
                return;
            }
            match server.call_until_served(self, start) {
                Ok(Some(answer)) => {
                    *lock(&self.last_served) = Instant::now();
                    lock(&self.served).push(answer);
                    bar.inc(1);
                }
                Ok(None) => return,
                Err(error) => {
                    lock(&self.stopped)
                        .get_or_insert_with(|| format!("call {} failed: {error:#}", n + 1));
                    return;
                }
            }
        }
    }
}

/// A pause drawn uniformly from `0..pause` ("full jitter"): calls that met a busy server
/// at the same moment would otherwise double their pauses in step and all ask again at the
/// same moment, one winning each time; 64 calls in flight then took 60.7 s against 8.3 s
/// one at a time.
fn jittered(pause: Duration) -> Duration {
    use std::hash::BuildHasher;
    // Each RandomState has fresh keys, so this is a new random number every call.
    let random = std::hash::RandomState::new().hash_one(Instant::now());
    pause.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
}

/// The lock's data, even if a worker panicked while holding it (what it pushed is whole).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server driven: its `/run` URL, and the token it wants, if any.
struct Server {
    agent: Agent,
    url: String,
    /// `Bearer TOKEN`, or `Basic …` from the URL's credentials.
    authorization: Option<String>,
}

impl Server {
    /// One call, asking again while the server answers `429 busy`; `None` when a Ctrl-C
    /// came while it waited. Busy answers are this drive's own doing while its other calls
    /// are being served; only when none was for [`BUSY_PATIENCE`] is another client to blame.
    fn call_until_served(
        &self,
        batch: &Shared,
        drive_start: Instant,
    ) -> anyhow::Result<Option<Served>> {
        let (since, mut pause) = (Instant::now(), BUSY_PAUSE);
        loop {
            if let Some(served) = self.call(drive_start)? {
                return Ok(Some(served));
            }
            if interrupted() {
                return Ok(None);
            }
            batch.busy.fetch_add(1, Ordering::Relaxed);
            let progress = *lock(&batch.last_served);
            if since.elapsed() > BUSY_PATIENCE && progress.elapsed() > BUSY_PATIENCE {
                bail!(
                    "{}: the server stayed busy (429) for {} s and answered none of this \
                     drive's calls; is another client running batches?",
                    self.url,
                    BUSY_PATIENCE.as_secs()
                );
            }
            std::thread::sleep(jittered(pause));
            pause = (pause * 2).min(MAX_BUSY_PAUSE);
        }
    }

    /// One `GET`; `None` when the server was busy.
    fn call(&self, drive_start: Instant) -> anyhow::Result<Option<Served>> {
        let url = &self.url;
        let start = Instant::now();
        let sent_ns = start.duration_since(drive_start).as_nanos() as u64;
        let mut request = self.agent.get(url);
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.call().map_err(|error| {
            let hint = if url.starts_with("https://")
                && format!("{error:?}").contains("InvalidContentType")
            {
                " (the server does not speak TLS: is it http://?)"
            } else {
                ""
            };
            anyhow::anyhow!("GET {url}: {error}{hint}")
        })?;
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
            bail!("GET {url}: {status}: {}", error_message(&body));
        }
        let queue_time = response
            .headers()
            .get("x-queue-time")
            .map(|value| value.to_str().unwrap_or("(not text)"));
        let served = Call::from_answer(sent_ns, latency_ns, &body, queue_time)
            .with_context(|| format!("GET {url}"))?;
        Ok(Some(served))
    }
}

/// The longest piece of a non-dynoprobe error body shown.
const ERROR_BODY_SHOWN_CHARS: usize = 200;

/// What an error answer says, fit for one line of a terminal: serve's `{"error": …}`, or the
/// start of any other body with control characters (ANSI escapes) removed; an HTML page
/// only by its size.
fn error_message(body: &str) -> String {
    if let Some(message) = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(String::from))
    {
        return clean(&message);
    }
    let start = body
        .trim_start()
        .get(..15)
        .unwrap_or("")
        .to_ascii_lowercase();
    if start.starts_with("<!doctype html") || start.starts_with("<html") {
        return format!(
            "an HTML page of {} bytes, not a dynoprobe serve",
            body.len()
        );
    }
    let text = clean(body);
    match text.char_indices().nth(ERROR_BODY_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], body.len()),
        None => text,
    }
}

/// `text` on one line, without control characters.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_fit_on_one_clean_line() {
        assert_eq!(error_message(r#"{"error": "busy"}"#), "busy");
        assert_eq!(
            error_message("<!DOCTYPE html><html>...</html>"),
            "an HTML page of 31 bytes, not a dynoprobe serve"
        );
        assert_eq!(
            error_message("\x1b[31mred\x1b[0m\nnext"),
            "[31mred [0m next"
        );
        let long = "x".repeat(5000);
        let shown = error_message(&long);
        assert!(shown.ends_with("… (5000 bytes)"), "{shown}");
        assert_eq!(
            shown.chars().count(),
            200 + "… (5000 bytes)".chars().count()
        );
    }
}
