//! `dynoprobe serve`: the benchmark server for a dyno. Deployed as a web process, it runs a
//! workload batch per request (`/run`), shows what a background [`Probe`] sees (`/probe`),
//! and exports both as Prometheus metrics (`/metrics`). Every request passes the queue-time
//! layer, so the router's `X-Request-Start` becomes `X-Queue-Time` on the response.
//!
//! One batch runs at a time, on one thread that owns the prepared workloads: the same thread
//! every time, so batches are alike and freed memory is reused rather than spread over
//! allocator arenas. A request that finds the thread busy gets `429` with `Retry-After`,
//! because two batches on one dyno would measure each other.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dynoprobe::probe::Probe;
use dynoprobe::probe::metrics::SLEEP_OVERSHOOT_SECONDS;
use dynoprobe::queue_time::layer::{QueueTimeLayer, REQUEST_QUEUE_SECONDS};
use dynoprobe::report::batch::{Batch, BatchRequest, Workloads, instance_name};
use dynoprobe::workload::Inputs;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::{Mutex, oneshot};

use super::parse;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0 when $PORT is set, else 127.0.0.1].
    #[arg(long, value_name = "IP")]
    bind: Option<std::net::IpAddr>,
    /// Port to listen on [default: $PORT, else 8080]; 0 picks a free port.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Time between the background probe's samples (10ms to 1h).
    #[arg(long, short = 'i', value_name = "DURATION", default_value = "1s", value_parser = parse::parse_interval)]
    interval: std::time::Duration,
    /// Do not measure the probe's sleep overshoot (it wakes ten times a second for it).
    #[arg(long)]
    no_sleep_jitter: bool,
    /// The name every /run answer gives this instance [default: $DYNO, else $HOSTNAME, else
    /// the host name], so that drive can tell instances apart behind a router.
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
}

/// What a busy server tells the client to wait, seconds.
const RETRY_AFTER_SECONDS: u32 = 1;
/// Histogram buckets for times, seconds: 0.5 ms to 10 s.
const TIME_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let address = address(args.bind, args.port, std::env::var("PORT").ok())?;
    let prometheus = install_prometheus()?;
    let probe = Probe::builder()
        .interval(args.interval)
        .sleep_jitter(!args.no_sleep_jitter)
        .start()
        .context("starting the probe's thread")?;
    let app = App {
        bench: Arc::new(Mutex::new(Bench::spawn(
            Inputs::shipped(),
            args.instance
                .clone()
                .or_else(|| instance_name(|key| std::env::var(key).ok())),
        )?)),
        probe: Arc::new(probe),
        prometheus,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let local = listener.local_addr()?;
        eprintln!(
            "dynoprobe serve: listening on http://{local} (routes /run /probe /metrics /healthz)"
        );
        tokio::spawn(upkeep(app.prometheus.clone()));
        axum::serve(listener, router(app))
            .with_graceful_shutdown(shutdown())
            .await
            .context("serving")
    })
}

/// Installs the Prometheus recorder and describes every metric to it. The time histograms
/// get buckets, which add up across dynos (the exporter's default, a summary, does not).
fn install_prometheus() -> anyhow::Result<PrometheusHandle> {
    let mut builder = PrometheusBuilder::new();
    for name in [REQUEST_QUEUE_SECONDS, SLEEP_OVERSHOOT_SECONDS] {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.into()), &TIME_BUCKETS)
            .context("histogram buckets")?;
    }
    let handle = builder
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    dynoprobe::probe::metrics::describe_metrics();
    dynoprobe::queue_time::layer::describe_metrics();
    Ok(handle)
}

/// Where to listen: `--bind`/`--port` first; then `0.0.0.0:$PORT` (a Heroku web process);
/// else `127.0.0.1:8080`, reachable only from this machine.
pub fn address(
    bind: Option<IpAddr>,
    port: Option<u16>,
    env_port: Option<String>,
) -> anyhow::Result<SocketAddr> {
    let env_port = env_port
        .map(|text| {
            text.trim()
                .parse::<u16>()
                .map_err(|_| anyhow::anyhow!("PORT={text:?} is not a port number (0 to 65535)"))
        })
        .transpose()?;
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let default_host = if env_port.is_some() {
        any
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    Ok(SocketAddr::new(
        bind.unwrap_or(default_host),
        port.or(env_port).unwrap_or(8080),
    ))
}

/// The routes, behind the queue-time layer.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/run", get(run))
        .route("/probe", get(probe))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(not_found)
        .with_state(app)
        .layer(QueueTimeLayer)
}

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    /// Held while a batch runs.
    bench: Arc<Mutex<Bench>>,
    probe: Arc<Probe>,
    prometheus: PrometheusHandle,
}

/// One batch to run, and where to send its result.
type Job = (BatchRequest, oneshot::Sender<anyhow::Result<Batch>>);

/// The handle of the thread that runs batches.
struct Bench {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Bench {
    /// Starts the batch thread; it ends when the handle is dropped.
    fn spawn(inputs: Inputs, instance: Option<String>) -> anyhow::Result<Bench> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("dynoprobe-bench".into())
            .spawn(move || {
                let mut workloads = Workloads::new(inputs, instance);
                for (request, reply) in queue {
                    let _ = reply.send(workloads.run(&request).map_err(anyhow::Error::from));
                }
            })
            .context("starting the batch thread")?;
        Ok(Bench { jobs })
    }

    async fn run(&self, request: BatchRequest) -> anyhow::Result<Batch> {
        let (reply, result) = oneshot::channel();
        self.jobs
            .send((request, reply))
            .map_err(|_| anyhow::anyhow!("the batch thread has stopped"))?;
        result
            .await
            .map_err(|_| anyhow::anyhow!("the batch thread stopped during the batch"))?
    }
}

async fn run(
    State(app): State<App>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let query = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| BatchRequest::from_params(&q))
    {
        Ok(query) => query,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let Ok(bench) = app.bench.try_lock() else {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "busy: another batch is running, and two would measure each other; retry later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
        return response;
    };
    match bench.run(query).await {
        Ok(batch) => axum::Json(batch).into_response(),
        Err(failure) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{failure:#}")),
    }
}

async fn probe(State(app): State<App>) -> Response {
    axum::Json(app.probe.latest().as_ref().clone()).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.prometheus.render(),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "no route {}; try GET /run?workload=NAME&runs=N, /probe, /metrics or /healthz",
            uri.path()
        ),
    )
}

/// A JSON error body: `{"error": "..."}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Drains the exporter's histograms now and then, so its memory stays flat.
async fn upkeep(prometheus: PrometheusHandle) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        prometheus.run_upkeep();
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Heroku sends before stopping a dyno).
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    eprintln!("dynoprobe serve: stopping");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_follows_flags_then_port_then_loopback() {
        let a = |bind: Option<&str>, port, env: Option<&str>| {
            address(
                bind.map(|b| b.parse().unwrap()),
                port,
                env.map(String::from),
            )
            .map(|a| a.to_string())
        };
        assert_eq!(a(None, None, None).unwrap(), "127.0.0.1:8080");
        assert_eq!(a(None, None, Some("5000")).unwrap(), "0.0.0.0:5000");
        assert_eq!(a(None, Some(9000), Some("5000")).unwrap(), "0.0.0.0:9000");
        assert_eq!(
            a(Some("127.0.0.1"), None, Some("5000")).unwrap(),
            "127.0.0.1:5000"
        );
        assert_eq!(a(Some("::1"), Some(1), None).unwrap(), "[::1]:1");
        assert!(
            a(None, None, Some("http"))
                .unwrap_err()
                .to_string()
                .contains("PORT")
        );
    }
}
